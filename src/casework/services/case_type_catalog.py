"""Deployed case types as clients see them: the newest version of each, one version, the
version history; checking a source without deploying it, and deploying after the check.

Every signed-in person may read case types: opening a case needs its case file schema
and roles. The source text (decision tables may hold thresholds worth keeping to
themselves) is shown only to those who may deploy (`access.may_deploy_case_types`).
Definitions come from `case_types.engine_for`, which parses a version once per process.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from casework.model.definitions import CaseDefinition, Dialect, PlanItem
from casework.model.errors import ModelError
from casework.services import case_types
from casework.services.access import (
    definition_roles,
    may_deploy_case_types,
    require_case_type_deployer,
)
from casework.services.actors import Actor
from casework.services.case_types import Deployed, engine_for
from casework.services.errors import InvalidInput, NotFound
from casework.services.identity import aware
from casework.store.tables import CaseTypeVersion

FORMATS = ("yaml", "cmmn")


@dataclass(frozen=True, slots=True)
class RoleInfo:
    name: str
    description: str | None


@dataclass(frozen=True, slots=True)
class OutlineItem:
    """One item of a case type's plan, for a client to show the plan before a case runs."""

    id: str
    name: str
    kind: str
    role: str | None
    discretionary: bool
    children: tuple[OutlineItem, ...]


@dataclass(frozen=True, slots=True)
class CaseTypeInfo:
    id: str
    name: str
    version: int
    description: str | None
    format: str
    dialect: str
    deployed_at: datetime
    deployed_by: str
    roles: tuple[RoleInfo, ...]
    case_file_schema: dict[str, Any]
    plan: OutlineItem
    source: str | None  # for deployers only


@dataclass(frozen=True, slots=True)
class VersionInfo:
    version: int
    name: str
    format: str
    dialect: str
    deployed_at: datetime
    deployed_by: str


@dataclass(frozen=True, slots=True)
class SourceProblem:
    message: str
    line: int | None
    column: int | None


@dataclass(frozen=True, slots=True)
class CaseTypeRef:
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class SourceCheck:
    valid: bool
    problems: tuple[SourceProblem, ...]
    case_types: tuple[CaseTypeRef, ...]  # what a deploy would store (when valid)


class CaseTypeInvalid(InvalidInput):
    """A source that does not load; `problems` says where (the API lists them)."""

    def __init__(self, problems: tuple[SourceProblem, ...]) -> None:
        first = problems[0]
        where = f"line {first.line}: " if first.line is not None else ""
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"{where}{first.message}{more}", field="source")
        self.problems = problems


# --- reading -----------------------------------------------------------------------------


def list_case_types(session: Session, *, actor: Actor) -> list[CaseTypeInfo]:
    """The newest version of every deployed case type, by id."""
    newest = (
        select(CaseTypeVersion.type_id, func.max(CaseTypeVersion.version).label("version"))
        .group_by(CaseTypeVersion.type_id)
        .subquery()
    )
    rows = session.scalars(
        select(CaseTypeVersion)
        .join(
            newest,
            (CaseTypeVersion.type_id == newest.c.type_id)
            & (CaseTypeVersion.version == newest.c.version),
        )
        .order_by(CaseTypeVersion.type_id)
    ).all()
    return [_info(session, row, with_source=may_deploy_case_types(actor)) for row in rows]


def get_case_type(
    session: Session, *, actor: Actor, type_id: str, version: int | None = None
) -> CaseTypeInfo:
    """One version of a case type (default: the newest)."""
    query = select(CaseTypeVersion).where(CaseTypeVersion.type_id == type_id)
    if version is not None:
        query = query.where(CaseTypeVersion.version == version)
    row = session.scalars(query.order_by(CaseTypeVersion.version.desc()).limit(1)).first()
    if row is None:
        which = f" version {version}" if version is not None else ""
        raise NotFound(f"no case type {type_id!r}{which} is deployed")
    return _info(session, row, with_source=may_deploy_case_types(actor))


def versions_of(session: Session, type_id: str) -> list[VersionInfo]:
    """Every deployed version of a case type, oldest first."""
    rows = session.scalars(
        select(CaseTypeVersion)
        .where(CaseTypeVersion.type_id == type_id)
        .order_by(CaseTypeVersion.version)
    ).all()
    if not rows:
        raise NotFound(f"no case type {type_id!r} is deployed")
    return [
        VersionInfo(
            version=r.version,
            name=r.name,
            format=r.source_format,
            dialect=r.dialect,
            deployed_at=aware(r.deployed_at),
            deployed_by=r.deployed_by,
        )
        for r in rows
    ]


def _info(session: Session, row: CaseTypeVersion, *, with_source: bool) -> CaseTypeInfo:
    definition = engine_for(session, row.type_id, row.version).definition
    return CaseTypeInfo(
        id=row.type_id,
        name=definition.name,
        version=row.version,
        description=definition.description,
        format=row.source_format,
        dialect=row.dialect,
        deployed_at=aware(row.deployed_at),
        deployed_by=row.deployed_by,
        roles=roles_of(definition),
        case_file_schema=definition.json_schema(),
        plan=_outline(definition.plan_model, discretionary=False),
        source=row.source if with_source else None,
    )


def roles_of(definition: CaseDefinition) -> tuple[RoleInfo, ...]:
    """The declared roles with their descriptions, then any other role the plan names
    (a case type without a `roles:` list may name them on tasks only): every role that
    lets its holders see the cases."""
    declared = [RoleInfo(r.name, r.description) for r in definition.roles]
    known = {r.name for r in declared}
    named = sorted(definition_roles(definition) - known)
    return (*declared, *(RoleInfo(name, None) for name in named))


def _outline(item: PlanItem, *, discretionary: bool) -> OutlineItem:
    children = [_outline(child, discretionary=False) for child in item.children]
    if item.planning_table is not None:
        children += [_outline(d, discretionary=True) for d in item.planning_table.items]
    return OutlineItem(
        id=item.id,
        name=item.name,
        kind=item.kind.value,
        role=item.role,
        discretionary=discretionary,
        children=tuple(children),
    )


# --- checking and deploying --------------------------------------------------------------


def check_source(source: str, fmt: str | None = None, dialect: str | None = None) -> SourceCheck:
    """Whether `source` would deploy, and every problem found (with line and column where
    the reader knows them): YAML reports all validation problems; CMMN XML its first
    reading problem, else every validation problem of each case in it."""
    fmt = _format(source, fmt)
    problems: list[SourceProblem] = []
    found: list[CaseTypeRef] = []
    definitions: list[CaseDefinition] = []
    if fmt == "yaml":
        from casework.model.yaml_loader import load_yaml, yaml_problems

        problems = [_problem(e) for e in yaml_problems(source)]
        if not problems:
            definitions = [load_yaml(source)]
            found += [CaseTypeRef(d.id, d.name) for d in definitions]
    else:
        from casework.model.cmmn_import import import_cmmn
        from casework.model.validate import validate_definition

        try:
            definitions = import_cmmn(source, dialect=_dialect(dialect))
        except ModelError as exc:
            definitions = []
            problems.append(_problem(exc))
        for definition in definitions:
            errors = validate_definition(definition)
            problems += [
                SourceProblem(f"case type '{definition.id}': {e.message}", e.line, e.column)
                for e in errors
            ]
            found.append(CaseTypeRef(definition.id, definition.name))
    if not problems:
        # Whether it would loop forever on the first path a case takes, as a deploy asks.
        problems = [
            SourceProblem(problem, None, None)
            for problem in map(case_types.loop_problem, definitions)
            if problem is not None
        ]
    valid = not problems
    return SourceCheck(valid, tuple(problems), tuple(found) if valid else ())


def deploy(
    db: sessionmaker[Session],
    *,
    actor: Actor,
    source: str,
    now: datetime,
    fmt: str | None = None,
    dialect: str | None = None,
) -> list[Deployed]:
    """`case_types.deploy` after the permission check and a check that lists every
    problem of the source (CaseTypeInvalid) rather than the first."""
    require_case_type_deployer(actor)
    fmt = _format(source, fmt)
    if fmt == "cmmn":
        dialect = _dialect(dialect).value
    checked = check_source(source, fmt, dialect)
    if not checked.valid:
        raise CaseTypeInvalid(checked.problems)
    return case_types.deploy(db, actor=actor, source=source, now=now, fmt=fmt, dialect=dialect)


def _format(source: str, fmt: str | None) -> str:
    if fmt is None:
        return "cmmn" if source.lstrip().startswith("<") else "yaml"
    if fmt not in FORMATS:
        raise InvalidInput(f"format must be one of: {', '.join(FORMATS)}", field="format")
    return fmt


def _dialect(dialect: str | None) -> Dialect:
    try:
        return Dialect(dialect or Dialect.FLOWABLE.value)
    except ValueError:
        allowed = ", ".join(d.value for d in Dialect)
        raise InvalidInput(f"dialect must be one of: {allowed}", field="dialect") from None


def _problem(error: ModelError) -> SourceProblem:
    return SourceProblem(error.message, error.line, error.column)
