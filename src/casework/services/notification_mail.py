"""Notifications by e-mail: which ones go out, to whom, and what became of them.

The `notifications` table is the outbox. A mail round (`gather`, run by the worker
every CASEWORK_MAIL_INTERVAL) reads the notifications no round has looked at yet,
through an index of their own, and decides for each in one transaction:

- `skipped`: already read (the person saw it), older than the settings' `max_age`, or
  its recipient has no active account, no e-mail address, or has turned the mails off
  or muted that kind of notification;
- `queued`: gathered with the recipient's other new ones into one mail job (a `jobs`
  row, `kind = message`), so a burst of assignments makes one mail, not twenty.

The mail job (`worker/mail.py`) then reads what it may still say (`digest`: unread
notifications on cases the person may still see, an account still active and still
wanting mail), sends it, and marks them `sent`, the rest `skipped` (`settle`); after its
last failed attempt, `failed` (`give_up`). The job machinery brings the retries with
backoff, the lease and the crash safety: a worker killed between sending and marking
sends that mail again (at least once; its Message-ID is stable, so mail clients that
dedupe see one).

Workers sharing PostgreSQL gather different notifications (`FOR UPDATE SKIP LOCKED`);
SQLite's single writer serialises rounds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from casework.services.identity import actor_for_user, aware, record_of
from casework.services.notifications import NotificationItem, unread_among
from casework.store.direct import DirectStatement
from casework.store.identity_tables import User
from casework.store.notification_tables import (
    MAIL_FAILED,
    MAIL_QUEUED,
    MAIL_SENT,
    MAIL_SKIPPED,
    Notification,
)
from casework.store.tables import Job, table_of

KIND = "mail"  # a mail job's payload kind (`jobs.kind` is `message`)
# Notifications looked at per round's transaction; a round goes on while it finds that many.
ROUND_LIMIT = 500
# A mail job's attempts: with the worker's backoff (10 s doubling), about five minutes
# of an unreachable server before its notifications are marked failed.
MAX_ATTEMPTS = 6

_NOTES = table_of(Notification)
_INSERT_JOBS = DirectStatement(table_of(Job).insert())


@dataclass(frozen=True, slots=True)
class Gathered:
    """What a round did: mail jobs queued, notifications in them, notifications skipped."""

    mails: int
    queued: int
    skipped: int

    @property
    def looked_at(self) -> int:
        return self.queued + self.skipped


@dataclass(frozen=True, slots=True)
class Digest:
    """One mail: to whom, and the notifications it tells of (oldest first)."""

    username: str
    name: str
    email: str
    locale: str
    time_zone: str
    items: list[NotificationItem]


def is_mail_payload(payload: dict[str, Any]) -> bool:
    return payload.get("kind") == KIND


def gather(
    db: sessionmaker[Session], *, now: datetime, max_age: timedelta, limit: int = ROUND_LIMIT
) -> Gathered:
    """One mail round: every notification not yet looked at, `limit` at a time, skipped
    or queued into one mail job per recipient (each transaction its own jobs)."""
    mails = queued = skipped = 0
    while True:
        batch = _gather_batch(db, now=now, max_age=max_age, limit=limit)
        mails, queued, skipped = (
            mails + batch.mails,
            queued + batch.queued,
            skipped + batch.skipped,
        )
        if batch.looked_at < limit:
            return Gathered(mails, queued, skipped)


def _gather_batch(
    db: sessionmaker[Session], *, now: datetime, max_age: timedelta, limit: int
) -> Gathered:
    oldest = now - max_age
    query = (
        select(
            _NOTES.c.id,
            _NOTES.c.recipient,
            _NOTES.c.created_at,
            _NOTES.c.read_at,
            _NOTES.c.kind,
            User.email,
            User.active,
            User.email_notifications,
            User.email_muted,
        )
        .outerjoin(User, User.username == _NOTES.c.recipient)
        .where(_NOTES.c.mail.is_(None))
        .order_by(_NOTES.c.id)
        .limit(limit)
    )
    with db.begin() as session:
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(of=_NOTES, skip_locked=True)
        by_recipient: dict[str, list[int]] = {}
        skipped: list[int] = []
        for row in session.execute(query):
            created = aware(row.created_at)
            wanted = (
                row.active
                and row.email
                and row.email_notifications
                and row.kind not in (row.email_muted or "").split()
            )
            if row.read_at is not None or created < oldest or not wanted:
                skipped.append(row.id)
            else:
                by_recipient.setdefault(row.recipient, []).append(row.id)
        jobs = [_job_row(recipient, ids, now) for recipient, ids in by_recipient.items()]
        if jobs:
            _INSERT_JOBS.executemany(session.connection(), jobs)
        queued = [i for ids in by_recipient.values() for i in ids]
        _mark(session, queued, MAIL_QUEUED, None, only_unmarked=True)
        _mark(session, skipped, MAIL_SKIPPED, None, only_unmarked=True)
    return Gathered(len(jobs), len(queued), len(skipped))


def _job_row(recipient: str, ids: list[int], now: datetime) -> dict[str, Any]:
    return {
        "kind": "message",
        "case_id": None,
        "ref": f"{KIND}:{recipient}",
        "payload": {"kind": KIND, "recipient": recipient, "ids": ids},
        "status": "pending",
        "due_at": now,
        "attempts": 0,
        "max_attempts": MAX_ATTEMPTS,
        "locked_by": None,
        "locked_until": None,
        "last_error": None,
        # A notification is queued once, so its first and last ids name the mail.
        "idempotency_key": f"{KIND}:{ids[0]}:{ids[-1]}",
        "created_at": now,
    }


def digest(session: Session, *, recipient: str, ids: Sequence[int]) -> Digest | None:
    """What the mail of these notifications may say now: None when the recipient no
    longer has an active account with an address that wants mail; otherwise their
    unread notifications among `ids` on cases they may still see (maybe none)."""
    row = session.scalar(select(User).where(User.username == recipient))
    if row is None or not row.active or not row.email or not row.email_notifications:
        return None
    user = record_of(row)
    actor = actor_for_user(session, user)
    # A kind muted since the round queued it is not mailed either.
    items = [
        item
        for item in unread_among(session, actor=actor, ids=ids)
        if item.kind not in user.email_muted_kinds
    ]
    return Digest(user.username, user.name, row.email, user.locale, user.time_zone, items)


def settle(
    db: sessionmaker[Session], *, ids: Sequence[int], sent: Sequence[int], now: datetime
) -> None:
    """After a mail job: `sent` were in the mail, the rest of `ids` were not (read or out
    of sight meanwhile)."""
    sent_ids = set(sent)
    with db.begin() as session:
        _mark(session, sorted(sent_ids), MAIL_SENT, now)
        _mark(session, [i for i in ids if i not in sent_ids], MAIL_SKIPPED, None)


def give_up(db: sessionmaker[Session], *, ids: Sequence[int]) -> None:
    """The mail job ran out of attempts: its notifications were not mailed."""
    with db.begin() as session:
        _mark(session, list(ids), MAIL_FAILED, None)


def _mark(
    session: Session,
    ids: Sequence[int],
    outcome: str,
    mailed_at: datetime | None,
    *,
    only_unmarked: bool = False,
) -> None:
    """Record `outcome` for the notifications `ids` that are still undecided (gathering)
    or queued (a job's end): a late copy of a job never overwrites what another decided."""
    if not ids:
        return
    before = _NOTES.c.mail.is_(None) if only_unmarked else _NOTES.c.mail == MAIL_QUEUED
    session.execute(
        update(_NOTES)
        .where(_NOTES.c.id.in_(list(ids)), before)
        .values(mail=outcome, mailed_at=mailed_at)
    )
