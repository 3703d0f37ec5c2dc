"""Random case histories through the services (both databases), checked against the log.

Hypothesis drives cases through any mix of commands, reassignments, notes, documents,
links between cases, new versions of the case type and the passing of time, sensible or
not. Whatever it does:
- a change that is refused leaves the case exactly as it was (row, plan items, log,
  documents, links);
- documents and links are what the changes kept made them (a model of them), every
  version's bytes come back as uploaded, and the blob store holds exactly the blobs of
  the stored versions (a refused or repeated upload leaves none behind);
- a running case keeps its case type version; a case opened after a deploy, from either
  process, gets the newest;
- a warm copy a process keeps of a case, at the version stored, is the state stored;
- every case's hash chain verifies;
- the case as of each moment it was seen at is the state it had then (from the log);
- projections rebuilt from the log equal the ones the commands wrote.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    MultipleResults,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker
from tests.integration.histories_model import (
    ACTORS,
    BAD_VARIABLES,
    COMMANDS,
    HANDLER,
    HISTORIES,
    HISTORIES_V2,
    LINK_KINDS,
    MANAGER,
    MAX_UPLOAD,
    STRANGER,
    T0,
    UPLOADS,
    VARIABLES,
)
from tests.people import make_user

from casework.blobs import FilesystemBlobStore
from casework.blobs.filesystem import TEMP_PREFIX
from casework.engine import commands as c
from casework.engine.serialize import dump_state
from casework.services import (
    audit,
    case_assignment,
    case_relations,
    case_types,
    case_view,
    cases,
    collaboration,
    documents,
    timeline,
)
from casework.services import warm as warm_cases
from casework.services.actors import SYSTEM, Actor
from casework.services.errors import ServiceError
from casework.services.projection import state_columns
from casework.services.rebuild import case_as_of, rebuild_projections
from casework.store import migrate
from casework.store.db import make_engine, session_factory
from casework.store.document_tables import Document, DocumentVersion
from casework.store.tables import Case, CaseEvent, CaseLink, PlanItemRow
from casework.worker.handlers import HandlerContext, HandlerRegistry
from casework.worker.jobs import RetryPolicy
from casework.worker.runner import Worker


def _stored(session: Session, case_id: str) -> tuple[Any, ...]:
    """Everything stored for a case: its row, plan item rows, log, documents and links
    (sorted tuples)."""
    row = session.get(Case, case_id)
    assert row is not None
    columns = tuple(
        sorted(v.items()) if isinstance(v, dict) else v
        for v in (getattr(row, col.key) for col in Case.__table__.columns)
    )
    items = sorted(
        tuple(getattr(r, col.key) for col in PlanItemRow.__table__.columns)
        for r in session.scalars(select(PlanItemRow).where(PlanItemRow.case_id == case_id))
    )
    log = [
        (e.seq, e.type, e.hash)
        for e in session.scalars(
            select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.seq)
        )
    ]
    docs = sorted(
        (d.id, d.name, d.current_version, d.deleted_at, d.retain_until, v.version, v.blob_key)
        for d, v in session.execute(
            select(Document, DocumentVersion)
            .join(DocumentVersion, DocumentVersion.document_id == Document.id)
            .where(Document.case_id == case_id)
        )
    )
    links = sorted(
        tuple(r)
        for r in session.execute(
            select(CaseLink.case_id, CaseLink.other_id, CaseLink.kind).where(
                or_(CaseLink.case_id == case_id, CaseLink.other_id == case_id)
            )
        )
    )
    return columns, tuple(items), tuple(log), tuple(docs), tuple(links)


def _pay(context: HandlerContext) -> dict[str, Any]:
    """The automated task's handler: a bank that refuses some amounts."""
    if int(context.case_file.get("amount", 0)) % 3 == 0:
        raise RuntimeError("the bank said no")
    return {"paid": True}


@dataclass
class DocumentModel:
    """What a document should be: its case, name, the bytes of each version, the bin."""

    case_id: str
    name: str
    versions: list[bytes] = field(default_factory=list)
    binned: bool = False
    retain_until: datetime | None = None


INVERSE_LINKS = {"parent": "child", "child": "parent", "related": "related"}

HANDLERS = HandlerRegistry(builtins=False)
HANDLERS.register("histories.pay", _pay)


class CaseHistories(RuleBasedStateMachine):
    """One database, shared by every run; each run works on cases of its own, with two
    processes (two engines: two warm caches) and a worker."""

    db: sessionmaker[Session]
    other: sessionmaker[Session]  # a second process on the same database
    store: FilesystemBlobStore  # the documents' bytes
    latest = T0  # where the last run's clock stopped: each run starts after it

    def __init__(self) -> None:
        super().__init__()
        # After every earlier run's changes: the worker may run their jobs too.
        self.now = CaseHistories.latest + timedelta(days=1)
        self.worker = Worker(
            self.db,
            name="histories",
            clock=lambda: self.now,
            handlers=HANDLERS,
            retry=RetryPolicy(base=timedelta(minutes=5), jitter=0.0),
        )
        self.cases: list[str] = []
        # (case id, moment, stored state, case columns) after each change that was kept.
        self.seen: list[tuple[str, datetime, dict[str, Any], tuple[Any, ...]]] = []
        # (case id, actor, command, idempotency key, answer) of keyed commands kept.
        self.keyed: list[tuple[str, Actor, Any, str, Any]] = []
        self.documents: dict[int, DocumentModel] = {}
        # Each run starts on the first source (odd versions: see `deploy`), so that what
        # it draws from its cases' plans does not depend on the runs before it.
        with self.db() as session:
            if case_types.latest_version(session, "histories") % 2 == 0:
                case_types.deploy(self.db, actor=SYSTEM, source=HISTORIES, now=self.now)
        self.links: set[tuple[str, str, str]] = set()  # (case, other case, kind)

    opened = Bundle("opened")

    def _tick(self, minutes: int = 1) -> datetime:
        # Every change at a moment of its own: the case as of a moment is then unique.
        self.now += timedelta(minutes=minutes)
        return self.now

    def _saw(self, case_id: str) -> None:
        with self.db() as session:
            row = session.get(Case, case_id)
            assert row is not None
            columns = (row.status, row.stage, row.priority, row.risk, row.owner, row.team)
            self.seen.append((case_id, self.now, dict(row.state), (*columns, dict(row.data))))

    def _change(self, case_id: str, change: Any, *more: str) -> bool:
        """Run a change of a case (and of `more` cases); refused, it must leave them as
        they were. Whether it was kept."""
        touched = [case_id, *more]
        with self.db() as session:
            before = [_stored(session, one) for one in touched]
        try:
            change()
        except ServiceError:
            with self.db() as session:
                assert [_stored(session, one) for one in touched] == before
            return False
        for one in touched:
            self._saw(one)
        return True

    @initialize(target=opened, amount=st.integers(0, 5000), priority=st.integers(1, 5))
    def open_first(self, amount: int, priority: int) -> str:
        """A case with a document from the start: for the bin to have something to take."""
        case_id = self.open(amount, priority)
        content = b"the claim form, as it came in\n"
        record = documents.add_document(
            self.db,
            self.store,
            actor=HANDLER,
            case_id=case_id,
            upload=documents.FileUpload(io.BytesIO(content), file_name="claim.txt"),
            now=self._tick(),
            max_bytes=MAX_UPLOAD,
        )
        self.documents[record.id] = DocumentModel(case_id, "claim.txt", [content])
        self._saw(case_id)
        return case_id

    @initialize(target=opened, amount=st.integers(0, 5000), priority=st.integers(1, 5))
    def open_second(self, amount: int, priority: int) -> str:
        """Two cases from the start: links need two, and commands interleave on them."""
        return self.open(amount, priority, elsewhere=True)

    @precondition(lambda self: len(self.cases) < 3)
    @rule(
        target=opened,
        amount=st.integers(0, 5000),
        priority=st.integers(1, 5),
        elsewhere=st.booleans(),
    )
    def open(self, amount: int, priority: int, elsewhere: bool = False) -> str:
        ref = cases.open_case(
            self.other if elsewhere else self.db,
            actor=HANDLER,
            type_id="histories",
            data={"amount": amount},
            priority=priority,
            now=self._tick(),
        )
        with self.db() as session:  # whichever process opens it: the newest version
            row = session.get(Case, ref.case_id)
            assert row is not None
            assert row.type_version == case_types.latest_version(session, "histories")
        self.cases.append(ref.case_id)
        self._saw(ref.case_id)
        return ref.case_id

    @rule(
        case_id=opened,
        actor=ACTORS,
        command=COMMANDS,
        key=st.sampled_from([None, "k"]),
        elsewhere=st.booleans(),
    )
    def command(
        self, case_id: str, actor: Actor, command: Any, key: str | None, elsewhere: bool = False
    ) -> None:
        at = self._tick()
        db = self.other if elsewhere else self.db
        # Keys of their own per command: a repeat (below) is the same request.
        key = None if key is None else f"{case_id}-{at.isoformat()}"

        def run() -> None:
            ref = cases.run_command(
                db, actor=actor, case_id=case_id, command=command, now=at, idempotency_key=key
            )
            if key is not None:
                self.keyed.append((case_id, actor, command, key, ref))

        self._change(case_id, run)

    @precondition(lambda self: self.keyed)
    @rule(data=st.data())
    def repeat(self, data: st.DataObject) -> None:
        """A command sent again with its idempotency key (a client that lost the answer):
        the first answer again, and nothing written, however the case moved on since."""
        case_id, actor, command, key, ref = data.draw(st.sampled_from(self.keyed))
        with self.db() as session:
            before = _stored(session, case_id)
        again = cases.run_command(
            self.db,
            actor=actor,
            case_id=case_id,
            command=command,
            now=self._tick(),
            idempotency_key=key,
        )
        assert again == ref
        with self.db() as session:
            assert _stored(session, case_id) == before

    @rule(case_id=opened, data=st.data(), steps=st.integers(1, 6))
    def progress(self, case_id: str, data: st.DataObject, steps: int) -> None:
        """Work a case the way its plan offers, a few steps at once: complete an active
        item, start or disable an enabled one (random commands rarely get far)."""
        for _ in range(steps):
            with self.db() as session:
                open_items = [
                    (r.instance_id, r.state)
                    for r in session.scalars(
                        select(PlanItemRow)
                        .where(PlanItemRow.case_id == case_id)
                        .where(PlanItemRow.state.in_(["active", "enabled"]))
                        .where(PlanItemRow.kind != "stage")
                        .order_by(PlanItemRow.instance_id)
                    )
                ]
            command: Any
            if not open_items or data.draw(st.integers(0, 9)) == 0:
                # The case manager ends the case (or, when it ended, closes or reopens it).
                command = data.draw(
                    st.sampled_from(
                        [c.CompleteStage("casePlanModel"), c.CloseCase(), c.ReopenCase()]
                    )
                )
                self.command(case_id, SYSTEM, command, None)
                continue
            instance_id, state = data.draw(st.sampled_from(open_items))
            if state == "active":
                command = c.CompletePlanItem(instance_id, data.draw(VARIABLES))
            elif data.draw(st.booleans()):
                command = c.ManualStart(instance_id)
            else:
                command = c.DisablePlanItem(instance_id)
            self.command(case_id, SYSTEM, command, None)

    @rule(case_id=opened, variables=BAD_VARIABLES, complete=st.booleans())
    def bad_input(self, case_id: str, variables: dict[str, Any], complete: bool) -> None:
        command: Any = (
            c.CompletePlanItem("screen", variables) if complete else c.SetVariables(variables)
        )
        with self.db() as session:
            before = _stored(session, case_id)
        with pytest.raises(ServiceError):
            cases.run_command(
                self.db, actor=SYSTEM, case_id=case_id, command=command, now=self._tick()
            )
        with self.db() as session:
            assert _stored(session, case_id) == before

    @rule(
        case_id=opened,
        owner=st.sampled_from([None, "olga", "olga", "nobody"]),
        team=st.sampled_from([None, "north", "north", "nowhere"]),
        priority=st.sampled_from([1, 2, 3, 4, 5, 1, 2, 3, 4, 5, 0, 6]),
    )
    def reassign(self, case_id: str, owner: str | None, team: str | None, priority: int) -> None:
        at = self._tick()
        self._change(
            case_id,
            lambda: case_assignment.reassign_case(
                self.db,
                actor=SYSTEM,
                case_id=case_id,
                now=at,
                owner=owner,
                team=team,
                priority=priority,
            ),
        )

    @rule(case_id=opened, body=st.sampled_from(["called back", "@olga please look", "  "]))
    def note(self, case_id: str, body: str) -> None:
        at = self._tick()
        self._change(
            case_id,
            lambda: collaboration.add_note(
                self.db, actor=HANDLER, case_id=case_id, body=body, now=at
            ),
        )

    # --- a new version of the case type ----------------------------------------------

    @rule(
        target=opened,
        then_open=st.booleans(),
        amount=st.integers(0, 5000),
        elsewhere=st.booleans(),
    )
    def deploy(self, then_open: bool, amount: int, elsewhere: bool) -> MultipleResults[str]:
        """A new version of the type, deployed while cases run: they keep theirs, and a
        case opened next (from either process) gets it."""
        with self.db() as session:
            before = {case_id: _stored(session, case_id) for case_id in self.cases}
            latest = case_types.latest_version(session, "histories")
        # Odd versions are HISTORIES (the first is), even ones HISTORIES_V2.
        source = HISTORIES_V2 if latest % 2 else HISTORIES
        deployed = case_types.deploy(self.db, actor=SYSTEM, source=source, now=self._tick())
        assert [(d.type_id, d.version) for d in deployed] == [("histories", latest + 1)]
        with self.db() as session:
            assert {case_id: _stored(session, case_id) for case_id in self.cases} == before
        if not then_open or len(self.cases) >= 4:
            return multiple()
        return multiple(self.open(amount, 3, elsewhere))

    # --- documents ---------------------------------------------------------------------

    @rule(
        case_id=opened,
        actor=st.sampled_from([SYSTEM, HANDLER, HANDLER, STRANGER]),
        upload=UPLOADS,
        data=st.data(),
        keyed=st.booleans(),
    )
    def upload(
        self,
        case_id: str,
        actor: Actor,
        upload: tuple[bytes, str, bool],
        data: st.DataObject,
        keyed: bool,
    ) -> None:
        """A new document, or a new version of any document (of this case or not)."""
        content, file_name, acceptable = upload
        document_id = data.draw(st.sampled_from([None, None, *self.documents]))
        doc = None if document_id is None else self.documents[document_id]
        expected = (
            acceptable
            and len(content) <= MAX_UPLOAD
            and actor is not STRANGER
            and (doc is None or (doc.case_id == case_id and not doc.binned))
        )
        at = self._tick()
        key = f"upload-{at.isoformat()}" if keyed else None

        def send(body: bytes = content) -> documents.DocumentRecord:
            source = documents.FileUpload(io.BytesIO(body), file_name=file_name)
            common = {"actor": actor, "case_id": case_id, "upload": source, "now": at}
            if document_id is None:
                return documents.add_document(
                    self.db, self.store, **common, max_bytes=MAX_UPLOAD, idempotency_key=key
                )
            return documents.add_version(
                self.db,
                self.store,
                **common,
                document_id=document_id,
                max_bytes=MAX_UPLOAD,
                idempotency_key=key,
            )

        answers: list[documents.DocumentRecord] = []
        kept = self._change(case_id, lambda: answers.append(send()))
        assert kept == expected, (actor, file_name, document_id)
        if kept:
            record = answers[0]
            if doc is None:
                assert record.name == file_name
                self.documents[record.id] = doc = DocumentModel(case_id, record.name)
            else:
                assert record.id == document_id
            doc.versions.append(content)
            assert record.current_version == len(doc.versions)
            if key is not None:
                # Sent again (the answer was lost): the same document, nothing added; the
                # same key for other bytes is refused.
                with self.db() as session:
                    stored = _stored(session, case_id)
                assert send().id == record.id
                with pytest.raises(ServiceError):
                    send(content + b"\n")
                with self.db() as session:
                    assert _stored(session, case_id) == stored
        self._check_documents(case_id)

    @precondition(lambda self: self.documents)
    @rule(
        actor=st.sampled_from([SYSTEM, SYSTEM, SYSTEM, HANDLER, MANAGER, STRANGER]),
        data=st.data(),
        restore=st.booleans(),
        hours=st.integers(1, 48),
        wrong_case=st.integers(0, 5),
    )
    def bin(
        self, actor: Actor, data: st.DataObject, restore: bool, hours: int, wrong_case: int
    ) -> None:
        """A document to the bin or back (named under its case, or now and then under
        another one): admins, owners and case managers only."""
        document_id = data.draw(st.sampled_from(sorted(self.documents)))
        doc = self.documents[document_id]
        case_id = doc.case_id
        if wrong_case == 0:
            case_id = next(one for one in self.cases if one != doc.case_id)
        at = self._tick()
        if restore:
            kept = self._change(
                case_id,
                lambda: documents.restore_document(
                    self.db, actor=actor, case_id=case_id, document_id=document_id, now=at
                ),
            )
        else:
            kept = self._change(
                case_id,
                lambda: documents.delete_document(
                    self.db,
                    actor=actor,
                    case_id=case_id,
                    document_id=document_id,
                    now=at,
                    retention=timedelta(hours=hours),
                ),
            )
        # Nobody here owns a case or manages cases: only the administrator may.
        assert kept == (actor is SYSTEM and doc.case_id == case_id)
        if kept and restore:
            doc.binned, doc.retain_until = False, None
        elif kept and not doc.binned:
            doc.binned, doc.retain_until = True, at + timedelta(hours=hours)
        self._check_documents(doc.case_id)

    @rule(hours=st.integers(0, 48))
    def the_bin_is_emptied(self, hours: int) -> None:
        """Some hours later, documents whose time in the bin is over go for good, bytes
        included."""
        at = self._tick(60 * hours + 1)
        due = {i for i, d in self.documents.items() if d.binned and d.retain_until is not None}
        due = {i for i in due if (until := self.documents[i].retain_until) and until <= at}
        # Earlier runs' binned documents may go too: at least this run's are purged.
        assert documents.purge_expired(self.db, self.store, actor=SYSTEM, now=at) >= len(due)
        for document_id in due:
            case_id = self.documents.pop(document_id).case_id
            self._saw(case_id)
        for case_id in self.cases:
            self._check_documents(case_id)

    def _check_documents(self, case_id: str) -> None:
        """The case's documents and bin are the model's; each version's bytes are back."""
        mine = sorted((i, d) for i, d in self.documents.items() if d.case_id == case_id)
        with self.db() as session:
            shown = documents.list_documents(session, actor=SYSTEM, case_id=case_id)
            binned = documents.list_documents(session, actor=SYSTEM, case_id=case_id, binned=True)
            assert [(r.id, r.name, r.current_version) for r in shown] == [
                (i, d.name, len(d.versions)) for i, d in mine if not d.binned
            ]
            assert [(r.id, r.retain_until) for r in binned] == [
                (i, d.retain_until) for i, d in mine if d.binned
            ]
            for document_id, doc in mine:
                _record, versions = documents.get_document(
                    session, actor=SYSTEM, case_id=case_id, document_id=document_id
                )
                assert [v.sha256 for v in versions] == [
                    hashlib.sha256(b).hexdigest() for b in doc.versions
                ]
                for version, content in zip(versions, doc.versions, strict=True):
                    with documents.open_version(self.store, version) as reader:
                        assert reader.read() == content

    # --- links between cases -----------------------------------------------------------

    @rule(
        case_id=opened,
        data=st.data(),
        kind=LINK_KINDS,
        actor=st.sampled_from([SYSTEM, SYSTEM, HANDLER, STRANGER]),
        unlink=st.booleans(),
    )
    def link(
        self, case_id: str, data: st.DataObject, kind: str, actor: Actor, unlink: bool
    ) -> None:
        """Link two cases (or a case to itself, which is refused), or unlink them."""
        others = [one for one in self.cases if one != case_id]
        other_id = data.draw(st.sampled_from([*others, *others, case_id]))
        at = self._tick()
        inverse = INVERSE_LINKS.get(kind)
        pair = {(case_id, other_id, kind)}
        if inverse is not None:
            pair.add((other_id, case_id, inverse))
        involved = [other_id] if other_id != case_id else []
        if unlink:
            kept = self._change(
                case_id,
                lambda: case_relations.unlink(
                    self.db, actor=actor, case_id=case_id, other_id=other_id, kind=kind, now=at
                ),
                *involved,
            )
            assert kept == (actor is not STRANGER and bool(pair & self.links))
            self.links -= pair if kept else set()
        else:
            kept = self._change(
                case_id,
                lambda: case_relations.link(
                    self.db, actor=actor, case_id=case_id, other_id=other_id, kind=kind, now=at
                ),
                *involved,
            )
            valid = kind in {"parent", "child", "related", "duplicate-of"}
            assert kept == (actor is not STRANGER and valid and case_id != other_id)
            self.links |= pair if kept else set()
        with self.db() as session:
            for one in self.cases:
                shown = case_relations.links_of(session, actor=SYSTEM, case_id=one)
                assert sorted((r.other_id, r.kind) for r in shown) == sorted(
                    (b, k) for a, b, k in self.links if a == one
                )

    @rule(hours=st.integers(1, 30))
    def time_passes(self, hours: int) -> None:
        self._tick(60 * hours)

    @rule()
    def the_worker_runs(self) -> None:
        """Due timers fire, automated tasks run (some fail, are retried, then failed)."""
        self._tick()
        while self.worker.run_once():
            pass
        for case_id in self.cases:
            self._saw(case_id)

    @invariant()
    def a_warm_copy_at_the_stored_version_is_the_stored_state(self) -> None:
        # A copy the case has moved on from (a note, a reassignment, another process)
        # is allowed: a command's conditional UPDATE on version and hash refuses it.
        binds = [db.kw["bind"] for db in (self.db, self.other)]
        with self.db() as session:
            for case_id, bind in itertools.product(self.cases, binds):
                warm = warm_cases.get(bind, case_id)
                row = session.get(Case, case_id)
                assert row is not None
                if warm is None or (warm.version, warm.last_hash) != (row.version, row.last_hash):
                    continue
                assert (warm.status, warm.priority, warm.last_seq) == (
                    row.status,
                    row.priority,
                    row.last_seq,
                )
                assert dump_state(warm.state) == row.state
                if warm.columns is not None:
                    engine = case_types.engine_for(session, row.type_id, row.type_version)
                    assert warm.columns == state_columns(engine, warm.state)

    def teardown(self) -> None:
        CaseHistories.latest = max(CaseHistories.latest, self.now)
        if not self.cases:
            return
        with self.db() as session:
            for case_id in self.cases:
                assert audit.verify_case(session, case_id) is None
        for case_id, at, state, columns in self.seen:
            then, _engine = case_as_of(self.db, case_id, at)
            assert dump_state(then) == state, (case_id, at)
            view = case_view.case_as_of_view(self.db, actor=SYSTEM, case_id=case_id, at=at)
            seen_then = (view.status, view.stage, view.priority, view.risk, view.owner)
            assert (*seen_then, view.team, view.data) == columns, (case_id, at)
        with self.db() as session:
            for case_id in self.cases:  # what a case worker opens renders
                case_view.case_view(session, actor=SYSTEM, case_id=case_id)
                timeline.timeline(session, actor=SYSTEM, case_id=case_id, limit=200)
        with self.db() as session:
            written = {case_id: _stored(session, case_id) for case_id in self.cases}
        rebuild_projections(self.db)
        with self.db() as session:
            assert {case_id: _stored(session, case_id) for case_id in self.cases} == written
        # Every stored version's bytes and nothing else (no half-written upload, no blob
        # of a refused, repeated or purged one): over every run so far.
        on_disk = {path.name for path in self.store.root.glob("*/*/*")}
        assert not {name for name in on_disk if name.startswith(TEMP_PREFIX)}
        with self.db() as session:
            assert on_disk == set(session.scalars(select(DocumentVersion.blob_key)))


@pytest.fixture
def db(db_url: str) -> Iterator[tuple[sessionmaker[Session], sessionmaker[Session]]]:
    """Two processes' engines on one database (the first version of the type deployed)."""
    migrate.upgrade(db_url)
    engine, other = make_engine(db_url), make_engine(db_url)
    db = session_factory(engine)
    case_types.deploy(db, actor=SYSTEM, source=HISTORIES, now=T0)
    make_user(db, "olga", password=None, teams=("north",))
    make_user(db, "hana", password=None)
    yield db, session_factory(other)
    engine.dispose()
    other.dispose()


def test_random_case_histories_keep_the_log_and_projections_true(
    db: tuple[sessionmaker[Session], sessionmaker[Session]], tmp_path: Path
) -> None:
    CaseHistories.db, CaseHistories.other = db
    CaseHistories.store = FilesystemBlobStore(tmp_path / "blobs")
    CaseHistories.store.prepare()
    CaseHistories.latest = T0
    run_state_machine_as_test(
        CaseHistories,
        settings=settings(
            # More for a soak run: CASEWORK_HISTORIES=500 pytest ...
            max_examples=int(os.environ.get("CASEWORK_HISTORIES", "30")),
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
