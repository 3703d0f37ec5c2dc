"""Around every request: its id, one access log line, metrics, and the last-resort 500.

A pure ASGI middleware (not Starlette's BaseHTTPMiddleware, which buffers responses and
runs the app in another task): it sees the response status as it is sent, the route
template the router matched (`scope["route"]`), and the actor id the auth dependency
left in the request state.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from casework.server.deps import API_PREFIX
from casework.server.logs import request_id_var
from casework.server.metrics import Metrics
from casework.server.problems import internal_error_response

# An incoming id is kept only if it is short and plain: it ends up in logs and headers.
_VALID_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

access_log = logging.getLogger("casework.server.access")
error_log = logging.getLogger("casework.server.error")


def _request_id(scope: Scope) -> str:
    headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
    for name, value in headers:
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            if _VALID_ID.fullmatch(candidate):
                return candidate
            break
    return uuid.uuid4().hex


def route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


class RequestMiddleware:
    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        token = request_id_var.set(request_id)
        status = 500
        started = False
        api = str(scope.get("path", "")).startswith(API_PREFIX)

        async def send_with_id(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                headers.append((b"x-content-type-options", b"nosniff"))
                if api and not any(name == b"cache-control" for name, _v in headers):
                    # API answers are about people and their cases: no shared caches.
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        began = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            # The traceback goes to the log with the request id; the client learns nothing.
            error_log.exception(
                "unhandled error",
                extra={
                    "fields": {
                        "request_id": request_id,
                        "route": route_template(scope),
                        "method": scope["method"],
                    }
                },
            )
            status = 500
            if not started:
                response = internal_error_response(Request(scope))
                await response(scope, receive, send_with_id)
        finally:
            duration = time.perf_counter() - began
            route = route_template(scope)
            self.metrics.observe(scope["method"], route, status, duration)
            access_log.info(
                "request",
                extra={
                    "fields": {
                        "request_id": request_id,
                        "method": scope["method"],
                        "route": route,
                        "path": scope.get("path", ""),
                        "status": status,
                        "duration_ms": round(duration * 1000, 2),
                        "actor": state.get("actor_id"),
                    }
                },
            )
            request_id_var.reset(token)
