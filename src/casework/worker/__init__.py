"""The background worker: due timers, automated tasks and outbox messages from `jobs`."""

from __future__ import annotations

from casework.worker.handlers import (
    REGISTRY,
    HandlerContext,
    HandlerRegistry,
    UnknownHandler,
    register,
    registered,
    takes_context,
)
from casework.worker.jobs import ClaimedJob, RetryPolicy
from casework.worker.runner import Worker, system_clock

__all__ = [
    "REGISTRY",
    "ClaimedJob",
    "HandlerContext",
    "HandlerRegistry",
    "RetryPolicy",
    "UnknownHandler",
    "Worker",
    "register",
    "registered",
    "system_clock",
    "takes_context",
]
