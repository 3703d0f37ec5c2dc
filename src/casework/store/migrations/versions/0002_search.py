"""Full-text search: the `case_search` index, filled from the existing cases and notes.

Revision ID: 0002
Revises: 0001
Create Date: 2026-03-02

Database-specific, so not in tables.py (the schema test leaves these objects out):

- SQLite: the FTS5 table `case_search(case_id UNINDEXED, title, body)`, tokenizer
  unicode61 with remove_diacritics 2 (and its shadow tables case_search_data, _idx,
  _content, _docsize, _config);
- PostgreSQL: the table `case_search(case_id, document tsvector)` with a GIN index, and the
  text search configuration `case_search`: a copy of `simple`, with the `unaccent`
  dictionary in front of it when the extension is installed or can be installed (it is
  trusted from PostgreSQL 13; it goes in `public` since it is database-wide, else in the
  current schema). When it cannot be, the configuration is plain `simple` and accents
  count. The downgrade leaves the extension installed: others may use it.

The existing cases are indexed here with a frozen copy of the document rules of
`casework.services.search` (migrations never import the code that changes after them);
`casework projections rebuild` indexes again with the current rules.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CONFIG = "case_search"
# Token types of the default parser that can hold non-ASCII letters.
UNACCENTED_TOKENS = "word, numword, hword, numhword, hword_part, hword_numpart"
BATCH = 500


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE case_search USING fts5("
            "case_id UNINDEXED, title, body, tokenize='unicode61 remove_diacritics 2')"
        )
    else:
        op.execute(f"CREATE TEXT SEARCH CONFIGURATION {CONFIG} (COPY = pg_catalog.simple)")
        schema = None if context.is_offline_mode() else _unaccent_schema(op.get_bind())
        if schema is not None:
            op.execute(
                f"ALTER TEXT SEARCH CONFIGURATION {CONFIG} ALTER MAPPING FOR "
                f"{UNACCENTED_TOKENS} WITH {_quote(schema)}.unaccent, pg_catalog.simple"
            )
        op.create_table(
            "case_search",
            sa.Column("case_id", sa.String(40), nullable=False),
            sa.Column("document", postgresql.TSVECTOR(), nullable=False),
            sa.ForeignKeyConstraint(
                ["case_id"],
                ["cases.id"],
                name=op.f("fk_case_search_case_id_cases"),
                ondelete="CASCADE",
            ),
            sa.PrimaryKeyConstraint("case_id", name=op.f("pk_case_search")),
        )
        op.create_index(
            op.f("ix_case_search_document"),
            "case_search",
            ["document"],
            unique=False,
            postgresql_using="gin",
        )
    if not context.is_offline_mode():
        _index_existing(op.get_bind())


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE case_search")  # its shadow tables go with it
    else:
        op.drop_index(op.f("ix_case_search_document"), table_name="case_search")
        op.drop_table("case_search")
        op.execute(f"DROP TEXT SEARCH CONFIGURATION {CONFIG}")


def _quote(name: str) -> str:
    return op.get_bind().dialect.identifier_preparer.quote_identifier(name)


def _unaccent_schema(conn: sa.Connection) -> str | None:
    """The schema of the unaccent extension, installing it if need be; None if it cannot
    be installed (not available, or not allowed)."""
    find = sa.text(
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
        "WHERE e.extname = 'unaccent'"
    )
    schema: str | None = conn.scalar(find)
    if schema is not None:
        return schema
    available = conn.scalar(
        sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'unaccent'")
    )
    if available is None:
        return None
    for target in ("public", conn.scalar(sa.text("SELECT current_schema()"))):
        if target is None:
            continue
        try:
            with conn.begin_nested():  # a failed CREATE must not abort the migration
                conn.execute(
                    sa.text(f"CREATE EXTENSION IF NOT EXISTS unaccent SCHEMA {_quote(target)}")
                )
        except sa.exc.DBAPIError:
            continue
        schema = conn.scalar(find)
        if schema is not None:
            return schema
    return None


# --- indexing the existing cases (frozen copy of casework.services.search) ---------------

_WORD = re.compile(r"[^\W_]+")


def _words(value: str) -> list[str]:
    return _WORD.findall(unicodedata.normalize("NFC", value))


def _lines(data: Any, keys: tuple[str, ...] = ()) -> Iterator[str]:
    if isinstance(data, str):
        yield " ".join((*keys, data))
    elif isinstance(data, dict):
        for key, value in data.items():
            yield from _lines(value, (*keys, str(key)))
    elif isinstance(data, list):
        for value in data:
            yield from _lines(value, keys)


def _index_existing(conn: sa.Connection) -> None:
    cases = sa.table("cases", sa.column("id"), sa.column("title"), sa.column("data", sa.JSON()))
    notes = sa.table(
        "notes", sa.column("id"), sa.column("case_id"), sa.column("body"), sa.column("created_at")
    )
    sqlite = conn.dialect.name == "sqlite"
    if sqlite:
        insert = sa.text(
            "INSERT INTO case_search (rowid, case_id, title, body) "
            "VALUES (:rowid, :case_id, :title, :body)"
        )
    else:
        insert = sa.text(
            "INSERT INTO case_search (case_id, document) VALUES (:case_id, "
            f"setweight(to_tsvector('{CONFIG}', :title), 'A') "
            f"|| setweight(to_tsvector('{CONFIG}', :body), 'B'))"
        )
    ids = list(conn.scalars(sa.select(cases.c.id).order_by(cases.c.id)))
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        bodies: dict[str, list[str]] = {}
        for case_id, body in conn.execute(
            sa.select(notes.c.case_id, notes.c.body)
            .where(notes.c.case_id.in_(chunk))
            .order_by(notes.c.case_id, notes.c.created_at, notes.c.id)
        ):
            bodies.setdefault(case_id, []).append(body)
        rows = []
        for case_id, title, data in conn.execute(
            sa.select(cases.c.id, cases.c.title, cases.c.data).where(cases.c.id.in_(chunk))
        ):
            title = unicodedata.normalize("NFC", title)
            body = unicodedata.normalize(
                "NFC", "\n".join((*_lines(data), *bodies.get(case_id, ())))
            )
            if sqlite:
                digest = hashlib.blake2b(case_id.encode(), digest_size=8).digest()
                rowid = int.from_bytes(digest) >> 1
                rows.append({"rowid": rowid, "case_id": case_id, "title": title, "body": body})
            else:
                unique = dict.fromkeys(w.lower() for w in _words(body))
                rows.append(
                    {"case_id": case_id, "title": " ".join(_words(title)), "body": " ".join(unique)}
                )
        if rows:
            conn.execute(insert, rows)
