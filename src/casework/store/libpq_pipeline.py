"""PostgreSQL: a block of direct statements sent as one libpq pipeline, without psycopg's
cursors.

psycopg's pipeline mode costs its Python machinery per statement (a cursor's execute
generator, the query's conversion, result bookkeeping): about 250 µs of client CPU for
a command's BEGIN, five writes and their answers here, against 40 µs for the same
messages sent through psycopg's own libpq wrapper (`psycopg.pq`). With many
connections on few cores, client CPU is what a write costs. This module sends the
statements of a `store.direct.pipeline` block that way: each statement prepared once
per connection under a name of ours (`cw_1`...), its parameters sent as text (the
server reads each as its column's type, as it does psycopg's strings), the answers read
when the block ends. A hot query (`DirectQuery`: a claim's pick, a command's case row)
goes the same way as a block of its own, its BEGIN in front, its rows loaded by
psycopg's own loaders.

psycopg keeps no state that this changes: it reads the transaction status from libpq
each time, and the connection is back out of pipeline mode, idle or in its transaction,
when the block ends, failed or not. One thing of psycopg's touches ours: its rollback
deallocates every prepared statement of the connection (its own, to be safe from
objects dropped in the transaction); whoever rolls back calls `forget` first
(`store.db` hooks SQLAlchemy's rollbacks, `services.transactions` its own), and the next
block closes the old names, in case psycopg had nothing to deallocate, before preparing
new ones. A statement
the server forgot otherwise (DISCARD ALL from a pooler) fails the block that finds it
gone; the rollback after it forgets them all, and the next block prepares them again.
"""

from __future__ import annotations

import re
import select
from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from psycopg import capabilities, pq
from psycopg import errors as pg_errors
from psycopg.adapt import PyFormat, Transformer

from casework.store import deferred_begin

_STATEMENTS = "casework.libpq.statements"  # in the pool record's info: sql -> name
_NAMES = "casework.libpq.names"  # how many names were given on the connection
# Names forgotten at a rollback that may still be prepared on the server (psycopg
# deallocates only when it had statements of its own): closed by the next block.
_STALE = "casework.libpq.stale"
# Closing a statement that does not exist is no error (libpq 17's PQsendClosePrepared,
# in psycopg's binary package); without it, a forgotten name that survived is left.
_CAN_CLOSE = capabilities.has_send_close_prepared()

_OK = pq.ExecStatus.COMMAND_OK
_TUPLES = pq.ExecStatus.TUPLES_OK
_SYNC = pq.ExecStatus.PIPELINE_SYNC
_ABORTED = pq.ExecStatus.PIPELINE_ABORTED
_PIPELINE_OFF = pq.PipelineStatus.OFF

_PLACEHOLDER = re.compile(r"%\((\w+)\)s|%%")


def positional(sql: str) -> tuple[str, tuple[str, ...]]:
    """SQL written with `%(name)s` placeholders (psycopg's named style, as SQLAlchemy
    compiles for it) as `$1, $2...` and the names in that order: a name used twice is
    one parameter."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return "%"
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    return _PLACEHOLDER.sub(number, sql), tuple(names)


def forget(info: dict[str, Any], driver: Any) -> None:
    """About to roll back the transaction on `driver`: psycopg then deallocates every
    prepared statement of the connection when it had some of its own (DEALLOCATE ALL),
    ours with them, so the next block prepares them again. An idle connection's
    rollback sends nothing."""
    pgconn = getattr(driver, "pgconn", None)
    if pgconn is not None and pgconn.transaction_status != pq.TransactionStatus.IDLE:
        statements = info.pop(_STATEMENTS, None)
        if statements and _CAN_CLOSE:
            info.setdefault(_STALE, []).extend(statements.values())


def _text(value: Any, transformer: Callable[[], Any]) -> bytes | None:
    """A parameter as PostgreSQL's text input for its column's type."""
    kind = type(value)
    if value is None:
        return None
    if kind is str or isinstance(value, str):
        return str.encode(value)
    if kind is bool:
        return b"t" if value else b"f"
    if kind is int:
        return str(value).encode()
    if kind is datetime or kind is date:
        # A naive datetime is read in the session's time zone, as psycopg sends it.
        iso: str = value.isoformat()
        return iso.encode()
    if kind is float or kind is Decimal or kind is UUID:
        return str(value).encode()
    # Anything else (psycopg's Jsonb wrapper from SQLAlchemy's JSON type...): psycopg's
    # own text dumper for it.
    dumped = transformer().get_dumper(value, PyFormat.TEXT).dump(value)
    return None if dumped is None else bytes(dumped)


class Batch:
    """The statements of one pipeline block on one connection, sent as they come and
    answered when `finish` reads the results."""

    __slots__ = ("_driver", "_info", "_pending", "_pgconn", "_sent", "_started", "_transformer")

    def __init__(self, driver: Any, info: dict[str, Any]) -> None:
        self._driver = driver
        self._pgconn: Any = driver.pgconn
        self._info = info
        # Per statement sent: (sql, name being prepared or None, how many executions,
        # a callback taking the summed row count, one taking the rows of a query).
        self._sent: list[
            tuple[str, bytes | None, int, Callable[[int], None], Callable[[list[Any]], None] | None]
        ] = []
        self._transformer: Any = None
        self._started = False  # in pipeline mode
        # Statements prepared in this block, not yet answered: run again, they reuse it.
        self._pending: dict[str, bytes] = {}

    def _tx(self) -> Any:
        if self._transformer is None:
            self._transformer = Transformer(self._driver)
        return self._transformer

    def send(
        self,
        sql: str,
        names: Sequence[str],
        rows: Sequence[Any],
        settle: Callable[[int], None],
        fetch: Callable[[list[Any]], None] | None = None,
    ) -> None:
        """Queue `sql` once per parameter mapping in `rows`; `settle` gets the row count
        of them all when the block has its answers, and `fetch` (for a query) the rows
        each run returned, as tuples of values loaded as psycopg's cursors load them."""
        pgconn = self._pgconn
        if not self._started:
            self._start()
        statements: dict[str, bytes] | None = self._info.get(_STATEMENTS)
        if statements is None:
            statements = self._info[_STATEMENTS] = {}
        name = statements.get(sql) or self._pending.get(sql)
        preparing: bytes | None = None
        if name is None:
            number = self._info.get(_NAMES, 0) + 1
            self._info[_NAMES] = number
            name = preparing = self._pending[sql] = f"cw_{number}".encode()
            # Known once the server said yes (`finish`); a failed block prepares again.
            pgconn.send_prepare(name, sql.encode(), None)
        tx = self._tx
        for row in rows:
            pgconn.send_query_prepared(name, [_text(row[n], tx) for n in names], None, 0)
        # Not flushed here: libpq sends its buffer once it holds 8 KiB, and the rest goes
        # with the sync point, one write for a whole command.
        self._sent.append((sql, preparing, len(rows), settle, fetch))

    def send_command(self, sql: bytes) -> None:
        """Queue a statement without parameters that is not prepared (COMMIT)."""
        if not self._started:
            self._start()
        self._pgconn.send_query_params(sql, None)
        self._sent.append((sql.decode(), None, 1, _ignore, None))

    def _start(self) -> None:
        pgconn = self._pgconn
        if pgconn.pipeline_status != _PIPELINE_OFF:
            raise RuntimeError("the connection is in a pipeline already")
        # BEGIN first where psycopg would send one: the transaction's BEGIN is due
        # (`deferred_begin`), or the connection is idle outside autocommit.
        due = self._info.pop(deferred_begin.DUE, None) is not None
        begin = due or (
            pgconn.transaction_status == pq.TransactionStatus.IDLE and not self._driver.autocommit
        )
        pgconn.enter_pipeline_mode()
        self._started = True
        stale: list[bytes] | None = self._info.pop(_STALE, None)
        if stale:
            for old in stale:
                pgconn.send_close_prepared(old)
            self._sent.append(("CLOSE", None, len(stale), _ignore, None))
        if begin:
            pgconn.send_query_params(b"BEGIN", None)
            self._sent.append(("BEGIN", None, 1, _ignore, None))

    def finish(self) -> BaseException | None:
        """Read every answer, leave pipeline mode and settle the row counts. The first
        error the server gave, as psycopg's exception, is returned (the statements after
        it were not run); an error of the connection itself is raised."""
        if not self._started:
            return None
        pgconn = self._pgconn
        pgconn.pipeline_sync()
        self._flush()
        error: BaseException | None = None
        statements: dict[str, bytes] = self._info[_STATEMENTS]
        for sql, preparing, executions, settle, fetch in self._sent:
            if preparing is not None:
                result = self._next()
                if result.status == _OK:
                    statements[sql] = preparing
                else:
                    error = error or self._error(result)
            count = 0
            for _ in range(executions):
                result = self._next()
                if result.status == _TUPLES and fetch is not None:
                    tx = self._tx()
                    tx.set_pgresult(result)
                    fetch(tx.load_rows(0, result.ntuples, tuple))
                if result.status in (_OK, _TUPLES):
                    count += int(result.command_tuples or 0)
                elif result.status != _ABORTED:
                    error = error or self._error(result)
            settle(count)
        while True:  # up to the sync point
            result = self._next()
            if result.status == _SYNC:
                break
        pgconn.exit_pipeline_mode()
        return error

    def stuck(self) -> bool:
        """Whether the connection, still open, was left in pipeline mode."""
        pgconn = self._pgconn
        return bool(pgconn.status == pq.ConnStatus.OK and pgconn.pipeline_status != _PIPELINE_OFF)

    def _error(self, result: Any) -> BaseException:
        return pg_errors.error_from_result(result, encoding=self._driver.info.encoding)

    def _next(self) -> Any:
        """The next result of the pipeline, waiting for the server as needed."""
        pgconn = self._pgconn
        while True:
            while pgconn.is_busy():
                self._wait(read=True)
                pgconn.consume_input()
            result = pgconn.get_result()
            if result is not None:
                return result
            if pgconn.status != pq.ConnStatus.OK:
                raise pg_errors.OperationalError(
                    f"connection lost: {pgconn.get_error_message().decode(errors='replace')}"
                )
            # None: the end of one statement's results; the next one follows.

    def _flush(self) -> None:
        """Send what libpq buffered (psycopg runs connections non-blocking: a large
        block may not go out at once). Reading while the server's answers pile up keeps
        both sides from waiting on each other."""
        pgconn = self._pgconn
        while pgconn.flush() == 1:
            self._wait(read=True, write=True)
            pgconn.consume_input()

    def _wait(self, *, read: bool, write: bool = False) -> None:
        poller = select.poll()
        poller.register(
            self._pgconn.socket, (select.POLLIN if read else 0) | (select.POLLOUT if write else 0)
        )
        poller.poll()


def _ignore(_count: int) -> None:
    return None
