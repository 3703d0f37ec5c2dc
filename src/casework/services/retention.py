"""Retention: deleting the rows of finished work that nothing needs any more.

What goes, once older than its retention period (`now` minus the period):

- `jobs` that are `done` (by `due_at`: when the job last came due, which is when it ran
  unless the workers were behind), after `done_after` (default 7 days);
- `jobs` that are `failed`, after `failed_after` (default 30 days): they are what an
  operator looks at to find out what went wrong, so they stay longer;
- `webhook_deliveries` that were `delivered` (by `created_at`, when the event was
  queued), after `done_after`; those that gave up (`failed`) or were never sent
  (`cancelled`: the subscription was switched off, the event was gone), after
  `failed_after`. A delivery whose job is still pending or running stays whatever its
  status says (an operator may have requeued the job by hand);
- `notifications` (by `created_at`, read or not), after `notifications_after` (default
  90 days): what a person was told about a case long ago is on the case's record;
- `idempotency_keys` (by `created_at`, when the request was first applied), after
  `idempotency_after` (default 7 days). A key older than that is forgotten: a retry
  with it is a new request. `idempotency.replayed`, given `now`, already treats such a
  key as absent, so such a retry is applied again whether the pruner got to it or not.

Never touched: pending and running jobs, pending and retrying deliveries, and the case
event log (`case_events`, the audit trail), which is never pruned; nor anything it
refers to. A period of None keeps those rows for ever.

Expired sessions, OIDC sign-ins and old login failures are already deleted as new ones
arrive (`credentials.py`, `oidc.py`, `login_limits.py`).

Each batch (`batch_size` rows, 5,000 by default) is one short transaction of its own,
a DELETE of the oldest matching rows through the index built for it (migrations 0008
and 0011), so pruning never holds locks for long or grows one huge transaction, and it
can run while the server and workers work. On PostgreSQL the batch skips rows another
pruner has locked (SKIP LOCKED), so pruners on several machines do not queue behind
each other. `max_batches` bounds one call (the worker's housekeeping prunes a slice,
goes back to its jobs, then carries on): a full batch (more rows may be waiting) ends
the call once that many batches have run; the result says whether it got to the end.

Used by `casework db prune` and by every worker once an hour (`worker/runner.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Table, bindparam, exists, select, text, tuple_
from sqlalchemy.orm import Session, sessionmaker

from casework.services.errors import InvalidInput
from casework.services.periods import format_period, parse_period
from casework.services.transactions import transaction
from casework.store.notification_tables import Notification
from casework.store.tables import (
    JOB_DONE_WHERE,
    JOB_FAILED_WHERE,
    IdempotencyKey,
    Job,
    table_of,
)
from casework.store.webhook_tables import (
    DELIVERY_DELIVERED_WHERE,
    DELIVERY_ENDED_WHERE,
    WebhookDelivery,
)

DONE_AFTER = timedelta(days=7)
FAILED_AFTER = timedelta(days=30)
BATCH_SIZE = 5000
# Longer than anyone keeps job rows on purpose; "off" is the way to keep them for ever.
MAX_RETENTION = timedelta(days=36500)

# Long enough for any client's retries (hours, at most a day or two offline).
IDEMPOTENCY_AFTER = timedelta(days=7)
# A season: a person back from a long leave still finds what happened meanwhile.
NOTIFICATIONS_AFTER = timedelta(days=90)

DONE_ENV = "CASEWORK_RETENTION_DONE"
FAILED_ENV = "CASEWORK_RETENTION_FAILED"
# Also read by the server's `idempotency.kept_for()`: one variable for what is
# replayed and what is pruned.
IDEMPOTENCY_ENV = "CASEWORK_RETENTION_IDEMPOTENCY"
NOTIFICATIONS_ENV = "CASEWORK_RETENTION_NOTIFICATIONS"
OFF = frozenset({"off", "never", "none", "forever"})

JOBS = "jobs"
DELIVERIES = "webhook_deliveries"
KEYS = "idempotency_keys"
NOTICES = "notifications"
TABLES = (JOBS, DELIVERIES, KEYS, NOTICES)


@dataclass(frozen=True, slots=True)
class Retention:
    """How long finished rows are kept; None: for ever."""

    done_after: timedelta | None = DONE_AFTER
    failed_after: timedelta | None = FAILED_AFTER
    idempotency_after: timedelta | None = IDEMPOTENCY_AFTER
    notifications_after: timedelta | None = NOTIFICATIONS_AFTER

    @property
    def enabled(self) -> bool:
        periods = (
            self.done_after,
            self.failed_after,
            self.idempotency_after,
            self.notifications_after,
        )
        return any(period is not None for period in periods)


@dataclass(frozen=True, slots=True)
class PruneResult:
    """Rows deleted per table, and whether every old row is gone (False: `max_batches`
    ran out first)."""

    deleted: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLES, 0))
    complete: bool = True
    done_before: datetime | None = None
    failed_before: datetime | None = None
    idempotency_before: datetime | None = None
    notifications_before: datetime | None = None

    @property
    def total(self) -> int:
        return sum(self.deleted.values())


def parse_duration(value: str, *, name: str) -> timedelta | None:
    """A retention period as people write it (`periods.parse_period`: `7d`, `36h`, `1d12h`);
    `off` (or `never`) for none: keep for ever. InvalidInput, naming `name`, otherwise."""
    if value.strip().lower() in OFF:
        return None
    hint = " (or off to keep for ever)"
    period = parse_period(value, name=name, longest=MAX_RETENTION, hint=hint)
    if period <= timedelta(0):
        raise InvalidInput(f"{name}: must be longer than zero", field=name)
    return period


def format_duration(period: timedelta | None) -> str:
    """`parse_duration`'s input for `period`, in the largest exact units ("7d", "1d12h")."""
    return "off" if period is None else format_period(period)


def _from(environ: Mapping[str, str], name: str, default: timedelta) -> timedelta | None:
    value = environ.get(name, "").strip()
    return parse_duration(value, name=name) if value else default


def from_env(environ: Mapping[str, str]) -> Retention:
    """The retention in `CASEWORK_RETENTION_DONE` / `_FAILED` / `_IDEMPOTENCY` /
    `_NOTIFICATIONS` (7d, 30d, 7d and 90d when unset; `off` keeps those rows for ever).
    InvalidInput on a bad value."""
    retention = Retention(
        done_after=_from(environ, DONE_ENV, DONE_AFTER),
        failed_after=_from(environ, FAILED_ENV, FAILED_AFTER),
        idempotency_after=idempotency_from_env(environ),
        notifications_after=_from(environ, NOTIFICATIONS_ENV, NOTIFICATIONS_AFTER),
    )
    check(retention)
    return retention


def idempotency_from_env(environ: Mapping[str, str]) -> timedelta | None:
    """How long idempotency keys are kept: `CASEWORK_RETENTION_IDEMPOTENCY` (7d when
    unset; `off`: for ever). InvalidInput on a bad value."""
    return _from(environ, IDEMPOTENCY_ENV, IDEMPOTENCY_AFTER)


def check(retention: Retention) -> None:
    """Periods longer than zero, and failed rows kept at least as long as done ones."""
    for name, period in (
        ("done_after", retention.done_after),
        ("failed_after", retention.failed_after),
        ("idempotency_after", retention.idempotency_after),
        ("notifications_after", retention.notifications_after),
    ):
        if period is not None and not timedelta(0) < period <= MAX_RETENTION:
            raise InvalidInput(
                f"{name} must be longer than zero and at most {MAX_RETENTION.days}d", field=name
            )
    done, failed = retention.done_after, retention.failed_after
    if done is not None and failed is not None and failed < done:
        raise InvalidInput(
            f"failed rows must be kept at least as long as done ones (failed after "
            f"{format_duration(failed)}, done after {format_duration(done)})",
            field="failed_after",
        )


# --- the statements ----------------------------------------------------------------------

_JOBS = table_of(Job)
_DELIVERIES = table_of(WebhookDelivery)
_KEYS = table_of(IdempotencyKey)
_NOTICES = table_of(Notification)


def _delete_oldest(table: Table, name: str, where: str | None, age: Any, *also: Any) -> Any:
    """DELETE up to `b_limit` rows meeting `where` (a partial index's condition, word for
    word, so both databases use that index; None: any row, through an index on `age`)
    older than `b_cutoff`, oldest first.

    The primary keys come from a materialised CTE, not an `IN (subquery)`, for the reason
    given in `worker/jobs.py`: PostgreSQL may rerun such a subquery, its LIMIT then
    bounding each run rather than the batch. `where` (or the age, without one) is
    repeated on the DELETE itself, so a row that changed meanwhile is not deleted
    (SQLite has no row locks to prevent that)."""
    key = list(table.primary_key.columns)
    older = age < bindparam("b_cutoff")
    condition = text(where) if where is not None else older
    picked = (
        select(*key)
        .where(*([older] if where is None else [condition, older]), *also)
        .order_by(age)
        .limit(bindparam("b_limit"))
        .with_for_update(skip_locked=True)
        .cte(name)
        .prefix_with("MATERIALIZED")
    )
    chosen = select(*picked.c)
    # (key, actor) IN (...) for idempotency_keys: row values, on both databases.
    matches = key[0].in_(chosen) if len(key) == 1 else tuple_(*key).in_(chosen)
    # RETURNING to count: SQLite's driver reports no rowcount for a statement that
    # starts with WITH.
    return table.delete().where(matches, condition).returning(key[0])


# A delivery whose job is still to run (requeued by hand, or between its last attempt and
# the job's end) is what that job reads: it stays.
_JOB_ACTIVE = exists().where(
    _JOBS.c.idempotency_key == _DELIVERIES.c.job_key,
    text("jobs.status IN ('pending', 'running')"),
)

DELETE_DONE_JOBS = _delete_oldest(_JOBS, "done_jobs", JOB_DONE_WHERE, _JOBS.c.due_at)
DELETE_FAILED_JOBS = _delete_oldest(_JOBS, "failed_jobs", JOB_FAILED_WHERE, _JOBS.c.due_at)
DELETE_DELIVERED = _delete_oldest(
    _DELIVERIES,
    "delivered",
    DELIVERY_DELIVERED_WHERE,
    _DELIVERIES.c.created_at,
    ~_JOB_ACTIVE,
)
DELETE_ENDED_DELIVERIES = _delete_oldest(
    _DELIVERIES,
    "ended_deliveries",
    DELIVERY_ENDED_WHERE,
    _DELIVERIES.c.created_at,
    ~_JOB_ACTIVE,
)
# Every key ages out: the plain index on created_at (0011) finds the oldest.
DELETE_OLD_KEYS = _delete_oldest(_KEYS, "old_keys", None, _KEYS.c.created_at)
# Read or not: through the index on created_at (0022).
DELETE_OLD_NOTICES = _delete_oldest(_NOTICES, "old_notifications", None, _NOTICES.c.created_at)


# --- pruning -----------------------------------------------------------------------------


def prune(
    db: sessionmaker[Session],
    *,
    now: datetime,
    done_after: timedelta | None = DONE_AFTER,
    failed_after: timedelta | None = FAILED_AFTER,
    idempotency_after: timedelta | None = IDEMPOTENCY_AFTER,
    notifications_after: timedelta | None = NOTIFICATIONS_AFTER,
    batch_size: int = BATCH_SIZE,
    max_batches: int | None = None,
    on_batch: Callable[[str, int], None] | None = None,
) -> PruneResult:
    """Delete the finished rows older than their retention at `now` (see the module's
    docstring), `batch_size` rows per transaction; `on_batch(table, rows)` after each.
    With `max_batches`, a full batch ends the call once that many batches have run
    (`complete` False: call again to go on)."""
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    if batch_size < 1:
        raise InvalidInput("batch_size must be at least 1", field="batch_size")
    if max_batches is not None and max_batches < 1:
        raise InvalidInput("max_batches must be at least 1", field="max_batches")
    check(Retention(done_after, failed_after, idempotency_after, notifications_after))
    # SQLite stores the wall time without its offset: compare in UTC, as it is written.
    now = now.astimezone(UTC)
    done_before = now - done_after if done_after is not None else None
    failed_before = now - failed_after if failed_after is not None else None
    keys_before = now - idempotency_after if idempotency_after is not None else None
    notices_before = now - notifications_after if notifications_after is not None else None
    steps = [
        (JOBS, DELETE_DONE_JOBS, done_before),
        (JOBS, DELETE_FAILED_JOBS, failed_before),
        (DELIVERIES, DELETE_DELIVERED, done_before),
        (DELIVERIES, DELETE_ENDED_DELIVERIES, failed_before),
        (KEYS, DELETE_OLD_KEYS, keys_before),
        (NOTICES, DELETE_OLD_NOTICES, notices_before),
    ]
    cutoffs = {
        "done_before": done_before,
        "failed_before": failed_before,
        "idempotency_before": keys_before,
        "notifications_before": notices_before,
    }
    deleted = dict.fromkeys(TABLES, 0)
    batches = 0
    for table, statement, cutoff in steps:
        if cutoff is None:
            continue
        while True:
            with transaction(db) as conn:
                params = {"b_cutoff": cutoff, "b_limit": batch_size}
                rows = len(conn.execute(statement, params).all())
            batches += 1
            deleted[table] += rows
            if on_batch is not None:
                on_batch(table, rows)
            # Fewer than asked for: none left (or another pruner holds the rest).
            if rows < batch_size:
                break
            # Only a full batch counts against the budget, so that every kind of row
            # gets a batch in each call and calls that start over always get further.
            if max_batches is not None and batches >= max_batches:
                return PruneResult(deleted, False, **cutoffs)
    return PruneResult(deleted, True, **cutoffs)
