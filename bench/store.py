"""Store benchmark: durable case steps and the inbox query on SQLite and PostgreSQL.

Every figure is printed beside its FLOOR, measured in the same run on the same database:
what the database itself does for the same shape of work, in plain SQL (sqlite3 /
psycopg, no SQLAlchemy, no engine). Durable settings throughout: SQLite in WAL mode with
synchronous=FULL (`make_engine`'s default), PostgreSQL with synchronous_commit on (the
server default; checked and printed).

Workloads:

  floor  a "case step" in plain SQL: one transaction with two indexed UPDATEs (the case
         row by key, one plan item row by key) and two INSERTs (two events), then
         COMMIT; on tables created by our own migrations, in a database of their own.
         1 connection (both databases), 8 concurrent connections in threads (PostgreSQL).
  (1)    open a case of a 3-task sequential YAML case type and complete its 3 tasks
         through `casework.services.cases` (open_case + 3 x run_command, one commit per
         command): case steps (commands) per second, 1 connection (both databases) and
         8 threads each on its own cases (PostgreSQL). Goals: >= 50 % of the floor with
         1 connection, >= 40 % with 8.
  (2)    1M open tasks in 20 role queues (50k with --quick), rows bulk-loaded directly
         (cases of a deployed 5-task type, each with the engine state of a new case);
         threads claim the best task of a random queue with `services.work.claim_next`
         (SELECT ... JOIN cases ... FOR UPDATE SKIP LOCKED LIMIT 1, then the ClaimTask
         command: a TaskAssigned event, the engine state, the assignee; one transaction)
         and complete it in a second one: claims per second with 1, 8 and 32 connections
         (PostgreSQL; SQLite 1), beside a floor claiming with a bare UPDATE of the
         assignee and completing in plain SQL. Zero double claims checked after every
         run. Goal: >= 50 % of the floor.
  (3)    the inbox page of one user: 50 `plan_items` rows (assignee = user, state =
         'active', by priority then due_at) with 10k and 1M cases stored (10k and 100k
         with --quick), rows bulk-loaded directly; SQLAlchemy Core select, 200 samples,
         p50/p95, both sizes timed in alternating rounds (each size's best round
         counts). Goals: p95 < 20 ms at 1M cases and at most 1.5x the 10k figure.
  (4)    100k cases (5k with --quick) each with a due timer job (one case opened through
         the services, cloned in bulk), fired by 1 and 2 worker processes (spawned, each
         `Worker.run_once()` until nothing is left; SQLite 1 process): jobs per second
         beside the case step floor with as many connections. Each case's timer must fire
         exactly once. Goal: >= 30 % of the floor. Then (PostgreSQL) kill -9 one of 2
         workers mid-run; the other and a restarted one finish after the (5 s) lease:
         no job lost, none fired twice.

Rates are the best of several rounds; each round measures the floor and then the
workload back to back, so both see the same machine load. The 1-minute load average is
printed with every round: figures taken on a loaded machine are only indicative.

    .venv/bin/python bench/store.py --quick                  # both databases, ~1 minute
    .venv/bin/python bench/store.py --db sqlite --quick
    .venv/bin/python bench/store.py --json out.json          # full run, 1M cases
    .venv/bin/python bench/store.py --quick --only 2         # one workload: 1, 2, 3 or 4
    .venv/bin/python bench/store.py --profile                # cProfile of (1), SQLite

PostgreSQL: CASEWORK_BENCH_POSTGRES_URL (default postgresql+psycopg://postgres@127.0.0.1
:5432/test). Everything goes in schemas `bench_<random>` that are dropped at the end;
SQLite files go in a temporary directory that is removed at the end.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import io
import json
import multiprocessing
import os
import platform
import pstats
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from queue import Empty
from typing import Any, NamedTuple

import psycopg
from sqlalchemy import Engine, bindparam, make_url, select, text
from sqlalchemy.orm import Session, sessionmaker

from casework.engine import CaseEngine
from casework.engine import commands as c
from casework.engine.serialize import dump_state
from casework.model.yaml_loader import load_yaml
from casework.services import case_types, cases, queries, search, work
from casework.services.actors import SYSTEM, Actor
from casework.services.audit import GENESIS, event_hash
from casework.services.transactions import holding
from casework.store.db import SQLITE_CACHE_KIB, make_engine, session_factory
from casework.store.direct import DirectStatement
from casework.store.migrate import upgrade
from casework.store.tables import INBOX_WHERE, Case, CaseEvent, Job, PlanItemRow, table_of
from casework.worker import Worker
from machine_info import basics

PG_URL = os.environ.get(
    "CASEWORK_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)

GOAL_1CONN = 0.50  # workload (1) at least 50 % of the floor with 1 connection
GOAL_8CONN = 0.40  # ... and 40 % with 8
GOAL_INBOX_P95_MS = 20.0  # workload (3): p95 under 20 ms at the largest size
GOAL_INBOX_GROWTH = 1.5  # ... and at most 1.5x the 10k figure
GOAL_CLAIMS = 0.50  # workload (2): claim_next at least 50 % of the raw SKIP LOCKED claim
GOAL_TIMERS = 0.30  # workload (4): timer jobs at least 30 % of the case step floor
INBOX_PAGE = 50
INBOX_SAMPLES = 200
ACTIVE_PER_USER = 300  # "a few hundred active tasks per user"

SEQ3 = """
id: bench_seq3
name: Three steps
plan:
  items:
    - task: Step one
    - task: Step two
      after: Step one
    - task: Step three
      after: Step two
"""
TASKS = ("step_one", "step_two", "step_three")


@dataclass(frozen=True)
class Config:
    rounds: int  # floor + workload rounds; the best round counts
    seconds: float  # length of each timed run
    inbox_sizes: tuple[int, ...]  # cases stored for (3)
    queue_tasks: int  # open tasks in the queues of (2)
    timer_jobs: int  # due timer jobs fired in (4)
    crash_jobs: int  # due timer jobs in (4)'s kill -9 run
    threads: int = 8
    claim_threads: tuple[int, ...] = (1, 8, 32)  # (2) on PostgreSQL


FULL = Config(
    rounds=3,
    seconds=5.0,
    inbox_sizes=(10_000, 1_000_000),
    queue_tasks=1_000_000,
    timer_jobs=100_000,
    crash_jobs=20_000,
)
QUICK = Config(
    rounds=2,
    seconds=2.0,
    inbox_sizes=(10_000, 100_000),
    queue_tasks=50_000,
    timer_jobs=5_000,
    crash_jobs=2_000,
)


@dataclass
class Results:
    machine: dict[str, Any]
    config: dict[str, Any]
    figures: dict[str, dict[str, Any]] = field(default_factory=dict)
    loads: list[float] = field(default_factory=list)


def load1() -> float:
    return os.getloadavg()[0]


def machine() -> dict[str, Any]:
    return {
        **basics(),
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
    }


# --- databases -------------------------------------------------------------------------


@dataclass
class Target:
    """One database to measure on: SQLAlchemy URLs and raw connections for the floor."""

    kind: str  # sqlite | postgresql
    workdir: Path
    schemas: list[str] = field(default_factory=list)

    def new_db(self, name: str) -> str:
        """A fresh, migrated database (SQLite file or PostgreSQL schema): its URL."""
        if self.kind == "sqlite":
            url = f"sqlite:///{self.workdir / (name + '.db')}"
        else:
            schema = f"bench_{name}_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(pg_conninfo(), autocommit=True) as conn:
                conn.execute(f'CREATE SCHEMA "{schema}"')
            self.schemas.append(schema)
            url = (
                make_url(PG_URL)
                .update_query_dict({"options": f"-csearch_path={schema}"})
                .render_as_string(hide_password=False)
            )
        upgrade(url)
        return url

    def raw(self, url: str) -> Any:
        """A plain DB-API connection (no SQLAlchemy) with the application's settings."""
        if self.kind == "sqlite":
            conn = sqlite3.connect(make_url(url).database or "", isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
            return conn
        options = make_url(url).query["options"]
        return psycopg.connect(pg_conninfo(), options=options)

    def drop(self) -> None:
        if not self.schemas:
            return
        with psycopg.connect(pg_conninfo(), autocommit=True) as conn:
            conn.execute("SET lock_timeout = '20s'")
            for schema in self.schemas:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        self.schemas.clear()


def pg_conninfo() -> str:
    return make_url(PG_URL).set(drivername="postgresql").render_as_string(hide_password=False)


def pg_available() -> str | None:
    try:
        with psycopg.connect(pg_conninfo(), connect_timeout=5) as conn:
            setting = conn.execute("SHOW synchronous_commit").fetchone()
            fsync = conn.execute("SHOW fsync").fetchone()
        assert setting is not None and fsync is not None
        if setting[0] != "on" or fsync[0] != "on":
            return f"not durable: synchronous_commit={setting[0]}, fsync={fsync[0]}"
        return None
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0]


# --- the floor: a case step in plain SQL -----------------------------------------------

_ITEMS = [[f"pi-{i}", "step", "active", 1] for i in range(1, 6)]
STATE = json.dumps({"v": 1, "items": _ITEMS, "pad": "x" * 180})  # ~ a real 3-task state
PAYLOAD = json.dumps(
    {"instance_id": "pi-2", "item_id": "step_one", "transition": "complete", "to": "completed"}
)
HASH = "f" * 64


def sqlite_time(value: datetime) -> str:
    """A datetime as SQLAlchemy stores it in SQLite (naive text, microseconds)."""
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")


def floor_setup(target: Target, url: str, n_cases: int) -> None:
    """n_cases case rows with one plan item each: the rows the floor's steps update."""
    conn = target.raw(url)
    ph = "?" if target.kind == "sqlite" else "%s"
    now: Any = datetime.now(UTC)
    if target.kind == "sqlite":
        now = sqlite_time(now)
    case_rows = [
        (f"F-{i:08d}", "bench", 1, "floor case", "active", 3, now, now, "{}", STATE, 1, 0, HASH)
        for i in range(n_cases)
    ]
    item_rows = [
        (f"F-{i:08d}", "pi-2", "step_one", "Step one", "human_task", "active", 3, now, now)
        for i in range(n_cases)
    ]
    cur = conn.cursor()
    if target.kind == "sqlite":
        cur.execute("BEGIN IMMEDIATE")
    cur.executemany(
        "INSERT INTO cases (id, type_id, type_version, title, status, priority, opened_at, "
        "updated_at, data, state, version, last_seq, last_hash) VALUES "
        f"({', '.join([ph] * 13)})",
        case_rows,
    )
    cur.executemany(
        "INSERT INTO plan_items (case_id, instance_id, item_id, name, kind, state, priority, "
        f"created_at, updated_at) VALUES ({', '.join([ph] * 9)})",
        item_rows,
    )
    if target.kind == "sqlite":
        cur.execute("COMMIT")
    else:
        conn.commit()
    conn.close()


def floor_worker(
    target: Target, url: str, first: int, count: int, deadline: float, out: list[int]
) -> None:
    """Case steps in plain SQL on cases first..first+count-1, round robin, until deadline."""
    conn = target.raw(url)
    cur = conn.cursor()
    ph = "?" if target.kind == "sqlite" else "%s"
    sqlite = target.kind == "sqlite"
    upd_case = (
        f"UPDATE cases SET state = {ph}, updated_at = {ph}, version = version + 1, "
        f"last_seq = last_seq + 2, last_hash = {ph} WHERE id = {ph}"
    )
    upd_item = (
        f"UPDATE plan_items SET state = {ph}, updated_at = {ph} "
        f"WHERE case_id = {ph} AND instance_id = {ph}"
    )
    ins_event = (
        "INSERT INTO case_events (case_id, seq, type, payload, actor, at, hash) "
        f"VALUES ({', '.join([ph] * 7)})"
    )
    ids = [f"F-{first + k:08d}" for k in range(count)]
    cur.execute(
        f"SELECT id, last_seq FROM cases WHERE id >= {ph} AND id <= {ph}", (ids[0], ids[-1])
    )
    last = dict(cur.fetchall())
    seqs = [last[i] for i in ids]
    if not sqlite:
        conn.commit()
    steps = 0
    while time.perf_counter() < deadline:
        k = steps % count
        case_id = ids[k]
        seq = seqs[k]
        now: Any = datetime.now(UTC)
        if sqlite:
            now = sqlite_time(now)
            cur.execute("BEGIN IMMEDIATE")
        cur.execute(upd_case, (STATE, now, HASH, case_id))
        cur.execute(upd_item, ("active" if steps % 2 else "completed", now, case_id, "pi-2"))
        cur.execute(ins_event, (case_id, seq + 1, "PlanItemTransitioned", PAYLOAD, "u", now, HASH))
        cur.execute(ins_event, (case_id, seq + 2, "PlanItemTransitioned", PAYLOAD, "u", now, HASH))
        if sqlite:
            cur.execute("COMMIT")
        else:
            conn.commit()
        seqs[k] = seq + 2
        steps += 1
    conn.close()
    out.append(steps)


def run_threads(n: int, seconds: float, work: Callable[[int, float, list[int]], None]) -> float:
    """Run work(i, deadline, out) in n threads; total count appended to out, per second."""
    out: list[int] = []
    start = time.perf_counter()
    deadline = start + seconds
    threads = [threading.Thread(target=work, args=(i, deadline, out)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if len(out) != n:
        raise RuntimeError(f"{n - len(out)} of {n} benchmark threads failed")
    return sum(out) / elapsed


def floor_rate(target: Target, url: str, threads: int, seconds: float) -> float:
    per_thread = 200

    def work(i: int, deadline: float, out: list[int]) -> None:
        floor_worker(target, url, i * per_thread, per_thread, deadline, out)

    return run_threads(threads, seconds, work)


# --- workload (1): case steps through the services -------------------------------------


def case_worker(db: sessionmaker[Session], i: int, deadline: float, out: list[int]) -> None:
    """Open a case and complete its 3 tasks, again and again, until the deadline: on the
    one connection the thread holds (as the worker holds one for a batch of jobs)."""
    with holding(db):
        out.append(case_steps(db, i, deadline))


def case_steps(db: sessionmaker[Session], i: int, deadline: float) -> int:
    actor = Actor(f"bench-user-{i}")
    steps = 0
    while time.perf_counter() < deadline:
        ref = cases.open_case(db, actor=actor, type_id="bench_seq3", now=datetime.now(UTC))
        steps += 1
        for task in TASKS:
            if time.perf_counter() >= deadline:
                break
            cases.run_command(
                db,
                actor=actor,
                case_id=ref.case_id,
                command=c.CompletePlanItem(task),
                now=datetime.now(UTC),
            )
            steps += 1
    return steps


def services_db(url: str, threads: int) -> tuple[Engine, sessionmaker[Session]]:
    kwargs: dict[str, Any] = {}
    if not url.startswith("sqlite"):
        kwargs["pool_size"] = max(5, threads)  # one pooled connection per thread
    engine = make_engine(url, **kwargs)
    db = session_factory(engine)
    case_types.deploy(db, actor=SYSTEM, source=SEQ3, now=datetime.now(UTC))
    case_worker(db, 0, time.perf_counter() + 0.3, [])  # warm up: compile, fill the pool
    return engine, db


def services_rate(db: sessionmaker[Session], threads: int, seconds: float) -> float:
    return run_threads(threads, seconds, lambda i, d, out: case_worker(db, i, d, out))


def case_worker_process(url: str, i: int, start_wall: float, seconds: float, q: Any) -> None:
    """One process of the multi-process variant: its own engine and pool, one connection;
    starts at `start_wall` (wall clock, shared by all processes) and runs `seconds`."""
    engine = make_engine(url)
    db = session_factory(engine)
    case_worker(db, 1000 + i, time.perf_counter() + 0.2, [])  # warm up: compile, connect
    time.sleep(max(0.0, start_wall - time.time()))
    out: list[int] = []
    case_worker(db, i, time.perf_counter() + seconds, out)
    q.put(out[0])
    engine.dispose()


def services_rate_processes(url: str, n: int, seconds: float) -> float:
    """Case steps per second from n processes, as n API worker processes would run."""
    ctx = multiprocessing.get_context("spawn")
    q = ctx.Queue()
    start_wall = time.time() + 3.0  # room for the processes to spawn and warm up
    procs = [
        ctx.Process(target=case_worker_process, args=(url, i, start_wall, seconds, q))
        for i in range(n)
    ]
    for proc in procs:
        proc.start()
    counts = [q.get(timeout=seconds + 60) for _ in procs]
    for proc in procs:
        proc.join(30)
    return sum(counts) / seconds


def workload_1(target: Target, cfg: Config, res: Results) -> None:
    thread_counts = (1, cfg.threads) if target.kind == "postgresql" else (1,)
    floor_url = target.new_db("floor")
    floor_setup(target, floor_url, 200 * max(thread_counts))
    for n in thread_counts:
        url = target.new_db(f"w1_{n}")
        engine, db = services_db(url, n)
        floors, rates = [], []
        for r in range(cfg.rounds):
            floors.append(floor_rate(target, floor_url, n, cfg.seconds))
            rates.append(services_rate(db, n, cfg.seconds))
            res.loads.append(load1())
            print(
                f"    round {r + 1}: floor {floors[-1]:,.0f}  services {rates[-1]:,.0f} steps/s"
                f"  (load {res.loads[-1]:.1f})",
                flush=True,
            )
        index_backlog(target, db, res, n)
        engine.dispose()
        floor, rate = max(floors), max(rates)
        goal = GOAL_1CONN if n == 1 else GOAL_8CONN
        share = rate / floor
        key = f"{target.kind}.w1.{n}conn"
        res.figures[key] = {
            "steps_per_s": round(rate),
            "floor_steps_per_s": round(floor),
            "share_of_floor": round(share, 3),
            "goal": goal,
            "pass": share >= goal,
            "rounds_services": [round(x) for x in rates],
            "rounds_floor": [round(x) for x in floors],
        }
        verdict = "PASS" if share >= goal else "FAIL"
        print(
            f"  (1) {target.kind} {n} conn: {rate:,.0f} steps/s, floor {floor:,.0f} steps/s "
            f"-> {share:.0%} of floor (goal >= {goal:.0%}: {verdict})",
            flush=True,
        )
        if n > 1:
            # The same n connections from n processes (how API workers are deployed):
            # Python threads share one interpreter lock, processes use every core.
            proc_rates = []
            for _ in range(cfg.rounds):
                proc_rates.append(services_rate_processes(url, n, cfg.seconds))
            prate = max(proc_rates)
            pshare = prate / floor
            res.figures[f"{target.kind}.w1.{n}proc"] = {
                "steps_per_s": round(prate),
                "floor_steps_per_s": round(floor),
                "share_of_floor": round(pshare, 3),
                "goal": goal,
                "pass": pshare >= goal,
            }
            pverdict = "PASS" if pshare >= goal else "FAIL"
            print(
                f"  (1) {target.kind} {n} processes: {prate:,.0f} steps/s, floor "
                f"{floor:,.0f} steps/s -> {pshare:.0%} of floor (goal >= {goal:.0%}: "
                f"{pverdict})",
                flush=True,
            )


def index_backlog(target: Target, db: sessionmaker[Session], res: Results, n: int) -> None:
    """The search documents the opened cases left to batches (services.search): rebuilt
    here as the worker would, timed, so what moved out of the commands is on record."""
    with db() as session:
        backlog = search.pending_count(session)
    start = time.perf_counter()
    indexed = search.index_pending(db)
    elapsed = time.perf_counter() - start
    per_case = elapsed / max(indexed, 1)
    res.figures[f"{target.kind}.w1.{n}conn.search_batches"] = {
        "cases": indexed,
        "us_per_case": round(per_case * 1e6, 1),
    }
    print(
        f"    search documents of {backlog:,} opened cases rebuilt in batches: "
        f"{per_case * 1e6:,.0f} us per case",
        flush=True,
    )


# --- workload (3): the inbox page ------------------------------------------------------

BASE_TIME = datetime(2026, 1, 1, tzinfo=UTC)


def synthetic_rows(n_cases: int, seed: int = 7) -> Iterator[tuple[tuple[Any, ...], list[Any]]]:
    """(case row, plan item rows) for n_cases 3-task cases.

    40 % of cases completed, the rest at step 1, 2 or 3; each case has its plan model row
    (a stage) and three task rows. Active tasks: 85 % assigned to one of
    n_active / ACTIVE_PER_USER users, 15 % waiting unassigned in one of 20 role queues;
    completed tasks keep the user who did them. Priority 1..5 (3 most common), due_at
    within +-30 days (10 % none).
    """
    rnd = random.Random(seed)
    n_users = max(1, round(n_cases * 0.6 * 0.85 / ACTIVE_PER_USER))
    users = [f"user{u:05d}" for u in range(n_users)]
    roles = [f"role{r:02d}" for r in range(20)]
    names = ("Step one", "Step two", "Step three")
    for i in range(n_cases):
        case_id = f"S-{i:010d}"
        opened = BASE_TIME - timedelta(minutes=rnd.randrange(0, 525_600))
        priority = rnd.choices((1, 2, 3, 4, 5), (1, 2, 5, 2, 1))[0]
        done = rnd.random() < 0.4
        current = 3 if done else rnd.randrange(0, 3)
        status = "completed" if done else "active"
        case_row = (
            case_id,
            "bench_seq3",
            1,
            f"Synthetic case {i}",
            status,
            None if done else "Three steps",
            priority,
            opened,
            opened if done else None,
            opened,
            json.dumps({"amount": rnd.randrange(100, 10_000)}),
            STATE,
            4,
            14,
            HASH,
        )
        items: list[Any] = [
            (
                case_id,
                "pi-1",
                "casePlanModel",
                None,
                "Three steps",
                "stage",
                status,
                None,
                None,
                priority,
                None,
                opened,
                opened,
            ),
        ]
        for k in range(3):
            assignee = role = None
            due = None
            if k < current:
                state = "completed"
                assignee = rnd.choice(users)
            elif k == current:
                state = "active"
                if rnd.random() < 0.85:
                    assignee = rnd.choice(users)
                else:
                    role = rnd.choice(roles)
                if rnd.random() < 0.9:
                    due = BASE_TIME + timedelta(minutes=rnd.randrange(-43_200, 43_200))
            else:
                state = "available"
            items.append(
                (
                    case_id,
                    f"pi-{k + 2}",
                    TASKS[k],
                    "pi-1",
                    names[k],
                    "human_task",
                    state,
                    role,
                    assignee,
                    priority,
                    due,
                    opened,
                    opened,
                )
            )
        yield case_row, items


CASE_COLS = (
    "id, type_id, type_version, title, status, stage, priority, opened_at, closed_at, "
    "updated_at, data, state, version, last_seq, last_hash"
)
ITEM_COLS = (
    "case_id, instance_id, item_id, parent_id, name, kind, state, role, assignee, priority, "
    "due_at, created_at, updated_at"
)


def populate(target: Target, url: str, n_cases: int) -> float:
    """Bulk-load n_cases synthetic cases (COPY / executemany); seconds taken."""
    start = time.perf_counter()
    conn = target.raw(url)
    batch = 20_000
    if target.kind == "sqlite":
        conn.execute("PRAGMA synchronous=OFF")  # loading only; the query timing is unaffected
        conn.execute("BEGIN")
        cases_buf: list[Any] = []
        items_buf: list[Any] = []

        def flush() -> None:
            conn.executemany(
                f"INSERT INTO cases ({CASE_COLS}) VALUES ({','.join('?' * 15)})", cases_buf
            )
            conn.executemany(
                f"INSERT INTO plan_items ({ITEM_COLS}) VALUES ({','.join('?' * 13)})", items_buf
            )
            cases_buf.clear()
            items_buf.clear()

        def fix(row: tuple[Any, ...]) -> tuple[Any, ...]:
            return tuple(sqlite_time(v) if isinstance(v, datetime) else v for v in row)

        for case_row, items in synthetic_rows(n_cases):
            cases_buf.append(fix(case_row))
            items_buf.extend(fix(item) for item in items)
            if len(cases_buf) >= batch:
                flush()
        flush()
        conn.execute("COMMIT")
        conn.execute("ANALYZE")
    else:
        rows = list(synthetic_rows(n_cases))
        with conn.cursor() as cur:
            with cur.copy(f"COPY cases ({CASE_COLS}) FROM STDIN") as copy:
                for case_row, _ in rows:
                    copy.write_row(case_row)
            with cur.copy(f"COPY plan_items ({ITEM_COLS}) FROM STDIN") as copy:
                for _, items in rows:
                    for item in items:
                        copy.write_row(item)
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE cases")
        conn.execute("VACUUM ANALYZE plan_items")
    conn.close()
    return time.perf_counter() - start


def inbox_query(user: str) -> Any:
    """The inbox as `services.work.inbox` reads it: the partial index's own condition,
    spelled literally, so both databases read the page from `ix_plan_items_inbox`."""
    t = PlanItemRow.__table__
    return (
        select(t)
        .where(t.c.assignee == user, text(INBOX_WHERE))
        .order_by(t.c.priority, t.c.due_at)
        .limit(INBOX_PAGE)
    )


def explain(engine: Engine, user: str) -> str:
    sql = inbox_query(user).compile(engine, compile_kwargs={"literal_binds": True})
    prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(prefix + str(sql)).fetchall()
    return "; ".join(str(r[-1]) for r in rows)


def time_inbox(engine: Engine, users: list[str]) -> tuple[float, float, int]:
    """p50 and p95 in ms of the inbox query over INBOX_SAMPLES users, and rows per page."""
    samples = []
    rows = 0
    with engine.connect() as conn:
        for user in users[:20]:  # warm-up
            conn.execute(inbox_query(user)).all()
        for k in range(INBOX_SAMPLES):
            user = users[k % len(users)]
            t0 = time.perf_counter()
            page = conn.execute(inbox_query(user)).all()
            samples.append((time.perf_counter() - t0) * 1000)
            rows += len(page)
            conn.rollback()  # as a request would: one short read transaction each
    cuts = statistics.quantiles(samples, n=100)
    return cuts[49], cuts[94], rows // INBOX_SAMPLES


CASE_LISTS: dict[str, dict[str, Any]] = {
    "newest": {},
    "active": {"status": "active"},
    "type+active": {"type_id": "bench_seq3", "status": "active"},
}


def time_case_lists(engine: Engine) -> dict[str, float]:
    """p95 in ms of a page of 50 cases as `GET /cases` reads it (`queries.list_cases`, an
    admin): newest first, of all cases, of a status, of a type and status, and the page
    after a page (the cursor), over 60 samples each."""
    db = session_factory(engine)
    admin = Actor("bench-admin", is_admin=True)
    out: dict[str, float] = {}
    for name, kwargs in CASE_LISTS.items():
        samples = []
        for k in range(65):
            with db() as session:
                t0 = time.perf_counter()
                page = queries.list_cases(session, actor=admin, **kwargs)
                if name == "newest" and page.next_cursor:
                    # the page after it too: a seek in the index, not a sort
                    queries.list_cases(session, actor=admin, cursor=page.next_cursor)
                if k >= 5:  # the first few warm the caches
                    samples.append((time.perf_counter() - t0) * 1000)
        out[name] = statistics.quantiles(samples, n=100)[94]
    return out


class InboxDb(NamedTuple):
    """One size of (3), loaded: what its timing rounds and its report need."""

    cases: int
    engine: Engine
    sample_users: list[str]
    plan_items: int
    users: int
    active: int
    load_seconds: float


def workload_3(target: Target, cfg: Config, res: Results) -> None:
    """Each size loaded once, then timed in alternating rounds (every size once per
    round), and each size's best round counts: a p95 of a few tenths of a millisecond
    moves with any other load on the machine, and the growth goal compares two of them."""
    loaded: list[InboxDb] = []
    for n_cases in cfg.inbox_sizes:
        url = target.new_db(f"w3_{n_cases}")
        seconds = populate(target, url, n_cases)
        engine = make_engine(url)
        with engine.connect() as conn:
            n_items = conn.execute(text("SELECT count(*) FROM plan_items")).scalar_one()
            users = [
                r[0]
                for r in conn.execute(
                    text(
                        "SELECT assignee FROM plan_items WHERE state = 'active' AND assignee "
                        "IS NOT NULL GROUP BY assignee ORDER BY assignee"
                    )
                )
            ]
            active = conn.execute(
                text(
                    "SELECT count(*) FROM plan_items WHERE state = 'active' "
                    "AND assignee IS NOT NULL"
                )
            ).scalar_one()
        rnd = random.Random(11)
        sample_users = [rnd.choice(users) for _ in range(INBOX_SAMPLES)]
        loaded.append(InboxDb(n_cases, engine, sample_users, n_items, len(users), active, seconds))
    timings: dict[int, list[tuple[float, float, int]]] = {n: [] for n in cfg.inbox_sizes}
    for r in range(cfg.rounds):
        for db in loaded:
            timings[db.cases].append(time_inbox(db.engine, db.sample_users))
        res.loads.append(load1())
        print(
            f"    round {r + 1}: p95 "
            + ", ".join(f"{timings[n][-1][1]:.2f} ms at {n:,}" for n in cfg.inbox_sizes)
            + f"  (load {res.loads[-1]:.1f})",
            flush=True,
        )
    lists = {db.cases: time_case_lists(db.engine) for db in loaded}
    p95s = []
    for db in loaded:
        plan = explain(db.engine, db.sample_users[0])
        db.engine.dispose()
        p50, p95, page = min(timings[db.cases], key=lambda t: t[1])
        p95s.append(p95)
        per_user = db.active / db.users
        res.figures[f"{target.kind}.w3.{db.cases}"] = {
            "cases": db.cases,
            "plan_items": db.plan_items,
            "users": db.users,
            "active_per_user": round(per_user),
            "rows_per_page": page,
            "p50_ms": round(p50, 3),
            "p95_ms": round(p95, 3),
            "rounds_p95_ms": [round(t[1], 3) for t in timings[db.cases]],
            "load_s": round(db.load_seconds, 1),
            "plan": plan,
            "case_list_p95_ms": {k: round(v, 3) for k, v in lists[db.cases].items()},
        }
        print(
            f"  (3) {target.kind} {db.cases:,} cases ({db.plan_items:,} plan items, "
            f"{db.users:,} users, ~{per_user:.0f} active each; loaded in "
            f"{db.load_seconds:.0f} s): p50 {p50:.2f} ms, p95 {p95:.2f} ms, {page} rows/page\n"
            f"      plan: {plan}\n"
            f"      case list pages (GET /cases, 50 cases), p95: "
            + ", ".join(f"{k} {v:.2f} ms" for k, v in lists[db.cases].items()),
            flush=True,
        )
    growth = p95s[-1] / p95s[0]
    ok = p95s[-1] < GOAL_INBOX_P95_MS and growth <= GOAL_INBOX_GROWTH
    res.figures[f"{target.kind}.w3.goal"] = {
        "p95_largest_ms": round(p95s[-1], 3),
        "growth": round(growth, 2),
        "pass": ok,
    }
    print(
        f"  (3) {target.kind}: p95 {p95s[-1]:.2f} ms at {cfg.inbox_sizes[-1]:,} cases "
        f"(goal < {GOAL_INBOX_P95_MS:.0f} ms), {growth:.2f}x the {cfg.inbox_sizes[0]:,} "
        f"figure (goal <= {GOAL_INBOX_GROWTH}x): {'PASS' if ok else 'FAIL'}",
        flush=True,
    )


# --- bulk loading --------------------------------------------------------------------


def bulk_insert(
    target: Target, url: str, tables: list[tuple[str, str, list[tuple[Any, ...]]]]
) -> None:
    """Rows straight into tables (COPY on PostgreSQL, executemany on SQLite), then ANALYZE.

    `tables` holds (table, "col, col, ...", rows); values are Python values: dicts and
    lists become JSON text, datetimes UTC (naive text on SQLite, as SQLAlchemy stores them).
    """
    conn = target.raw(url)

    def cell(value: Any) -> Any:
        if isinstance(value, dict | list):
            return json.dumps(value)
        if target.kind == "sqlite" and isinstance(value, datetime):
            return sqlite_time(value.astimezone(UTC) if value.tzinfo else value)
        return value

    if target.kind == "sqlite":
        conn.execute("PRAGMA synchronous=OFF")  # loading only
        conn.execute("BEGIN")
        for table, cols, rows in tables:
            marks = ", ".join("?" * len(cols.split(",")))
            conn.executemany(
                f"INSERT INTO {table} ({cols}) VALUES ({marks})",
                (tuple(cell(v) for v in row) for row in rows),
            )
        conn.execute("COMMIT")
        conn.execute("ANALYZE")
    else:
        with conn.cursor() as cur:
            for table, cols, rows in tables:
                with cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(tuple(cell(v) for v in row))
        conn.commit()
        conn.autocommit = True
        for table, _, _ in tables:
            conn.execute(f"VACUUM ANALYZE {table}")
    conn.close()


# --- workload (2): claiming tasks from role queues ----------------------------------------

QUEUES = tuple(f"role{r:02d}" for r in range(20))
QUEUE_TASKS_PER_CASE = 5
CLAIM_PICK = (
    "SELECT case_id, instance_id FROM plan_items WHERE role = {ph} AND state = 'active' "
    "AND assignee IS NULL ORDER BY priority, due_at LIMIT 1"
)
CLAIM_ASSIGN = (
    "UPDATE plan_items SET assignee = {ph}, updated_at = {ph} WHERE case_id = {ph} AND "
    "instance_id = {ph} AND state = 'active' AND assignee IS NULL"
)
CLAIM_COMPLETE = (
    "UPDATE plan_items SET state = 'completed', updated_at = {ph} WHERE case_id = {ph} AND "
    "instance_id = {ph} AND state = 'active' AND assignee = {ph}"
)


# The queued cases' types: QUEUE_TYPE_COUNT types of QUEUE_TASKS_PER_CASE tasks, each
# task performed by its own role, so the 20 queues are the tasks of 4 case types (a task
# is in role R's queue because its definition says R, as in any real case type).
QUEUE_TYPE_COUNT = len(QUEUES) // QUEUE_TASKS_PER_CASE


def queue_type_id(t: int) -> str:
    return f"bench_queue_{t}"


def queue_role(t: int, k: int) -> str:
    return QUEUES[t * QUEUE_TASKS_PER_CASE + k]


def queue_type(t: int) -> str:
    tasks = "".join(
        f"    - task: task_{k}\n      role: {queue_role(t, k)}\n"
        for k in range(QUEUE_TASKS_PER_CASE)
    )
    return f"id: {queue_type_id(t)}\nname: Bench queue {t}\nplan:\n  items:\n{tasks}"


def queue_state(t: int) -> str:
    """The engine state of a new case of queue type t: its tasks pi-2.. active, unassigned."""
    engine = CaseEngine(load_yaml(queue_type(t)))
    state, _ = engine.start(BASE_TIME)
    return json.dumps(dump_state(state))


def queue_rows(n_tasks: int, seed: int = 5) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Cases of QUEUE_TASKS_PER_CASE active, unassigned tasks each, in 20 role queues.

    Priority 1..5 (3 most common), due_at within +-30 days (10 % none); every task open.
    """
    rnd = random.Random(seed)
    states = [queue_state(t) for t in range(QUEUE_TYPE_COUNT)]
    case_rows: list[tuple[Any, ...]] = []
    item_rows: list[tuple[Any, ...]] = []
    for i in range(-(-n_tasks // QUEUE_TASKS_PER_CASE)):
        case_id = f"Q-{i:010d}"
        t = rnd.randrange(QUEUE_TYPE_COUNT)
        opened = BASE_TIME - timedelta(minutes=rnd.randrange(0, 525_600))
        case_rows.append(
            (
                case_id,
                queue_type_id(t),
                1,
                f"Queued case {i}",
                "active",
                None,
                3,
                opened,
                None,
                opened,
                {},
                states[t],
                1,
                6,
                HASH,
            )
        )
        for k in range(min(QUEUE_TASKS_PER_CASE, n_tasks - i * QUEUE_TASKS_PER_CASE)):
            due = None
            if rnd.random() < 0.9:
                due = BASE_TIME + timedelta(minutes=rnd.randrange(-43_200, 43_200))
            item_rows.append(
                (
                    case_id,
                    f"pi-{k + 2}",
                    f"task_{k}",
                    "pi-1",
                    f"Task {k}",
                    "human_task",
                    "active",
                    queue_role(t, k),
                    None,
                    rnd.choices((1, 2, 3, 4, 5), (1, 2, 5, 2, 1))[0],
                    due,
                    opened,
                    opened,
                )
            )
    return case_rows, item_rows


def queue_reset(target: Target, url: str) -> None:
    """Every claimed task back in its queue (open, unassigned): the queue as loaded, its
    cases' engine states and logs too (claims are TaskAssigned events)."""
    conn = target.raw(url)
    now: Any = datetime.now(UTC)
    reset_cases = (
        "UPDATE cases SET state = {ph}, version = 1, last_seq = 6, last_hash = {ph} "
        "WHERE version > 1 AND type_id = {ph}"
    )
    resets = [(queue_state(t), HASH, queue_type_id(t)) for t in range(QUEUE_TYPE_COUNT)]
    if target.kind == "sqlite":
        conn.execute(
            "UPDATE plan_items SET state = 'active', assignee = NULL, updated_at = ? "
            "WHERE assignee IS NOT NULL",
            (sqlite_time(now),),
        )
        conn.executemany(reset_cases.format(ph="?"), resets)
        conn.execute("DELETE FROM case_events")
    else:
        conn.execute(
            "UPDATE plan_items SET state = 'active', assignee = NULL, updated_at = %s "
            "WHERE assignee IS NOT NULL",
            (now,),
        )
        conn.cursor().executemany(
            reset_cases.format(ph="%s").replace("state = %s", "state = %s::jsonb"), resets
        )
        conn.execute("DELETE FROM case_events")
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM plan_items")  # the next run starts without dead index entries
    conn.close()


class Claims:
    """What the workers say they claimed: every task must appear once per run."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.tasks: list[tuple[str, str]] = []
        self.dry = 0  # threads that found every queue empty

    def add(self, claimed: list[tuple[str, str]]) -> None:
        with self.lock:
            self.tasks.extend(claimed)


def pick_queue(rnd: random.Random, empty: set[str]) -> str | None:
    left = [q for q in QUEUES if q not in empty]
    return rnd.choice(left) if left else None


def raw_claim_worker(
    target: Target, url: str, i: int, deadline: float, out: list[int], claims: Claims
) -> None:
    """The floor: claim (SELECT ... FOR UPDATE SKIP LOCKED + UPDATE) and complete in SQL."""
    conn = target.raw(url)
    cur = conn.cursor()
    sqlite = target.kind == "sqlite"
    ph = "?" if sqlite else "%s"
    pick = CLAIM_PICK.format(ph=ph) + ("" if sqlite else " FOR UPDATE SKIP LOCKED")
    assign = CLAIM_ASSIGN.format(ph=ph)
    complete = CLAIM_COMPLETE.format(ph=ph)
    me = f"floor-clerk-{i}"
    rnd = random.Random(i)
    mine: list[tuple[str, str]] = []
    empty: set[str] = set()
    while time.perf_counter() < deadline:
        role = pick_queue(rnd, empty)
        if role is None:
            claims.dry += 1
            break
        now: Any = datetime.now(UTC)
        if sqlite:
            now = sqlite_time(now)
            cur.execute("BEGIN IMMEDIATE")
        cur.execute(pick, (role,))
        row = cur.fetchone()
        if row is not None:
            cur.execute(assign, (me, now, row[0], row[1]))
            if cur.rowcount != 1:
                raise RuntimeError(f"floor claim of {row} lost its race despite the lock")
        if sqlite:
            cur.execute("COMMIT")
        else:
            conn.commit()
        if row is None:
            empty.add(role)
            continue
        if sqlite:
            cur.execute("BEGIN IMMEDIATE")
        cur.execute(complete, (now, row[0], row[1], me))
        if cur.rowcount != 1:
            raise RuntimeError(f"task {row} was not {me}'s to complete: claimed twice?")
        if sqlite:
            cur.execute("COMMIT")
        else:
            conn.commit()
        mine.append((row[0], row[1]))
    conn.close()
    claims.add(mine)
    out.append(len(mine))


_PI = table_of(PlanItemRow)
# Run as the services run their writes (a DirectStatement: one DBAPI call).
COMPLETE_TASK = DirectStatement(
    _PI.update()
    .where(
        _PI.c.case_id == bindparam("b_case"),
        _PI.c.instance_id == bindparam("b_instance"),
        _PI.c.state == "active",
        _PI.c.assignee == bindparam("b_assignee"),
    )
    .values(state="completed", updated_at=bindparam("updated_at"))
)


def services_claim_worker(
    db: sessionmaker[Session], i: int, deadline: float, out: list[int], claims: Claims
) -> None:
    """`work.claim_next` (the "next task" button), then complete it in a second transaction,
    on the one connection the thread holds."""
    with holding(db):
        services_claims(db, i, deadline, out, claims)


def services_claims(
    db: sessionmaker[Session], i: int, deadline: float, out: list[int], claims: Claims
) -> None:
    actor = Actor(f"bench-clerk-{i}", roles=frozenset(QUEUES))
    rnd = random.Random(1000 + i)
    mine: list[tuple[str, str]] = []
    empty: set[str] = set()
    while time.perf_counter() < deadline:
        role = pick_queue(rnd, empty)
        if role is None:
            claims.dry += 1
            break
        task = work.claim_next(db, actor=actor, role=role, now=datetime.now(UTC))
        if task is None:
            empty.add(role)
            continue
        with cases.transaction(db) as conn:  # a Core connection, as the services write
            done = COMPLETE_TASK.execute(
                conn,
                {
                    "b_case": task.case_id,
                    "b_instance": task.instance_id,
                    "b_assignee": actor.id,
                    "updated_at": datetime.now(UTC),
                },
            )
            if done.rowcount != 1:
                raise RuntimeError(f"task {task} was not {actor.id}'s to complete: claimed twice?")
        mine.append((task.case_id, task.instance_id))
    claims.add(mine)
    out.append(len(mine))


def check_claims(target: Target, url: str, claims: Claims) -> int:
    """Double claims in one run: tasks reported twice, or a count the database disagrees with."""
    counts = Counter(claims.tasks)
    doubles = sum(1 for n in counts.values() if n > 1)
    conn = target.raw(url)
    cur = conn.cursor()
    cur.execute("SELECT count(*) FROM plan_items WHERE state = 'completed'")
    (completed,) = cur.fetchone()
    cur.execute("SELECT count(*) FROM plan_items WHERE state = 'active' AND assignee IS NOT NULL")
    (dangling,) = cur.fetchone()
    conn.close()
    if completed != len(counts) or dangling:
        raise RuntimeError(
            f"claims disagree with the database: {len(claims.tasks)} reported "
            f"({len(counts)} distinct), {completed} completed, {dangling} assigned but open"
        )
    return doubles


def claim_run(
    target: Target, url: str, n: int, seconds: float, work_fn: Callable[..., None]
) -> tuple[float, int, int]:
    """One timed run of n claiming threads on a full queue: claims/s, claims, doubles."""
    queue_reset(target, url)
    claims = Claims()
    rate = run_threads(n, seconds, lambda i, d, out: work_fn(i, d, out, claims))
    doubles = check_claims(target, url, claims)
    if claims.dry:
        print(f"    WARNING: {claims.dry} thread(s) emptied every queue: load more tasks")
    return rate, len(claims.tasks), doubles


def workload_2(target: Target, cfg: Config, res: Results) -> None:
    thread_counts = cfg.claim_threads if target.kind == "postgresql" else (1,)
    url = target.new_db("w2")
    start = time.perf_counter()
    deploying = make_engine(url)
    for t in range(QUEUE_TYPE_COUNT):
        case_types.deploy(
            session_factory(deploying), actor=SYSTEM, source=queue_type(t), now=BASE_TIME
        )
    deploying.dispose()
    case_rows, item_rows = queue_rows(cfg.queue_tasks)
    bulk_insert(
        target, url, [("cases", CASE_COLS, case_rows), ("plan_items", ITEM_COLS, item_rows)]
    )
    print(
        f"  (2) {target.kind}: {len(item_rows):,} open tasks in {len(QUEUES)} queues "
        f"({len(case_rows):,} cases) loaded in {time.perf_counter() - start:.0f} s",
        flush=True,
    )
    del case_rows, item_rows
    for n in thread_counts:
        kwargs: dict[str, Any] = {}
        if target.kind == "postgresql":
            kwargs.update(pool_size=max(5, n), max_overflow=0)
        engine = make_engine(url, **kwargs)
        db = session_factory(engine)
        floors, rates, total, doubles = [], [], 0, 0
        for r in range(cfg.rounds):
            floor, claimed_f, doubles_f = claim_run(
                target,
                url,
                n,
                cfg.seconds,
                functools.partial(raw_claim_worker, target, url),
            )
            rate, claimed_s, doubles_s = claim_run(
                target,
                url,
                n,
                cfg.seconds,
                functools.partial(services_claim_worker, db),
            )
            floors.append(floor)
            rates.append(rate)
            total += claimed_f + claimed_s
            doubles += doubles_f + doubles_s
            res.loads.append(load1())
            print(
                f"    round {r + 1}: floor {floor:,.0f}  claim_next {rate:,.0f} claims/s"
                f"  (load {res.loads[-1]:.1f})",
                flush=True,
            )
        engine.dispose()
        floor, rate = max(floors), max(rates)
        share = rate / floor
        ok = share >= GOAL_CLAIMS and doubles == 0
        res.figures[f"{target.kind}.w2.{n}conn"] = {
            "claims_per_s": round(rate),
            "floor_claims_per_s": round(floor),
            "share_of_floor": round(share, 3),
            "goal": GOAL_CLAIMS,
            "double_claims": doubles,
            "claims_checked": total,
            "pass": ok,
            "rounds_services": [round(x) for x in rates],
            "rounds_floor": [round(x) for x in floors],
        }
        print(
            f"  (2) {target.kind} {n} conn: {rate:,.0f} claims/s, floor {floor:,.0f} claims/s "
            f"-> {share:.0%} of floor (goal >= {GOAL_CLAIMS:.0%}); {doubles} double claims in "
            f"{total:,} checked: {'PASS' if ok else 'FAIL'}",
            flush=True,
        )
    queue_reset(target, url)


# --- workload (4): due timers fired by worker processes ----------------------------------

TIMED = """
id: bench_timed
name: Timed
plan:
  items:
    - timer: Wait
      after: PT1H
    - task: Follow up
      after: Wait
"""
TIMER_LEASE = timedelta(seconds=60)
CRASH_LEASE = timedelta(seconds=5)


def timer_cases(target: Target, url: str, n_cases: int) -> None:
    """n_cases cases of TIMED, each with its timer job due an hour ago.

    One case is opened through the services; its rows (case, plan items, events, job) are
    read back and cloned under new ids, with the case id inside the engine state and the
    events replaced and the event hash chain recomputed, so every clone is a valid case.
    """
    engine = make_engine(url)
    db = session_factory(engine)
    opened = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    case_types.deploy(db, actor=SYSTEM, source=TIMED, now=opened)
    first = "W-00000000"
    cases.open_case(db, actor=SYSTEM, type_id="bench_timed", now=opened, case_id=first)
    with engine.connect() as conn:

        def rows(model: Any, order: Any) -> list[dict[str, Any]]:
            t = table_of(model)
            return [
                dict(r._mapping)
                for r in conn.execute(select(t).where(t.c.case_id == first).order_by(order))
            ]

        case = dict(conn.execute(select(table_of(Case)).where(Case.id == first)).one()._mapping)
        items = rows(PlanItemRow, PlanItemRow.instance_id)
        events = rows(CaseEvent, CaseEvent.seq)
        [job] = rows(Job, Job.id)
    engine.dispose()

    def utc(value: datetime) -> datetime:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value

    case_cols = list(case)
    item_cols = list(items[0])
    event_cols = list(events[0])
    job_cols = [k for k in job if k != "id"]
    new_cases: list[tuple[Any, ...]] = []
    new_items: list[tuple[Any, ...]] = []
    new_events: list[tuple[Any, ...]] = []
    new_jobs: list[tuple[Any, ...]] = []
    for i in range(1, n_cases):
        cid = f"W-{i:08d}"
        prev = GENESIS
        for ev in events:
            payload = dict(ev["payload"])
            if payload.get("case_id") == first:
                payload["case_id"] = cid
            prev = event_hash(prev, cid, ev["seq"], ev["type"], payload, ev["actor"], utc(ev["at"]))
            new_events.append(
                tuple(
                    {**ev, "case_id": cid, "payload": payload, "hash": prev}[k] for k in event_cols
                )
            )
        state = {**case["state"], "case_id": cid}
        row = {**case, "id": cid, "title": f"Timed {cid}", "state": state, "last_hash": prev}
        new_cases.append(tuple(row[k] for k in case_cols))
        new_items.extend(tuple({**it, "case_id": cid}[k] for k in item_cols) for it in items)
        key = f"{cid}:{job['ref']}:timer:bench"
        new_jobs.append(tuple({**job, "case_id": cid, "idempotency_key": key}[k] for k in job_cols))
    bulk_insert(
        target,
        url,
        [
            ("cases", ", ".join(case_cols), new_cases),
            ("plan_items", ", ".join(item_cols), new_items),
            ("case_events", ", ".join(event_cols), new_events),
            ("jobs", ", ".join(job_cols), new_jobs),
        ],
    )


def timer_worker_process(
    url: str, name: str, lease_s: float, until_all_done: bool, ready: Any, go: Any, out: Any
) -> None:
    """A worker process: `Worker.run_once()` until no job is left; reports (name, jobs, end).

    until_all_done: also wait for jobs other workers hold (a dead worker's, until its
    lease expires) instead of stopping at the first empty claim.
    """
    engine = make_engine(url, pool_size=1)
    db = session_factory(engine)
    worker = Worker(db, name=name, lease=timedelta(seconds=lease_s))
    with engine.connect() as conn:  # connect before the start signal
        conn.execute(text("SELECT 1"))
    ready.put(name)
    go.wait()
    done = 0
    while True:
        n = worker.run_once()
        done += n
        if n:
            continue
        if not until_all_done:
            break
        with engine.connect() as conn:
            left = conn.execute(
                text("SELECT count(*) FROM jobs WHERE status IN ('pending', 'running')")
            ).scalar_one()
        if not left:
            break
        time.sleep(0.2)
    out.put((name, done, time.time()))
    engine.dispose()


class Procs:
    """Worker processes (spawned: a fresh interpreter each, as in production)."""

    def __init__(self, url: str, lease: timedelta, until_all_done: bool) -> None:
        self.ctx = multiprocessing.get_context("spawn")
        self.url = url
        self.lease = lease.total_seconds()
        self.until_all_done = until_all_done
        self.ready = self.ctx.Queue()
        self.out = self.ctx.Queue()
        self.go = self.ctx.Event()
        self.procs: dict[str, Any] = {}

    def start(self, name: str) -> None:
        p = self.ctx.Process(
            target=timer_worker_process,
            args=(self.url, name, self.lease, self.until_all_done, self.ready, self.go, self.out),
            name=name,
        )
        p.start()
        self.procs[name] = p

    def start_all(self, names: list[str]) -> float:
        """Start the workers, wait until every one is connected, then let them go together."""
        for name in names:
            self.start(name)
        for _ in names:
            self._get(self.ready, names, timeout=300)
        started = time.time()
        self.go.set()
        return started

    def results(self, names: list[str], timeout: float) -> dict[str, tuple[int, float]]:
        got: dict[str, tuple[int, float]] = {}
        while len(got) < len(names):
            name, done, end = self._get(self.out, [n for n in names if n not in got], timeout)
            got[name] = (done, end)
        for name in names:
            self.procs[name].join(timeout=60)
            if self.procs[name].exitcode != 0:
                raise RuntimeError(f"worker {name} exited with {self.procs[name].exitcode}")
        return got

    def _get(self, queue: Any, awaited: list[str], timeout: float) -> Any:
        """The next message on `queue`; a worker that died before sending it (a traceback
        on stderr) fails the run at once instead of after the whole timeout."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return queue.get(timeout=1.0)
            except Empty:
                dead = [n for n in awaited if self.procs[n].exitcode not in (None, 0)]
                if dead:
                    codes = ", ".join(f"{n} ({self.procs[n].exitcode})" for n in dead)
                    raise RuntimeError(f"worker process died: {codes}") from None
                if time.monotonic() > deadline:
                    raise

    def kill_all(self) -> None:
        for p in self.procs.values():
            if p.is_alive():
                p.kill()
            p.join(timeout=30)


def timer_check(target: Target, url: str, n_cases: int) -> dict[str, int]:
    """Every timer job done, and every case's timer fired (an `occur` event) exactly once."""
    conn = target.raw(url)
    cur = conn.cursor()
    cur.execute("SELECT status, count(*) FROM jobs WHERE kind = 'timer' GROUP BY status")
    statuses = dict(cur.fetchall())
    transition = (
        "json_extract(payload, '$.transition')"
        if target.kind == "sqlite"
        else "payload->>'transition'"
    )
    cur.execute(
        "SELECT n, count(*) FROM (SELECT case_id, count(*) AS n FROM case_events "
        f"WHERE type = 'PlanItemTransitioned' AND {transition} = 'occur' GROUP BY case_id) "
        "AS fired GROUP BY n"
    )
    fired = dict(cur.fetchall())
    cur.execute("SELECT count(*) FROM jobs WHERE kind = 'timer' AND attempts > 0")
    (retried,) = cur.fetchone()
    cur.execute(
        "SELECT count(*) FROM jobs WHERE kind = 'timer' AND last_error LIKE 'nothing to do%'"
    )
    (no_op,) = cur.fetchone()
    conn.close()
    check = {
        "jobs_done": statuses.get("done", 0),
        "jobs_not_done": sum(v for k, v in statuses.items() if k != "done"),
        "cases_fired_once": fired.get(1, 0),
        "cases_fired_twice_or_more": sum(v for k, v in fired.items() if k > 1),
        "cases_never_fired": n_cases - sum(fired.values()),
        "jobs_reclaimed": retried,
        "jobs_found_already_fired": no_op,
    }
    if check["jobs_done"] != n_cases or check["cases_fired_once"] != n_cases:
        raise RuntimeError(f"timer jobs lost or run twice: {check}")
    return check


def workload_4(target: Target, cfg: Config, res: Results) -> None:
    counts = (1, 2) if target.kind == "postgresql" else (1,)
    floor_url = target.new_db("w4_floor")
    floor_setup(target, floor_url, 200 * max(counts))
    n_jobs = cfg.timer_jobs
    for n in counts:
        url = target.new_db(f"w4_{n}")
        start = time.perf_counter()
        timer_cases(target, url, n_jobs)
        loaded = time.perf_counter() - start
        floor = floor_rate(target, floor_url, n, cfg.seconds)
        procs = Procs(url, TIMER_LEASE, until_all_done=False)
        names = [f"w{k}" for k in range(n)]
        try:
            began = procs.start_all(names)
            got = procs.results(names, timeout=max(600.0, n_jobs / 10))
        finally:
            procs.kill_all()
        elapsed = max(end for _, end in got.values()) - began
        check = timer_check(target, url, n_jobs)
        rate = n_jobs / elapsed
        share = rate / floor
        res.loads.append(load1())
        key = f"{target.kind}.w4.{n}proc"
        res.figures[key] = {
            "jobs": n_jobs,
            "jobs_per_s": round(rate, 1),
            "floor_steps_per_s": round(floor),
            "share_of_floor": round(share, 3),
            "goal": GOAL_TIMERS,
            "pass": share >= GOAL_TIMERS,
            "seconds": round(elapsed, 1),
            "by_worker": {k: v[0] for k, v in got.items()},
            **check,
        }
        print(
            f"  (4) {target.kind} {n} process(es): {n_jobs:,} due timers (loaded in "
            f"{loaded:.0f} s) fired in {elapsed:.1f} s: {rate:,.0f} jobs/s, floor {floor:,.0f} "
            f"steps/s ({n} conn) -> {share:.0%} of floor (goal >= {GOAL_TIMERS:.0%}: "
            f"{'PASS' if share >= GOAL_TIMERS else 'FAIL'}); each fired once, by worker "
            f"{ {k: v[0] for k, v in got.items()} }  (load {res.loads[-1]:.1f})",
            flush=True,
        )
    if target.kind == "postgresql":
        timer_crash(target, cfg, res)


def timer_crash(target: Target, cfg: Config, res: Results) -> None:
    """2 workers; kill -9 one mid-run; the other and a restarted one finish after the lease."""
    n_jobs = cfg.crash_jobs
    url = target.new_db("w4_crash")
    timer_cases(target, url, n_jobs)
    procs = Procs(url, CRASH_LEASE, until_all_done=True)
    mon = target.raw(url)
    mon.autocommit = True
    try:
        began = procs.start_all(["a", "b"])
        # Until a third of the jobs are done, b has done some of them and holds claimed
        # ones: the kill must leave leased jobs behind, or the lease path goes untested.
        while True:
            row = mon.execute(
                "SELECT count(*) FILTER (WHERE status = 'done'), "
                "count(*) FILTER (WHERE status = 'done' AND locked_by = 'b'), "
                "count(*) FILTER (WHERE status = 'running' AND locked_by = 'b') FROM jobs"
            ).fetchone()
            if row[0] >= n_jobs // 3 and row[1] > 0 and row[2] > 0:
                break
            if time.time() - began > 600:
                raise RuntimeError("the workers made no progress")
            time.sleep(0.05)
        procs.procs["b"].kill()  # SIGKILL: no handler, no cleanup
        killed_at = time.time()
        procs.procs["b"].join(timeout=30)
        held = mon.execute(
            "SELECT count(*) FROM jobs WHERE status = 'running' AND locked_by = 'b'"
        ).fetchone()[0]
        done_at_kill = row[0]
        procs.start("b2")
        got = procs.results(["a", "b2"], timeout=max(600.0, n_jobs / 10))
    finally:
        procs.kill_all()
        mon.close()
    finished = max(end for _, end in got.values())
    check = timer_check(target, url, n_jobs)
    ok = check["jobs_reclaimed"] <= held
    res.figures[f"{target.kind}.w4.crash"] = {
        "jobs": n_jobs,
        "lease_s": CRASH_LEASE.total_seconds(),
        "done_when_killed": done_at_kill,
        "held_by_killed_worker": held,
        "seconds_after_kill": round(finished - killed_at, 1),
        "by_worker": {k: v[0] for k, v in got.items()},
        "pass": ok,
        **check,
    }
    print(
        f"  (4) {target.kind} crash: 2 workers on {n_jobs:,} timers, kill -9 of one after "
        f"{done_at_kill:,} done (it held {held} claimed jobs, lease "
        f"{CRASH_LEASE.total_seconds():.0f} s); the other and a restarted one finished "
        f"{finished - killed_at:.1f} s later: {check['jobs_done']:,} jobs done, "
        f"{check['cases_fired_once']:,} cases fired exactly once, "
        f"{check['cases_fired_twice_or_more']} twice; {check['jobs_reclaimed']} reclaimed "
        f"after the lease ({check['jobs_found_already_fired']} found already fired): "
        f"{'PASS' if ok else 'FAIL'}",
        flush=True,
    )


# --- profile ---------------------------------------------------------------------------


def profile(seconds: float, workdir: Path) -> None:
    """cProfile of workload (1), one connection, SQLite: where a case step's time goes."""
    target = Target("sqlite", workdir)
    url = target.new_db("profile")
    engine, db = services_db(url, 1)
    out: list[int] = []
    prof = cProfile.Profile()
    prof.enable()
    case_worker(db, 0, time.perf_counter() + seconds, out)
    prof.disable()
    engine.dispose()
    steps = out[0]
    print(f"profile: {steps} case steps in {seconds:.0f} s (profiler on; slower than unprofiled)")
    for order in ("cumulative", "tottime"):
        buf = io.StringIO()
        stats = pstats.Stats(prof, stream=buf)
        stats.sort_stats(order).print_stats(35)
        print(f"--- by {order} ---")
        print(buf.getvalue().split("\n\n", 2)[-1])


# --- main ------------------------------------------------------------------------------


@contextmanager
def target_for(kind: str, workdir: Path) -> Iterator[Target]:
    target = Target(kind, workdir / kind)
    target.workdir.mkdir(parents=True, exist_ok=True)
    try:
        yield target
    finally:
        target.drop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs, 10k/100k inbox")
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--json", type=Path, help="also write every figure here as JSON")
    parser.add_argument("--only", choices=("1", "2", "3", "4"), help="run only this workload")
    parser.add_argument("--profile", action="store_true", help="cProfile (1) on SQLite only")
    args = parser.parse_args(argv)
    cfg = QUICK if args.quick else FULL
    workdir = Path(tempfile.mkdtemp(prefix="casework-bench-store-"))
    try:
        if args.profile:
            profile(cfg.seconds * 2, workdir)
            return 0
        res = Results(machine(), {"quick": args.quick, **asdict(cfg)})
        m = res.machine
        print(
            f"machine: {m['cpu']}, nproc {m['nproc']}, CPython {m['python']}, SQLite "
            f"{m['sqlite']}; load average at start {os.getloadavg()[0]:.1f} "
            f"(figures under load are indicative only)",
            flush=True,
        )
        kinds = ("sqlite", "postgresql") if args.db == "both" else (args.db,)
        for kind in kinds:
            if kind == "postgresql":
                problem = pg_available()
                if problem is not None:
                    print(f"postgresql: skipped ({problem})")
                    res.figures["postgresql"] = {"status": f"skipped: {problem}"}
                    continue
            print(f"{kind}:", flush=True)
            with target_for(kind, workdir) as target:
                if args.only in (None, "1"):
                    workload_1(target, cfg, res)
                if args.only in (None, "2"):
                    workload_2(target, cfg, res)
                if args.only in (None, "3"):
                    workload_3(target, cfg, res)
                if args.only in (None, "4"):
                    workload_4(target, cfg, res)
        loads = res.loads or [load1()]
        res.machine["load1_during"] = [min(loads), max(loads)]
        print(
            f"load average (1 min) during the run: {min(loads):.1f} .. {max(loads):.1f} "
            f"on {m['nproc']} cores"
            + (
                "  -- LOADED MACHINE: re-run on a quiet one for final figures"
                if max(loads) > 1.0
                else ""
            )
        )
        if args.json:
            args.json.write_text(json.dumps(asdict(res), indent=2, default=str) + "\n")
        return 0
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
