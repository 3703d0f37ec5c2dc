"""Webhook subscriptions: creating, listing, changing and deleting them, their delivery
log, and test pings. Who may do it is `access.may_manage_webhooks`.

The signing secret is made here (32 random bytes), returned by `create_subscription`
(and by `rotate_secret`, which replaces it) once and never again; it is stored as it is
because the worker signs with it (see `store/webhook_tables.py`). Every change forgets
this process's cache of active subscriptions (`webhooks.invalidate`) once it has
committed.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session, sessionmaker

from casework.services import webhooks
from casework.services.access import may_manage_some_webhooks, may_manage_webhooks
from casework.services.actors import Actor
from casework.services.errors import Forbidden, InvalidInput, NotFound
from casework.services.identity import aware
from casework.store.tables import CaseTypeVersion
from casework.store.webhook_tables import WebhookDelivery, WebhookSubscription

SECRET_PREFIX = "whsec_"
EVENT_TYPE = re.compile(r"[A-Z][A-Za-z0-9]{0,59}")
MAX_EVENT_TYPES = 50
MAX_DESCRIPTION = 500
DELIVERY_STATUSES = frozenset({"pending", "retrying", "delivered", "failed", "cancelled"})
PING = "ping"
# How long a rotated-out secret still signs deliveries, by default and at most.
ROTATION_GRACE = timedelta(hours=24)
MAX_ROTATION_GRACE = timedelta(days=7)


class _Unset:
    """An argument not given (None is a value: "every case type", "every event type")."""


UNSET = _Unset()


@dataclass(frozen=True, slots=True)
class SubscriptionRecord:
    id: int
    url: str
    case_type: str | None
    event_types: list[str] | None
    description: str | None
    active: bool
    created_by: str
    created_at: datetime
    last_delivery_status: str | None
    last_delivery_at: datetime | None
    failure_count: int
    # While a rotated-out secret still signs deliveries; None when none does.
    previous_secret_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class CreatedSubscription:
    subscription: SubscriptionRecord
    # Shown once; kept out of repr so that no log line or traceback carries it.
    secret: str = ""

    def __repr__(self) -> str:
        return f"CreatedSubscription({self.subscription!r}, secret=<hidden>)"


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    id: int
    subscription_id: int
    case_id: str | None
    event_seq: int | None
    event_type: str
    status: str
    attempts: int
    response_status: int | None
    last_error: str | None
    created_at: datetime
    last_attempt_at: datetime | None
    delivered_at: datetime | None


def _record(row: WebhookSubscription) -> SubscriptionRecord:
    return SubscriptionRecord(
        id=row.id,
        url=row.url,
        case_type=row.case_type,
        event_types=list(row.event_types) if row.event_types is not None else None,
        description=row.description,
        active=row.active,
        created_by=row.created_by,
        created_at=aware(row.created_at),
        last_delivery_status=row.last_delivery_status,
        last_delivery_at=aware(row.last_delivery_at) if row.last_delivery_at else None,
        failure_count=row.failure_count,
        previous_secret_until=(
            aware(row.previous_secret_until) if row.previous_secret_until else None
        ),
    )


def delivery_record(row: WebhookDelivery) -> DeliveryRecord:
    return DeliveryRecord(
        id=row.id,
        subscription_id=row.subscription_id,
        case_id=row.case_id,
        event_seq=row.event_seq,
        event_type=row.event_type,
        status=row.status,
        attempts=row.attempts,
        response_status=row.response_status,
        last_error=row.last_error,
        created_at=aware(row.created_at),
        last_attempt_at=aware(row.last_attempt_at) if row.last_attempt_at else None,
        delivered_at=aware(row.delivered_at) if row.delivered_at else None,
    )


# --- checks ------------------------------------------------------------------------------


def _require_some(actor: Actor) -> None:
    if not may_manage_some_webhooks(actor):
        raise Forbidden("managing webhooks needs administrator rights or the case_type_admin role")


def _require_for(actor: Actor, case_type: str | None) -> None:
    if not may_manage_webhooks(actor, case_type):
        what = f"case type {case_type}" if case_type else "every case type"
        raise Forbidden(f"you may not manage webhooks for {what}", field="case_type")


def _case_type(session: Session, case_type: str | None) -> str | None:
    if case_type is None:
        return None
    case_type = case_type.strip()
    deployed = session.scalar(
        select(CaseTypeVersion.id).where(CaseTypeVersion.type_id == case_type).limit(1)
    )
    if deployed is None:
        raise InvalidInput(f"no case type {case_type!r} is deployed", field="case_type")
    return case_type


def _event_types(values: Iterable[str] | None) -> list[str] | None:
    """Sorted, without repeats; None (every type) rather than an empty list, which would
    be a subscription that never fires."""
    if values is None:
        return None
    names = sorted({str(v).strip() for v in values})
    if not names:
        raise InvalidInput(
            "list at least one event type, or leave it out for all", field="event_types"
        )
    if len(names) > MAX_EVENT_TYPES:
        raise InvalidInput(f"at most {MAX_EVENT_TYPES} event types", field="event_types")
    for index, name in enumerate(names):
        if not EVENT_TYPE.fullmatch(name):
            raise InvalidInput(
                f"{name!r} is not an event type name (e.g. PlanItemTransitioned)",
                field=f"event_types.{index}",
            )
    return names


def _description(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if len(value) > MAX_DESCRIPTION:
        raise InvalidInput(f"at most {MAX_DESCRIPTION} characters", field="description")
    return value or None


def _visible(session: Session, actor: Actor, subscription_id: int) -> WebhookSubscription:
    """The subscription, for someone who may manage it; NotFound for the others (who
    must not learn what other case types' subscriptions there are)."""
    _require_some(actor)
    row = session.get(WebhookSubscription, subscription_id)
    if row is None or not may_manage_webhooks(actor, row.case_type):
        raise NotFound(f"no webhook subscription {subscription_id}")
    return row


def _forget(db: sessionmaker[Session]) -> None:
    bind = db.kw.get("bind")
    if isinstance(bind, Engine):
        webhooks.invalidate(bind)


# --- the service -------------------------------------------------------------------------


def create_subscription(
    db: sessionmaker[Session],
    *,
    actor: Actor,
    url: str,
    now: datetime,
    case_type: str | None = None,
    event_types: Iterable[str] | None = None,
    description: str | None = None,
    active: bool = True,
) -> CreatedSubscription:
    _require_some(actor)
    url = webhooks.check_url(url, allow_private=webhooks.allow_private_addresses())
    types = _event_types(event_types)
    text = _description(description)
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    with db.begin() as session:
        kind = _case_type(session, case_type)
        _require_for(actor, kind)
        row = WebhookSubscription(
            url=url,
            case_type=kind,
            event_types=types,
            description=text,
            secret=secret,
            active=active,
            created_by=actor.id,
            created_at=now,
            failure_count=0,
        )
        session.add(row)
        session.flush()
        record = _record(row)
    _forget(db)
    return CreatedSubscription(record, secret)


def list_subscriptions(session: Session, *, actor: Actor) -> list[SubscriptionRecord]:
    _require_some(actor)
    rows = session.scalars(select(WebhookSubscription).order_by(WebhookSubscription.id))
    return [_record(row) for row in rows if may_manage_webhooks(actor, row.case_type)]


def get_subscription(session: Session, *, actor: Actor, subscription_id: int) -> SubscriptionRecord:
    return _record(_visible(session, actor, subscription_id))


def update_subscription(
    db: sessionmaker[Session],
    *,
    actor: Actor,
    subscription_id: int,
    url: str | _Unset = UNSET,
    case_type: str | _Unset | None = UNSET,
    event_types: Iterable[str] | _Unset | None = UNSET,
    description: str | _Unset | None = UNSET,
    active: bool | _Unset = UNSET,
) -> SubscriptionRecord:
    """Change what is given; turning a subscription back on forgets its failures."""
    changes: dict[str, Any] = {}
    if not isinstance(url, _Unset):
        changes["url"] = webhooks.check_url(url, allow_private=webhooks.allow_private_addresses())
    if not isinstance(event_types, _Unset):
        changes["event_types"] = _event_types(event_types)
    if not isinstance(description, _Unset):
        changes["description"] = _description(description)
    with db.begin() as session:
        row = _visible(session, actor, subscription_id)
        if not isinstance(case_type, _Unset):
            changes["case_type"] = _case_type(session, case_type)
            # Moving a subscription needs the right on both sides.
            _require_for(actor, changes["case_type"])
        if not isinstance(active, _Unset):
            if active and not row.active:
                changes["failure_count"] = 0
            changes["active"] = active
        for name, value in changes.items():
            setattr(row, name, value)
        session.flush()
        record = _record(row)
    _forget(db)
    return record


def rotate_secret(
    db: sessionmaker[Session],
    *,
    actor: Actor,
    subscription_id: int,
    now: datetime,
    previous_valid_for: timedelta = ROTATION_GRACE,
) -> CreatedSubscription:
    """A new signing secret, returned this once. The one it replaces still signs every
    delivery beside it for `previous_valid_for` (zero: not at all, for a secret that
    leaked); a secret replaced before that ends no longer signs."""
    if not timedelta(0) <= previous_valid_for <= MAX_ROTATION_GRACE:
        raise InvalidInput(
            f"the previous secret may stay valid for 0 to {MAX_ROTATION_GRACE.days} days",
            field="previous_valid_for_seconds",
        )
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    with db.begin() as session:
        row = _visible(session, actor, subscription_id)
        if previous_valid_for:
            row.previous_secret, row.previous_secret_until = row.secret, now + previous_valid_for
        else:
            row.previous_secret, row.previous_secret_until = None, None
        row.secret = secret
        session.flush()
        record = _record(row)
    _forget(db)
    return CreatedSubscription(record, secret)


def signing_secrets(row: WebhookSubscription, now: datetime) -> tuple[str, ...]:
    """The secrets a delivery sent at `now` is signed with: the current one, then the
    previous one while its grace period lasts."""
    until = row.previous_secret_until
    if row.previous_secret and until is not None and aware(until) > now:
        return (row.secret, row.previous_secret)
    return (row.secret,)


def delete_subscription(db: sessionmaker[Session], *, actor: Actor, subscription_id: int) -> None:
    """Delete it with its delivery log; deliveries still queued are dropped unsent."""
    with db.begin() as session:
        row = _visible(session, actor, subscription_id)
        session.execute(
            delete(WebhookDelivery).where(WebhookDelivery.subscription_id == subscription_id)
        )
        session.delete(row)
    _forget(db)


def list_deliveries(
    session: Session,
    *,
    actor: Actor,
    subscription_id: int,
    status: str | None = None,
    before: int | None = None,
    limit: int = 50,
) -> list[DeliveryRecord]:
    """The subscription's deliveries, newest first; `before` (a delivery id) pages on."""
    _visible(session, actor, subscription_id)
    if status is not None and status not in DELIVERY_STATUSES:
        allowed = ", ".join(sorted(DELIVERY_STATUSES))
        raise InvalidInput(f"status must be one of: {allowed}", field="status")
    if not 1 <= limit <= 200:
        raise InvalidInput("limit must be between 1 and 200", field="limit")
    query = select(WebhookDelivery).where(WebhookDelivery.subscription_id == subscription_id)
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    if before is not None:
        query = query.where(WebhookDelivery.id < before)
    rows = session.scalars(query.order_by(WebhookDelivery.id.desc()).limit(limit))
    return [delivery_record(row) for row in rows]


def queue_ping(
    db: sessionmaker[Session], *, actor: Actor, subscription_id: int, now: datetime
) -> DeliveryRecord:
    """Queue a `ping` event for the subscription, even an inactive one (to try an
    endpoint before turning it back on). One attempt only, and its outcome does not
    count towards deactivation: it is a test."""
    with db.begin() as session:
        _visible(session, actor, subscription_id)
        key = f"{webhooks.KIND}:{PING}:{subscription_id}:{uuid.uuid4().hex[:16]}"
        payload = {
            "kind": webhooks.KIND,
            "subscription": subscription_id,
            "ping": True,
            "actor": actor.id,
        }
        job = webhooks.job_row(key, None, subscription_id, payload, now, max_attempts=1)
        delivery = webhooks.delivery_row(key, subscription_id, None, None, PING, now)
        webhooks.insert_delivery(session.connection(), job, delivery)
        row = session.scalars(select(WebhookDelivery).where(WebhookDelivery.job_key == key)).one()
        return delivery_record(row)
