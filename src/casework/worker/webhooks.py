"""Sending webhooks: the worker's side of `services/webhooks.py`.

A webhook job names its subscription and the event (its case and `seq`). Each attempt
reads the subscription and the event in one short transaction (nothing is held open
while the receiver answers), POSTs the event as JSON, signed, and writes the outcome to
its `webhook_deliveries` row. A 2xx answer is a delivery; anything else (another status,
a redirect, a timeout, a refused connection) raises, and the worker's retry machinery
(`RetryPolicy`: 10 s doubling, capped at an hour, with jitter) tries again until the
job's attempts run out; `gave_up` then marks the delivery failed and counts it against
the subscription, which is deactivated after `DEACTIVATE_AFTER` failed deliveries in a
row. Delivery is at least once: a receiver dedupes by `Casework-Event-Id`.

The signature (Stripe's scheme): `Casework-Signature: t=<unix time>,v1=<hex>` where hex
is HMAC-SHA256 with the subscription's secret over `"<t>." + body`. Receivers check it
and reject old timestamps (replays); `verify_signature` is the reference. After a secret
rotation, the previous secret signs too until its grace period ends: a second `v1`.

Server-side request forgery: the URL must be http(s); unless
CASEWORK_WEBHOOKS_ALLOW_PRIVATE=1, every address its host resolves to must be public
(not private, loopback, link-local, ...), and the request goes to the address that was
checked (the host name travels in `Host` and TLS SNI), so a DNS answer that changes
between the check and the connection cannot point it inside. Redirects are not followed
and proxies from the environment are not used, for the same reason.

Logs carry subscription, delivery and job ids, HTTP statuses and exception types: never
URLs (they may carry tokens), secrets or payloads.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import socket
import ssl
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from sqlalchemy import Engine, case, false, select, update
from sqlalchemy.orm import Session, sessionmaker

from casework.services import webhooks
from casework.services.webhook_subscriptions import signing_secrets
from casework.store.tables import Case, CaseEvent
from casework.store.webhook_tables import WebhookDelivery, WebhookSubscription
from casework.worker.jobs import ClaimedJob

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 5.0
# Failed deliveries in a row (each after all its attempts) that deactivate a subscription.
DEACTIVATE_AFTER = 10
USER_AGENT = "Casework-Webhooks/1"
MAX_ERROR = 500

Resolver = Callable[..., list[Any]]


class DeliveryFailed(Exception):
    """This attempt failed; another may succeed (the job is retried)."""


class Undeliverable(Exception):
    """No attempt can succeed (the URL is refused): the job fails at once."""


def is_webhook(job: ClaimedJob) -> bool:
    return job.kind == "message" and job.payload.get("kind") == webhooks.KIND


def signature(secrets: str | Sequence[str], timestamp: int, body: bytes) -> str:
    """The `Casework-Signature` header for `body` sent at `timestamp` (Unix seconds):
    one `v1` per secret (two while a rotated-out secret is still valid)."""
    keys = (secrets,) if isinstance(secrets, str) else secrets
    signed = f"{timestamp}.".encode() + body
    return ",".join(
        [f"t={timestamp}"]
        + [f"v1={hmac.new(k.encode(), signed, hashlib.sha256).hexdigest()}" for k in keys]
    )


def verify_signature(
    secret: str, header: str, body: bytes, *, now: float, tolerance: float = 300
) -> bool:
    """What a receiver does: the header's `v1` matches and `t` is within `tolerance`
    seconds of `now` (so a captured request cannot be replayed later)."""
    fields: dict[str, list[str]] = {}
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        fields.setdefault(key, []).append(value)
    try:
        timestamp = int(fields["t"][0])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    expected = signature(secret, timestamp, body).rpartition("v1=")[2]
    return any(hmac.compare_digest(expected, given) for given in fields.get("v1", []))


def envelope_id(case_id: str | None, seq: int | None, delivery_id: int) -> str:
    return f"{case_id}:{seq}" if case_id is not None else f"ping:{delivery_id}"


@dataclass(frozen=True, slots=True)
class _Attempt:
    """What one attempt needs, read before sending."""

    delivery_id: int
    subscription_id: int
    url: str
    secrets: tuple[str, ...]
    event_id: str
    body: bytes

    def __repr__(self) -> str:  # no secret in a log line or a traceback
        return f"_Attempt(delivery {self.delivery_id}, subscription {self.subscription_id})"


_SSL_LOCK = threading.Lock()
_SSL: list[ssl.SSLContext] = []


def _ssl_context() -> ssl.SSLContext:
    # Built once (loading the CA bundle costs milliseconds); every delivery has a client
    # of its own (see `_post`) but they share this.
    with _SSL_LOCK:
        if not _SSL:
            _SSL.append(httpx.create_ssl_context())
        return _SSL[0]


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _iso(value: datetime) -> str:
    return _aware(value).isoformat().replace("+00:00", "Z")


def _short(text: str) -> str:
    return text if len(text) <= MAX_ERROR else text[: MAX_ERROR - 1] + "…"


class WebhookSender:
    """Sends webhook jobs for a `Worker` (one per worker)."""

    def __init__(
        self,
        db: sessionmaker[Session],
        *,
        clock: Callable[[], datetime],
        allow_private: bool | None = None,
        timeout: float = TIMEOUT_SECONDS,
        deactivate_after: int = DEACTIVATE_AFTER,
        resolve: Resolver = socket.getaddrinfo,
    ) -> None:
        self.db = db
        self.clock = clock
        self.allow_private = (
            webhooks.allow_private_addresses() if allow_private is None else allow_private
        )
        self.timeout = timeout
        self.deactivate_after = deactivate_after
        self.resolve = resolve

    # -- one attempt ---------------------------------------------------------------------
    def run(self, job: ClaimedJob) -> str | None:
        """Send the job's delivery; a note for the job when there was nothing to send.
        Raises DeliveryFailed (retry) or Undeliverable (give up)."""
        attempt = self._prepare(job)
        if isinstance(attempt, str):
            return attempt
        try:
            status = self._post(attempt, job)
        except Undeliverable as exc:
            self._failed_attempt(job, attempt, None, str(exc))
            raise
        except (httpx.HTTPError, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}".replace(attempt.url, "<url>")
            self._failed_attempt(job, attempt, None, error)
            raise DeliveryFailed(_short(error)) from None
        if not 200 <= status < 300:
            self._failed_attempt(job, attempt, status, f"HTTP {status}")
            raise DeliveryFailed(f"the receiver answered HTTP {status}")
        self._delivered(job, attempt, status)
        return None

    def _prepare(self, job: ClaimedJob) -> _Attempt | str:
        subscription_id = int(job.payload.get("subscription") or 0)
        ping = bool(job.payload.get("ping"))
        with self.db.begin() as session:
            delivery = session.scalar(
                select(WebhookDelivery).where(WebhookDelivery.job_key == job.idempotency_key)
            )
            sub = session.get(WebhookSubscription, subscription_id)
            if sub is None:
                # Deleted after the event was queued: drop what a stale cache queued.
                if delivery is not None:
                    session.delete(delivery)
                return f"webhook subscription {subscription_id} no longer exists; not sent"
            if delivery is None:
                return f"no delivery record for webhook job {job.id}; not sent"
            if not sub.active and not ping:
                delivery.status = "cancelled"
                return f"webhook subscription {subscription_id} is inactive; not sent"
            if ping:
                envelope = self._ping(delivery, sub, str(job.payload.get("actor") or "system"))
            else:
                found = self._event(session, delivery)
                if found is None:
                    delivery.status = "cancelled"
                    return f"event {delivery.case_id}:{delivery.event_seq} is gone; not sent"
                envelope = found
            return _Attempt(
                delivery_id=delivery.id,
                subscription_id=sub.id,
                url=sub.url,
                secrets=signing_secrets(sub, self.clock()),
                event_id=str(envelope["id"]),
                body=json.dumps(envelope, separators=(",", ":"), default=str).encode(),
            )

    def _event(self, session: Session, delivery: WebhookDelivery) -> dict[str, Any] | None:
        row = session.execute(
            select(CaseEvent, Case.type_id)
            .join(Case, Case.id == CaseEvent.case_id)
            .where(CaseEvent.case_id == delivery.case_id, CaseEvent.seq == delivery.event_seq)
        ).first()
        if row is None:
            return None
        event, case_type = row
        return {
            "id": envelope_id(event.case_id, event.seq, delivery.id),
            "type": event.type,
            "case_id": event.case_id,
            "case_type": case_type,
            "seq": event.seq,
            "at": _iso(event.at),
            "actor": event.actor,
            "payload": event.payload,
        }

    def _ping(
        self, delivery: WebhookDelivery, sub: WebhookSubscription, actor: str
    ) -> dict[str, Any]:
        return {
            "id": envelope_id(None, None, delivery.id),
            "type": "ping",
            "case_id": None,
            "case_type": sub.case_type,
            "seq": None,
            "at": _iso(delivery.created_at),
            "actor": actor,
            "payload": {"subscription_id": sub.id},
        }

    def _post(self, attempt: _Attempt, job: ClaimedJob) -> int:
        url, host_header, extensions = self._pinned(attempt.url)
        timestamp = int(self.clock().timestamp())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "Casework-Event-Id": attempt.event_id,
            "Casework-Delivery-Attempt": str(job.attempt),
            "Casework-Signature": signature(attempt.secrets, timestamp, attempt.body),
        }
        if host_header is not None:
            headers["Host"] = host_header
        # A client per delivery, so no pooled connection made for one host name is ever
        # reused for another that shares its address (wrong TLS name); no redirects, no
        # proxies from the environment (both would bypass the address check).
        with (
            httpx.Client(
                timeout=self.timeout,
                follow_redirects=False,
                trust_env=False,
                verify=_ssl_context(),
            ) as client,
            client.stream(
                "POST", url, content=attempt.body, headers=headers, extensions=extensions
            ) as response,
        ):
            # The body is not read: only the status matters, and a receiver could
            # answer with anything.
            status = response.status_code
        log.info(
            "webhook subscription=%s delivery=%s job=%s attempt=%d: HTTP %d",
            attempt.subscription_id,
            attempt.delivery_id,
            job.id,
            job.attempt,
            status,
        )
        return status

    def _pinned(self, url: str) -> tuple[str, str | None, dict[str, Any]]:
        """The URL to connect to, the Host header and the TLS name: the host's checked
        address in the URL when private addresses are refused, the URL as it is else."""
        parts = urlsplit(url)
        host = parts.hostname
        if parts.scheme not in ("http", "https") or not host:
            raise Undeliverable("the URL must be http(s) and name a host")
        if self.allow_private:
            return url, None, {}
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            addresses = [ipaddress.ip_address(host)]
        except ValueError:
            try:
                infos = self.resolve(host, port, type=socket.SOCK_STREAM)
            except OSError as exc:
                raise DeliveryFailed(f"cannot resolve the host: {type(exc).__name__}") from None
            # An IPv6 answer may carry a zone ("fe80::1%eth0"): it is link-local anyway.
            addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
        if not addresses:
            raise DeliveryFailed("the host has no address")
        for ip in addresses:
            if not webhooks.public_address(ip):
                raise Undeliverable(
                    f"the URL's host resolves to {ip}, a private, loopback or link-local "
                    f"address (set {webhooks.ALLOW_PRIVATE_ENV}=1 to allow such addresses)"
                )
        ip = addresses[0]
        literal = f"[{ip}]" if ip.version == 6 else str(ip)
        netloc = f"{literal}:{parts.port}" if parts.port else literal
        pinned = urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
        extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
        return pinned, parts.netloc, extensions

    # -- outcomes ------------------------------------------------------------------------
    def _delivered(self, job: ClaimedJob, attempt: _Attempt, status: int) -> None:
        now = self.clock()
        with self.db.begin() as session:
            session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id == attempt.delivery_id)
                .values(
                    status="delivered",
                    attempts=job.attempt,
                    response_status=status,
                    last_error=None,
                    last_attempt_at=now,
                    delivered_at=now,
                )
            )
            if not job.payload.get("ping"):
                session.execute(
                    update(WebhookSubscription)
                    .where(WebhookSubscription.id == attempt.subscription_id)
                    .values(last_delivery_status="delivered", last_delivery_at=now, failure_count=0)
                )

    def _failed_attempt(
        self, job: ClaimedJob, attempt: _Attempt, status: int | None, error: str
    ) -> None:
        """Record an attempt that failed; `gave_up` follows when it was the last."""
        now = self.clock()
        with self.db.begin() as session:
            session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id == attempt.delivery_id)
                .values(
                    status="retrying",
                    attempts=job.attempt,
                    response_status=status,
                    last_error=_short(error),
                    last_attempt_at=now,
                )
            )
            if not job.payload.get("ping"):
                session.execute(
                    update(WebhookSubscription)
                    .where(WebhookSubscription.id == attempt.subscription_id)
                    .values(last_delivery_status="failed", last_delivery_at=now)
                )

    def gave_up(self, job: ClaimedJob, attempts: int, error: str) -> None:
        """The job failed for good: the delivery is `failed`, and (unless it was a ping)
        it counts against its subscription, which may be deactivated."""
        subscription_id = int(job.payload.get("subscription") or 0)
        subs = WebhookSubscription
        with self.db.begin() as session:
            session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.job_key == job.idempotency_key)
                .values(status="failed", attempts=attempts, last_error=_short(error))
            )
            if job.payload.get("ping"):
                return
            count = subs.failure_count + 1
            outcome = session.execute(
                update(subs)
                .where(subs.id == subscription_id)
                .values(
                    failure_count=count,
                    # One statement, so that concurrent workers count every failure.
                    active=case((count >= self.deactivate_after, false()), else_=subs.active),
                )
                .returning(subs.active, subs.failure_count)
            ).first()
        if outcome is not None and not outcome.active:
            bind = self.db.kw.get("bind")
            if isinstance(bind, Engine):
                webhooks.invalidate(bind)  # this process stops queueing for it at once
            if outcome.failure_count == self.deactivate_after:
                log.warning(
                    "webhook subscription=%s deactivated after %d failed deliveries in a row",
                    subscription_id,
                    outcome.failure_count,
                )
