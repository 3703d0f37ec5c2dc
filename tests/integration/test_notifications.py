"""Notifications on SQLite and PostgreSQL: a task given to someone by someone else, a
mention in a note, a deadline passed on someone's work; listed newest first on the
cases the person still sees, marked read by them alone."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker
from tests.clock import Clock
from tests.integration.cli_support import cli, ok, one_line_error
from tests.people import make_user

from casework.engine import commands as c
from casework.services import (
    case_actions,
    case_assignment,
    case_relations,
    case_types,
    cases,
    identity,
    membership,
    notifications,
    participants,
    retention,
    tasks,
)
from casework.services.actors import SYSTEM, Actor
from casework.services.errors import InvalidInput
from casework.store.db import session_factory
from casework.store.notification_tables import Notification
from casework.worker import Worker

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ANN = Actor("ann", roles=frozenset({"handler"}))
BOB = Actor("bob", roles=frozenset({"handler"}))
MIA = Actor("mia", roles=frozenset({"manager"}))

SLA = """
id: sla
name: SLA
roles: [handler, manager]
plan:
  items:
    - task: Assess
      role: handler
      due: PT1H
    - task: Decide
      role: handler
      due: PT2H
"""


@pytest.fixture
def db(engine: Engine) -> Iterator[sessionmaker[Session]]:
    db = session_factory(engine)
    case_types.deploy(db, actor=SYSTEM, source=SLA, now=NOW)
    for person in (ANN, BOB, MIA):
        make_user(db, person.id, password=None, roles=tuple(person.roles))
    yield db


def _open(db: sessionmaker[Session], **kwargs: object) -> str:
    return cases.open_case(db, actor=SYSTEM, type_id="sla", now=NOW, **kwargs).case_id  # type: ignore[arg-type]


def _mine(
    db: sessionmaker[Session], actor: Actor, **kwargs: object
) -> list[tuple[str, str | None, str | None]]:
    with db() as session:
        page = notifications.notifications_for(session, actor=actor, **kwargs)  # type: ignore[arg-type]
    return [(n.kind, n.task, n.actor) for n in page.items]


def test_a_task_given_by_someone_else_notifies_who_has_it_now(
    db: sessionmaker[Session],
) -> None:
    case_id = _open(db, owner="mia")  # the case's manager: she may give its tasks
    # Claiming is one's own doing: nobody is told.
    tasks.act(db, actor=ANN, case_id=case_id, instance_id="pi-2", action="claim", now=NOW)
    assert _mine(db, ANN) == []
    # Handed on to bob: he is told, by whom and which task.
    tasks.delegate(
        db, actor=ANN, case_id=case_id, instance_id="pi-2", assignee="bob", note=None, now=NOW
    )
    assert _mine(db, BOB) == [("assigned", "Assess", "ann")]
    tasks.assign(db, actor=MIA, case_id=case_id, instance_id="pi-3", assignee="Ann", now=NOW)
    assert _mine(db, ANN) == [("assigned", "Decide", "mia")]
    # Given back to the queue: nobody is told.
    tasks.act(db, actor=MIA, case_id=case_id, instance_id="pi-3", action="unclaim", now=NOW)
    assert len(_mine(db, ANN)) == 1 and len(_mine(db, MIA)) == 0


def test_a_note_notifies_the_accounts_it_mentions_but_its_author(
    db: sessionmaker[Session],
) -> None:
    case_id = _open(db)
    body = "@bob and @Mia: see the estimate. @ann wrote this; @nobody is just text. " + "x" * 400
    case_relations.add_note(db, actor=ANN, case_id=case_id, body=body, now=NOW)
    assert _mine(db, BOB) == _mine(db, MIA) == [("mentioned", None, "ann")]
    assert _mine(db, ANN) == []
    with db() as session:
        [note] = notifications.notifications_for(session, actor=BOB).items
        assert session.scalars(select(Notification.recipient).order_by(Notification.id)).all() == [
            "bob",
            "mia",
        ]
    assert note.excerpt == body[:300] and note.case_id == case_id and note.case_title
    # A mention refused (someone who may not see the case) leaves nothing behind.
    secret = _open(db, confidential=True, owner="ann")
    with pytest.raises(InvalidInput):
        case_relations.add_note(db, actor=ANN, case_id=secret, body="@bob look", now=NOW)
    assert len(_mine(db, BOB)) == 1


def test_a_deadline_passed_notifies_the_assignee_or_else_the_owner(
    db: sessionmaker[Session],
) -> None:
    owned = _open(db, owner="mia")
    nobody_s = _open(db)
    for case_id in (owned, nobody_s):
        tasks.act(db, actor=ANN, case_id=case_id, instance_id="pi-2", action="claim", now=NOW)
    # Assess (1 h) is ann's on both; Decide (2 h) nobody's: the owner's on the first.
    Worker(db, name="w1", clock=Clock(NOW + timedelta(hours=3))).run_once()
    assert sorted(_mine(db, ANN)) == [
        ("deadline_passed", "Assess", "worker:w1"),
        ("deadline_passed", "Assess", "worker:w1"),
    ]
    assert _mine(db, MIA) == [("deadline_passed", "Decide", "worker:w1")]


def test_a_cases_end_and_reopening_notify_its_requesters_and_owner(
    db: sessionmaker[Session],
) -> None:
    identity.create_user(db, actor=SYSTEM, username="rae", name="Rae", now=NOW)
    identity.create_user(db, actor=SYSTEM, username="gone", name="Gone", now=NOW)
    case_id = _open(db, owner="mia")
    for person in ("rae", "gone"):
        participants.add_participant(
            db, actor=SYSTEM, case_id=case_id, username=person, role="requester", now=NOW
        )
    identity.update_user(db, actor=SYSTEM, username="gone", active=False)
    rae = Actor("rae")
    for task in ("pi-2", "pi-3"):
        tasks.act(db, actor=ANN, case_id=case_id, instance_id=task, action="claim", now=NOW)
        cases.run_command(db, actor=ANN, case_id=case_id, command=c.CompletePlanItem(task), now=NOW)
    # The last task completed the case: its requester (active) and its owner are told.
    named = ("added_to_case", None, "system")
    assert _mine(db, rae) == [("case_completed", None, "ann"), named]
    assert _mine(db, MIA) == [("case_completed", None, "ann")]
    assert _mine(db, ANN) == []
    # Closing it is a formality; reopening it is news, but not to who did it.
    case_actions.change_status(db, actor=MIA, case_id=case_id, action="close", now=NOW)
    case_actions.change_status(db, actor=MIA, case_id=case_id, action="reopen", now=NOW)
    assert _mine(db, rae)[:2] == [("case_reopened", None, "mia"), ("case_completed", None, "ann")]
    assert len(_mine(db, MIA)) == 1
    case_actions.change_status(db, actor=SYSTEM, case_id=case_id, action="terminate", now=NOW)
    assert _mine(db, MIA)[0] == ("case_terminated", None, "system")
    assert _mine(db, rae)[0] == ("case_terminated", None, "system")
    with db() as session:
        assert (
            session.scalar(
                select(func.count())
                .select_from(Notification)
                .where(Notification.recipient == "gone", Notification.kind != "added_to_case")
            )
            == 0
        )


def test_a_case_given_to_someone_or_a_person_named_on_it_is_news_to_them(
    db: sessionmaker[Session],
) -> None:
    case_id = _open(db, owner="mia")
    # mia hands her case to ann: ann is told; taking it back herself tells nobody.
    case_assignment.reassign_case(db, actor=MIA, case_id=case_id, owner="ann", now=NOW)
    assert _mine(db, ANN) == [("case_assigned", None, "mia")]
    case_assignment.reassign_case(db, actor=ANN, case_id=case_id, owner="ann", now=NOW)
    case_assignment.reassign_case(db, actor=ANN, case_id=case_id, priority=1, now=NOW)
    assert len(_mine(db, ANN)) == 1
    # Named on the case by someone else: told; naming oneself: not.
    participants.add_participant(
        db, actor=ANN, case_id=case_id, username="bob", role="participant", now=NOW
    )
    assert _mine(db, BOB) == [("added_to_case", None, "ann")]
    participants.add_participant(
        db, actor=ANN, case_id=case_id, username="ann", role="requester", now=NOW
    )
    assert len(_mine(db, ANN)) == 1


def test_a_person_pages_through_theirs_newest_first_and_marks_them_read(
    db: sessionmaker[Session],
) -> None:
    opened = [_open(db) for _ in range(5)]
    for case_id in opened:
        case_relations.add_note(db, actor=BOB, case_id=case_id, body="@ann hi", now=NOW)
    seen: list[str] = []
    cursor = None
    with db() as session:
        while True:
            page = notifications.notifications_for(session, actor=ANN, limit=2, cursor=cursor)
            assert page.unread == 5
            seen += [n.case_id for n in page.items]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
    assert seen == opened[::-1]
    with db.begin() as session:
        first = notifications.notifications_for(session, actor=ANN).items
        # Someone else's ids change nothing; hers are marked once.
        assert notifications.mark_read(session, actor=BOB, now=NOW, ids=[first[0].id]) == 0
        assert notifications.mark_read(session, actor=ANN, now=NOW, ids=[first[0].id]) == 1
        assert notifications.mark_read(session, actor=ANN, now=NOW, ids=[first[0].id]) == 0
    with db() as session:
        page = notifications.notifications_for(session, actor=ANN, unread_only=True)
        assert page.unread == 4 and [n.case_id for n in page.items] == opened[3::-1]
    with db.begin() as session:
        assert notifications.mark_read(session, actor=ANN, now=NOW) == 4
    with db() as session:
        page = notifications.notifications_for(session, actor=ANN)
        assert page.unread == 0 and all(n.read for n in page.items) and len(page.items) == 5
        with pytest.raises(InvalidInput) as caught:
            notifications.notifications_for(session, actor=ANN, cursor="later")
        assert caught.value.field == "cursor"


def test_notifications_of_a_case_one_no_longer_sees_are_not_shown(
    db: sessionmaker[Session],
) -> None:
    case_id = _open(db, team="north")
    shown = _open(db, team="north")
    nora = Actor("nora", teams=frozenset({"north"}))
    identity.create_user(db, actor=SYSTEM, username="nora", name="Nora", now=NOW)
    membership.create_team(db, actor=SYSTEM, name="north", now=NOW)
    membership.add_member(db, actor=SYSTEM, team="north", username="nora", now=NOW)
    for target in (case_id, shown):
        case_relations.add_note(db, actor=ANN, case_id=target, body="@nora see", now=NOW)
    assert len(_mine(db, nora)) == 2
    participants.set_confidential(db, actor=SYSTEM, case_id=case_id, confidential=True, now=NOW)
    with db() as session:
        page = notifications.notifications_for(session, actor=nora)
    assert [n.case_id for n in page.items] == [shown] and page.unread == 1


def test_notifications_older_than_their_retention_are_pruned_read_or_not(
    db: sessionmaker[Session],
) -> None:
    case_id = _open(db)
    for days in (100, 91, 89, 10):
        at = NOW - timedelta(days=days)
        case_relations.add_note(db, actor=BOB, case_id=case_id, body=f"@ann {days}", now=at)
    kept = retention.prune(db, now=NOW, notifications_after=None)
    assert kept.deleted[retention.NOTICES] == 0
    result = retention.prune(db, now=NOW, batch_size=1)
    assert result.deleted[retention.NOTICES] == 2
    assert result.notifications_before == NOW - retention.NOTIFICATIONS_AFTER
    with db() as session:
        left = notifications.notifications_for(session, actor=ANN).items
    assert [n.excerpt for n in left] == ["@ann 10", "@ann 89"]


def test_db_prune_and_the_workers_take_the_notifications_period(
    engine: Engine, db: sessionmaker[Session]
) -> None:
    url = engine.url.render_as_string(hide_password=False)
    case_id = _open(db)
    # The CLI reads the real clock: a note 40 days ago and one today.
    for days in (40, 0):
        at = datetime.now(UTC) - timedelta(days=days)
        case_relations.add_note(db, actor=BOB, case_id=case_id, body=f"@ann {days}", now=at)
    kept = ok(url, "db", "prune")  # 90 days unless told
    assert kept["deleted"]["notifications"] == 0 and kept["notifications_before"]
    pruned = ok(url, "db", "prune", "--notifications-after", "30d")
    assert pruned["deleted"]["notifications"] == 1
    assert [n[2] for n in _mine(db, ANN)] == ["bob"]
    one_line_error(
        cli(url, "db", "prune", "--notifications-after", "soon"),
        "--notifications-after: 'soon' is not a duration",
    )
    env = {retention.NOTIFICATIONS_ENV: "off"}
    assert retention.from_env(env).notifications_after is None
    assert retention.from_env({}).notifications_after == retention.NOTIFICATIONS_AFTER
