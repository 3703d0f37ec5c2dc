"""The blob store checked against the database: every document version's bytes are
there and are what was stored (`verify_blobs`), and no blob lies unused (`unused_blobs`,
`delete_blobs`).

A version row records the size and SHA-256 measured while its blob was stored, so the
store can be checked like the event log's chain: after restoring a backup (the database
and the blobs are restored separately), after trouble with the disk or the bucket, or
from time to time. A blob no version names costs space and nothing else: a process
killed between storing an upload and committing it leaves one, and so does restoring a
blob backup taken after the database's. Sweeping them is safe once they are older than
any upload still in progress; a blob is never given to a row after it was stored.

Both read versions in batches, each in a short read transaction of its own, so they can
run while Casework does: a document purged meanwhile is not reported as missing (its
row is read again before a problem is).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import islice

from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import Session, sessionmaker

from casework.blobs.base import BlobNotFound, BlobStore, BlobUnavailable, ListedBlob, os_reason
from casework.store.document_tables import Document, DocumentVersion

log = logging.getLogger("casework.documents")

BATCH = 500  # versions read, or listed blobs looked up, per database round trip


@dataclass(frozen=True, slots=True)
class StoredVersion:
    case_id: str
    document_id: int
    version: int
    blob_key: str
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class BlobProblem:
    """A version whose blob is missing, or holds other bytes than were stored."""

    stored: StoredVersion
    problem: str

    def __str__(self) -> str:
        s = self.stored
        return (
            f"{s.case_id}: document {s.document_id} version {s.version}: blob {s.blob_key} "
            f"{self.problem}"
        )


@dataclass(frozen=True, slots=True)
class VerifyResult:
    versions: int  # checked
    bytes_read: int
    problems: list[BlobProblem]


def verify_blobs(
    db: sessionmaker[Session],
    store: BlobStore,
    *,
    contents: bool = True,
    on_version: Callable[[int], None] | None = None,
) -> VerifyResult:
    """Check each document version's blob: there, of the size stored and (`contents`:
    reading every byte) with the SHA-256 stored. `on_version(bytes)` after each.

    A store that does not answer at all (a bucket out of reach) raises at once, rather
    than naming every version unreadable. Only reading is asked of it: a read-only copy
    (a restored backup, a snapshot) can be checked, where `check` wants to write."""
    next(iter(store.listing()), None)
    checked = read = 0
    problems: list[BlobProblem] = []
    for stored in _versions(db):
        problem, size = _check(store, stored, contents)
        if problem is not None and _still_stored(db, stored):
            problems.append(BlobProblem(stored, problem))
        checked += 1
        read += size
        if on_version is not None:
            on_version(size)
    return VerifyResult(checked, read, problems)


def versions_count(db: sessionmaker[Session]) -> int:
    with db() as session:
        return int(session.scalar(select(func.count()).select_from(DocumentVersion)) or 0)


def _versions(db: sessionmaker[Session]) -> Iterator[StoredVersion]:
    """Every version, in (document, version) order, a batch per read transaction."""
    after = (0, 0)
    while True:
        with db() as session:
            rows = session.execute(
                select(
                    Document.case_id,
                    DocumentVersion.document_id,
                    DocumentVersion.version,
                    DocumentVersion.blob_key,
                    DocumentVersion.size,
                    DocumentVersion.sha256,
                )
                .join(Document, Document.id == DocumentVersion.document_id)
                .where(tuple_(DocumentVersion.document_id, DocumentVersion.version) > after)
                .order_by(DocumentVersion.document_id, DocumentVersion.version)
                .limit(BATCH)
            ).all()
        for row in rows:
            yield StoredVersion(*row)
        if len(rows) < BATCH:
            return
        after = (rows[-1].document_id, rows[-1].version)


def _check(store: BlobStore, stored: StoredVersion, contents: bool) -> tuple[str | None, int]:
    """(what is wrong or None, bytes read)."""
    try:
        if not contents:
            size = store.size(stored.blob_key)
            return (_size_problem(size, stored), 0)
        digest = hashlib.sha256()
        size = 0
        with store.open(stored.blob_key) as reader:
            for chunk in reader:
                digest.update(chunk)
                size += len(chunk)
    except BlobNotFound:
        return "is missing", 0
    except BlobUnavailable as exc:
        return f"cannot be read: {exc.reason}", 0
    except OSError as exc:  # mid-file: a disk that fails under it
        return f"cannot be read: {os_reason(exc)}", 0
    problem = _size_problem(size, stored)
    if problem is None and digest.hexdigest() != stored.sha256:
        problem = f"has other bytes than were stored (SHA-256 {digest.hexdigest()})"
    return problem, size


def _size_problem(size: int, stored: StoredVersion) -> str | None:
    if size == stored.size:
        return None
    return f"holds {size} bytes, {stored.size} were stored"


def _still_stored(db: sessionmaker[Session], stored: StoredVersion) -> bool:
    """The version is still there with that blob: not purged while it was checked."""
    with db() as session:
        key = session.scalar(
            select(DocumentVersion.blob_key).where(
                DocumentVersion.document_id == stored.document_id,
                DocumentVersion.version == stored.version,
            )
        )
    return key == stored.blob_key


def unused_blobs(
    db: sessionmaker[Session], store: BlobStore, *, stored_before: datetime
) -> Iterator[ListedBlob]:
    """The blobs no document version names, stored before `stored_before` (younger ones
    may belong to uploads still in progress)."""
    old = (blob for blob in store.listing() if blob.modified < stored_before)
    for batch in _batches(old, BATCH):
        with db() as session:
            named = set(
                session.scalars(
                    select(DocumentVersion.blob_key).where(
                        DocumentVersion.blob_key.in_([blob.key for blob in batch])
                    )
                )
            )
        yield from (blob for blob in batch if blob.key not in named)


def delete_blobs(
    store: BlobStore,
    blobs: Iterable[ListedBlob],
    on_deleted: Callable[[ListedBlob], None] | None = None,
) -> None:
    """Delete blobs `unused_blobs` found: no row can name them later, as a blob is only
    ever named by the upload that stored it, moments after (and they are older).
    `on_deleted` after each, so a caller stopped by a failure knows how far it got."""
    for blob in blobs:
        store.delete(blob.key)
        log.info("deleted unused blob %s (%d bytes)", blob.key, blob.size)
        if on_deleted is not None:
            on_deleted(blob)


def names_blobs_of(db: sessionmaker[Session], store: BlobStore, *, sample: int = 20) -> bool:
    """Whether the database is plausibly the one of this store: some of the blobs its
    newest versions name are there. A sweep given another database would find every
    blob of the store unused."""
    with db() as session:
        keys = session.scalars(
            select(DocumentVersion.blob_key)
            .order_by(DocumentVersion.document_id.desc(), DocumentVersion.version.desc())
            .limit(sample)
        ).all()
    return any(store.exists(key) for key in keys)


def _batches(items: Iterable[ListedBlob], size: int) -> Iterator[list[ListedBlob]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch
