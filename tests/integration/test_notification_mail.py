"""Notifications by e-mail on SQLite and PostgreSQL, through a real SMTP server: the
worker gathers a person's new notifications into one mail, skips what they read or may
no longer see, retries a server that is down and records what became of each."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import Result
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, sessionmaker
from tests.clock import Clock
from tests.integration.cli_support import one_line_error
from tests.people import make_user
from tests.smtp_server import Mailbox, free_port, self_signed, smtp_server
from typer.testing import CliRunner

from casework.cli.main import app
from casework.services import (
    case_relations,
    case_types,
    cases,
    identity,
    notification_mail,
    notifications,
    participants,
    tasks,
)
from casework.services.actors import SYSTEM, Actor
from casework.services.mail_settings import MailSettings, from_env
from casework.store.db import session_factory
from casework.store.notification_tables import Notification
from casework.store.tables import Job
from casework.worker import RetryPolicy, Worker
from casework.worker.mail import MAIL_ITEMS, SmtpTransport

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ANN = Actor("ann", roles=frozenset({"handler"}))
BOB = Actor("bob", roles=frozenset({"handler"}))
MIA = Actor("mia", roles=frozenset({"manager"}))

CLAIMS = """
id: claims
name: Claims
roles: [handler, manager]
plan:
  items:
    - task: Assess
      role: handler
    - task: Decide <now>
      role: handler
"""


@pytest.fixture
def db(engine: Engine) -> Iterator[sessionmaker[Session]]:
    db = session_factory(engine)
    case_types.deploy(db, actor=SYSTEM, source=CLAIMS, now=NOW)
    for person in (ANN, BOB, MIA):
        make_user(
            db,
            person.id,
            password=None,
            roles=tuple(person.roles),
            email=f"{person.id}@example.org",
        )
    yield db


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    with smtp_server() as box:
        yield box


def settings_for(port: int, **env: str) -> MailSettings:
    settings = from_env(
        {
            "CASEWORK_SMTP_URL": f"smtp://127.0.0.1:{port}?tls=none",
            "CASEWORK_MAIL_FROM": "Casework <casework@example.org>",
            "CASEWORK_CASE_URL": "https://cases.example.org/cases/{case_id}",
            **env,
        }
    )
    assert settings is not None
    return settings


def worker(db: sessionmaker[Session], settings: MailSettings, clock: Clock | None = None) -> Worker:
    retry = RetryPolicy(base=timedelta(seconds=10), jitter=0.0)
    return Worker(db, name="w1", clock=clock or Clock(NOW), mail_settings=settings, retry=retry)


def _open(db: sessionmaker[Session], **kwargs: object) -> str:
    return cases.open_case(db, actor=SYSTEM, type_id="claims", now=NOW, **kwargs).case_id  # type: ignore[arg-type]


def _assign(db: sessionmaker[Session], case_id: str, instance_id: str, to: str) -> None:
    tasks.assign(db, actor=SYSTEM, case_id=case_id, instance_id=instance_id, assignee=to, now=NOW)


def _outcomes(db: sessionmaker[Session]) -> dict[str, list[str | None]]:
    with db() as session:
        rows = session.execute(
            select(Notification.recipient, Notification.mail).order_by(Notification.id)
        ).all()
    found: dict[str, list[str | None]] = {}
    for recipient, mail in rows:
        found.setdefault(recipient, []).append(mail)
    return found


def test_a_persons_new_notifications_go_out_in_one_mail(
    db: sessionmaker[Session], mailbox: Mailbox
) -> None:
    case_id = _open(db, title="Water damage, flat 3")
    _assign(db, case_id, "pi-2", "bob")
    case_relations.add_note(db, actor=ANN, case_id=case_id, body="@bob see\nthe photos", now=NOW)
    w = worker(db, settings_for(mailbox.port))
    w.run_due()
    [mail] = mailbox.received
    assert mail.recipients == ["bob@example.org"] and mail.sender == "casework@example.org"
    assert mail.message["Subject"] == "2 updates on 1 case"
    assert mail.message["Auto-Submitted"] == "auto-generated"
    text = mail.text()
    assert "Hello Bob," in text
    assert "system assigned you “Assess”" in text and "ann mentioned you in a note" in text
    assert "> @bob see\n  > the photos" in text
    assert f"https://cases.example.org/cases/{case_id}" in text
    assert "Water damage, flat 3" in mail.html()
    with db() as session:
        stored = session.execute(select(Notification.mail, Notification.mailed_at)).all()
    assert [m for m, _ in stored] == ["sent", "sent"] and all(at is not None for _, at in stored)
    # Nothing new: nothing more is sent.
    w.run_due()
    assert len(mailbox.received) == 1


def test_a_long_mail_tells_the_first_fifty_and_counts_the_rest(
    db: sessionmaker[Session], mailbox: Mailbox
) -> None:
    case_id = _open(db)
    for n in range(MAIL_ITEMS + 3):
        case_relations.add_note(db, actor=ANN, case_id=case_id, body=f"@bob n{n}.", now=NOW)
    worker(db, settings_for(mailbox.port)).run_due()
    [mail] = mailbox.received
    assert mail.message["Subject"] == f"{MAIL_ITEMS + 3} updates on 1 case"
    text = mail.text()
    assert text.count("ann mentioned you in a note") == MAIL_ITEMS
    assert f"> @bob n{MAIL_ITEMS - 1}." in text and f"> @bob n{MAIL_ITEMS}." not in text
    assert "… and 3 more: see your notifications in Casework." in text
    assert "… and 3 more" in mail.html()
    assert _outcomes(db) == {"bob": ["sent"] * (MAIL_ITEMS + 3)}


def test_one_notification_says_what_it_is_in_the_subject(
    db: sessionmaker[Session], mailbox: Mailbox
) -> None:
    case_id = _open(db, title="Broken window")
    _assign(db, case_id, "pi-3", "bob")
    worker(db, settings_for(mailbox.port)).run_due()
    [mail] = mailbox.received
    assert mail.message["Subject"] == "Assigned to you: Decide <now> (Broken window)"
    # The task's name is escaped in the HTML part, and only there.
    assert "Decide &lt;now&gt;" in mail.html() and "<now>" not in mail.html()
    assert "“Decide <now>”" in mail.text()


def test_mails_speak_the_recipients_language_and_tell_their_time(
    db: sessionmaker[Session], mailbox: Mailbox
) -> None:
    identity.update_profile(db, actor=BOB, locale="fr-CA", time_zone="America/Montreal")
    identity.update_profile(db, actor=ANN, locale="ja", time_zone="Asia/Tokyo")
    identity.update_profile(db, actor=MIA, locale="pt-BR")  # no words of its own: English
    case_id = _open(db, title="Dégât des eaux")
    _assign(db, case_id, "pi-2", "bob")
    _assign(db, case_id, "pi-3", "ann")
    case_relations.add_note(db, actor=ANN, case_id=case_id, body="@mia look", now=NOW)
    worker(db, settings_for(mailbox.port)).run_due()
    mails = {mail.recipients[0]: mail for mail in mailbox.received}
    french, japanese = mails["bob@example.org"], mails["ann@example.org"]
    assert french.message["Subject"] == "Tâche confiée : Assess (Dégât des eaux)"
    assert french.message["Content-Language"] == "fr"
    assert "Bonjour Bob," in french.text()
    assert "system vous a confié la tâche « Assess »" in french.text()
    # 09:00 UTC is 04:00 in Montreal in March.
    assert "2026-03-02 04:00 (America/Montreal)" in french.text()
    assert '<html lang="fr">' in french.html()
    assert japanese.message["Subject"] == "割り当て：Decide <now>（Dégât des eaux）"
    assert "Ann 様" in japanese.text() and "「Decide <now>」" in japanese.text()
    assert "2026-03-02 18:00 (Asia/Tokyo)" in japanese.text()
    assert "「Decide &lt;now&gt;」" in japanese.html()
    english = mails["mia@example.org"]
    assert english.message["Subject"] == "ann mentioned you on Dégât des eaux"
    assert english.message["Content-Language"] == "en"


def test_what_the_requester_wrote_cannot_forge_headers_or_markup(
    db: sessionmaker[Session], mailbox: Mailbox
) -> None:
    case_id = _open(db, title="Claim <script>alert(1)</script>\r\nBcc: eve@example.org")
    _assign(db, case_id, "pi-2", "bob")
    worker(db, settings_for(mailbox.port)).run_due()
    [mail] = mailbox.received
    assert mail.recipients == ["bob@example.org"] and mail.message["Bcc"] is None
    subject = mail.message["Subject"]
    assert "\n" not in subject and "\r" not in subject and subject.startswith("Assigned to you")
    assert "<script>" not in mail.html() and "&lt;script&gt;" in mail.html()
    # In the text part the title stays on its line.
    assert not any(line.startswith("Bcc:") for line in mail.text().splitlines())


def test_what_is_read_old_or_unwanted_is_skipped(
    db: sessionmaker[Session], mailbox: Mailbox
) -> None:
    case_id = _open(db)
    # mia: no address; ann: has turned the mails off; bob reads his before the round.
    identity.update_profile(db, actor=MIA, email=None)
    identity.update_profile(db, actor=ANN, email_notifications=False)
    _assign(db, case_id, "pi-2", "ann")
    case_relations.add_note(db, actor=ANN, case_id=case_id, body="@mia @bob look", now=NOW)
    with db.begin() as session:
        notifications.mark_read(session, actor=BOB, now=NOW)
    # Unread, but older than the settings' age: the worker was down for days.
    stale = _open(db)
    _assign(db, stale, "pi-2", "bob")
    late = Clock(NOW + timedelta(days=2))
    worker(db, settings_for(mailbox.port), late).run_due()
    assert mailbox.received == []
    assert _outcomes(db) == {"ann": ["skipped"], "mia": ["skipped"], "bob": ["skipped"] * 2}
    # Within a longer age it would have gone: the age is what kept it.
    with db.begin() as session:
        session.execute(update(Notification).values(mail=None))
    longer = settings_for(mailbox.port, CASEWORK_MAIL_MAX_AGE="3d")
    worker(db, longer, late).run_due()
    [mail] = mailbox.received
    assert mail.recipients == ["bob@example.org"] and mail.message["Subject"].startswith("Assigned")
    with db() as session:
        assert identity.get_user(session, "ann").email_notifications is False


def test_kinds_a_person_muted_are_not_mailed(db: sessionmaker[Session], mailbox: Mailbox) -> None:
    case_id = _open(db)
    identity.update_profile(db, actor=BOB, email_muted_kinds=["assigned"])
    _assign(db, case_id, "pi-2", "bob")
    case_relations.add_note(db, actor=ANN, case_id=case_id, body="@bob look", now=NOW)
    worker(db, settings_for(mailbox.port)).run_due()
    [mail] = mailbox.received
    assert "@bob look" in mail.text() and "Assigned" not in mail.message["Subject"]
    assert sorted(_outcomes(db)["bob"]) == ["sent", "skipped"]
    # Muted after the round queued it: the mail leaves it out all the same.
    other = _open(db)
    mailbox.received.clear()
    identity.update_profile(db, actor=BOB, email_muted_kinds=[])
    _assign(db, other, "pi-2", "bob")
    case_relations.add_note(db, actor=ANN, case_id=other, body="@bob again", now=NOW)
    mailer = worker(db, settings_for(mailbox.port))
    assert mailer.mailer is not None
    mailer.mailer.gather("test")
    identity.update_profile(db, actor=BOB, email_muted_kinds=["mentioned"])
    mailer.run_due()
    [mail] = mailbox.received
    assert "@bob again" not in mail.text() and mail.message["Subject"].startswith("Assigned")


def test_a_deactivated_account_gets_no_mail(db: sessionmaker[Session], mailbox: Mailbox) -> None:
    case_id = _open(db)
    _assign(db, case_id, "pi-2", "bob")
    identity.update_user(db, actor=SYSTEM, username="bob", active=False)
    worker(db, settings_for(mailbox.port)).run_due()
    assert mailbox.received == [] and _outcomes(db) == {"bob": ["skipped"]}


def test_the_mail_says_only_what_is_still_unread_and_in_sight_when_it_goes(
    db: sessionmaker[Session], mailbox: Mailbox
) -> None:
    seen = _open(db, title="Read meanwhile")
    hidden = _open(db, title="Made confidential", owner="mia")
    kept = _open(db, title="Still new")
    for case_id in (seen, hidden, kept):
        _assign(db, case_id, "pi-2", "bob")
    w = worker(db, settings_for(mailbox.port))
    gathered = w.gather_mail()
    assert gathered is not None and (gathered.mails, gathered.queued) == (1, 3)
    # Between the round and the send: bob reads one, loses sight of another.
    with db() as session:
        first = session.scalar(select(Notification.id).where(Notification.case_id == seen))
    assert first is not None
    with db.begin() as session:
        notifications.mark_read(session, actor=BOB, now=NOW, ids=[first])
    participants.set_confidential(db, actor=MIA, case_id=hidden, confidential=True, now=NOW)
    w.run_once()
    [mail] = mailbox.received
    assert "Still new" in mail.text() and "Read meanwhile" not in mail.text()
    assert "Made confidential" not in mail.text() and "Made confidential" not in mail.html()
    assert _outcomes(db) == {"bob": ["skipped", "skipped", "sent"]}


def test_a_server_that_is_down_is_retried_then_the_mail_fails(
    db: sessionmaker[Session],
) -> None:
    case_id = _open(db)
    _assign(db, case_id, "pi-2", "bob")
    clock = Clock(NOW)
    port = free_port()  # nobody listens there
    w = worker(db, settings_for(port), clock)
    w.run_due()
    with db() as session:
        job = session.scalars(select(Job).where(Job.kind == "message")).one()
        assert (job.status, job.attempts) == ("pending", 1)
        assert "SMTP" in (job.last_error or "")
    assert _outcomes(db) == {"bob": ["queued"]}
    # The server comes back before the retry: the mail goes out, once.
    with smtp_server() as box:
        clock.advance(seconds=11)
        assert worker(db, settings_for(box.port), clock).run_once() == 1
        assert len(box.received) == 1
    assert _outcomes(db) == {"bob": ["sent"]}
    # Another notification while the server stays down: after the last attempt, failed.
    _assign(db, case_id, "pi-3", "bob")
    w = worker(db, settings_for(port), clock)
    w.gather_mail()
    for _ in range(notification_mail.MAX_ATTEMPTS):
        w.run_once()
        clock.advance(hours=2)
    with db() as session:
        statuses = session.scalars(select(Job.status).where(Job.kind == "message")).all()
    assert sorted(statuses) == ["done", "failed"]
    assert _outcomes(db) == {"bob": ["sent", "failed"]}


def test_a_recipient_the_server_refuses_fails_at_once(
    db: sessionmaker[Session], mailbox: Mailbox
) -> None:
    case_id = _open(db)
    _assign(db, case_id, "pi-2", "bob")
    mailbox.refuse = "550 5.1.1 no such mailbox"
    worker(db, settings_for(mailbox.port)).run_due()
    with db() as session:
        job = session.scalars(select(Job).where(Job.kind == "message")).one()
    assert job.status == "failed" and job.attempts == 1 and "refused" in (job.last_error or "")
    assert _outcomes(db) == {"bob": ["failed"]}


def test_starttls_and_a_password_with_the_servers_own_ca(
    db: sessionmaker[Session], tmp_path: Path
) -> None:
    certificate = self_signed(tmp_path)
    case_id = _open(db)
    _assign(db, case_id, "pi-2", "bob")
    with smtp_server(certificate=certificate, credentials=("mailer", "pa ss")) as box:
        secure = from_env(
            {
                "CASEWORK_SMTP_URL": f"smtp://mailer:pa%20ss@127.0.0.1:{box.port}",
                "CASEWORK_MAIL_FROM": "casework@example.org",
                "CASEWORK_SMTP_CA_FILE": str(certificate.cert_file),
            }
        )
        assert secure is not None
        worker(db, secure).run_due()
        assert len(box.received) == 1 and box.logins == ["mailer"]
    assert _outcomes(db) == {"bob": ["sent"]}


def test_a_server_without_starttls_gets_no_mail_when_tls_is_required(
    db: sessionmaker[Session], mailbox: Mailbox, tmp_path: Path
) -> None:
    case_id = _open(db)
    _assign(db, case_id, "pi-2", "bob")
    plain = from_env(
        {
            "CASEWORK_SMTP_URL": f"smtp://127.0.0.1:{mailbox.port}",
            "CASEWORK_MAIL_FROM": "casework@example.org",
        }
    )
    assert plain is not None
    worker(db, plain).run_due()
    assert mailbox.received == []
    with db() as session:
        job = session.scalars(select(Job).where(Job.kind == "message")).one()
    assert job.status == "pending" and "STARTTLS" in (job.last_error or "")


def test_a_worker_without_mail_leaves_notifications_alone_and_retries_mail_jobs(
    db: sessionmaker[Session], mailbox: Mailbox
) -> None:
    case_id = _open(db)
    _assign(db, case_id, "pi-2", "bob")
    Worker(db, name="plain", clock=Clock(NOW), mail_settings=None).run_due()
    assert _outcomes(db) == {"bob": [None]}
    worker(db, settings_for(mailbox.port)).gather_mail()
    Worker(db, name="plain", clock=Clock(NOW), mail_settings=None).run_once()
    with db() as session:
        job = session.scalars(select(Job).where(Job.kind == "message")).one()
    assert job.status == "pending" and "mail is off on worker plain" in (job.last_error or "")


def test_concurrent_rounds_queue_each_notification_once(
    db: sessionmaker[Session], mailbox: Mailbox
) -> None:
    """Rounds of two workers at once (PostgreSQL: SKIP LOCKED; SQLite: one writer at a
    time), a few notifications per transaction: every one in exactly one mail job."""
    for _ in range(12):
        case_id = _open(db)
        _assign(db, case_id, "pi-2", "bob")
        _assign(db, case_id, "pi-3", "ann")
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def round_() -> None:
        try:
            start.wait()
            notification_mail.gather(db, now=NOW, max_age=timedelta(days=1), limit=3)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=round_) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with db() as session:
        payloads = session.scalars(select(Job.payload).where(Job.kind == "message")).all()
        every = session.scalars(select(Notification.id)).all()
    queued = [i for payload in payloads for i in payload["ids"]]
    assert sorted(queued) == sorted(every) and len(every) == 24
    with db() as session:
        for payload in payloads:
            recipients = session.scalars(
                select(Notification.recipient).where(Notification.id.in_(payload["ids"]))
            ).all()
            assert set(recipients) == {payload["recipient"]}
    assert _outcomes(db) == {"bob": ["queued"] * 12, "ann": ["queued"] * 12}


def _mail_cli(url: str, env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(app, ["mail", *args], env={"CASEWORK_DATABASE_URL": url, **env})


def test_the_cli_sends_a_test_mail_and_says_what_went_wrong(db_url: str, mailbox: Mailbox) -> None:
    env = {
        "CASEWORK_SMTP_URL": f"smtp://127.0.0.1:{mailbox.port}?tls=none",
        "CASEWORK_MAIL_FROM": "casework@example.org",
    }
    sent = _mail_cli(db_url, env, "test", "--to", "ops@example.org")
    assert sent.exit_code == 0, sent.output
    [mail] = mailbox.received
    assert mail.recipients == ["ops@example.org"]
    assert mail.message["Subject"] == "Casework mail test"
    one_line_error(_mail_cli(db_url, {}, "test", "--to", "ops@example.org"), "mail is off")
    one_line_error(_mail_cli(db_url, env, "test", "--to", "ops"), "--to")
    secret = {**env, "CASEWORK_SMTP_URL": "smtp://u:hunter2@127.0.0.1:1?tls=none"}
    refused = _mail_cli(db_url, secret, "test", "--to", "ops@example.org")
    one_line_error(refused, "CASEWORK_SMTP_URL")
    assert "hunter2" not in refused.output
    down = {**env, "CASEWORK_SMTP_URL": f"smtp://127.0.0.1:{free_port()}?tls=none"}
    one_line_error(_mail_cli(db_url, down, "test", "--to", "ops@example.org"), "127.0.0.1")
    assert len(mailbox.received) == 1


def test_the_cli_says_what_became_of_the_mails(
    db: sessionmaker[Session], db_url: str, mailbox: Mailbox
) -> None:
    # The CLI counts the notifications of the last hours by the system's clock.
    today = datetime.now(UTC)
    case_id = cases.open_case(db, actor=SYSTEM, type_id="claims", now=today).case_id
    for instance_id, person in (("pi-2", "bob"), ("pi-3", "ann")):
        tasks.assign(
            db, actor=SYSTEM, case_id=case_id, instance_id=instance_id, assignee=person, now=today
        )
    identity.update_profile(db, actor=ANN, email_notifications=False)
    listed = _mail_cli(db_url, {}, "status", "--json")
    assert listed.exit_code == 0, listed.output
    before = json.loads(listed.stdout)
    assert before == {"hours": 24, "notifications": {"not yet looked at": 2}, "mail_jobs": {}}
    worker(db, settings_for(mailbox.port), Clock(today)).gather_mail()
    result = _mail_cli(db_url, {}, "status", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "hours": 24,
        "notifications": {"queued": 1, "skipped": 1},
        "mail_jobs": {"pending": 1},
    }
    text = _mail_cli(db_url, {}, "status")
    assert "queued" in text.stdout and "pending" in text.stdout
    wrong = _mail_cli(db_url, {}, "status", "--hours", "0")
    assert wrong.exit_code == 2 and "--hours" in wrong.output


def test_a_running_worker_gathers_at_its_interval_and_sends(
    db: sessionmaker[Session], mailbox: Mailbox
) -> None:
    clock = Clock(NOW)
    w = worker(db, settings_for(mailbox.port, CASEWORK_MAIL_INTERVAL="5m"), clock)
    assert w.mailer is not None and w.mailer.round_due()
    w.gather_mail()
    assert not w.mailer.round_due()
    clock.advance(minutes=4)
    assert not w.mailer.round_due()
    clock.advance(minutes=1)
    assert w.mailer.round_due()
    # The loop itself: a notification written while it runs goes out by mail.
    case_id = _open(db)
    _assign(db, case_id, "pi-2", "bob")
    stop = threading.Event()
    loop = threading.Thread(
        target=w.run_forever, kwargs={"poll_interval": 0.05, "stop_event": stop}
    )
    loop.start()
    try:
        for _ in range(200):
            if mailbox.received:
                break
            threading.Event().wait(0.05)
    finally:
        stop.set()
        loop.join(timeout=10)
    assert [m.recipients for m in mailbox.received] == [["bob@example.org"]]
    assert _outcomes(db) == {"bob": ["sent"]}
    # Its SMTP session, kept between mails (10 quiet seconds would end it), ended with it.
    transport = w.mailer.transport
    assert isinstance(transport, SmtpTransport) and transport.sessions == 1
    assert transport._smtp is None


def test_the_worker_command_refuses_bad_mail_settings_in_one_line(
    db: sessionmaker[Session], db_url: str
) -> None:
    env = {
        "CASEWORK_DATABASE_URL": db_url,
        "CASEWORK_SMTP_URL": "smtp://mailer:hunter2@mail.example.org?tls=none",
        "CASEWORK_MAIL_FROM": "casework@example.org",
    }
    result = CliRunner().invoke(app, ["worker", "--once"], env=env)
    one_line_error(result, "CASEWORK_SMTP_URL")
    assert "hunter2" not in result.output
