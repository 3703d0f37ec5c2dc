"""Webhooks, the outbox side: queueing a delivery for every subscribed event, in the
transaction that appends the events.

Every path that appends to a case's event log calls `enqueue(conn, case_type, case_id,
rows)` with the rows it wrote: for each active subscription whose case type and event
types match, one `message` job (payload kind "webhook") and one `webhook_deliveries` row
go into the same transaction, so a command that rolls back queues nothing and one that
commits cannot lose its deliveries. The worker sends them (`worker/webhooks.py`).

The hot path stays cheap: the active subscriptions are cached per database in the
process and re-read at most every `CACHE_SECONDS`, so a command costs no query at all
when nobody subscribes (and none most of the time when someone does). Changes made in
this process take effect at once (`invalidate`); those made in another process within
`CACHE_SECONDS`. The worker checks a subscription is still there and active before it
sends, so a deleted or deactivated one never receives what a stale cache queued.

Subscriptions, the delivery log and pings are managed in `webhook_subscriptions.py`.
"""

from __future__ import annotations

import ipaddress
import os
import threading
import time
import uuid
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Connection, Engine, select

from casework.services.errors import InvalidInput
from casework.store.direct import DirectStatement, pipeline
from casework.store.tables import Job, table_of
from casework.store.webhook_tables import WebhookDelivery, WebhookSubscription

# The `kind` in a webhook job's payload (jobs.kind is "message", like every outbox job).
KIND = "webhook"
# Attempts per delivery: with the worker's backoff (10 s doubling, capped at an hour)
# the last one comes about 85 minutes after the first.
MAX_ATTEMPTS = 10
CACHE_SECONDS = 5.0
ALLOW_PRIVATE_ENV = "CASEWORK_WEBHOOKS_ALLOW_PRIVATE"
MAX_URL = 2000


def allow_private_addresses() -> bool:
    """CASEWORK_WEBHOOKS_ALLOW_PRIVATE=1: let webhooks reach private, loopback and
    link-local addresses (tests, and receivers on the same private network)."""
    return os.environ.get(ALLOW_PRIVATE_ENV, "").strip().lower() in ("1", "true", "yes")


def public_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """An address on the public internet: not private, loopback, link-local (cloud
    metadata services live there), shared, reserved, unspecified or multicast."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def check_url(url: str, *, allow_private: bool, field: str = "url") -> str:
    """A subscription's URL, checked: http(s), a host, no user or password in it (it
    would show in every listing) and, unless private addresses are allowed, not a
    private or loopback address written as such. Host names are checked when they are
    resolved, at every delivery (`worker/webhooks.py`): DNS answers change."""
    url = url.strip()
    if not url or len(url) > MAX_URL:
        raise InvalidInput(f"the URL must have 1 to {MAX_URL} characters", field=field)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError on a bad port)
    except ValueError:
        raise InvalidInput("the URL is not valid", field=field) from None
    if parts.scheme not in ("http", "https"):
        raise InvalidInput("the URL must start with https:// or http://", field=field)
    host = parts.hostname
    if not host:
        raise InvalidInput("the URL must name a host", field=field)
    if parts.username is not None or parts.password is not None:
        raise InvalidInput(
            "the URL must not carry a user or password: the signature authenticates us",
            field=field,
        )
    if parts.fragment:
        raise InvalidInput("the URL must not have a #fragment", field=field)
    if not allow_private:
        if host == "localhost" or host.endswith(".localhost"):
            raise InvalidInput("the URL must not point to this machine", field=field)
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return url
        if not public_address(ip):
            raise InvalidInput(
                "the URL must not point to a private, loopback or link-local address",
                field=field,
            )
    return url


# --- the cache of active subscriptions ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Target:
    subscription_id: int
    event_types: frozenset[str] | None  # None: every event type


@dataclass(frozen=True, slots=True)
class _Snapshot:
    loaded_at: float  # time.monotonic()
    generation: int
    every_type: tuple[_Target, ...]
    by_type: dict[str, tuple[_Target, ...]]

    @property
    def empty(self) -> bool:
        return not self.every_type and not self.by_type


# What `enqueue` reads of the subscriptions, read apart for a caller in a pipeline block.
Subscriptions = _Snapshot


class _Cache:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.snapshots: weakref.WeakKeyDictionary[Engine, _Snapshot] = weakref.WeakKeyDictionary()
        # Bumped by `invalidate`: a reload that began before a change must not store
        # what it read, or the change would stay unseen for CACHE_SECONDS.
        self.generations: weakref.WeakKeyDictionary[Engine, int] = weakref.WeakKeyDictionary()


_CACHE = _Cache()
_SUBSCRIPTIONS = table_of(WebhookSubscription)
_ACTIVE = select(
    _SUBSCRIPTIONS.c.id, _SUBSCRIPTIONS.c.case_type, _SUBSCRIPTIONS.c.event_types
).where(_SUBSCRIPTIONS.c.active.is_(True))


def invalidate(bind: Engine) -> None:
    """Forget the cached subscriptions of this database (after changing them)."""
    with _CACHE.lock:
        _CACHE.snapshots.pop(bind, None)
        _CACHE.generations[bind] = _CACHE.generations.get(bind, 0) + 1


def subscriptions(conn: Connection) -> Subscriptions:
    """The active subscriptions, for `enqueue` in a pipeline block (cached a while)."""
    return _snapshot(conn)


def _snapshot(conn: Connection) -> _Snapshot:
    bind = conn.engine
    now = time.monotonic()
    with _CACHE.lock:
        snapshot = _CACHE.snapshots.get(bind)
        generation = _CACHE.generations.get(bind, 0)
    if snapshot is not None and now - snapshot.loaded_at < CACHE_SECONDS:
        return snapshot
    # Read in the caller's transaction: the command's own, which is open anyway.
    every: list[_Target] = []
    by_type: dict[str, list[_Target]] = {}
    for row in conn.execute(_ACTIVE):
        types = frozenset(row.event_types) if row.event_types is not None else None
        target = _Target(int(row.id), types)
        if row.case_type is None:
            every.append(target)
        else:
            by_type.setdefault(row.case_type, []).append(target)
    snapshot = _Snapshot(now, generation, tuple(every), {k: tuple(v) for k, v in by_type.items()})
    with _CACHE.lock:
        if _CACHE.generations.get(bind, 0) == generation:
            _CACHE.snapshots[bind] = snapshot
    return snapshot


# --- queueing ----------------------------------------------------------------------------

_INSERT_JOBS = DirectStatement(table_of(Job).insert())
_INSERT_DELIVERIES = DirectStatement(table_of(WebhookDelivery).insert())


def enqueue(
    conn: Connection,
    case_type: str,
    case_id: str,
    rows: Sequence[dict[str, Any]],
    active: Subscriptions | None = None,
) -> int:
    """Queue the deliveries the event log rows `rows` (as written to `case_events`: `seq`,
    `type`, `at`) of a case of `case_type` call for, in the caller's transaction. How
    many were queued. Inside a pipeline block, pass the `active` subscriptions read
    before it (`subscriptions`: a read needs its answer at once)."""
    snapshot = active if active is not None else _snapshot(conn)
    if snapshot.empty or not rows:
        return 0
    targets = snapshot.every_type + snapshot.by_type.get(case_type, ())
    if not targets:
        return 0
    jobs: list[dict[str, Any]] = []
    deliveries: list[dict[str, Any]] = []
    for row in rows:
        seq, event_type, at = int(row["seq"]), str(row["type"]), row["at"]
        for target in targets:
            if target.event_types is not None and event_type not in target.event_types:
                continue
            key = f"{KIND}:{case_id}:{seq}:{target.subscription_id}:{uuid.uuid4().hex[:12]}"
            payload = {"kind": KIND, "subscription": target.subscription_id, "seq": seq}
            jobs.append(job_row(key, case_id, target.subscription_id, payload, at))
            deliveries.append(
                delivery_row(key, target.subscription_id, case_id, seq, event_type, at)
            )
    if jobs:
        with pipeline(conn):
            _INSERT_DELIVERIES.executemany(conn, deliveries)
            _INSERT_JOBS.executemany(conn, jobs)
    return len(jobs)


def job_row(
    key: str,
    case_id: str | None,
    subscription_id: int,
    payload: dict[str, Any],
    now: datetime,
    *,
    max_attempts: int | None = None,
) -> dict[str, Any]:
    """A `jobs` row that sends one delivery; `key` is also its delivery's `job_key`."""
    return {
        "kind": "message",
        "case_id": case_id,
        "ref": f"{KIND}:{subscription_id}",
        "payload": payload,
        "status": "pending",
        "due_at": now,
        "attempts": 0,
        "max_attempts": MAX_ATTEMPTS if max_attempts is None else max_attempts,
        "locked_by": None,
        "locked_until": None,
        "last_error": None,
        "idempotency_key": key,
        "created_at": now,
    }


def delivery_row(
    key: str,
    subscription_id: int,
    case_id: str | None,
    seq: int | None,
    event_type: str,
    now: datetime,
) -> dict[str, Any]:
    return {
        "subscription_id": subscription_id,
        "job_key": key,
        "case_id": case_id,
        "event_seq": seq,
        "event_type": event_type,
        "status": "pending",
        "attempts": 0,
        "response_status": None,
        "last_error": None,
        "created_at": now,
        "last_attempt_at": None,
        "delivered_at": None,
    }


def insert_delivery(conn: Connection, job: dict[str, Any], delivery: dict[str, Any]) -> None:
    """Queue one delivery made with `job_row` and `delivery_row` (a ping)."""
    _INSERT_DELIVERIES.execute(conn, delivery)
    _INSERT_JOBS.execute(conn, job)
