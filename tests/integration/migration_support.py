"""Helpers of the migration tests: raw SQL at a given revision, and what the schema has."""

from __future__ import annotations

from typing import Any

from sqlalchemy import inspect, text

from casework.store.db import make_engine


def run_sql(url: str, *statements: str, **params: Any) -> list[object]:
    """Each statement in one transaction, with `params` bound; the first column of the
    first row of those that return rows (None for the others)."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            results = [conn.execute(text(sql), params) for sql in statements]
            return [r.scalar() if r.returns_rows else None for r in results]
    finally:
        engine.dispose()


def index_names(url: str, table: str) -> set[str]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return {str(ix["name"]) for ix in inspect(conn).get_indexes(table)}
    finally:
        engine.dispose()


def table_names(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return set(inspect(conn).get_table_names())
    finally:
        engine.dispose()
