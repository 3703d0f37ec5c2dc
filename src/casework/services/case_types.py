"""Deploying case types and finding the engine for a case's type version."""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from casework.engine import CaseEngine
from casework.engine.walk import find_loop
from casework.expressions.errors import ExpressionError
from casework.model.definitions import CaseDefinition, Dialect
from casework.model.errors import ModelError
from casework.services.access import require_case_type_deployer
from casework.services.actors import Actor
from casework.services.errors import Conflict, InvalidInput, NotFound
from casework.store.direct import DirectQuery
from casework.store.tables import CaseTypeVersion


@dataclass(frozen=True, slots=True)
class Deployed:
    type_id: str
    version: int
    name: str
    created: bool  # False when the same source was already the newest version


def parse_source(
    source: str, fmt: str | None = None, dialect: str | None = None, *, check: bool = True
) -> list[CaseDefinition]:
    """YAML or CMMN XML text to definitions; ModelError (one line) when it is not valid
    or loops forever (`loop_problem`).

    Without `check`, for a version already deployed: it was valid when it was deployed,
    and a check added since must not stop the cases running on it."""
    fmt = fmt or ("cmmn" if source.lstrip().startswith("<") else "yaml")
    if fmt == "yaml":
        from casework.model.yaml_loader import load_yaml

        definitions = [load_yaml(source, source="case type", check=check)]
        if check:
            check_loops(definitions)
        return definitions
    if fmt == "cmmn":
        from casework.model.cmmn_import import import_cmmn
        from casework.model.validate import check_definition

        definitions = import_cmmn(source, dialect=Dialect(dialect or "flowable"))
        for definition in definitions if check else ():
            check_definition(definition)
        if check:
            check_loops(definitions)
        return definitions
    raise InvalidInput(f"unknown case type format {fmt!r}: use yaml or cmmn", field="format")


# When a walk through a new case type starts (`engine.walk`): any time does, the engine
# never reads the clock and timers count from it.
WALK_FROM = datetime(2026, 1, 1, tzinfo=UTC)


def loop_problem(definition: CaseDefinition) -> str | None:
    """Why `definition` would loop forever on the first path a case takes (opening it
    and doing its work in order), or None. Checked before a deploy."""
    try:
        engine = CaseEngine(definition)
    except (ExpressionError, ModelError):
        return None  # the engine will say what it cannot run when a case gets there
    loop = find_loop(engine, WALK_FROM)
    return None if loop is None else f"case type '{definition.id}': {loop}"


def check_loops(definitions: list[CaseDefinition]) -> None:
    """ModelError for the first definition that loops (`loop_problem`)."""
    for definition in definitions:
        problem = loop_problem(definition)
        if problem is not None:
            raise ModelError(problem)


def deploy(
    db: sessionmaker[Session],
    *,
    actor: Actor,
    source: str,
    now: datetime,
    fmt: str | None = None,
    dialect: str | None = None,
) -> list[Deployed]:
    """Store a new version of each case type in `source`; new cases use the newest."""
    require_case_type_deployer(actor)
    fmt = fmt or ("cmmn" if source.lstrip().startswith("<") else "yaml")
    try:
        definitions = parse_source(source, fmt, dialect)
    except ModelError as exc:
        raise InvalidInput(str(exc), field="source") from None
    for _attempt in range(_DEPLOY_ATTEMPTS):
        try:
            return _store(db, actor, source, fmt, definitions, now)
        except IntegrityError:
            # Another deploy of the type committed its next version first (several
            # servers starting at once, two pipelines): store after it, or find the same
            # source stored and say so.
            continue
    names = ", ".join(d.id for d in definitions)
    raise Conflict(
        f"{names}: other deploys got in first {_DEPLOY_ATTEMPTS} times in a row; try again"
    )


_DEPLOY_ATTEMPTS = 5


def _store(
    db: sessionmaker[Session],
    actor: Actor,
    source: str,
    fmt: str,
    definitions: list[CaseDefinition],
    now: datetime,
) -> list[Deployed]:
    out: list[Deployed] = []
    with db.begin() as session:
        for definition in definitions:
            latest = _latest_row(session, definition.id)
            if latest is not None and latest.source == source:
                out.append(Deployed(definition.id, latest.version, latest.name, False))
                continue
            version = (latest.version if latest else 0) + 1
            session.add(
                CaseTypeVersion(
                    type_id=definition.id,
                    version=version,
                    name=definition.name,
                    source_format=fmt,
                    dialect=definition.dialect.value,
                    source=source,
                    deployed_at=now,
                    deployed_by=actor.id,
                )
            )
            out.append(Deployed(definition.id, version, definition.name, True))
    return out


def _latest_row(session: Session, type_id: str) -> CaseTypeVersion | None:
    return session.scalars(
        select(CaseTypeVersion)
        .where(CaseTypeVersion.type_id == type_id)
        .order_by(CaseTypeVersion.version.desc())
        .limit(1)
    ).first()


_LATEST = select(func.max(CaseTypeVersion.version).label("version")).where(
    CaseTypeVersion.type_id == bindparam("b_type")
)
_LATEST_DIRECT = DirectQuery(_LATEST)  # every opened case asks


def latest_version(session: Session | Connection, type_id: str) -> int:
    if isinstance(session, Connection):
        row = _LATEST_DIRECT.first(session, {"b_type": type_id})
        version = None if row is None else row.version
    else:
        version = session.execute(_LATEST, {"b_type": type_id}).scalar()
    if version is None:
        raise NotFound(f"no case type {type_id!r} is deployed", field="type")
    return int(version)


def list_versions(session: Session) -> list[CaseTypeVersion]:
    return list(
        session.scalars(
            select(CaseTypeVersion).order_by(CaseTypeVersion.type_id, CaseTypeVersion.version)
        )
    )


# Compiled engines per database and (type, version): versions never change once deployed,
# so an engine compiled once serves every case of that version in this process.
_ENGINES: weakref.WeakKeyDictionary[Engine, dict[tuple[str, int], CaseEngine]] = (
    weakref.WeakKeyDictionary()
)


def engine_for(session: Session | Connection, type_id: str, version: int) -> CaseEngine:
    if isinstance(session, Connection):
        bind: object = session.engine
    else:
        bind = session.get_bind()
    assert isinstance(bind, Engine)
    cache = _ENGINES.get(bind)
    if cache is None:
        cache = _ENGINES.setdefault(bind, {})
    engine = cache.get((type_id, version))
    if engine is None:
        row = session.execute(
            select(
                CaseTypeVersion.source, CaseTypeVersion.source_format, CaseTypeVersion.dialect
            ).where(CaseTypeVersion.type_id == type_id, CaseTypeVersion.version == version)
        ).first()
        if row is None:
            raise NotFound(f"case type {type_id!r} version {version} is not deployed")
        definitions = parse_source(row.source, row.source_format, row.dialect, check=False)
        definition = next(d for d in definitions if d.id == type_id)
        engine = CaseEngine(_with_version(definition, version))
        cache[(type_id, version)] = engine
    return engine


def _with_version(definition: CaseDefinition, version: int) -> CaseDefinition:
    from dataclasses import replace

    return replace(definition, version=version)
