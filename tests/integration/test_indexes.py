"""The hot queries read the partial indexes built for them, on both databases."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, bindparam, select
from sqlalchemy.orm import Session
from tests.integration.plans import list_plans, query_plan
from tests.integration.rows import NOW, case_row

from casework.services import access, case_types, job_control, overdue, queries, work
from casework.services.actors import SYSTEM, Actor
from casework.store.db import refresh_statistics, session_factory
from casework.store.tables import Case, PlanItemRow, table_of
from casework.worker import jobs


def _items(conn: Connection, n: int) -> None:
    conn.execute(table_of(Case).insert(), case_row("C-1"))
    conn.execute(
        table_of(PlanItemRow).insert(),
        [
            {
                "case_id": "C-1",
                "instance_id": f"pi-{i}",
                "item_id": "t",
                "name": "Task",
                "kind": "human_task",
                "state": ("active", "completed", "available")[i % 3],
                "role": "handler",
                "assignee": "ana" if i % 2 else None,
                "priority": 1 + i % 5,
                "due_at": NOW + timedelta(hours=i),
                "created_at": NOW,
                "updated_at": NOW,
            }
            for i in range(n)
        ],
    )


def test_queue_and_inbox_queries_read_their_partial_indexes(engine: Engine) -> None:
    with engine.begin() as conn:
        _items(conn, 30)
        assert "ix_plan_items_queue" in query_plan(conn, work._PICK, {"b_role": "handler"})
        # A person's claim: only cases they may see (a join to `cases`, a participant check).
        visible = {"b_role": "handler", "b_actor": "ann"}
        assert "ix_plan_items_queue" in query_plan(conn, work._PICK_VISIBLE, visible)
        inbox_plan = query_plan(conn, work._INBOX, {"b_assignee": "ana", "b_limit": 50})
        assert "ix_plan_items_inbox" in inbox_plan


def test_job_claims_read_the_partial_job_indexes(engine: Engine) -> None:
    with engine.begin() as conn:
        params = {"b_now": NOW, "b_limit": 10, "b_worker": "w", "b_until": NOW}
        assert "ix_jobs_due" in query_plan(conn, jobs._CLAIM_PENDING.statement, params)
        assert "ix_jobs_leased" in query_plan(conn, jobs._RECLAIM_EXPIRED.statement, params)


def test_job_lists_read_each_status_newest_first_from_its_partial_index(engine: Engine) -> None:
    with engine.begin() as conn:
        for status, index in (("pending", "ix_jobs_due"), ("done", "ix_jobs_done")):
            statement = job_control.newest(job_control._with_item(), status, 50)
            plan = query_plan(conn, statement, {})
            assert index in plan
            if conn.dialect.name == "sqlite":
                assert "TEMP B-TREE" not in plan  # read in order, not sorted
        failed = job_control.newest(job_control._with_item(), "failed", 50)
        assert "ix_jobs_failed" in query_plan(conn, failed, {})


def test_late_work_reads_open_due_dates_in_order_from_their_index(engine: Engine) -> None:
    with engine.begin() as conn:
        _items(conn, 30)
        statement = overdue._LATE.where(overdue._OPEN_WITH_DUE, overdue._ITEMS.c.due_at < NOW)
        plan = query_plan(conn, statement.limit(51), {})
        assert "ix_plan_items_due" in plan
        if conn.dialect.name == "sqlite":
            assert "TEMP B-TREE" not in plan  # read in order, not sorted


def test_the_inbox_lists_only_active_assigned_work_most_urgent_first(engine: Engine) -> None:
    with engine.begin() as conn:
        _items(conn, 30)
    with Session(engine) as session:
        tasks = work.inbox(session, assignee="ana", limit=50)
    # Active (i % 3 == 0) and assigned to ana (odd i): 3, 9, 15, 21, 27.
    assert sorted(t.instance_id for t in tasks) == ["pi-15", "pi-21", "pi-27", "pi-3", "pi-9"]
    keys = [(t.priority, t.due_at) for t in tasks]
    assert keys == sorted(keys, key=lambda k: (k[0], k[1] or NOW))
    assert all(t.due_at is not None and t.due_at.tzinfo is not None for t in tasks)
    with Session(engine) as session:
        assert len(work.inbox(session, assignee="ana", limit=2)) == 2
        assert work.inbox(session, assignee="bob") == []


def test_owner_team_and_deadline_lookups_read_the_sparse_case_indexes(engine: Engine) -> None:
    cases = table_of(Case)
    with engine.begin() as conn:
        _items(conn, 3)
        by_owner = select(cases.c.id).where(cases.c.owner == bindparam("b_owner"))
        assert "ix_cases_owner" in query_plan(conn, by_owner, {"b_owner": "ann"})
        by_team = select(cases.c.id).where(cases.c.team == bindparam("b_team"))
        assert "ix_cases_team" in query_plan(conn, by_team, {"b_team": "north"})
        due = select(cases.c.id).where(cases.c.next_due < bindparam("b_now"))
        assert "ix_cases_next_due" in query_plan(conn, due, {"b_now": NOW})


def test_a_case_without_owner_team_or_deadline_has_no_entry_in_their_indexes(
    engine: Engine,
) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("index entries are counted with SQLite's dbstat")

    def entries(conn: Connection, index: str) -> int:
        return int(
            conn.exec_driver_sql(
                "SELECT coalesce(sum(ncell), 0) FROM dbstat WHERE name = ? AND pagetype = 'leaf'",
                (index,),
            ).scalar_one()
        )

    with engine.begin() as conn:
        _items(conn, 1)  # owner, team and next_due all NULL
        assert entries(conn, "ix_cases_type_status_opened") == 1  # a full index has the case
        for column in ("owner", "team", "next_due"):
            assert entries(conn, f"ix_cases_{column}") == 0
        conn.exec_driver_sql("UPDATE cases SET owner = 'ann', team = 'north'")
        assert entries(conn, "ix_cases_owner") == entries(conn, "ix_cases_team") == 1
        assert entries(conn, "ix_cases_next_due") == 0


def _cases(conn: Connection, n: int) -> None:
    conn.execute(
        table_of(Case).insert(),
        [
            case_row(
                f"C-{i:04d}",
                title=f"Case {i}",
                status=("active", "completed")[i % 2],
                priority=1 + i % 5,
                # Some cases opened in the same second: the id breaks the tie.
                opened_at=NOW + timedelta(seconds=i // 3),
            )
            for i in range(n)
        ],
    )


def _every_page(engine: Engine, actor: Actor, limit: int, **kwargs: Any) -> list[str]:
    """The ids of a case list, page after page through its cursor, to its end."""
    seen: list[str] = []
    cursor = None
    for _ in range(100):
        with Session(engine) as session:
            page = queries.list_cases(session, actor=actor, limit=limit, cursor=cursor, **kwargs)
        seen += [c.id for c in page.cases]
        cursor = page.next_cursor
        if cursor is None:
            return seen
    raise AssertionError("a list that never ends")


def test_case_lists_read_newest_first_from_the_index_and_page_by_seeking_into_it(
    engine: Engine,
) -> None:
    with engine.begin() as conn:
        _cases(conn, 40)
    newest_first = sorted(
        (f"C-{i:04d}" for i in range(40)), key=lambda id_: (int(id_[2:]) // 3, id_), reverse=True
    )
    # Every case once, ties broken by id, across pages.
    assert _every_page(engine, SYSTEM, 12) == newest_first

    with Session(engine) as session:
        first = queries.list_cases(session, actor=SYSTEM, limit=12)
    ids, plans = list_plans(engine, limit=12, cursor=first.next_cursor)
    assert ids == newest_first[12:24]
    (plan,) = plans
    assert "ix_cases_opened" in plan
    assert "TEMP B-TREE" not in plan and "Sort" not in plan  # read in order, not sorted
    if engine.dialect.name == "sqlite":
        assert "(opened_at,id)<(?,?)" in plan  # a seek into the index, not a scan from its end
    else:
        assert "Index Cond: (ROW(opened_at, (id)::text) <" in plan
    # A status asked for: its own index, in the same order, whether or not the database
    # has statistics (SQLite's tables here were never analysed).
    active = [i for i in newest_first if int(i[2:]) % 2 == 0]
    ids, (plan,) = list_plans(engine, status="active", limit=5)
    assert ids == active[:5]
    assert "ix_cases_status_opened" in plan
    assert "TEMP B-TREE" not in plan and "Sort" not in plan
    # A case type, with a status or without: an index of the type, in order (which of
    # the two for both is the planner's call on a table this small).
    for by_status in ({}, {"status": "active"}):
        ids, (plan,) = list_plans(engine, type_id="t", limit=5, **by_status)
        assert ids == (active if by_status else newest_first)[:5]
        assert "ix_cases_type_opened" in plan or "ix_cases_type_status_opened" in plan
        assert "TEMP B-TREE" not in plan and "Sort" not in plan
    with Session(engine) as session:
        first = queries.list_cases(session, actor=SYSTEM, status="active", limit=5)
    ids, (plan,) = list_plans(engine, status="active", limit=5, cursor=first.next_cursor)
    assert ids == active[5:10]
    assert "ix_cases_status_opened" in plan
    assert "TEMP B-TREE" not in plan and "Sort" not in plan


def test_case_lists_by_priority_read_the_priority_index_in_order(engine: Engine) -> None:
    """Most urgent first (and least): read from `ix_cases_priority` in its order and
    paged by seeking into it, never the whole table sorted."""
    with engine.begin() as conn:
        _cases(conn, 40)
    by_priority = sorted((f"C-{i:04d}" for i in range(40)), key=lambda i: (1 + int(i[2:]) % 5, i))
    assert _every_page(engine, SYSTEM, 7, sort="priority") == by_priority
    assert _every_page(engine, SYSTEM, 7, sort="-priority") == by_priority[::-1]
    with Session(engine) as session:
        first = queries.list_cases(session, actor=SYSTEM, sort="priority", limit=7)
    ids, (plan,) = list_plans(engine, sort="priority", limit=7, cursor=first.next_cursor)
    assert ids == by_priority[7:14]
    assert "ix_cases_priority" in plan
    assert "TEMP B-TREE" not in plan and "Sort" not in plan  # read in order, not sorted
    if engine.dialect.name == "sqlite":
        assert "(priority,id)>(?,?)" in plan  # a seek into the index
    else:
        assert "Index Cond: (ROW(priority, (id)::text) >" in plan


def test_the_cases_of_someone_with_work_start_from_the_inbox_index(engine: Engine) -> None:
    """`assignee=` lists the cases where the person has active work: found through the
    inbox index, not by testing every case in list order (SQLite ran a correlated
    EXISTS once per case: 1.4 s at 200,000 cases for someone with no work)."""
    with engine.begin() as conn:
        _items(conn, 12)  # one case, C-1, with active tasks assigned to ana
        _cases(conn, 20)
    ids, (plan,) = list_plans(engine, assignee="ana")
    assert ids == ["C-1"]
    assert "ix_plan_items_inbox" in plan
    assert "SCAN cases" not in plan and "Seq Scan on cases" not in plan
    assert list_plans(engine, assignee="nobody")[0] == []


def test_a_requester_s_case_list_reads_their_cases_by_id_not_every_case(engine: Engine) -> None:
    """Someone with no role on any case type sees the cases they own or take part in:
    those few are read by id and sorted, not found by testing every case in list order
    (300-580 ms at 200,000 cases on either database)."""
    with engine.begin() as conn:
        _cases(conn, 30)
        conn.execute(
            table_of(Case).update().where(Case.id.in_(["C-0003", "C-0017"])).values(owner="rita")
        )
    ids, plans = list_plans(engine, actor=Actor("rita"))
    assert ids == ["C-0017", "C-0003"]
    plan = plans[-1]  # after the case type roles' lookup
    assert "ix_cases_owner" in plan  # their cases found through the owner index
    if engine.dialect.name == "sqlite":  # PostgreSQL weighs it by the table's size
        assert "SCAN cases" not in plan
    assert list_plans(engine, actor=Actor("nobody"))[0] == []


RARE = """
id: rare
name: Rare
roles: [specialist]
plan:
  items:
    - task: Look
      role: specialist
"""
COMMON = RARE.replace("rare", "common").replace("Rare", "Common").replace("specialist", "clerk")


def test_a_case_worker_s_list_reads_each_team_and_case_type_in_its_own_index(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Someone who sees the cases of a case type, of a team and their own: each part
    is read from its own index and the first page of each merged, not found by testing
    every case in list order (250-420 ms at 200,000 cases when those hold few cases),
    and every case they may see comes once, in order, page after page."""
    case_types.deploy(session_factory(engine), actor=SYSTEM, source=RARE, now=NOW)
    with engine.begin() as conn:
        _cases(conn, 60)  # of type "t", which no deployed version names: no role shows it
        conn.execute(
            table_of(Case).update().where(Case.id.in_([f"C-{i:04d}" for i in range(3, 60, 7)])),
            {"type_id": "rare"},
        )
        conn.execute(table_of(Case).update().where(Case.id == "C-0010"), {"confidential": True})
        conn.execute(table_of(Case).update().where(Case.id == "C-0017"), {"confidential": True})
        conn.execute(table_of(Case).update().where(Case.id == "C-0025"), {"team": "tiny"})
        conn.execute(table_of(Case).update().where(Case.id == "C-0033"), {"owner": "wes"})
    wes = Actor("wes", roles=frozenset({"specialist"}), teams=frozenset({"tiny"}))
    with Session(engine) as session:
        every = session.scalars(select(Case)).all()
        facts = {c.id: _facts(c) for c in every}
        expected = [
            c.id
            for c in sorted(every, key=lambda c: (c.opened_at, c.id), reverse=True)
            if access.may_see_case(wes, facts[c.id])
        ]
    # The nine rare ones (C-0003, -10, -17, ...) but the confidential -10 and -17, the
    # team's -25, their own -33.
    assert "C-0025" in expected and "C-0033" in expected and "C-0010" not in expected
    assert len(expected) == 9 - 2 + 1 + 1
    assert _every_page(engine, wes, 2) == expected
    # In another order too: each part's first page in that order, the cursor in each.
    by_priority = sorted(expected, key=lambda i: (1 + int(i[2:]) % 5, i))
    assert _every_page(engine, wes, 2, sort="priority") == by_priority
    assert _every_page(engine, wes, 3, sort="-title") == sorted(
        expected, key=lambda i: f"Case {int(i[2:])}", reverse=True
    )
    # Someone with more teams and case types than a list reads one by one: the same
    # cases, from one read in list order.
    with monkeypatch.context() as patch:
        patch.setattr(queries, "MAX_PARTS", 1)
        assert _every_page(engine, wes, 2) == expected
        ids, plans = list_plans(engine, actor=wes, limit=50)
        assert ids == expected and "anon_" not in plans[-1]  # no first pages
    active = [i for i in expected if int(i[2:]) % 2 == 0]
    ids, plans = list_plans(engine, actor=wes, status="active", limit=3)
    assert ids == active[:3]
    plan = plans[-1]  # after the case type roles' lookup
    assert "anon_" in plan  # the first page of each part, merged
    assert "ix_cases_type_status_opened" in plan or "ix_cases_type_opened" in plan
    if engine.dialect.name == "sqlite":  # PostgreSQL weighs it by the table's size
        assert "SCAN cases" not in plan
    else:
        assert "Seq Scan on cases" not in plan


def _facts(case: Case) -> access.CaseFacts:
    return access.CaseFacts(
        type_id=case.type_id,
        owner=case.owner,
        team=case.team,
        confidential=case.confidential,
        participants=frozenset(),
        type_roles=frozenset({"specialist"}) if case.type_id == "rare" else frozenset(),
    )


def test_a_small_team_s_cases_are_read_in_order_from_the_team_index(engine: Engine) -> None:
    """Each team of a case worker is read on its own, newest first, from the team's index:
    with `ix_cases_team (team)` SQLite, whose statistics give one average of cases per
    team, read the newest cases of all for a small team among big ones (105 ms a page
    for 200 cases among 200,000)."""
    with engine.begin() as conn:
        _cases(conn, 300)
        for team, numbers in (
            ("big", range(150)),
            ("other", range(150, 300)),
            ("tiny", range(7, 300, 10)),
        ):
            ids = [f"C-{i:04d}" for i in numbers]
            conn.execute(table_of(Case).update().where(Case.id.in_(ids)), {"team": team})
        refresh_statistics(conn)  # SQLite: 100 cases per team, on average
    tiny = sorted(
        (f"C-{i:04d}" for i in range(300) if i % 10 == 7),
        key=lambda id_: (int(id_[2:]) // 3, id_),
        reverse=True,
    )
    member = Actor("tim", teams=frozenset({"tiny", "nobody's"}))
    ids, plans = list_plans(engine, actor=member, limit=10)
    assert ids == tiny[:10]
    plan = plans[-1]
    if engine.dialect.name == "sqlite":
        # Each team's first page, a co-routine of the query, read in order: no sort.
        teams = [
            part.split("SCAN anon")[0]
            for part in plan.split("CO-ROUTINE")
            if "ix_cases_team" in part
        ]
        assert len(teams) == 2
        assert all("(team=?)" in part and "TEMP B-TREE" not in part for part in teams)
    else:
        assert "Index Scan Backward using ix_cases_team" in plan


def test_a_case_worker_s_list_by_priority_walks_the_priority_index_for_a_broad_type(
    engine: Engine,
) -> None:
    """No index of a case type holds a sort by priority. A case type holding most
    cases was read along its index, a row lookup each, then sorted (425 ms at 200,000
    cases on SQLite, whose statistics give one average per type); walking the index of
    all cases by priority (0021) finds its page after a few cases. A type of few cases
    is still read from its own index, not found by walking every case."""
    case_types.deploy(session_factory(engine), actor=SYSTEM, source=RARE, now=NOW)
    case_types.deploy(session_factory(engine), actor=SYSTEM, source=COMMON, now=NOW)
    with engine.begin() as conn:
        _cases(conn, 600)
        common = [f"C-{i:04d}" for i in range(600) if i % 50]
        conn.execute(table_of(Case).update().where(Case.id.in_(common)), {"type_id": "common"})
        rare = [f"C-{i:04d}" for i in range(0, 600, 50)]
        conn.execute(table_of(Case).update().where(Case.id.in_(rare)), {"type_id": "rare"})
        refresh_statistics(conn)

    def by_priority(ids: list[str]) -> list[str]:
        return sorted(ids, key=lambda i: (1 + int(i[2:]) % 5, i))

    clerk = Actor("cleo", roles=frozenset({"clerk"}))
    ids, plans = list_plans(engine, actor=clerk, sort="priority", limit=20)
    assert ids == by_priority(common)[:20]
    assert _every_page(engine, clerk, 200, sort="priority") == by_priority(common)
    specialist = Actor("sid", roles=frozenset({"specialist"}))
    rare_ids, rare_plans = list_plans(engine, actor=specialist, sort="priority", limit=5)
    assert rare_ids == by_priority(rare)[:5]
    if engine.dialect.name == "sqlite":
        assert "ix_cases_type" not in plans[-1]
        assert "SCAN cases USING INDEX ix_cases_priority" in plans[-1]
        assert "ix_cases_priority" not in rare_plans[-1]
    # The next page too: from the cursor, still the type's own index, not a walk of
    # every case from the cursor on.
    with Session(engine) as session:
        first = queries.list_cases(session, actor=specialist, sort="priority", limit=5)
    next_ids, next_plans = list_plans(
        engine, actor=specialist, sort="priority", limit=5, cursor=first.next_cursor
    )
    assert next_ids == by_priority(rare)[5:10]
    if engine.dialect.name == "sqlite":
        assert "ix_cases_type" in next_plans[-1] and "ix_cases_priority" not in next_plans[-1]
        assert "ix_cases_type" in rare_plans[-1]
