"""`casework token create | list | revoke`: API tokens, from the operator's terminal.

`create` prints the secret alone on standard output (easy to capture in a script) and
what it is on standard error; it is shown this once, only its hash is kept.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from casework.cli.common import DatabaseUrl, Json, database, now, operator, print_json
from casework.services import credentials, identity

app = typer.Typer(no_args_is_help=True)


@app.command("create")
def create(
    username: Annotated[str, typer.Argument(help="Whose token.")],
    name: Annotated[str, typer.Option("--name", help="What the token is for.")],
    expires_days: Annotated[
        int | None, typer.Option("--expires-days", min=1, help="Stop working after N days.")
    ] = None,
    database_url: DatabaseUrl = None,
    json_out: Json = False,
) -> None:
    """Create an API token for USERNAME and print its secret (once)."""
    at = now()
    expires_at = at + timedelta(days=expires_days) if expires_days else None
    with database(database_url) as db:
        created = credentials.create_token(
            db, actor=operator(), username=username, name=name, now=at, expires_at=expires_at
        )
    record = created.record
    if json_out:
        print_json({**asdict(record), "token": created.secret})
        return
    typer.echo(
        f"token {record.id} ({record.prefix}…) for {record.username}: "
        "store it now, it is not shown again",
        err=True,
    )
    typer.echo(created.secret)


@app.command("list")
def list_(
    username: Annotated[
        str | None, typer.Argument(help="Whose tokens (default: everyone's).")
    ] = None,
    database_url: DatabaseUrl = None,
    json_out: Json = False,
) -> None:
    """API tokens (never their secrets): who, what for, last used, revoked."""
    actor = operator()
    with database(database_url) as db, db() as session:
        users = [username] if username else [u.username for u in identity.list_users(session)]
        tokens = [
            t
            for user in users
            for t in credentials.list_tokens(session, actor=actor, username=user)
        ]
    if json_out:
        print_json([asdict(t) for t in tokens])
        return
    table = Table("id", "user", "name", "prefix", "created", "last used", "expires", "revoked")
    for t in tokens:
        table.add_row(
            str(t.id),
            t.username,
            t.name,
            t.prefix,
            f"{t.created_at:%Y-%m-%d %H:%M}",
            f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "",
            f"{t.expires_at:%Y-%m-%d %H:%M}" if t.expires_at else "",
            f"{t.revoked_at:%Y-%m-%d %H:%M}" if t.revoked_at else "",
        )
    Console().print(table)


@app.command("revoke")
def revoke(
    token_id: Annotated[int, typer.Argument(help="The token's id (`casework token list`).")],
    database_url: DatabaseUrl = None,
) -> None:
    """Revoke an API token: it stops working at once."""
    with database(database_url) as db:
        record = credentials.revoke_token(db, actor=operator(), token_id=token_id, now=now())
    typer.echo(f"revoked token {record.id} ({record.name}) of {record.username}")
