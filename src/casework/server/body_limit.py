"""A cap on request bodies, before anything reads them: FastAPI reads a JSON body whole
into memory, so without one a single request (to the sign-in route, needing no
credentials) could make a server process hold gigabytes.

A `Content-Length` over the cap is refused at once; a body sent without one (chunked) is
counted as it arrives and refused when it passes the cap, before the app acts on any of
it. Routes that stream their bodies under their own limits are left to them: document
uploads (`uploads.py`, CASEWORK_MAX_UPLOAD_BYTES) and case type sources
(`routes_case_types.py`, 2 MiB). The answer is a `413` problem.
"""

from __future__ import annotations

import contextlib
import re

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from casework.server.deps import API_PREFIX
from casework.server.problems import problem_response
from casework.server.settings import DEFAULT_MAX_REQUEST_BYTES

# POSTs that stream their bodies under limits of their own: document uploads (.../cases/
# {id}/documents, .../documents/{id}/versions, and the case page's form at
# /cases/{id}/documents) and case type sources (/case-types, /case-types/validate).
_OWN_LIMITS = re.compile(
    re.escape(API_PREFIX)
    + r"(/cases/[^/]+/documents(/[^/]+/versions)?|/case-types(/validate)?)/?"
    + r"|/cases/[^/]+/documents/?"
)


class BodyLimit:
    def __init__(self, app: ASGIApp, *, max_bytes: int = DEFAULT_MAX_REQUEST_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._streams_its_own(scope):
            await self.app(scope, receive, send)
            return
        length, chunked = _framing(scope)
        if length is not None and length > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        if not chunked and not length and scope.get("http_version", "1.1").startswith("1"):
            # HTTP/1 without either header has no body (RFC 9112 §6.3), as most GETs:
            # nothing to count. (HTTP/2 frames a body without them.)
            await self.app(scope, receive, send)
            return
        received = 0
        over = started = False

        async def counted() -> Message:
            nonlocal received, over
            if over:
                raise _BodyTooLarge
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes and not started:
                    over = True
                    raise _BodyTooLarge
            return message

        async def sending(message: Message) -> None:
            nonlocal started
            if over:
                return  # whatever the app makes of a body it could not read: the 413 wins
            started = started or message["type"] == "http.response.start"
            await send(message)

        with contextlib.suppress(_BodyTooLarge):
            await self.app(scope, counted, sending)
        if over:
            await self._refuse(scope, receive, send)

    def _streams_its_own(self, scope: Scope) -> bool:
        return scope["method"] == "POST" and _OWN_LIMITS.fullmatch(scope["path"]) is not None

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(
            Request(scope),
            413,
            "too-large",
            f"a request body is at most {self.max_bytes} bytes "
            f"({self.max_bytes / 2**20:.1f} MiB); documents are uploaded as multipart",
            headers={"Connection": "close"},  # the rest of the body is not read
        )
        await response(scope, receive, send)


class _BodyTooLarge(BaseException):
    """Raised into the app from `receive`. A BaseException, like a cancellation: FastAPI
    turns any Exception raised while it reads a body into a 400, and the app must not go
    on to act on part of a body (a valid JSON prefix followed by padding)."""


def _framing(scope: Scope) -> tuple[int | None, bool]:
    """The request's Content-Length (None: absent or unreadable) and whether its body
    comes chunked (Transfer-Encoding)."""
    length, chunked = None, False
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            length = int(text) if text.isdigit() else None
        elif name == b"transfer-encoding":
            chunked = True
    return length, chunked
