"""API benchmark: requests per second and latency of the REST API on PostgreSQL.

`casework serve --workers 4` runs against a PostgreSQL schema of its own; a separate
process on the same machine (loopback) drives it with keep-alive HTTP clients in threads,
one scenario at a time:

  open-case      POST /api/v1/cases (a 3-task case type, a small case file)
  complete-task  POST /api/v1/cases/{id}/tasks/{instance}/complete, each on its own
                 case opened beforehand (each completion activates the next task)
  my-tasks       GET /api/v1/me/tasks as a person with about 60 tasks assigned

Every request authenticates with a bearer token, so the figures include the token lookup.
Figures: requests per second (every response must be 2xx, else the run fails),
p50/p95 latency seen by the client, and the CPU a request cost the server processes and,
when it runs on this machine, PostgreSQL (all its processes, read from /proc). Both
sides share the 2 cores of this machine, so the client's own CPU is part of what is
measured; the load average is printed.

    .venv/bin/python bench/api.py                 # 15 s per scenario
    .venv/bin/python bench/api.py --seconds 5 --clients 8
    .venv/bin/python bench/api.py --json out.json
    .venv/bin/python bench/api.py --workers 1 --clients 8    # one server process

PostgreSQL: CASEWORK_BENCH_POSTGRES_URL (default postgresql+psycopg://postgres@127.0.0.1
:5432/test); the schema `bench_api_*` is dropped at the end.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy import make_url, select

from casework.engine import commands as c
from casework.services import case_types, cases, credentials, identity, membership
from casework.services.actors import SYSTEM, Actor
from casework.store import migrate
from casework.store.db import make_engine, session_factory
from casework.store.tables import PlanItemRow

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine_info import basics

PG_URL = os.environ.get(
    "CASEWORK_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
CASE_TYPE = """
id: bench_api
name: API bench
roles: [clerk]
case_file:
  amount: {type: number, required: true}
plan:
  items:
    - task: One
      role: clerk
    - task: Two
      role: clerk
      after: One
    - task: Three
      role: clerk
      after: Two
"""
USER = "clerk1"
INBOX_USER = "clerk2"
INBOX_TASKS = 60
WARM_UP = 300  # tasks kept for the warm-up of complete-task


def _cpu_seconds(stat: str, *, reaped: bool) -> float:
    # /proc/PID/stat after the command name: utime, stime (and cutime, cstime: the
    # children it has waited for) are fields 14-17 of the whole line.
    fields = stat.rsplit(")", 1)[1].split()
    ticks = sum(int(x) for x in fields[11 : 15 if reaped else 13])
    return ticks / os.sysconf("SC_CLK_TCK")


def _processes() -> dict[int, tuple[str, int, str]]:
    """pid -> (command name, parent pid, stat line) of every process we may read."""
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            name = stat.split("(", 1)[1].rsplit(")", 1)[0]
            out[int(entry)] = (name, int(stat.rsplit(")", 1)[1].split()[1]), stat)
    return out


def cpu_used(server_pid: int) -> tuple[float, float]:
    """CPU seconds so far of the server and its worker processes, and of PostgreSQL's
    processes on this machine (with the backends that have ended, which their parent
    reaped): differences of two readings are what a run cost."""
    procs = _processes()
    tree = {server_pid}
    for pid, (_, parent, _) in sorted(procs.items()):
        if parent in tree:
            tree.add(pid)
    server = sum(_cpu_seconds(procs[p][2], reaped=False) for p in tree if p in procs)
    postgres = sum(
        _cpu_seconds(stat, reaped=True)
        for name, _, stat in procs.values()
        if name.startswith("postgres")
    )
    return server, postgres


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def new_schema() -> tuple[str, str]:
    url = make_url(PG_URL)
    schema = f"bench_api_{uuid.uuid4().hex[:8]}"
    conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    schema_url = url.update_query_dict({"options": f"-csearch_path={schema}"})
    return schema, schema_url.render_as_string(hide_password=False)


def drop_schema(schema: str) -> None:
    conninfo = make_url(PG_URL).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def prepare(url: str, cases_for_completion: int) -> dict[str, Any]:
    """Schema, case type, two clerks with tokens, cases to complete, an inbox to read."""
    migrate.upgrade(url)
    engine = make_engine(url)
    db = session_factory(engine)
    now = datetime.now(UTC)
    case_types.deploy(db, actor=SYSTEM, source=CASE_TYPE, now=now)
    tokens = {}
    membership.create_team(db, actor=SYSTEM, name="bench", now=now)
    for name in (USER, INBOX_USER):
        identity.create_user(db, actor=SYSTEM, username=name, name=name, now=now)
        membership.grant_role(db, actor=SYSTEM, username=name, role="clerk", now=now)
        membership.add_member(db, actor=SYSTEM, team="bench", username=name, now=now)
        tokens[name] = credentials.create_token(
            db, actor=SYSTEM, username=name, name="bench", now=now
        ).secret
    clerk = Actor(USER, roles=frozenset({"clerk"}))
    opened = [
        cases.open_case(db, actor=clerk, type_id="bench_api", data={"amount": i}, now=now)
        for i in range(cases_for_completion)
    ]
    inbox_clerk = Actor(INBOX_USER, roles=frozenset({"clerk"}))
    for i in range(INBOX_TASKS):
        ref = cases.open_case(
            db, actor=inbox_clerk, type_id="bench_api", data={"amount": i}, now=now
        )
        with db() as session:
            first = session.scalar(
                select(PlanItemRow.instance_id).where(
                    PlanItemRow.case_id == ref.case_id, PlanItemRow.item_id == "one"
                )
            )
        assert first is not None
        cases.run_command(
            db,
            actor=SYSTEM,
            case_id=ref.case_id,
            command=c.AssignTask(first, INBOX_USER),
            now=now,
        )
    with db() as session:
        rows = session.execute(
            select(PlanItemRow.case_id, PlanItemRow.instance_id).where(
                PlanItemRow.case_id.in_([r.case_id for r in opened]),
                PlanItemRow.item_id == "one",
            )
        ).all()
    engine.dispose()
    return {"tokens": tokens, "tasks": [(r.case_id, r.instance_id) for r in rows]}


def start_server(url: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CASEWORK_DATABASE_URL": url, "CASEWORK_COOKIE_SECURE": "false"}
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "casework"), "serve", "--port", str(port),
            "--workers", str(workers), "--log-level", "warning", "--database-url", url,
        ],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    server.kill()
    raise RuntimeError("the server did not become ready in 60 s")


def client_process(
    base: str, scenario: str, plan: dict[str, Any], clients: int, seconds: float, out: Any
) -> None:
    """Run `clients` threads for `seconds`; put (count, latencies, errors) on `out`."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    tasks = list(plan["tasks"])
    deadline = time.perf_counter() + seconds

    def run(k: int) -> None:
        token = plan["tokens"][INBOX_USER if scenario == "my-tasks" else USER]
        own: list[float] = []
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as http:
            i = 0
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                if scenario == "open-case":
                    r = http.post(
                        "/api/v1/cases", json={"type": "bench_api", "data": {"amount": i}}
                    )
                elif scenario == "complete-task":
                    with lock:
                        if not tasks:
                            break
                        case_id, instance = tasks.pop()
                    r = http.post(
                        f"/api/v1/cases/{case_id}/tasks/{instance}/complete", json={"data": {}}
                    )
                else:
                    r = http.get("/api/v1/me/tasks")
                own.append(time.perf_counter() - t0)
                if not r.is_success:
                    with lock:
                        errors.append(f"{r.status_code} {r.text[:200]}")
                i += 1
        with lock:
            latencies.extend(own)

    started = time.perf_counter()
    threads = [threading.Thread(target=run, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put((len(latencies), time.perf_counter() - started, latencies, errors[:5]))


def measure(
    base: str, scenario: str, plan: dict[str, Any], clients: int, seconds: float
) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=client_process, args=(base, scenario, plan, clients, seconds, q))
    p.start()
    count, elapsed, latencies, errors = q.get()
    p.join()
    if errors:
        raise RuntimeError(f"{scenario}: failed requests, e.g. {errors}")
    cuts = statistics.quantiles(latencies, n=100)
    return {
        "scenario": scenario,
        "requests": count,
        "rps": round(count / elapsed, 1),
        "p50_ms": round(cuts[49] * 1000, 2),
        "p95_ms": round(cuts[94] * 1000, 2),
        "load": round(os.getloadavg()[0], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    print("machine:", ", ".join(f"{k} {v}" for k, v in basics().items()))
    schema, url = new_schema()
    server = None
    try:
        # Enough cases that complete-task never runs dry at ~1,000 completions/s.
        plan = prepare(url, WARM_UP + int(args.seconds * 600))
        port = free_port()
        server = start_server(url, port, args.workers)
        base = f"http://127.0.0.1:{port}"
        results = []
        for scenario in ("open-case", "complete-task", "my-tasks"):
            # Warm-up (connections, caches) on tasks of its own: each completes once.
            measure(base, scenario, {**plan, "tasks": plan["tasks"][:WARM_UP]}, 2, 1.0)
            rest = {**plan, "tasks": plan["tasks"][WARM_UP:]}
            before = cpu_used(server.pid)
            result = measure(base, scenario, rest, args.clients, args.seconds)
            after = cpu_used(server.pid)
            result["server_cpu_ms"] = round(1000 * (after[0] - before[0]) / result["requests"], 2)
            result["postgres_cpu_ms"] = round(1000 * (after[1] - before[1]) / result["requests"], 2)
            results.append(result)
            print(
                f"  {scenario:<14} {result['rps']:>8,.1f} req/s   p50 {result['p50_ms']:6.2f} ms"
                f"   p95 {result['p95_ms']:6.2f} ms   CPU a request: server "
                f"{result['server_cpu_ms']:.2f} ms, PostgreSQL {result['postgres_cpu_ms']:.2f} ms"
                f"   ({result['requests']:,} requests, {args.clients} clients, "
                f"{args.workers} server workers, load {result['load']})"
            )
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        drop_schema(schema)


if __name__ == "__main__":
    main()
