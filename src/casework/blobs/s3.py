"""Blobs as objects in an S3-compatible bucket: `<prefix>ab/cd/<key>`.

boto3 is optional (`pip install 'casework[s3]'`) and imported only when this store is
made. Credentials and the region come from boto3's usual chain (environment, shared
config, instance role); Casework never reads or logs them. `endpoint_url` points at
another S3-compatible service (MinIO, Ceph, ...).

An upload is first spooled to a temporary file (in memory up to 8 MiB), hashed and
size-checked on the way, and only then sent: an oversized or interrupted upload never
reaches the bucket, and the SDK can retry a failed part from the spool. S3 makes an
object visible only once its upload completed, so a reader never sees part of one.

`check` (what `/readyz` asks) is one HEAD request on the bucket, through a client of its
own with short timeouts and no retries: a probe must answer within its own deadline.
"""

from __future__ import annotations

import importlib
import io
import tempfile
from collections.abc import Iterator
from datetime import UTC
from typing import Any

from casework.blobs.base import (
    BlobError,
    BlobNotFound,
    BlobReader,
    BlobUnavailable,
    ListedBlob,
    Readable,
    StoredBlob,
    check_range,
    copy_stream,
    key_of_sharded,
    new_key,
    os_reason,
    sharded,
    store_side,
    writing_to_store,
)

SPOOL_IN_MEMORY = 8 * 1024 * 1024
PROBE_TIMEOUT_SECONDS = 2
_MISSING = frozenset({"404", "NoSuchKey", "NotFound"})


def _boto3() -> Any:
    try:
        return importlib.import_module("boto3")
    except ImportError:
        raise BlobError("an s3:// blob store needs boto3: pip install 'casework[s3]'") from None


def _client_error() -> Any:
    return importlib.import_module("botocore.exceptions").ClientError


def _code(exc: Any) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def _reason(exc: BaseException) -> str | None:
    """The SDK's failures (no answer, refused, throttled) and the local spool's, for
    `store_side`: the error's class and S3's code, never its message (it quotes URLs)."""
    if type(exc).__module__.startswith(("botocore", "boto3", "s3transfer")):
        return f"{type(exc).__name__} {_code(exc)}".strip()
    return os_reason(exc)


class S3BlobStore:
    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        client: Any = None,
        endpoint_url: str | None = None,
    ) -> None:
        if not bucket:
            raise BlobError("an S3 blob store needs a bucket name")
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        if client is None:
            boto3 = _boto3()
            client = boto3.client("s3", endpoint_url=endpoint_url)
            config = importlib.import_module("botocore.config").Config(
                connect_timeout=PROBE_TIMEOUT_SECONDS,
                read_timeout=PROBE_TIMEOUT_SECONDS,
                retries={"total_max_attempts": 1},
            )
            self._probe = boto3.client("s3", endpoint_url=endpoint_url, config=config)
        else:
            self._probe = client
        self._client = client
        self._ClientError = _client_error()

    def __repr__(self) -> str:
        return f"S3BlobStore(s3://{self.bucket}/{self.prefix})"

    def object_name(self, key: str) -> str:
        return self.prefix + sharded(key)

    def put(self, source: Readable, *, max_bytes: int | None = None) -> StoredBlob:
        key = new_key()
        name = self.object_name(key)
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as spool:
            size, digest = copy_stream(source, writing_to_store(spool.write, _reason), max_bytes)
            spool.seek(0)
            with store_side(_reason):
                self._client.upload_fileobj(
                    spool,
                    self.bucket,
                    name,
                    ExtraArgs={
                        "ContentType": "application/octet-stream",
                        "Metadata": {"sha256": digest},
                    },
                )
        return StoredBlob(key, size, digest)

    def open(self, key: str, start: int = 0, end: int | None = None) -> BlobReader:
        check_range(start, end)
        name = self.object_name(key)
        if end is not None and end == start:
            # An empty range: S3 would answer 416 for it.
            return BlobReader(io.BytesIO(b""), 0)
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": name}
        if start or end is not None:
            last = "" if end is None else str(end - 1)
            args["Range"] = f"bytes={start}-{last}"
        try:
            response = self._asked(self._client.get_object, **args)
        except _Missing:
            raise BlobNotFound(f"no blob {key}") from None
        except _OutOfRange:  # start at or past the end
            return BlobReader(io.BytesIO(b""), 0)
        return BlobReader(response["Body"], None)

    def check(self) -> None:
        """Raise (botocore's ClientError, EndpointConnectionError, NoCredentialsError...)
        unless the bucket answers a HEAD request with these credentials: nothing is
        written, and it needs only `s3:ListBucket`."""
        self._probe.head_bucket(Bucket=self.bucket)

    def delete(self, key: str) -> None:
        self._asked(self._client.delete_object, Bucket=self.bucket, Key=self.object_name(key))

    def exists(self, key: str) -> bool:
        try:
            self.size(key)
        except BlobNotFound:
            return False
        return True

    def size(self, key: str) -> int:
        name = self.object_name(key)
        try:
            head = self._asked(self._client.head_object, Bucket=self.bucket, Key=name)
        except (_Missing, _OutOfRange):
            raise BlobNotFound(f"no blob {key}") from None
        return int(head["ContentLength"])

    def listing(self) -> Iterator[ListedBlob]:
        pages = self._client.get_paginator("list_objects_v2")
        with store_side(_reason):
            for page in pages.paginate(Bucket=self.bucket, Prefix=self.prefix):
                for item in page.get("Contents", ()):
                    key = key_of_sharded(item["Key"][len(self.prefix) :])
                    if key is not None:
                        modified = item["LastModified"]
                        if modified.tzinfo is None:
                            modified = modified.replace(tzinfo=UTC)
                        yield ListedBlob(key, int(item["Size"]), modified.astimezone(UTC))

    def _asked(self, call: Any, **args: Any) -> Any:
        """One request to S3: a missing object is _Missing, a range past the end
        _OutOfRange, any other failure the store's (BlobUnavailable)."""
        try:
            return call(**args)
        except self._ClientError as exc:
            if _code(exc) in _MISSING:
                raise _Missing from None
            if _code(exc) == "InvalidRange":
                raise _OutOfRange from None
            raise BlobUnavailable(_reason(exc) or "ClientError") from exc
        except Exception as exc:
            why = _reason(exc)
            if why is None:
                raise
            raise BlobUnavailable(why) from exc


class _Missing(Exception):
    pass


class _OutOfRange(Exception):
    pass
