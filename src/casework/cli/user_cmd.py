"""`casework user create | list | set-password | link | unlink | identities`: accounts, and
the identities at the OpenID Connect provider they are linked to, from the operator's
terminal.

Passwords never go on the command line (other users of the machine see it in `ps`):
they are read from standard input with `--password-stdin`, or asked for.
"""

from __future__ import annotations

import contextlib
import sys
from dataclasses import asdict
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from casework.cli.common import DatabaseUrl, Json, database, now, operator, print_json
from casework.cli.errors import fail
from casework.services import identity, identity_links, membership
from casework.services.errors import Conflict

app = typer.Typer(no_args_is_help=True)

PasswordStdin = Annotated[
    bool,
    typer.Option("--password-stdin", help="Read the password from standard input."),
]
Subject = Annotated[
    str,
    typer.Option("--subject", help="The `sub` the provider's ID tokens carry for the person."),
]
# The server's own setting is the default: the issuer its sign-ins see.
Issuer = Annotated[
    str | None,
    typer.Option(
        "--issuer",
        envvar="CASEWORK_OIDC_ISSUER",
        help="The provider's issuer, as its ID tokens' `iss` (default: the configured one).",
    ),
]


def read_password(from_stdin: bool, prompt: str = "Password") -> str:
    """From standard input (its first line), or asked for twice, hidden."""
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            fail("--password-stdin: nothing on standard input")
        return line.rstrip("\r\n")
    value: str = typer.prompt(prompt, hide_input=True, confirmation_prompt=True)
    return value


def parse_role(text: str) -> tuple[str, str | None]:
    """`ROLE` (every case type) or `ROLE@CASE_TYPE` (that type only)."""
    role, _, case_type = text.rpartition("@") if "@" in text else (text, "", "")
    return role, (case_type or None)


@app.command("create")
def create(
    username: Annotated[str, typer.Argument(help="Login name: 2-64 of a-z 0-9 . _ -")],
    name: Annotated[str, typer.Option("--name", help="The person's full name.")],
    email: Annotated[str | None, typer.Option("--email")] = None,
    password_stdin: PasswordStdin = False,
    no_password: Annotated[
        bool, typer.Option("--no-password", help="No password: they sign in elsewhere (OIDC).")
    ] = False,
    admin: Annotated[bool, typer.Option("--admin", help="Make them an administrator.")] = False,
    role: Annotated[
        list[str] | None,
        typer.Option("--role", help="Grant ROLE, or ROLE@CASE_TYPE for one type (repeatable)."),
    ] = None,
    team: Annotated[
        list[str] | None,
        typer.Option("--team", help="Put them in TEAM, created if need be (repeatable)."),
    ] = None,
    database_url: DatabaseUrl = None,
    json_out: Json = False,
) -> None:
    """Create a user account, with roles and teams."""
    if password_stdin and no_password:
        fail("give --password-stdin or --no-password, not both")
    password = None if no_password else read_password(password_stdin)
    actor, at = operator(), now()
    with database(database_url) as db:
        # Check the cheap things before the account exists, so a typo leaves nothing.
        if password is not None:
            identity.check_password(password, identity.normalize_username(username))
        user = identity.create_user(
            db,
            actor=actor,
            username=username,
            name=name,
            email=email,
            password=password,
            is_admin=admin,
            now=at,
        )
        for text in role or []:
            role_name, case_type = parse_role(text)
            membership.grant_role(
                db, actor=actor, username=user.username, role=role_name, case_type=case_type, now=at
            )
        for team_name in team or []:
            with contextlib.suppress(Conflict):  # it exists already: just join it
                membership.create_team(db, actor=actor, name=team_name, now=at)
            membership.add_member(db, actor=actor, team=team_name, username=user.username, now=at)
        with db() as session:
            row = _user_dict(session, user)
    if json_out:
        print_json(row)
    else:
        extra = ", administrator" if user.is_admin else ""
        typer.echo(f"created user {user.username} ({user.name}{extra})")


def _user_dict(session: Session, user: identity.UserRecord) -> dict[str, Any]:
    out = asdict(user)
    out.pop("id")
    out["teams"] = membership.teams_of(session, user.username)
    out["roles"] = [
        g.role if g.case_type is None else f"{g.role}@{g.case_type}"
        for g in membership.grants_of(session, user.username)
    ]
    return out


@app.command("list")
def list_(database_url: DatabaseUrl = None, json_out: Json = False) -> None:
    """Every user account, with teams and roles."""
    with database(database_url) as db, db() as session:
        rows = [_user_dict(session, u) for u in identity.list_users(session)]
    if json_out:
        print_json(rows)
        return
    table = Table("username", "name", "admin", "active", "teams", "roles")
    for r in rows:
        table.add_row(
            r["username"],
            r["name"],
            "yes" if r["is_admin"] else "",
            "yes" if r["active"] else "no",
            ", ".join(r["teams"]),
            ", ".join(r["roles"]),
        )
    Console().print(table)


@app.command("set-password")
def set_password(
    username: Annotated[str, typer.Argument(help="Whose password.")],
    password_stdin: PasswordStdin = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Set a user's password (their browser sessions end; API tokens stay)."""
    password = read_password(password_stdin, "New password")
    with database(database_url) as db:
        identity.update_user(db, actor=operator(), username=username, password=password)
    typer.echo(f"set the password of {identity.normalize_username(username)}")


# --- identities at the OpenID Connect provider -------------------------------------------


@app.command("link")
def link(
    username: Annotated[str, typer.Argument(help="Whose account.")],
    subject: Subject,
    issuer: Issuer = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Link an account to the person's identity at the OpenID Connect provider: their
    sign-ins then find it, with or without a verified e-mail address."""
    with database(database_url) as db:
        record = identity_links.link_identity(
            db, actor=operator(), username=username, subject=subject, issuer=issuer, now=now()
        )
    typer.echo(f"linked {record.username} to {record.subject} at {record.issuer}")


@app.command("unlink")
def unlink(
    username: Annotated[str, typer.Argument(help="Whose account.")],
    subject: Annotated[
        str | None, typer.Option("--subject", help="The linked identity's subject.")
    ] = None,
    issuer: Issuer = None,
    identity_id: Annotated[
        int | None,
        typer.Option("--id", min=1, help="Or the link's id (`casework user identities`)."),
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Take a linked identity away from an account (its browser sessions end)."""
    if (subject is None) == (identity_id is None):
        fail("give --subject or --id (one of them)")
    with database(database_url) as db:
        if identity_id is not None:
            record = identity_links.unlink_identity(
                db, actor=operator(), username=username, identity_id=identity_id
            )
        else:
            assert subject is not None
            record = identity_links.unlink_subject(
                db, actor=operator(), username=username, subject=subject, issuer=issuer
            )
    typer.echo(f"unlinked {record.username} from {record.subject} at {record.issuer}")


@app.command("identities")
def identities(
    username: Annotated[str, typer.Argument(help="Whose account.")],
    database_url: DatabaseUrl = None,
    json_out: Json = False,
) -> None:
    """The identities at OpenID Connect providers an account is linked to."""
    with database(database_url) as db, db() as session:
        records = identity_links.identities_of(session, actor=operator(), username=username)
    if json_out:
        print_json([asdict(r) for r in records])
        return
    table = Table("id", "issuer", "subject", "e-mail", "linked", "last sign-in")
    for r in records:
        table.add_row(
            str(r.id),
            r.issuer,
            r.subject,
            r.email or "",
            f"{r.created_at:%Y-%m-%d %H:%M}",
            f"{r.last_login_at:%Y-%m-%d %H:%M}" if r.last_login_at else "",
        )
    Console().print(table)
