"""People on SQLite and PostgreSQL: accounts, passwords, login limits, tokens, sessions,
teams and role grants, and the Actor they add up to."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker
from tests.people import NOW, PASSWORD, cheap_hashing, make_user  # noqa: F401

from casework.services import credentials, identity, identity_links, membership
from casework.services.actors import SYSTEM, Actor
from casework.services.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    RateLimited,
    Unauthenticated,
)
from casework.services.login_limits import LoginLimit
from casework.store import migrate
from casework.store.db import make_engine, session_factory
from casework.store.identity_tables import ApiToken, LoginFailure, User, UserSession

LIMIT = LoginLimit(max_failures=3, window=timedelta(minutes=10))
ISSUER = "https://idp.example.org"


@pytest.fixture
def db(db_url: str) -> Iterator[sessionmaker[Session]]:
    migrate.upgrade(db_url)
    engine = make_engine(db_url)
    yield session_factory(engine)
    engine.dispose()


def _login(
    db: sessionmaker[Session],
    password: str = PASSWORD,
    *,
    username: str = "ann",
    client: str = "10.0.0.1",
    minutes: float = 0,
) -> identity.UserRecord:
    return identity.authenticate_password(
        db,
        username=username,
        password=password,
        client=client,
        now=NOW + timedelta(minutes=minutes),
        limit=LIMIT,
    )


# --- accounts and passwords --------------------------------------------------------------


def test_the_database_keeps_an_argon2_hash_never_the_password(db: sessionmaker[Session]) -> None:
    user = make_user(db, "ann")
    assert user.has_password and not user.is_admin and user.active
    with db() as session:
        stored = session.scalar(select(User.password_hash).where(User.username == "ann"))
        dump = " ".join(str(v) for v in session.execute(text("SELECT * FROM users")).one())
    assert stored is not None and stored.startswith("$argon2id$")
    assert PASSWORD not in dump
    assert _login(db).username == "ann"
    assert _login(db, username=" ANN ").username == "ann"  # usernames are lower case


def test_a_login_rehashes_a_password_hashed_with_older_parameters(
    db: sessionmaker[Session],
) -> None:
    make_user(db, "ann")
    identity.configure_password_hashing(PasswordHasher(time_cost=2, memory_cost=16, parallelism=1))
    _login(db)
    with db() as session:
        stored = session.scalar(select(User.password_hash))
    assert stored is not None and "m=16,t=2,p=1" in stored
    assert _login(db).username == "ann"


def test_wrong_unknown_inactive_and_passwordless_logins_fail_alike(
    db: sessionmaker[Session],
) -> None:
    make_user(db, "ann")
    make_user(db, "oidc", password=None)
    make_user(db, "gone")
    identity.update_user(db, actor=SYSTEM, username="gone", active=False)
    for username, password in [
        ("ann", "wrong horse battery staple"),
        ("nobody", PASSWORD),
        ("gone", PASSWORD),
        ("oidc", PASSWORD),
        ("ann", "x" * 5000),
    ]:
        with pytest.raises(Unauthenticated) as caught:
            _login(db, password, username=username, client=f"c-{username}-{len(password)}")
        assert caught.value.message == "wrong username or password"


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("", "must not be empty"),
        ("   ", "must not be empty"),
        ("short", "at least 12"),
        ("password1234", "too easy"),
        ("ann-is-my-password", "too easy"),
        ("aaaaaaaaaaaaaaaa", "too easy"),
        ("x" * 300, "at most 256"),
    ],
)
def test_weak_passwords_are_refused_naming_the_field(
    db: sessionmaker[Session], password: str, message: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        make_user(db, "ann", password=password)
    assert caught.value.field == "password" and message in caught.value.message
    with db() as session:
        assert session.scalars(select(User)).all() == []


def test_usernames_are_checked_and_unique(db: sessionmaker[Session]) -> None:
    for bad in ("a", "system", "cli:ann", "ann smith", "-ann", "x" * 65):
        with pytest.raises(InvalidInput) as caught:
            make_user(db, bad)
        assert caught.value.field == "username"
    make_user(db, "ann")
    with pytest.raises(Conflict) as conflict:
        make_user(db, "Ann")
    assert conflict.value.field == "username"


def test_profile_fields_are_checked(db: sessionmaker[Session]) -> None:
    make_user(db, "ann")
    for field, value in [
        ("email", "not-an-address"),
        ("time_zone", "Mars/Olympus"),
        ("locale", "?"),
    ]:
        with pytest.raises(InvalidInput) as caught:
            identity.update_user(db, actor=SYSTEM, username="ann", **{field: value})
        assert caught.value.field == field
    user = identity.update_profile(
        db, actor=Actor("ann"), email="ann@example.org", time_zone="Europe/Paris", locale="fr-CH"
    )
    assert (user.email, user.time_zone, user.locale) == ("ann@example.org", "Europe/Paris", "fr-CH")


def test_only_admins_administer_and_none_demotes_themselves(db: sessionmaker[Session]) -> None:
    make_user(db, "root", is_admin=True)
    worker = Actor("bob", roles=frozenset({"handler"}))
    with pytest.raises(Forbidden):
        identity.create_user(db, actor=worker, username="eve", name="Eve", now=NOW)
    with pytest.raises(Forbidden):
        membership.create_team(db, actor=worker, name="north", now=NOW)
    with pytest.raises(Forbidden):
        membership.grant_role(db, actor=worker, username="root", role="x", now=NOW)
    with pytest.raises(Forbidden):
        identity_links.link_identity(
            db, actor=worker, username="root", subject="s", issuer=ISSUER, now=NOW
        )
    with pytest.raises(Forbidden), db() as session:
        identity_links.identities_of(session, actor=worker, username="root")
    with pytest.raises(Forbidden):
        identity_links.unlink_identity(db, actor=worker, username="root", identity_id=1)
    with pytest.raises(Forbidden):
        identity_links.unlink_subject(db, actor=worker, username="root", subject="s", issuer=ISSUER)
    root = Actor("root", is_admin=True)
    for change in ({"is_admin": False}, {"active": False}):
        with pytest.raises(InvalidInput):
            identity.update_user(db, actor=root, username="root", **change)


# --- the login limit ---------------------------------------------------------------------


def test_failed_logins_are_limited_per_username_and_client(db: sessionmaker[Session]) -> None:
    make_user(db, "ann")
    for n in range(3):
        with pytest.raises(Unauthenticated):
            _login(db, "wrong horse battery", minutes=n)
    # The limit is reached: even the right password is not looked at now.
    with pytest.raises(RateLimited) as limited:
        _login(db, minutes=3)
    # Free again when the oldest failure (minute 0) leaves the 10-minute window.
    assert limited.value.retry_after == 7 * 60
    assert limited.value.code == "rate-limited"
    # Another client, or another username from this client, is not held back.
    assert _login(db, client="10.0.0.2", minutes=3).username == "ann"
    with pytest.raises(Unauthenticated):
        _login(db, username="bob", minutes=3)
    # After the window, the right password works and forgives the failures.
    assert _login(db, minutes=10.5).username == "ann"
    with db() as session:
        left = session.scalars(select(LoginFailure).where(LoginFailure.client == "10.0.0.1"))
        assert [f.username for f in left] == ["bob"]


def test_a_burst_of_parallel_guesses_gets_no_more_than_the_limit(
    db: sessionmaker[Session],
) -> None:
    make_user(db, "ann")
    outcomes: list[str] = []

    def guess() -> None:
        try:
            _login(db, "wrong horse battery")
        except Unauthenticated:
            outcomes.append("checked")
        except RateLimited:
            outcomes.append("limited")

    threads = [threading.Thread(target=guess) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(outcomes) == 8
    assert outcomes.count("checked") <= LIMIT.max_failures


# --- API tokens --------------------------------------------------------------------------


def test_tokens_are_stored_hashed_and_stop_working_when_revoked(
    db: sessionmaker[Session],
) -> None:
    make_user(db, "ann", roles=("handler",), teams=("north",))
    ann = Actor("ann")
    created = credentials.create_token(db, actor=ann, username="ann", name="laptop", now=NOW)
    secret = created.secret
    assert secret.startswith("cwt_") and len(secret) > 40
    assert created.record.prefix == secret[:10] and created.record.last_used_at is None
    with db() as session:
        row = session.scalars(select(ApiToken)).one()
        assert row.token_hash == hashlib.sha256(secret.encode()).hexdigest()
        assert secret not in (row.token_hash, row.prefix, row.name)

    actor = credentials.actor_for_token(db, secret, NOW)
    assert actor == Actor("ann", roles=frozenset({"handler"}), teams=frozenset({"north"}))
    assert credentials.actor_for_token(db, secret + "x", NOW) is None
    assert credentials.actor_for_token(db, "not-a-token", NOW) is None
    with db() as session:
        [listed] = credentials.list_tokens(session, actor=ann, username="ann")
    assert listed.last_used_at == NOW and not hasattr(listed, "secret")
    # last_used_at moves at most once a minute: reads stay reads.
    credentials.actor_for_token(db, secret, NOW + timedelta(seconds=30))
    credentials.actor_for_token(db, secret, NOW + timedelta(minutes=2))
    with db() as session:
        [listed] = credentials.list_tokens(session, actor=ann, username="ann")
    assert listed.last_used_at == NOW + timedelta(minutes=2)

    with pytest.raises(NotFound):  # someone else's token looks like no token at all
        credentials.revoke_token(db, actor=Actor("bob"), token_id=listed.id, now=NOW)
    revoked = credentials.revoke_token(db, actor=ann, token_id=listed.id, now=NOW)
    assert revoked.revoked_at == NOW
    assert credentials.actor_for_token(db, secret, NOW) is None


def test_expired_tokens_and_deactivated_accounts_do_not_authenticate(
    db: sessionmaker[Session],
) -> None:
    make_user(db, "ann")
    ann = Actor("ann")
    with pytest.raises(InvalidInput):
        credentials.create_token(db, actor=ann, username="ann", name="x", now=NOW, expires_at=NOW)
    with pytest.raises(Forbidden):
        credentials.create_token(db, actor=Actor("bob"), username="ann", name="x", now=NOW)
    day = credentials.create_token(
        db, actor=ann, username="ann", name="x", now=NOW, expires_at=NOW + timedelta(days=1)
    ).secret
    assert credentials.actor_for_token(db, day, NOW + timedelta(hours=23)) is not None
    assert credentials.actor_for_token(db, day, NOW + timedelta(days=1)) is None
    keep = credentials.create_token(db, actor=ann, username="ann", name="y", now=NOW).secret
    identity.update_user(db, actor=SYSTEM, username="ann", active=False)
    assert credentials.actor_for_token(db, keep, NOW) is None


# --- sessions ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("roles", "teams"),
    [
        ((), ()),
        (("handler",), ()),
        ((), ("north",)),
        (("handler", "manager@claim", "handler@claim", "clerk@permit"), ("north", "south", "east")),
    ],
    ids=["nothing", "a role", "a team", "grants-and-teams"],
)
def test_a_token_or_a_session_resolves_to_what_the_account_holds(
    db: sessionmaker[Session], roles: tuple[str, ...], teams: tuple[str, ...]
) -> None:
    """The caller comes from one read (the credential, the account, its grants and
    teams): the same Actor as the account's own grants and teams make."""
    user = make_user(db, "ann", roles=roles, teams=teams)
    make_user(db, "bob", roles=("auditor", "clerk@claim"), teams=("west",))  # not ann's
    with db() as session:
        expected = identity.actor_for_user(session, user)
    assert expected.roles == {r for r in roles if "@" not in r}
    assert expected.type_roles == {
        (r.partition("@")[2], r.partition("@")[0]) for r in roles if "@" in r
    }
    assert expected.teams == set(teams)
    token = credentials.create_token(db, actor=SYSTEM, username="ann", name="t", now=NOW)
    assert credentials.actor_for_token(db, token.secret, NOW) == expected
    browser = credentials.create_session(db, user_id=user.id, now=NOW)
    assert credentials.resolve_session(db, browser.secret, NOW) == expected


def test_sessions_expire_end_on_logout_and_store_no_secret(db: sessionmaker[Session]) -> None:
    user = make_user(db, "ann", is_admin=True)
    ttl = timedelta(hours=1)
    created = credentials.create_session(db, user_id=user.id, now=NOW, ttl=ttl)
    assert created.expires_at == NOW + ttl
    with db() as session:
        assert (
            session.scalars(select(UserSession.id_hash)).one()
            == hashlib.sha256(created.secret.encode()).hexdigest()
        )
    actor = credentials.resolve_session(db, created.secret, NOW + timedelta(minutes=59))
    assert actor == Actor("ann", is_admin=True)
    assert credentials.resolve_session(db, created.secret, NOW + ttl) is None
    assert credentials.resolve_session(db, "made-up", NOW) is None
    other = credentials.create_session(db, user_id=user.id, now=NOW, ttl=ttl)
    credentials.revoke_session(db, other.secret)
    assert credentials.resolve_session(db, other.secret, NOW) is None
    # The anti-CSRF token belongs to its session only.
    assert credentials.csrf_matches(created.secret, created.csrf_token)
    assert not credentials.csrf_matches(other.secret, created.csrf_token)
    assert not credentials.csrf_matches(created.secret, None)
    # Expired sessions are cleared as new ones start.
    credentials.create_session(db, user_id=user.id, now=NOW + 2 * ttl, ttl=ttl)
    with db() as session:
        assert len(session.scalars(select(UserSession)).all()) == 1


def test_a_new_password_ends_sessions_but_the_one_changing_it(db: sessionmaker[Session]) -> None:
    user = make_user(db, "ann")
    here = credentials.create_session(db, user_id=user.id, now=NOW)
    there = credentials.create_session(db, user_id=user.id, now=NOW)
    ann = Actor("ann")
    with pytest.raises(InvalidInput) as wrong:
        identity.change_password(
            db, actor=ann, current_password="nope", new_password="another good secret"
        )
    assert wrong.value.field == "current_password"
    with pytest.raises(InvalidInput) as weak:
        identity.change_password(db, actor=ann, current_password=PASSWORD, new_password="short")
    assert weak.value.field == "new_password"
    identity.change_password(
        db,
        actor=ann,
        current_password=PASSWORD,
        new_password="another good secret",
        keep_session=here.secret,
    )
    assert credentials.resolve_session(db, here.secret, NOW) is not None
    assert credentials.resolve_session(db, there.secret, NOW) is None
    assert _login(db, "another good secret").username == "ann"
    # An administrator setting a password ends every session.
    identity.update_user(db, actor=SYSTEM, username="ann", password="yet another secret")
    assert credentials.resolve_session(db, here.secret, NOW) is None


# --- teams, grants, the actor ------------------------------------------------------------


def test_teams_and_grants_make_up_the_actor(db: sessionmaker[Session]) -> None:
    user = make_user(db, "ann", roles=("claims handler", "manager@claim"), teams=("north",))
    membership.create_team(db, actor=SYSTEM, name="south", now=NOW, description="South")
    team = membership.add_member(db, actor=SYSTEM, team="south", username="ann", now=NOW)
    assert team.members == ("ann",)
    membership.add_member(db, actor=SYSTEM, team="south", username="ann", now=NOW)  # again
    again = membership.grant_role(
        db, actor=SYSTEM, username="ann", role="manager", case_type="claim", now=NOW
    )
    with db() as session:
        actor = identity.actor_for_user(session, user)
        grants = membership.grants_of(session, "ann")
        assert membership.teams_of(session, "ann") == ["north", "south"]
    assert [(g.role, g.case_type) for g in grants] == [
        ("claims handler", None),
        ("manager", "claim"),
    ]
    assert again.id == grants[1].id  # granting twice keeps one grant
    assert actor == Actor(
        "ann",
        roles=frozenset({"claims handler"}),
        teams=frozenset({"north", "south"}),
        type_roles=frozenset({("claim", "manager")}),
    )
    assert actor.roles_for("claim") == {"claims handler", "manager"}
    assert actor.for_case_type("other").roles == {"claims handler"}
    assert actor.for_case_type("claim").has_role("manager")

    membership.revoke_grant(db, actor=SYSTEM, username="ann", grant_id=grants[1].id)
    with pytest.raises(NotFound):
        membership.revoke_grant(db, actor=SYSTEM, username="ann", grant_id=grants[1].id)
    membership.remove_member(db, actor=SYSTEM, team="north", username="ann")
    with db() as session:
        actor = identity.actor_for_user(session, user)
    assert actor.teams == {"south"} and actor.type_roles == frozenset()

    with pytest.raises(Conflict):
        membership.create_team(db, actor=SYSTEM, name="south", now=NOW)
    with pytest.raises(InvalidInput):
        membership.create_team(db, actor=SYSTEM, name="a/b", now=NOW)
    with pytest.raises(NotFound):
        membership.add_member(db, actor=SYSTEM, team="east", username="ann", now=NOW)
    with pytest.raises(NotFound):
        membership.add_member(db, actor=SYSTEM, team="south", username="nobody", now=NOW)


# --- identities at the OpenID Connect provider -------------------------------------------


def test_identities_are_linked_once_per_issuer_and_unlinking_ends_sessions(
    db: sessionmaker[Session],
) -> None:
    ann, _ = make_user(db, "ann"), make_user(db, "bob")
    link = identity_links.link_identity(
        db, actor=SYSTEM, username="Ann", subject="  sub-ann ", issuer=ISSUER + " ", now=NOW
    )
    assert (link.username, link.issuer, link.subject) == ("ann", ISSUER, "sub-ann")
    assert (link.email, link.created_at, link.last_login_at) == (None, NOW, None)
    again = identity_links.link_identity(
        db, actor=SYSTEM, username="ann", subject="sub-ann", issuer=ISSUER, now=NOW
    )
    assert again == link  # linking what is linked changes nothing
    with pytest.raises(Conflict, match="linked to ann already"):
        identity_links.link_identity(
            db, actor=SYSTEM, username="bob", subject="sub-ann", issuer=ISSUER, now=NOW
        )
    with pytest.raises(Conflict, match="unlink that one first"):
        identity_links.link_identity(
            db, actor=SYSTEM, username="ann", subject="sub-2", issuer=ISSUER, now=NOW
        )
    elsewhere = identity_links.link_identity(
        db, actor=SYSTEM, username="ann", subject="sub-ann", issuer="https://other.test", now=NOW
    )
    bad: list[tuple[str, str | None, str]] = [
        (" ", ISSUER, "subject"),
        ("s" * 256, ISSUER, "subject"),
        ("sub-\u00e9", ISSUER, "subject"),
        ("sub-bob", None, "issuer"),
        ("sub-bob", "idp.example.org", "issuer"),
        ("sub-bob", "https://idp.example.org/a b", "issuer"),
        ("sub-bob", "https://" + "i" * 500, "issuer"),
    ]
    for subject, issuer, field in bad:
        with pytest.raises(InvalidInput) as refused:
            identity_links.link_identity(
                db, actor=SYSTEM, username="bob", subject=subject, issuer=issuer, now=NOW
            )
        assert refused.value.field == field, (subject, issuer)
    with pytest.raises(NotFound):
        identity_links.link_identity(
            db, actor=SYSTEM, username="ghost", subject="s", issuer=ISSUER, now=NOW
        )
    with db() as session:
        assert identity_links.identities_of(session, actor=SYSTEM, username="bob") == []
        assert identity_links.identities_of(session, actor=SYSTEM, username="ann") == [
            link,
            elsewhere,
        ]

    signed_in = credentials.create_session(db, user_id=ann.id, now=NOW)
    with pytest.raises(NotFound):  # bob's view of ann's link: not his
        identity_links.unlink_identity(db, actor=SYSTEM, username="bob", identity_id=link.id)
    assert credentials.resolve_session(db, signed_in.secret, NOW) is not None
    gone = identity_links.unlink_identity(db, actor=SYSTEM, username="ann", identity_id=link.id)
    assert gone == link
    assert credentials.resolve_session(db, signed_in.secret, NOW) is None
    with pytest.raises(NotFound):
        identity_links.unlink_identity(db, actor=SYSTEM, username="ann", identity_id=link.id)
    identity_links.unlink_subject(
        db, actor=SYSTEM, username="ann", subject="sub-ann", issuer="https://other.test"
    )
    with pytest.raises(NotFound):
        identity_links.unlink_subject(
            db, actor=SYSTEM, username="ann", subject="sub-ann", issuer="https://other.test"
        )
    # The identity is free again: bob may have it now.
    identity_links.link_identity(
        db, actor=SYSTEM, username="bob", subject="sub-ann", issuer=ISSUER, now=NOW
    )
