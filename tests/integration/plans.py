"""Query plans as the application gets them, for tests that check which index a query
reads."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection


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
