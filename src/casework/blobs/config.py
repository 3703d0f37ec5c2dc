"""Where case documents go and how big they may be, from the environment.

| variable | default | what |
|---|---|---|
| `CASEWORK_BLOB_DIR` | `./casework-blobs` | the directory of the filesystem store |
| `CASEWORK_BLOB_URL` | (none) | `s3://bucket/prefix`: an S3 store instead (needs boto3) |
| `CASEWORK_S3_ENDPOINT_URL` | (AWS) | another S3-compatible service |
| `CASEWORK_MAX_UPLOAD_BYTES` | 25 MiB | the largest document version accepted |
| `CASEWORK_DOCUMENT_RETENTION_DAYS` | 30 | how long a deleted document stays in the bin |

They are all checked when the settings are read (`DocumentStorage.from_env`), so a server
with a wrong one refuses to start instead of failing its first upload; `prepare` then
creates the filesystem store's directory. Messages name the variable and never show the
credentials a URL may carry (`shown_url`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import SplitResult, urlsplit

from casework.blobs.base import BlobError, BlobStore
from casework.blobs.filesystem import FilesystemBlobStore

DEFAULT_BLOB_DIR = "./casework-blobs"
DEFAULT_MAX_UPLOAD_BYTES = 25 * 1024 * 1024
DEFAULT_RETENTION_DAYS = 30

_URL_FORM = "s3://bucket/prefix"
# What botocore itself accepts as a bucket name (S3-compatible services are laxer than AWS).
_BUCKET = re.compile(r"[A-Za-z0-9.\-_]{1,255}")


class BlobConfigError(BlobError, ValueError):
    """An environment variable has a value the blob store cannot use."""


@dataclass(frozen=True, slots=True)
class DocumentStorage:
    """The blob store and the limits the document services apply."""

    store: BlobStore
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    retention: timedelta = timedelta(days=DEFAULT_RETENTION_DAYS)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> DocumentStorage:
        """The storage the environment describes; BlobConfigError (one line, naming the
        variable) for a value it cannot use. Nothing is contacted or created yet."""
        env = os.environ if environ is None else environ
        return cls(
            store=store_from_env(env),
            max_upload_bytes=_positive(env, "CASEWORK_MAX_UPLOAD_BYTES", DEFAULT_MAX_UPLOAD_BYTES),
            retention=timedelta(
                days=_positive(env, "CASEWORK_DOCUMENT_RETENTION_DAYS", DEFAULT_RETENTION_DAYS)
            ),
        )

    def prepare(self) -> None:
        """Get the store ready for a server that starts: the filesystem store's directory
        is created when missing and must be writable (BlobConfigError otherwise). A bucket
        is not contacted: whether it answers is `/readyz`'s question, asked again and
        again, not a reason to refuse to start."""
        store = self.store
        if not isinstance(store, FilesystemBlobStore):
            return
        try:
            store.prepare()
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise BlobConfigError(
                f"CASEWORK_BLOB_DIR {str(store.root)!r} cannot hold documents: {reason}"
            ) from None


def store_from_env(env: Mapping[str, str]) -> BlobStore:
    url = (env.get("CASEWORK_BLOB_URL") or "").strip()
    if not url:
        return FilesystemBlobStore(env.get("CASEWORK_BLOB_DIR") or DEFAULT_BLOB_DIR)
    parts = _s3_url(url)
    endpoint_url = (env.get("CASEWORK_S3_ENDPOINT_URL") or "").strip() or None
    if endpoint_url is not None:
        _check_endpoint(endpoint_url)
    from casework.blobs.s3 import S3BlobStore  # boto3 only when asked for

    try:
        return S3BlobStore(parts.netloc, parts.path, endpoint_url=endpoint_url)
    except BlobError as exc:  # boto3 is not installed
        raise BlobConfigError(f"CASEWORK_BLOB_URL: {exc}") from None
    except Exception as exc:  # botocore refused its configuration: the class only
        raise BlobConfigError(
            f"CASEWORK_BLOB_URL: cannot set up an S3 client for {shown_url(url)!r} "
            f"({type(exc).__name__})"
        ) from None


def shown_url(url: str) -> str:
    """`url` fit for a message or a log line: user name, password, query and fragment
    (where credentials can hide) replaced by `***`; a value that is not a URL at all is
    not shown."""
    scheme, sep, rest = url.strip().partition("://")
    if not sep:
        return "(not a URL)"
    if "@" in rest:  # everything up to the last @: a password may hold a / or a #
        rest = "***@" + rest.rpartition("@")[2]
    for mark in ("?", "#"):
        if mark in rest:
            rest = rest.partition(mark)[0] + mark + "***"
    return f"{scheme}://{rest}"


def _s3_url(url: str) -> SplitResult:
    """`s3://bucket/prefix`, split and checked."""
    shown = shown_url(url)
    if "://" not in url:
        raise BlobConfigError(
            f"CASEWORK_BLOB_URL must look like {_URL_FORM} "
            "(for a directory, set CASEWORK_BLOB_DIR instead)"
        )
    try:
        parts = urlsplit(url)
    except ValueError:
        raise BlobConfigError(
            f"CASEWORK_BLOB_URL {shown!r} is not a URL: it must look like {_URL_FORM}"
        ) from None
    if parts.scheme != "s3":
        raise BlobConfigError(
            f"CASEWORK_BLOB_URL {shown!r}: unsupported scheme, it must look like {_URL_FORM} "
            "(for a directory, set CASEWORK_BLOB_DIR instead)"
        )
    if "@" in parts.netloc:
        raise BlobConfigError(
            f"CASEWORK_BLOB_URL {shown!r} must not carry credentials: boto3 reads them from "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or an instance role"
        )
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        raise BlobConfigError(
            f"CASEWORK_BLOB_URL {shown!r} takes no query or fragment: it must look like "
            f"{_URL_FORM} (another S3 service goes in CASEWORK_S3_ENDPOINT_URL)"
        )
    if not parts.netloc:
        raise BlobConfigError(
            f"CASEWORK_BLOB_URL {shown!r} names no bucket: it must look like {_URL_FORM}"
        )
    if not _BUCKET.fullmatch(parts.netloc):
        raise BlobConfigError(
            f"CASEWORK_BLOB_URL {shown!r} does not name a valid bucket: it must look like "
            f"{_URL_FORM} (letters, digits, '.', '-' and '_')"
        )
    return parts


def _check_endpoint(url: str) -> None:
    """An http(s) URL with a host, as botocore wants it (its own error would show it)."""
    try:
        parts = urlsplit(url)
        valid = parts.scheme in {"http", "https"} and bool(parts.hostname)
        _ = parts.port  # ValueError for a port that is not a number
    except ValueError:
        valid = False
    if not valid:
        got = f" (not {shown_url(url)!r})" if "://" in url else ""
        raise BlobConfigError(
            "CASEWORK_S3_ENDPOINT_URL must be an http(s) URL such as "
            f"https://minio.example.org:9000{got}"
        )


def _positive(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BlobConfigError(f"{name} must be a whole number, not {raw!r}") from None
    if value < 1:
        raise BlobConfigError(f"{name} must be at least 1, not {value}")
    return value
