"""Pages a durable commit writes, per case step, on SQLite: the services against the floor.

A WAL commit with synchronous=FULL appends every page the transaction dirtied to the
write-ahead log and syncs it, so on this kind of disk the pages written are what a step
costs once the CPU work is small. This counts them exactly: it reads the frames each
commit appended to the WAL (page numbers from the frame headers) and names the B-tree
each page belongs to (`dbstat`), for

- the floor of bench/store.py: two indexed UPDATEs and two INSERTs on our own tables;
- workload (1): `open_case` then 3 `run_command`s completing the tasks of bench_seq3,

on a database warmed with 300 such cases (so trees have depth and splits are rare).

    .venv/bin/python bench/pages.py
"""

from __future__ import annotations

import collections
import sqlite3
import struct
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event

sys.path.insert(0, str(Path(__file__).resolve().parent))

from casework.engine import commands as c
from casework.services import case_types, cases
from casework.services.actors import SYSTEM, Actor
from casework.store import migrate
from casework.store.db import make_engine, session_factory
from store import HASH, PAYLOAD, SEQ3, STATE, TASKS, sqlite_time

WARM_CASES = 300
STEPS = 40  # opened cases measured (each with its 3 completions)
HEADER, FRAME_HEADER = 32, 24


class Wal:
    """The frames appended to a database's WAL since the last look."""

    def __init__(self, path: Path) -> None:
        self.path = Path(str(path) + "-wal")
        self.offset = HEADER

    def new_pages(self) -> list[int]:
        data = self.path.read_bytes()
        page_size = struct.unpack(">I", data[8:12])[0]
        pages = []
        while self.offset + FRAME_HEADER + page_size <= len(data):
            pages.append(struct.unpack(">I", data[self.offset : self.offset + 4])[0])
            self.offset += FRAME_HEADER + page_size
        return pages


def tree_of_pages(path: Path) -> dict[int, str]:
    with sqlite3.connect(path) as conn:
        return {page: name for name, page in conn.execute("SELECT name, pageno FROM dbstat")}


def measure(path: Path, steps: dict[str, list[Callable[[], Any]]]) -> dict[str, Any]:
    """Run each labelled step once per entry, counting the pages of each commit."""
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    wal = Wal(path)
    counts: dict[str, list[int]] = collections.defaultdict(list)
    trees: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for label, runs in steps.items():
        for run in runs:
            run()
            pages = wal.new_pages()
            counts[label].append(len(pages))
            names = tree_of_pages(path)
            trees[label].update(names.get(p, "(new page)") for p in pages)
    return {
        label: (sum(v) / len(v), {k: n / len(v) for k, n in trees[label].most_common()})
        for label, v in counts.items()
    }


def no_checkpoints(engine: Any) -> None:
    @event.listens_for(engine, "connect")
    def _off(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute("PRAGMA wal_autocheckpoint=0")


def services_steps(path: Path) -> dict[str, list[Callable[[], Any]]]:
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    no_checkpoints(engine)
    db = session_factory(engine)
    case_types.deploy(db, actor=SYSTEM, source=SEQ3, now=datetime.now(UTC))
    actor = Actor("bench")
    for _ in range(WARM_CASES):
        ref = cases.open_case(db, actor=actor, type_id="bench_seq3", now=datetime.now(UTC))
        cases.run_command(
            db, actor=actor, case_id=ref.case_id, command=c.CompletePlanItem(TASKS[0]),
            now=datetime.now(UTC),
        )  # fmt: skip
    opened: list[str] = []

    def open_one() -> None:
        ref = cases.open_case(db, actor=actor, type_id="bench_seq3", now=datetime.now(UTC))
        opened.append(ref.case_id)

    def complete(k: int, task: str) -> Callable[[], None]:
        def run() -> None:
            cases.run_command(
                db, actor=actor, case_id=opened[k], command=c.CompletePlanItem(task),
                now=datetime.now(UTC),
            )  # fmt: skip

        return run

    steps: dict[str, list[Callable[[], Any]]] = {"open_case": [open_one] * STEPS}
    for task in TASKS:
        steps[f"complete {task}"] = [complete(k, task) for k in range(STEPS)]
    return steps


def floor_steps(path: Path) -> dict[str, list[Callable[[], Any]]]:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA wal_autocheckpoint=0")
    now = sqlite_time(datetime.now(UTC))
    conn.execute("BEGIN IMMEDIATE")
    for i in range(WARM_CASES):
        conn.execute(
            "INSERT INTO cases (id, type_id, type_version, title, status, priority, "
            "opened_at, updated_at, data, state, version, last_seq, last_hash) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (f"F-{i:08d}", "bench", 1, "floor", "active", 3, now, now, "{}", STATE, 1, 0, HASH),
        )
        conn.execute(
            "INSERT INTO plan_items (case_id, instance_id, item_id, name, kind, state, "
            "priority, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?)",
            (f"F-{i:08d}", "pi-2", "step_one", "Step one", "human_task", "active", 3, now, now),
        )
    conn.execute("COMMIT")
    seq = collections.Counter[str]()

    def step(k: int) -> Callable[[], None]:
        def run() -> None:
            cid = f"F-{k % WARM_CASES:08d}"
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                "UPDATE cases SET state = ?, updated_at = ?, version = version + 1, "
                "last_seq = last_seq + 2, last_hash = ? WHERE id = ?",
                (STATE, now, HASH, cid),
            )
            conn.execute(
                "UPDATE plan_items SET state = ?, updated_at = ? WHERE case_id = ? AND "
                "instance_id = ?",
                ("active" if k % 2 else "completed", now, cid, "pi-2"),
            )
            for _ in range(2):
                seq[cid] += 1
                conn.execute(
                    "INSERT INTO case_events (case_id, seq, type, payload, actor, at, hash) "
                    "VALUES (?,?,?,?,?,?,?)",
                    (cid, seq[cid], "PlanItemTransitioned", PAYLOAD, "u", now, HASH),
                )
            conn.execute("COMMIT")

        return run

    return {"floor step": [step(k) for k in range(4 * STEPS)]}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        results = {}
        for name, build in (("floor", floor_steps), ("services", services_steps)):
            path = Path(tmp) / f"{name}.db"
            migrate.upgrade(f"sqlite:///{path}")
            results.update(measure(path, build(path)))
    total = 0.0
    for label, (pages, trees) in results.items():
        shown = ", ".join(f"{name} {n:.1f}" for name, n in trees.items())
        print(f"{label:<22} {pages:5.1f} pages   {shown}")
        if label != "floor step":
            total += pages
    floor = results["floor step"][0]
    mean = total / (1 + len(TASKS))
    print(
        f"workload (1) mean {mean:.1f} pages per step, floor {floor:.1f}: a commit-bound "
        f"share of at most {floor / mean:.0%}"
    )


if __name__ == "__main__":
    main()
