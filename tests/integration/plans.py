"""Query plans as the application gets them, for tests that check which index a query
reads."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, event, text
from sqlalchemy.orm import Session

from casework.services import queries
from casework.services.actors import SYSTEM, Actor


def query_plan(conn: Connection, statement: Any, params: dict[str, Any]) -> str:
    """The plan of `statement` run the way the application runs it: with bound values
    (PostgreSQL plans them as a custom plan; SQLite must find the partial index's own
    literal condition in the query's WHERE)."""
    compiled = statement.compile(dialect=conn.dialect)
    values = compiled.construct_params(params)
    order = getattr(compiled, "positiontup", None)
    args: Any = tuple(values[n] for n in order) if order else values
    return sql_plan(conn, compiled.string, args)


def sql_plan(conn: Connection, sql: str, args: Any, *, dear: tuple[str, ...] = ("seqscan",)) -> str:
    """The plan of SQL text with its DBAPI parameters (as an execution event sees them).
    `dear`: what PostgreSQL is told to avoid (`enable_<name> = off`) on tiny test tables,
    so it plans as it would on a big one."""
    if conn.dialect.name == "sqlite":
        rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, args).all()
        return "\n".join(str(r[-1]) for r in rows)
    for kind in dear:
        conn.exec_driver_sql(f"SET LOCAL enable_{kind} = off")
    return "\n".join(str(r[0]) for r in conn.exec_driver_sql("EXPLAIN " + sql, args))


def prepared_plans(conn: Connection, like: str) -> list[tuple[int, int]]:
    """(generic plans, custom plans) of each statement prepared on this PostgreSQL
    connection whose text contains `like`: how often the server planned it afresh."""
    rows = conn.execute(
        text(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements"
            " WHERE statement LIKE :like"
        ),
        {"like": f"%{like}%"},
    )
    return [(int(generic), int(custom)) for generic, custom in rows]


def list_plans(engine: Engine, actor: Actor = SYSTEM, **kwargs: Any) -> tuple[list[str], list[str]]:
    """The ids `list_cases` returns, and the plan of each SELECT it ran."""
    statements: list[tuple[str, Any]] = []

    def seen(_conn: Any, _cursor: Any, sql: str, params: Any, *_args: Any) -> None:
        if sql.lstrip().upper().startswith("SELECT") and "FROM cases" in sql:
            statements.append((sql, params))

    event.listen(engine, "before_cursor_execute", seen)
    try:
        with Session(engine) as session:
            page = queries.list_cases(session, actor=actor, **kwargs)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    with engine.begin() as conn:
        # Sorts too: a list read in order must not look dearer than sorting ten rows.
        dear = ("seqscan", "bitmapscan", "sort")
        plans = [sql_plan(conn, sql, params, dear=dear) for sql, params in statements]
    return [c.id for c in page.cases], plans
