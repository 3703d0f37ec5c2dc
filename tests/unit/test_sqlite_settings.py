"""What every SQLite connection of Casework is set to (store/db.py: make_engine)."""

from __future__ import annotations

from pathlib import Path

from casework.store.db import READING, SQLITE_CACHE_KIB, make_engine


def test_every_sqlite_connection_is_durable_shared_and_keeps_a_real_page_cache(
    tmp_path: Path,
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'casework.db'}", pool_size=2)
    try:
        # Two connections at once: each new one gets the settings, not only the first.
        reading = {READING: True}  # plain BEGIN: two connections, no write lock between
        with (
            engine.connect().execution_options(**reading) as first,
            engine.connect().execution_options(**reading) as second,
        ):
            for conn in (first, second):

                def pragma(name: str) -> object:
                    return conn.exec_driver_sql(f"PRAGMA {name}").scalar()  # noqa: B023

                assert pragma("journal_mode") == "wal"
                assert pragma("synchronous") == 2  # FULL: a commit survives a power cut
                assert pragma("foreign_keys") == 1
                assert pragma("busy_timeout") == 30000
                # Negative: KiB, not pages; SQLite's default is 2 MiB.
                assert pragma("cache_size") == -SQLITE_CACHE_KIB == -32768
    finally:
        engine.dispose()
