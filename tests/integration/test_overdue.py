"""Late work across cases, most overdue first, on SQLite and PostgreSQL: only active
work past its due date, only on cases the person sees, page by page."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from tests.integration.cli_support import cli, ok, one_line_error

from casework.cli.overdue_cmd import late_by
from casework.engine import commands as c
from casework.services import case_types, cases, overdue, tasks
from casework.services.actors import SYSTEM, Actor
from casework.services.errors import InvalidInput
from casework.store.db import session_factory

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

SLA = """
id: sla
name: SLA
roles: [handler, reviewer]
plan:
  items:
    - task: Assess
      role: handler
      due: PT1H
    - task: Review
      role: reviewer
      due: PT4H
    - task: File
      role: handler
"""
OTHER = SLA.replace("id: sla", "id: other").replace("name: SLA", "name: Other")
HANDLER = Actor("hana", roles=frozenset({"handler"}))


@pytest.fixture
def db(engine: Engine) -> Iterator[sessionmaker[Session]]:
    db = session_factory(engine)
    for source in (SLA, OTHER):
        case_types.deploy(db, actor=SYSTEM, source=source, now=NOW)
    yield db


def _open(db: sessionmaker[Session], type_id: str, minutes: int, **kwargs: Any) -> str:
    at = NOW + timedelta(minutes=minutes)
    return cases.open_case(db, actor=SYSTEM, type_id=type_id, now=at, **kwargs).case_id


def _late(
    db: sessionmaker[Session], actor: Actor = SYSTEM, **kwargs: object
) -> list[tuple[str, str]]:
    with db() as session:
        page = overdue.due_work(session, actor=actor, now=NOW + timedelta(hours=2), **kwargs)  # type: ignore[arg-type]
    return [(item.case_id, item.name) for item in page.items]


def test_only_active_work_past_its_due_date_is_late_oldest_due_first(
    db: sessionmaker[Session],
) -> None:
    first = _open(db, "sla", 0)
    second = _open(db, "other", 10)
    done = _open(db, "sla", 20)
    cases.run_command(db, actor=SYSTEM, case_id=done, command=c.CompletePlanItem("assess"), now=NOW)
    _open(db, "sla", 90)  # its Assess is due at 10:30 + 1 h: not late at 11:00
    # Review (4 h) is not late yet; File has no due date; done's Assess is done.
    assert _late(db) == [(first, "Assess"), (second, "Assess")]
    with db() as session:
        page = overdue.due_work(session, actor=SYSTEM, now=NOW + timedelta(hours=2))
    item = page.items[0]
    assert item.due_at == NOW + timedelta(hours=1) and item.overdue and not item.due_soon
    assert (item.role, item.assignee, item.case_type, item.state) == (
        "handler",
        None,
        "sla",
        "active",
    )
    # Narrowed by case type, role, assignee, or to nobody's work yet.
    assert _late(db, case_type="other") == [(second, "Assess")]
    assert _late(db, role="reviewer") == []
    tasks.act(db, actor=HANDLER, case_id=first, instance_id="pi-2", action="claim", now=NOW)
    assert _late(db, assignee="hana") == [(first, "Assess")]
    assert _late(db, unassigned=True) == [(second, "Assess")]


def test_a_person_sees_the_late_work_of_the_cases_they_see_and_no_other(
    db: sessionmaker[Session],
) -> None:
    theirs = _open(db, "sla", 0, team="north")
    _open(db, "sla", 5, team="south")
    _open(db, "sla", 10, team="north", confidential=True)
    north = Actor("nora", teams=frozenset({"north"}))
    assert _late(db, north) == [(theirs, "Assess")]
    assert len(_late(db)) == 3  # an administrator sees all of it


def test_pages_follow_one_another_through_equal_due_dates(db: sessionmaker[Session]) -> None:
    opened = [_open(db, "sla", 0) for _ in range(5)] + [_open(db, "sla", 1) for _ in range(2)]
    seen: list[str] = []
    cursor = None
    with db() as session:
        while True:
            page = overdue.due_work(
                session, actor=SYSTEM, now=NOW + timedelta(hours=2), limit=3, cursor=cursor
            )
            seen += [item.case_id for item in page.items]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
    # Equal due dates in case id order; every case once.
    assert seen == sorted(opened[:5]) + sorted(opened[5:])


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"assignee": "hana", "unassigned": True}, "assignee"),
    ],
)
def test_bad_input_names_its_field(
    db: sessionmaker[Session], kwargs: dict[str, Any], field: str
) -> None:
    with db() as session, pytest.raises(InvalidInput) as caught:
        overdue.due_work(session, actor=SYSTEM, now=NOW, **kwargs)
    assert caught.value.field == field


def test_casework_case_overdue_prints_late_work_and_how_late(
    engine: Engine, db: sessionmaker[Session]
) -> None:
    url = engine.url.render_as_string(hide_password=False)
    assert "no late work" in cli(url, "case", "overdue").stdout
    # The CLI reads the real clock: work opened three days ago, due an hour later.
    opened = datetime.now(UTC) - timedelta(days=3)
    case_id = cases.open_case(
        db, actor=SYSTEM, type_id="sla", now=opened, title="Water damage"
    ).case_id
    shown = cli(url, "case", "overdue")
    assert shown.exit_code == 0, shown.output
    # Assess was due an hour after opening, Review four hours after: most overdue first.
    assess, review = [line for line in shown.stdout.splitlines() if case_id in line]
    # (The terminal of a test is 80 columns: title and holder wrap onto a second line.)
    assert "Assess" in assess and ("2d 22h" in assess or "2d 23h" in assess)
    assert "Review" in review and ("2d 19h" in review or "2d 20h" in review)
    assert "Water" in shown.stdout and "handler" in shown.stdout
    late = ok(url, "case", "overdue", "--type", "sla")
    assert [(w["case_id"], w["name"], w["role"], w["assignee"]) for w in late] == [
        (case_id, "Assess", "handler", None),
        (case_id, "Review", "reviewer", None),
    ]
    assert 71 * 3600 - 60 <= late[0]["late_seconds"] <= 71 * 3600 + 60
    assert ok(url, "case", "overdue", "--type", "other") == []
    one_line_error(cli(url, "case", "overdue", "--assignee", "x", "--unassigned"), "not both")


@pytest.mark.parametrize(
    ("delta", "shown"),
    [
        (timedelta(days=3, hours=4, minutes=59), "3d 4h"),
        (timedelta(hours=2, minutes=5, seconds=59), "2h 5m"),
        (timedelta(minutes=7), "7m"),
        (timedelta(seconds=30), "0m"),
    ],
)
def test_late_by_says_the_two_largest_units(delta: timedelta, shown: str) -> None:
    assert late_by(delta) == shown


def test_case_show_gives_open_work_its_due_date_and_says_when_it_is_late(
    engine: Engine, db: sessionmaker[Session]
) -> None:
    url = engine.url.render_as_string(hide_password=False)
    opened = (datetime.now(UTC) - timedelta(days=3)).replace(microsecond=0)
    case_id = cases.open_case(db, actor=SYSTEM, type_id="sla", now=opened).case_id
    due = opened + timedelta(hours=1)
    shown = cli(url, "case", "show", case_id)
    assert shown.exit_code == 0, shown.output
    [assess] = [line for line in shown.stdout.splitlines() if "☐ Assess" in line]
    assert f"(due {due:%Y-%m-%d %H:%M}, overdue)" in assess
    [file] = [line for line in shown.stdout.splitlines() if "☐ File" in line]
    assert "due" not in file  # no due date: nothing said
    plan = {p["item_id"]: p for p in ok(url, "case", "show", case_id)["plan"]}
    assert datetime.fromisoformat(plan["assess"]["due_at"]) == due
    assert plan["file"]["due_at"] is None
    # As it was half an hour after opening: due, not yet late.
    then = (opened + timedelta(minutes=30)).isoformat()
    earlier = cli(url, "case", "show", case_id, "--as-of", then)
    [assess] = [line for line in earlier.stdout.splitlines() if "☐ Assess" in line]
    assert f"(due {due:%Y-%m-%d %H:%M})" in assess


def test_work_falling_due_comes_after_the_late_work_within_its_window(
    db: sessionmaker[Session],
) -> None:
    first = _open(db, "sla", 0)  # Assess due 10:00, Review 13:00
    second = _open(db, "sla", 60)  # Assess due 11:00, Review 14:00
    at = NOW + timedelta(minutes=90)

    def due(within: timedelta) -> list[tuple[str, str, bool]]:
        with db() as session:
            page = overdue.due_work(session, actor=SYSTEM, now=at, within=within)
        return [(item.case_id, item.name, item.overdue) for item in page.items]

    assert due(timedelta(0)) == [(first, "Assess", True)]
    assert due(timedelta(hours=2)) == [(first, "Assess", True), (second, "Assess", False)]
    # Due exactly at the window's end (13:00) is outside it, as due exactly now is not late.
    assert len(due(timedelta(hours=2, minutes=30))) == 2
    assert due(timedelta(hours=2, minutes=31))[2:] == [(first, "Review", False)]
    assert len(due(timedelta(hours=4))) == 4
    for bad in (timedelta(seconds=-1), overdue.MAX_WITHIN + timedelta(seconds=1)):
        with db() as session, pytest.raises(InvalidInput) as caught:
            overdue.due_work(session, actor=SYSTEM, now=at, within=bad)
        assert caught.value.field == "within"


def test_casework_case_due_says_what_is_late_and_what_comes_due_when(
    engine: Engine, db: sessionmaker[Session]
) -> None:
    url = engine.url.render_as_string(hide_password=False)
    assert "nothing falls due within 1d" in cli(url, "case", "due").stdout
    # The CLI reads the real clock: Assess was due half an hour ago, Review is due in 2.5 h.
    opened = datetime.now(UTC) - timedelta(minutes=90)
    case_id = cases.open_case(db, actor=SYSTEM, type_id="sla", now=opened).case_id
    assert [w["name"] for w in ok(url, "case", "due", "--within", "2h")] == ["Assess"]
    shown = cli(url, "case", "due", "--within", "4h")
    assert shown.exit_code == 0, shown.output
    assess, review = [line for line in shown.stdout.splitlines() if case_id in line]
    assert "Assess" in assess and ("late 29m" in assess or "late 30m" in assess)
    assert "Review" in review and ("in 2h 29m" in review or "in 2h 30m" in review)
    listed = ok(url, "case", "due", "--within", "1d")
    assert [(w["name"], w["overdue"], w["late_seconds"] > 0) for w in listed] == [
        ("Assess", True, True),
        ("Review", False, False),
    ]
    one_line_error(cli(url, "case", "due", "--within", "soon"), "--within: 'soon' is not a")
    one_line_error(cli(url, "case", "due", "--within", "11000d"), "--within: at most 3653d")
