"""Case lists (`GET /cases`, `casework case list`) on a large database.

Loads synthetic cases the way bench/store.py (3) does (COPY / executemany, ANALYZE),
then times `queries.list_cases` as the API runs it (ORM rows, a page of 50) for the
lists a case worker or a manager opens: all cases and a status's cases newest first,
a case type's, someone's work, a requester's own cases, the page after a page, a sort
by priority, case file filters, text searches (the search documents and case file
fields built first; 5 % of the cases have an internal note), the lists of case workers
who see the cases of their case types and teams (1 % of the cases are of a second
type, 0.1 % belong to a small team and half to a big one), and reports of a period.
SQLite's planner statistics are the ones Casework takes (`store.db.refresh_statistics`).
Median of 7 runs each, on SQLite and PostgreSQL. Figures in docs/performance.md.

    .venv/bin/python bench/lists.py                     # 200,000 cases, both databases
    .venv/bin/python bench/lists.py --cases 50000 --db sqlite
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, text

from casework.services import case_types, queries, reports, search
from casework.services.actors import SYSTEM, Actor
from casework.store.db import make_engine, refresh_statistics, session_factory
from casework.store.tables import PlanItemRow
from store import BASE_TIME, Target, pg_available, populate  # bench/ is the script's path

ADMIN = Actor("bench-admin", is_admin=True)
REQUESTER = Actor("bench-requester")  # no role: sees the cases naming them (10 here)
# Case workers: a role of the type of most cases, a role of a type of 1 % of them, a team
# of 0.1 % of them (another has half), a role of a type with no cases yet.
CLERK = Actor("bench-clerk", roles=frozenset({"clerk"}))
SPECIALIST = Actor("bench-specialist", roles=frozenset({"specialist"}))
TEAM_MEMBER = Actor("bench-member", teams=frozenset({"tiny"}))
NEWCOMER = Actor("bench-newcomer", roles=frozenset({"newrole"}))
TYPE = """
id: {id}
name: {id}
roles: [{role}]
plan:
  items:
    - task: Step one
      role: {role}
"""
RUNS = 7


def timed(run: Callable[[], queries.Page]) -> tuple[float, int]:
    samples = []
    rows = 0
    for _ in range(RUNS):
        t0 = time.perf_counter()
        page = run()
        samples.append((time.perf_counter() - t0) * 1000)
        rows = len(page.cases)
    return statistics.median(samples), rows


def lists(target: Target, n_cases: int, texts: bool) -> None:
    url = target.new_db("lists")
    print(f"{target.kind}: loading {n_cases:,} cases...", flush=True)
    populate(target, url, n_cases)
    engine = make_engine(url)
    db = session_factory(engine)
    for type_id, role in (("bench_seq3", "clerk"), ("rare", "specialist"), ("new", "newrole")):
        case_types.deploy(
            db, actor=SYSTEM, source=TYPE.format(id=type_id, role=role), now=datetime.now(UTC)
        )
    number = "cast(substr(id, 3) as integer)"  # S-0000000042 -> 42
    with engine.begin() as conn:
        conn.execute(text(f"UPDATE cases SET type_id = 'rare' WHERE {number} % 100 = 7"))
        conn.execute(text(f"UPDATE cases SET team = 'big' WHERE {number} % 2 = 0"))
        conn.execute(text(f"UPDATE cases SET team = 'tiny' WHERE {number} % 1000 = 3"))
        conn.execute(
            text(f"UPDATE cases SET owner = 'bench-requester' WHERE {number} % {n_cases // 10} = 1")
        )
        # A boolean in every case file, true in 1 case of 1,000: `escalated = true`.
        flag = f"{number} % 1000 = 5"
        escalated = (
            f"json_set(data, '$.escalated', json(CASE WHEN {flag} THEN 'true' ELSE 'false' END))"
            if target.kind == "sqlite"
            else f"jsonb_set(data, '{{escalated}}', to_jsonb({flag}))"
        )
        conn.execute(text(f"UPDATE cases SET data = {escalated}"))
        # An internal note on 1 case in 20, one in 1,000 of them with a rare word: the
        # second search documents (`case_search_internal`) a worker's search also reads.
        internal = "true" if target.kind == "postgresql" else "1"
        conn.execute(
            text(
                "INSERT INTO notes (case_id, author, body, created_at, internal) "
                "SELECT id, 'bench-clerk', CASE WHEN "
                f"{number} % 20000 = 11 THEN 'Synthetic remark zeppelin' "
                "ELSE 'Synthetic remark' END, opened_at, "
                f"{internal} FROM cases WHERE {number} % 20 = 11"
            )
        )
        if target.kind == "sqlite":
            # The statistics Casework itself takes (an upgrade, the worker's housekeeping),
            # after the changes above.
            conn.execute(text("DELETE FROM sqlite_stat1"))
            refresh_statistics(conn)
    # Bulk-loaded cases are not marked: their search documents and case file fields
    # are built here, as `casework projections rebuild` would.
    started = time.perf_counter()
    indexed = search.reindex_all(db)
    print(
        f"  search documents and case file fields of {indexed:,} cases built in "
        f"{time.perf_counter() - started:.0f} s",
        flush=True,
    )
    if target.kind == "postgresql":
        # As autovacuum would have: merges GIN's pending list, refreshes statistics.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    with db() as session:
        someone = session.scalar(
            select(PlanItemRow.assignee).where(PlanItemRow.assignee.is_not(None)).limit(1)
        )
        first = queries.list_cases(session, actor=ADMIN)

    def page(actor: Actor = ADMIN, **kwargs: Any) -> Callable[[], queries.Page]:
        def run() -> queries.Page:
            with db() as session:
                return queries.list_cases(session, actor=actor, **kwargs)

        return run

    cases: list[tuple[str, Callable[[], queries.Page]]] = [
        ("all cases, newest first", page()),
        ("the page after it (cursor)", page(cursor=first.next_cursor)),
        ("active cases, newest first", page(status="active")),
        ("a type's active cases", page(type_id="bench_seq3", status="active")),
        ("a type's cases", page(type_id="bench_seq3")),
        ("a type with no cases", page(type_id="no_such_type")),
        (f"assignee={someone}", page(assignee=someone)),
        ("assignee with no work", page(assignee="nobody")),
        ("a requester's own cases", page(actor=REQUESTER)),
        ("a requester's active cases", page(actor=REQUESTER, status="active")),
        ("worker: role of most cases' type", page(actor=CLERK)),
        ("  the same, active cases", page(actor=CLERK, status="active")),
        ("worker: role of a 1 % type", page(actor=SPECIALIST)),
        ("  the same, active cases", page(actor=SPECIALIST, status="active")),
        ("worker: team of 0.1 %", page(actor=TEAM_MEMBER)),
        ("  the same, active cases", page(actor=TEAM_MEMBER, status="active")),
        ("worker: role of a type with none", page(actor=NEWCOMER)),
        ("  the same, active cases", page(actor=NEWCOMER, status="active")),
        ("sorted by priority", page(sort="priority")),
        ("  worker: role of most cases' type", page(actor=CLERK, sort="priority")),
        ("  worker: role of a 1 % type", page(actor=SPECIALIST, sort="priority")),
        ("  worker: team of 0.1 %", page(actor=TEAM_MEMBER, sort="priority")),
        ("case file filter amount > 9990", page(filters=["amount > 9990"])),
        ("  amount = 5000 (1 in 10,000)", page(filters=["amount = 5000"])),
        ("  amount > 200 (98 %)", page(filters=["amount > 200"])),
        ("  escalated = true (1 in 1,000)", page(filters=["escalated = true"])),
        ("  escalated = false (99.9 %)", page(filters=["escalated = false"])),
        ("  amount > 9990, a type's", page(type_id="bench_seq3", filters=["amount > 9990"])),
        ("  amount > 9990, worker (1 % type)", page(actor=SPECIALIST, filters=["amount > 9990"])),
    ]
    if texts:
        cases += [
            ("text: a word every case has", page(text="Synthetic")),
            ("text: a rare word", page(text="Synthetic case 4711")),
            ("text: no match", page(text="nothinglikethis")),
            (
                "  a rare word, worker (1 % type)",
                page(actor=SPECIALIST, text="Synthetic case 4711"),
            ),
            (
                "  a rare word, worker (team 0.1 %)",
                page(actor=TEAM_MEMBER, text="Synthetic case 4711"),
            ),
            (
                "  every case's word, worker (most)",
                page(actor=CLERK, text="Synthetic"),
            ),
            ("  a rare internal word, worker", page(actor=CLERK, text="zeppelin")),
            ("  a rare internal word, admin", page(text="zeppelin")),
            ("  a rare internal word, requester", page(actor=REQUESTER, text="zeppelin")),
        ]
    for label, run in cases:
        ms, rows = timed(run)
        print(f"  {label:34s} {ms:8.1f} ms  ({rows} rows)", flush=True)
    # Reports (`GET /reports/cases`): the cases opened in a period, all of their numbers.
    for label, actor, days in (
        ("report: 30 days, admin", ADMIN, 30),
        ("  365 days, admin", ADMIN, 365),
        ("  30 days, worker (most)", CLERK, 30),
    ):
        samples = []
        for _ in range(RUNS):
            t0 = time.perf_counter()
            with db() as session:
                report = reports.case_report(
                    session,
                    actor=actor,
                    now=BASE_TIME,
                    since=BASE_TIME - timedelta(days=days),
                    until=BASE_TIME,
                )
            samples.append((time.perf_counter() - t0) * 1000)
        ms = statistics.median(samples)
        print(f"  {label:34s} {ms:8.1f} ms  ({report.opened} cases)", flush=True)
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=200_000)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--no-text", action="store_true", help="skip the text searches")
    args = parser.parse_args()
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    for kind in kinds:
        if kind == "postgresql":
            problem = pg_available()
            if problem:
                print(f"postgresql: skipped ({problem})")
                continue
        target = Target(kind, Path(tempfile.mkdtemp(prefix="casework-lists-")))
        try:
            lists(target, args.cases, texts=not args.no_text)
        finally:
            target.drop()
            shutil.rmtree(target.workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
