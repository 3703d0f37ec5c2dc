"""Full-text search over cases: titles, the case file's strings and notes, on both databases.

The index is a table of its own, created by migration 0002 and not part of tables.py
(it is database-specific):

- SQLite: the FTS5 table `case_search(case_id UNINDEXED, title, body)`, tokenizer
  unicode61 with remove_diacritics 2, so "resume" finds "résumé". Its rowid is derived
  from the case id (`_rowid`), so a case's document is replaced through the rowid
  instead of scanning the whole table for an unindexed `case_id`;
- PostgreSQL: `case_search(case_id, document tsvector)` with a GIN index, built with the
  text search configuration `case_search`: `simple` (no stemming, no stop words), with
  the `unaccent` dictionary in front when the extension could be installed.

A case's document is rebuilt whole (`index_case`) in the transaction that changes what
it holds: opening the case, a command that changes its case file, a note. `reindex_all`
rebuilds every document (`casework projections rebuild` calls it).

User text never reaches the query syntax: it is cut into words (runs of letters and
digits), each word is quoted, the words are ANDed and the last one matches as a prefix,
so quotes, `*`, `:`, parentheses, `-`, `OR` or `NEAR` are words or separators, never
operators, and a query cannot fail to parse.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import weakref
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Dialect,
    Engine,
    bindparam,
    column,
    func,
    literal_column,
    select,
    table,
    text,
    true,
)
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.expression import ColumnClause

from casework.store.direct import DirectStatement
from casework.store.tables import Case, Note

BATCH = 200  # cases per transaction in reindex_all
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
_PG_DELETE = DirectStatement(text("DELETE FROM case_search WHERE case_id = :case_id"))
_PG_UPSERT = DirectStatement(
    text(
        "INSERT INTO case_search (case_id, document) VALUES (:case_id, "
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

# Engines known to have the index. A database at migration 0001 (or built from tables.py
# alone) has no `case_search`: writes then skip indexing rather than fail. Only the
# positive answer is remembered, so a migration run later is seen.
_INDEXED: weakref.WeakKeyDictionary[Engine, bool] = weakref.WeakKeyDictionary()


def has_index(session: Session | Connection) -> bool:
    """Whether the database has the search index (migration 0002 ran)."""
    if isinstance(session, Connection):
        engine = session.engine
    else:
        bind = session.get_bind()
        engine = bind if isinstance(bind, Engine) else bind.engine
    if engine in _INDEXED:
        return True
    if engine.dialect.name == "sqlite":
        found = session.execute(
            text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'case_search'")
        ).first()
    else:
        found = session.execute(
            text("SELECT 1 WHERE to_regclass('case_search') IS NOT NULL")
        ).first()
    if found is None:
        return False
    _INDEXED[engine] = True
    return True


def index_case(session: Session | Connection, case_id: str) -> None:
    """(Re)build the case's search document from its current title, case file and notes;
    call it in the transaction that changed them, after the change."""
    if has_index(session):
        _store(session, [case_id], _documents(session, [case_id]))


def index_new_case(session: Session | Connection, case_id: str, title: str, data: Any) -> None:
    """`index_case` for a case inserted in this transaction: no notes yet, and the title
    and case file are the ones just written, so nothing needs reading back."""
    if has_index(session):
        _store(session, [case_id], {case_id: document(title, data, ())}, new=True)


def reindex_all(db: sessionmaker[Session], *, batch: int = BATCH) -> int:
    """Rebuild every case's search document; the number of cases indexed."""
    with db() as session:
        if not has_index(session):
            return 0
        ids = list(session.scalars(select(Case.id).order_by(Case.id)))
    indexed = 0
    for start in range(0, len(ids), batch):
        with db.begin() as session:
            chunk = ids[start : start + batch]
            # Locked in id order like run_command locks a case: no write interleaves.
            session.execute(select(Case.id).where(Case.id.in_(chunk)).with_for_update())
            docs = _documents(session, chunk)
            _store(session, chunk, docs)
            indexed += len(docs)
    with db.begin() as session:
        # Documents of deleted cases (the FTS5 table has no foreign key to cascade).
        session.execute(text("DELETE FROM case_search WHERE case_id NOT IN (SELECT id FROM cases)"))
    return indexed


def _documents(session: Session | Connection, ids: Sequence[str]) -> dict[str, Document]:
    notes: dict[str, list[str]] = {}
    for case_id, body in session.execute(
        select(Note.case_id, Note.body)
        .where(Note.case_id.in_(ids))
        .order_by(Note.case_id, Note.created_at, Note.id)
    ):
        notes.setdefault(case_id, []).append(body)
    return {
        case_id: document(title, data, notes.get(case_id, ()))
        for case_id, title, data in session.execute(
            select(Case.id, Case.title, Case.data).where(Case.id.in_(ids))
        )
    }


def _store(
    session: Session | Connection,
    ids: Sequence[str],
    docs: dict[str, Document],
    *,
    new: bool = False,
) -> None:
    """Replace the documents of `ids`: those in `docs` are written, the others removed
    (`new`: the cases were inserted in this transaction, so there is nothing to remove)."""
    conn = session if isinstance(session, Connection) else session.connection()
    if conn.dialect.name == "sqlite":
        if not new:
            _SQLITE_DELETE.executemany(conn, [{"rowid": _rowid(i), "case_id": i} for i in ids])
        _SQLITE_INSERT.executemany(
            conn,
            [
                {"rowid": _rowid(i), "case_id": i, "title": d.title, "body": d.body}
                for i, d in docs.items()
            ],
        )
        return
    _PG_DELETE.executemany(conn, [{"case_id": i} for i in ids if i not in docs])
    _PG_UPSERT.executemany(conn, [_pg_row(i, d) for i, d in docs.items()])


def _rowid(case_id: str) -> int:
    """The FTS5 rowid of a case's document: 63 bits of a hash of its id. Two ids with the
    same hash (odds about n²/2⁶⁴) would make the insert fail loudly, never mix documents:
    the delete before it also checks the case id."""
    return int.from_bytes(hashlib.blake2b(case_id.encode(), digest_size=8).digest()) >> 1


def _pg_row(case_id: str, doc: Document) -> dict[str, str]:
    # PostgreSQL gets the words already cut as for queries (its parser would otherwise
    # keep e-mail addresses, URLs and hyphenated words whole), the body's words once each:
    # a tsvector is limited to 1 MB, and a case may collect many long notes.
    body = dict.fromkeys(w.lower() for w in words(doc.body))
    return {"case_id": case_id, "title": " ".join(words(doc.title)), "body": " ".join(body)}


# --- searching ---------------------------------------------------------------------------


def search_condition(
    session_or_dialect: Session | Connection | Engine | Dialect, user_text: str
) -> ColumnElement[bool]:
    """The cases whose title, case file strings or notes contain every word of
    `user_text`, the last one as a prefix; no words at all is no condition."""
    terms = words(user_text)
    if not terms:
        return true()
    name = _dialect_name(session_or_dialect)
    if name == "sqlite":
        query = " ".join('"' + t.replace('"', '""') + '"' for t in terms) + "*"
        found = select(_SEARCH.c.case_id).where(_FTS_MATCH.match(bindparam(None, query)))
    elif name == "postgresql":
        tsquery = " & ".join("'" + t.replace("\\", "\\\\").replace("'", "''") + "'" for t in terms)
        found = select(_SEARCH.c.case_id).where(
            _SEARCH.c.document.op("@@")(
                func.to_tsquery(_TSQUERY_CONFIG, bindparam(None, tsquery + ":*"))
            )
        )
    else:
        raise NotImplementedError(f"no full-text search on {name}")
    return Case.id.in_(found)


def _dialect_name(bind: Session | Connection | Engine | Dialect) -> str:
    if isinstance(bind, Dialect):
        return bind.name
    if isinstance(bind, Session):
        return bind.get_bind().dialect.name
    return bind.dialect.name
