"""Finding cases: filters on columns and on case file fields, sorting, cursor pages.

Case file filters (`case_file_filters`) run in the database on both engines, so a
filter never loads cases it does not return.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Integer,
    Select,
    and_,
    case,
    func,
    literal,
    literal_column,
    or_,
    select,
    tuple_,
    union_all,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import Function

from casework.services import access, case_fields
from casework.services.access import TypeVersion, VisibleCases
from casework.services.actors import Actor
from casework.services.case_file_filters import DataFilter, condition, parse_filter
from casework.services.errors import InvalidInput
from casework.services.search import (
    catch_up,
    has_internal_index,
    matching_ids,
    matching_rowids,
)
from casework.services.visibility import case_type_roles
from casework.store.db import SEARCH_ROWID_FUNCTION
from casework.store.tables import Case, PlanItemRow

__all__ = ["DataFilter", "Page", "list_cases", "parse_filter"]

SORTABLE = {"opened_at", "updated_at", "priority", "title", "status"}


@dataclass(frozen=True, slots=True)
class Page:
    cases: list[Case]
    next_cursor: str | None


def list_cases(
    session: Session,
    *,
    actor: Actor,
    status: str | None = None,
    type_id: str | None = None,
    stage: str | None = None,
    owner: str | None = None,
    team: str | None = None,
    priority: int | None = None,
    risk: str | None = None,
    assignee: str | None = None,
    filters: list[str] | None = None,
    text: str | None = None,
    sort: str = "-opened_at",
    limit: int = 50,
    cursor: str | None = None,
) -> Page:
    if not 1 <= limit <= 500:
        raise InvalidInput("limit must be between 1 and 500", field="limit")
    descending = sort.startswith("-")
    key = sort.lstrip("-+")
    if key not in SORTABLE:
        raise InvalidInput(f"cannot sort by {key!r}: use one of {sorted(SORTABLE)}", field="sort")
    # The roles each case type version names, read once for who sees (and who works
    # on) which case; an admin sees them all.
    roles = {} if actor.is_admin else case_type_roles(session)
    query = select(Case)
    conditions: list[ColumnElement[bool]] = []
    for column, value in (
        (Case.status, status),
        (Case.type_id, type_id),
        (Case.stage, stage),
        (Case.owner, owner),
        (Case.team, team),
        (Case.priority, priority),
        (Case.risk, risk),
    ):
        if value is not None:
            conditions.append(column == value)
    if assignee is not None:
        # Cases where that person has active work: the inbox index's rows. IN, not a
        # correlated EXISTS: SQLite runs an EXISTS once per case in list order (1.4 s
        # at 200,000 cases for someone with no work), an IN list once.
        conditions.append(
            Case.id.in_(
                select(PlanItemRow.case_id).where(
                    PlanItemRow.state == "active", PlanItemRow.assignee == assignee
                )
            )
        )
    dialect = session.get_bind().dialect.name
    parsed = [parse_filter(raw) for raw in filters or ()]
    conditions.extend(condition(f, dialect) for f in parsed)
    # Whether the page is among at most FEW_MATCHES cases named by id: read by id, each
    # tested for the rest (who may see it included) instead of read in list order.
    by_ids = False
    if parsed:
        # The cases the index of case file fields finds, when they are few: read by id
        # instead of testing every case's JSON in list order.
        narrowed = case_fields.candidates(session, parsed, FEW_MATCHES)
        if narrowed is not None:
            conditions.append(Case.id.in_(narrowed))
            by_ids = True
    if text:
        # Documents still behind a write are rebuilt first: a search finds what was
        # written before it (best before the session's first statement: see catch_up).
        catch_up(session)
        # The cases found, and the case whose id was typed into the search box (see
        # _matching). Text without words (only punctuation) sets no condition.
        found = matching_ids(session, text)
        if found is not None:
            by_notes = _by_internal_notes(session, actor, text, roles)
            matched, few = _matching(session, found, text, by_notes)
            conditions.append(matched)
            by_ids = by_ids or few
    sort_column = getattr(Case, key)
    mark: ColumnElement[Any] | None = None
    if cursor is not None:
        last_value, last_id = _decode(cursor)
        if key in ("opened_at", "updated_at") and last_value is not None:
            last_value = datetime.fromisoformat(last_value)
        mark = tuple_(literal(last_value, sort_column.type), literal(last_id, Case.id.type))
    order = _in_order(sort_column, descending)
    visible = access.visible_cases(actor, roles)  # the policy in access.py
    by_parts = visible is not None and not by_ids and len(visible.shared) <= MAX_PARTS
    broad = False
    if by_parts and dialect == "sqlite" and key not in INDEXED_ORDERS:
        assert visible is not None
        broad = _most_of_the_cases(session, visible.shared, walk=key in SORT_INDEXES, page=limit)
        by_parts = not broad
    if visible is not None and by_parts:
        # Nothing but the ids, so that the page is read by them and not by testing
        # every case in list order for being one of them.
        sort_by: ColumnElement[Any] = sort_column
        if dialect == "sqlite" and key not in INDEXED_ORDERS:
            # A team or case type that is not broad is read from its own index, then
            # sorted: SQLite, with one average of cases per type, would walk a whole
            # sort index (`ix_cases_priority`) for it otherwise, testing every case to
            # find a rare type's, from the start or from the cursor (230 ms for the
            # second page of a 1 % type at 200,000 cases). `+column` keeps the order and
            # the cursor's meaning, and no index can give either.
            sort_by = literal_column(f"+{Case.__tablename__}.{key}")
        parts = [*conditions, *_past(sort_by, mark, descending)]
        firsts = _first_of_each(visible, parts, _in_order(sort_by, descending), limit + 1)
        query = query.where(Case.id.in_(firsts))
    else:
        conditions.extend(_past(sort_column, mark, descending))
        if visible is not None:
            shown = visible.condition()
            if broad:
                # Most cases: one pass over the table, not each part along its index,
                # which SQLite would read for each term of the OR (`likelihood` does not
                # stop it); through a CASE no index is usable. The broad parts first:
                # most cases pass them without the named cases' lookup.
                shown = or_(*visible.shared, visible.named)
                shown = case((shown, literal(True)), else_=literal(False)).is_(True)
            conditions.append(shown)
        if conditions:
            query = query.where(and_(*conditions))
    rows = list(session.scalars(query.order_by(*order).limit(limit + 1)))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        value = getattr(last, key)
        next_cursor = _encode(value.isoformat() if isinstance(value, datetime) else value, last.id)
    return Page(rows, next_cursor)


def _in_order(sort_by: ColumnElement[Any], descending: bool) -> tuple[Any, Any]:
    """The list's order: by `sort_by`, then by id (the cursor's tie-break)."""
    if descending:
        return sort_by.desc(), Case.id.desc()
    return sort_by.asc(), Case.id.asc()


def _past(
    sort_by: ColumnElement[Any], mark: ColumnElement[Any] | None, descending: bool
) -> list[ColumnElement[bool]]:
    """The condition that a case comes after the cursor's `mark` (none without one). A
    row value, not `a < x OR (a = x AND id < y)`: both databases seek to it in an index
    on (sort column, id), where the OR reads the index from its end. Every sortable
    column is NOT NULL, so the two mean the same."""
    if mark is None:
        return []
    after = tuple_(sort_by, Case.id)
    return [after < mark if descending else after > mark]


# Sorts an index of `cases` holds (with a team's or a case type's cases in it).
INDEXED_ORDERS = {"opened_at"}
# Sorts an index of all cases holds, but not of a team's or a case type's (0021).
SORT_INDEXES = {"priority"}
# SQLite reads a case along an index with a row lookup: about six times what one pass
# over the table costs a case. Teams and case types holding more than this share of all
# cases are read in one pass instead, when no index holds the sort.
BROAD_SHARE = 6


def _most_of_the_cases(
    session: Session, shared: list[ColumnElement[bool]], *, walk: bool, page: int
) -> bool:
    """SQLite, a sort no index of a team or a case type holds: whether the teams and case
    types showing someone cases hold too many cases to read each along its index, a row
    lookup a case, and sort them: 425 ms at 200,000 cases for a case type of most of
    them. SQLite cannot tell from its statistics, which give one average of cases per
    type (no histograms in most builds): the parts are counted, up to a bound.

    Without an index in the sort's order (`walk` false), the other way is one pass over
    the table and a sort (70 ms there): the bound is a BROAD_SHARE-th of all cases. With
    one (`ix_cases_priority`), it is to walk that index testing each case, which visits
    about `page` / share cases: both ways cost the same where the parts hold
    sqrt(`page` x all cases) (3,200 of 200,000 for a page of 50), the bound then."""
    # The table's largest rowid: its size, give or take the cases deleted, read at once.
    total = session.scalar(select(func.max(literal_column("rowid"))).select_from(Case)) or 0
    bound = math.isqrt(total * (page + 1)) if walk else total // BROAD_SHARE
    counted = 0
    for shown in shared:
        if counted > bound:
            break
        first = select(literal(1)).select_from(Case).where(shown).limit(bound + 1 - counted)
        counted += session.scalar(select(func.count()).select_from(first.subquery())) or 0
    return counted > bound


# The most teams and case types whose first pages a case list reads one by one: beyond
# it, one read in list order testing each case (as for all parts before) costs less
# than as many index reads, and SQLite allows 500 terms in a compound SELECT.
MAX_PARTS = 40


def _first_of_each(
    visible: VisibleCases,
    conditions: list[ColumnElement[bool]],
    order: tuple[Any, ...],
    count: int,
) -> CompoundSelect[tuple[str]]:
    """The ids among which a page of someone's case list is (`access.visible_cases`):
    the first `count` in list order, with the list's other conditions, of the cases
    naming them and of each team and case type that shows them cases, each read from
    its own index. The OR of them read the whole list in order, testing every case:
    250-420 ms at 200,000 cases for someone whose teams and case types hold few of them
    (SQLite and PostgreSQL alike)."""
    firsts = [
        select(Case.id).where(*conditions, shown).order_by(*order).limit(count).subquery()
        for shown in (visible.named, *visible.shared)
    ]
    return union_all(*(select(first.c.id) for first in firsts))


# Up to this many cases found by a search or by the index of case file fields, a page
# reads them by id and sorts them; beyond it, it reads the list in its order and keeps
# the ones found.
FEW_MATCHES = 1000


@dataclass(frozen=True, slots=True)
class _ByInternalNotes:
    """What finds cases by their internal notes for one searcher: the matching
    documents (`found`, by case id), and `worked`, the cases among them the searcher
    works on (None: all of them, for an admin)."""

    found: Select[tuple[str]]
    worked: ColumnElement[bool] | None

    def ids(self) -> Select[Any]:
        if self.worked is None:
            return self.found
        return select(Case.id).where(Case.id.in_(self.found), self.worked)


def _by_internal_notes(
    session: Session, actor: Actor, text: str, roles: Mapping[TypeVersion, frozenset[str]]
) -> _ByInternalNotes | None:
    """How a search finds the cases it finds by their internal notes, which only the
    people who work on a case may read: a requester finds none this way. None without
    the index (a database before migration 0025)."""
    if not has_internal_index(session):
        return None
    found = matching_ids(session, text, internal=True)
    if found is None:
        return None
    worked = None if actor.is_admin else access.worked_cases_condition(actor, roles)
    return _ByInternalNotes(found, worked)


def _matching(
    session: Session,
    found: Select[tuple[str]],
    text: str,
    internal: _ByInternalNotes | None = None,
) -> tuple[ColumnElement[bool], bool]:
    """The cases a search found (`found`, and those `internal` finds), or the case
    whose id was typed, and whether they are few. How a database reads them best
    depends on how many there are, which neither can tell from a search term: a rare
    word finds a few cases among millions, read by id; a common one finds most, and the
    newest of them come first in the list's own order. So the found ids are counted
    first, up to FEW_MATCHES."""
    typed_id = text.strip().upper()
    # UNION ALL, not UNION: reading can stop at the limit, where a UNION's distinct
    # may read every match of a common word first. A case found both
    # ways counts twice here, which only moves where "few" ends (under the limit, every
    # match was read).
    every = found if internal is None else found.union_all(internal.ids())
    few = session.scalars(every.limit(FEW_MATCHES + 1)).all()
    if len(few) <= FEW_MATCHES:
        return Case.id.in_([typed_id, *dict.fromkeys(few)]), True
    # Many (a common word): read the list in its order and keep the cases found, until
    # the page is full. `id || ''` is no indexed column, so neither database starts
    # from the matches instead (all of them, then sorted). SQLite matches by the
    # documents' rowids (no `case_id` read per match): 325 → 41 ms a page for a word
    # all of 200,000 cases hold. A case found by its internal notes is kept when the
    # searcher works on it, tested on the row the list reads anyway.
    sqlite = session.get_bind().dialect.name == "sqlite"
    rowid = Function(SEARCH_ROWID_FUNCTION, Case.id, type_=Integer)
    kept: list[ColumnElement[bool]] = [Case.id == typed_id]
    rowids = matching_rowids(text) if sqlite else None
    kept.append(rowid.in_(rowids) if rowids is not None else Case.id.concat("").in_(found))
    if internal is not None:
        internal_rowids = matching_rowids(text, internal=True) if sqlite else None
        by_notes = (
            rowid.in_(internal_rowids)
            if internal_rowids is not None
            else Case.id.concat("").in_(internal.found)
        )
        kept.append(by_notes if internal.worked is None else and_(by_notes, internal.worked))
    return or_(*kept), False


def _encode(value: Any, case_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([value, case_id]).encode()).decode()


def _decode(cursor: str) -> tuple[Any, str]:
    try:
        value, case_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, TypeError):
        raise InvalidInput("the cursor is not one this server gave out", field="cursor") from None
    return value, str(case_id)
