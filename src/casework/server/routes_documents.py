"""A case's documents: upload (multipart, streamed), new versions, lists, downloads (with
byte ranges), delete to the bin and restore. The rules are in `services/documents.py`
and `services/access.py`; a case the caller may not see is a 404 on every route.

Uploads are `async` routes only to reach the request body as a stream: the work runs in
a worker thread (`uploads.run_upload`). Downloads stream the blob in chunks with
`ETag` (the SHA-256), `Content-Length`, `Accept-Ranges` and one `Range: bytes=a-b` at a
time (several ranges get the whole file, as RFC 9110 allows); they are attachments,
with `X-Content-Type-Options: nosniff` (the middleware's) and a sandboxing CSP, so no
browser ever renders an upload as a page of ours.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime
from functools import partial
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session, sessionmaker

from casework.blobs import BlobReader, DocumentStorage
from casework.server.auth import CurrentActor
from casework.server.deps import API_PREFIX, Db, IdempotencyKey, Now, RowId
from casework.server.problems import problem_response, problem_responses
from casework.server.schemas import Items
from casework.server.uploads import MultipartUpload, receiver, run_upload
from casework.services import documents
from casework.services.actors import Actor

BASE = f"{API_PREFIX}/cases/{{case_id}}/documents"
router = APIRouter(prefix=BASE, tags=["documents"], responses=problem_responses(401, 404))

_STORAGE_LOCK = threading.Lock()


def document_storage(request: Request) -> DocumentStorage:
    """The blob store and limits: `app.state.casework_documents`, which `create_app` sets
    from the settings (an embedder or a test may replace it); an app assembled without
    it reads the environment, once."""
    state = request.app.state
    with _STORAGE_LOCK:
        storage = getattr(state, "casework_documents", None)
        if storage is None:
            storage = DocumentStorage.from_env()
            state.casework_documents = storage
    assert isinstance(storage, DocumentStorage)
    return storage


Storage = Annotated[DocumentStorage, Depends(document_storage)]
DocumentId = RowId


class VersionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    version: int
    file_name: str = Field(description="Sanitised; the name the download carries.")
    media_type: str = Field(description="Detected from the content, not the client's word.")
    size: int = Field(description="Bytes.")
    sha256: str = Field(description="Hex; also the download's ETag.")
    uploaded_by: str
    uploaded_at: datetime


class DocumentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    case_id: str
    name: str
    current_version: int
    created_by: str
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None = Field(description="Set while the document is in the bin.")
    deleted_by: str | None
    retain_until: datetime | None = Field(description="When the bin's purge removes it.")
    current: VersionOut


class DocumentDetail(DocumentOut):
    versions: list[VersionOut]


def _multipart_body(with_name: bool) -> dict[str, Any]:
    properties: dict[str, Any] = {"file": {"type": "string", "format": "binary"}}
    if with_name:
        properties = {
            "name": {
                "type": "string",
                "maxLength": 255,
                "description": "The document's name (default: the file's name); before the file.",
            },
            **properties,
        }
    schema = {"type": "object", "required": ["file"], "properties": properties}
    return {
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}
    }


def _upload(request: Request, storage: DocumentStorage, *, with_name: bool) -> MultipartUpload:
    return MultipartUpload(
        request.headers,
        receiver(request),
        max_bytes=storage.max_upload_bytes,
        fields=frozenset({"name"}) if with_name else frozenset(),
    )


# --- uploads -----------------------------------------------------------------------------


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Upload a document (multipart/form-data: `name`?, then `file`)",
    responses=problem_responses(403, 413, 415, 422),
    openapi_extra=_multipart_body(with_name=True),
)
async def upload_document(
    case_id: str,
    request: Request,
    response: Response,
    actor: CurrentActor,
    db: Db,
    now: Now,
    key: IdempotencyKey,
    storage: Storage,
) -> DocumentOut:
    call = partial(
        documents.add_document,
        db,
        storage.store,
        actor=actor,
        case_id=case_id,
        upload=_upload(request, storage, with_name=True),
        now=now,
        max_bytes=storage.max_upload_bytes,
        idempotency_key=key,
    )
    record = await run_upload(call)
    response.headers["Location"] = f"{BASE.format(case_id=quote(case_id))}/{record.id}"
    return DocumentOut.model_validate(record)


@router.post(
    "/{document_id}/versions",
    status_code=status.HTTP_201_CREATED,
    summary="Upload a new version of a document (multipart/form-data: `file`)",
    responses=problem_responses(403, 409, 413, 415, 422),
    openapi_extra=_multipart_body(with_name=False),
)
async def upload_version(
    case_id: str,
    document_id: DocumentId,
    request: Request,
    response: Response,
    actor: CurrentActor,
    db: Db,
    now: Now,
    key: IdempotencyKey,
    storage: Storage,
) -> DocumentOut:
    call = partial(
        documents.add_version,
        db,
        storage.store,
        actor=actor,
        case_id=case_id,
        document_id=document_id,
        upload=_upload(request, storage, with_name=False),
        now=now,
        max_bytes=storage.max_upload_bytes,
        idempotency_key=key,
    )
    record = await run_upload(call)
    response.headers["Location"] = (
        f"{BASE.format(case_id=quote(case_id))}/{record.id}/versions/{record.current_version}"
        "/content"
    )
    return DocumentOut.model_validate(record)


# --- reading -----------------------------------------------------------------------------


@router.get("", summary="The case's documents, with their current versions")
def list_documents(
    case_id: str,
    actor: CurrentActor,
    db: Db,
    deleted: Annotated[
        bool, Query(description="The bin instead (owner, case managers, admins).")
    ] = False,
) -> Items[DocumentOut]:
    with db() as session:
        records = documents.list_documents(session, actor=actor, case_id=case_id, binned=deleted)
    return Items(items=[DocumentOut.model_validate(r) for r in records])


@router.get("/{document_id}", summary="A document and all its versions")
def get_document(
    case_id: str, document_id: DocumentId, actor: CurrentActor, db: Db
) -> DocumentDetail:
    with db() as session:
        record, versions = documents.get_document(
            session, actor=actor, case_id=case_id, document_id=document_id
        )
    return DocumentDetail(
        **DocumentOut.model_validate(record).model_dump(),
        versions=[VersionOut.model_validate(v) for v in versions],
    )


_CONTENT_DOC: dict[int | str, dict[str, Any]] = {
    200: {"description": "The bytes.", "content": {"application/octet-stream": {}}},
    206: {"description": "The requested byte range (`Content-Range`)."},
    **problem_responses(416),
}


@router.get(
    "/{document_id}/content",
    summary="Download the current version",
    response_class=Response,
    responses=_CONTENT_DOC,
)
def download_current(
    case_id: str,
    document_id: DocumentId,
    request: Request,
    actor: CurrentActor,
    db: Db,
    storage: Storage,
) -> Response:
    return _download(request, actor, db, storage, case_id, document_id, None)


@router.get(
    "/{document_id}/versions/{version}/content",
    summary="Download one version",
    response_class=Response,
    responses=_CONTENT_DOC,
)
def download_version(
    case_id: str,
    document_id: DocumentId,
    version: RowId,
    request: Request,
    actor: CurrentActor,
    db: Db,
    storage: Storage,
) -> Response:
    return _download(request, actor, db, storage, case_id, document_id, version)


def _download(
    request: Request,
    actor: Actor,
    db: sessionmaker[Session],
    storage: DocumentStorage,
    case_id: str,
    document_id: int,
    number: int | None,
) -> Response:
    with db() as session:
        found = documents.find_version(
            session, actor=actor, case_id=case_id, document_id=document_id, version=number
        )
    etag = f'"{found.sha256}"'
    headers = {
        "ETag": etag,
        "Accept-Ranges": "bytes",
        "Content-Type": found.media_type,
        "Content-Disposition": content_disposition(found.file_name),
        "Content-Security-Policy": "default-src 'none'; sandbox",
    }
    wanted = request.headers.get("range")
    if_range = request.headers.get("if-range")
    if wanted is not None and if_range is not None and if_range.strip() != etag:
        wanted = None  # the client's copy is of other bytes: send them all
    try:
        span = byte_range(wanted, found.size)
    except Unsatisfiable:
        return problem_response(
            request,
            416,
            "range-not-satisfiable",
            f"the range {wanted} is outside the document's {found.size} bytes",
            headers={"Content-Range": f"bytes */{found.size}"},
        )
    start, end = span or (0, found.size)
    headers["Content-Length"] = str(end - start)
    code = status.HTTP_200_OK
    if span is not None:
        code = status.HTTP_206_PARTIAL_CONTENT
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{found.size}"
    reader = documents.open_version(storage.store, found, start, end)
    return StreamingResponse(_chunks(reader), status_code=code, headers=headers)


def _chunks(reader: BlobReader) -> Iterator[bytes]:
    # Starlette iterates this in a worker thread, and closes it if the client goes away.
    with reader:
        yield from reader


class Unsatisfiable(ValueError):
    pass


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, end exclusive) of a single `bytes=a-b`, `bytes=a-` or `bytes=-n` range;
    None for no range, one we ignore (other units, several ranges, nonsense), per RFC
    9110 §14.2. Unsatisfiable when it starts past the end."""
    if not header:
        return None
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    first, last = first.strip(), last.strip()
    if not dash or not (first.isdigit() or first == "") or not (last.isdigit() or last == ""):
        return None
    if first == "":
        if last == "":
            return None
        suffix = int(last)
        if suffix == 0:
            raise Unsatisfiable(header)
        return max(0, size - suffix), size
    start = int(first)
    if last and int(last) < start:
        return None
    if start >= size:
        raise Unsatisfiable(header)
    end = size if last == "" else min(int(last) + 1, size)
    return start, end


def content_disposition(file_name: str) -> str:
    """`attachment` with the name twice: an ASCII stand-in for old clients and the real
    one RFC 5987-encoded (UTF-8, percent-escaped)."""
    fallback = "".join(ch if " " <= ch <= "~" and ch not in '"\\%' else "_" for ch in file_name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(file_name, safe='')}"


# --- the bin -----------------------------------------------------------------------------


@router.delete(
    "/{document_id}",
    summary="Delete a document to the bin (owner, case managers, admins)",
    responses=problem_responses(403),
)
def delete_document(
    case_id: str, document_id: DocumentId, actor: CurrentActor, db: Db, now: Now, storage: Storage
) -> DocumentOut:
    record = documents.delete_document(
        db,
        actor=actor,
        case_id=case_id,
        document_id=document_id,
        now=now,
        retention=storage.retention,
    )
    return DocumentOut.model_validate(record)


@router.post(
    "/{document_id}/restore",
    summary="Take a document back out of the bin (owner, case managers, admins)",
    responses=problem_responses(403),
)
def restore_document(
    case_id: str, document_id: DocumentId, actor: CurrentActor, db: Db, now: Now
) -> DocumentOut:
    record = documents.restore_document(
        db, actor=actor, case_id=case_id, document_id=document_id, now=now
    )
    return DocumentOut.model_validate(record)
