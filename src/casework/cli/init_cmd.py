"""`casework init`: a database ready to serve, with its first administrator.

Safe to run every time (e.g. in a container's start script): it migrates the schema to
the newest revision and creates the administrator only if that account does not exist.
The administrator comes from the options or from CASEWORK_ADMIN_USERNAME and
CASEWORK_ADMIN_PASSWORD; the password never goes on the command line.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer
from sqlalchemy import select

from casework.cli.common import DatabaseUrl, database, now, operator, shown_url
from casework.cli.db_cmd import upgrade as db_upgrade
from casework.cli.errors import fail
from casework.cli.user_cmd import PasswordStdin, read_password
from casework.services import identity
from casework.services.errors import NotFound
from casework.store.identity_tables import User


def init(
    admin_username: Annotated[
        str | None,
        typer.Option(
            "--admin-username",
            envvar="CASEWORK_ADMIN_USERNAME",
            help="The first administrator's username.",
        ),
    ] = None,
    admin_name: Annotated[
        str | None, typer.Option("--admin-name", help="Their full name (default: the username).")
    ] = None,
    admin_email: Annotated[str | None, typer.Option("--admin-email")] = None,
    password_stdin: PasswordStdin = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Create or migrate the database, and create the first administrator."""
    db_upgrade(revision="head", database_url=database_url)
    with database(database_url) as db:
        if admin_username is None:
            with db() as session:
                admins = session.scalars(select(User.username).where(User.is_admin)).all()
            if not admins:
                fail("no administrator yet: give --admin-username or set CASEWORK_ADMIN_USERNAME")
            typer.echo(f"{shown_url(database_url)}: administrators: {', '.join(admins)}")
            return
        with db() as session:
            try:
                existing: identity.UserRecord | None = identity.get_user(session, admin_username)
            except NotFound:
                existing = None
        if existing is not None:
            if not existing.is_admin:
                fail(f"user {existing.username} exists but is not an administrator")
            typer.echo(f"administrator {existing.username} exists already (left as it is)")
            return
        from_env = os.environ.get("CASEWORK_ADMIN_PASSWORD")
        password = from_env if from_env and not password_stdin else read_password(password_stdin)
        user = identity.create_user(
            db,
            actor=operator(),
            username=admin_username,
            name=admin_name or admin_username,
            email=admin_email,
            password=password,
            is_admin=True,
            now=now(),
        )
    typer.echo(f"created administrator {user.username}")
