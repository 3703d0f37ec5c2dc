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

Cases (`services/case_actions.py`, the API's rules):

- opening a case of a type is for admins and the holders of a role the type names; a
  type with `requests:` also lets anyone signed in ask for one, named on it as its
  requester (`case_actions.open_case`);
- changing a case's status (suspend, resume, terminate, close, reopen) is for admins, its
  owner and case managers; its case file, notes and links for everyone who sees it;
- its *internal* notes are for the people who work on it (below), not for those merely
  named on it (a requester): they neither read nor write them, and nobody may mention
  them in one;
- reassigning it (its owner, its team) and re-prioritising it
  (`services/case_assignment.py`) is for admins, its owner, case managers and the
  members of its team, among those who see it. Its new owner must be someone who would
  see it without owning it (an admin, someone named on it, and unless it is
  confidential a member of its team, the new one if that changes too, or a holder of a
  role its type names): handing a case over never shows it to anyone new, and a
  confidential case stays with the people named on it.

Work (`services/task_access.py` applies these inside each command's transaction):

- the people who *work on* a case are, among those who see it, admins, its owner, its
  team, case managers and the holders of a role its case type names; the people merely
  named on it (a requester) see it but do not plan its work. They may plan its
  discretionary items (within `planned_by`) and add ad-hoc tasks;
- a human task is *done* (claimed, assigned to someone, started, completed, disabled,
  re-enabled) by the holders of its role, for every case type or this one; a task
  without a role by whoever sees the case (it may be work for the requester); admins
  may do any task;
- *managing work* (assigning anyone's task to anyone, taking it back, acting on a task
  assigned to someone else) is for admins, the owner and case managers;
- a task's assignee may hand it on (delegate) or let it go (unclaim); someone who could
  claim an unassigned task may also assign it straight to a colleague;
- a task is only ever assigned to someone who may do it and may see the case.

Webhooks (`services/webhooks.py`): a subscription sends every event of the cases of its
case type, confidential ones included, to a URL of its creator's choosing. So it is as
strong as reading every case of that type, and it is for admins and the people who
deploy that case type: holders of `case_type_admin` for every type (who may also
subscribe to all types at once) or for that one type.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, false, or_, select, true

from casework.model.definitions import CaseDefinition
from casework.services.actors import Actor
from casework.services.errors import Forbidden
from casework.store.identity_tables import CaseParticipant, User
from casework.store.tables import Case, table_of

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


def may_open_case(actor: Actor, type_id: str, type_roles: frozenset[str]) -> bool:
    """Open a case of a type: admins and holders of a role its newest version names (for
    every type or that one), who then see the case they opened (unless they open it
    confidential for someone else, which `case_actions.open_case` refuses)."""
    return actor.is_admin or bool(actor.roles_for(type_id) & type_roles)


def may_change_case_status(actor: Actor, case: CaseFacts) -> bool:
    """Suspend, resume, terminate, close or reopen a case: what ends or halts everyone's
    work is for those answerable for the case, as for removing documents: admins, its
    owner and case managers (for every type or this one) among those who see it."""
    if not may_see_case(actor, case):
        return False
    if actor.is_admin or case.owner == actor.id:
        return True
    return CASE_MANAGER in actor.roles_for(case.type_id)


def may_reassign_case(actor: Actor, case: CaseFacts) -> bool:
    """Change a case's owner, team or priority: admins, its owner, case managers (for
    every type or this one) and the members of its team, among those who see it."""
    if not may_see_case(actor, case):
        return False
    if actor.is_admin or case.owner == actor.id:
        return True
    if case.team is not None and case.team in actor.teams:
        return True
    return CASE_MANAGER in actor.roles_for(case.type_id)


def may_own_case(person: Actor, case: CaseFacts) -> bool:
    """Whether `person` may be made the owner of the case whose facts (its team included)
    are `case` after the change: only someone who would see it without owning it, so
    that handing a case over shows it to nobody new (see the module's docstring)."""
    return may_see_case(person, replace(case, owner=None))


def require_user_admin(actor: Actor) -> None:
    if not may_administer_users(actor):
        raise Forbidden("only administrators may manage users, teams and roles")


def require_job_operator(actor: Actor) -> None:
    """The worker's jobs span every case and carry handlers' errors: administrators'."""
    if not actor.is_admin:
        raise Forbidden("only administrators may see and retry the worker's jobs")


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


# `cases` once more, for the ids of the cases naming a person inside a query on `cases`
# (the same table without an alias would be the outer query's row).
_OWNED = table_of(Case).alias("owned")


def visible_cases_condition(
    actor: Actor, type_roles: Mapping[TypeVersion, frozenset[str]]
) -> ColumnElement[bool]:
    """A WHERE condition on `cases` selecting exactly what `may_see_case` allows.

    `type_roles`: the roles each deployed (type id, version) names
    (`visibility.case_type_roles`).
    """
    visible = visible_cases(actor, type_roles)
    return true() if visible is None else visible.condition()


@dataclass(frozen=True, slots=True)
class VisibleCases:
    """What someone who is not an admin sees, as the OR of conditions on `cases` that
    each read one index: `named`, the cases naming them (few, by id), and `shared`, the
    cases each of their teams and case types shows them (in the list's order, from a
    team's or a type's index). A case list reads each on its own and merges them
    (`queries.list_cases`), where the OR of them would read every case in list order."""

    named: ColumnElement[bool]
    shared: list[ColumnElement[bool]]

    def condition(self) -> ColumnElement[bool]:
        """All of it as one condition (`visible_cases_condition`)."""
        return or_(self.named, *self.shared)


def visible_cases(
    actor: Actor, type_roles: Mapping[TypeVersion, frozenset[str]]
) -> VisibleCases | None:
    """`visible_cases_condition` in its parts; None: every case (admins)."""
    if actor.is_admin:
        return None
    # The cases naming the person, as one list of ids (their own, and those they take
    # part in): a requester's case list reads those few cases by id, where testing
    # every case in list order for an owner or a participant row took 300-580 ms at
    # 200,000 cases (SQLite and PostgreSQL alike).
    owned = _OWNED.c
    named = Case.id.in_(
        select(owned.id)
        .where(owned.owner == actor.id)
        .union_all(
            select(CaseParticipant.case_id)
            .join(User, User.id == CaseParticipant.user_id)
            .where(User.username == actor.id)
        )
    )
    not_confidential = Case.confidential == false()
    shared: list[ColumnElement[bool]] = []
    # One condition per team, as per case type: each is read in order from its index.
    for team in sorted(actor.teams):
        shared.append(and_(not_confidential, Case.team == team))
    for type_id, versions in role_type_versions(actor, type_roles).items():
        shared.append(
            and_(not_confidential, Case.type_id == type_id, Case.type_version.in_(versions))
        )
    return VisibleCases(named, shared)


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


def may_manage_webhooks(actor: Actor, case_type: str | None) -> bool:
    """Create, see, change or delete a webhook subscription for `case_type` (None: every
    case type): admins and the case type's deployers (see the module's docstring)."""
    if actor.is_admin:
        return True
    if case_type is None:
        return CASE_TYPE_ADMIN in actor.roles
    return CASE_TYPE_ADMIN in actor.roles_for(case_type)


def may_manage_some_webhooks(actor: Actor) -> bool:
    """Whether the actor may manage the subscriptions of at least one case type."""
    if actor.is_admin or CASE_TYPE_ADMIN in actor.roles:
        return True
    return any(role == CASE_TYPE_ADMIN for _type, role in actor.type_roles)


def claimable_cases_condition(actor_id: Any) -> ColumnElement[bool]:
    """`visible_cases_condition` for a claim from a role's queue, as a WHERE condition on
    `cases` (`actor_id`: the actor's id, or a bind parameter for it).

    The claimer holds the queue's role for the case's type (the claim's own filter), and
    a queue's role is one its cases' types name (a task's role, an ad-hoc task's is
    checked to be one), so of the policy only this is left: a confidential case is seen
    by those named on it (owner, participants), any other one by the role's holders.
    """
    participant = exists(
        select(CaseParticipant.case_id)
        .join(User, User.id == CaseParticipant.user_id)
        .where(CaseParticipant.case_id == Case.id, User.username == actor_id)
    )
    return or_(Case.confidential == false(), Case.owner == actor_id, participant)


def may_work_on_case(actor: Actor, case: CaseFacts) -> bool:
    """Plan a case's work (discretionary items, ad-hoc tasks): admins, its owner, its
    team, case managers and holders of a role its case type names, among those who see
    it (see the module's docstring)."""
    if not may_see_case(actor, case):
        return False
    if actor.is_admin or case.owner == actor.id:
        return True
    if case.team is not None and case.team in actor.teams:
        return True
    roles = actor.roles_for(case.type_id)
    return CASE_MANAGER in roles or bool(roles & case.type_roles)


def worked_cases_condition(
    actor: Actor, type_roles: Mapping[TypeVersion, frozenset[str]]
) -> ColumnElement[bool]:
    """A WHERE condition on `cases` selecting exactly what `may_work_on_case` allows
    (`type_roles` as for `visible_cases_condition`): the cases whose internal notes a
    text search may find them by."""
    visible = visible_cases(actor, type_roles)
    if visible is None:
        return true()
    works: list[ColumnElement[bool]] = [Case.owner == actor.id]
    if actor.teams:
        works.append(Case.team.in_(sorted(actor.teams)))
    managed = sorted(
        {type_id for type_id, _ in type_roles if CASE_MANAGER in actor.roles_for(type_id)}
    )
    if managed:
        works.append(Case.type_id.in_(managed))
    for type_id, versions in role_type_versions(actor, type_roles).items():
        works.append(and_(Case.type_id == type_id, Case.type_version.in_(versions)))
    return and_(visible.condition(), or_(*works))


def may_read_internal_notes(actor: Actor, case: CaseFacts) -> bool:
    """Read and write a case's internal notes: the people who work on it (above), not
    those merely named on it (a requester), who see its other notes."""
    return may_work_on_case(actor, case)


def may_do_task(actor: Actor, case: CaseFacts, role: str | None) -> bool:
    """Claim, be given, start or complete a human task performed by `role` (None: a task
    for whoever sees the case)."""
    if actor.is_admin:
        return True
    if role is None:
        return may_see_case(actor, case)
    return role in actor.roles_for(case.type_id)


def may_manage_work(actor: Actor, case: CaseFacts) -> bool:
    """Assign anyone's tasks to anyone, take them back, act on a task assigned to someone
    else: admins, the owner and case managers among those who see the case."""
    if not may_see_case(actor, case):
        return False
    if actor.is_admin or case.owner == actor.id:
        return True
    return CASE_MANAGER in actor.roles_for(case.type_id)


def may_assign_task(
    actor: Actor, case: CaseFacts, role: str | None, assignee: str | None, *, delegate: bool
) -> bool:
    """Give a task (performed by `role`, now with `assignee`) to someone: managers; its
    assignee (delegating); and, while nobody has it, whoever could claim it."""
    if may_manage_work(actor, case) or (assignee is not None and assignee == actor.id):
        return True
    return not delegate and assignee is None and may_do_task(actor, case, role)


def may_unassign_task(actor: Actor, case: CaseFacts, assignee: str | None) -> bool:
    """Put a task back in its queue: its assignee (unclaim) and managers."""
    return (assignee is not None and assignee == actor.id) or may_manage_work(actor, case)
