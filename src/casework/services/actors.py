"""Who is acting: every service function takes the actor explicitly."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Actor:
    id: str
    roles: frozenset[str] = field(default_factory=frozenset)
    teams: frozenset[str] = field(default_factory=frozenset)
    is_admin: bool = False

    def has_role(self, role: str | None) -> bool:
        return role is None or self.is_admin or role in self.roles


SYSTEM = Actor("system", is_admin=True)
