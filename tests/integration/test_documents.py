"""Case documents on SQLite and PostgreSQL: upload, versions, lists, downloads, the bin,
the purge; what is refused leaves nothing behind, in the database or the blob store;
every change is on the case's chained log."""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session, sessionmaker
from tests.people import NOW, cheap_hashing, make_user  # noqa: F401

from casework.blobs import FilesystemBlobStore
from casework.engine import commands as c
from casework.services import audit, case_types, cases, documents, participants, rebuild
from casework.services.actors import SYSTEM, Actor
from casework.services.documents import FileUpload
from casework.services.errors import (
    Forbidden,
    InvalidInput,
    NotFound,
    Refused,
    TooLarge,
    UnsupportedType,
)
from casework.store import migrate
from casework.store.db import make_engine, session_factory
from casework.store.document_tables import Document, DocumentVersion
from casework.store.tables import CaseEvent

CLAIM = """
id: claim
name: Claim
roles: [handler]
case_file:
  amount: {type: number}
plan:
  items:
    - task: Assess
      role: handler
"""
LIMIT = 64 * 1024
PDF = b"%PDF-1.7\n" + b"1 0 obj << >> endobj\n" * 200
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(256)) * 4
RETENTION = timedelta(days=30)

OWNER = Actor("olga")
TEAM = Actor("tim", teams=frozenset({"north"}))
REQUESTER = Actor("rita")
NOBODY = Actor("nina", teams=frozenset({"south"}))
MANAGER = Actor("max", roles=frozenset({"case_manager"}), teams=frozenset({"north"}))


def office(main: str, *, extra: dict[str, bytes] | None = None) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/'
            f'2006/content-types"><Override PartName="/word/document.xml" ContentType="{main}"/>'
            "</Types>",
        )
        archive.writestr("word/document.xml", "<w:document/>")
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return out.getvalue()


DOCX = office("application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml")


@dataclass
class World:
    db: sessionmaker[Session]
    store: FilesystemBlobStore
    case_id: str
    other_case: str

    def upload(
        self,
        data: bytes = PDF,
        *,
        actor: Actor = TEAM,
        file_name: str | None = "report.pdf",
        declared: str | None = None,
        name: str | None = None,
        key: str | None = None,
        case_id: str | None = None,
    ) -> documents.DocumentRecord:
        return documents.add_document(
            self.db,
            self.store,
            actor=actor,
            case_id=case_id or self.case_id,
            upload=FileUpload(
                io.BytesIO(data), file_name=file_name, declared_type=declared, name=name
            ),
            now=NOW,
            max_bytes=LIMIT,
            idempotency_key=key,
        )

    def version(self, document_id: int, data: bytes, *, actor: Actor = TEAM) -> Any:
        return documents.add_version(
            self.db,
            self.store,
            actor=actor,
            case_id=self.case_id,
            document_id=document_id,
            upload=FileUpload(io.BytesIO(data), file_name="report-v2.pdf"),
            now=NOW + timedelta(hours=1),
            max_bytes=LIMIT,
        )

    def content(self, actor: Actor, document_id: int, version: int | None = None) -> bytes:
        with self.db() as session:
            found = documents.find_version(
                session, actor=actor, case_id=self.case_id, document_id=document_id, version=version
            )
        with documents.open_version(self.store, found) as reader:
            return reader.read()

    def blob_files(self) -> list[Path]:
        return [p for p in self.store.root.rglob("*") if p.is_file()]

    def rows(self) -> tuple[int, int]:
        with self.db() as session:
            docs = session.scalar(select(func.count()).select_from(Document)) or 0
            versions = session.scalar(select(func.count()).select_from(DocumentVersion)) or 0
        return docs, versions

    def log(self, case_id: str | None = None) -> list[CaseEvent]:
        with self.db() as session:
            return cases.events_of(session, case_id or self.case_id)

    def chain_ok(self) -> bool:
        with self.db() as session:
            return audit.verify_all(session) == []


@pytest.fixture
def world(db_url: str, tmp_path: Path) -> Iterator[World]:
    migrate.upgrade(db_url)
    engine = make_engine(db_url)
    db = session_factory(engine)
    case_types.deploy(db, actor=SYSTEM, source=CLAIM, now=NOW)
    make_user(db, "rita")
    case_id = cases.open_case(
        db, actor=SYSTEM, type_id="claim", team="north", owner="olga", now=NOW
    ).case_id
    other = cases.open_case(db, actor=SYSTEM, type_id="claim", team="south", now=NOW).case_id
    participants.add_participant(
        db, actor=SYSTEM, case_id=case_id, username="rita", role="requester", now=NOW
    )
    yield World(db, FilesystemBlobStore(tmp_path / "blobs"), case_id, other)
    engine.dispose()


def test_upload_stores_the_bytes_their_hash_and_size_and_logs_it(world: World) -> None:
    doc = world.upload(name="  Police\treport  ")
    assert (doc.name, doc.current_version, doc.created_by) == ("Police report", 1, "tim")
    current = doc.current
    assert current.sha256 == hashlib.sha256(PDF).hexdigest()
    assert (current.size, current.media_type, current.file_name) == (
        len(PDF),
        "application/pdf",
        "report.pdf",
    )
    assert world.content(TEAM, doc.id) == PDF
    assert world.store.exists(current.blob_key) and len(world.blob_files()) == 1

    last = world.log()[-1]
    assert (last.type, last.actor) == ("DocumentAdded", "tim")
    assert last.payload == {
        "document_id": doc.id,
        "name": "Police report",
        "version": 1,
        "file_name": "report.pdf",
        "media_type": "application/pdf",
        "size": len(PDF),
        "sha256": current.sha256,
    }
    assert world.chain_ok()


def test_new_versions_list_and_download_each(world: World) -> None:
    first = world.upload()
    second = world.version(first.id, PNG)
    assert second.current_version == 2 and second.name == "report.pdf"
    assert second.current.media_type == "image/png"
    # The file name's extension follows the content: report-v2.pdf holds a PNG.
    assert second.current.file_name == "report-v2.pdf.png"
    with world.db() as session:
        listed = documents.list_documents(session, actor=REQUESTER, case_id=world.case_id)
        record, versions = documents.get_document(
            session, actor=TEAM, case_id=world.case_id, document_id=first.id
        )
    assert [(d.id, d.current_version) for d in listed] == [(first.id, 2)]
    assert [v.version for v in versions] == [1, 2] and record.current_version == 2
    assert world.content(TEAM, first.id) == PNG
    assert world.content(TEAM, first.id, 1) == PDF
    assert world.log()[-1].type == "DocumentVersionAdded"
    assert world.log()[-1].payload["version"] == 2
    with world.db() as session, pytest.raises(NotFound):
        documents.find_version(
            session, actor=TEAM, case_id=world.case_id, document_id=first.id, version=3
        )
    assert world.chain_ok()


def test_who_may_see_and_add(world: World) -> None:
    doc = world.upload(actor=REQUESTER)  # the requester adds to their own case
    for actor in (NOBODY, Actor("tim", teams=frozenset({"south"}))):
        with pytest.raises(NotFound):
            world.upload(actor=actor)
        with world.db() as session:
            with pytest.raises(NotFound):
                documents.list_documents(session, actor=actor, case_id=world.case_id)
            with pytest.raises(NotFound):
                documents.find_version(
                    session, actor=actor, case_id=world.case_id, document_id=doc.id
                )
    # A document is found only under its own case.
    with world.db() as session, pytest.raises(NotFound):
        documents.get_document(session, actor=SYSTEM, case_id=world.other_case, document_id=doc.id)
    assert world.rows() == (1, 1) and len(world.blob_files()) == 1


def test_oversized_upload_leaves_nothing(world: World) -> None:
    with pytest.raises(TooLarge) as raised:
        world.upload(b"%PDF-1.7\n" + b"x" * LIMIT)
    assert raised.value.field == "file"
    assert world.rows() == (0, 0) and world.blob_files() == []
    assert [e.type for e in world.log()].count("DocumentAdded") == 0
    exactly = b"%PDF-1.7\n" + b"x" * (LIMIT - 9)
    assert world.upload(exactly).current.size == LIMIT


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"MZ\x90\x00" + b"\x00" * 200, "executable"),
        (b"\x7fELF\x02\x01\x01" + b"\x00" * 200, "executable"),
        (b"<!DOCTYPE html><html><script>alert(1)</script></html>", "HTML"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"><script/></svg>', "HTML, SVG"),
        (b"#!/bin/sh\nrm -rf /\n", "scripts"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "legacy Office"),
        (b"\x00\x01\x02\x03binary", "not of an accepted type"),
        (office("application/vnd.ms-excel.sheet.macroEnabled.main+xml"), "macros"),
        (
            office(
                "application/vnd.openxmlformats-officedocument.wordprocessingml.template.main+xml"
            ),
            "Office files other than",
        ),
        (b"PK\x03\x04 broken zip", "not a valid one"),
        (b"hello\n" * 2000 + b"\x00\x01 then binary", "binary data further on"),
    ],
)
def test_refused_types_leave_nothing(world: World, data: bytes, message: str) -> None:
    with pytest.raises(UnsupportedType) as raised:
        world.upload(data, declared="application/pdf")
    assert message in raised.value.message and raised.value.field == "file"
    assert world.rows() == (0, 0) and world.blob_files() == []


def test_an_empty_file_is_refused(world: World) -> None:
    with pytest.raises(InvalidInput) as raised:
        world.upload(b"")
    assert raised.value.field == "file" and world.blob_files() == []


def test_types_come_from_the_bytes(world: World) -> None:
    pdf = world.upload(declared="image/png", file_name="x.png")
    assert (pdf.current.media_type, pdf.current.file_name) == ("application/pdf", "x.png.pdf")
    docx = world.upload(DOCX, file_name="letter.docx", declared="application/octet-stream")
    assert docx.current.media_type.endswith("wordprocessingml.document")
    csv = world.upload(b"a,b\n1,2\n", file_name="table.csv", declared="application/octet-stream")
    assert csv.current.media_type == "text/csv"
    mail = world.upload(
        b"From: a@example.org\r\nSubject: hi\r\n\r\nbody", file_name="m.eml", declared=None
    )
    assert mail.current.media_type == "message/rfc822"
    evil = world.upload(file_name="../../etc/\u202egpj.exe", declared=None)
    assert evil.current.file_name == "gpj.exe.pdf"


def test_an_interrupted_upload_leaves_no_blob_and_no_row(world: World) -> None:
    class Broken(io.RawIOBase):
        sent = 0

        def read(self, size: int = -1, /) -> bytes:
            if self.sent > 20_000:
                raise ConnectionResetError("client went away")
            self.sent += 4096
            return (b"%PDF-1.7\n" + b"x" * 4087) if self.sent == 4096 else b"y" * 4096

    upload = FileUpload(Broken(), file_name="a.pdf")
    with pytest.raises(ConnectionResetError):
        documents.add_document(
            world.db, world.store, actor=TEAM, case_id=world.case_id, upload=upload,
            now=NOW, max_bytes=LIMIT,
        )  # fmt: skip
    assert world.rows() == (0, 0) and world.blob_files() == []


def test_a_failing_commit_removes_the_blob(world: World) -> None:
    engine = world.db.kw["bind"]

    def fail(_conn: Any) -> None:
        raise RuntimeError("the disk is full")

    event.listen(engine, "commit", fail)
    try:
        with pytest.raises(RuntimeError, match="disk is full"):
            world.upload()
    finally:
        event.remove(engine, "commit", fail)
    assert world.rows() == (0, 0) and world.blob_files() == []
    assert "DocumentAdded" not in [e.type for e in world.log()]
    assert world.chain_ok()


def test_a_refused_write_removes_the_blob(world: World) -> None:
    # The case goes away while the bytes arrive: the write finds no case.
    class Sneaky(io.BytesIO):
        def read(self, size: int | None = -1, /) -> bytes:
            data = super().read(size)
            if not data:
                participants.set_confidential(
                    world.db, actor=SYSTEM, case_id=world.case_id, confidential=True, now=NOW
                )
            return data

    upload = FileUpload(Sneaky(PDF), file_name="a.pdf")
    with pytest.raises(NotFound):
        documents.add_document(
            world.db, world.store, actor=TEAM, case_id=world.case_id, upload=upload,
            now=NOW, max_bytes=LIMIT,
        )  # fmt: skip
    assert world.rows() == (0, 0) and world.blob_files() == []


def test_idempotency_key_replays_the_first_upload(world: World) -> None:
    first = world.upload(key="k-1")
    again = world.upload(key="k-1")
    assert again == first
    assert world.rows() == (1, 1) and len(world.blob_files()) == 1
    with pytest.raises(InvalidInput) as raised:
        world.upload(PNG, key="k-1", file_name="other.png")
    assert raised.value.field == "Idempotency-Key"
    assert world.rows() == (1, 1) and len(world.blob_files()) == 1


def test_a_key_raced_from_another_case_is_refused_cleanly(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.upload(key="k-2", actor=SYSTEM, case_id=world.other_case)
    real, calls = documents.idempotency.replayed, []

    def not_yet_committed(*args: Any, **kwargs: Any) -> Any:
        # The first look misses the key, as if the other request had not committed yet.
        calls.append(args)
        return None if len(calls) == 1 else real(*args, **kwargs)

    monkeypatch.setattr(documents.idempotency, "replayed", not_yet_committed)
    with pytest.raises(InvalidInput) as raised:
        world.upload(PNG, key="k-2", actor=SYSTEM, file_name="p.png")
    assert raised.value.field == "Idempotency-Key" and len(calls) == 2
    assert world.rows() == (1, 1) and len(world.blob_files()) == 1


def test_delete_restore_and_the_bin(world: World) -> None:
    doc = world.upload()
    delete = documents.delete_document
    for actor in (TEAM, REQUESTER):
        with pytest.raises(Forbidden):
            delete(world.db, actor=actor, case_id=world.case_id, document_id=doc.id, now=NOW,
                   retention=RETENTION)  # fmt: skip
    with pytest.raises(NotFound):
        delete(world.db, actor=NOBODY, case_id=world.case_id, document_id=doc.id, now=NOW,
               retention=RETENTION)  # fmt: skip

    binned = delete(
        world.db, actor=MANAGER, case_id=world.case_id, document_id=doc.id, now=NOW,
        retention=RETENTION,
    )  # fmt: skip
    assert (binned.deleted_at, binned.deleted_by, binned.retain_until) == (
        NOW,
        "max",
        NOW + RETENTION,
    )
    again = delete(world.db, actor=OWNER, case_id=world.case_id, document_id=doc.id, now=NOW,
                   retention=RETENTION)  # fmt: skip
    assert again.deleted_by == "max"  # already in the bin: nothing changes
    assert [e.type for e in world.log()].count("DocumentDeleted") == 1

    with world.db() as session:
        assert documents.list_documents(session, actor=OWNER, case_id=world.case_id) == []
        assert [
            d.id
            for d in documents.list_documents(
                session, actor=OWNER, case_id=world.case_id, binned=True
            )
        ] == [doc.id]
        with pytest.raises(Forbidden):
            documents.list_documents(session, actor=TEAM, case_id=world.case_id, binned=True)
        with pytest.raises(NotFound):  # people who cannot see the bin cannot see into it
            documents.find_version(session, actor=TEAM, case_id=world.case_id, document_id=doc.id)
    assert world.content(OWNER, doc.id) == PDF
    with pytest.raises(Refused):
        world.version(doc.id, PNG, actor=OWNER)

    restored = documents.restore_document(
        world.db, actor=OWNER, case_id=world.case_id, document_id=doc.id, now=NOW
    )
    assert restored.deleted_at is None and restored.retain_until is None
    assert world.content(TEAM, doc.id) == PDF
    assert [e.type for e in world.log()][-2:] == ["DocumentDeleted", "DocumentRestored"]
    assert world.chain_ok()


def test_purge_removes_expired_documents_for_good(world: World) -> None:
    kept, gone = world.upload(), world.upload(PNG, file_name="p.png")
    world.version(gone.id, PDF)
    documents.delete_document(
        world.db, actor=OWNER, case_id=world.case_id, document_id=gone.id, now=NOW,
        retention=RETENTION,
    )  # fmt: skip
    with pytest.raises(Forbidden):
        documents.purge_expired(world.db, world.store, actor=OWNER, now=NOW + RETENTION)
    early = NOW + RETENTION - timedelta(seconds=1)
    assert documents.purge_expired(world.db, world.store, actor=SYSTEM, now=early) == 0
    assert len(world.blob_files()) == 3

    assert documents.purge_expired(world.db, world.store, actor=SYSTEM, now=NOW + RETENTION) == 1
    assert world.rows() == (1, 1)
    assert [p.name for p in world.blob_files()] == [kept.current.blob_key]
    last = world.log()[-1]
    assert (last.type, last.actor) == ("DocumentPurged", "system")
    assert last.payload == {"document_id": gone.id, "name": "p.png", "versions": 2}
    with pytest.raises(NotFound):
        documents.restore_document(
            world.db, actor=OWNER, case_id=world.case_id, document_id=gone.id, now=NOW
        )
    assert world.chain_ok()


def test_commands_rebuild_and_audit_work_alongside_documents(world: World) -> None:
    cases.run_command(
        world.db, actor=SYSTEM, case_id=world.case_id, command=c.SetVariables({"amount": 1}),
        now=NOW,
    )  # fmt: skip
    world.upload()  # moves the case's version on while a warm copy of the case is cached
    ref = cases.run_command(
        world.db, actor=SYSTEM, case_id=world.case_id, command=c.SetVariables({"amount": 2}),
        now=NOW + timedelta(minutes=1),
    )  # fmt: skip
    assert ref.version >= 4
    assert rebuild.rebuild_projections(world.db) == 2
    with world.db() as session:
        assert cases.get_row(session, world.case_id).data == {"amount": 2}
    types = [e.type for e in world.log()]
    assert types.index("DocumentAdded") < len(types) - 1
    assert world.chain_ok()


def test_the_purge_command(world: World, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import typer
    from typer.testing import CliRunner

    from casework.cli import documents_cmd

    # Registered as cli/main.py would: app.add_typer(documents_cmd.app, name="documents").
    cli = typer.Typer()
    cli.add_typer(documents_cmd.app, name="documents")

    doc = world.upload()
    documents.delete_document(
        world.db, actor=OWNER, case_id=world.case_id, document_id=doc.id, now=NOW,
        retention=timedelta(seconds=1),
    )  # fmt: skip
    leftover = world.store.path(doc.current.blob_key).parent / ".tmp-interrupted"
    leftover.write_bytes(b"half")
    old = NOW.timestamp() - 2 * 86400
    os.utime(leftover, (old, old))
    monkeypatch.setenv("CASEWORK_BLOB_DIR", str(world.store.root))
    result = CliRunner().invoke(
        cli, ["documents", "purge", "--database-url", db_url, "--json"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"purged": 1, "temporary_files_removed": 1}
    assert world.rows() == (0, 0) and world.blob_files() == []
    assert world.log()[-1].actor.startswith("cli:")
    assert world.chain_ok()
