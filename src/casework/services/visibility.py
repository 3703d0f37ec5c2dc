"""Applying the policy of `access.py` to the database: which cases an actor may see.

`get_case` and `queries.list_cases` both filter with `access.visible_cases_condition`, so
a case missing from someone's list is also a NotFound when they ask for it by id.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable

from sqlalchemy import ColumnElement, Connection, Engine, select
from sqlalchemy.orm import Session

from casework.services import access
from casework.services.access import CaseFacts, TypeVersion
from casework.services.actors import Actor
from casework.services.case_types import parse_source
from casework.services.errors import NotFound
from casework.store.db import engine_of
from casework.store.identity_tables import CaseParticipant, User
from casework.store.tables import Case, CaseTypeVersion

# Roles per deployed (type id, version), per database: a deployed version never changes,
# so its source is parsed once per process.
_ROLES: weakref.WeakKeyDictionary[Engine, dict[TypeVersion, frozenset[str]]] = (
    weakref.WeakKeyDictionary()
)


def case_type_roles(
    session: Session | Connection, keys: Iterable[TypeVersion] | None = None
) -> dict[TypeVersion, frozenset[str]]:
    """The roles each deployed case type version names (those of `keys`, or all)."""
    cache = _ROLES.setdefault(engine_of(session), {})
    if keys is None:
        query = select(CaseTypeVersion.type_id, CaseTypeVersion.version)
        wanted = [(str(t), int(v)) for t, v in session.execute(query)]
    else:
        wanted = list(keys)
    missing = sorted({t for t, v in wanted if (t, v) not in cache})
    if missing:
        rows = session.execute(
            select(
                CaseTypeVersion.type_id,
                CaseTypeVersion.version,
                CaseTypeVersion.source,
                CaseTypeVersion.source_format,
                CaseTypeVersion.dialect,
            ).where(CaseTypeVersion.type_id.in_(missing))
        )
        for row in rows:
            key = (row.type_id, row.version)
            if key not in cache:
                definitions = parse_source(row.source, row.source_format, row.dialect, check=False)
                cache[key] = frozenset().union(
                    *(access.definition_roles(d) for d in definitions if d.id == row.type_id)
                )
    return {key: cache.get(key, frozenset()) for key in wanted}


def visible_condition(session: Session | Connection, actor: Actor) -> ColumnElement[bool]:
    """`access.visible_cases_condition` with the case type roles loaded."""
    if actor.is_admin:
        return access.visible_cases_condition(actor, {})
    return access.visible_cases_condition(actor, case_type_roles(session))


def get_case(session: Session, actor: Actor, case_id: str) -> Case:
    """The case, if the actor may see it; NotFound alike when it does not exist and when
    they may not see it.

    The row is read by its key and `access.may_see_case` decides, asking the database
    only what the row does not say: the roles of its own type version (parsed once per
    process) and, when nothing else shows it to them, whether they take part in it. The
    condition a case list filters with (`visible_condition`) needs every deployed
    version's roles, a read of its own on each request; both follow the one policy
    (tests/integration/test_access.py holds them to it)."""
    row = session.get(Case, case_id)
    if row is None or not _sees(session, actor, row):
        raise NotFound(f"no case {case_id}")
    return row


def _sees(session: Session, actor: Actor, row: Case) -> bool:
    if actor.is_admin or row.owner == actor.id:
        return True
    if not row.confidential:
        if row.team is not None and row.team in actor.teams:
            return True
        held = actor.roles_for(row.type_id)
        if held:
            key = (row.type_id, row.type_version)
            if held & case_type_roles(session, [key])[key]:
                return True
    taking_part = session.scalar(
        select(CaseParticipant.case_id)
        .join(User, User.id == CaseParticipant.user_id)
        .where(CaseParticipant.case_id == row.id, User.username == actor.id)
        .limit(1)
    )
    return taking_part is not None


def case_facts(session: Session | Connection, case_id: str) -> CaseFacts:
    """What the policy needs to know about a case (NotFound when there is none)."""
    row = session.execute(
        select(Case.type_id, Case.type_version, Case.owner, Case.team, Case.confidential).where(
            Case.id == case_id
        )
    ).first()
    if row is None:
        raise NotFound(f"no case {case_id}")
    participants = session.scalars(
        select(User.username)
        .join(CaseParticipant, CaseParticipant.user_id == User.id)
        .where(CaseParticipant.case_id == case_id)
    ).all()
    key = (row.type_id, row.type_version)
    roles = case_type_roles(session, [key])[key]
    return CaseFacts(
        type_id=row.type_id,
        owner=row.owner,
        team=row.team,
        confidential=bool(row.confidential),
        participants=frozenset(participants),
        type_roles=roles,
    )
