"""The pages in a real browser: Debian's Chromium driven by Playwright against a real
server (uvicorn on a free port, SQLite), as a case worker uses them: sign in, take the
next task of a queue, complete it through its form, write a note, open a case.

htmx is checked for real here: navigation inside the site swaps the page in place (a
value set on `window` survives it), and no page breaks its Content-Security-Policy.

Chromium comes from Debian's `chromium` package (`.ci/run` installs it and sets
CASEWORK_TEST_BROWSER=1, which makes a missing browser a failure); elsewhere the tests
skip, saying why.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from tests.people import NOW, PASSWORD, make_user

from casework.server import Settings, create_app
from casework.services import case_types, cases
from casework.services.actors import SYSTEM
from casework.store import migrate
from casework.store.tables import Case, Note, PlanItemRow

CLAIM = """
id: claim
name: Claim
roles: [handler]
case_file:
  amount: {type: number, required: true}
  covered: boolean
  risk: {type: string, enum: [low, high]}
plan:
  items:
    - task: Assess
      role: handler
      form:
        covered: {type: boolean, label: Is it covered?}
        risk: {type: enum, options: [low, high], required: true}
    - task: Pay
      role: handler
      after: Assess
"""


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    required = os.environ.get("CASEWORK_TEST_BROWSER") == "1" or os.environ.get(
        "CI", ""
    ).strip().lower() not in ("", "0", "false", "no")
    why = None
    if found is None:
        why = "Chromium is not installed (apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            why = "Playwright is not installed (pip install playwright)"
    if why is not None:
        if required:
            pytest.fail(f"{why}: the browser tests are required here")
        pytest.skip(why)
    assert found is not None
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Site:
    base: str
    db: sessionmaker[Session]
    case_id: str


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    monkeypatch.setenv("CASEWORK_BLOB_DIR", str(tmp_path / "blobs"))
    url = f"sqlite:///{tmp_path / 'casework.db'}"
    migrate.upgrade(url)
    app = create_app(Settings(database_url=url))
    db: sessionmaker[Session] = app.state.casework.db
    case_types.deploy(db, actor=SYSTEM, source=CLAIM, now=NOW)
    make_user(db, "ann", roles=("handler",))
    case_id = cases.open_case(
        db, actor=SYSTEM, type_id="claim", now=NOW, title="Storm damage", data={"amount": 700}
    ).case_id
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the server did not start")
        time.sleep(0.05)
    yield Site(f"http://127.0.0.1:{port}", db, case_id)
    server.should_exit = True
    thread.join(timeout=10)
    app.state.casework.engine.dispose()


@pytest.fixture
def page(site: Site) -> Iterator[Any]:
    executable = _chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        tab = browser.new_page()
        problems: list[str] = []
        tab.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        tab.on("pageerror", lambda e: problems.append(str(e)))
        tab.problems = problems
        tab.set_default_timeout(15_000)
        yield tab
        browser.close()


def sign_in(page: Any, site: Site, path: str = "/work") -> None:
    page.goto(site.base + path)
    assert "/login" in page.url
    page.fill("input[name=username]", "ann")
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(site.base + path)


def test_a_case_worker_takes_and_completes_a_task(page: Any, site: Site) -> None:
    sign_in(page, site)
    assert page.locator("#queue-handler").get_by_text("Storm damage").count() == 1
    page.evaluate("window.__kept = 'still here'")
    page.locator("#queue-handler button:has-text('Take the next task')").click()
    page.wait_for_url(f"{site.base}/cases/{site.case_id}?done=claimed")
    page.get_by_text("The task is yours.").wait_for()
    # Boosted by htmx: the case page was swapped in, not loaded afresh.
    assert page.evaluate("window.__kept") == "still here"

    page.check("input[name='data.covered']")
    page.select_option("select[name='data.risk']", "high")
    page.click("button:has-text('Complete')")
    page.get_by_text("Task completed.").wait_for()
    with site.db() as session:
        states = dict(
            session.execute(
                select(PlanItemRow.item_id, PlanItemRow.state).where(
                    PlanItemRow.case_id == site.case_id
                )
            ).all()
        )
        data = session.get_one(Case, site.case_id).data
    assert states["assess"] == "completed" and states["pay"] == "active"
    assert data == {"amount": 700, "covered": True, "risk": "high"}
    assert (
        page.locator(f"#task-{_item(site, 'pay').instance_id}").get_by_text("Take it").count() == 1
    )

    page.fill("textarea[name=body]", "Photos received")
    page.click("button:has-text('Add note')")
    page.get_by_text("Note added.").wait_for()
    assert page.locator("article.note").first.inner_text().endswith("Photos received")
    with site.db() as session:
        assert session.scalars(select(Note.body)).all() == ["Photos received"]
    assert page.problems == []


def test_a_refused_completion_shows_why_and_keeps_the_task(page: Any, site: Site) -> None:
    sign_in(page, site, f"/cases/{site.case_id}")
    page.click("button:has-text('Take it')")
    page.get_by_text("The task is yours.").wait_for()
    # The browser would stop an empty required select: skip its check as a script could.
    page.evaluate("document.querySelectorAll('[required]').forEach(e => e.required = false)")
    page.click("button:has-text('Complete')")
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert "is required" in alert.inner_text()
    assert _item(site, "assess").state == "active"
    # The address is the case's, not the form's (a reload must not re-post).
    assert page.url == f"{site.base}/cases/{site.case_id}"
    # The browser logs the 422 itself; nothing else went wrong.
    assert [p for p in page.problems if "status of 422" not in p] == []


def test_opening_a_case_from_the_new_case_page(page: Any, site: Site) -> None:
    sign_in(page, site, "/cases/new")
    page.fill("input[name=title]", "Flooded cellar")
    page.fill("input[name='data.amount']", "4200")
    page.click("button:has-text('Open the case')")
    page.get_by_text("The case is open.").wait_for()
    assert page.locator("h1").inner_text() == "Flooded cellar"
    with site.db() as session:
        opened = session.scalars(select(Case).where(Case.title == "Flooded cellar")).one()
    assert opened.data["amount"] == 4200 and opened.owner == "ann"
    assert page.url.startswith(f"{site.base}/cases/{opened.id}")
    assert page.problems == []


def _item(site: Site, item_id: str) -> PlanItemRow:
    with site.db() as session:
        return session.scalars(
            select(PlanItemRow).where(
                PlanItemRow.case_id == site.case_id, PlanItemRow.item_id == item_id
            )
        ).one()
