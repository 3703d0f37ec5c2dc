"""The web pages: for case workers (their work, the queues, the case page), requesters
(the cases they asked for) and managers (reports), on the same services and rules as
the API.

Server-rendered HTML (Jinja2) made lively with htmx: links and forms are "boosted"
(fetched by htmx and swapped in, no full reload), and everything works without
JavaScript too. `install(app)` adds the pages, the static files and the error pages: an
error on a page answers with a page, while the API keeps its problem+json answers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from casework.services.errors import ServiceError
from casework.web import (
    pages_activity,
    pages_auth,
    pages_case_actions,
    pages_cases,
    pages_documents,
    pages_reports,
    pages_requests,
    pages_work,
)
from casework.web.render import STATIC, render
from casework.web.session import SignInNeeded

ROUTERS = (
    pages_auth,
    pages_work,
    pages_requests,
    pages_cases,
    pages_case_actions,
    pages_documents,
    pages_reports,
    pages_activity,
)
_NOT_PAGES = ("/api/", "/healthz", "/readyz", "/metrics", "/static/")
_STATUS = {
    "not-found": 404,
    "forbidden": 403,
    "csrf-failed": 403,
    "conflict": 409,
    "refused": 409,
    "rate-limited": 429,
    "too-large": 413,
    "unsupported-media-type": 415,
}
_TITLES = {
    400: "This request cannot be read",
    403: "Not allowed",
    404: "Not found",
    405: "Not here",
    409: "Not now",
    422: "Something is not right",
    429: "Too many attempts",
}

Handler = Callable[[Request, Exception], Response | Awaitable[Response]]


def is_page(request: Request) -> bool:
    """A request for a page (a route of the pages' routers, or any path outside the API
    asked for by a browser): its errors are pages too."""
    path = request.url.path
    if path.startswith(_NOT_PAGES):
        return False
    route = request.scope.get("route")
    if route is not None:
        return getattr(route, "include_in_schema", True) is False
    return "text/html" in request.headers.get("accept", "")


def error_page(request: Request, status: int, message: str) -> Response:
    title = _TITLES.get(status, "Something went wrong")
    return render(request, "error.html", {"title": title, "message": message}, status_code=status)


def install(app: FastAPI) -> None:
    """Add the pages to `app` (after `problems.install`, whose handlers stay the API's)."""
    for module in ROUTERS:
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    api_service_error: Handler = app.exception_handlers[ServiceError]
    api_http_error: Handler = app.exception_handlers[StarletteHTTPException]
    api_validation_error: Handler = app.exception_handlers[RequestValidationError]

    async def sign_in(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SignInNeeded)
        if request.headers.get("hx-request"):
            # htmx would swap the sign-in page into the current one: a full navigation.
            return Response(status_code=200, headers={"HX-Redirect": exc.back_to})
        return RedirectResponse(exc.back_to, status_code=303)

    async def service_error(request: Request, exc: Exception) -> Any:
        if not is_page(request):
            return await _call(api_service_error, request, exc)
        assert isinstance(exc, ServiceError)
        return error_page(request, _STATUS.get(exc.code, 422), exc.message)

    async def http_error(request: Request, exc: Exception) -> Any:
        if not is_page(request):
            return await _call(api_http_error, request, exc)
        assert isinstance(exc, StarletteHTTPException)
        message = exc.detail if isinstance(exc.detail, str) else "that cannot be done here"
        if exc.status_code == 404:
            message = f"there is nothing at {request.url.path}"
        return error_page(request, exc.status_code, message)

    async def validation_error(request: Request, exc: Exception) -> Any:
        if not is_page(request):
            return await _call(api_validation_error, request, exc)
        assert isinstance(exc, RequestValidationError)
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ())[1:]) or "the request"
        # Pydantic's message, never the input (it may be a password).
        return error_page(request, 422, f"{where}: {first.get('msg', 'is not valid')}")

    app.add_exception_handler(SignInNeeded, sign_in)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(ServiceError, service_error)
    app.add_exception_handler(StarletteHTTPException, http_error)


async def _call(handler: Handler, request: Request, exc: Exception) -> Response:
    answer = handler(request, exc)
    if isinstance(answer, Response):
        return answer
    return await answer
