"""Idempotency keys expire, on SQLite and PostgreSQL: retention deletes the old ones
(`services.retention.prune`, `casework db prune`, the worker's housekeeping), and a
retry with a key older than CASEWORK_RETENTION_IDEMPOTENCY is a new request even
before the pruner gets to it (`idempotency.replayed` given `now`)."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from tests.clock import Clock
from typer.testing import CliRunner, Result

from casework.cli.main import app
from casework.engine import commands as c
from casework.services import case_types, cases, idempotency, retention
from casework.services.actors import SYSTEM, Actor
from casework.services.errors import InvalidInput
from casework.services.retention import Retention
from casework.store.db import session_factory
from casework.store.tables import IdempotencyKey, table_of
from casework.worker import Worker

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
KEYS = table_of(IdempotencyKey)
ALICE = Actor("alice")

runner = CliRunner()


@pytest.fixture
def db(engine: Engine) -> sessionmaker[Session]:
    return session_factory(engine)


@pytest.fixture
def keep(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str | None], None]]:
    """Sets CASEWORK_RETENTION_IDEMPOTENCY (None: unset) as a new process would read it."""

    def setting(value: str | None) -> None:
        if value is None:
            monkeypatch.delenv(retention.IDEMPOTENCY_ENV, raising=False)
        else:
            monkeypatch.setenv(retention.IDEMPOTENCY_ENV, value)
        idempotency.kept_for.cache_clear()

    setting(None)
    yield setting
    idempotency.kept_for.cache_clear()


def _add_keys(db: sessionmaker[Session], ages: dict[str, timedelta], actor: str = "alice") -> None:
    rows = [
        {
            "key": key,
            "actor": actor,
            "request_hash": "h",
            "result": {"key": key},
            "created_at": NOW - age,
        }
        for key, age in ages.items()
    ]
    with db.begin() as session:
        session.execute(KEYS.insert(), rows)


def _keys(db: sessionmaker[Session]) -> set[str]:
    with db() as session:
        return set(session.scalars(select(IdempotencyKey.key)))


def _counts(jobs: int = 0, deliveries: int = 0, keys: int = 0) -> dict[str, int]:
    return {
        "jobs": jobs,
        "webhook_deliveries": deliveries,
        "idempotency_keys": keys,
        "notifications": 0,
    }


# --- pruning -----------------------------------------------------------------------------


def test_old_keys_go_recent_ones_stay(db: sessionmaker[Session]) -> None:
    _add_keys(
        db,
        {
            "8d": 8 * DAY,
            "400d": 400 * DAY,
            "6d": 6 * DAY,
            # Exactly at the cutoff: not older than the retention yet.
            "7d": 7 * DAY,
            "now": timedelta(0),
        },
    )
    _add_keys(db, {"bob-8d": 8 * DAY}, actor="bob")
    result = retention.prune(db, now=NOW)
    assert result.deleted == _counts(keys=3) and result.complete
    assert result.idempotency_before == NOW - 7 * DAY
    assert _keys(db) == {"6d", "7d", "now"}
    assert retention.prune(db, now=NOW).deleted == _counts()


def test_the_period_is_an_argument_and_off_keeps_keys(db: sessionmaker[Session]) -> None:
    _add_keys(db, {"1y": 365 * DAY, "2d": 2 * DAY, "1h": timedelta(hours=1)})
    kept = retention.prune(db, now=NOW, idempotency_after=None)
    assert kept.deleted == _counts() and kept.idempotency_before is None
    assert _keys(db) == {"1y", "2d", "1h"}
    # Only keys: done and failed rows kept, as they may be.
    result = retention.prune(db, now=NOW, done_after=None, failed_after=None, idempotency_after=DAY)
    assert result.deleted == _counts(keys=2) and result.done_before is None
    assert _keys(db) == {"1h"}


def test_keys_go_in_batches(db: sessionmaker[Session]) -> None:
    _add_keys(db, {f"old-{i}": 10 * DAY + i * timedelta(seconds=1) for i in range(12)})
    _add_keys(db, {"new": DAY})
    batches: list[tuple[str, int]] = []
    result = retention.prune(
        db, now=NOW, batch_size=5, on_batch=lambda table, rows: batches.append((table, rows))
    )
    assert result.deleted == _counts(keys=12)
    assert [b for b in batches if b[0] == "idempotency_keys"] == [
        ("idempotency_keys", 5),
        ("idempotency_keys", 5),
        ("idempotency_keys", 2),
    ]
    assert _keys(db) == {"new"}
    _add_keys(db, {f"again-{i}": 10 * DAY for i in range(12)})
    first = retention.prune(db, now=NOW, batch_size=5, max_batches=1)
    assert first.deleted == _counts(keys=5) and not first.complete


def test_bad_periods_are_refused(db: sessionmaker[Session]) -> None:
    with pytest.raises(InvalidInput, match="idempotency_after"):
        retention.prune(db, now=NOW, idempotency_after=timedelta(0))
    with pytest.raises(InvalidInput, match="idempotency_after"):
        retention.check(Retention(idempotency_after=-DAY))


# --- retries -----------------------------------------------------------------------------


class Counter:
    """An action for `idempotency.once`: how many times it ran (in the key's transaction)."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, session: Session) -> dict[str, Any]:
        assert session.in_transaction()
        self.calls += 1
        return {"n": self.calls}


def test_a_retry_within_the_period_is_replayed_after_it_applies_again(
    db: sessionmaker[Session], keep: Callable[[str | None], None]
) -> None:
    action = Counter()

    def send(now: datetime, request: dict[str, Any] | None = None) -> dict[str, Any]:
        return idempotency.once(
            db, actor=ALICE, key="k", request=request or {"op": "x"}, now=now, action=action
        )

    assert send(NOW) == {"n": 1}
    assert send(NOW + 7 * DAY) == {"n": 1}  # replayed: exactly at the end of the period
    assert action.calls == 1
    # Expired: a new request, whatever the pruner did (nothing here), its result stored
    # over the old one.
    assert send(NOW + 7 * DAY + timedelta(seconds=1)) == {"n": 2}
    assert send(NOW + 8 * DAY) == {"n": 2}
    assert action.calls == 2
    with db() as session:
        row = session.get(IdempotencyKey, ("k", "alice"))
        assert row is not None and row.result == {"n": 2}
    # A different request with the key is refused while it is remembered, not after.
    with pytest.raises(InvalidInput, match="different request"):
        send(NOW + 8 * DAY, {"op": "y"})
    assert send(NOW + 30 * DAY, {"op": "y"}) == {"n": 3}


@pytest.mark.parametrize("kind", ["connection", "session"])
def test_replayed_and_remember_in_the_callers_transaction(
    db: sessionmaker[Session], keep: Callable[[str | None], None], kind: str
) -> None:
    """As `cases` and `collaboration` use them, on a Core connection or a Session."""
    request = {"op": "note", "body": "hi"}
    later = NOW + 10 * DAY

    def in_transaction(work: Callable[[Any], Any]) -> Any:
        if kind == "connection":
            with cases.transaction(db) as conn:
                return work(conn)
        with db.begin() as session:
            return work(session)

    in_transaction(lambda b: idempotency.remember(b, ALICE, "k", request, {"id": 1}, NOW))
    replay = in_transaction(lambda b: idempotency.replayed(b, ALICE, "k", request, now=NOW))
    assert replay == {"id": 1}
    assert in_transaction(lambda b: idempotency.replayed(b, ALICE, "k", request, now=later)) is None

    def apply_again(bind: Any) -> Any:
        assert idempotency.replayed(bind, ALICE, "k", request, now=later) is None
        idempotency.remember(bind, ALICE, "k", request, {"id": 2}, later)  # no IntegrityError
        return idempotency.replayed(bind, ALICE, "k", request, now=later)

    assert in_transaction(apply_again) == {"id": 2}
    # A key that has not expired is not overwritten: the error callers retry on.
    with pytest.raises(IntegrityError):
        in_transaction(lambda b: idempotency.remember(b, ALICE, "k", request, {"id": 3}, later))
    assert in_transaction(lambda b: idempotency.replayed(b, ALICE, "k", request, now=later)) == {
        "id": 2
    }
    # Another actor's key of the same name is another key.
    bob = Actor("bob")
    assert in_transaction(lambda b: idempotency.replayed(b, bob, "k", request, now=NOW)) is None


def test_two_retries_of_an_expired_key_at_once_store_one_result(
    db: sessionmaker[Session], keep: Callable[[str | None], None]
) -> None:
    """The second waits for the first's overwrite, then replays its result (PostgreSQL:
    its own overwrite finds the key renewed, the IntegrityError `once` retries on)."""
    _add_keys(db, {"k": 30 * DAY})
    request = {"op": "x"}
    stored = threading.Event()
    errors: list[BaseException] = []

    def first() -> None:
        try:
            with cases.transaction(db) as conn:
                assert idempotency.replayed(conn, ALICE, "k", request, now=NOW) is None
                idempotency.remember(conn, ALICE, "k", request, {"by": "first"}, NOW)
                stored.set()
                time.sleep(0.5)  # the second request's write waits for this commit
        except BaseException as exc:
            errors.append(exc)
            stored.set()

    thread = threading.Thread(target=first)
    thread.start()
    assert stored.wait(30)
    second = idempotency.once(
        db, actor=ALICE, key="k", request=request, now=NOW, action=lambda _session: {"by": "second"}
    )
    thread.join(timeout=30)
    assert errors == []
    assert second == {"by": "first"}
    with db() as session:
        row = session.get(IdempotencyKey, ("k", "alice"))
        assert row is not None and row.result == {"by": "first"}


SIMPLE = """
id: simple
name: Simple
plan:
  items:
    - task: Look
"""


def test_a_retry_after_the_pruner_opens_a_new_case(db: sessionmaker[Session]) -> None:
    case_types.deploy(db, actor=SYSTEM, source=SIMPLE, now=NOW)

    def open_case(now: datetime) -> str:
        ref = cases.open_case(
            db, actor=SYSTEM, type_id="simple", data={}, now=now, idempotency_key="open-1"
        )
        return ref.case_id

    first = open_case(NOW)
    assert open_case(NOW + 6 * DAY) == first
    retention.prune(db, now=NOW + 6 * DAY)
    assert open_case(NOW + 6 * DAY) == first  # kept: still replayed
    retention.prune(db, now=NOW + 8 * DAY)
    assert _keys(db) == set()
    second = open_case(NOW + 8 * DAY)
    assert second != first
    assert open_case(NOW + 8 * DAY) == second


def test_an_expired_key_is_a_new_request_even_before_the_pruner_runs(
    db: sessionmaker[Session],
) -> None:
    """Every keyed write checks the key's age: opening a case, a case command, a claim."""
    case_types.deploy(db, actor=SYSTEM, source=SIMPLE, now=NOW)

    def open_case(now: datetime) -> str:
        ref = cases.open_case(
            db, actor=SYSTEM, type_id="simple", data={}, now=now, idempotency_key="open-2"
        )
        return ref.case_id

    first = open_case(NOW)
    assert open_case(NOW + 7 * DAY) == first  # at the cutoff: kept
    second = open_case(NOW + 7 * DAY + timedelta(seconds=1))
    assert second != first
    assert _keys(db) == {"open-2"}  # the expired row was taken over, not duplicated

    def set_n(now: datetime) -> datetime:
        cases.run_command(
            db,
            actor=SYSTEM,
            case_id=second,
            command=c.SetVariables({"n": 1}),
            now=now,
            idempotency_key="set-1",
        )
        with db() as session:
            row = session.get(IdempotencyKey, ("set-1", SYSTEM.id))
            assert row is not None
            at = row.created_at
            return at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)

    assert set_n(NOW + 8 * DAY) == NOW + 8 * DAY
    assert set_n(NOW + 9 * DAY) == NOW + 8 * DAY  # replayed within the period
    assert set_n(NOW + 16 * DAY) == NOW + 16 * DAY  # a new request after it


def test_off_remembers_keys_for_ever(
    db: sessionmaker[Session], keep: Callable[[str | None], None]
) -> None:
    keep("off")
    assert idempotency.kept_for() is None
    action = Counter()
    once = {"actor": ALICE, "key": "k", "request": {"op": "x"}, "action": action}
    assert idempotency.once(db, now=NOW, **once) == {"n": 1}
    assert idempotency.once(db, now=NOW + 3650 * DAY, **once) == {"n": 1}
    assert action.calls == 1


def test_the_period_comes_from_the_environment(
    db: sessionmaker[Session], keep: Callable[[str | None], None]
) -> None:
    assert idempotency.kept_for() == 7 * DAY
    keep("1h")
    assert idempotency.kept_for() == timedelta(hours=1)
    action = Counter()
    once = {"actor": ALICE, "key": "k", "request": {"op": "x"}, "action": action}
    idempotency.once(db, now=NOW, **once)
    assert idempotency.once(db, now=NOW + timedelta(minutes=59), **once) == {"n": 1}
    assert idempotency.once(db, now=NOW + timedelta(minutes=61), **once) == {"n": 2}


def test_a_bad_setting_keeps_keys_and_says_so(
    db: sessionmaker[Session], keep: Callable[[str | None], None], caplog: pytest.LogCaptureFixture
) -> None:
    keep("a week")
    with caplog.at_level(logging.ERROR, logger="casework.services.idempotency"):
        assert idempotency.kept_for() is None
    assert "CASEWORK_RETENTION_IDEMPOTENCY: 'a week' is not a duration" in caplog.text
    action = Counter()
    once = {"actor": ALICE, "key": "k", "request": {"op": "x"}, "action": action}
    idempotency.once(db, now=NOW, **once)
    assert idempotency.once(db, now=NOW + 365 * DAY, **once) == {"n": 1}


# --- the command line --------------------------------------------------------------------


def _cli(db_url: str, *args: str, env: dict[str, str] | None = None) -> Result:
    return runner.invoke(app, ["db", "prune", "--database-url", db_url, *args], env=env)


def _add_recent_keys(db: sessionmaker[Session], ages: dict[str, timedelta]) -> None:
    """Keys aged relative to the real clock, which the CLI reads."""
    real = datetime.now(UTC)
    _add_keys(db, {key: age + (NOW - real) for key, age in ages.items()})


def test_cli_prunes_keys(db_url: str, db: sessionmaker[Session]) -> None:
    _add_recent_keys(db, {"8d": 8 * DAY, "3d": 3 * DAY, "1h": timedelta(hours=1)})
    result = _cli(db_url)
    assert result.exit_code == 0, result.output
    [line] = result.stdout.splitlines()
    assert "deleted 0 jobs, 0 webhook deliveries, 1 idempotency keys and 0 notifications" in line
    assert "keys before " in line
    assert _keys(db) == {"3d", "1h"}

    result = _cli(db_url, "--idempotency-after", "2d", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["deleted"] == _counts(keys=1) and out["total"] == 1
    keys_before = datetime.fromisoformat(out["idempotency_before"])
    assert timedelta(0) <= datetime.now(UTC) - 2 * DAY - keys_before < timedelta(minutes=5)
    assert _keys(db) == {"1h"}

    result = _cli(db_url, "--idempotency-after", "off", "--done-after", "1d", "--json")
    assert json.loads(result.stdout)["idempotency_before"] is None


def test_cli_takes_the_period_from_the_environment(db_url: str, db: sessionmaker[Session]) -> None:
    _add_recent_keys(db, {"3d": 3 * DAY, "30d": 30 * DAY})
    result = _cli(db_url, "--json", env={retention.IDEMPOTENCY_ENV: "off"})
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["deleted"] == _counts()
    result = _cli(db_url, "--json", env={retention.IDEMPOTENCY_ENV: "2d"})
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["deleted"] == _counts(keys=2)


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--idempotency-after", "7x"], None, "--idempotency-after: '7x' is not a duration"),
        (["--idempotency-after", "0s"], None, "--idempotency-after: must be longer than zero"),
        (["--idempotency-after", "99999d"], None, "--idempotency-after: at most 36500d"),
        ([], {retention.IDEMPOTENCY_ENV: "soon"}, "--idempotency-after: 'soon' is not a"),
    ],
)
def test_cli_rejects_bad_periods_in_one_line(
    db_url: str,
    db: sessionmaker[Session],
    args: list[str],
    env: dict[str, str] | None,
    message: str,
) -> None:
    _add_recent_keys(db, {"100d": 100 * DAY})
    result = _cli(db_url, *args, env=env)
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    assert message in result.stderr and "Traceback" not in result.output
    assert _keys(db) == {"100d"}  # nothing was deleted


# --- the worker's housekeeping -----------------------------------------------------------


def test_housekeeping_prunes_keys(
    db: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(retention.DONE_ENV, "off")
    monkeypatch.setenv(retention.FAILED_ENV, "off")
    monkeypatch.setenv(retention.IDEMPOTENCY_ENV, "2d")
    worker = Worker(db, name="w1", clock=Clock(NOW))
    assert worker.retention == Retention(None, None, 2 * DAY) and worker.retention.enabled
    _add_keys(db, {"3d": 3 * DAY, "1d": DAY})
    result = worker.housekeeping()
    assert result is not None and result.deleted == _counts(keys=1)
    assert _keys(db) == {"1d"}


def test_housekeeping_keeps_keys_when_off(
    db: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(retention.DONE_ENV, raising=False)
    monkeypatch.setenv(retention.IDEMPOTENCY_ENV, "off")
    worker = Worker(db, name="w1", clock=Clock(NOW))
    _add_keys(db, {"1y": 365 * DAY})
    result = worker.housekeeping()
    assert result is not None and result.deleted == _counts()
    assert _keys(db) == {"1y"}


def test_a_bad_setting_stops_the_worker(
    db: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(retention.IDEMPOTENCY_ENV, "a week")
    with pytest.raises(ValueError, match="CASEWORK_RETENTION_IDEMPOTENCY: 'a week'"):
        Worker(db, name="w1", clock=Clock(NOW))
