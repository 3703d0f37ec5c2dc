"""What the document services hand out, and the pieces they share: finding a case's
document as the caller may see it, and chaining an entry to the case's log.

Split from `documents.py` (uploads and reads) and `document_bin.py` (delete, restore,
purge) only to keep modules small; `documents.py` is the API.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from casework.services.access import CaseFacts, may_remove_documents, may_see_case
from casework.services.actors import Actor
from casework.services.errors import NotFound
from casework.services.identity import aware
from casework.services.visibility import case_facts
from casework.store.document_tables import Document, DocumentVersion
from casework.store.tables import Case


@dataclass(frozen=True, slots=True)
class VersionRecord:
    document_id: int
    version: int
    file_name: str
    media_type: str
    size: int
    sha256: str
    uploaded_by: str
    uploaded_at: datetime
    blob_key: str = field(repr=False)  # for the blob store only, never shown


@dataclass(frozen=True, slots=True)
class DocumentRecord:
    id: int
    case_id: str
    name: str
    current_version: int
    created_by: str
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None
    deleted_by: str | None
    retain_until: datetime | None
    current: VersionRecord


WITH_CURRENT = select(Document, DocumentVersion).join(
    DocumentVersion,
    and_(
        DocumentVersion.document_id == Document.id,
        DocumentVersion.version == Document.current_version,
    ),
)


def visible_facts(session: Session, actor: Actor, case_id: str) -> CaseFacts:
    facts = case_facts(session, case_id)
    if not may_see_case(actor, facts):
        raise NotFound(f"no case {case_id}")
    return facts


def case_document(
    session: Session, actor: Actor, facts: CaseFacts, case_id: str, document_id: int
) -> Document:
    """The case's document; one in the bin only for those who may see the bin."""
    doc = session.get(Document, document_id)
    if doc is None or doc.case_id != case_id:
        raise NotFound(f"no document {document_id} on case {case_id}")
    if doc.deleted_at is not None and not may_remove_documents(actor, facts):
        raise NotFound(f"no document {document_id} on case {case_id}")
    return doc


def record_of(session: Session, document_id: int) -> DocumentRecord:
    found = session.execute(WITH_CURRENT.where(Document.id == document_id)).first()
    if found is None:
        raise NotFound(f"no document {document_id}")
    return record(*found)


def record(doc: Document, current: DocumentVersion) -> DocumentRecord:
    return DocumentRecord(
        id=doc.id,
        case_id=doc.case_id,
        name=doc.name,
        current_version=doc.current_version,
        created_by=doc.created_by,
        created_at=aware(doc.created_at),
        updated_at=aware(doc.updated_at),
        deleted_at=aware(doc.deleted_at) if doc.deleted_at else None,
        deleted_by=doc.deleted_by,
        retain_until=aware(doc.retain_until) if doc.retain_until else None,
        current=version_record(current),
    )


def version_record(row: DocumentVersion) -> VersionRecord:
    return VersionRecord(
        document_id=row.document_id,
        version=row.version,
        file_name=row.file_name,
        media_type=row.media_type,
        size=row.size,
        sha256=row.sha256,
        uploaded_by=row.uploaded_by,
        uploaded_at=aware(row.uploaded_at),
        blob_key=row.blob_key,
    )


def locked(session: Session, case_id: str) -> Case:
    row = session.get(Case, case_id, with_for_update=True)
    if row is None:
        raise NotFound(f"no case {case_id}")
    return row
