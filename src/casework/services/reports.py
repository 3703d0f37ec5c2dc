"""Reports: how the cases opened in a period went, for the people who run the work.

`case_report` answers, over the cases someone sees (a manager their teams' and types',
an administrator all of them) that were opened in a period, of one type or all:

- how many there are in each status, and of each type;
- how long the ended ones took, opening to end (`closed_at`: completed or terminated;
  closing it later does not move it): mean, median and 90th percentile;
- whether their work met its deadlines: of the tasks and stages that had a due date,
  those done by it (`met`), done after it (`late`), still open past it (`overdue`),
  still open before it (`pending`), and ended otherwise (`dropped`: terminated, exited,
  disabled). "Done" is the plan item's completion, its last change.

Counts and deadlines are aggregated by the database; the durations of the period's
ended cases are read as seconds (computed by the database) and their percentiles
computed here (the two databases share no percentile function).
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, select
from sqlalchemy.orm import Session

from casework.services.actors import Actor
from casework.services.errors import InvalidInput
from casework.services.identity import aware
from casework.services.visibility import visible_condition
from casework.store.tables import Case, PlanItemRow

MAX_PERIOD = timedelta(days=3660)
_OPEN_ITEM_STATES = ("available", "enabled", "active", "suspended", "failed")


@dataclass(frozen=True, slots=True)
class Durations:
    """Opening to end of the ended cases, in seconds (None when none ended)."""

    ended: int
    mean: float | None
    median: float | None
    p90: float | None


@dataclass(frozen=True, slots=True)
class Deadlines:
    with_due_date: int
    met: int
    late: int
    overdue: int
    pending: int
    dropped: int

    @property
    def met_share(self) -> float | None:
        """Met among those that came to a verdict (met, late, overdue)."""
        decided = self.met + self.late + self.overdue
        return self.met / decided if decided else None


@dataclass(frozen=True, slots=True)
class CaseReport:
    since: datetime
    until: datetime
    type_id: str | None
    opened: int
    by_status: dict[str, int]
    by_type: dict[str, int]
    durations: Durations
    deadlines: Deadlines
    generated_at: datetime


def case_report(
    session: Session,
    *,
    actor: Actor,
    now: datetime,
    since: datetime | None = None,
    until: datetime | None = None,
    type_id: str | None = None,
) -> CaseReport:
    """The cases opened in [`since`, `until`) (default: the 30 days up to `now`, now
    included) that the actor sees, of `type_id` or every type."""
    given_until = until is not None
    until = aware(until) if until is not None else now
    since = aware(since) if since is not None else until - timedelta(days=30)
    if since >= until:
        raise InvalidInput("since must come before until", field="since")
    if until - since > MAX_PERIOD:
        raise InvalidInput(f"a report covers at most {MAX_PERIOD.days} days", field="since")
    where: list[ColumnElement[bool]] = [Case.opened_at >= since, visible_condition(session, actor)]
    if given_until:
        # Without one, up to now included: a case opened this very instant counts.
        where.append(Case.opened_at < until)
    if type_id is not None:
        where.append(Case.type_id == type_id)
    # One pass over the period's cases for both counts.
    by_status: Counter[str] = Counter()
    by_type: Counter[str] = Counter()
    for kind, status, count in session.execute(
        select(Case.type_id, Case.status, func.count())
        .where(*where)
        .group_by(Case.type_id, Case.status)
    ):
        by_status[str(status)] += int(count)
        by_type[str(kind)] += int(count)
    return CaseReport(
        since=since,
        until=until,
        type_id=type_id,
        opened=sum(by_status.values()),
        by_status=dict(sorted(by_status.items())),
        by_type=dict(sorted(by_type.items())),
        durations=_durations(session, where),
        deadlines=_deadlines(session, where, now),
        generated_at=now,
    )


def _durations(session: Session, where: list[ColumnElement[bool]]) -> Durations:
    # Seconds computed by the database: a float a case, where two datetimes a case cost
    # most of a year's report (parsed from text on SQLite).
    took: ColumnElement[Any]
    if session.get_bind().dialect.name == "sqlite":
        # julianday is a float of days: to the millisecond, its error is rounded away.
        days = func.julianday(Case.closed_at) - func.julianday(Case.opened_at)
        took = func.round(days * 86400.0, 3)
    else:
        took = func.extract("epoch", Case.closed_at - Case.opened_at)
    seconds = sorted(
        float(value)
        for (value,) in session.execute(select(took).where(*where, Case.closed_at.is_not(None)))
    )
    if not seconds:
        return Durations(0, None, None, None)
    p90 = (
        statistics.quantiles(seconds, n=10, method="inclusive")[-1]
        if len(seconds) > 1
        else seconds[0]
    )
    return Durations(len(seconds), statistics.fmean(seconds), statistics.median(seconds), p90)


def _deadlines(session: Session, where: list[ColumnElement[bool]], now: datetime) -> Deadlines:
    items = PlanItemRow
    open_ = items.state.in_(_OPEN_ITEM_STATES)
    verdict = case(
        (and_(items.state == "completed", items.updated_at <= items.due_at), "met"),
        (items.state == "completed", "late"),
        (and_(open_, items.due_at < now), "overdue"),
        (open_, "pending"),
        else_="dropped",
    )
    counts = {
        str(kind): int(count)
        for kind, count in session.execute(
            select(verdict, func.count())
            .select_from(items)
            .join(Case, Case.id == items.case_id)
            .where(*where, items.due_at.is_not(None))
            .group_by(verdict)
        )
    }
    return Deadlines(
        with_due_date=sum(counts.values()),
        met=counts.get("met", 0),
        late=counts.get("late", 0),
        overdue=counts.get("overdue", 0),
        pending=counts.get("pending", 0),
        dropped=counts.get("dropped", 0),
    )
