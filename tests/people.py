"""Helpers for tests about people: cheap password hashing and quick accounts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from argon2 import PasswordHasher
from sqlalchemy.orm import Session, sessionmaker

from casework.services import identity, membership
from casework.services.actors import SYSTEM
from casework.services.identity import UserRecord

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def cheap_hashing() -> Iterator[None]:
    """argon2id still, with the smallest cost: tests hash many passwords on 2 cores."""
    identity.configure_password_hashing(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    yield
    identity.configure_password_hashing(PasswordHasher())


def make_user(
    db: sessionmaker[Session],
    username: str,
    *,
    password: str | None = PASSWORD,
    is_admin: bool = False,
    roles: tuple[str, ...] = (),
    teams: tuple[str, ...] = (),
    email: str | None = None,
) -> UserRecord:
    """An account; `roles` as ROLE or ROLE@CASE_TYPE; teams are created as needed."""
    user = identity.create_user(
        db,
        actor=SYSTEM,
        username=username,
        name=username.title(),
        email=email,
        password=password,
        is_admin=is_admin,
        now=NOW,
    )
    for text in roles:
        role, _, case_type = text.partition("@")
        membership.grant_role(
            db, actor=SYSTEM, username=username, role=role, case_type=case_type or None, now=NOW
        )
    for team in teams:
        with db() as session:
            known = {t.name for t in membership.list_teams(session)}
        if team not in known:
            membership.create_team(db, actor=SYSTEM, name=team, now=NOW)
        membership.add_member(db, actor=SYSTEM, team=team, username=username, now=NOW)
    return user
