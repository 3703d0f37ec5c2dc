"""Full-text search over titles, case file strings and notes, on SQLite and PostgreSQL.

Every test runs twice through the `db_url` fixture (conftest.py), on the schema the
migrations build: FTS5 on SQLite, a tsvector table on PostgreSQL.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from casework.cli.main import app
from casework.engine import commands as c
from casework.services import case_types, cases, collaboration, queries, search
from casework.services.actors import SYSTEM, Actor
from casework.services.rebuild import rebuild_projections
from casework.store import migrate
from casework.store.db import make_engine, session_factory
from casework.store.tables import Base, Case, SearchPending
from casework.worker.runner import Worker

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
HANDLER = Actor("hana", roles=frozenset({"handler"}))

CLAIM = """
id: claim
name: Claim
roles: [handler]
case_file:
  amount: {type: number}
  city: {type: string}
  summary: {type: string}
  claimant: {type: object}
plan:
  items:
    - task: Assess
      role: handler
"""


@pytest.fixture
def db(db_url: str) -> Iterator[sessionmaker[Session]]:
    migrate.upgrade(db_url)
    engine = make_engine(db_url)
    factory = session_factory(engine)
    case_types.deploy(factory, actor=SYSTEM, source=CLAIM, now=NOW)
    yield factory
    engine.dispose()


def _open(db: sessionmaker[Session], title: str, **data: Any) -> str:
    ref = cases.open_case(
        db, actor=HANDLER, type_id="claim", title=title, data=data, owner="hana", now=NOW
    )
    return ref.case_id


def _find(db: sessionmaker[Session], query: str, actor: Actor = SYSTEM, **kw: Any) -> set[str]:
    with db() as session:
        page = queries.list_cases(session, actor=actor, text=query, **kw)
    return {row.id for row in page.cases}


def _unaccented(db: sessionmaker[Session]) -> bool:
    """SQLite's tokenizer always removes diacritics; PostgreSQL only with `unaccent`."""
    with db() as session:
        if session.get_bind().dialect.name == "sqlite":
            return True
        return bool(session.scalar(text("SELECT to_tsvector('case_search', 'é') = 'e:1'")))


def test_finds_cases_by_title_case_file_strings_and_notes(db: sessionmaker[Session]) -> None:
    water = _open(db, "Water damage in kitchen", amount=900, city="Lyon")
    fire = _open(db, "Fire", claimant={"name": "Ada Lovelace", "city": "Marseille"})
    theft = _open(db, "Stolen bicycle", summary="taken from the garage")
    collaboration.add_note(db, actor=HANDLER, case_id=theft, body="Police report filed", now=NOW)

    assert _find(db, "kitchen") == {water}
    assert _find(db, "Lyon") == {water}
    assert _find(db, "lyon") == {water}
    assert _find(db, "Lovelace") == {fire}  # nested objects are flattened
    assert _find(db, "claimant") == {fire}  # keys are words too
    assert _find(db, "garage") == {theft}
    assert _find(db, "police") == {theft}  # notes
    assert _find(db, "900") == set()  # numbers are not strings of the case file
    assert _find(db, "nothing-like-this") == set()


def test_multiple_words_must_all_match_the_last_as_a_prefix(db: sessionmaker[Session]) -> None:
    a = _open(db, "Water damage", city="Lyon")
    b = _open(db, "Water leak", city="Paris")
    _open(db, "Storm damage", city="Lyon")

    assert _find(db, "water") == {a, b}
    assert _find(db, "water lyon") == {a}  # title and case file words together
    assert _find(db, "damage water") == {a}  # order does not matter
    assert _find(db, "water lyon paris") == set()
    assert _find(db, "wat") == {a, b}  # the last word is a prefix
    assert _find(db, "lyon wat") == {a}
    assert _find(db, "paris wat") == {b}
    assert _find(db, "wat lyon") == set()  # only the last word: the others are whole


def test_accents(db: sessionmaker[Session]) -> None:
    cv = _open(db, "Résumé check", city="Besançon")
    assert _find(db, "résumé") == {cv}
    assert _find(db, "RÉSUMÉ") == {cv}
    assert _find(db, "Besançon") == {cv}
    if _unaccented(db):
        assert _find(db, "resume") == {cv}
        assert _find(db, "besancon") == {cv}
    # Decomposed user text (e + combining acute) finds the composed word as well.
    assert _find(db, "re\u0301sume\u0301") == {cv}


def test_special_characters_are_words_never_syntax(db: sessionmaker[Session]) -> None:
    near = _open(db, "Near or far", summary="a NEAR b OR c")
    other = _open(db, "Quite different", summary='he said "hello" (twice) - no: yes*')
    for query in (
        '"',
        '""',
        '"unbalanced',
        "*",
        "a*b",
        ":",
        "title:hello",
        "(",
        "((hello",
        ")",
        "-",
        "-hello",
        "hello -twice",
        "NEAR",
        "NEAR(hello twice)",
        "OR",
        "hello OR nothing",
        "AND",
        "NOT",
        "hello NOT twice",
        "^hello",
        "'",
        "o'brien",
        "\\",
        "%",
        "_",
        "hello & twice | !x <-> y",
        "{}[];,.?",
        "\x00",
        "  ",
    ):
        _find(db, query)  # never raises
    assert _find(db, '"hello"') == {other}
    assert _find(db, "(twice)") == {other}
    assert _find(db, "hello -twice") == {other}  # `-` is no NOT: both words must be there
    assert _find(db, "hello OR nothing") == set()  # `OR` is a word, absent here
    assert _find(db, "near OR") == {near}
    assert _find(db, "NEAR(b c)") == {near}
    assert _find(db, "title:hello") == set()  # no column filter: "title" is a word
    assert _find(db, "yes*") == {other}
    # Only punctuation: no words, no text filter at all.
    assert _find(db, '"*:(-') == {near, other}


def test_the_document_follows_the_case_file(db: sessionmaker[Session]) -> None:
    case_id = _open(db, "Water damage", city="Lyon")
    cases.run_command(
        db, actor=SYSTEM, case_id=case_id, command=c.SetVariables({"city": "Paris"}), now=NOW
    )
    assert _find(db, "lyon") == set()
    assert _find(db, "paris") == {case_id}
    cases.run_command(
        db,
        actor=HANDLER,
        case_id=case_id,
        command=c.CompletePlanItem("assess", {"summary": "mould behind the sink"}),
        now=NOW,
    )
    assert _find(db, "mould sink") == {case_id}
    assert _find(db, "paris") == {case_id}


def test_search_combines_with_filters_visibility_and_pages(db: sessionmaker[Session]) -> None:
    by_title = {f"Water case {n}": _open(db, f"Water case {n}", city="Lyon") for n in range(5)}
    theirs = _open(db, "Water elsewhere", city="Paris")
    with db.begin() as session:
        session.execute(text("UPDATE cases SET owner = 'someone' WHERE id = :id"), {"id": theirs})
    assert _find(db, "water", actor=Actor("hana")) == set(by_title.values())
    assert _find(db, "water", filters=['city = "Paris"']) == {theirs}
    with db() as session:
        first = queries.list_cases(session, actor=SYSTEM, text="water lyon", sort="title", limit=3)
        rest = queries.list_cases(
            session,
            actor=SYSTEM,
            text="water lyon",
            sort="title",
            limit=3,
            cursor=first.next_cursor,
        )
    assert [r.id for r in first.cases + rest.cases] == [by_title[t] for t in sorted(by_title)]
    assert rest.next_cursor is None


def test_rebuild_reindexes_every_case(db: sessionmaker[Session]) -> None:
    a = _open(db, "Water damage", city="Lyon")
    b = _open(db, "Fire", city="Lyon")
    collaboration.add_note(db, actor=HANDLER, case_id=b, body="smoke everywhere", now=NOW)
    assert _find(db, "lyon") == {a, b}
    with db.begin() as session:
        session.execute(text("DELETE FROM case_search"))
    assert _find(db, "lyon") == set()
    assert rebuild_projections(db) == 2
    assert _find(db, "lyon") == {a, b}
    assert _find(db, "smoke") == {b}
    assert search.reindex_all(db, batch=1) == 2  # idempotent, in small batches
    assert _find(db, "lyon") == {a, b}


def test_downgrade_and_upgrade_again_indexes_the_existing_cases(db_url: str) -> None:
    migrate.upgrade(db_url)
    engine = make_engine(db_url)
    try:
        db = session_factory(engine)
        case_types.deploy(db, actor=SYSTEM, source=CLAIM, now=NOW)
        case_id = _open(db, "Résumé", city="Lyon", claimant={"name": "Ada"})
        collaboration.add_note(db, actor=HANDLER, case_id=case_id, body="call back", now=NOW)
    finally:
        engine.dispose()

    migrate.downgrade(db_url, "0001")
    assert migrate.current(db_url) == "0001"
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                left = conn.exec_driver_sql(
                    "SELECT name FROM sqlite_master WHERE name LIKE 'case_search%'"
                ).all()
                assert left == []
            else:
                assert conn.scalar(text("SELECT to_regclass('case_search')")) is None
                configs = conn.scalar(
                    text(
                        "SELECT count(*) FROM pg_ts_config WHERE cfgname = 'case_search' "
                        "AND cfgnamespace = current_schema()::regnamespace"
                    )
                )
                assert configs == 0
        # A note written while the index is gone (in SQL: today's services expect the
        # columns later migrations add) is indexed by the upgrade below.
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO notes (case_id, author, body, created_at) "
                    "VALUES (:case_id, 'hana', 'second call', :now)"
                ),
                {"case_id": case_id, "now": NOW},
            )
    finally:
        engine.dispose()

    migrate.upgrade(db_url)
    assert migrate.current(db_url) == migrate.head()
    engine = make_engine(db_url)
    try:
        db = session_factory(engine)
        # The migration indexed what was already there.
        assert _find(db, "lyon") == {case_id}
        assert _find(db, "Ada") == {case_id}
        assert _find(db, "second call") == {case_id}
        assert _find(db, "résumé") == {case_id}
    finally:
        engine.dispose()


def test_writes_skip_the_index_when_the_database_has_none(db_url: str) -> None:
    """A schema built from the models alone has no `case_search`: writes do not fail."""
    engine = make_engine(db_url)
    try:
        Base.metadata.create_all(engine)
        db = session_factory(engine)
        case_types.deploy(db, actor=SYSTEM, source=CLAIM, now=NOW)
        case_id = _open(db, "Water damage", city="Lyon")
        collaboration.add_note(db, actor=HANDLER, case_id=case_id, body="second call", now=NOW)
        with engine.connect() as conn:
            assert not search.has_index(conn)
    finally:
        engine.dispose()


def test_a_case_id_typed_into_the_search_finds_that_case(db: sessionmaker[Session]) -> None:
    water = _open(db, "Water damage")
    _open(db, "Fire")
    assert _find(db, water) == {water}
    assert _find(db, water.lower()) == {water}


def _marks(db: sessionmaker[Session]) -> dict[str, int]:
    with db() as session:
        return {
            case_id: seq
            for case_id, seq in session.execute(select(SearchPending.case_id, SearchPending.seq))
        }


def _documents_stored(db: sessionmaker[Session]) -> int:
    with db() as session:
        return int(session.scalar(text("SELECT count(*) FROM case_search")) or 0)


def _last_seq(db: sessionmaker[Session], case_id: str) -> int:
    with db() as session:
        return int(session.scalar(select(Case.last_seq).where(Case.id == case_id)) or 0)


def test_writes_mark_the_case_and_a_search_rebuilds_the_document_first(
    db: sessionmaker[Session],
) -> None:
    case_id = _open(db, "Hail damage", city="Lyon")
    assert _marks(db) == {case_id: _last_seq(db, case_id)}
    assert _documents_stored(db) == 0  # the write left the document to a batch
    cases.run_command(
        db, actor=SYSTEM, case_id=case_id, command=c.SetVariables({"city": "Nantes"}), now=NOW
    )
    collaboration.add_note(db, actor=HANDLER, case_id=case_id, body="roof tiles", now=NOW)
    assert _marks(db) == {case_id: _last_seq(db, case_id)}  # one mark, the newest position

    assert _find(db, "tiles nantes") == {case_id}  # the search caught up before reading
    assert _marks(db) == {}
    assert _documents_stored(db) == 1
    assert _find(db, "lyon") == set()
    # A command that leaves the case file alone marks nothing.
    cases.run_command(db, actor=SYSTEM, case_id=case_id, command=c.SetVariables({}), now=NOW)
    assert _marks(db) == {}


def test_the_worker_rebuilds_marked_documents_in_batches(db: sessionmaker[Session]) -> None:
    opened = {_open(db, f"Storm {n}", city="Lyon") for n in range(5)}
    worker = Worker(db, name="w1")
    assert worker.index_search(max_batches=None) == 5
    assert _marks(db) == {}
    assert _documents_stored(db) == 5
    assert search.index_pending(db) == 0  # nothing left: a glance, no work
    more = _open(db, "Storm 6", city="Lyon")
    assert search.index_pending(db, batch=2, max_batches=1) == 1
    with db() as session:
        page = queries.list_cases(session, actor=SYSTEM, text="storm")
    assert {row.id for row in page.cases} == opened | {more}
    # `worker --once` rebuilds them too, after the jobs.
    last = _open(db, "Storm 7", city="Lyon")
    assert worker.run_due().indexed == 1
    assert _marks(db) == {}
    assert _find(db, "storm") == opened | {more, last}


def test_the_worker_command_once_says_what_it_indexed(
    db: sessionmaker[Session], db_url: str
) -> None:
    _open(db, "Storm", city="Lyon")
    _open(db, "Hail", city="Lyon")
    args = ["worker", "--once", "--name", "cron", "--database-url", db_url]
    pruned = "pruned 0 job(s), 0 webhook delivery(ies), 0 idempotency key(s), 0 notification(s)"
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == (
        f"worker cron: ran 0 job(s); indexed 2 case(s) for search; {pruned}"
    )
    again = CliRunner().invoke(app, args)
    assert again.output.strip() == f"worker cron: ran 0 job(s); {pruned}"


def test_a_mark_renewed_while_a_batch_runs_outlives_the_batch(
    db: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write committed while a batch rebuilds its case's document (from what it read
    before the write) keeps the case marked: the next batch indexes the write."""
    case_id = _open(db, "Hail", city="Lyon")
    read, release = threading.Event(), threading.Event()
    documents = search._documents

    def read_then_wait(conn: Any, ids: Any) -> Any:
        docs = documents(conn, ids)
        read.set()
        release.wait(10)
        return docs

    monkeypatch.setattr(search, "_documents", read_then_wait)
    errors: list[BaseException] = []

    def run(work: Any) -> threading.Thread:
        def target() -> None:
            try:
                work()
            except BaseException as exc:  # reported by the assertion below
                errors.append(exc)

        thread = threading.Thread(target=target)
        thread.start()
        return thread

    batch = run(lambda: search.index_pending(db))
    assert read.wait(10)
    write = run(
        lambda: cases.run_command(
            db, actor=SYSTEM, case_id=case_id, command=c.SetVariables({"city": "Nantes"}), now=NOW
        )
    )
    # The write waits for the batch (SQLite: its write lock; PostgreSQL: the mark's row).
    write.join(0.5)
    assert write.is_alive()
    release.set()
    batch.join(10)
    write.join(10)
    monkeypatch.undo()
    assert errors == []
    assert _marks(db) == {case_id: _last_seq(db, case_id)}
    assert _find(db, "nantes") == {case_id}
    assert _find(db, "lyon") == set()


def test_a_batch_removes_only_the_marks_it_read(
    db: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever the locks do, a mark whose position moved after the batch read it stays."""
    first = _open(db, "Hail", city="Lyon")
    second = _open(db, "Frost", city="Lyon")
    documents = search._documents

    def renew_first(conn: Any, ids: Any) -> Any:
        conn.execute(update(SearchPending).where(SearchPending.case_id == first).values(seq=99))
        return documents(conn, ids)

    monkeypatch.setattr(search, "_documents", renew_first)
    assert search.index_pending(db) == 2
    monkeypatch.undo()
    assert _marks(db) == {first: 99}
    assert _find(db, "frost") == {second}


def test_a_search_inside_a_started_transaction_sees_the_marked_cases(
    db: sessionmaker[Session],
) -> None:
    case_id = _open(db, "Hail", city="Lyon")
    with db() as session:
        session.execute(select(Case.id).limit(1))  # the session's transaction has begun
        page = queries.list_cases(session, actor=SYSTEM, text="hail")
        assert [row.id for row in page.cases] == [case_id]
    if session.get_bind().dialect.name == "sqlite":
        # Done in the session's transaction, rolled back with it: the next search does
        # the work again.
        assert _marks(db) == {case_id: _last_seq(db, case_id)}
    else:
        # A PostgreSQL reading session runs each statement on its own: the work was
        # done in the batches' own transactions, and kept.
        assert _marks(db) == {}
    assert _find(db, "hail") == {case_id}
    assert _marks(db) == {}


def test_a_running_worker_rebuilds_marked_documents_between_jobs(
    db: sessionmaker[Session],
) -> None:
    opened = {_open(db, f"Flood {n}", city="Lyon") for n in range(3)}
    stop = threading.Event()
    worker = Worker(db, name="w-loop")
    loop = threading.Thread(
        target=worker.run_forever, kwargs={"poll_interval": 0.05, "stop_event": stop}
    )
    loop.start()
    try:
        for _ in range(200):
            if not _marks(db):
                break
            stop.wait(0.05)
    finally:
        stop.set()
        loop.join(10)
    assert _marks(db) == {}
    assert _documents_stored(db) == 3
    with db() as session:
        page = queries.list_cases(session, actor=SYSTEM, text="flood")
    assert {row.id for row in page.cases} == opened


def test_a_batch_with_nothing_marked_only_glances(db: sessionmaker[Session]) -> None:
    """A worker polls every second: with nothing marked it must not queue for SQLite's
    write lock (nor hold it), so a writer in the middle of its transaction is not held up
    and does not hold it up."""
    _open(db, "Hail", city="Lyon")
    assert search.index_pending(db) == 1
    with db.begin() as writer:
        writer.execute(update(Case).values(title="Hail, renamed"))  # holds the write lock
        finished = threading.Event()
        glance = threading.Thread(target=lambda: (search.index_pending(db), finished.set()))
        glance.start()
        assert finished.wait(5), "an empty batch waited for the writer"
        glance.join()


def test_a_search_in_a_reading_session_a_writer_got_ahead_of_still_answers(
    db: sessionmaker[Session], db_url: str
) -> None:
    """SQLite cannot turn a reading transaction into a writing one once another writer
    committed after its snapshot: the catch-up then gives up, and the search reads the
    index as the snapshot has it, instead of failing."""
    if not db_url.startswith("sqlite"):
        pytest.skip("SQLite's snapshots")
    first = _open(db, "Hail", city="Lyon")
    with db() as session:
        session.execute(select(Case.id).limit(1)).all()  # the snapshot starts here
        _open(db, "Hailstorm", city="Lyon")  # committed after it, by another connection
        page = queries.list_cases(session, actor=SYSTEM, text="hail")
        assert [row.id for row in page.cases] == []  # `first` was never indexed either
    assert first in _marks(db) and len(_marks(db)) == 2  # both still marked
    assert len(_find(db, "hail")) == 2  # a fresh search catches both up


@pytest.mark.parametrize("few", [1000, 2], ids=["found-few", "found-many"])
def test_a_search_lists_the_same_pages_whether_it_finds_few_cases_or_many(
    db: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch, few: int
) -> None:
    """Few cases found are read by id and sorted; many are kept while the list is read
    in its own order (`queries.FEW_MATCHES`). Either way: the same cases, in order."""
    monkeypatch.setattr(queries, "FEW_MATCHES", few)
    storms = [_open(db, f"Storm damage {n}") for n in range(5)]
    fire = _open(db, "Fire", cause="storm")  # found by its case file
    _open(db, "Flood")
    found = [*storms, fire]
    with db() as session:
        seen: list[str] = []
        cursor = None
        while True:
            page = queries.list_cases(session, actor=SYSTEM, text="storm", limit=2, cursor=cursor)
            seen += [row.id for row in page.cases]
            cursor = page.next_cursor
            if cursor is None:
                break
    newest_first = sorted(found, reverse=True)  # opened at the same time: by id
    assert seen == newest_first
    assert _find(db, "storm", status="active") == set(found)
    assert _find(db, "storm dam") == set(storms)
    assert _find(db, "storm", filters=["cause = storm"]) == {fire}
