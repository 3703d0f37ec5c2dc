"""Case types: deploy (admins and `case_type_admin` holders), check a source without
deploying it, and read what is deployed (everyone signed in).

A source comes as the body itself (`application/yaml`, `text/yaml`, `application/xml`,
`text/xml`; `?dialect=` for CMMN XML) or as JSON `{"source", "format"?, "dialect"?}`.
A source that does not load is a 422 listing every problem found with its line and
column (`problems`), beside the usual `errors`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from casework.server.auth import CurrentActor
from casework.server.deps import API_PREFIX, MAX_ID, Db, Now
from casework.server.problems import FieldProblem, problem_response, problem_responses
from casework.server.schemas import Items
from casework.server.schemas_cases import (
    CaseTypeDetail,
    CaseTypeOut,
    CaseTypeSourceIn,
    CaseTypeVersionOut,
    DeployedOut,
    SourceCheckOut,
)
from casework.services import case_type_catalog as catalog
from casework.services.access import require_case_type_deployer
from casework.services.errors import InvalidInput, TooLarge, UnsupportedType

BASE = f"{API_PREFIX}/case-types"
router = APIRouter(prefix=BASE, tags=["case types"], responses=problem_responses(401))

# Far above any real case type (the largest template is ~20 kB), far below a nuisance.
MAX_SOURCE_BYTES = 2 * 1024 * 1024
_RAW_FORMATS = {
    "application/yaml": "yaml",
    "application/x-yaml": "yaml",
    "text/yaml": "yaml",
    "text/x-yaml": "yaml",
    "application/xml": "cmmn",
    "text/xml": "cmmn",
}
Dialect = Annotated[
    Literal["casework", "flowable", "camunda7"] | None,
    Query(description="For a CMMN XML body: casework, flowable (default) or camunda7."),
]
_SOURCE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/yaml": {"schema": {"type": "string"}},
            "application/xml": {"schema": {"type": "string"}},
            "application/json": {"schema": {"$ref": "#/components/schemas/CaseTypeSourceIn"}},
        },
    }
}


class _Source:
    """A source as sent: its text, format, dialect, and whether it came wrapped in JSON."""

    def __init__(self, text: str, fmt: str | None, dialect: str | None, wrapped: bool) -> None:
        self.text, self.format, self.dialect, self.wrapped = text, fmt, dialect, wrapped


async def _read_source(request: Request, dialect: str | None) -> _Source:
    media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_SOURCE_BYTES:
            raise TooLarge(f"a case type source is at most {MAX_SOURCE_BYTES} bytes")
    if media in _RAW_FORMATS:
        try:
            text = bytes(body).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InvalidInput(f"not UTF-8 text (byte {exc.start})", field="source") from None
        return _Source(text, _RAW_FORMATS[media], dialect, wrapped=False)
    if media == "application/json" or media.endswith("+json"):
        try:
            given = CaseTypeSourceIn.model_validate_json(bytes(body))
        except ValidationError as exc:
            errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_input=False)]
            raise RequestValidationError(errors) from None
        return _Source(given.source, given.format, given.dialect, wrapped=True)
    raise UnsupportedType(
        "send the source as application/yaml, application/xml, or JSON "
        '{"source": ..., "format": ...}'
    )


def _invalid(request: Request, exc: catalog.CaseTypeInvalid, source: _Source) -> JSONResponse:
    where = FieldProblem(
        field="source",
        pointer="#/source" if source.wrapped else None,
        location="body",
        detail=exc.message,
    )
    problems = [{"message": p.message, "line": p.line, "column": p.column} for p in exc.problems]
    return problem_response(
        request, 422, "validation", exc.message, errors=[where], extra={"problems": problems}
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Deploy a case type (a new version when the source changed)",
    response_model=Items[DeployedOut],
    responses={
        200: {"description": "This very source is already the newest version."},
        **problem_responses(403, 413, 415, 422),
    },
    openapi_extra=_SOURCE_BODY,
)
async def deploy(
    request: Request,
    response: Response,
    actor: CurrentActor,
    db: Db,
    now: Now,
    dialect: Dialect = None,
) -> Items[DeployedOut] | JSONResponse:
    require_case_type_deployer(actor)  # before reading a body they may not send
    source = await _read_source(request, dialect)
    try:
        deployed = await run_in_threadpool(
            catalog.deploy,
            db,
            actor=actor,
            source=source.text,
            now=now,
            fmt=source.format,
            dialect=source.dialect,
        )
    except catalog.CaseTypeInvalid as exc:
        return _invalid(request, exc, source)
    if not any(d.created for d in deployed):
        response.status_code = status.HTTP_200_OK
    if len(deployed) == 1:
        one = deployed[0]
        response.headers["Location"] = f"{BASE}/{quote(one.type_id)}?version={one.version}"
    return Items(
        items=[
            DeployedOut(id=d.type_id, version=d.version, name=d.name, created=d.created)
            for d in deployed
        ]
    )


@router.post(
    "/validate",
    summary="Check a case type source without deploying it",
    responses=problem_responses(413, 415, 422),
    openapi_extra=_SOURCE_BODY,
)
async def validate(
    request: Request, actor: CurrentActor, dialect: Dialect = None
) -> SourceCheckOut:
    source = await _read_source(request, dialect)
    checked = await run_in_threadpool(
        catalog.check_source, source.text, source.format, source.dialect
    )
    return SourceCheckOut.model_validate(checked)


@router.get("", summary="Every case type: its newest version, roles and case file schema")
def list_case_types(actor: CurrentActor, db: Db) -> Items[CaseTypeOut]:
    with db() as session:
        found = catalog.list_case_types(session, actor=actor)
    return Items(items=[CaseTypeOut.model_validate(t) for t in found])


@router.get(
    "/{type_id}",
    summary="A case type (its newest version, or ?version=N) with its plan",
    responses=problem_responses(404),
)
def get_case_type(
    type_id: str,
    actor: CurrentActor,
    db: Db,
    version: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Default: the newest.")
    ] = None,
) -> CaseTypeDetail:
    with db() as session:
        found = catalog.get_case_type(session, actor=actor, type_id=type_id, version=version)
    return CaseTypeDetail.model_validate(found)


@router.get(
    "/{type_id}/versions",
    summary="Every deployed version of a case type",
    responses=problem_responses(404),
)
def list_versions(
    type_id: Annotated[str, Path()], actor: CurrentActor, db: Db
) -> Items[CaseTypeVersionOut]:
    with db() as session:
        versions = catalog.versions_of(session, type_id)
    return Items(items=[CaseTypeVersionOut.model_validate(v) for v in versions])
