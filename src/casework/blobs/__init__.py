"""Blob stores: where the bytes of case documents live, outside the database.

The database keeps what a document is (names, versions, sizes, SHA-256, who and when:
`store/document_tables.py`); a blob store keeps its bytes under random keys. The
filesystem store is the default, an S3-compatible bucket the option for several
machines. `sniff` decides from the bytes whether a file is a type case files accept.
"""

from casework.blobs.base import (
    BlobError,
    BlobFile,
    BlobNotFound,
    BlobReader,
    BlobStore,
    BlobTooLarge,
    BlobUnavailable,
    ListedBlob,
    Readable,
    StoredBlob,
)
from casework.blobs.config import BlobConfigError, DocumentStorage, store_from_env
from casework.blobs.filesystem import FilesystemBlobStore

__all__ = [
    "BlobConfigError",
    "BlobError",
    "BlobFile",
    "BlobNotFound",
    "BlobReader",
    "BlobStore",
    "BlobTooLarge",
    "BlobUnavailable",
    "DocumentStorage",
    "FilesystemBlobStore",
    "ListedBlob",
    "Readable",
    "StoredBlob",
    "store_from_env",
]
