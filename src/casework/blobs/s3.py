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
    ListedBlob,
    Readable,
    StoredBlob,
    check_range,
    copy_stream,
    key_of_sharded,
    new_key,
    sharded,
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
            size, digest = copy_stream(source, spool.write, max_bytes)
            spool.seek(0)
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
            response = self._client.get_object(**args)
        except self._ClientError as exc:
            if _code(exc) in _MISSING:
                raise BlobNotFound(f"no blob {key}") from None
            if _code(exc) == "InvalidRange":  # start at or past the end
                return BlobReader(io.BytesIO(b""), 0)
            raise
        return BlobReader(response["Body"], None)

    def check(self) -> None:
        """Raise (botocore's ClientError, EndpointConnectionError, NoCredentialsError...)
        unless the bucket answers a HEAD request with these credentials: nothing is
        written, and it needs only `s3:ListBucket`."""
        self._probe.head_bucket(Bucket=self.bucket)

    def delete(self, key: str) -> None:
        self._client.delete_object(Bucket=self.bucket, Key=self.object_name(key))

    def exists(self, key: str) -> bool:
        try:
            name = self.object_name(key)
        except BlobNotFound:
            return False
        try:
            self._client.head_object(Bucket=self.bucket, Key=name)
        except self._ClientError as exc:
            if _code(exc) in _MISSING:
                return False
            raise
        return True

    def size(self, key: str) -> int:
        try:
            name = self.object_name(key)
            head = self._client.head_object(Bucket=self.bucket, Key=name)
        except self._ClientError as exc:
            if _code(exc) in _MISSING:
                raise BlobNotFound(f"no blob {key}") from None
            raise
        return int(head["ContentLength"])

    def listing(self) -> Iterator[ListedBlob]:
        pages = self._client.get_paginator("list_objects_v2")
        for page in pages.paginate(Bucket=self.bucket, Prefix=self.prefix):
            for item in page.get("Contents", ()):
                key = key_of_sharded(item["Key"][len(self.prefix) :])
                if key is not None:
                    modified = item["LastModified"]
                    if modified.tzinfo is None:
                        modified = modified.replace(tzinfo=UTC)
                    yield ListedBlob(key, int(item["Size"]), modified.astimezone(UTC))
