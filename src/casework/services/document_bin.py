"""The bin: deleting a document puts it there, with all its versions, until its retention
date; until then it can be restored, and after it the purge removes it for good (rows,
then blobs). Who may: `access.may_remove_documents` and `may_purge_documents`.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from casework.blobs.base import BlobStore
from casework.services.access import may_purge_documents, may_remove_documents
from casework.services.actors import Actor
from casework.services.case_log import append_entry
from casework.services.document_records import (
    DocumentRecord,
    case_document,
    locked,
    record_of,
    visible_facts,
)
from casework.services.errors import Forbidden
from casework.services.identity import aware
from casework.store.document_tables import Document, DocumentVersion
from casework.store.tables import Case

log = logging.getLogger("casework.documents")


def delete_document(
    db: sessionmaker[Session],
    *,
    actor: Actor,
    case_id: str,
    document_id: int,
    now: datetime,
    retention: timedelta,
) -> DocumentRecord:
    """Put a document in the bin, where it stays `retention` long (again: no change)."""
    with db.begin() as session:
        row, doc = _removable(session, actor, case_id, document_id)
        if doc.deleted_at is None:
            until = now + retention
            doc.deleted_at, doc.deleted_by, doc.retain_until = now, actor.id, until
            session.flush()
            payload = {"document_id": doc.id, "name": doc.name, "retain_until": until.isoformat()}
            append_entry(session, row, "DocumentDeleted", payload, actor, now)
        record = record_of(session, doc.id)
    return record


def restore_document(
    db: sessionmaker[Session], *, actor: Actor, case_id: str, document_id: int, now: datetime
) -> DocumentRecord:
    """Take a document out of the bin (one that is not in it: no change)."""
    with db.begin() as session:
        row, doc = _removable(session, actor, case_id, document_id)
        if doc.deleted_at is not None:
            doc.deleted_at = doc.deleted_by = doc.retain_until = None
            session.flush()
            append_entry(
                session,
                row,
                "DocumentRestored",
                {"document_id": doc.id, "name": doc.name},
                actor,
                now,
            )
        record = record_of(session, doc.id)
    return record


def purge_expired(
    db: sessionmaker[Session], store: BlobStore, *, actor: Actor, now: datetime
) -> int:
    """Remove for good the documents whose time in the bin is over: rows first (one
    transaction each, with a `DocumentPurged` event), then their blobs. How many."""
    if not may_purge_documents(actor):
        raise Forbidden("only administrators may empty the bin")
    with db() as session:
        due = session.execute(
            select(Document.id, Document.case_id)
            .where(Document.deleted_at.is_not(None), Document.retain_until <= now)
            .order_by(Document.retain_until, Document.id)
        ).all()
    purged = 0
    for document_id, case_id in due:
        keys = _purge_one(db, actor, case_id, document_id, now)
        if keys is None:
            continue  # restored meanwhile
        purged += 1
        for key in keys:
            try:
                store.delete(key)
            except Exception:
                # The rows are gone: the blob is only unused space now.
                log.warning("could not delete purged blob %s", key, exc_info=True)
    return purged


def _purge_one(
    db: sessionmaker[Session], actor: Actor, case_id: str, document_id: int, now: datetime
) -> list[str] | None:
    with db.begin() as session:
        row = locked(session, case_id)
        doc = session.get(Document, document_id)
        if doc is None or doc.retain_until is None or aware(doc.retain_until) > now:
            return None
        keys = list(
            session.scalars(
                select(DocumentVersion.blob_key).where(DocumentVersion.document_id == doc.id)
            )
        )
        payload = {"document_id": doc.id, "name": doc.name, "versions": len(keys)}
        session.execute(delete(DocumentVersion).where(DocumentVersion.document_id == doc.id))
        session.execute(delete(Document).where(Document.id == doc.id))
        append_entry(session, row, "DocumentPurged", payload, actor, now)
    return keys


def _removable(
    session: Session, actor: Actor, case_id: str, document_id: int
) -> tuple[Case, Document]:
    row = locked(session, case_id)
    facts = visible_facts(session, actor, case_id)
    if not may_remove_documents(actor, facts):
        raise Forbidden(
            "only the case's owner, a case manager or an administrator may delete or "
            "restore its documents"
        )
    return row, case_document(session, actor, facts, case_id, document_id)
