"""The handler registry: the Python that runs an automated (or decision) task.

Handlers come from three places, looked up in this order:

1. handlers registered in this process (`register`, `registered`): tests, embedding apps;
2. Python entry points in the group `casework.handlers` (installed packages);
3. the built-in demo handlers of the shipped case types (`casework.templates.handlers`).

A handler is either a *context handler*, `(context: HandlerContext) -> dict`, or a
*simple handler*, `(case_file: Mapping) -> dict`; simple handlers are adapted on lookup so
the worker only ever calls the context form. Either returns the case file values it sets.
"""

from __future__ import annotations

import inspect
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Literal

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "casework.handlers"

Form = Literal["auto", "context", "case_file"]


@dataclass(frozen=True, slots=True)
class HandlerContext:
    """What a handler gets: which task it runs for, and a read-only copy of the case file.

    `idempotency_key` is the same on every attempt of one job, including a retry after a
    worker crashed mid-job: pass it to external systems so they can drop duplicates.
    `attempt` counts from 1.
    """

    case_id: str
    instance_id: str
    case_file: Mapping[str, Any]
    idempotency_key: str
    attempt: int
    handler: str = ""


ContextHandler = Callable[[HandlerContext], dict[str, Any]]
SimpleHandler = Callable[[Mapping[str, Any]], dict[str, Any]]


class UnknownHandler(LookupError):
    """No handler has that name (or its entry point could not be loaded)."""


def takes_context(fn: Callable[[HandlerContext], dict[str, Any]]) -> ContextHandler:
    """Mark `fn` as a context handler when its parameter is not annotated."""
    fn.__casework_context__ = True  # type: ignore[attr-defined]
    return fn


def _wants_context(fn: Callable[..., Any]) -> bool:
    if getattr(fn, "__casework_context__", False):
        return True
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):  # builtins and some C callables have no signature
        return False
    if not params:
        return False
    annotation = params[0].annotation
    if annotation is HandlerContext:
        return True
    # With `from __future__ import annotations` the annotation is a string.
    return isinstance(annotation, str) and annotation.rsplit(".", 1)[-1] == "HandlerContext"


def adapt(fn: Callable[..., Any], form: Form = "auto") -> ContextHandler:
    """`fn` as a context handler: simple handlers get `context.case_file`."""
    if form == "context" or (form == "auto" and _wants_context(fn)):
        return fn

    def simple(context: HandlerContext) -> dict[str, Any]:
        result: dict[str, Any] = fn(context.case_file)
        return result

    simple.__name__ = getattr(fn, "__name__", "handler")
    simple.__wrapped__ = fn  # type: ignore[attr-defined]
    return simple


def _builtins() -> Mapping[str, SimpleHandler]:
    try:
        from casework.templates.handlers import HANDLERS
    except ImportError:  # a trimmed install without the demo case types
        return {}
    return HANDLERS


class HandlerRegistry:
    """Name → handler. Thread-safe; entry points are loaded lazily, once per name."""

    def __init__(self, *, group: str = ENTRY_POINT_GROUP, builtins: bool = True) -> None:
        self._group = group
        self._use_builtins = builtins
        self._lock = threading.Lock()
        self._registered: dict[str, ContextHandler] = {}
        # name → handler, or the error text when its entry point failed to load.
        self._loaded: dict[str, ContextHandler | str] = {}

    def register(self, name: str, fn: Callable[..., Any], *, form: Form = "auto") -> None:
        """Register (or replace) a handler in this process; it wins over everything else."""
        with self._lock:
            self._registered[name] = adapt(fn, form)

    def unregister(self, name: str) -> None:
        with self._lock:
            self._registered.pop(name, None)

    @contextmanager
    def registered(
        self, name: str, fn: Callable[..., Any], *, form: Form = "auto"
    ) -> Iterator[None]:
        """A handler for the duration of the block; whatever it shadowed comes back after."""
        with self._lock:
            previous = self._registered.get(name)
            self._registered[name] = adapt(fn, form)
        try:
            yield
        finally:
            with self._lock:
                if previous is None:
                    self._registered.pop(name, None)
                else:
                    self._registered[name] = previous

    def get(self, name: str) -> ContextHandler:
        """The handler called `name`, in the context form; UnknownHandler if there is none."""
        with self._lock:
            found = self._registered.get(name)
            if found is not None:
                return found
            if name not in self._loaded:
                self._loaded[name] = self._load(name)
            loaded = self._loaded[name]
        if isinstance(loaded, str):
            raise UnknownHandler(loaded)
        return loaded

    def names(self) -> list[str]:
        """Every name a handler can be found under (entry points without loading them)."""
        with self._lock:
            names = set(self._registered)
        names.update(ep.name for ep in entry_points(group=self._group))
        if self._use_builtins:
            names.update(_builtins())
        return sorted(names)

    def _load(self, name: str) -> ContextHandler | str:
        found = [ep for ep in entry_points(group=self._group) if ep.name == name]
        if len(found) > 1:
            where = ", ".join(sorted(ep.value for ep in found))
            return f"handler {name!r} is ambiguous: several entry points provide it ({where})"
        if found:
            try:
                fn = found[0].load()
            except Exception as exc:  # a broken plugin must not take the worker down
                log.error("handler entry point failed to load: %s (%s)", name, type(exc).__name__)
                return (
                    f"handler {name!r}: entry point {found[0].value} failed to load: "
                    f"{type(exc).__name__}: {exc}"
                )
            if not callable(fn):
                return f"handler {name!r}: entry point {found[0].value} is not callable"
            if self._use_builtins and name in _builtins():
                log.warning("entry point handler %s shadows the built-in handler", name)
            return adapt(fn)
        builtin = _builtins().get(name) if self._use_builtins else None
        if builtin is not None:
            return adapt(builtin, "case_file")
        return (
            f"unknown handler {name!r}: no handler is registered under that name, neither "
            f"built in nor through an entry point in the group {self._group!r}"
        )


REGISTRY = HandlerRegistry()
"""The process-wide registry the worker uses unless it is given another one."""


def register(name: str, fn: Callable[..., Any], *, form: Form = "auto") -> None:
    REGISTRY.register(name, fn, form=form)


def registered(
    name: str, fn: Callable[..., Any], *, form: Form = "auto"
) -> AbstractContextManager[None]:
    """`with registered("x", fn): ...` on the process-wide registry."""
    return REGISTRY.registered(name, fn, form=form)
