"""Case documents: upload, new versions, lists, downloads, and the bin (delete, restore,
purge: `document_bin.py`, re-exported here). Who may do what is in `access.py`
(`may_add_documents`, `may_remove_documents`, `may_purge_documents`); what is safe to
accept in `document_files.py` and `blobs/sniff.py`.

The bytes go to a blob store (`casework.blobs`), what they are to `documents` and
`document_versions`, and every change onto the case's event log, chained like notes
(`DocumentAdded`, `DocumentVersionAdded`, `DocumentDeleted`, `DocumentRestored`,
`DocumentPurged`: names, versions, sizes, SHA-256 and types, never contents), so the
timeline and `casework audit verify` cover them; replaying the engine skips them.

An upload happens in an order that leaves nothing half-done:

1. a short read checks the caller may add to the case (on SQLite every transaction takes
   the write lock, so none is open while the bytes arrive);
2. the bytes stream into the blob store: the type sniffed from the first bytes, the size
   limit enforced and the SHA-256 computed while reading. A refused, oversized or
   interrupted upload leaves no blob and no row;
3. a ZIP-based document is looked inside (a refused one's blob is deleted);
4. one transaction locks the case, checks again and writes the rows, the event and the
   idempotency key. If it fails, commit included, the blob is deleted, unless a row
   turns out to point at it after all (the commit went through and only its answer got
   lost): a stray blob costs space, a row without its blob costs a document.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from casework.blobs.base import BlobReader, BlobStore, BlobTooLarge, StoredBlob
from casework.services import idempotency
from casework.services.access import may_add_documents, may_remove_documents
from casework.services.actors import Actor
from casework.services.case_log import append_entry
from casework.services.document_bin import delete_document, purge_expired, restore_document
from casework.services.document_files import (
    CheckedUpload,
    clean_file_name,
    clean_title,
    detected_type,
    media_type_of,
)
from casework.services.document_records import (
    WITH_CURRENT,
    DocumentRecord,
    VersionRecord,
    case_document,
    locked,
    record,
    record_of,
    version_record,
    visible_facts,
)
from casework.services.errors import Forbidden, InvalidInput, NotFound, Refused, TooLarge
from casework.services.visibility import case_facts
from casework.store.document_tables import Document, DocumentVersion

__all__ = [
    "DocumentRecord",
    "FileUpload",
    "UploadInfo",
    "UploadSource",
    "VersionRecord",
    "add_document",
    "add_version",
    "delete_document",
    "find_version",
    "get_document",
    "list_documents",
    "open_version",
    "purge_expired",
    "restore_document",
]
FILE_FIELD = "file"  # the name problems give the uploaded file
log = logging.getLogger("casework.documents")


@dataclass(frozen=True, slots=True)
class UploadInfo:
    file_name: str | None
    declared_type: str | None  # the sender's Content-Type for the file, if any
    name: str | None = None  # a new document's name (default: the file name)


class UploadSource(Protocol):
    """An upload: `start` gives what it says about itself (read only once the caller is
    known to be allowed), then `read` gives the file's bytes."""

    def start(self) -> UploadInfo: ...

    def read(self, size: int = -1, /) -> bytes: ...


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class FileUpload:
    """An upload from any binary file object (the CLI, tests, integrations)."""

    def __init__(
        self,
        file: Readable,
        *,
        file_name: str | None,
        declared_type: str | None = None,
        name: str | None = None,
    ) -> None:
        self._file = file
        self._info = UploadInfo(file_name, declared_type, name)

    def start(self) -> UploadInfo:
        return self._info

    def read(self, size: int = -1, /) -> bytes:
        return self._file.read(size)


# --- uploads -----------------------------------------------------------------------------


def add_document(
    db: sessionmaker[Session],
    store: BlobStore,
    *,
    actor: Actor,
    case_id: str,
    upload: UploadSource,
    now: datetime,
    max_bytes: int,
    idempotency_key: str | None = None,
) -> DocumentRecord:
    """A new document on the case, version 1 of it from `upload`."""
    return _upload(db, store, actor, case_id, None, upload, now, max_bytes, idempotency_key)


def add_version(
    db: sessionmaker[Session],
    store: BlobStore,
    *,
    actor: Actor,
    case_id: str,
    document_id: int,
    upload: UploadSource,
    now: datetime,
    max_bytes: int,
    idempotency_key: str | None = None,
) -> DocumentRecord:
    """The next version of a document (not one in the bin: restore it first)."""
    return _upload(db, store, actor, case_id, document_id, upload, now, max_bytes, idempotency_key)


def _upload(
    db: sessionmaker[Session],
    store: BlobStore,
    actor: Actor,
    case_id: str,
    document_id: int | None,
    upload: UploadSource,
    now: datetime,
    max_bytes: int,
    idempotency_key: str | None,
) -> DocumentRecord:
    with db() as session:
        _check_may_add(session, actor, case_id, document_id)
    info = upload.start()
    title = clean_title(info.name)
    if document_id is not None and title is not None:
        raise InvalidInput("a new version keeps the document's name", field="name")
    checked = CheckedUpload(upload, field=FILE_FIELD)
    try:
        blob = store.put(checked, max_bytes=max_bytes)
    except BlobTooLarge:
        raise TooLarge(
            f"a document is at most {max_bytes} bytes ({max_bytes / 2**20:.1f} MiB)",
            field=FILE_FIELD,
        ) from None
    assert checked.sniffed is not None  # put read the head, or raised
    try:
        detected = detected_type(store, blob, checked.sniffed, field=FILE_FIELD)
    except BaseException:
        store.delete(blob.key)
        raise
    media_type = media_type_of(info.declared_type, detected, info.file_name)
    file_name = clean_file_name(info.file_name, media_type)
    write = partial(
        _write,
        db,
        actor=actor,
        case_id=case_id,
        document_id=document_id,
        name=title or file_name,
        blob=blob,
        media_type=media_type,
        file_name=file_name,
        now=now,
        idempotency_key=idempotency_key,
    )
    try:
        # The same key, sent at the same time for another case, may get in first (the
        # case lock does not order them): then a replay, or a refused reuse.
        result, replayed = idempotency.after_collision(idempotency_key, write)
    except BaseException:
        _discard(db, store, blob.key)
        raise
    if replayed:
        _discard(db, store, blob.key)  # the first upload with this key is the one kept
    return result


def _check_may_add(session: Session, actor: Actor, case_id: str, document_id: int | None) -> None:
    facts = visible_facts(session, actor, case_id)
    if not may_add_documents(actor, facts):
        raise Forbidden("you may not add documents to this case")
    if document_id is not None:
        doc = case_document(session, actor, facts, case_id, document_id)
        if doc.deleted_at is not None:
            raise Refused(f"document {document_id} is in the bin: restore it first")


def _write(
    db: sessionmaker[Session],
    *,
    actor: Actor,
    case_id: str,
    document_id: int | None,
    name: str,
    blob: StoredBlob,
    media_type: str,
    file_name: str,
    now: datetime,
    idempotency_key: str | None,
) -> tuple[DocumentRecord, bool]:
    """Write the rows and the event of a stored upload; (record, whether it was replayed)."""
    request = {
        "op": "document.version" if document_id else "document.add",
        "case": case_id,
        "document": document_id,
        "name": name if document_id is None else None,
        "file_name": file_name,
        "media_type": media_type,
        "sha256": blob.sha256,
        "size": blob.size,
    }
    with db.begin() as session:
        row = locked(session, case_id)
        # Again, under the lock: the case may have changed hands while the bytes arrived.
        _check_may_add(session, actor, case_id, document_id)
        replay = idempotency.replayed(session, actor, idempotency_key, request, now=now)
        if replay is not None:
            return record_of(session, int(replay["document_id"])), True
        if document_id is None:
            doc = Document(
                case_id=case_id,
                name=name,
                current_version=1,
                created_by=actor.id,
                created_at=now,
                updated_at=now,
            )
            session.add(doc)
            session.flush()
            event = "DocumentAdded"
        else:
            doc = case_document(session, actor, case_facts(session, case_id), case_id, document_id)
            doc.current_version += 1
            doc.updated_at = now
            event = "DocumentVersionAdded"
        session.add(
            DocumentVersion(
                document_id=doc.id,
                version=doc.current_version,
                blob_key=blob.key,
                size=blob.size,
                sha256=blob.sha256,
                media_type=media_type,
                file_name=file_name,
                uploaded_by=actor.id,
                uploaded_at=now,
            )
        )
        session.flush()
        payload = {
            "document_id": doc.id,
            "name": doc.name,
            "version": doc.current_version,
            "file_name": file_name,
            "media_type": media_type,
            "size": blob.size,
            "sha256": blob.sha256,
        }
        append_entry(session, row, event, payload, actor, now)
        result = {"document_id": doc.id, "version": doc.current_version}
        idempotency.remember(session, actor, idempotency_key, request, result, now)
        return record_of(session, doc.id), False


def _discard(db: sessionmaker[Session], store: BlobStore, key: str) -> None:
    """Delete a blob no version row points to. When that cannot be checked (the database
    went away), keep it: see the module docstring."""
    try:
        with db() as session:
            used = session.scalar(
                select(DocumentVersion.document_id).where(DocumentVersion.blob_key == key)
            )
    except Exception:
        log.warning("kept blob %s: could not check whether a document uses it", key)
        return
    if used is not None:
        return
    try:
        store.delete(key)
    except Exception:
        log.warning("could not delete unused blob %s", key, exc_info=True)


# --- reading -----------------------------------------------------------------------------


def list_documents(
    session: Session, *, actor: Actor, case_id: str, binned: bool = False
) -> list[DocumentRecord]:
    """The case's documents, oldest first, with their current versions; `binned`: the
    ones in the bin instead (for those who may remove documents)."""
    facts = visible_facts(session, actor, case_id)
    if binned and not may_remove_documents(actor, facts):
        raise Forbidden("only the case's owner, a case manager or an administrator see its bin")
    in_bin = Document.deleted_at.is_not(None) if binned else Document.deleted_at.is_(None)
    rows = session.execute(
        WITH_CURRENT.where(Document.case_id == case_id, in_bin).order_by(
            Document.created_at, Document.id
        )
    )
    return [record(d, v) for d, v in rows]


def get_document(
    session: Session, *, actor: Actor, case_id: str, document_id: int
) -> tuple[DocumentRecord, list[VersionRecord]]:
    """A document and all its versions, oldest first."""
    facts = visible_facts(session, actor, case_id)
    doc = case_document(session, actor, facts, case_id, document_id)
    versions = session.scalars(
        select(DocumentVersion)
        .where(DocumentVersion.document_id == doc.id)
        .order_by(DocumentVersion.version)
    )
    return record_of(session, doc.id), [version_record(v) for v in versions]


def find_version(
    session: Session,
    *,
    actor: Actor,
    case_id: str,
    document_id: int,
    version: int | None = None,
) -> VersionRecord:
    """One version of a document (None: the current one), to download."""
    facts = visible_facts(session, actor, case_id)
    doc = case_document(session, actor, facts, case_id, document_id)
    row = session.get(
        DocumentVersion, (doc.id, doc.current_version if version is None else version)
    )
    if row is None:
        raise NotFound(f"document {document_id} has no version {version}")
    return version_record(row)


def open_version(
    store: BlobStore, version: VersionRecord, start: int = 0, end: int | None = None
) -> BlobReader:
    """The bytes of a version from `start` up to, not including, `end`."""
    try:
        return store.open(version.blob_key, start, end)
    except Exception:
        # The database says the blob exists: the store lost it, or cannot be reached.
        log.error(
            "cannot read document %s version %s (blob %s)",
            version.document_id,
            version.version,
            version.blob_key,
        )
        raise


# --- idempotency -------------------------------------------------------------------------
