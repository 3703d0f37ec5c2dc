"""Case documents: what each is and each of its versions, with the bytes in a blob store.

On the same `Base.metadata` as `tables.py` (imported by `casework.store`). A version row
names its blob by key and records the size and SHA-256 measured while it was stored, so
a download can be checked against it. A deleted document stays, with all its versions,
in the bin (`deleted_at`) until `retain_until`, when the purge removes rows and blobs.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from casework.store.identity_tables import utc_type
from casework.store.tables import Base, BigId


class Document(Base):
    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("cases.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(255))
    current_version: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(utc_type())
    updated_at: Mapped[datetime] = mapped_column(utc_type())
    # The bin: set together when deleted, cleared together when restored.
    deleted_at: Mapped[datetime | None] = mapped_column(utc_type())
    deleted_by: Mapped[str | None] = mapped_column(String(200))
    # Indexed for the purge, which looks for binned documents past this date.
    retain_until: Mapped[datetime | None] = mapped_column(utc_type(), index=True)


class DocumentVersion(Base):
    __tablename__ = "document_versions"

    document_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, primary_key=True)  # 1, 2, ...
    # Unique: a blob belongs to one version, so deleting it for one never hurts another.
    blob_key: Mapped[str] = mapped_column(String(200), unique=True)
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    # Detected from the content (blobs/sniff.py), never simply the client's word.
    media_type: Mapped[str] = mapped_column(String(127))
    file_name: Mapped[str] = mapped_column(String(255))  # sanitised; the download's name
    uploaded_by: Mapped[str] = mapped_column(String(200))
    uploaded_at: Mapped[datetime] = mapped_column(utc_type())
