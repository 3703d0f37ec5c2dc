"""Who is acting: every service function takes the actor explicitly.

`id` is what the event log, case owners and assignees record: a person's username
(`services.identity.actor_for_user`), `cli:<os user>` for the command line,
`worker:<name>` for the worker, `system` for SYSTEM.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace


@dataclass(frozen=True, slots=True)
class Actor:
    id: str
    # Roles held for every case type.
    roles: frozenset[str] = field(default_factory=frozenset)
    teams: frozenset[str] = field(default_factory=frozenset)
    is_admin: bool = False
    # Roles held only for the cases of one type: (case type id, role).
    type_roles: frozenset[tuple[str, str]] = field(default_factory=frozenset)

    def has_role(self, role: str | None) -> bool:
        return role is None or self.is_admin or role in self.roles

    def roles_for(self, type_id: str) -> frozenset[str]:
        """The roles this actor holds on the cases of `type_id`."""
        scoped = {role for scope, role in self.type_roles if scope == type_id}
        return self.roles | scoped if scoped else self.roles

    def for_case_type(self, type_id: str) -> Actor:
        """This actor as it acts on a case of `type_id`: its roles scoped to that type
        become plain roles (what `cases.run_command` and `work.claim_next` check)."""
        if not self.type_roles:
            return self
        return replace(self, roles=self.roles_for(type_id), type_roles=frozenset())


SYSTEM = Actor("system", is_admin=True)
