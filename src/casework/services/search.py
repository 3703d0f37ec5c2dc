"""Full-text search over cases: titles, the case file's strings and notes, on both databases.

The index is a table of its own, created by migration 0002 and not part of tables.py
(it is database-specific):

- SQLite: the FTS5 table `case_search(case_id UNINDEXED, title, body)`, tokenizer
  unicode61 with remove_diacritics 2, so "resume" finds "résumé". Its rowid is derived
  from the case id (`store.db.search_rowid`, also an SQL function on every SQLite
  connection), so a case's document is replaced through the rowid instead of scanning
  the whole table for an unindexed `case_id`, and a search that finds most cases is
  matched by rowid, without reading each match's `case_id` (`matching_rowids`);
- PostgreSQL: `case_search(case_id, document tsvector)` with a GIN index, built with the
  text search configuration `case_search`: `simple` (no stemming, no stop words), with
  the `unaccent` dictionary in front when the extension could be installed.

A case with internal notes has a second document (migration 0025,
`case_search_internal`, same layout on each database): the same text with those notes
in it. `case_search` leaves them out, since a requester must not find their case by
words they may not read; a search by someone who works on a case matches the second
one too (`queries.list_cases`, through `access.worked_cases_condition`), so the words
of a public and an internal note together find it.

A write does not rebuild the document itself: it marks the case in
`case_search_pending` (`mark_stale`), in its own transaction, at the cost of one small
row. The marked documents are rebuilt whole, in batches (`index_pending`): by the worker
at every poll, and by `catch_up` before a text search reads, so a search sees every
write committed before it. A document costs FTS5 a new segment and its merges per
transaction, which a batch of cases shares. `reindex_all` marks every case and rebuilds
them (`casework projections rebuild` calls it). The numbers and texts of each case
file (`case_fields`, which narrows case file filters) are rebuilt with the documents.

Marks and batches never lose a write: a batch locks the marks it takes (`FOR UPDATE` on
PostgreSQL; SQLite has one writer at a time), reads the cases after that, and removes a
mark only if it still has the log position it read; a write that marks its case again
meanwhile waits for the batch's lock or keeps its mark for the next batch.

User text never reaches the query syntax: it is cut into words (runs of letters and
digits), each word is quoted, the words are ANDed and the last one matches as a prefix,
so quotes, `*`, `:`, parentheses, `-`, `OR` or `NEAR` are words or separators, never
operators, and a query cannot fail to parse.
"""

from __future__ import annotations

import re
import unicodedata
import weakref
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Connection,
    Dialect,
    Engine,
    Integer,
    Select,
    bindparam,
    column,
    delete,
    func,
    literal_column,
    select,
    table,
    text,
)
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.expression import ColumnClause

from casework.services import case_fields
from casework.store.db import (
    READING,
    engine_of,
    search_rowid,
    statement_by_statement,
    writer_of,
)
from casework.store.direct import DirectStatement
from casework.store.tables import Case, Note, SearchPending

BATCH = 200  # cases per transaction when documents are rebuilt
CONFIG = "case_search"  # the PostgreSQL text search configuration (migration 0002)

_WORD = re.compile(r"[^\W_]+")
_SEARCH = table("case_search", column("case_id"), column("document"))
_FTS_MATCH: ColumnClause[Any] = literal_column(
    "case_search"
)  # FTS5: `<table> MATCH :q` searches all columns
_TSQUERY_CONFIG: ColumnClause[Any] = literal_column(f"'{CONFIG}'")

# Direct: every opened case and every change of a case file writes its document.
_SQLITE_DELETE = DirectStatement(
    text("DELETE FROM case_search WHERE rowid = :rowid AND case_id = :case_id")
)
_SQLITE_INSERT = DirectStatement(
    text(
        "INSERT INTO case_search (rowid, case_id, title, body) "
        "VALUES (:rowid, :case_id, :title, :body)"
    )
)
# A newer mark for a case replaces the older one (and waits for a batch holding it).
_MARK = DirectStatement(
    text(
        "INSERT INTO case_search_pending (case_id, seq) VALUES (:case_id, :seq) "
        "ON CONFLICT (case_id) DO UPDATE SET seq = excluded.seq"
    )
)
_PG_DELETE = DirectStatement(text("DELETE FROM case_search WHERE case_id = :case_id"))
_PG_UPSERT = DirectStatement(
    text(
        "INSERT INTO case_search (case_id, document) VALUES (:case_id, "
        f"setweight(to_tsvector('{CONFIG}', :title), 'A') "
        f"|| setweight(to_tsvector('{CONFIG}', :body), 'B')) "
        "ON CONFLICT (case_id) DO UPDATE SET document = excluded.document"
    )
)
# The documents with internal notes (migration 0025), for the people who work on a case.
INTERNAL = "case_search_internal"
_INTERNAL_SEARCH = table(INTERNAL, column("case_id"), column("document"))
_INTERNAL_MATCH: ColumnClause[Any] = literal_column(INTERNAL)
_SQLITE_INTERNAL_DELETE = DirectStatement(
    text(f"DELETE FROM {INTERNAL} WHERE rowid = :rowid AND case_id = :case_id")
)
_SQLITE_INTERNAL_INSERT = DirectStatement(
    text(
        f"INSERT INTO {INTERNAL} (rowid, case_id, title, body) "
        "VALUES (:rowid, :case_id, :title, :body)"
    )
)
_PG_INTERNAL_DELETE = DirectStatement(text(f"DELETE FROM {INTERNAL} WHERE case_id = :case_id"))
_PG_INTERNAL_UPSERT = DirectStatement(
    text(
        f"INSERT INTO {INTERNAL} (case_id, document) VALUES (:case_id, "
        f"setweight(to_tsvector('{CONFIG}', :title), 'A') "
        f"|| setweight(to_tsvector('{CONFIG}', :body), 'B')) "
        "ON CONFLICT (case_id) DO UPDATE SET document = excluded.document"
    )
)


@dataclass(frozen=True, slots=True)
class Document:
    title: str
    body: str  # the case file's strings, then the notes, one per line


def words(value: str) -> list[str]:
    """The words of `value` (NFC-normalised runs of letters and digits), in order."""
    return _WORD.findall(unicodedata.normalize("NFC", value))


def case_file_lines(data: Any, keys: tuple[str, ...] = ()) -> Iterator[str]:
    """One line per string in the case file: the keys on its path, then the value
    (`{"claimant": {"city": "Lyon"}}` gives "claimant city Lyon"); other values are left
    out. List positions are not keys."""
    if isinstance(data, str):
        yield " ".join((*keys, data))
    elif isinstance(data, dict):
        for key, value in data.items():
            yield from case_file_lines(value, (*keys, str(key)))
    elif isinstance(data, list | tuple):
        for value in data:
            yield from case_file_lines(value, keys)


def document(title: str, data: Any, notes: Iterable[str]) -> Document:
    body = "\n".join((*case_file_lines(data), *notes))
    return Document(unicodedata.normalize("NFC", title), unicodedata.normalize("NFC", body))


# --- writing -----------------------------------------------------------------------------

# Engines known to have each index (table name -> engines). A database at migration 0001
# (or built from tables.py alone) has no `case_search`, one before 0025 no
# `case_search_internal`: writes then skip them rather than fail. Only the positive
# answer is remembered, so a migration run later is seen.
_INDEXED: dict[str, weakref.WeakKeyDictionary[Engine, bool]] = {}


def has_index(session: Session | Connection) -> bool:
    """Whether the database has the search index (migration 0002 ran)."""
    return _has_table(session, "case_search")


def has_internal_index(session: Session | Connection) -> bool:
    """Whether the database has the index of internal notes (migration 0025 ran)."""
    return _has_table(session, INTERNAL)


def _has_table(session: Session | Connection, name: str) -> bool:
    engine = engine_of(session)
    known = _INDEXED.get(name)  # on every open and case file change: no allocation
    if known is None:
        known = _INDEXED.setdefault(name, weakref.WeakKeyDictionary())
    if engine in known:
        return True
    if engine.dialect.name == "sqlite":
        found = session.execute(
            text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :name"),
            {"name": name},
        ).first()
    else:
        found = session.execute(
            text("SELECT 1 WHERE to_regclass(:name) IS NOT NULL"), {"name": name}
        ).first()
    if found is None:
        return False
    known[engine] = True
    return True


def mark_stale(session: Session | Connection, case_id: str, seq: int) -> None:
    """Note that the case's title, case file or notes changed in this transaction, whose
    last log entry is `seq`: its document is rebuilt by the next batch."""
    if has_index(session):
        mark(session if isinstance(session, Connection) else session.connection(), case_id, seq)


def mark(conn: Connection, case_id: str, seq: int) -> None:
    """`mark_stale` for a caller that knows the database has the index (`has_index`):
    a direct statement only, so it can go in a pipeline."""
    _MARK.execute(conn, {"case_id": case_id, "seq": seq})


def index_case(session: Session | Connection, case_id: str) -> None:
    """Rebuild the case's document now, in this transaction (bulk loads, which hold
    their cases' rows anyway); writes call `mark_stale` instead."""
    if has_index(session):
        _rebuild(session, [case_id])


def index_pending(
    db: sessionmaker[Session] | Engine,
    *,
    batch: int = BATCH,
    max_batches: int | None = None,
    skip_locked: bool = False,
) -> int:
    """Rebuild the documents of marked cases, a batch per transaction, until none is
    left (or `max_batches` were done): the number of cases indexed. `skip_locked`
    (PostgreSQL): leave the marks another batch holds instead of waiting for it, as
    workers sharing the table do."""
    engine = db if isinstance(db, Engine) else db.kw["bind"]
    if not _anything_marked(engine):  # nearly always, at a worker's poll
        return 0
    done = batches = 0
    while max_batches is None or batches < max_batches:
        with db.begin() as tx:
            conn = tx if isinstance(tx, Connection) else tx.connection()
            if not has_index(conn):
                return done
            indexed = _index_batch(conn, batch, skip_locked)
        done += indexed
        batches += 1
        if indexed < batch:
            break
    return done


def catch_up(session: Session) -> int:
    """Bring every marked document up to date before `session` reads the index, so a
    search finds what was written before it. Done in transactions of its own when the
    session has not started one or reads statement by statement (and kept); otherwise,
    as far as it can, in the session's own transaction, where its query sees them (kept
    only if the session commits; a reading SQLite session that a writer got ahead of
    cannot write, and its search then reads the index as it is)."""
    # A PostgreSQL reading session runs each statement on its own (`store.db.Sessions`):
    # it has no transaction to write in, and the batches' own transactions keep the work.
    if session.in_transaction() and statement_by_statement(session) is None:
        if not has_index(session):
            return 0
        done = 0
        try:
            with session.begin_nested():
                while (indexed := _index_batch(session.connection(), BATCH, False)) > 0:
                    done += indexed
        except OperationalError:
            return 0
        return done
    return index_pending(writer_of(engine_of(session)))


def _anything_marked(engine: Engine) -> bool:
    """A glance as a reader (on SQLite: without the write lock a batch takes)."""
    with engine.connect() as conn:
        conn.execution_options(**{READING: True})
        return conn.scalar(select(SearchPending.case_id).limit(1)) is not None


def pending_count(session: Session | Connection) -> int:
    """How many cases' documents are behind (for operators: search lag)."""
    return int(session.scalar(select(func.count()).select_from(SearchPending)) or 0)


def _index_batch(conn: Connection, batch: int, skip_locked: bool) -> int:
    marks = list(
        conn.execute(
            select(SearchPending.case_id, SearchPending.seq)
            .order_by(SearchPending.case_id)
            .limit(batch)
            .with_for_update(skip_locked=skip_locked)
        )
    )
    if not marks:
        return 0
    ids = [case_id for case_id, _ in marks]
    _rebuild(conn, ids)
    conn.execute(
        delete(SearchPending).where(
            SearchPending.case_id == bindparam("b_case"),
            SearchPending.seq == bindparam("b_seq"),
        ),
        [{"b_case": case_id, "b_seq": seq} for case_id, seq in marks],
    )
    return len(marks)


def reindex_all(db: sessionmaker[Session], *, batch: int = BATCH) -> int:
    """Rebuild every case's search document; the number of cases indexed."""
    with db.begin() as session:
        if not has_index(session):
            return 0
        # SQLite reads `INSERT ... SELECT ... ON CONFLICT` only with a WHERE in the SELECT.
        session.execute(
            text(
                "INSERT INTO case_search_pending (case_id, seq) "
                "SELECT id, last_seq FROM cases WHERE true "
                "ON CONFLICT (case_id) DO UPDATE SET seq = excluded.seq"
            )
        )
        # Documents of deleted cases (the FTS5 table has no foreign key to cascade).
        session.execute(text("DELETE FROM case_search WHERE case_id NOT IN (SELECT id FROM cases)"))
        if has_internal_index(session):
            session.execute(
                text(f"DELETE FROM {INTERNAL} WHERE case_id NOT IN (SELECT id FROM cases)")
            )
    return index_pending(db, batch=batch)


def _rebuild(session: Session | Connection, ids: Sequence[str]) -> None:
    """The documents of `ids` and their case files' fields (`case_fields`), rebuilt."""
    conn = session if isinstance(session, Connection) else session.connection()
    docs, internal, files = _documents(conn, ids)
    _store(conn, ids, docs)
    if has_internal_index(conn):
        _store_internal(conn, ids, internal)
    case_fields.store(conn, ids, files)


def _documents(
    conn: Connection, ids: Sequence[str]
) -> tuple[dict[str, Document], dict[str, Document], dict[str, Any]]:
    """The search documents of the cases of `ids` still there: the one for everyone who
    sees the case, without its internal notes (a requester must not find their case by
    words only its workers may read); the one with them, for the cases that have any
    (`case_search_internal`); and their case files."""
    notes: dict[str, list[str]] = {}
    every_note: dict[str, list[str]] = {}
    with_internal: set[str] = set()
    for case_id, body, internal in conn.execute(
        select(Note.case_id, Note.body, Note.internal)
        .where(Note.case_id.in_(ids))
        .order_by(Note.case_id, Note.created_at, Note.id)
    ):
        if internal:
            with_internal.add(case_id)
        else:
            notes.setdefault(case_id, []).append(body)
        every_note.setdefault(case_id, []).append(body)
    docs: dict[str, Document] = {}
    internal_docs: dict[str, Document] = {}
    files: dict[str, Any] = {}
    for case_id, title, data in conn.execute(
        select(Case.id, Case.title, Case.data).where(Case.id.in_(ids))
    ):
        docs[case_id] = document(title, data, notes.get(case_id, ()))
        if case_id in with_internal:
            internal_docs[case_id] = document(title, data, every_note[case_id])
        files[case_id] = data
    return docs, internal_docs, files


def _store(
    session: Session | Connection,
    ids: Sequence[str],
    docs: dict[str, Document],
) -> None:
    """Replace the documents of `ids`: those in `docs` are written, the others removed."""
    conn = session if isinstance(session, Connection) else session.connection()
    if conn.dialect.name == "sqlite":
        _SQLITE_DELETE.executemany(conn, [{"rowid": search_rowid(i), "case_id": i} for i in ids])
        _SQLITE_INSERT.executemany(conn, _sqlite_rows(docs))
        return
    _PG_DELETE.executemany(conn, [{"case_id": i} for i in ids if i not in docs])
    _PG_UPSERT.executemany(conn, [_pg_row(i, d) for i, d in docs.items()])


def _store_internal(conn: Connection, ids: Sequence[str], docs: dict[str, Document]) -> None:
    """`_store` for the documents with internal notes: a case without any has none."""
    if conn.dialect.name == "sqlite":
        _SQLITE_INTERNAL_DELETE.executemany(
            conn, [{"rowid": search_rowid(i), "case_id": i} for i in ids]
        )
        _SQLITE_INTERNAL_INSERT.executemany(conn, _sqlite_rows(docs))
        return
    _PG_INTERNAL_DELETE.executemany(conn, [{"case_id": i} for i in ids if i not in docs])
    _PG_INTERNAL_UPSERT.executemany(conn, [_pg_row(i, d) for i, d in docs.items()])


def _sqlite_rows(docs: dict[str, Document]) -> list[dict[str, Any]]:
    return [
        {"rowid": search_rowid(i), "case_id": i, "title": d.title, "body": d.body}
        for i, d in docs.items()
    ]


def _pg_row(case_id: str, doc: Document) -> dict[str, str]:
    # PostgreSQL gets the words already cut as for queries (its parser would otherwise
    # keep e-mail addresses, URLs and hyphenated words whole), the body's words once each:
    # a tsvector is limited to 1 MB, and a case may collect many long notes.
    body = dict.fromkeys(w.lower() for w in words(doc.body))
    return {"case_id": case_id, "title": " ".join(words(doc.title)), "body": " ".join(body)}


# --- searching ---------------------------------------------------------------------------


def matching_ids(
    session_or_dialect: Session | Connection | Engine | Dialect,
    user_text: str,
    *,
    internal: bool = False,
) -> Select[tuple[str]] | None:
    """The ids of the cases whose title, case file strings or notes contain every word
    of `user_text`, the last one as a prefix, as a subquery; None when the text has no
    words (nothing to look for). `internal`: the cases matched counting their internal
    notes too (only cases that have some: for the people who work on them, who find
    the others through the first)."""
    terms = words(user_text)
    if not terms:
        return None
    searched, match = (_INTERNAL_SEARCH, _INTERNAL_MATCH) if internal else (_SEARCH, _FTS_MATCH)
    name = _dialect_name(session_or_dialect)
    if name == "sqlite":
        return select(searched.c.case_id).where(match.match(bindparam(None, _fts5(terms))))
    if name == "postgresql":
        tsquery = " & ".join("'" + t.replace("\\", "\\\\").replace("'", "''") + "'" for t in terms)
        return select(searched.c.case_id).where(
            searched.c.document.op("@@")(
                func.to_tsquery(_TSQUERY_CONFIG, bindparam(None, tsquery + ":*"))
            )
        )
    raise NotImplementedError(f"no full-text search on {name}")


def matching_rowids(user_text: str, *, internal: bool = False) -> Select[Any] | None:
    """SQLite: the search documents matching `user_text` as `matching_ids` finds them,
    by rowid (`store.db.search_rowid` of their case's id). FTS5 answers that from its
    index alone, where each match's `case_id` is a read of its stored row: for a word
    most of 200,000 cases hold, 16 against 136 ms."""
    terms = words(user_text)
    if not terms:
        return None
    searched, match = (_INTERNAL_SEARCH, _INTERNAL_MATCH) if internal else (_SEARCH, _FTS_MATCH)
    return (
        select(literal_column("rowid", Integer))
        .where(match.match(bindparam(None, _fts5(terms))))
        .select_from(searched)
    )


def _fts5(terms: list[str]) -> str:
    """FTS5 query text: every word quoted (never an operator), all of them, the last
    one as a prefix."""
    return " ".join('"' + t.replace('"', '""') + '"' for t in terms) + "*"


def _dialect_name(bind: Session | Connection | Engine | Dialect) -> str:
    if isinstance(bind, Dialect):
        return bind.name
    if isinstance(bind, Session):
        return bind.get_bind().dialect.name
    return bind.dialect.name
