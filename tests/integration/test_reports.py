"""Case reports on SQLite and PostgreSQL: the cases opened in a period that someone
sees, by status and type, how long the ended ones took, and whether their work met its
deadlines; through the service, the API and the command line."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from tests.integration.cli_support import cli, ok, one_line_error
from tests.people import make_user

from casework.engine import commands as c
from casework.services import case_types, cases, participants, reports
from casework.services.actors import SYSTEM, Actor
from casework.services.errors import InvalidInput
from casework.store.db import session_factory

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
HANDLER = Actor("hana", roles=frozenset({"handler"}))

REQUEST = """
id: request
name: Request
roles: [handler]
plan:
  items:
    - task: Handle
      role: handler
      due: PT1H
"""
OTHER = """
id: other
name: Other
roles: [handler]
plan:
  items:
    - task: Look
      role: handler
"""


@pytest.fixture
def db(engine: Engine) -> Iterator[sessionmaker[Session]]:
    db = session_factory(engine)
    for source in (REQUEST, OTHER):
        case_types.deploy(db, actor=SYSTEM, source=source, now=NOW)
    yield db


def _open(db: sessionmaker[Session], at: datetime, type_id: str = "request") -> str:
    return cases.open_case(db, actor=SYSTEM, type_id=type_id, now=at).case_id


def _handle(db: sessionmaker[Session], case_id: str, at: datetime) -> None:
    cases.run_command(
        db, actor=HANDLER, case_id=case_id, command=c.CompletePlanItem("handle"), now=at
    )


@pytest.fixture
def period(db: sessionmaker[Session]) -> dict[str, str]:
    """Six cases opened in the period, one before it. Reported at NOW + 3h."""
    on_time, late, overdue, terminated = (_open(db, NOW) for _ in range(4))
    _handle(db, on_time, NOW + HOUR / 2)  # met; ended after 30 minutes
    _handle(db, late, NOW + 2 * HOUR)  # late; ended after 2 hours
    cases.run_command(  # its task dropped; ended after 1 hour
        db, actor=SYSTEM, case_id=terminated, command=c.TerminateCase(), now=NOW + HOUR
    )
    pending = _open(db, NOW + 2.5 * HOUR)  # due at 3.5h: not yet
    other = _open(db, NOW, "other")  # no due date at all
    _open(db, NOW - 40 * 24 * HOUR)  # opened before the period
    make_user(db, "rita", password=None)
    participants.add_participant(
        db, actor=SYSTEM, case_id=late, username="rita", role="requester", now=NOW
    )
    return {
        "on_time": on_time,
        "late": late,
        "overdue": overdue,
        "terminated": terminated,
        "pending": pending,
        "other": other,
    }


def test_a_report_of_the_period(db: sessionmaker[Session], period: dict[str, str]) -> None:
    with db() as session:
        report = reports.case_report(session, actor=SYSTEM, now=NOW + 3 * HOUR)
    assert report.until == NOW + 3 * HOUR and report.since == report.until - 30 * 24 * HOUR
    assert report.opened == 6
    assert report.by_status == {"active": 3, "completed": 2, "terminated": 1}
    assert report.by_type == {"other": 1, "request": 5}
    durations = report.durations
    assert durations.ended == 3
    assert durations.median == 3600
    assert durations.mean == pytest.approx((1800 + 3600 + 7200) / 3)
    assert durations.p90 == pytest.approx(6480)  # between the 2nd and 3rd, inclusive method
    deadlines = report.deadlines
    assert (deadlines.met, deadlines.late, deadlines.overdue) == (1, 1, 1)
    assert (deadlines.pending, deadlines.dropped, deadlines.with_due_date) == (1, 1, 5)
    assert deadlines.met_share == pytest.approx(1 / 3)
    # One type, a narrower period.
    with db() as session:
        narrow = reports.case_report(
            session,
            actor=SYSTEM,
            now=NOW + 3 * HOUR,
            since=NOW + 2 * HOUR,
            until=NOW + 3 * HOUR,
            type_id="request",
        )
    assert narrow.opened == 1 and narrow.by_status == {"active": 1}
    assert narrow.durations.ended == 0 and narrow.durations.median is None


def test_a_report_counts_only_the_cases_one_sees(
    db: sessionmaker[Session], period: dict[str, str]
) -> None:
    with db() as session:
        hers = reports.case_report(session, actor=Actor("rita"), now=NOW + 3 * HOUR)
        nobody = reports.case_report(session, actor=Actor("nina"), now=NOW + 3 * HOUR)
    assert hers.opened == 1 and hers.by_status == {"completed": 1}
    assert hers.deadlines.late == 1 and hers.deadlines.with_due_date == 1
    assert nobody.opened == 0 and nobody.durations.ended == 0


def test_bad_periods_are_refused_naming_the_field(db: sessionmaker[Session]) -> None:
    with db() as session:
        for since, until in ((NOW, NOW), (NOW - 4000 * 24 * HOUR, NOW)):
            with pytest.raises(InvalidInput) as refused:
                reports.case_report(session, actor=SYSTEM, now=NOW, since=since, until=until)
            assert refused.value.field == "since"


def test_the_command_line_report(
    engine: Engine, db: sessionmaker[Session], period: dict[str, str]
) -> None:
    url = engine.url.render_as_string(hide_password=False)
    since, until = (NOW - HOUR).isoformat(), (NOW + 3 * HOUR).isoformat()
    out = ok(url, "report", "cases", "--since", since, "--until", until)
    # The command line reports at the real time, long after: the pending task is late.
    assert out["opened"] == 6 and out["deadlines"]["met"] == 1
    assert out["deadlines"]["overdue"] == 2 and out["deadlines"]["met_share"] == 0.25
    shown = cli(url, "report", "cases", "--since", since, "--until", until, "--type", "request")
    assert shown.exit_code == 0, shown.output
    text = shown.stdout
    assert "5 request cases opened from 2026-11-02 08:00 to 2026-11-02 12:00 (UTC)" in text
    assert "3 ended: median 1h, mean 1h10m, 90 % within 1h48m" in text
    assert "5 with a due date (25% met): 1 met, 1 late, 2 overdue, 0 pending" in text
    one_line_error(cli(url, "report", "cases", "--since", "yesterday"), "--since")
    one_line_error(cli(url, "report", "cases", "--since", until, "--until", since), "before")
