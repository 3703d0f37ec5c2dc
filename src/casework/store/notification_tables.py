"""Notifications: what a person should know happened on a case they work on.

On the same `Base.metadata` as `tables.py` (imported by `casework.store`). A row is
written in the transaction of the change that calls for it (`services/notifications.py`:
a task given to someone by someone else, a mention in a note, a deadline passed on
someone's work), so none is lost or sent for a change that was rolled back. Whether it
was read is the person's own state, not the case's: it is not on the case's log, and
a projection rebuild leaves it as it is.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from casework.store.identity_tables import utc_type
from casework.store.tables import Base, BigId

UNREAD_WHERE = "read_at IS NULL"
# Not yet looked at by the worker's mail round: what it reads (services/notification_mail.py).
UNMAILED_WHERE = "mail IS NULL"
# What became of a notification's e-mail (`mail`; NULL: not yet decided).
MAIL_QUEUED, MAIL_SENT, MAIL_SKIPPED, MAIL_FAILED = "queued", "sent", "skipped", "failed"
EXCERPT_CHARS = 300


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (
        # A person's notifications, newest first; the unread ones in an index of their
        # own, so counting them reads only them.
        Index("ix_notifications_recipient", "recipient", "id"),
        Index(
            "ix_notifications_unread",
            "recipient",
            "id",
            sqlite_where=text(UNREAD_WHERE),
            postgresql_where=text(UNREAD_WHERE),
        ),
        Index(
            "ix_notifications_unmailed",
            "id",
            sqlite_where=text(UNMAILED_WHERE),
            postgresql_where=text(UNMAILED_WHERE),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    recipient: Mapped[str] = mapped_column(String(200))
    case_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("cases.id", ondelete="CASCADE"), index=True
    )
    seq: Mapped[int] = mapped_column(Integer)  # the log entry that called for it
    kind: Mapped[str] = mapped_column(String(30))  # assigned | mentioned | deadline_passed
    actor: Mapped[str | None] = mapped_column(String(200))  # who did it
    instance_id: Mapped[str | None] = mapped_column(String(100))  # the task, if any
    excerpt: Mapped[str | None] = mapped_column(String(EXCERPT_CHARS))  # a note's start
    # Indexed: retention deletes the oldest (services/retention.py).
    created_at: Mapped[datetime] = mapped_column(utc_type(), index=True)
    read_at: Mapped[datetime | None] = mapped_column(utc_type())
    mail: Mapped[str | None] = mapped_column(String(10))  # queued | sent | skipped | failed
    mailed_at: Mapped[datetime | None] = mapped_column(utc_type())
