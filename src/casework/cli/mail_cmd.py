"""`casework mail test | status`: checking the worker's mail set-up from a terminal.

`test` sends one mail with the settings the worker would use (CASEWORK_SMTP_URL and the
rest, `services/mail_settings.py`), so an operator finds a wrong password or a missing
CA before the first notification does. `status` says what became of recent
notifications' mails and how many mail jobs wait or failed.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Annotated

import typer
from sqlalchemy import func, select

from casework.cli.common import DatabaseUrl, Json, database, now, one_line, print_json
from casework.cli.errors import fail
from casework.services import mail_settings, notification_mail
from casework.services.errors import InvalidInput
from casework.services.mail_settings import MailSettings
from casework.store.notification_tables import Notification
from casework.store.tables import Job
from casework.worker.mail import MailFailed, SmtpTransport, Undeliverable

app = typer.Typer(no_args_is_help=True)

_ADDRESS = re.compile(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+")


def _settings() -> MailSettings:
    try:
        settings = mail_settings.from_env(os.environ)
    except InvalidInput as exc:
        fail(exc.message)
    if settings is None:
        fail(f"mail is off: set {mail_settings.SMTP_URL_ENV} (docs/operations.md, 'Mail')")
    return settings


@app.command("test")
def test(
    to: Annotated[str, typer.Option("--to", help="Where to send the test mail.")],
) -> None:
    """Send a test mail through the SMTP server the worker would use."""
    if not _ADDRESS.fullmatch(to.strip()):
        fail(f"--to: {to!r} is no e-mail address")
    settings = _settings()
    message = EmailMessage()
    message["Subject"] = "Casework mail test"
    message["From"] = settings.sender
    message["To"] = to.strip()
    message["Date"] = format_datetime(now())
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(
        "This mail comes from `casework mail test`: the worker can send notifications.\n"
    )
    transport = SmtpTransport(settings)
    try:
        transport.send(message)
    except (MailFailed, Undeliverable) as exc:
        fail(f"{settings.host}:{settings.port}: {one_line(exc)}")
    finally:
        transport.close()
    typer.echo(f"sent a test mail through {settings.host}:{settings.port} ({settings.security})")


@app.command("status")
def status(
    hours: Annotated[
        int, typer.Option(min=1, max=24 * 90, help="Notifications of the last N hours.")
    ] = 24,
    database_url: DatabaseUrl = None,
    as_json: Json = False,
) -> None:
    """What became of recent notifications' mails; mail jobs waiting or failed."""
    since = now() - timedelta(hours=hours)
    with database(database_url) as db, db() as session:
        outcomes = {
            mail or "not yet looked at": count
            for mail, count in session.execute(
                select(Notification.mail, func.count())
                .where(Notification.created_at >= since)
                .group_by(Notification.mail)
            )
        }
        mail_jobs = select(Job.status, func.count()).where(
            Job.kind == "message", Job.ref.like(f"{notification_mail.KIND}:%")
        )
        jobs = dict(session.execute(mail_jobs.group_by(Job.status)).all())
    by_outcome = {str(k): int(v) for k, v in sorted(outcomes.items())}
    by_status = {str(k): int(v) for k, v in sorted(jobs.items())}
    if as_json:
        print_json({"hours": hours, "notifications": by_outcome, "mail_jobs": by_status})
        return
    typer.echo(f"notifications of the last {hours} h, by what became of their mail:")
    for outcome, count in by_outcome.items() or [("none", 0)]:
        typer.echo(f"  {outcome:<18} {count}")
    typer.echo("mail jobs:")
    for state, count in by_status.items() or [("none", 0)]:
        typer.echo(f"  {state:<18} {count}")
