"""Random changes run at the same moment on shared cases (both databases, real threads,
two processes' engines): commands, notes, reassignments, links, progress through the
plan and workers firing timers and running an automated task, some sent twice at once
with the same idempotency key.

Whatever runs together:
- nothing fails but with a service's own error (a refusal, a conflict, a bad request);
- a request sent twice with its key gets one answer, twice;
- a note sent twice with its key is one note, and every note kept is on the log;
- after each round, every case's hash chain verifies, its events are numbered without
  a gap, and a warm copy at the stored version is the stored state;
- no timer job ends failed, and no job is left running between rounds;
- at the end, projections rebuilt from the log equal the ones written.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any
from uuid import uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from tests.integration.histories_model import ACTORS, COMMANDS, HANDLER, HISTORIES, T0
from tests.integration.test_case_histories import HANDLERS, _stored
from tests.integration.threads import at_once

from casework.engine import commands as c
from casework.engine.serialize import dump_state
from casework.services import audit, case_assignment, case_relations, case_types, cases
from casework.services import warm as warm_cases
from casework.services.actors import SYSTEM
from casework.services.case_commands import CaseRef
from casework.services.case_relations import LinkRecord
from casework.services.collaboration import add_note
from casework.services.errors import ServiceError
from casework.services.rebuild import rebuild_projections
from casework.store import migrate
from casework.store.db import make_engine, session_factory
from casework.store.tables import Case, CaseEvent, Job, PlanItemRow
from casework.worker.runner import Worker

CASE = st.integers(0, 1)  # which of the two shared cases
# One change: what, on which case, from which process, and whether it is sent twice.
CHANGE = st.tuples(
    st.one_of(
        st.tuples(st.just("command"), CASE, ACTORS, COMMANDS),
        st.tuples(st.just("progress"), CASE),
        st.tuples(st.just("note"), CASE, st.sampled_from(["called", "wrote back"])),
        st.tuples(st.just("reassign"), CASE, st.integers(1, 5)),
        st.tuples(st.just("link"), st.sampled_from(["related", "parent"]), st.booleans()),
        st.tuples(st.just("worker")),
    ),
    st.booleans(),  # from the second process
    st.sampled_from([None, "once", "twice"]),  # no key, a key, a key and a copy at once
)
# Each round: its changes, and whether a day passed before it (timers come due).
ROUNDS = st.lists(
    st.tuples(st.lists(CHANGE, min_size=2, max_size=4), st.booleans()), min_size=1, max_size=5
)


class Shared:
    """Two cases, two processes, and the notes the changes kept."""

    def __init__(self, dbs: tuple[sessionmaker[Session], sessionmaker[Session]]) -> None:
        self.dbs = dbs
        self.now = T0
        self.cases = [
            cases.open_case(
                dbs[n], actor=HANDLER, type_id="histories", data={"amount": 1500}, now=T0
            ).case_id
            for n in (0, 1)
        ]
        # The notes the changes kept (a note sent twice with its key is one note).
        self.notes: dict[str, set[int]] = {case_id: set() for case_id in self.cases}

    def request(self, change: Any, elsewhere: bool, key: str | None) -> Callable[[], Any]:
        db = self.dbs[1 if elsewhere else 0]
        kind, *args = change
        now = self.now
        if kind == "command":
            which, actor, command = args
            return lambda: cases.run_command(
                db,
                actor=actor,
                case_id=self.cases[which],
                command=command,
                now=now,
                idempotency_key=key,
            )
        if kind == "worker":
            # A worker of that process: due timers, the automated payment (which the
            # bank sometimes refuses: retried later), whatever earlier runs left too.
            worker = Worker(db, name=f"w-{uuid4().hex[:6]}", clock=lambda: now, handlers=HANDLERS)
            return lambda: worker.run_once()
        if kind == "progress":
            return lambda: self._progress(db, self.cases[args[0]], key)
        if kind == "note":
            which, body = args
            return lambda: add_note(
                db,
                actor=HANDLER,
                case_id=self.cases[which],
                body=body,
                now=now,
                idempotency_key=key,
            )
        if kind == "reassign":
            which, priority = args
            return lambda: case_assignment.reassign_case(
                db,
                actor=SYSTEM,
                case_id=self.cases[which],
                now=now,
                priority=priority,
                idempotency_key=key,
            )
        link_kind, unlink = args
        act = case_relations.unlink if unlink else case_relations.link
        one, other = self.cases
        return lambda: act(
            db,
            actor=SYSTEM,
            case_id=one,
            other_id=other,
            kind=link_kind,
            now=now,
            idempotency_key=key,
        )

    def _progress(self, db: sessionmaker[Session], case_id: str, key: str | None) -> CaseRef:
        """Complete the first active task, as a case worker with the plan in front of
        them would: what they saw may be gone by the time they click."""
        with db() as session:
            active = session.scalars(
                select(PlanItemRow.instance_id)
                .where(PlanItemRow.case_id == case_id, PlanItemRow.state == "active")
                .where(PlanItemRow.kind != "stage")
                .order_by(PlanItemRow.instance_id)
            ).first()
        command = c.CompletePlanItem(active) if active else c.CompleteStage("casePlanModel")
        return cases.run_command(
            db, actor=SYSTEM, case_id=case_id, command=command, now=self.now, idempotency_key=key
        )

    def run(self, round_: list[Any], a_day_later: bool) -> None:
        self.now += timedelta(hours=25) if a_day_later else timedelta(minutes=5)
        requests, changes, copies = [], [], []
        for change, elsewhere, keyed in round_:
            key = None if keyed is None else f"k-{uuid4().hex}"
            requests.append(self.request(change, elsewhere, key))
            changes.append(change)
            if keyed == "twice" and change[0] != "worker":
                # The copy from the other process: a client retrying through another server.
                copies.append((len(requests) - 1, len(requests)))
                requests.append(self.request(change, not elsewhere, key))
                changes.append(change)
        answers = at_once(requests)
        for answer in answers:
            if isinstance(answer, BaseException) and not isinstance(answer, ServiceError):
                raise answer
        for first, second in copies:
            one, two = answers[first], answers[second]
            if isinstance(one, BaseException) or isinstance(two, BaseException):
                # A refusal is not remembered: the copy may run after it and be refused
                # too, or apply where the first could not (the plan moved on meanwhile).
                continue
            if isinstance(one, LinkRecord) and isinstance(two, LinkRecord):
                # The link as it is now: the other case's title and status may have
                # moved between the two copies' reads.
                one, two = (one.other_id, one.kind), (two.other_id, two.kind)
            assert one == two, (one, two)
        for change, answer in zip(changes, answers, strict=True):
            if change[0] == "note" and isinstance(answer, int):
                self.notes[self.cases[change[1]]].add(answer)
        self.check()

    def check(self) -> None:
        binds = [db.kw["bind"] for db in self.dbs]
        with self.dbs[0]() as session:
            for case_id in self.cases:
                assert audit.verify_case(session, case_id) is None
                seqs = list(
                    session.scalars(
                        select(CaseEvent.seq)
                        .where(CaseEvent.case_id == case_id)
                        .order_by(CaseEvent.seq)
                    )
                )
                assert seqs == list(range(1, len(seqs) + 1))
                added = select(CaseEvent.payload).where(
                    CaseEvent.case_id == case_id, CaseEvent.type == "NoteAdded"
                )
                notes = [payload["note_id"] for payload in session.scalars(added)]
                assert sorted(notes) == sorted(self.notes[case_id])
                # A timer the case moved on from is done with nothing to do, never failed;
                # between rounds no worker holds a job.
                jobs = session.execute(
                    select(Job.kind, Job.status).where(Job.case_id == case_id)
                ).all()
                assert ("timer", "failed") not in jobs, jobs
                assert all(status != "running" for _kind, status in jobs), jobs
                row = session.get(Case, case_id)
                assert row is not None
                for bind in binds:
                    warm = warm_cases.get(bind, case_id)
                    if warm is not None and (warm.version, warm.last_hash) == (
                        row.version,
                        row.last_hash,
                    ):
                        assert dump_state(warm.state) == row.state


@pytest.fixture
def dbs(db_url: str) -> Iterator[tuple[sessionmaker[Session], sessionmaker[Session]]]:
    migrate.upgrade(db_url)
    engines = [make_engine(db_url), make_engine(db_url)]
    first = session_factory(engines[0])
    case_types.deploy(first, actor=SYSTEM, source=HISTORIES, now=T0)
    yield first, session_factory(engines[1])
    for engine in engines:
        engine.dispose()


def test_changes_at_the_same_moment_lose_nothing(
    dbs: tuple[sessionmaker[Session], sessionmaker[Session]],
) -> None:
    @settings(
        max_examples=int(os.environ.get("CASEWORK_HISTORIES", "15")),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(rounds=ROUNDS)
    def histories(rounds: list[list[Any]]) -> None:
        shared = Shared(dbs)
        for round_, a_day_later in rounds:
            shared.run(round_, a_day_later)
        with dbs[0]() as session:
            written = {case_id: _stored(session, case_id) for case_id in shared.cases}
        rebuild_projections(dbs[0])
        with dbs[0]() as session:
            assert {case_id: _stored(session, case_id) for case_id in shared.cases} == written

    histories()
