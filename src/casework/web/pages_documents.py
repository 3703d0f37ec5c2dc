"""Adding a document to a case from its page: the API's upload (streamed, size-limited,
type checked by content, nothing stored when refused), from a form.

The form's fields come before its file (`csrf_token`, then `name`): the token is checked
when the upload reaches the file, before a byte of it is stored, unless htmx sent it as
a header already.
"""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from casework.server.deps import Db, Now
from casework.server.routes_documents import Storage
from casework.server.uploads import MultipartUpload, receiver, run_upload
from casework.services import credentials, documents
from casework.services.documents import UploadInfo
from casework.services.errors import NotFound, ServiceError
from casework.web.pages_case_actions import CaseId, refused_page
from casework.web.session import CSRF_FIELD, PageCaller, PageCsrfFailed, SignedIn

router = APIRouter(include_in_schema=False)


class _CsrfChecked:
    """The upload, refused at its start unless the form's token is the session's."""

    def __init__(self, upload: MultipartUpload, page: PageCaller, checked: bool) -> None:
        self._upload = upload
        self._page = page
        self._checked = checked

    def start(self) -> UploadInfo:
        info = self._upload.start()
        if not self._checked and not credentials.csrf_matches(
            self._page.session_secret, self._upload.field(CSRF_FIELD)
        ):
            raise PageCsrfFailed("the form is out of date or not from this site: reload the page")
        return info

    def read(self, size: int = -1, /) -> bytes:
        return self._upload.read(size)


@router.post("/cases/{case_id}/documents")
async def upload_document(
    request: Request, case_id: CaseId, page: SignedIn, db: Db, now: Now, storage: Storage
) -> Response:
    header = request.headers.get("x-csrf-token")
    if header is not None and not credentials.csrf_matches(page.session_secret, header):
        raise PageCsrfFailed("the form is out of date or not from this site: reload the page")
    upload = MultipartUpload(
        request.headers,
        receiver(request),
        max_bytes=storage.max_upload_bytes,
        fields=frozenset({CSRF_FIELD, "name"}),
    )
    call = partial(
        documents.add_document,
        db,
        storage.store,
        actor=page.actor,
        case_id=case_id,
        upload=_CsrfChecked(upload, page, checked=header is not None),
        now=now,
        max_bytes=storage.max_upload_bytes,
    )
    try:
        await run_upload(call)
    except (NotFound, PageCsrfFailed):
        raise
    except ServiceError as exc:
        return await run_in_threadpool(refused_page, request, db, page.actor, case_id, exc)
    return RedirectResponse(f"/cases/{case_id}?done=uploaded", status_code=303)
