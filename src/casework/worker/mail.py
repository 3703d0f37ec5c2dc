"""Sending notification mails: the worker's side of `services/notification_mail.py`.

A mail job names its recipient and the notifications gathered for them. Each attempt
reads what the mail may still say (`notification_mail.digest`), writes it (plain text
and HTML, from `mail_templates/`, HTML escaped by Jinja2's autoescape), sends it over
SMTP (`SmtpTransport`) and records the outcome. A refused connection, a timeout or a
4xx answer raises `MailFailed` and the worker's retry machinery tries again; a
recipient the server refuses for good (5xx) is `Undeliverable`: the job fails at once.

Logs carry job ids, usernames, counts and exception types: never addresses, mail
contents or the SMTP password.
"""

from __future__ import annotations

import hashlib
import logging
import re
import smtplib
import ssl
import threading
import time
from collections.abc import Callable
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape
from sqlalchemy.orm import Session, sessionmaker

from casework.services import notification_mail
from casework.services.mail_settings import IMPLICIT_TLS, STARTTLS, MailSettings
from casework.services.notifications import NotificationItem
from casework.worker import mail_text
from casework.worker.jobs import ClaimedJob
from casework.worker.mail_text import MailWords, words_for

log = logging.getLogger(__name__)

SUBJECT_CHARS = 150
# Notifications told in one mail; the rest are counted (a bulk reassignment can give a
# person hundreds at once, and the list in the app has them all).
MAIL_ITEMS = 50
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_TEMPLATES = Environment(
    loader=PackageLoader("casework.worker", "mail_templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)


class MailFailed(Exception):
    """This attempt failed; another may succeed (the job is retried)."""


class Undeliverable(Exception):
    """No attempt can succeed (the server refuses the recipient): the job fails at once."""


class Transport(Protocol):
    def send(self, message: EmailMessage) -> None: ...


def is_mail(job: ClaimedJob) -> bool:
    return job.kind == "message" and notification_mail.is_mail_payload(job.payload)


def job_ids(job: ClaimedJob) -> list[int]:
    """The notifications a mail job is about."""
    return [int(i) for i in job.payload.get("ids") or []]


class MailSender:
    """Runs mail jobs with `settings`, through `transport` (SMTP unless told)."""

    def __init__(
        self,
        db: sessionmaker[Session],
        settings: MailSettings,
        *,
        clock: Callable[[], datetime],
        transport: Transport | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.transport = transport or SmtpTransport(settings)
        # When the last mail round ran; None: never yet.
        self._round_at: datetime | None = None

    def release_idle(self) -> None:
        """End an SMTP session no mail has used for a while (the worker's loop)."""
        release = getattr(self.transport, "release_idle", None)
        if release is not None:
            release()

    def close(self) -> None:
        """End the SMTP session, if one is open (the worker's stop)."""
        close = getattr(self.transport, "close", None)
        if close is not None:
            close()

    def run(self, job: ClaimedJob) -> str | None:
        """Send the job's mail; a note for the job when there was nothing left to send."""
        recipient = str(job.payload.get("recipient") or "")
        ids = job_ids(job)
        if not recipient or not ids:
            raise Undeliverable("a mail job names its recipient and its notifications")
        with self.db() as session:
            found = notification_mail.digest(session, recipient=recipient, ids=ids)
        if found is None or not found.items:
            notification_mail.settle(self.db, ids=ids, sent=[], now=self.clock())
            why = "no address that wants mail" if found is None else "all read or out of sight"
            return f"nothing to mail to {recipient}: {why}"
        message = compose(found, self.settings, key=job.idempotency_key, now=self.clock())
        self.transport.send(message)
        notification_mail.settle(
            self.db, ids=ids, sent=[item.id for item in found.items], now=self.clock()
        )
        log.info("job=%s mailed %d notification(s) to %s", job.id, len(found.items), recipient)
        return None

    def round_due(self) -> bool:
        """Whether the interval since the last mail round has passed (or none ran yet)."""
        last = self._round_at
        return last is None or self.clock() >= last + self.settings.interval

    def gather(self, worker: str) -> notification_mail.Gathered:
        """A mail round now: the new notifications skipped or queued into mail jobs."""
        now = self._round_at = self.clock()
        gathered = notification_mail.gather(self.db, now=now, max_age=self.settings.max_age)
        if gathered.looked_at:
            log.info(
                "worker %s mail round: %d mail(s) queued for %d notification(s), %d skipped",
                worker,
                gathered.mails,
                gathered.queued,
                gathered.skipped,
            )
        return gathered


def send(sender: MailSender | None, job: ClaimedJob, *, worker: str) -> str | None:
    """Run a mail job on the worker named `worker`, whose sender is `sender` (None: mail
    is off there, though another worker gathered the job: it fails, to be retried)."""
    if sender is None:
        raise MailFailed(f"mail is off on worker {worker} (CASEWORK_SMTP_URL)")
    return sender.run(job)


def gave_up(db: sessionmaker[Session], job: ClaimedJob) -> None:
    """A mail job out of attempts: its notifications were not mailed."""
    notification_mail.give_up(db, ids=job_ids(job))


def compose(
    digest: notification_mail.Digest, settings: MailSettings, *, key: str, now: datetime
) -> EmailMessage:
    """The mail of `digest`, in the recipient's language and time zone: plain text and
    HTML alternatives. Its Message-ID comes from the job's key, so a mail sent again
    after a crash is the same message."""
    words = words_for(digest.locale)
    zone = _zone(digest.time_zone)
    items = [_shown(item, words, settings, zone) for item in digest.items[:MAIL_ITEMS]]
    left_out = len(digest.items) - len(items)
    subject = _subject(digest.items, words)
    context: dict[str, Any] = {
        "more": words.more.format(count=left_out) if left_out > 0 else None,
        "language": words.language,
        "greeting": words.greeting.format(name=_clean(digest.name)),
        "footer": words.footer.format(username=digest.username),
        "items": items,
        "subject": subject,
    }
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = settings.sender
    message["To"] = _clean(digest.email)
    message["Date"] = format_datetime(now)
    domain = settings.sender.rpartition("@")[2].rstrip(">") or "casework"
    stable = hashlib.sha256(key.encode()).hexdigest()[:32]
    message["Message-ID"] = f"<casework.{stable}@{domain}>"
    # RFC 3834: vacation responders and the like must not answer it.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(_TEMPLATES.get_template("notifications.txt").render(context))
    message.add_alternative(
        _TEMPLATES.get_template("notifications.html").render(context), subtype="html"
    )
    # After the parts: making them moves every Content-* header down into the first.
    message["Content-Language"] = words.language
    return message


def _shown(
    item: NotificationItem, words: MailWords, settings: MailSettings, zone: ZoneInfo
) -> dict[str, Any]:
    actor = item.actor or words.someone
    task = words.quoted.format(task=item.task) if item.task else words.a_task
    what = mail_text.line(words, item.kind, actor=actor, task=task)
    # The requester's words: one line, so they cannot pass for lines of ours.
    title = _clean(item.case_title)
    when = f"{item.at.astimezone(zone):%Y-%m-%d %H:%M} ({zone.key})"
    link = settings.link(item.case_id)
    shown_title = Markup('<a href="{}">{}</a>').format(link, title) if link else title
    excerpt = (item.excerpt or "").strip()
    return {
        "what": what,
        "on": words.on_case.format(title=title, case_id=item.case_id, when=when),
        # Markup.format escapes every value that is not Markup itself.
        "on_html": Markup(escape(words.on_case)).format(
            title=shown_title, case_id=item.case_id, when=when
        ),
        "excerpt_lines": excerpt.splitlines() if excerpt else [],
        "link": link,
    }


def _subject(items: list[NotificationItem], words: MailWords) -> str:
    if len(items) == 1:
        item = items[0]
        text = mail_text.subject(
            words,
            item.kind,
            actor=item.actor or words.someone,
            task=item.task or words.a_task,
            title=item.case_title,
        )
    else:
        cases = len({item.case_id for item in items})
        many = words.subject_many if cases == 1 else words.subject_many_cases
        text = many.format(count=len(items), cases=cases)
    text = _clean(text)
    return text if len(text) <= SUBJECT_CHARS else text[: SUBJECT_CHARS - 1] + "…"


def _clean(text: str) -> str:
    """One line: a case title is the requester's text, and a header takes no newlines."""
    return _CONTROL.sub(" ", text).strip()


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


class SmtpTransport:
    """An SMTP session kept between mails: the mails of a round (one per recipient) go
    over one connection, with one TLS handshake and one login, instead of a session
    each. A session is reused while it is younger than `REUSE_SECONDS`, has carried
    fewer than `REUSE_MAILS` and answers a NOOP; otherwise, or when the server dropped
    it, a new one is opened (a mail is sent again on a fresh session only when the old
    one failed before the server took it). `close` ends it (the worker's stop)."""

    REUSE_SECONDS = 60.0
    REUSE_MAILS = 100
    IDLE_SECONDS = 10.0  # `release_idle` ends a session unused for this long

    def __init__(
        self, settings: MailSettings, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._lock = threading.Lock()
        self._smtp: smtplib.SMTP | None = None
        self._opened_at = self._used_at = 0.0
        self._sent = 0
        self.sessions = 0  # opened so far: for tests and logs

    def send(self, message: EmailMessage) -> None:
        with self._lock:
            try:
                self._send(message)
            except smtplib.SMTPRecipientsRefused as exc:
                codes = sorted({code for code, _ in exc.recipients.values()})
                if all(500 <= code < 600 for code in codes):
                    raise Undeliverable(
                        f"the SMTP server refused the recipient ({codes})"
                    ) from None
                raise MailFailed(f"the SMTP server deferred the recipient ({codes})") from None
            except smtplib.SMTPDataError as exc:
                if 500 <= exc.smtp_code < 600:
                    raise Undeliverable(
                        f"the SMTP server refused the mail ({exc.smtp_code})"
                    ) from None
                raise MailFailed(f"the SMTP server deferred the mail ({exc.smtp_code})") from None
            except smtplib.SMTPResponseException as exc:
                self._drop()
                raise MailFailed(f"the SMTP server answered {exc.smtp_code}") from None
            except (smtplib.SMTPException, OSError) as exc:
                self._drop()
                raise MailFailed(f"SMTP: {type(exc).__name__}") from None

    def close(self) -> None:
        with self._lock:
            self._quit()

    def release_idle(self) -> None:
        with self._lock:
            if self._smtp is not None and self._clock() - self._used_at >= self.IDLE_SECONDS:
                self._quit()

    def _send(self, message: EmailMessage) -> None:
        reused = self._reusable()
        smtp = reused or self._open()
        try:
            # smtplib resets the session after a refused recipient or mail, so those
            # leave it usable: only a broken connection is worth a second session.
            smtp.send_message(message)
        except smtplib.SMTPServerDisconnected:
            self._drop()
            if reused is None:
                raise
            self._open().send_message(message)  # the server had closed an idle session
        self._sent += 1
        self._used_at = self._clock()

    def _reusable(self) -> smtplib.SMTP | None:
        smtp = self._smtp
        if smtp is None:
            return None
        fresh = self._clock() - self._opened_at < self.REUSE_SECONDS
        if fresh and self._sent < self.REUSE_MAILS:
            try:
                if smtp.noop()[0] == 250:
                    return smtp
            except (smtplib.SMTPException, OSError):
                pass
        self._quit()
        return None

    def _quit(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()

    def _drop(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            smtp.close()

    def _open(self) -> smtplib.SMTP:
        settings = self.settings
        smtp = self._connect()
        try:
            smtp.ehlo()
            if settings.security == STARTTLS:
                if not smtp.has_extn("starttls"):
                    raise MailFailed("the SMTP server offers no STARTTLS (required)")
                smtp.starttls(context=self._tls())
                smtp.ehlo()
            if settings.username is not None:
                smtp.login(settings.username, settings.password or "")
        except BaseException:
            smtp.close()
            raise
        self._smtp, self._opened_at, self._sent = smtp, self._clock(), 0
        self.sessions += 1
        return smtp

    def _connect(self) -> smtplib.SMTP:
        settings = self.settings
        if settings.security == IMPLICIT_TLS:
            return smtplib.SMTP_SSL(
                settings.host, settings.port, timeout=settings.timeout, context=self._tls()
            )
        return smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)

    def _tls(self) -> ssl.SSLContext:
        ca_file = self.settings.ca_file
        return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
