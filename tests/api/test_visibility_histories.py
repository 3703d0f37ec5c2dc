"""Who sees which case, through random histories of the API (both databases).

Cases are opened by different people for different teams and owners, reassigned, made
confidential, people are named on them and taken off, and work is claimed. After any of
it, for every kind of caller, three answers must agree: the case list (SQL, read in
pages from several indexes and merged), a case's own page (`GET /cases/{id}`: 200 or
404, never 403) and the policy in Python (`access.may_see_case`). A list page never
repeats or skips a case, in any order it can be sorted by; every task in someone's inbox
is on a case they see.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker
from tests.api.cases_support import CASES, CLAIM
from tests.api.support import bearer, token_for
from tests.clock import Clock
from tests.people import NOW, make_user

from casework.services import access, case_types, identity
from casework.services.actors import SYSTEM
from casework.services.visibility import case_facts
from casework.store.tables import Case

OTHER = """
id: errand
name: Errand
roles: [runner]
plan:
  items:
    - task: Run
      role: runner
"""

# Who calls: username → (roles, teams). Every kind of caller the policy tells apart.
PEOPLE: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "ann": (("handler",), ("north",)),  # a role of claims, team north
    "max": (("manager", "case_manager"), ("north",)),
    "sam": ((), ("south",)),  # no role: his team's cases and those naming him
    "carl": (("handler@claim",), ()),  # a role for claims only
    "otto": (("runner@errand",), ("south",)),  # a role for errands only
    "rita": ((), ()),  # nobody: only cases naming her
}
WORDS = st.sampled_from(["windscreen", "flood", "burglary"])
SORTS = ["-opened_at", "opened_at", "priority", "-priority", "title", "status", "-updated_at"]


class VisibilityHistories(RuleBasedStateMachine):
    client: ClassVar[TestClient]
    db: ClassVar[sessionmaker[Session]]
    clock: ClassVar[Clock]
    headers: ClassVar[dict[str, dict[str, str]]]

    def __init__(self) -> None:
        super().__init__()
        self.cases: list[str] = []
        self.words: dict[str, set[str]] = {}  # case id → the words its notes hold
        # Each run starts from no cases: the lists stay short enough to page through.
        with self.db.begin() as session:
            session.execute(delete(Case))

    def _call(self, method: str, path: str, who: str, **kwargs: Any) -> Any:
        response = self.client.request(method, path, headers=self.headers[who], **kwargs)
        assert response.status_code < 500, response.text
        if response.status_code >= 400:
            assert response.headers["content-type"] == "application/problem+json"
        return response

    @initialize(
        teams=st.lists(st.sampled_from([None, "north", "south"]), min_size=4, max_size=4),
        owners=st.lists(st.sampled_from([None, "sam", "rita", "ann"]), min_size=4, max_size=4),
        confidential=st.lists(st.booleans(), min_size=4, max_size=4),
        priorities=st.lists(st.integers(1, 5), min_size=4, max_size=4),
    )
    def first_cases(
        self,
        teams: list[str | None],
        owners: list[str | None],
        confidential: list[bool],
        priorities: list[int],
    ) -> None:
        """Four cases an administrator opens at one instant (ties in every order)."""
        kinds = ["claim", "errand", "claim", "claim"]
        for args in zip(kinds, teams, owners, confidential, priorities, strict=True):
            self.open("root", *args)
        assert len(self.cases) == 4

    @precondition(lambda self: len(self.cases) < 8)
    @rule(
        who=st.sampled_from(["ann", "max", "root", "otto", "carl", "rita"]),
        type_id=st.sampled_from(["claim", "claim", "errand"]),
        team=st.sampled_from([None, "north", "south"]),
        owner=st.sampled_from([None, None, "sam", "rita", "ann"]),
        confidential=st.booleans(),
        priority=st.integers(1, 5),
    )
    def open(
        self,
        who: str,
        type_id: str,
        team: str | None,
        owner: str | None,
        confidential: bool,
        priority: int,
    ) -> None:
        body: dict[str, Any] = {"type": type_id, "priority": priority}
        if type_id == "claim":
            body["data"] = {"amount": 100 * priority}
        for name, value in (("team", team), ("owner", owner), ("confidential", confidential)):
            if value:
                body[name] = value
        response = self._call("POST", CASES, who, json=body)
        if response.status_code == 201:
            self.cases.append(response.json()["id"])

    @precondition(lambda self: self.cases)
    @rule(
        data=st.data(),
        who=st.sampled_from(["root", "max", "ann", "sam"]),
        change=st.fixed_dictionaries(
            {},
            optional={
                "owner": st.sampled_from([None, "sam", "rita", "max"]),
                "team": st.sampled_from([None, "north", "south"]),
                "priority": st.integers(1, 5),
            },
        ),
    )
    def reassign(self, data: st.DataObject, who: str, change: dict[str, Any]) -> None:
        case_id = data.draw(st.sampled_from(self.cases))
        self._call("PATCH", f"{CASES}/{case_id}", who, json=change)

    @precondition(lambda self: self.cases)
    @rule(
        data=st.data(),
        who=st.sampled_from(["root", "max", "ann"]),
        username=st.sampled_from(["sam", "rita", "otto", "carl"]),
        add=st.booleans(),
    )
    def name_on_case(self, data: st.DataObject, who: str, username: str, add: bool) -> None:
        case_id = data.draw(st.sampled_from(self.cases))
        if add:
            self._call("POST", f"{CASES}/{case_id}/participants", who, json={"username": username})
        else:
            self._call("DELETE", f"{CASES}/{case_id}/participants/{username}", who)

    @precondition(lambda self: self.cases)
    @rule(data=st.data(), who=st.sampled_from(["root", "max", "rita"]), value=st.booleans())
    def confidentiality(self, data: st.DataObject, who: str, value: bool) -> None:
        case_id = data.draw(st.sampled_from(self.cases))
        self._call("PUT", f"{CASES}/{case_id}/confidential", who, json={"confidential": value})

    @precondition(lambda self: self.cases)
    @rule(data=st.data(), who=st.sampled_from(["root", "ann", "sam", "rita"]), word=WORDS)
    def note(self, data: st.DataObject, who: str, word: str) -> None:
        case_id = data.draw(st.sampled_from(self.cases))
        body = {"body": f"Called the claimant about the {word}"}
        if self._call("POST", f"{CASES}/{case_id}/notes", who, json=body).status_code == 201:
            self.words.setdefault(case_id, set()).add(word)

    @rule(who=st.sampled_from([*sorted(PEOPLE), "root"]), word=WORDS)
    def search(self, who: str, word: str) -> None:
        """A search finds what was written before it, worker or not, of what one sees."""
        seen = self._policy()[who]
        found = self._call("GET", CASES, who, params={"q": word, "limit": 500}).json()["items"]
        expected = {case_id for case_id in seen if word in self.words.get(case_id, ())}
        assert {item["id"] for item in found} == expected, (who, word)

    @rule(who=st.sampled_from(["ann", "carl", "otto"]), role=st.sampled_from(["handler", "runner"]))
    def claim_next(self, who: str, role: str) -> None:
        self._call("POST", f"/api/v1/queues/{role}/claim", who)

    @rule(minutes=st.sampled_from([0, 0, 1, 90]))
    def time_passes(self, minutes: int) -> None:
        # No time at all too: cases opened at one instant are ordered by id.
        self.clock.advance(minutes=minutes)

    def _policy(self) -> dict[str, set[str]]:
        """Each caller's cases by `access.may_see_case`, from the facts stored now."""
        with self.db() as session:
            facts = {case_id: case_facts(session, case_id) for case_id in self.cases}
            actors = {name: identity.actor_for_username(session, name) for name in self.headers}
        policy = {}
        for who, actor in actors.items():
            assert actor is not None
            policy[who] = {k for k, fact in facts.items() if access.may_see_case(actor, fact)}
        return policy

    def _listed(self, who: str, sort: str, limit: int) -> list[str]:
        ids: list[str] = []
        url: str | None = CASES
        params: dict[str, Any] | None = {"sort": sort, "limit": limit}
        for _page in range(50):
            assert url is not None
            page = self._call("GET", url, who, params=params)
            assert page.status_code == 200, page.text
            body = page.json()
            ids.extend(item["id"] for item in body["items"])
            url, params = body.get("next"), None  # the next page's link, query and all
            if not url:
                break
        assert len(ids) == len(set(ids)), (who, sort, ids)  # nothing twice across pages
        return ids

    @rule(sort=st.sampled_from(SORTS), limit=st.sampled_from([1, 2, 500]))
    def every_caller_sees_the_same_cases_everywhere(
        self, sort: str = "-opened_at", limit: int = 500
    ) -> None:
        """Checked at any point of a run (a rule, not after every step: it is dozens of
        requests), and at its end; the list read in pages of `limit`."""
        for who, policy in self._policy().items():
            pages = {k: self._call("GET", f"{CASES}/{k}", who).status_code for k in self.cases}
            assert set(pages.values()) <= {200, 404}, (who, pages)
            assert {k for k, code in pages.items() if code == 200} == policy, who
            assert set(self._listed(who, sort, limit)) == policy, (who, sort, limit)

    def teardown(self) -> None:
        self.every_caller_sees_the_same_cases_everywhere()

    @precondition(lambda self: self.cases)
    @rule(who=st.sampled_from([*sorted(PEOPLE), "root"]), sort=st.sampled_from(SORTS))
    def paging(self, who: str, sort: str) -> None:
        """Pages of one, in any order: the same cases as one page, in the same order."""
        whole = self._listed(who, sort, 500)
        assert self._listed(who, sort, 1) == whole

    @rule(who=st.sampled_from(sorted(PEOPLE)))
    def inbox(self, who: str) -> None:
        tasks = self._call("GET", "/api/v1/me/tasks", who).json()["items"]
        visible = set(self._listed(who, "-opened_at", 500))
        assert {task["case_id"] for task in tasks} <= visible


@pytest.fixture
def world(client: TestClient, db: sessionmaker[Session], clock: Clock) -> Iterator[None]:
    make_user(db, "root", is_admin=True)
    for name, (roles, teams) in PEOPLE.items():
        make_user(db, name, roles=roles, teams=teams)
    case_types.deploy(db, actor=SYSTEM, source=CLAIM, now=NOW)
    case_types.deploy(db, actor=SYSTEM, source=OTHER, now=NOW)
    VisibilityHistories.client = client
    VisibilityHistories.db = db
    VisibilityHistories.clock = clock
    VisibilityHistories.headers = {name: bearer(token_for(db, name)) for name in ["root", *PEOPLE]}
    yield


def test_lists_case_pages_and_the_policy_agree_on_who_sees_what(world: None) -> None:
    run_state_machine_as_test(
        VisibilityHistories,
        settings=settings(
            max_examples=int(os.environ.get("CASEWORK_HISTORIES", "15")),
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
