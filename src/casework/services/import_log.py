"""Loading an XES event log (IEEE 1849) as historical cases.

Each trace becomes one case of the case type `imported_process`, whose plan offers one
discretionary human task per activity of the log (so the plan and the inboxes show the
activities by name) plus a user event "End of log" that keeps the case open until the
trace is over. The log's events drive the engine as people would have:

    schedule        plan the activity's task (it is manually activated: enabled)
    start           plan it if needed, then start it (active)
    complete        plan and start it if needed, then complete it with the event's
                    other attributes as case file values
    suspend/resume  suspend or resume it
    abort/withdraw  plan it if needed, then exit it (terminated)

An event without a lifecycle transition (or with one we do not know) is a completion, as
XES's default lifecycle model reads it. Every command runs at the event's timestamp with
its `org:resource` as the actor; the case file starts from the trace's attributes. At
the end, work still open is exited, "End of log" occurs (the case completes) and the
case is closed. Each case is written in one transaction, with the same hash-chained
events and projections commands write; a case already imported is skipped, so running
an import again after an interruption continues where it stopped.

The activity set is read in a first pass over the file (streamed, as the second is), and
deployed as a new version of `imported_process` only when it differs from the newest.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import yaml
from lxml import etree
from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from casework.engine import CaseEngine, CaseInstance, CommandRefused
from casework.engine import commands as c
from casework.engine.events import event_from_dict, event_payload
from casework.services.actors import Actor
from casework.services.audit import GENESIS, event_rows, insert_events
from casework.services.case_types import deploy, engine_for
from casework.services.errors import InvalidInput, Refused
from casework.services.rebuild import LoggedEvent, compute
from casework.services.search import index_case
from casework.store.tables import Case, PlanItemRow

TYPE_ID = "imported_process"
END_OF_LOG = "end_of_log"

_HEADER = """\
# Historical cases imported from an XES event log by `casework import-log`: one
# discretionary task per activity of the log, planned, started and completed as the log's
# events say; "End of log" occurs after a trace's last event and completes the case.
"""

_EXITS = frozenset({"ate_abort", "pi_abort", "withdraw", "abort", "manualskip", "autoskip"})


@dataclass(frozen=True, slots=True)
class XesEvent:
    activity: str
    at: datetime | None
    lifecycle: str
    resource: str | None
    attributes: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Trace:
    index: int  # position in the log, from 0
    name: str | None
    attributes: dict[str, Any]
    events: list[XesEvent]


@dataclass(slots=True)
class ImportResult:
    type_version: int
    activities: int
    cases: int = 0  # cases written
    events: int = 0  # XES events replayed into them
    log_events: int = 0  # case events written
    skipped: int = 0  # traces already imported, or without any timestamp
    skipped_reasons: list[str] = field(default_factory=list)


# -- reading XES ------------------------------------------------------------------------


def _open(path: Path) -> IO[bytes]:
    handle = path.open("rb")
    magic = handle.read(2)
    handle.seek(0)
    if magic == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=handle)  # type: ignore[return-value]
    return handle


def _local(tag: Any) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _value(element: Any) -> Any:
    kind, raw = _local(element.tag), element.get("value")
    if raw is None:
        return None  # lists and containers: nested data we do not carry over
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            number = float(raw)
            # NaN and infinities are no JSON numbers: kept as the text the log has.
            return number if math.isfinite(number) else raw
        if kind == "boolean":
            return raw.strip().lower() == "true"
        if kind == "date":
            return _timestamp(raw).isoformat()
    except ValueError:
        pass  # a malformed typed value is kept as the text the log has
    return raw


def _timestamp(raw: str) -> datetime:
    at = datetime.fromisoformat(raw.strip())
    # Stored in UTC: SQLite keeps no offset, and the hash chain hashes `at.isoformat()`.
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _attributes(element: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for child in element:
        key = child.get("key")
        if key is not None and _local(child.tag) not in ("event", "trace"):
            value = _value(child)
            if value is not None:
                out[key] = value
    return out


def _event(element: Any) -> XesEvent:
    attrs = _attributes(element)
    at: datetime | None = None
    # Already converted to UTC by _value, unless the log's value was malformed.
    with contextlib.suppress(KeyError, ValueError):
        at = datetime.fromisoformat(str(attrs.pop("time:timestamp")))
    resource = attrs.pop("org:resource", None)
    return XesEvent(
        activity=str(attrs.pop("concept:name", "") or "(unnamed)")[:300],
        at=at,
        lifecycle=str(attrs.pop("lifecycle:transition", "complete")).strip().lower(),
        resource=str(resource)[:200] if resource not in (None, "") else None,
        attributes=attrs,
    )


def read_traces(path: Path, limit: int | None = None) -> Iterator[Trace]:
    """The log's traces one at a time, in constant memory however big the file is."""
    with _open(path) as handle:
        parser = etree.iterparse(
            handle, events=("end",), tag="{*}trace", resolve_entities=False, huge_tree=True
        )
        index = 0
        try:
            for _, element in parser:
                if limit is not None and index >= limit:
                    return
                events = [_event(e) for e in element if _local(e.tag) == "event"]
                attrs = _attributes(element)
                name = attrs.get("concept:name")
                yield Trace(index, str(name) if name is not None else None, attrs, events)
                index += 1
                # Drop what was parsed so far: the tree would otherwise hold the whole log.
                element.clear()
                while element.getprevious() is not None:
                    del element.getparent()[0]
        except etree.XMLSyntaxError as exc:
            raise InvalidInput(f"{path.name}: not a readable XES file: {exc}") from None
        except (OSError, EOFError) as exc:  # gzip: truncated or corrupt
            raise InvalidInput(f"{path.name}: cannot read: {exc}") from None


# -- the case type ----------------------------------------------------------------------


def activity_ids(activities: list[str]) -> dict[str, str]:
    """Plan item ids by activity name: explicit, as names may clash with each other's
    slugs or with "End of log"; sorted, so one activity set always gives one case type."""
    return {name: f"activity_{n}" for n, name in enumerate(sorted(set(activities)), start=1)}


def case_type_source(activities: list[str]) -> str:
    """The YAML of `imported_process` offering these activities."""
    items = [
        {"task": name, "id": item_id, "manual": True}
        for name, item_id in activity_ids(activities).items()
    ]
    definition: dict[str, Any] = {
        "id": TYPE_ID,
        "name": "Imported process",
        "description": "Historical cases loaded from an XES event log.",
        "plan": {
            "items": [{"user_event": "End of log", "id": END_OF_LOG}],
            "discretionary": items,
        },
    }
    return _HEADER + yaml.safe_dump(definition, sort_keys=False, allow_unicode=True, width=1000)


# -- one trace ----------------------------------------------------------------------------


class _Replayer:
    """Runs one trace through the engine in memory, keeping what each command logged."""

    def __init__(self, engine: CaseEngine, case_id: str, activity_ids: dict[str, str]) -> None:
        self.engine, self.case_id, self.ids = engine, case_id, activity_ids
        self.rows: list[dict[str, Any]] = []
        self.logged: list[LoggedEvent] = []  # the rows' events, as a rebuild reads them
        self.last_seq, self.last_hash, self.commands = 0, GENESIS, 0
        self.state: CaseInstance | None = None

    def _log(self, events: list[Any], actor: str, at: datetime) -> None:
        rows, self.last_seq, self.last_hash = event_rows(
            self.case_id, self.last_seq, self.last_hash, events, Actor(actor), at
        )
        self.rows.extend(rows)
        # Through the payload, as a rebuild reads the row back: the same values, the
        # same types (the test comparing imported and rebuilt projections holds to it).
        self.logged.extend(
            LoggedEvent(event_from_dict({**event_payload(e), "type": e.type}), at, actor)
            for e in events
        )
        self.commands += 1

    def start(self, data: dict[str, Any], actor: str, at: datetime) -> None:
        self.state, events = self.engine.start(at, data, case_id=self.case_id)
        self._log(events, actor, at)

    def run(self, command: c.Command, actor: str, at: datetime) -> list[Any]:
        assert self.state is not None
        self.state, events = self.engine.apply(self.state, command, at)
        if events:  # the engine made no change (e.g. case file values it already had)
            self._log(events, actor, at)
        return events

    def _open(self, activity: str, *states: str) -> str | None:
        assert self.state is not None
        for inst_id in self.state.by_item.get(self.ids[activity], ()):
            if self.state.items[inst_id].state.value in states:
                return inst_id
        return None

    def _plan(self, activity: str, actor: str, at: datetime) -> str:
        events = self.run(c.PlanDiscretionaryItem(self.ids[activity]), actor, at)
        return str(events[0].instance_id)  # PlanItemCreated comes first

    def apply(self, ev: XesEvent, actor: str, at: datetime) -> None:
        life = ev.lifecycle
        if life == "schedule":
            self._plan(ev.activity, actor, at)
        elif life in ("assign", "reassign"):
            # Only says who has the work: plan it when nothing of it is open yet.
            if self._open(ev.activity, "enabled", "active", "suspended") is None:
                self._plan(ev.activity, actor, at)
        elif life == "suspend":
            inst = self._open(ev.activity, "active")
            if inst is not None:
                self.run(c.SuspendPlanItem(inst), actor, at)
        elif life == "resume":
            inst = self._open(ev.activity, "suspended")
            if inst is not None:
                self.run(c.ResumePlanItem(inst), actor, at)
        elif life in _EXITS:
            inst = self._open(ev.activity, "active", "enabled", "suspended")
            self.run(c.ExitPlanItem(inst or self._plan(ev.activity, actor, at)), actor, at)
        else:
            inst = self._open(ev.activity, "active")
            if inst is None:
                inst = self._open(ev.activity, "enabled") or self._plan(ev.activity, actor, at)
                self.run(c.ManualStart(inst), actor, at)
            if life == "start":
                if ev.attributes:
                    self.run(c.SetVariables(ev.attributes), actor, at)
                return
            self.run(c.CompletePlanItem(inst, ev.attributes), actor, at)
            return
        if ev.attributes:
            self.run(c.SetVariables(ev.attributes), actor, at)

    def finish(self, actor: str, at: datetime) -> None:
        assert self.state is not None
        for inst in list(self.state.items.values()):
            if inst.item_id != END_OF_LOG and inst.live and inst.parent_id is not None:
                self.run(c.ExitPlanItem(inst.id), actor, at)
        self.run(c.OccurEvent(END_OF_LOG), actor, at)
        self.run(c.CloseCase(), actor, at)


def _case_id(path: Path, trace: Trace) -> str:
    # Stable per file and trace position: importing the same log again finds its cases.
    key = f"{path.name}\0{trace.index}\0{trace.name}".encode()
    return "X-" + hashlib.sha256(key).hexdigest()[:16].upper()


def _import_trace(
    session: Session,
    engine: CaseEngine,
    version: int,
    ids: dict[str, str],
    trace: Trace,
    case_id: str,
    actor: Actor,
) -> int:
    """Write one trace as a closed case; the number of case events written."""
    events: list[tuple[datetime, XesEvent]] = []
    last: datetime | None = None
    for ev in trace.events:
        last = ev.at or last
        if last is not None:
            events.append((last, ev))
    # Events without a time of their own took the previous one; a stable sort keeps the
    # log's order for equal times and makes the case's clock run forwards.
    events.sort(key=lambda pair: pair[0])
    replay = _Replayer(engine, case_id, ids)
    try:
        replay.start(dict(trace.attributes), actor.id, events[0][0])
        for at, ev in events:
            replay.apply(ev, (ev.resource or actor.id)[:200], at)
        replay.finish(actor.id, events[-1][0])
    except CommandRefused as exc:
        raise Refused(str(exc)) from None
    # The projections as a rebuild would compute them from these very events.
    projection = compute(engine, case_id, replay.logged, base_priority=3)
    title = trace.name or f"trace {trace.index + 1}"
    session.execute(
        insert(Case).values(
            id=case_id,
            type_id=TYPE_ID,
            type_version=version,
            title=title[:500],
            version=replay.commands,
            last_seq=replay.last_seq,
            last_hash=replay.last_hash,
            **projection.case_values,
        )
    )
    insert_events(session.connection(), replay.rows)
    session.execute(insert(PlanItemRow), projection.items)
    index_case(session, case_id)
    return len(replay.rows)


def scan(path: Path, limit: int | None = None) -> tuple[list[str], int]:
    """First pass: the activity names and the number of traces (up to `limit`)."""
    activities: set[str] = set()
    traces = 0
    for trace in read_traces(path, limit):
        traces += 1
        activities.update(ev.activity for ev in trace.events)
    return sorted(activities), traces


def import_log(
    db: sessionmaker[Session],
    path: Path,
    *,
    actor: Actor,
    now: datetime,
    limit: int | None = None,
    progress: Callable[[int], None] | None = None,
    activities: list[str] | None = None,
) -> ImportResult:
    """Import up to `limit` traces of the XES log at `path`; `progress(n)` after each.

    `activities` (from `scan`) saves the first pass when the caller already made it.
    """
    if activities is None:
        activities, _ = scan(path, limit)
    if not activities:
        raise InvalidInput(f"{path.name}: no events in the log")
    deployed = deploy(db, actor=actor, source=case_type_source(activities), now=now, fmt="yaml")
    version = deployed[0].version
    with db() as session:
        engine = engine_for(session, TYPE_ID, version)
    ids = activity_ids(activities)
    result = ImportResult(version, len(activities))
    for trace in read_traces(path, limit):
        case_id = _case_id(path, trace)
        written, reason = 0, None
        if not any(ev.at is not None for ev in trace.events):
            reason = "no timestamps"
        else:
            try:
                # One transaction per case: a case is imported whole or not at all.
                with db.begin() as session:
                    if session.get(Case, case_id) is None:
                        written = _import_trace(
                            session, engine, version, ids, trace, case_id, actor
                        )
            except Refused as exc:
                reason = exc.message  # the engine refused the log's story: say which
        if written:
            result.cases += 1
            result.events += len(trace.events)
            result.log_events += written
        else:
            result.skipped += 1
            if reason is not None:
                result.skipped_reasons.append(f"trace {trace.name or trace.index}: {reason}")
        if progress is not None:
            progress(1)
    return result
