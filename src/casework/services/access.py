"""The authorization policy, in one place: who may see a case, deploy case types,
administer people, and add or remove a case's documents.

Plain functions of the actor and plain facts, with no database reads of their own, so
the same rule serves in memory (`may_see_case`) and inside SQL
(`visible_cases_condition`); `services/visibility.py` loads the facts. A test checks the
two agree on every combination.

Who may see a case:

- admins (and SYSTEM, the CLI operator and the worker, which are admins) see every case;
- the people named on it see it, confidential or not: its owner and its participants
  (`case_participants`: requester, participant, named);
- when it is not confidential, also the members of its team and the holders of a role
  its case type (that very version) names, for every type or for that type only.

Someone who may not see a case gets NotFound for it, never Forbidden: they must not
learn that it exists.

Documents (`services/documents.py`):

- everyone who may see a case may read its documents and add documents and versions:
  the policy has no read-only way of seeing a case, and the people it lets see one
  (owner, participants including the requester, team, role holders) all work on it;
- taking a document off a case (to the bin), putting it back and seeing the bin is for
  admins, the case's owner and holders of the `case_manager` role (for every case type
  or this one) among those who see the case: what others uploaded stays unless someone
  answerable for the case removes it;
- emptying the bin for good (the purge) is for admins (operators) only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, exists, false, or_, select, true

from casework.model.definitions import CaseDefinition
from casework.services.actors import Actor
from casework.services.errors import Forbidden
from casework.store.identity_tables import CaseParticipant, User
from casework.store.tables import Case

# The grant that lets someone who is not an admin deploy case types.
CASE_TYPE_ADMIN = "case_type_admin"
# The grant that lets someone who is neither an admin nor the owner remove documents.
CASE_MANAGER = "case_manager"
PARTICIPANT_ROLES = frozenset({"requester", "participant", "named"})

TypeVersion = tuple[str, int]


@dataclass(frozen=True, slots=True)
class CaseFacts:
    """What the policy needs to know about one case."""

    type_id: str
    owner: str | None
    team: str | None
    confidential: bool
    participants: frozenset[str]  # usernames
    type_roles: frozenset[str]  # the roles its case type version names


def may_administer_users(actor: Actor) -> bool:
    return actor.is_admin


def may_deploy_case_types(actor: Actor) -> bool:
    return actor.is_admin or CASE_TYPE_ADMIN in actor.roles


def may_see_case(actor: Actor, case: CaseFacts) -> bool:
    if actor.is_admin:
        return True
    if case.owner == actor.id or actor.id in case.participants:
        return True
    if case.confidential:
        return False
    if case.team is not None and case.team in actor.teams:
        return True
    return bool(actor.roles_for(case.type_id) & case.type_roles)


def may_manage_participants(actor: Actor, case: CaseFacts) -> bool:
    """Naming people on a case lets them see it: its owner, its team and admins may."""
    if actor.is_admin or case.owner == actor.id:
        return True
    return case.team is not None and case.team in actor.teams


def require_user_admin(actor: Actor) -> None:
    if not may_administer_users(actor):
        raise Forbidden("only administrators may manage users, teams and roles")


def require_case_type_deployer(actor: Actor) -> None:
    if not may_deploy_case_types(actor):
        raise Forbidden(f"deploying case types needs the {CASE_TYPE_ADMIN} role")


def definition_roles(definition: CaseDefinition) -> frozenset[str]:
    """Every role a case type names: its role list, task roles and authorized roles."""
    names = {role.name for role in definition.roles}
    for item in definition.iter_items():
        if item.role:
            names.add(item.role)
        names.update(item.authorized_roles)
    return frozenset(names)


def role_type_versions(
    actor: Actor, type_roles: Mapping[TypeVersion, frozenset[str]]
) -> dict[str, list[int]]:
    """The case type versions on which the actor holds one of the roles they name."""
    out: dict[str, list[int]] = {}
    for (type_id, version), roles in sorted(type_roles.items()):
        if actor.roles_for(type_id) & roles:
            out.setdefault(type_id, []).append(version)
    return out


def visible_cases_condition(
    actor: Actor, type_roles: Mapping[TypeVersion, frozenset[str]]
) -> ColumnElement[bool]:
    """A WHERE condition on `cases` selecting exactly what `may_see_case` allows.

    `type_roles`: the roles each deployed (type id, version) names
    (`visibility.case_type_roles`).
    """
    if actor.is_admin:
        return true()
    participant = exists(
        select(CaseParticipant.case_id)
        .join(User, User.id == CaseParticipant.user_id)
        .where(CaseParticipant.case_id == Case.id, User.username == actor.id)
    )
    named = or_(Case.owner == actor.id, participant)
    shared: list[ColumnElement[bool]] = []
    if actor.teams:
        shared.append(Case.team.in_(sorted(actor.teams)))
    for type_id, versions in role_type_versions(actor, type_roles).items():
        shared.append(and_(Case.type_id == type_id, Case.type_version.in_(versions)))
    if not shared:
        return named
    return or_(named, and_(Case.confidential == false(), or_(*shared)))


def may_add_documents(actor: Actor, case: CaseFacts) -> bool:
    """Upload documents and new versions: whoever may see the case (see the module's
    docstring); a separate rule so that a read-only way of seeing changes it here."""
    return may_see_case(actor, case)


def may_remove_documents(actor: Actor, case: CaseFacts) -> bool:
    """Delete to the bin, restore from it, see it: admins, the owner, case managers."""
    if not may_see_case(actor, case):
        return False
    if actor.is_admin or case.owner == actor.id:
        return True
    return CASE_MANAGER in actor.roles_for(case.type_id)


def may_purge_documents(actor: Actor) -> bool:
    return actor.is_admin
