"""Runs conformance scenarios (../shared/conformance/FORMAT.md is the contract)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from casework.engine import CaseEngine, CaseInstance, CommandRefused, commands
from casework.engine.states import CaseState
from casework.engine.timers import parse_duration
from casework.model.cmmn_import import REF_EXTENSION
from casework.model.definitions import CaseDefinition, Dialect, PlanItemKind
from casework.model.errors import ModelError

START = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Outcome:
    scenario_id: str
    passed: bool
    detail: str = ""

    def line(self) -> str:
        return (
            f"PASS {self.scenario_id}" if self.passed else f"FAIL {self.scenario_id}: {self.detail}"
        )


class StepFailed(Exception):
    pass


def find_scenarios(paths: Iterable[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*.json") if p.is_file())
        else:
            yield path


def default_root(path: Path) -> Path:
    """The nearest folder above `path` holding FORMAT.md, else the current folder."""
    for folder in [path, *path.resolve().parents]:
        if (folder / "FORMAT.md").is_file():
            return folder
    return Path.cwd()


def load_definition(root: Path, scenario: dict[str, Any]) -> CaseDefinition:
    from casework.model.cmmn_import import import_cmmn

    model_path = root / scenario["model"]
    dialect = Dialect(scenario.get("dialect", "flowable"))
    definitions = import_cmmn(model_path.read_bytes(), dialect=dialect, source=str(model_path))
    wanted = scenario.get("case_definition")
    for definition in definitions:
        if wanted is None or definition.id == wanted:
            return definition
    raise ModelError(f"no case {wanted!r} in {scenario['model']}")


def run_scenario(path: Path, root: Path) -> Outcome:
    try:
        scenario = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return Outcome(str(path), False, f"cannot read scenario: {exc}")
    scenario_id = scenario.get("id", str(path))
    try:
        definition = load_definition(root, scenario)
    except (ModelError, OSError) as exc:
        return Outcome(scenario_id, False, f"import failed: {exc}")
    try:
        engine = CaseEngine(definition)
    except Exception as exc:  # a model the importer accepted but the engine cannot compile
        return Outcome(scenario_id, False, f"cannot compile model: {exc}")
    runner = _ScenarioRun(engine)
    for number, step in enumerate(scenario.get("steps", []), start=1):
        try:
            runner.step(step)
        except StepFailed as exc:
            return Outcome(scenario_id, False, f"step {number}: {exc}")
        except Exception as exc:  # an engine bug must show as a failed step, not a crash
            return Outcome(scenario_id, False, f"step {number}: {type(exc).__name__}: {exc}")
    return Outcome(scenario_id, True)


class _ScenarioRun:
    def __init__(self, engine: CaseEngine) -> None:
        self.engine = engine
        self.now = START
        self.state: CaseInstance | None = None

    def step(self, step: dict[str, Any]) -> None:
        expect: dict[str, Any] = {**step.get("also_expected", {}), **step.get("expect", {})}
        error: str | None = None
        try:
            self._act(step)
        except CommandRefused as exc:
            error = str(exc) or type(exc).__name__
        if "error" in expect:
            if error is None:
                raise StepFailed(f"expected the action to be refused ({expect['error']})")
        elif error is not None:
            raise StepFailed(f"refused: {error}")
        for key, value in expect.items():
            if key != "error":
                self._check(key, value)

    def _act(self, step: dict[str, Any]) -> None:
        action = step["action"]
        target = step.get("target", "")
        if action == "start_case":
            self.state, _ = self.engine.start(self.now, step.get("variables") or {})
            return
        if self.state is None:
            raise StepFailed("the case was not started")
        command: commands.Command
        if action == "complete":
            command = commands.CompletePlanItem(target)
        elif action == "occur":
            command = commands.OccurEvent(target)
        elif action == "manual_start":
            command = commands.ManualStart(target)
        elif action == "disable":
            command = commands.DisablePlanItem(target)
        elif action == "reenable":
            command = commands.ReenablePlanItem(target)
        elif action == "complete_stage":
            command = commands.CompleteStage(target)
        elif action == "exit":
            command = commands.ExitPlanItem(target)
        elif action == "set_variables":
            command = commands.SetVariables(dict(step.get("variables") or {}))
        elif action == "advance_time":
            self.now = parse_duration(step["duration"]).add_to(self.now)
            command = commands.FireDueTimers()
        elif action == "terminate_case":
            command = commands.TerminateCase()
        elif action == "plan":
            command = commands.PlanDiscretionaryItem(target, step.get("stage"))
        else:
            raise StepFailed(f"unknown action {action!r}")
        self.state, _ = self.engine.apply(self.state, command, self.now)

    # -- expectations --------------------------------------------------------------------
    def _live(self) -> dict[str, list[str]]:
        assert self.state is not None
        live: dict[str, list[str]] = {}
        for inst in self.state.live_instances():
            live.setdefault(self._ref(inst.item_id), []).append(inst.state.value)
        return live

    def _ref(self, item_id: str) -> str:
        """The id a model's author gave the item (a reused stage's copies are renamed)."""
        spec = self.engine.compiled.specs[item_id]
        return dict(spec.item.extensions).get(REF_EXTENSION, item_id)

    def _check(self, key: str, expected: Any) -> None:
        state = self.state
        if state is None:
            raise StepFailed("no case")
        if key == "case":
            status = state.status
            ok = (
                status in (CaseState.COMPLETED, CaseState.TERMINATED)
                if expected == "ended"
                else status is not None and status.value == expected
            )
            if not ok:
                raise StepFailed(f"case is {status}, expected {expected}")
        elif key in ("live", "live_subset"):
            live = self._live()
            if key == "live" and set(live) != set(expected):
                raise StepFailed(f"live items {_fmt(live)}, expected {_fmt(expected)}")
            for item_id, states in expected.items():
                want = [states] if isinstance(states, str) else list(states)
                got = live.get(item_id, [])
                if sorted(got) != sorted(want):
                    raise StepFailed(f"{item_id} is {got or 'not live'}, expected {want}")
        elif key == "absent":
            live = self._live()
            present = [i for i in expected if i in live]
            if present:
                raise StepFailed(f"expected no live instance of {present}: {_fmt(live)}")
        elif key == "counts":
            counts: dict[str, int] = {}
            for inst in state.live_instances():
                counts[inst.state.value] = counts.get(inst.state.value, 0) + 1
            for name, n in expected.items():
                if counts.get(name, 0) != n:
                    raise StepFailed(f"{counts.get(name, 0)} {name}, expected {n}")
        elif key == "tasks":
            compiled = self.engine.compiled
            names = sorted(
                compiled.spec(i.item_id).item.name
                for i in state.live_instances()
                if i.state.value == "active"
                and compiled.spec(i.item_id).kind is PlanItemKind.HUMAN_TASK
            )
            if names != sorted(expected):
                raise StepFailed(f"tasks {names}, expected {sorted(expected)}")
        elif key == "milestones_reached":
            if sorted(state.milestones) != sorted(expected):
                raise StepFailed(f"milestones {list(state.milestones)}, expected {expected}")
        elif key == "completable":
            for stage, want_completable in expected.items():
                completable = self.engine.completable(state, stage)
                if completable != want_completable:
                    raise StepFailed(
                        f"{stage} completable is {completable}, expected {want_completable}"
                    )
        elif key == "discretionary":
            for owner, want in expected.items():
                got = self.engine.plannable(state, owner)
                if got != sorted(want):
                    raise StepFailed(f"plannable in {owner}: {got}, expected {sorted(want)}")
        else:
            raise StepFailed(f"unknown expectation {key!r}")


def _fmt(live: dict[str, Any]) -> str:
    return json.dumps(live, sort_keys=True)


def run_all(paths: Iterable[Path], root: Path | None) -> list[Outcome]:
    outcomes = []
    for path in find_scenarios(paths):
        outcomes.append(run_scenario(path, root or default_root(path.parent)))
    return outcomes
