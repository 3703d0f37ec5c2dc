"""The blob store checked against the database, on SQLite and PostgreSQL: `documents
verify` finds missing, cut and altered blobs (and not a document purged while it runs);
`documents sweep` finds the blobs no version names, old enough not to be an upload in
progress, and deletes only those, and only from the store of the database it is given."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from casework.blobs import BlobUnavailable, FilesystemBlobStore, ListedBlob
from casework.cli import documents_cmd
from casework.services import case_types, cases, document_integrity, documents
from casework.services.actors import SYSTEM
from casework.services.documents import FileUpload
from casework.store import migrate
from casework.store.db import make_engine, session_factory

CLAIM = """
id: claim
name: Claim
plan:
  items:
    - task: Assess
"""
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PDF = b"%PDF-1.7\n" + b"1 0 obj << >> endobj\n" * 50
DAY = timedelta(days=1)


@dataclass
class Store:
    db: sessionmaker[Session]
    url: str
    blobs: FilesystemBlobStore
    case_id: str

    def upload(self, data: bytes = PDF) -> documents.DocumentRecord:
        return documents.add_document(
            self.db,
            self.blobs,
            actor=SYSTEM,
            case_id=self.case_id,
            upload=FileUpload(io.BytesIO(data), file_name="report.pdf"),
            now=NOW,
            max_bytes=1 << 20,
        )

    def version(self, document_id: int, data: bytes) -> documents.DocumentRecord:
        return documents.add_version(
            self.db,
            self.blobs,
            actor=SYSTEM,
            case_id=self.case_id,
            document_id=document_id,
            upload=FileUpload(io.BytesIO(data), file_name="report.pdf"),
            now=NOW,
            max_bytes=1 << 20,
        )

    def stray(self, data: bytes = b"stray", *, age_hours: float = 48) -> str:
        """A blob no row names, as an upload killed before its commit leaves."""
        blob = self.blobs.put(io.BytesIO(data))
        then = datetime.now(UTC).timestamp() - age_hours * 3600
        os.utime(self.blobs.path(blob.key), (then, then))
        return blob.key

    def keys(self) -> set[str]:
        return {b.key for b in self.blobs.listing()}

    def cli(self, *args: str, store: FilesystemBlobStore | None = None) -> Any:
        app = typer.Typer()
        app.add_typer(documents_cmd.app, name="documents")  # as cli/main.py registers it
        env = {"CASEWORK_BLOB_DIR": str((store or self.blobs).root)}
        return CliRunner().invoke(
            app, ["documents", *args, "--database-url", self.url], env=env, catch_exceptions=False
        )


@pytest.fixture
def world(db_url: str, tmp_path: Path) -> Iterator[Store]:
    migrate.upgrade(db_url)
    engine = make_engine(db_url)
    db = session_factory(engine)
    case_types.deploy(db, actor=SYSTEM, source=CLAIM, now=NOW)
    case_id = cases.open_case(db, actor=SYSTEM, type_id="claim", now=NOW).case_id
    yield Store(db, db_url, FilesystemBlobStore(tmp_path / "blobs"), case_id)
    engine.dispose()


def problems(world: Store, *, contents: bool = True) -> list[tuple[int, int, str]]:
    result = document_integrity.verify_blobs(world.db, world.blobs, contents=contents)
    return [(p.stored.document_id, p.stored.version, p.problem) for p in result.problems]


def test_intact_blobs_verify_and_every_byte_is_read(world: Store) -> None:
    first = world.upload()
    world.version(first.id, PDF + b"more")
    world.upload(PDF * 2)
    seen: list[int] = []
    result = document_integrity.verify_blobs(world.db, world.blobs, on_version=seen.append)
    assert (result.versions, result.problems) == (3, [])
    assert result.bytes_read == sum(seen) == len(PDF) * 4 + 4
    quick = document_integrity.verify_blobs(world.db, world.blobs, contents=False)
    assert (quick.versions, quick.bytes_read, quick.problems) == (3, 0, [])


def test_missing_cut_and_altered_blobs_are_named(world: Store) -> None:
    gone, cut, altered, fine = (world.upload() for _ in range(4))
    world.blobs.delete(gone.current.blob_key)
    world.blobs.path(cut.current.blob_key).write_bytes(PDF[:-1])
    flipped = bytearray(PDF)
    flipped[10] ^= 1
    world.blobs.path(altered.current.blob_key).write_bytes(bytes(flipped))

    found = problems(world)
    assert [(d, v) for d, v, _ in found] == [(gone.id, 1), (cut.id, 1), (altered.id, 1)]
    assert found[0][2] == "is missing"
    assert found[1][2] == f"holds {len(PDF) - 1} bytes, {len(PDF)} were stored"
    assert found[2][2].startswith("has other bytes than were stored")
    # Without reading the bytes, a change that keeps the size goes unseen.
    assert [d for d, _, _ in problems(world, contents=False)] == [gone.id, cut.id]
    assert fine.id not in {d for d, _, _ in found}


def test_versions_are_read_in_batches(world: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(document_integrity, "BATCH", 2)
    docs = [world.upload(PDF + b"%d" % i) for i in range(3)]
    world.version(docs[1].id, PDF)
    world.blobs.delete(docs[2].current.blob_key)
    result = document_integrity.verify_blobs(world.db, world.blobs)
    assert result.versions == 4
    assert [(p.stored.document_id, p.stored.version) for p in result.problems] == [(docs[2].id, 1)]
    assert result.problems[0].stored.case_id == world.case_id


def test_a_document_purged_while_verifying_is_not_reported(world: Store) -> None:
    doc, other = world.upload(), world.upload()

    class PurgingMeanwhile(FilesystemBlobStore):
        """The purge runs between reading the versions and opening this blob."""

        def open(self, key: str, start: int = 0, end: int | None = None) -> Any:
            if key == doc.current.blob_key:
                documents.delete_document(
                    world.db, actor=SYSTEM, case_id=world.case_id, document_id=doc.id,
                    now=NOW, retention=timedelta(seconds=1),
                )  # fmt: skip
                documents.purge_expired(world.db, world.blobs, actor=SYSTEM, now=NOW + DAY)
            return super().open(key, start, end)

    world.blobs.delete(other.current.blob_key)
    result = document_integrity.verify_blobs(world.db, PurgingMeanwhile(world.blobs.root))
    assert result.versions == 2
    assert [p.stored.document_id for p in result.problems] == [other.id]


def test_unused_blobs_are_the_old_ones_no_version_names(world: Store) -> None:
    named = world.upload()
    binned = world.upload()
    documents.delete_document(
        world.db, actor=SYSTEM, case_id=world.case_id, document_id=binned.id, now=NOW,
        retention=timedelta(days=30),
    )  # fmt: skip
    old = world.stray(b"old", age_hours=48)
    young = world.stray(b"young", age_hours=1)
    for key in (named.current.blob_key, binned.current.blob_key):
        then = datetime.now(UTC).timestamp() - 72 * 3600  # as old as the strays, or older
        os.utime(world.blobs.path(key), (then, then))
    before = datetime.now(UTC) - timedelta(hours=24)

    unused = list(document_integrity.unused_blobs(world.db, world.blobs, stored_before=before))
    assert [(b.key, b.size) for b in unused] == [(old, 3)]
    document_integrity.delete_blobs(world.blobs, unused)
    assert world.keys() == {named.current.blob_key, binned.current.blob_key, young}
    assert problems(world) == []


def test_unused_blobs_are_looked_up_in_batches(
    world: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(document_integrity, "BATCH", 2)
    kept = [world.upload(PDF + b"%d" % i).current.blob_key for i in range(3)]
    strays = {world.stray(b"%d" % i) for i in range(3)}
    future = datetime.now(UTC) + timedelta(hours=1)
    unused = document_integrity.unused_blobs(world.db, world.blobs, stored_before=future)
    assert {b.key for b in unused} == strays
    assert world.keys() == strays | set(kept)


def test_the_verify_command(world: Store) -> None:
    doc = world.upload()
    result = world.cli("verify")
    assert (result.exit_code, result.stdout) == (0, "blobs intact: 1 document versions\n")

    world.blobs.delete(doc.current.blob_key)
    result = world.cli("verify", "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout) == {
        "ok": False,
        "versions": 1,
        "bytes_read": 0,
        "problems": [
            {
                "case_id": world.case_id,
                "document_id": doc.id,
                "version": 1,
                "blob_key": doc.current.blob_key,
                "message": "is missing",
            }
        ],
    }
    result = world.cli("verify", "--quick")
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{world.case_id}: document {doc.id} version 1: blob {doc.current.blob_key} is missing",
        "1 of 1 document versions fail verification",
    ]


def test_the_sweep_command_lists_and_then_deletes(world: Store) -> None:
    kept = world.upload().current.blob_key
    old = world.stray(b"old", age_hours=30)
    young = world.stray(b"young", age_hours=2)

    listed = world.cli("sweep")
    assert listed.exit_code == 0, listed.output
    lines = listed.stdout.splitlines()
    assert lines[0].startswith(f"{old}  3 bytes  stored ")
    assert lines[1:] == [
        "1 unused blobs (3 bytes) stored more than 24 hours ago; --delete removes them"
    ]
    assert world.keys() == {kept, old, young}  # listing deletes nothing

    narrower = world.cli("sweep", "--older-than-hours", "1", "--json")
    assert {b["key"] for b in json.loads(narrower.stdout)["blobs"]} == {old, young}

    deleted = world.cli("sweep", "--delete")
    assert (deleted.exit_code, deleted.stdout) == (0, "deleted 1 unused blobs (3 bytes)\n")
    assert world.keys() == {kept, young}
    assert world.cli("sweep").stdout == "0 unused blobs (0 bytes) stored more than 24 hours ago\n"


def test_the_sweep_refuses_to_delete_with_another_database(world: Store, tmp_path: Path) -> None:
    world.upload()
    elsewhere = FilesystemBlobStore(tmp_path / "another-store")
    foreign = [elsewhere.put(io.BytesIO(b"%d" % i)).key for i in range(2)]
    for key in foreign:
        then = datetime.now(UTC).timestamp() - 48 * 3600
        os.utime(elsewhere.path(key), (then, then))

    result = world.cli("sweep", "--delete", store=elsewhere)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: none of the blobs this database's newest")
    assert result.stderr.endswith("nothing deleted\n") and result.stdout == ""
    assert {b.key for b in elsewhere.listing()} == set(foreign)


def test_a_store_that_may_only_be_read_is_verified(world: Store) -> None:
    """A backup restored read-only, or a snapshot: verifying needs no write access."""
    doc = world.upload()

    class ReadOnlyMount(FilesystemBlobStore):
        def check(self) -> None:
            raise PermissionError(30, "Read-only file system", str(self.root))

    result = document_integrity.verify_blobs(world.db, ReadOnlyMount(world.blobs.root))
    assert (result.versions, result.problems, result.bytes_read) == (1, [], doc.current.size)


def test_a_blob_that_cannot_be_read_is_named(world: Store) -> None:
    doc, fine = world.upload(), world.upload()
    path = world.blobs.path(doc.current.blob_key)
    path.unlink()
    path.mkdir()  # something is there, but no file can be read
    assert problems(world) == [(doc.id, 1, "cannot be read: Is a directory")]
    assert world.blobs.size(fine.current.blob_key) == len(PDF)  # the other one untouched


def test_a_store_that_does_not_answer_is_one_line(
    world: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("boto3")
    world.upload()
    app = typer.Typer()
    app.add_typer(documents_cmd.app, name="documents")
    env = {
        "CASEWORK_BLOB_URL": "s3://docs/case-files",
        "CASEWORK_S3_ENDPOINT_URL": "http://127.0.0.1:9",  # nothing listens there
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_MAX_ATTEMPTS": "1",
    }
    for command in ("verify", "sweep"):
        result = CliRunner().invoke(
            app, ["documents", command, "--database-url", world.url], env=env,
            catch_exceptions=False,
        )  # fmt: skip
        assert result.exit_code == 2, result.output
        assert result.stderr.startswith("error: S3BlobStore(s3://docs/case-files/): ")
        assert result.stderr.count("\n") == 1 and result.stdout == ""


def test_listed_blobs_carry_aware_times(world: Store) -> None:
    world.stray()
    (blob,) = world.blobs.listing()
    assert isinstance(blob, ListedBlob) and blob.modified.tzinfo is not None


def test_a_sweep_stopped_by_the_store_says_how_far_it_got(
    world: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.upload()
    strays = {world.stray(b"%d" % i) for i in range(3)}
    real = FilesystemBlobStore.delete
    calls: list[str] = []

    def failing_second(self: FilesystemBlobStore, key: str) -> None:
        calls.append(key)
        if len(calls) == 2:  # the disk turns read-only under the sweep
            raise BlobUnavailable("Read-only file system")
        real(self, key)

    monkeypatch.setattr(FilesystemBlobStore, "delete", failing_second)
    result = world.cli("sweep", "--delete")
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {world.blobs!r}: the blob store cannot be used: Read-only file system "
        "(deleted 1 of 3 unused blobs before it)\n"
    )
    assert len(strays & world.keys()) == 2
