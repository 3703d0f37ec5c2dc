"""Where case documents go and how big they may be, from the environment.

| variable | default | what |
|---|---|---|
| `CASEWORK_BLOB_DIR` | `./casework-blobs` | the directory of the filesystem store |
| `CASEWORK_BLOB_URL` | (none) | `s3://bucket/prefix`: an S3 store instead (needs boto3) |
| `CASEWORK_S3_ENDPOINT_URL` | (AWS) | another S3-compatible service |
| `CASEWORK_MAX_UPLOAD_BYTES` | 25 MiB | the largest document version accepted |
| `CASEWORK_DOCUMENT_RETENTION_DAYS` | 30 | how long a deleted document stays in the bin |
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from casework.blobs.base import BlobError, BlobStore
from casework.blobs.filesystem import FilesystemBlobStore

DEFAULT_BLOB_DIR = "./casework-blobs"
DEFAULT_MAX_UPLOAD_BYTES = 25 * 1024 * 1024
DEFAULT_RETENTION_DAYS = 30


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
        env = os.environ if environ is None else environ
        return cls(
            store=store_from_env(env),
            max_upload_bytes=_positive(env, "CASEWORK_MAX_UPLOAD_BYTES", DEFAULT_MAX_UPLOAD_BYTES),
            retention=timedelta(
                days=_positive(env, "CASEWORK_DOCUMENT_RETENTION_DAYS", DEFAULT_RETENTION_DAYS)
            ),
        )


def store_from_env(env: Mapping[str, str]) -> BlobStore:
    url = (env.get("CASEWORK_BLOB_URL") or "").strip()
    if not url:
        return FilesystemBlobStore(env.get("CASEWORK_BLOB_DIR") or DEFAULT_BLOB_DIR)
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise BlobConfigError("CASEWORK_BLOB_URL must look like s3://bucket/prefix")
    from casework.blobs.s3 import S3BlobStore  # boto3 only when asked for

    return S3BlobStore(
        parts.netloc,
        parts.path,
        endpoint_url=env.get("CASEWORK_S3_ENDPOINT_URL") or None,
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
