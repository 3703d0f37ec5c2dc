"""`GET /reports/cases` on SQLite and PostgreSQL: the report of the cases one sees, and
bad periods answered with a problem naming the parameter."""

from __future__ import annotations

from fastapi.testclient import TestClient
from tests.api import cases_support
from tests.api.cases_support import ok, opened
from tests.api.support import problem

people = cases_support.people  # the fixture
People = dict[str, dict[str, str]]
REPORT = "/api/v1/reports/cases"


def test_the_report_of_the_cases_one_sees(client: TestClient, people: People) -> None:
    for _ in range(2):
        opened(client, people["ann"])
    report = ok(client.get(REPORT, headers=people["ann"]))
    assert report["opened"] == 2 and report["by_type"] == {"claim": 2}
    assert report["by_status"] == {"active": 2}
    assert report["durations"] == {"ended": 0, "mean": None, "median": None, "p90": None}
    # Assess is due in two days: pending, on both cases.
    assert report["deadlines"]["pending"] == 2 and report["deadlines"]["met_share"] is None
    # sam (team south, no role) sees none of them.
    assert ok(client.get(REPORT, headers=people["sam"]))["opened"] == 0
    only = ok(client.get(REPORT, params={"type": "permit"}, headers=people["root"]))
    assert only["opened"] == 0 and only["type_id"] == "permit"


def test_bad_periods(client: TestClient, people: People) -> None:
    root = people["root"]
    backwards = {"since": "2026-03-02T00:00:00Z", "until": "2026-03-01T00:00:00Z"}
    body = problem(client.get(REPORT, params=backwards, headers=root), 422, "validation")
    assert body["errors"][0]["field"] == "since"
    body = problem(client.get(REPORT, params={"since": "soon"}, headers=root), 422, "validation")
    assert body["errors"][0]["field"] == "since"
    problem(client.get(REPORT), 401, "unauthenticated")
