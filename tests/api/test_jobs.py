"""The jobs routes on SQLite and PostgreSQL: administrators see what failed and why, and
run it again; everyone else is refused (the matrix holds who); bad input names its field."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from tests.api.support import problem
from tests.clock import Clock
from tests.integration import rows
from tests.people import NOW

from casework.services import case_types, cases
from casework.services.actors import SYSTEM
from casework.store.tables import CaseEvent, Job, PlanItemRow
from casework.worker import Worker, registered

API = "/api/v1"

TYPE = """
id: billing
name: Billing
plan:
  items:
    - automated: Charge
      handler: test.api_charge
"""


def _failed_charge(db: sessionmaker[Session]) -> tuple[str, int]:
    """A case whose charge failed for good: its handler is not installed."""
    case_types.deploy(db, actor=SYSTEM, source=TYPE, now=NOW)
    case_id = cases.open_case(db, actor=SYSTEM, type_id="billing", now=NOW).case_id
    Worker(db, name="w1", clock=Clock(NOW)).run_once()
    with db() as session:
        job_id = session.scalars(select(Job.id).where(Job.case_id == case_id)).one()
    return case_id, job_id


def test_an_administrator_sees_a_failed_job_and_runs_it_again(
    client: TestClient,
    db: sessionmaker[Session],
    clock: Clock,
    admin: dict[str, str],
    ann: dict[str, str],
) -> None:
    case_id, job_id = _failed_charge(db)
    listed = client.get(f"{API}/jobs", headers=admin)
    assert listed.status_code == 200, listed.text
    [job] = listed.json()["items"]
    assert (job["id"], job["kind"], job["status"], job["case_id"], job["ref"]) == (
        job_id,
        "automated_task",
        "failed",
        case_id,
        "pi-2",
    )
    assert (job["handler"], job["item_state"], job["waiting"]) == (
        "test.api_charge",
        "failed",
        True,
    )
    assert "unknown handler 'test.api_charge'" in job["last_error"]
    assert client.get(f"{API}/jobs/{job_id}", headers=admin).json() == job
    assert client.get(f"{API}/jobs?status=done", headers=admin).json() == {"items": []}
    assert client.get(f"{API}/jobs?kind=timer", headers=admin).json() == {"items": []}
    only = client.get(f"{API}/jobs?status=all&case_id={case_id}", headers=admin).json()
    assert [j["id"] for j in only["items"]] == [job_id]

    problem(client.get(f"{API}/jobs", headers=ann), 403, "forbidden")
    problem(client.post(f"{API}/jobs/{job_id}/retry", headers=ann), 403, "forbidden")
    bad = problem(client.get(f"{API}/jobs?status=lost", headers=admin), 422, "validation")
    assert bad["errors"][0]["field"] == "status"
    problem(client.get(f"{API}/jobs/999999", headers=admin), 404, "not-found")

    retried = client.post(f"{API}/jobs/{job_id}/retry", headers=admin)
    assert retried.status_code == 200, retried.text
    assert retried.json() == {
        "job_id": job_id,
        "kind": "automated_task",
        "case_id": case_id,
        "how": "reactivated",
    }
    refused = problem(client.post(f"{API}/jobs/{job_id}/retry", headers=admin), 409, "refused")
    assert (
        refused["detail"]
        == f"job {job_id}: its task pi-2 is active now, not failed: nothing to retry"
    )
    # Reactivated at the app's clock: a worker then runs the new job.
    with registered("test.api_charge", lambda context: {}):
        assert Worker(db, name="w1", clock=clock).run_once() == 1
    with db() as session:
        state = session.scalar(
            select(PlanItemRow.state).where(
                PlanItemRow.case_id == case_id, PlanItemRow.item_id == "charge"
            )
        )
    assert state == "completed"


def test_a_retry_sent_twice_with_one_key_answers_twice_and_runs_once(
    client: TestClient, db: sessionmaker[Session], admin: dict[str, str]
) -> None:
    case_id, job_id = _failed_charge(db)
    keyed = {**admin, "Idempotency-Key": "retry-charge-1"}
    first = client.post(f"{API}/jobs/{job_id}/retry", headers=keyed)
    again = client.post(f"{API}/jobs/{job_id}/retry", headers=keyed)
    assert first.status_code == again.status_code == 200, again.text
    assert (
        first.json()
        == again.json()
        == {
            "job_id": job_id,
            "kind": "automated_task",
            "case_id": case_id,
            "how": "reactivated",
        }
    )
    with db() as session:
        transitions = session.scalars(
            select(CaseEvent).where(
                CaseEvent.case_id == case_id, CaseEvent.type == "PlanItemTransitioned"
            )
        ).all()
        jobs = session.scalars(select(Job).where(Job.case_id == case_id)).all()
    retried = [e for e in transitions if e.payload["from_state"] == "failed"]
    assert [e.payload["to_state"] for e in retried] == ["active"]  # once
    assert len(jobs) == 2  # the failed one, and one new job for the reactivated task
    # The key names this request: used for another, it is refused.
    other = problem(client.post(f"{API}/jobs/{job_id + 1}/retry", headers=keyed), 422, "validation")
    assert other["errors"][0]["field"] == "Idempotency-Key"


def test_a_requeued_timer_with_its_key_answers_the_same_again(
    client: TestClient, db: sessionmaker[Session], admin: dict[str, str]
) -> None:
    case_id, _ = _failed_charge(db)
    with db.begin() as session:
        timer = rows.job("timer-1", case_id=case_id, ref="pi-2")
        session.add(timer)
        session.flush()
        timer_id = timer.id
    keyed = {**admin, "Idempotency-Key": "retry-timer-1"}
    answers = [client.post(f"{API}/jobs/{timer_id}/retry", headers=keyed) for _ in range(2)]
    assert [a.status_code for a in answers] == [200, 200], answers[1].text
    assert (
        answers[0].json()
        == answers[1].json()
        == {
            "job_id": timer_id,
            "kind": "timer",
            "case_id": case_id,
            "how": "requeued",
        }
    )
    with db() as session:
        assert session.get(Job, timer_id).status == "pending"  # type: ignore[union-attr]
    # Without the key, a second retry is what it is: refused, the job is not failed.
    problem(client.post(f"{API}/jobs/{timer_id}/retry", headers=admin), 409, "refused")
