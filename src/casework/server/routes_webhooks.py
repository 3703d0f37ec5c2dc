"""Webhook subscriptions and their delivery log: for admins and the deployers of the case
types concerned (`access.may_manage_webhooks`; the services check). The signing secret
is in the answers to creating a subscription and rotating its secret only."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from casework.server.auth import CurrentActor
from casework.server.deps import API_PREFIX, MAX_ID, Db, Now, RowId, given_fields
from casework.server.problems import problem_responses
from casework.server.schemas import Items
from casework.services import webhook_subscriptions as subscriptions

router = APIRouter(prefix=API_PREFIX, tags=["webhooks"], responses=problem_responses(401, 403))

EventTypes = Annotated[
    list[Annotated[str, Field(max_length=60)]] | None,
    Field(
        max_length=50,
        description="Only these event types (e.g. `CaseOpened`, `PlanItemTransitioned`); "
        "null or left out: every event type.",
        examples=[["CaseOpened", "CaseTransitioned"]],
    ),
]


class SubscriptionIn(BaseModel):
    url: str = Field(
        min_length=1,
        max_length=2000,
        description="http(s); it must not resolve to a private or loopback address.",
        examples=["https://hooks.example.org/casework"],
    )
    case_type: str | None = Field(
        default=None, max_length=200, description="Only cases of this type; null: every type."
    )
    event_types: EventTypes = None
    description: str | None = Field(default=None, max_length=500)
    active: bool = True


class SubscriptionPatch(BaseModel):
    """Only the fields given change; `case_type: null` and `event_types: null` mean all.
    Setting `active: true` again forgets the failures that deactivated it."""

    url: str | None = Field(default=None, min_length=1, max_length=2000)
    case_type: str | None = Field(default=None, max_length=200)
    event_types: EventTypes = None
    description: str | None = Field(default=None, max_length=500)
    active: bool | None = None


class SubscriptionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    url: str
    case_type: str | None = Field(description="None: every case type.")
    event_types: list[str] | None = Field(description="None: every event type.")
    description: str | None
    active: bool
    created_by: str
    created_at: datetime
    last_delivery_status: str | None = Field(
        description="The outcome of the last attempt: `delivered` or `failed`."
    )
    last_delivery_at: datetime | None
    failure_count: int = Field(
        description="Deliveries in a row that failed after every attempt; 10 deactivate it."
    )
    previous_secret_until: datetime | None = Field(
        default=None,
        description="After a secret rotation: until when the previous secret also signs "
        "deliveries (a second `v1` in `Casework-Signature`); null when there was none.",
    )


class SubscriptionCreated(SubscriptionOut):
    secret: str = Field(
        description="The signing secret (HMAC-SHA256 key): shown this once, keep it safe."
    )


class SecretRotation(BaseModel):
    previous_valid_for_seconds: int = Field(
        default=int(subscriptions.ROTATION_GRACE.total_seconds()),
        ge=0,
        le=int(subscriptions.MAX_ROTATION_GRACE.total_seconds()),
        description="How long the previous secret still signs deliveries beside the new "
        "one, so receivers can switch without rejecting any; 0 for a secret that leaked.",
    )


class DeliveryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    subscription_id: int
    case_id: str | None = Field(description="None for a ping.")
    event_seq: int | None
    event_type: str
    status: str = Field(description="pending, retrying, delivered, failed or cancelled.")
    attempts: int
    response_status: int | None = Field(description="The HTTP status of the last attempt.")
    last_error: str | None
    created_at: datetime
    last_attempt_at: datetime | None
    delivered_at: datetime | None


@router.post(
    "/webhooks",
    status_code=status.HTTP_201_CREATED,
    summary="Subscribe a URL to the events of a case type (the secret is shown once)",
    responses=problem_responses(422),
)
def create_subscription(
    body: SubscriptionIn, actor: CurrentActor, db: Db, now: Now, response: Response
) -> SubscriptionCreated:
    created = subscriptions.create_subscription(
        db,
        actor=actor,
        url=body.url,
        now=now,
        case_type=body.case_type,
        event_types=body.event_types,
        description=body.description,
        active=body.active,
    )
    record = created.subscription
    response.headers["Location"] = f"{API_PREFIX}/webhooks/{record.id}"
    response.headers["Cache-Control"] = "no-store"
    return SubscriptionCreated(
        **SubscriptionOut.model_validate(record).model_dump(), secret=created.secret
    )


@router.get("/webhooks", summary="The webhook subscriptions you may manage")
def list_subscriptions(actor: CurrentActor, db: Db) -> Items[SubscriptionOut]:
    with db() as session:
        records = subscriptions.list_subscriptions(session, actor=actor)
    return Items(items=[SubscriptionOut.model_validate(r) for r in records])


@router.get(
    "/webhooks/{subscription_id}",
    summary="A webhook subscription",
    responses=problem_responses(404),
)
def get_subscription(subscription_id: RowId, actor: CurrentActor, db: Db) -> SubscriptionOut:
    with db() as session:
        record = subscriptions.get_subscription(
            session, actor=actor, subscription_id=subscription_id
        )
    return SubscriptionOut.model_validate(record)


@router.patch(
    "/webhooks/{subscription_id}",
    summary="Change a webhook subscription: URL, filters, active",
    responses=problem_responses(404, 422),
)
def update_subscription(
    subscription_id: RowId, body: SubscriptionPatch, actor: CurrentActor, db: Db
) -> SubscriptionOut:
    changes = given_fields(body, nullable={"case_type", "event_types", "description"})
    record = subscriptions.update_subscription(
        db, actor=actor, subscription_id=subscription_id, **changes
    )
    return SubscriptionOut.model_validate(record)


@router.delete(
    "/webhooks/{subscription_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a webhook subscription and its delivery log",
    responses=problem_responses(404),
)
def delete_subscription(subscription_id: RowId, actor: CurrentActor, db: Db) -> None:
    subscriptions.delete_subscription(db, actor=actor, subscription_id=subscription_id)


@router.post(
    "/webhooks/{subscription_id}/secret",
    summary="Rotate the signing secret (the new one is shown once)",
    responses=problem_responses(404, 422),
)
def rotate_secret(
    subscription_id: RowId,
    actor: CurrentActor,
    db: Db,
    now: Now,
    response: Response,
    body: SecretRotation | None = None,
) -> SubscriptionCreated:
    rotation = body or SecretRotation()
    created = subscriptions.rotate_secret(
        db,
        actor=actor,
        subscription_id=subscription_id,
        now=now,
        previous_valid_for=timedelta(seconds=rotation.previous_valid_for_seconds),
    )
    response.headers["Cache-Control"] = "no-store"
    return SubscriptionCreated(
        **SubscriptionOut.model_validate(created.subscription).model_dump(),
        secret=created.secret,
    )


@router.get(
    "/webhooks/{subscription_id}/deliveries",
    summary="The deliveries of a subscription, newest first",
    responses=problem_responses(404, 422),
)
def list_deliveries(
    subscription_id: RowId,
    actor: CurrentActor,
    db: Db,
    delivery_status: Annotated[
        str | None,
        Query(alias="status", description="pending, retrying, delivered, failed, cancelled."),
    ] = None,
    before: Annotated[
        int | None,
        Query(ge=1, le=MAX_ID, description="Only deliveries older than this id (paging)."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Items[DeliveryOut]:
    with db() as session:
        records = subscriptions.list_deliveries(
            session,
            actor=actor,
            subscription_id=subscription_id,
            status=delivery_status,
            before=before,
            limit=limit,
        )
    return Items(items=[DeliveryOut.model_validate(r) for r in records])


@router.post(
    "/webhooks/{subscription_id}/test",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Queue a `ping` event for the subscription (the worker sends it)",
    responses=problem_responses(404),
)
def test_subscription(subscription_id: RowId, actor: CurrentActor, db: Db, now: Now) -> DeliveryOut:
    record = subscriptions.queue_ping(db, actor=actor, subscription_id=subscription_id, now=now)
    return DeliveryOut.model_validate(record)
