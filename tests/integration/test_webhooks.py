"""Webhooks on SQLite and PostgreSQL: queued with the events, sent signed by the worker to
a real HTTP server, retried with backoff, given up on, deactivated, and kept off private
addresses."""

from __future__ import annotations

import json
import re
import socket
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session, sessionmaker
from tests.clock import Clock

from casework.engine import commands as c
from casework.services import case_types, cases, collaboration, webhooks
from casework.services import webhook_subscriptions as subs
from casework.services.actors import SYSTEM, Actor
from casework.services.errors import InvalidInput
from casework.services.work import claim_next
from casework.store import migrate
from casework.store.db import make_engine, session_factory
from casework.store.tables import Job, PlanItemRow
from casework.store.webhook_tables import WebhookDelivery, WebhookSubscription
from casework.worker import RetryPolicy, Worker
from casework.worker.webhooks import (
    DEACTIVATE_AFTER,
    DeliveryFailed,
    Undeliverable,
    WebhookSender,
    verify_signature,
)

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

CLAIM = """
id: claim
name: Claim
plan:
  items:
    - task: Assess
    - task: Pay
      after: Assess
"""
PERMIT = """
id: permit
name: Permit
plan:
  items:
    - task: Check
"""


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A local HTTP server that records what it gets and answers with `statuses` in turn
    (200 once they run out)."""

    url: str
    requests: list[Received] = field(default_factory=list)
    statuses: deque[int] = field(default_factory=deque)


@pytest.fixture(autouse=True)
def allow_private(monkeypatch: pytest.MonkeyPatch) -> None:
    # The receiver listens on 127.0.0.1; the SSRF guard's own tests turn this off.
    monkeypatch.setenv(webhooks.ALLOW_PRIVATE_ENV, "1")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            state.requests.append(Received(self.path, headers, body))
            status = state.statuses.popleft() if state.statuses else 200
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/casework?x=1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def db(db_url: str) -> Iterator[sessionmaker[Session]]:
    migrate.upgrade(db_url)
    engine = make_engine(db_url)
    factory = session_factory(engine)
    case_types.deploy(db=factory, actor=SYSTEM, source=CLAIM, now=NOW)
    case_types.deploy(db=factory, actor=SYSTEM, source=PERMIT, now=NOW)
    yield factory
    engine.dispose()


def subscribe(db: sessionmaker[Session], url: str, **kw: Any) -> subs.CreatedSubscription:
    return subs.create_subscription(db, actor=SYSTEM, url=url, now=NOW, **kw)


def open_case(db: sessionmaker[Session], type_id: str = "claim") -> str:
    return cases.open_case(db, actor=SYSTEM, type_id=type_id, now=NOW).case_id


def deliveries(db: sessionmaker[Session], subscription_id: int | None = None) -> list[Any]:
    with db() as session:
        query = select(WebhookDelivery).order_by(WebhookDelivery.id)
        if subscription_id is not None:
            query = query.where(WebhookDelivery.subscription_id == subscription_id)
        return list(session.scalars(query))


def webhook_jobs(db: sessionmaker[Session]) -> list[Job]:
    with db() as session:
        query = select(Job).where(Job.kind == "message").order_by(Job.id)
        return list(session.scalars(query))


def subscription(db: sessionmaker[Session], subscription_id: int) -> WebhookSubscription:
    with db() as session:
        row = session.get(WebhookSubscription, subscription_id)
        assert row is not None
        return row


def worker(db: sessionmaker[Session], clock: Clock, **kw: Any) -> Worker:
    # No jitter: the retries come exactly 10 s, 20 s, ... after a failure.
    return Worker(db, name="w1", clock=clock, retry=RetryPolicy(rand=lambda: 0.0), **kw)


# --- queueing ---------------------------------------------------------------------------


def test_events_queue_deliveries_in_the_commands_own_transaction(
    db: sessionmaker[Session],
) -> None:
    sub = subscribe(db, "https://hooks.example.org/in").subscription
    case_id = open_case(db)
    queued = deliveries(db)
    types = [d.event_type for d in queued]
    assert types[0] == "CaseOpened" and "PlanItemCreated" in types
    assert [d.event_seq for d in queued] == list(range(1, len(queued) + 1))
    assert {(d.subscription_id, d.case_id, d.status) for d in queued} == {
        (sub.id, case_id, "pending")
    }
    jobs = webhook_jobs(db)
    assert [j.idempotency_key for j in jobs] == [d.job_key for d in queued]
    assert {(j.kind, j.case_id, j.ref, j.status) for j in jobs} == {
        ("message", case_id, f"webhook:{sub.id}", "pending")
    }
    assert jobs[0].payload == {"kind": "webhook", "subscription": sub.id, "seq": 1}
    assert jobs[0].max_attempts == webhooks.MAX_ATTEMPTS

    # A command that rolls back queues nothing.
    with db() as session:
        assess = session.scalars(
            select(PlanItemRow.instance_id).where(
                PlanItemRow.case_id == case_id, PlanItemRow.item_id == "assess"
            )
        ).one()

    def fail(_conn: Any) -> None:
        raise RuntimeError("no")

    with pytest.raises(RuntimeError):
        cases.run_command(
            db,
            actor=SYSTEM,
            case_id=case_id,
            command=c.CompletePlanItem(assess, {}),
            now=NOW,
            on_commit=fail,
        )
    assert len(deliveries(db)) == len(queued) and len(webhook_jobs(db)) == len(queued)

    cases.run_command(
        db, actor=SYSTEM, case_id=case_id, command=c.CompletePlanItem(assess, {}), now=NOW
    )
    assert len(deliveries(db)) > len(queued)

    # Events appended outside the engine (notes) are sent too.
    collaboration.add_note(db, actor=SYSTEM, case_id=case_id, body="hello", now=NOW)
    assert deliveries(db)[-1].event_type == "NoteAdded"


QUEUED = """
id: queued
name: Queued
roles:
  - name: reviewer
plan:
  items:
    - task: Review
      role: reviewer
"""


def test_a_claim_from_a_queue_queues_its_deliveries_in_the_write_that_commits_it(
    db: sessionmaker[Session],
) -> None:
    """On PostgreSQL a claim's writes and its COMMIT are one round trip: its deliveries
    go in it, read from subscriptions fetched before it (none may be read inside)."""
    case_types.deploy(db=db, actor=SYSTEM, source=QUEUED, now=NOW)
    sub = subscribe(db, "https://hooks.example.org/in", event_types=["TaskAssigned"])
    case_id = open_case(db, "queued")
    webhooks.invalidate(db.kw["bind"])  # the claim reads the subscriptions afresh
    task = claim_next(
        db, actor=Actor("ann", roles=frozenset({"reviewer"})), role="reviewer", now=NOW
    )
    assert task is not None and task.case_id == case_id
    queued = deliveries(db, sub.subscription.id)
    assert [(d.case_id, d.event_type, d.status) for d in queued] == [
        (case_id, "TaskAssigned", "pending")
    ]
    assert [j.idempotency_key for j in webhook_jobs(db)] == [queued[0].job_key]


def test_subscriptions_filter_by_case_type_and_event_type(db: sessionmaker[Session]) -> None:
    opened = subscribe(
        db, "https://a.example.org/", case_type="claim", event_types=["CaseOpened"]
    ).subscription
    permits = subscribe(db, "https://b.example.org/", case_type="permit").subscription
    subscribe(db, "https://c.example.org/", active=False)

    claim_id = open_case(db, "claim")
    permit_id = open_case(db, "permit")

    assert [(d.case_id, d.event_type) for d in deliveries(db, opened.id)] == [
        (claim_id, "CaseOpened")
    ]
    for_permits = deliveries(db, permits.id)
    assert {d.case_id for d in for_permits} == {permit_id} and len(for_permits) > 1
    assert len(deliveries(db)) == 1 + len(for_permits)  # nothing for the inactive one

    # Changing the filters takes effect at once in this process.
    subs.update_subscription(db, actor=SYSTEM, subscription_id=opened.id, event_types=None)
    before = len(deliveries(db, opened.id))
    open_case(db, "claim")
    assert len(deliveries(db, opened.id)) > before + 1


def test_commands_query_nothing_for_webhooks_while_the_cache_is_fresh(
    db: sessionmaker[Session],
) -> None:
    engine = db.kw["bind"]
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "webhook_subscriptions" in statement:
            statements.append(statement)

    webhooks.invalidate(engine)
    event.listen(engine, "before_cursor_execute", count)
    try:
        open_case(db)
        open_case(db)
        open_case(db)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(statements) == 1  # the first command filled the cache
    assert deliveries(db) == []


def test_the_secret_is_shown_once_and_urls_are_checked(db: sessionmaker[Session]) -> None:
    created = subscribe(db, " https://hooks.example.org/x ")
    assert created.secret.startswith("whsec_") and len(created.secret) > 40
    assert created.secret not in repr(created) and created.subscription.url.endswith("/x")
    with db() as session:
        listed = subs.list_subscriptions(session, actor=SYSTEM)
    assert listed == [created.subscription]
    assert "secret" not in created.subscription.__dataclass_fields__

    for url, message in [
        ("ftp://example.org/", "https:// or http://"),
        ("https://user:pw@example.org/", "user or password"),
        ("https:///path", "host"),
        ("https://example.org:99999/", "not valid"),
    ]:
        with pytest.raises(InvalidInput, match=message) as info:
            subscribe(db, url)
        assert info.value.field == "url"
    with pytest.raises(InvalidInput, match="no case type 'nope'"):
        subscribe(db, "https://example.org/", case_type="nope")
    with pytest.raises(InvalidInput, match="not an event type") as bad:
        subscribe(db, "https://example.org/", event_types=["CaseOpened", "bad name"])
    assert bad.value.field == "event_types.1"


# --- delivery ---------------------------------------------------------------------------


def test_the_worker_posts_signed_json_to_the_subscriber(
    db: sessionmaker[Session], receiver: Receiver
) -> None:
    created = subscribe(db, receiver.url, case_type="claim", event_types=["CaseOpened"])
    case_id = open_case(db)
    clock = Clock(NOW + timedelta(seconds=3))
    assert worker(db, clock).run_once() == 1

    [request] = receiver.requests
    assert request.path == "/hooks/casework?x=1"
    headers = request.headers
    assert headers["content-type"] == "application/json"
    assert headers["casework-event-id"] == f"{case_id}:1"
    assert headers["casework-delivery-attempt"] == "1"
    signed = headers["casework-signature"]
    timestamp = int(clock.now.timestamp())
    assert signed.startswith(f"t={timestamp},v1=")
    assert verify_signature(created.secret, signed, request.body, now=timestamp)
    assert not verify_signature("whsec_other", signed, request.body, now=timestamp)
    assert not verify_signature(created.secret, signed, request.body + b" ", now=timestamp)
    assert not verify_signature(created.secret, signed, request.body, now=timestamp + 301)

    body = json.loads(request.body)
    assert body == {
        "id": f"{case_id}:1",
        "type": "CaseOpened",
        "case_id": case_id,
        "case_type": "claim",
        "seq": 1,
        "at": "2026-03-02T09:00:00Z",
        "actor": "system",
        "payload": {
            "type": "claim",
            "version": 1,
            "title": f"Claim {case_id}",
            "priority": 3,
            "owner": None,
            "team": None,
        },
    }
    [delivery] = deliveries(db)
    assert (delivery.status, delivery.attempts, delivery.response_status) == ("delivered", 1, 200)
    assert delivery.delivered_at is not None and delivery.last_error is None
    [job] = webhook_jobs(db)
    assert job.status == "done"
    sub = subscription(db, created.subscription.id)
    assert (sub.last_delivery_status, sub.failure_count) == ("delivered", 0)


def documented_verify(*, now: float) -> Callable[[str, str, bytes], bool]:
    """The `verify` function of docs/api.md, run as written, its clock set to `now`."""
    text = (Path(__file__).parents[2] / "docs" / "api.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)
    [code] = [block for block in blocks if "def verify(" in block]
    namespace: dict[str, Any] = {}
    exec(compile(code, "docs/api.md", "exec"), namespace)
    namespace["time"] = SimpleNamespace(time=lambda: now)
    verify: Callable[[str, str, bytes], bool] = namespace["verify"]
    return verify


def test_a_rotated_secret_signs_beside_the_new_one_until_its_grace_ends(
    db: sessionmaker[Session], receiver: Receiver
) -> None:
    created = subscribe(db, receiver.url, case_type="claim", event_types=["CaseOpened"])
    sub_id, old = created.subscription.id, created.secret
    rotated = subs.rotate_secret(
        db, actor=SYSTEM, subscription_id=sub_id, now=NOW, previous_valid_for=timedelta(hours=2)
    )
    new = rotated.secret
    assert new.startswith("whsec_") and new != old and new not in repr(rotated)
    assert rotated.subscription.previous_secret_until == NOW + timedelta(hours=2)

    def delivered_at(clock: Clock) -> tuple[str, bytes, int]:
        open_case(db)
        assert worker(db, clock).run_once() == 1
        request = receiver.requests[-1]
        return request.headers["casework-signature"], request.body, int(clock.now.timestamp())

    # Within the grace period: two v1 values; a receiver with either secret accepts.
    signed, body, at = delivered_at(Clock(NOW + timedelta(hours=1)))
    assert signed.count("v1=") == 2
    assert verify_signature(new, signed, body, now=at)
    assert verify_signature(old, signed, body, now=at)
    # So does the receiver code docs/api.md gives people to copy.
    documented = documented_verify(now=at)
    assert documented(new, signed, body) and documented(old, signed, body)
    assert not documented("whsec_other", signed, body)
    # After it: the new secret only.
    signed, body, at = delivered_at(Clock(NOW + timedelta(hours=2, seconds=1)))
    assert signed.count("v1=") == 1
    assert verify_signature(new, signed, body, now=at)
    assert not verify_signature(old, signed, body, now=at)

    # A secret that leaked is replaced at once; rotating again drops the older one.
    third = subs.rotate_secret(
        db, actor=SYSTEM, subscription_id=sub_id, now=NOW, previous_valid_for=timedelta(0)
    )
    assert third.subscription.previous_secret_until is None
    signed, body, at = delivered_at(Clock(NOW + timedelta(minutes=5)))
    assert verify_signature(third.secret, signed, body, now=at)
    assert not any(verify_signature(s, signed, body, now=at) for s in (old, new))
    row = subscription(db, sub_id)
    assert (row.secret, row.previous_secret) == (third.secret, None)
    with pytest.raises(InvalidInput) as info:
        subs.rotate_secret(
            db, actor=SYSTEM, subscription_id=sub_id, now=NOW, previous_valid_for=timedelta(days=8)
        )
    assert info.value.field == "previous_valid_for_seconds"
    assert subscription(db, sub_id).secret == third.secret  # a refused rotation changes nothing


def test_failures_are_retried_with_backoff_until_delivered(
    db: sessionmaker[Session], receiver: Receiver
) -> None:
    created = subscribe(db, receiver.url, event_types=["CaseOpened"])
    case_id = open_case(db)
    receiver.statuses.extend([500, 503])
    clock = Clock(NOW)
    run = worker(db, clock)

    assert run.run_once() == 1
    [delivery] = deliveries(db)
    assert (delivery.status, delivery.attempts, delivery.response_status) == ("retrying", 1, 500)
    assert delivery.last_error == "HTTP 500"
    [job] = webhook_jobs(db)
    assert job.status == "pending" and job.attempts == 1
    assert job.due_at.replace(tzinfo=UTC) == NOW + timedelta(seconds=10)
    assert subscription(db, created.subscription.id).last_delivery_status == "failed"

    clock.advance(seconds=9)
    assert run.run_once() == 0  # not due yet
    clock.advance(seconds=1)
    assert run.run_once() == 1
    [job] = webhook_jobs(db)
    assert job.attempts == 2 and job.due_at.replace(tzinfo=UTC) == clock.now + timedelta(seconds=20)
    clock.advance(seconds=20)
    assert run.run_once() == 1

    attempts = [r.headers["casework-delivery-attempt"] for r in receiver.requests]
    assert attempts == ["1", "2", "3"]
    assert {r.headers["casework-event-id"] for r in receiver.requests} == {f"{case_id}:1"}
    [delivery] = deliveries(db)
    assert (delivery.status, delivery.attempts, delivery.response_status) == ("delivered", 3, 200)
    assert webhook_jobs(db)[0].status == "done"
    sub = subscription(db, created.subscription.id)
    assert (sub.last_delivery_status, sub.failure_count, sub.active) == ("delivered", 0, True)


def test_a_delivery_that_fails_every_attempt_is_recorded_as_failed(
    db: sessionmaker[Session], receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webhooks, "MAX_ATTEMPTS", 3)
    created = subscribe(db, receiver.url, event_types=["CaseOpened"])
    open_case(db)
    receiver.statuses.extend([500] * 10)
    clock = Clock(NOW)
    run = worker(db, clock)
    for _ in range(3):
        assert run.run_once() == 1
        clock.advance(hours=1)
    assert run.run_once() == 0
    assert len(receiver.requests) == 3
    [delivery] = deliveries(db)
    assert (delivery.status, delivery.attempts, delivery.response_status) == ("failed", 3, 500)
    [job] = webhook_jobs(db)
    assert job.status == "failed" and job.attempts == 3
    assert "HTTP 500" in (job.last_error or "")
    sub = subscription(db, created.subscription.id)
    assert (sub.failure_count, sub.active, sub.last_delivery_status) == (1, True, "failed")


def test_a_subscription_is_deactivated_after_too_many_failed_deliveries(
    db: sessionmaker[Session], receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert DEACTIVATE_AFTER == 10
    monkeypatch.setattr(webhooks, "MAX_ATTEMPTS", 1)
    created = subscribe(db, receiver.url, event_types=["CaseOpened"]).subscription
    for _ in range(3):
        open_case(db)
    receiver.statuses.extend([500] * 10)
    clock = Clock(NOW)
    sender = WebhookSender(db, clock=clock, deactivate_after=2)
    run = worker(db, clock, webhook_sender=sender, batch=1)
    assert run.run_once() == 1 and run.run_once() == 1
    sub = subscription(db, created.id)
    assert (sub.active, sub.failure_count) == (False, 2)
    # What was queued before is not sent any more, and nothing new is queued.
    assert run.run_once() == 1
    assert len(receiver.requests) == 2
    assert [d.status for d in deliveries(db)] == ["failed", "failed", "cancelled"]
    open_case(db)
    assert len(deliveries(db)) == 3

    # Turned on again, it starts afresh.
    receiver.statuses.clear()
    again = subs.update_subscription(db, actor=SYSTEM, subscription_id=created.id, active=True)
    assert (again.active, again.failure_count) == (True, 0)
    open_case(db)
    assert run.run_once() == 1
    assert subscription(db, created.id).last_delivery_status == "delivered"


def test_a_success_resets_the_count_of_failures(
    db: sessionmaker[Session], receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webhooks, "MAX_ATTEMPTS", 1)
    created = subscribe(db, receiver.url, event_types=["CaseOpened"]).subscription
    for _ in range(3):
        open_case(db)
    receiver.statuses.extend([500, 200, 500])
    clock = Clock(NOW)
    sender = WebhookSender(db, clock=clock, deactivate_after=2)
    run = worker(db, clock, webhook_sender=sender, batch=1)
    for _ in range(3):
        assert run.run_once() == 1
    sub = subscription(db, created.id)
    assert (sub.active, sub.failure_count) == (True, 1)


def test_pings_and_deleted_subscriptions(db: sessionmaker[Session], receiver: Receiver) -> None:
    created = subscribe(db, receiver.url, case_type="claim", active=False)
    sub_id = created.subscription.id
    ping = subs.queue_ping(db, actor=SYSTEM, subscription_id=sub_id, now=NOW)
    assert (ping.event_type, ping.status, ping.case_id) == ("ping", "pending", None)
    run = worker(db, Clock(NOW))
    assert run.run_once() == 1
    [request] = receiver.requests
    body = json.loads(request.body)
    assert body["type"] == "ping" and body["id"] == f"ping:{ping.id}"
    assert body["case_type"] == "claim" and body["payload"] == {"subscription_id": sub_id}
    assert verify_signature(
        created.secret,
        request.headers["casework-signature"],
        request.body,
        now=NOW.timestamp(),
    )
    with db() as session:
        [logged] = subs.list_deliveries(session, actor=SYSTEM, subscription_id=sub_id)
    assert (logged.status, logged.response_status) == ("delivered", 200)
    # A ping is a test: its outcome is not the subscription's.
    assert subscription(db, sub_id).last_delivery_status is None

    # A failed ping is tried once and counts nothing against the subscription.
    receiver.statuses.append(500)
    subs.queue_ping(db, actor=SYSTEM, subscription_id=sub_id, now=NOW)
    assert run.run_once() == 1
    assert deliveries(db)[-1].status == "failed"
    assert subscription(db, sub_id).failure_count == 0

    # Deleting a subscription drops what was queued for it, unsent.
    subs.update_subscription(db, actor=SYSTEM, subscription_id=sub_id, active=True)
    open_case(db)
    subs.delete_subscription(db, actor=SYSTEM, subscription_id=sub_id)
    assert deliveries(db) == []
    sent = len(receiver.requests)
    while run.run_once():
        pass
    assert len(receiver.requests) == sent
    assert {j.status for j in webhook_jobs(db)} == {"done", "failed"}


# --- the SSRF guard ---------------------------------------------------------------------


def resolver(*addresses: str) -> Callable[..., list[Any]]:
    def resolve(host: str, port: int, **_kw: Any) -> list[Any]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses]

    return resolve


def test_private_addresses_are_refused_unless_allowed(
    db: sessionmaker[Session], receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = receiver.url.split(":")[2].split("/")[0]
    subscribe(db, f"http://localhost:{port}/hook", event_types=["CaseOpened"])
    open_case(db)
    monkeypatch.delenv(webhooks.ALLOW_PRIVATE_ENV)
    # Refused when it is created, too, where the address is written out.
    for url in ("http://127.0.0.1/", "http://10.1.2.3/", "http://[::1]/", "http://localhost/"):
        with pytest.raises(InvalidInput, match=r"private|this machine"):
            subscribe(db, url)

    run = worker(db, Clock(NOW))  # the sender reads the setting: not allowed
    assert run.run_once() == 1
    assert receiver.requests == []  # localhost resolved to 127.0.0.1: never contacted
    [delivery] = deliveries(db)
    assert delivery.status == "failed" and delivery.attempts == 1
    assert "private, loopback or link-local" in (delivery.last_error or "")
    [job] = webhook_jobs(db)
    assert job.status == "failed"  # at once: retrying cannot help


def test_the_guard_checks_every_address_and_connects_to_the_checked_one(
    db: sessionmaker[Session],
) -> None:
    def sender(*addresses: str) -> WebhookSender:
        return WebhookSender(
            db, clock=Clock(NOW), allow_private=False, resolve=resolver(*addresses)
        )

    for bad in ("169.254.169.254", "192.168.0.7", "100.64.0.1", "0.0.0.0"):
        with pytest.raises(Undeliverable):
            sender(bad)._pinned("https://metadata.example/")
    with pytest.raises(Undeliverable):  # one private answer among public ones is enough
        sender("93.184.216.34", "10.0.0.1")._pinned("https://hooks.example/")
    with pytest.raises(DeliveryFailed):
        sender()._pinned("https://hooks.example/")

    url, host, extensions = sender("93.184.216.34")._pinned("https://hooks.example:8443/a?b=1")
    assert url == "https://93.184.216.34:8443/a?b=1"
    assert host == "hooks.example:8443" and extensions == {"sni_hostname": "hooks.example"}
    url, host, extensions = sender("2606:2800:220:1::1")._pinned("http://hooks.example/a")
    assert (url, host, extensions) == ("http://[2606:2800:220:1::1]/a", "hooks.example", {})
    allowed = WebhookSender(db, clock=Clock(NOW), allow_private=True)
    assert allowed._pinned("http://127.0.0.1:9/x") == ("http://127.0.0.1:9/x", None, {})


def test_document_events_are_queued_like_the_others(
    db: sessionmaker[Session], tmp_path: Any
) -> None:
    import io

    from casework.blobs import FilesystemBlobStore
    from casework.services import documents

    sub = subscribe(db, "https://docs.example.org/", event_types=["DocumentAdded"]).subscription
    case_id = open_case(db, "claim")
    documents.add_document(
        db,
        FilesystemBlobStore(tmp_path / "blobs"),
        actor=SYSTEM,
        case_id=case_id,
        upload=documents.FileUpload(io.BytesIO(b"a note\n"), file_name="note.txt"),
        now=NOW,
        max_bytes=1000,
    )
    assert [(d.case_id, d.event_type) for d in deliveries(db, sub.id)] == [
        (case_id, "DocumentAdded")
    ]
