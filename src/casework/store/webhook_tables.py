"""Webhooks: subscriptions (where to send which case events) and the delivery log.

On the same `Base.metadata` as `tables.py` (imported by `casework.store`). A command that
appends events queues one `message` job per matching subscription and event, and a
`webhook_deliveries` row beside it in the same transaction (`services/webhooks.py`);
the worker sends them (`worker/webhooks.py`) and keeps the row up to date.

The signing secret is stored as it is, unlike API tokens and session ids (which are kept
as hashes): the worker has to compute an HMAC with the secret itself on every delivery,
so a hash would be useless, and encrypting it with a key from the environment would only
move the secret next to the database it protects (every worker needs that key too). It is
returned once, when the subscription is created, and never again.

`webhook_deliveries.subscription_id` has no foreign key on purpose: commands queue
deliveries from a short-lived in-process cache of the subscriptions, so one may name a
subscription deleted a moment ago in another process; a foreign key would then fail the
command itself. The worker drops such orphans, and deleting a subscription deletes its log.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Index, Integer, String, Text, text, true
from sqlalchemy.orm import Mapped, mapped_column

from casework.store.identity_tables import utc_type
from casework.store.tables import Base, BigId, JSONType


class WebhookSubscription(Base):
    __tablename__ = "webhook_subscriptions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    url: Mapped[str] = mapped_column(String(2000))
    # NULL: the events of every case type.
    case_type: Mapped[str | None] = mapped_column(String(200))
    # A JSON list of event type names; NULL: every event type.
    event_types: Mapped[list[Any] | None] = mapped_column(JSONType)
    description: Mapped[str | None] = mapped_column(String(500))
    # Kept as it is: see the module's docstring.
    secret: Mapped[str] = mapped_column(String(100))
    # After a rotation, the secret before it also signs deliveries until
    # `previous_secret_until`, so receivers can switch at their own pace; NULL otherwise.
    previous_secret: Mapped[str | None] = mapped_column(String(100))
    previous_secret_until: Mapped[datetime | None] = mapped_column(utc_type())
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(utc_type())
    # The outcome of the last attempt to deliver an event: delivered | failed.
    last_delivery_status: Mapped[str | None] = mapped_column(String(20))
    last_delivery_at: Mapped[datetime | None] = mapped_column(utc_type())
    # Deliveries in a row that failed for good (every attempt); a success resets it, and
    # reaching the threshold deactivates the subscription (worker/webhooks.py).
    failure_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))


# The conditions of the partial indexes retention deletes through (services/retention.py);
# its queries repeat them word for word.
DELIVERY_DELIVERED_WHERE = "status = 'delivered'"
DELIVERY_ENDED_WHERE = "status IN ('failed', 'cancelled')"


class WebhookDelivery(Base):
    """One event (or ping) for one subscription: its job's progress, for administrators."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        # The delivery log of a subscription, newest first.
        Index("ix_webhook_deliveries_subscription_id_id", "subscription_id", "id"),
        # Finished deliveries by age, for retention. Partial: a delivery enters one of
        # them once, when it ends (in the worker), not when a command queues it.
        Index(
            "ix_webhook_deliveries_delivered",
            "created_at",
            sqlite_where=text(DELIVERY_DELIVERED_WHERE),
            postgresql_where=text(DELIVERY_DELIVERED_WHERE),
        ),
        Index(
            "ix_webhook_deliveries_ended",
            "created_at",
            sqlite_where=text(DELIVERY_ENDED_WHERE),
            postgresql_where=text(DELIVERY_ENDED_WHERE),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    subscription_id: Mapped[int] = mapped_column(BigId)  # no foreign key: see above
    # The idempotency key of the job that sends it: how the worker finds this row.
    job_key: Mapped[str] = mapped_column(String(100), unique=True)
    # NULL for pings, which belong to no case.
    case_id: Mapped[str | None] = mapped_column(String(40))
    event_seq: Mapped[int | None] = mapped_column(Integer)
    event_type: Mapped[str] = mapped_column(String(60))
    # pending | retrying | delivered | failed | cancelled
    status: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    response_status: Mapped[int | None] = mapped_column(Integer)  # HTTP status of the last try
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(utc_type())
    last_attempt_at: Mapped[datetime | None] = mapped_column(utc_type())
    delivered_at: Mapped[datetime | None] = mapped_column(utc_type())
