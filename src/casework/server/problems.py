"""Every error as RFC 9457 problem details (`application/problem+json`).

A problem has a stable `type` URI (`https://casework.dev/problems/<slug>`), a `title`
that is the same for every problem of that type, the HTTP `status`, a `detail` about
this occurrence, the `instance` (the request path) and the `request_id` to find it in
the logs. Validation problems add `errors`: one entry per field, with its `field` path
(`data.amount`) and, for fields of the JSON body, a JSON `pointer` (`#/data/amount`).

Service errors map by their `code` (services/errors.py); subclasses inherit the mapping
of the nearest class that has one. A database that is down, busy or full answers 503
with Retry-After (`store/availability.py`), logged in one line; so does a blob store
that cannot store or read documents (`BlobUnavailable`). Other unexpected
exceptions become a 500 that says nothing about the cause (the middleware logs it with
the request id).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from casework.blobs import BlobUnavailable
from casework.server.logs import Throttle, request_id_var
from casework.services.errors import RateLimited, ServiceError, Unauthenticated
from casework.store import availability

BASE = "https://casework.dev/problems/"
PROBLEM_REF = "#/components/schemas/Problem"
MEDIA_TYPE = "application/problem+json"

# ServiceError code -> (HTTP status, problem type slug)
_BY_CODE: dict[str, tuple[int, str]] = {
    "invalid-input": (422, "validation"),
    "not-found": (404, "not-found"),
    "forbidden": (403, "forbidden"),
    "csrf-failed": (403, "csrf-failed"),
    "conflict": (409, "conflict"),
    "refused": (409, "refused"),
    "precondition-failed": (412, "precondition-failed"),
    "unauthenticated": (401, "unauthenticated"),
    "rate-limited": (429, "rate-limited"),
    "too-large": (413, "too-large"),
    "unsupported-media-type": (415, "unsupported-media-type"),
    "bad-request": (400, "bad-request"),
    "bad-gateway": (502, "bad-gateway"),
}
_BY_STATUS = {
    400: "bad-request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    413: "too-large",
    415: "unsupported-media-type",
    416: "range-not-satisfiable",
    422: "validation",
    429: "rate-limited",
    500: "internal",
    502: "bad-gateway",
    503: "unavailable",
}
TITLES = {
    "validation": "The request is not valid",
    "not-found": "Not found",
    "forbidden": "Not allowed",
    "csrf-failed": "Missing or wrong anti-CSRF token",
    "conflict": "Conflict with the current state",
    "refused": "The case does not allow this now",
    "precondition-failed": "The resource changed",
    "unauthenticated": "Authentication needed",
    "rate-limited": "Too many requests",
    "bad-request": "Bad request",
    "method-not-allowed": "Method not allowed",
    "not-acceptable": "Not acceptable",
    "too-large": "Request too large",
    "unsupported-media-type": "Unsupported media type",
    "range-not-satisfiable": "Range not satisfiable",
    "internal": "Internal server error",
    "bad-gateway": "Another service did not answer properly",
    "unavailable": "Not ready",
    "database-unavailable": "The database is unavailable",
    "storage-unavailable": "The document store is unavailable",
}
# Fields that services name but that are headers, not parts of the body.
_HEADER_FIELDS = frozenset({"Idempotency-Key", "If-Match"})
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
WWW_AUTHENTICATE = 'Bearer realm="casework"'
# Seconds a client is asked to wait after a 503 for a database that is down or busy.
RETRY_AFTER_UNAVAILABLE = 2
# After a 503 for the blob store: a full or failing disk takes someone to fix.
RETRY_AFTER_STORAGE = 30

error_log = logging.getLogger("casework.server.error")


class FieldProblem(BaseModel):
    field: str = Field(description="Dotted path of the field, e.g. `data.amount`.")
    pointer: str | None = Field(
        default=None, description="JSON pointer into the request body, e.g. `#/data/amount`."
    )
    location: str = Field(description="Where the field is: body, query, path or header.")
    detail: str


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = Field(examples=[BASE + "validation"])
    title: str
    status: int
    detail: str
    instance: str
    request_id: str | None = None
    errors: list[FieldProblem] | None = None


def problem_type(slug: str) -> str:
    return BASE + slug


def problem_response(
    request: Request,
    status: int,
    slug: str,
    detail: str,
    *,
    errors: Sequence[FieldProblem] | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    body = Problem(
        type=problem_type(slug),
        title=TITLES.get(slug, "Error"),
        status=status,
        detail=detail,
        instance=request.url.path,
        request_id=request_id_var.get(),
        errors=list(errors) if errors is not None else None,
    ).model_dump(exclude_none=True)
    body.update(extra or {})
    return JSONResponse(body, status_code=status, headers=headers, media_type=MEDIA_TYPE)


def _mapping(exc: ServiceError) -> tuple[int, str]:
    for cls in type(exc).__mro__:
        code = getattr(cls, "code", None)
        if isinstance(code, str) and code in _BY_CODE:
            return _BY_CODE[code]
    return 400, "bad-request"


def _pointer(path: Sequence[str | int]) -> str:
    escaped = (str(p).replace("~", "~0").replace("/", "~1") for p in path)
    return "#/" + "/".join(escaped) if path else "#"


def service_error_response(request: Request, exc: ServiceError) -> JSONResponse:
    status, slug = _mapping(exc)
    headers: dict[str, str] = {}
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, Unauthenticated):
        headers["WWW-Authenticate"] = WWW_AUTHENTICATE
    errors = None
    if status in (413, 415, 422) and exc.field:
        if exc.field in _HEADER_FIELDS:
            errors = [FieldProblem(field=exc.field, location="header", detail=exc.message)]
        elif request.method in _BODY_METHODS:
            pointer = _pointer(exc.field.split("."))
            errors = [
                FieldProblem(field=exc.field, pointer=pointer, location="body", detail=exc.message)
            ]
        else:
            errors = [FieldProblem(field=exc.field, location="query", detail=exc.message)]
    return problem_response(request, status, slug, exc.message, errors=errors, headers=headers)


def _service_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    return service_error_response(request, exc)


def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = []
    for error in exc.errors():
        location, *path = error.get("loc", ()) or ("body",)
        # Pydantic's messages, never its `input`: the input may be a password.
        message = str(error.get("msg", "is not valid"))
        if error.get("type") == "json_invalid":
            # The location is a character offset, not a field: the body as a whole.
            path = []
            reason = (error.get("ctx") or {}).get("error")
            message = f"the body is not valid JSON: {reason}" if reason else message
        field = ".".join(str(p) for p in path)
        if location == "body":
            errors.append(
                FieldProblem(field=field, pointer=_pointer(path), location="body", detail=message)
            )
        else:
            errors.append(FieldProblem(field=field, location=str(location), detail=message))
    if len(errors) == 1:
        first = errors[0]
        detail = f"{first.field or 'the request body'}: {first.detail}"
    else:
        detail = f"{len(errors)} fields are not valid"
    return problem_response(request, 422, "validation", detail, errors=errors)


def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    slug = _BY_STATUS.get(exc.status_code, "bad-request" if exc.status_code < 500 else "internal")
    detail = exc.detail if isinstance(exc.detail, str) else TITLES.get(slug, "Error")
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"nothing at {request.url.path}"
    headers = dict(exc.headers or {})
    return problem_response(request, exc.status_code, slug, detail, headers=headers)


def _database_error(request: Request, exc: Exception) -> JSONResponse:
    if not availability.temporarily_unavailable(exc):
        raise exc  # the middleware's 500, with its traceback in the log
    return _unavailable(
        request,
        "database-unavailable",
        "the database is unavailable or busy; try again shortly (a request sent with an "
        "Idempotency-Key is safely sent again with the same key)",
        f"database unavailable: {availability.reason(exc)}",
        RETRY_AFTER_UNAVAILABLE,
    )


def _storage_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, BlobUnavailable)
    return _unavailable(
        request,
        "storage-unavailable",
        "documents cannot be stored or read just now; try again later (an upload that gets "
        "this answer was not kept)",
        f"document store unavailable: {exc.reason}",
        RETRY_AFTER_STORAGE,
    )


def _unavailable(
    request: Request, slug: str, detail: str, logged: str, retry_after: int
) -> JSONResponse:
    """A 503 for something the server depends on; one warning line, no traceback (and
    while it lasts, one every few seconds: `logs.Throttle`)."""
    throttle: Throttle | None = getattr(request.app.state, "casework_unavailable_log", None)
    left_out = throttle.admit(logged) if throttle is not None else 0
    if left_out is not None:
        more = f" ({left_out} more like it since the last such line)" if left_out else ""
        error_log.warning(
            "%s%s",
            logged,
            more,
            extra={"fields": {"request_id": request_id_var.get(), "method": request.method}},
        )
    return problem_response(request, 503, slug, detail, headers={"Retry-After": str(retry_after)})


def internal_error_response(request: Request) -> JSONResponse:
    return problem_response(
        request,
        500,
        "internal",
        "something went wrong on our side; the request id finds it in the server's logs",
    )


def install(app: FastAPI) -> None:
    app.state.casework_unavailable_log = Throttle()
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(PoolTimeout, _database_error)
    app.add_exception_handler(BlobUnavailable, _storage_error)
    _document_validation_problems(app)


def _document_validation_problems(app: FastAPI) -> None:
    """FastAPI documents the 422 of every route with parameters as its own
    `HTTPValidationError` in `application/json`; what is sent is a problem
    (`_validation_error`), so the document says that instead (`Problem` is among its
    schemas: every router documents its errors with `problem_responses`). Every route
    also documents the 503 of a database that is down, unless it says its own."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = generate()
        for item in document.get("paths", {}).values():
            for operation in item.values():
                responses = operation.get("responses", {}) if isinstance(operation, dict) else {}
                if "422" in responses:
                    responses["422"] = {
                        "description": TITLES["validation"],
                        "content": {MEDIA_TYPE: {"schema": {"$ref": PROBLEM_REF}}},
                    }
                if responses:  # any route may find the database down (`_database_error`)
                    responses.setdefault(
                        "503",
                        {
                            "description": TITLES["database-unavailable"],
                            "content": {MEDIA_TYPE: {"schema": {"$ref": PROBLEM_REF}}},
                        },
                    )
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        return document

    app.openapi = openapi  # type: ignore[method-assign]


# For the OpenAPI document: what each error status of a route looks like.
def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        status: {
            "model": Problem,
            "content": {MEDIA_TYPE: {"schema": {"$ref": PROBLEM_REF}}},
            "description": TITLES.get(_BY_STATUS.get(status, ""), "Error"),
        }
        for status in statuses
    }
