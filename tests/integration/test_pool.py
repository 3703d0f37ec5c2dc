"""PostgreSQL pool: a connection cut while it sat idle is replaced before anyone uses it."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, event, text
from sqlalchemy.exc import OperationalError

from casework.store import db as store_db
from casework.store.db import make_engine


def _backend_pid(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def test_an_idle_connection_killed_by_the_server_is_replaced_transparently(
    postgres_schema_url: str, postgres_admin: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(postgres_schema_url, pool_size=1, max_overflow=0)
    try:
        first = _backend_pid(engine)
        with postgres_admin.connect() as admin:
            admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
        # Every pooled connection now counts as idle: the checkout pings and finds it dead.
        monkeypatch.setattr(store_db, "IDLE_PING_SECONDS", 0.0)
        second = _backend_pid(engine)
        assert second != first
    finally:
        engine.dispose()


def test_a_connection_in_steady_use_is_not_pinged(
    postgres_schema_url: str, postgres_admin: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No round trip is spent on a connection just checked in: were it pinged, the dead
    connection below would be replaced, and the query would not fail."""
    engine = make_engine(postgres_schema_url, pool_size=1, max_overflow=0)
    try:
        first = _backend_pid(engine)
        with postgres_admin.connect() as admin:
            admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
        monkeypatch.setattr(store_db, "IDLE_PING_SECONDS", 3600.0)
        with pytest.raises(OperationalError):
            _backend_pid(engine)
        # The failure invalidated it: the next checkout opens a fresh connection.
        assert _backend_pid(engine) != first
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql+psycopg://u@127.0.0.1:1/db", 10),
        ("postgresql://u@127.0.0.1:1/db", 10),
        ("postgresql+psycopg://u@127.0.0.1:1/db?connect_timeout=3", "3"),  # the URL's wins
    ],
)
def test_postgresql_connections_give_up_connecting_after_a_timeout(
    url: str, expected: object
) -> None:
    engine = make_engine(url)
    seen: dict[str, object] = {}

    @event.listens_for(engine, "do_connect")
    def _capture(_dialect: Any, _record: Any, _args: Any, params: dict[str, Any]) -> None:
        seen.update(params)
        raise RuntimeError("captured")  # no server needed

    try:
        with pytest.raises(RuntimeError, match="captured"):
            engine.connect()
    finally:
        engine.dispose()
    assert seen["connect_timeout"] == expected
