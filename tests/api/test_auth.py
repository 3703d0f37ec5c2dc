"""Signing in and out, cookies, CSRF, the login limit and /me."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker
from tests.api.support import bearer, login, problem, token_for
from tests.clock import Clock
from tests.people import PASSWORD, make_user

from casework.services import identity
from casework.services.actors import SYSTEM

LOGIN = "/api/v1/auth/login"


def test_login_sets_a_safe_session_cookie_and_returns_the_person(
    client: TestClient, db: sessionmaker[Session]
) -> None:
    make_user(db, "ann", roles=("handler", "manager@claim"), teams=("north",))
    response = client.post(LOGIN, json={"username": "Ann", "password": PASSWORD})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["user"]["username"] == "ann"
    assert body["user"]["roles"] == ["handler"]
    assert body["user"]["case_type_roles"] == [{"case_type": "claim", "role": "manager"}]
    assert body["user"]["teams"] == ["north"]
    assert body["expires_at"] == "2026-03-02T11:00:00Z"
    cookies = {c.split("=", 1)[0]: c for c in response.headers.get_list("set-cookie")}
    session, csrf = cookies["casework_session"], cookies["casework_csrf"]
    for cookie in (session, csrf):
        assert "Secure" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
        assert "Max-Age=7200" in cookie
    assert "HttpOnly" in session and "HttpOnly" not in csrf
    assert f"casework_csrf={body['csrf_token']}" in csrf
    me = client.get("/api/v1/me")
    assert me.status_code == 200 and me.json()["username"] == "ann"


def test_wrong_credentials_are_a_401_problem(client: TestClient, db: sessionmaker[Session]) -> None:
    make_user(db, "ann")
    response = client.post(LOGIN, json={"username": "ann", "password": "not the password"})
    body = problem(response, 401, "unauthenticated")
    assert body["detail"] == "wrong username or password"
    assert response.headers["www-authenticate"] == 'Bearer realm="casework"'
    assert "set-cookie" not in response.headers


def test_validation_errors_name_the_field(client: TestClient) -> None:
    response = client.post(LOGIN, json={"username": "ann"})
    body = problem(response, 422, "validation")
    assert body["errors"] == [
        {
            "field": "password",
            "pointer": "#/password",
            "location": "body",
            "detail": "Field required",
        }
    ]
    response = client.post(
        LOGIN, content=b"{not json", headers={"content-type": "application/json"}
    )
    assert problem(response, 422, "validation")["errors"] == [
        {
            "field": "",
            "pointer": "#",
            "location": "body",
            "detail": "the body is not valid JSON: Expecting property name enclosed in double "
            "quotes",
        }
    ]
    assert problem(client.post(LOGIN), 422, "validation")["detail"] == (
        "the request body: Field required"
    )


def test_too_many_failures_are_a_429_with_retry_after(
    client: TestClient, db: sessionmaker[Session], clock: Clock
) -> None:
    make_user(db, "ann")
    for _ in range(3):
        client.post(LOGIN, json={"username": "ann", "password": "not the password"})
        clock.advance(minutes=1)
    response = client.post(LOGIN, json={"username": "ann", "password": PASSWORD})
    body = problem(response, 429, "rate-limited")
    assert response.headers["retry-after"] == str(7 * 60)
    assert "try again" in body["detail"]
    clock.advance(minutes=7)
    assert client.post(LOGIN, json={"username": "ann", "password": PASSWORD}).status_code == 200


def test_cookie_requests_that_change_things_need_the_csrf_token(
    client: TestClient, db: sessionmaker[Session]
) -> None:
    make_user(db, "ann")
    csrf = login(client)
    body = problem(client.post("/api/v1/tokens", json={"name": "x"}), 403, "csrf-failed")
    assert "X-CSRF-Token" in body["detail"]
    wrong = {"X-CSRF-Token": "0" * 64}
    problem(client.post("/api/v1/tokens", json={"name": "x"}, headers=wrong), 403, "csrf-failed")
    problem(client.patch("/api/v1/me", json={"name": "A"}), 403, "csrf-failed")
    ok = client.post("/api/v1/tokens", json={"name": "x"}, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 201
    # Safe methods need nothing more; a bearer token needs no CSRF token at all.
    assert client.get("/api/v1/tokens").status_code == 200
    client.cookies.clear()
    token = token_for(db, "ann")
    assert (
        client.post("/api/v1/tokens", json={"name": "y"}, headers=bearer(token)).status_code == 201
    )


def test_logout_ends_the_session(client: TestClient, db: sessionmaker[Session]) -> None:
    make_user(db, "ann")
    csrf = login(client)
    session = client.cookies["casework_session"]
    response = client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf})
    assert response.status_code == 204
    cleared = response.headers.get_list("set-cookie")
    assert any(c.startswith('casework_session=""') or "Max-Age=0" in c for c in cleared)
    client.cookies.set("casework_session", session, domain="testserver.local")
    body = problem(client.get("/api/v1/me"), 401, "unauthenticated")
    assert body["detail"] == "the session has ended: sign in again"
    # Logging out without a session is harmless.
    client.cookies.clear()
    assert client.post("/api/v1/auth/logout").status_code == 204


def test_sessions_expire(client: TestClient, db: sessionmaker[Session], clock: Clock) -> None:
    make_user(db, "ann")
    login(client)
    clock.advance(hours=1, minutes=59)
    assert client.get("/api/v1/me").status_code == 200
    clock.advance(minutes=1)
    problem(client.get("/api/v1/me"), 401, "unauthenticated")


def test_a_new_login_replaces_the_session_the_browser_had(
    client: TestClient, db: sessionmaker[Session]
) -> None:
    make_user(db, "ann")
    login(client)
    first = client.cookies["casework_session"]
    login(client)
    second = client.cookies["casework_session"]
    assert first != second
    client.cookies.clear()
    client.cookies.set("casework_session", first, domain="testserver.local")
    problem(client.get("/api/v1/me"), 401, "unauthenticated")


def test_me_without_credentials_is_a_401_problem(client: TestClient) -> None:
    response = client.get("/api/v1/me")
    body = problem(response, 401, "unauthenticated")
    assert "Bearer" in body["detail"]
    assert response.headers["www-authenticate"] == 'Bearer realm="casework"'
    for header in ("Basic abc", "Bearer", "Bearer    "):
        problem(client.get("/api/v1/me", headers={"Authorization": header}), 401, "unauthenticated")
    problem(client.get("/api/v1/me", headers=bearer("cwt_made-up")), 401, "unauthenticated")


def test_people_change_their_profile_and_password(
    client: TestClient, db: sessionmaker[Session]
) -> None:
    make_user(db, "ann")
    csrf = login(client)
    headers = {"X-CSRF-Token": csrf}
    changed = client.patch(
        "/api/v1/me", json={"name": "Ann B.", "email": "ann@example.org"}, headers=headers
    )
    assert changed.status_code == 200
    assert (changed.json()["name"], changed.json()["email"]) == ("Ann B.", "ann@example.org")
    cleared = client.patch("/api/v1/me", json={"email": None}, headers=headers)
    assert cleared.json()["email"] is None
    body = problem(
        client.patch("/api/v1/me", json={"name": None}, headers=headers), 422, "validation"
    )
    assert body["errors"][0]["field"] == "name"
    body = problem(
        client.patch("/api/v1/me", json={"time_zone": "Mars/Base"}, headers=headers),
        422,
        "validation",
    )
    assert body["errors"] == [
        {
            "field": "time_zone",
            "pointer": "#/time_zone",
            "location": "body",
            "detail": "time_zone must be an IANA time zone such as Europe/Paris",
        }
    ]
    # Notifications by e-mail: on unless the person turns them off; null is no answer.
    assert client.get("/api/v1/me").json()["email_notifications"] is True
    off = client.patch("/api/v1/me", json={"email_notifications": False}, headers=headers)
    assert off.status_code == 200 and off.json()["email_notifications"] is False
    assert client.get("/api/v1/me").json()["email_notifications"] is False
    body = problem(
        client.patch("/api/v1/me", json={"email_notifications": None}, headers=headers),
        422,
        "validation",
    )
    assert body["errors"][0]["field"] == "email_notifications"
    body = problem(
        client.patch("/api/v1/me", json={"email_notifications": "maybe"}, headers=headers),
        422,
        "validation",
    )
    assert body["errors"][0]["field"] == "email_notifications"
    # Kinds that never come by mail: none at first, any of the known ones, [] again.
    assert client.get("/api/v1/me").json()["email_muted_kinds"] == []
    muted = client.patch(
        "/api/v1/me",
        json={"email_muted_kinds": ["case_completed", "assigned", "assigned"]},
        headers=headers,
    )
    assert muted.status_code == 200, muted.text
    assert muted.json()["email_muted_kinds"] == ["assigned", "case_completed"]
    body = problem(
        client.patch("/api/v1/me", json={"email_muted_kinds": ["gossip"]}, headers=headers),
        422,
        "validation",
    )
    assert body["errors"][0]["field"] == "email_muted_kinds" and "'gossip'" in body["detail"]
    assert client.get("/api/v1/me").json()["email_muted_kinds"] == ["assigned", "case_completed"]
    cleared = client.patch("/api/v1/me", json={"email_muted_kinds": []}, headers=headers)
    assert cleared.json()["email_muted_kinds"] == []

    other_browser = TestClient(client.app, base_url="https://testserver")
    login(other_browser)
    wrong = client.post(
        "/api/v1/me/password",
        json={"current_password": "nope", "new_password": "a brand new secret"},
        headers=headers,
    )
    assert problem(wrong, 422, "validation")["errors"][0]["field"] == "current_password"
    done = client.post(
        "/api/v1/me/password",
        json={"current_password": PASSWORD, "new_password": "a brand new secret"},
        headers=headers,
    )
    assert done.status_code == 204
    assert client.get("/api/v1/me").status_code == 200  # this session stays
    problem(other_browser.get("/api/v1/me"), 401, "unauthenticated")  # the other one ended
    login(other_browser, password="a brand new secret")


def test_a_deactivated_person_is_shut_out_at_once(
    client: TestClient, db: sessionmaker[Session]
) -> None:
    make_user(db, "ann")
    token = token_for(db, "ann")
    login(client)
    identity.update_user(db, actor=SYSTEM, username="ann", active=False)
    problem(client.get("/api/v1/me"), 401, "unauthenticated")
    problem(client.get("/api/v1/me", headers=bearer(token)), 401, "unauthenticated")
