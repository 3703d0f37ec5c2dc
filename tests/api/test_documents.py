"""Case documents through the API, on SQLite and PostgreSQL: uploads streamed and
checked, downloads with ranges and safe headers, the bin, and who may do what."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker
from starlette.datastructures import Headers
from tests.api.support import bearer, login, problem, token_for
from tests.people import NOW, make_user

from casework.blobs import DocumentStorage, FilesystemBlobStore
from casework.server.routes_documents import byte_range, content_disposition
from casework.server.uploads import OVERHEAD, MultipartUpload
from casework.services import audit, case_types, cases
from casework.services.actors import SYSTEM
from casework.services.errors import InvalidInput, TooLarge, UnsupportedType

CLAIM = """
id: claim
name: Claim
roles: [handler]
plan:
  items:
    - task: Assess
      role: handler
"""
LIMIT = 100_000
PDF = b"%PDF-1.7\n" + bytes(range(256)) * 100
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 500


@pytest.fixture
def blobs(app: FastAPI, tmp_path: Path) -> Path:
    root = tmp_path / "blobs"
    app.state.casework_documents = DocumentStorage(
        FilesystemBlobStore(root), max_upload_bytes=LIMIT
    )
    return root


@pytest.fixture
def case(db: sessionmaker[Session], ann: dict[str, str], blobs: Path) -> str:
    """A case of team north (ann's), owned by olga; nina sees nothing of it."""
    make_user(db, "olga")
    make_user(db, "nina", teams=("south",))
    case_types.deploy(db, actor=SYSTEM, source=CLAIM, now=NOW)
    return cases.open_case(
        db, actor=SYSTEM, type_id="claim", team="north", owner="olga", now=NOW
    ).case_id


@pytest.fixture
def olga(db: sessionmaker[Session], case: str) -> dict[str, str]:
    return bearer(token_for(db, "olga"))


@pytest.fixture
def nina(db: sessionmaker[Session], case: str) -> dict[str, str]:
    return bearer(token_for(db, "nina"))


def files_in(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def upload(
    client: TestClient,
    case: str,
    headers: dict[str, str],
    data: bytes = PDF,
    *,
    file_name: str = "report.pdf",
    media_type: str = "application/pdf",
    name: str | None = None,
) -> Any:
    fields = {"name": name} if name is not None else None
    return client.post(
        f"/api/v1/cases/{case}/documents",
        files={"file": (file_name, data, media_type)},
        data=fields,
        headers=headers,
    )


def created(response: Any) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


# --- uploads -----------------------------------------------------------------------------


def test_upload_and_read_it_back(
    client: TestClient, case: str, ann: dict[str, str], db: sessionmaker[Session], blobs: Path
) -> None:
    response = upload(client, case, ann, name="Police report")
    doc = created(response)
    assert response.headers["location"] == f"/api/v1/cases/{case}/documents/{doc['id']}"
    assert doc["name"] == "Police report" and doc["case_id"] == case
    assert doc["current"] == {
        "version": 1,
        "file_name": "report.pdf",
        "media_type": "application/pdf",
        "size": len(PDF),
        "sha256": hashlib.sha256(PDF).hexdigest(),
        "uploaded_by": "ann",
        "uploaded_at": "2026-03-02T09:00:00Z",
    }
    assert "blob_key" not in response.text and len(files_in(blobs)) == 1

    listed = client.get(f"/api/v1/cases/{case}/documents", headers=ann).json()["items"]
    assert [d["id"] for d in listed] == [doc["id"]]
    detail = client.get(f"/api/v1/cases/{case}/documents/{doc['id']}", headers=ann).json()
    assert [v["version"] for v in detail["versions"]] == [1]

    with db() as session:
        log = cases.events_of(session, case)
        assert log[-1].type == "DocumentAdded" and log[-1].payload["size"] == len(PDF)
        assert audit.verify_all(session) == []


def test_a_new_version(client: TestClient, case: str, ann: dict[str, str]) -> None:
    doc = created(upload(client, case, ann))
    url = f"/api/v1/cases/{case}/documents/{doc['id']}"
    response = client.post(
        f"{url}/versions", files={"file": ("scan.png", PNG, "image/png")}, headers=ann
    )
    second = created(response)
    assert response.headers["location"] == f"{url}/versions/2/content"
    assert second["current_version"] == 2 and second["current"]["media_type"] == "image/png"
    assert client.get(f"{url}/content", headers=ann).content == PNG
    assert client.get(f"{url}/versions/1/content", headers=ann).content == PDF
    problem(client.get(f"{url}/versions/3/content", headers=ann), 404, "not-found")
    detail = client.get(url, headers=ann).json()
    assert [v["file_name"] for v in detail["versions"]] == ["report.pdf", "scan.png"]
    # A version has no name of its own: a `name` field is refused.
    response = client.post(
        f"{url}/versions",
        files={"file": ("x.pdf", PDF, "application/pdf")},
        data={"name": "new"},
        headers=ann,
    )
    assert problem(response, 422, "validation")["errors"][0]["field"] == "name"


def test_the_type_comes_from_the_bytes(client: TestClient, case: str, ann: dict[str, str]) -> None:
    doc = created(upload(client, case, ann, file_name="photo.png", media_type="image/png"))
    assert doc["current"]["media_type"] == "application/pdf"
    assert doc["current"]["file_name"] == "photo.png.pdf"


@pytest.mark.parametrize(
    ("data", "file_name"),
    [
        (b"MZ\x90\x00" + b"\x00" * 100, "setup.exe"),
        (b"<html><script>alert(document.cookie)</script></html>", "page.html"),
        (b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "logo.svg"),
    ],
)
def test_refused_types_are_415_and_leave_nothing(
    client: TestClient, case: str, ann: dict[str, str], blobs: Path, data: bytes, file_name: str
) -> None:
    response = upload(client, case, ann, data, file_name=file_name, media_type="application/pdf")
    body = problem(response, 415, "unsupported-media-type")
    assert body["errors"] == [
        {"field": "file", "pointer": "#/file", "location": "body", "detail": body["detail"]}
    ]
    assert files_in(blobs) == []
    assert client.get(f"/api/v1/cases/{case}/documents", headers=ann).json()["items"] == []


def test_oversized_uploads_are_413_and_leave_nothing(
    client: TestClient, case: str, ann: dict[str, str], blobs: Path
) -> None:
    just_over = b"%PDF-1.7\n" + b"x" * (LIMIT - 8)  # found out while streaming
    far_over = b"%PDF-1.7\n" + b"x" * (LIMIT + OVERHEAD)  # refused by Content-Length
    for data in (just_over, far_over):
        body = problem(upload(client, case, ann, data), 413, "too-large")
        assert body["errors"][0]["field"] == "file" and "100000 bytes" in body["detail"]
    assert files_in(blobs) == []
    assert client.get(f"/api/v1/cases/{case}/documents", headers=ann).json()["items"] == []
    created(upload(client, case, ann, b"%PDF-1.7\n" + b"x" * (LIMIT - 9)))


def test_a_store_that_cannot_take_files_is_503_and_keeps_nothing(
    client: TestClient, case: str, ann: dict[str, str], blobs: Path, caplog: Any
) -> None:
    blobs.mkdir(exist_ok=True)
    # Every first-level shard name taken by a file: no blob directory can be made (as
    # with a full or read-only disk, the store fails and the upload is not the cause).
    blockers = [blobs / f"{n:02x}" for n in range(256)]
    for path in blockers:
        path.write_bytes(b"")
    caplog.set_level("INFO")
    body = problem(upload(client, case, ann), 503, "storage-unavailable")
    assert "try again" in body["detail"]
    assert client.get(f"/api/v1/cases/{case}/documents", headers=ann).json()["items"] == []
    assert sorted(files_in(blobs)) == sorted(blockers)
    [line] = [r for r in caplog.records if r.name == "casework.server.error"]
    assert line.getMessage() == "document store unavailable: Not a directory"
    assert line.exc_info is None and str(blobs) not in caplog.text

    for path in blockers:
        path.unlink()
    doc = created(upload(client, case, ann))
    shard = next(p for p in blobs.iterdir() if p.is_dir())
    # Now the stored blob cannot be read (its file became a directory): 503 again.
    (blob,) = files_in(shard)
    blob.unlink()
    blob.mkdir()
    url = f"/api/v1/cases/{case}/documents/{doc['id']}/content"
    response = client.get(url, headers=ann)
    assert problem(response, 503, "storage-unavailable") and response.headers["retry-after"] == "30"


def test_malformed_uploads(client: TestClient, case: str, ann: dict[str, str], blobs: Path) -> None:
    url = f"/api/v1/cases/{case}/documents"
    problem(client.post(url, json={"file": "x"}, headers=ann), 415, "unsupported-media-type")
    response = client.post(url, files={"other": ("a.pdf", PDF, "application/pdf")}, headers=ann)
    assert problem(response, 422, "validation")["errors"][0]["field"] == "other"
    response = client.post(url, data={"name": "a form, not multipart"}, headers=ann)
    problem(response, 415, "unsupported-media-type")
    no_file = b'--XyZ\r\nContent-Disposition: form-data; name="name"\r\n\r\nx\r\n--XyZ--\r\n'
    headers = {**ann, "Content-Type": "multipart/form-data; boundary=XyZ"}
    response = client.post(url, content=no_file, headers=headers)
    assert problem(response, 422, "validation")["errors"][0]["field"] == "file"
    body = (
        b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.pdf"\r\n'
        b"Content-Type: application/pdf\r\n\r\n" + PDF + b"\r\n--XyZ\r\n"
        b'Content-Disposition: form-data; name="name"\r\n\r\nlate\r\n--XyZ--\r\n'
    )
    response = client.post(url, content=body, headers=headers)
    assert problem(response, 422, "validation")["errors"][0]["field"] == "name"
    truncated = body[: body.index(PDF) + 100]
    response = client.post(url, content=truncated, headers=headers)
    assert "ended before the file" in problem(response, 422, "validation")["detail"]
    assert files_in(blobs) == []


def test_idempotency_key(client: TestClient, case: str, ann: dict[str, str], blobs: Path) -> None:
    headers = {**ann, "Idempotency-Key": "upload-1"}
    first = created(upload(client, case, headers))
    again = created(upload(client, case, headers))
    assert again == first and len(files_in(blobs)) == 1
    response = upload(client, case, headers, PNG, file_name="x.png", media_type="image/png")
    assert problem(response, 422, "validation")["errors"][0]["location"] == "header"
    assert len(files_in(blobs)) == 1


def test_cookie_uploads_need_the_csrf_token(
    client: TestClient, case: str, ann: dict[str, str]
) -> None:
    csrf = login(client)
    problem(upload(client, case, {}), 403, "csrf-failed")
    created(upload(client, case, {"X-CSRF-Token": csrf}))


# --- downloads ---------------------------------------------------------------------------


def test_download_headers(client: TestClient, case: str, ann: dict[str, str]) -> None:
    doc = created(upload(client, case, ann, file_name="Straße ☃.pdf"))
    response = client.get(f"/api/v1/cases/{case}/documents/{doc['id']}/content", headers=ann)
    assert response.status_code == 200 and response.content == PDF
    h = response.headers
    assert h["content-type"] == "application/pdf"
    assert h["content-length"] == str(len(PDF))
    assert h["etag"] == f'"{hashlib.sha256(PDF).hexdigest()}"'
    assert h["accept-ranges"] == "bytes"
    assert h["x-content-type-options"] == "nosniff"
    assert h["content-security-policy"] == "default-src 'none'; sandbox"
    assert h["cache-control"] == "no-store"
    assert h["content-disposition"] == (
        "attachment; filename=\"Stra_e _.pdf\"; filename*=UTF-8''Stra%C3%9Fe%20%E2%98%83.pdf"
    )


def test_text_is_served_without_a_guessed_charset(
    client: TestClient, case: str, ann: dict[str, str]
) -> None:
    doc = created(upload(client, case, ann, b"K\xf6ln;12\n", file_name="t.csv", media_type=""))
    response = client.get(f"/api/v1/cases/{case}/documents/{doc['id']}/content", headers=ann)
    assert response.headers["content-type"] == "text/csv"
    assert response.content == b"K\xf6ln;12\n"


def test_ranges(client: TestClient, case: str, ann: dict[str, str]) -> None:
    doc = created(upload(client, case, ann))
    url = f"/api/v1/cases/{case}/documents/{doc['id']}/versions/1/content"
    size = len(PDF)

    def get(range_: str, **extra: str) -> Any:
        return client.get(url, headers={**ann, "Range": range_, **extra})

    for spec, start, end in [
        ("bytes=0-9", 0, 10),
        ("bytes=10-", 10, size),
        ("bytes=-5", size - 5, size),
        (f"bytes=100-{size + 50}", 100, size),
        (f"bytes=-{size + 50}", 0, size),
    ]:
        response = get(spec)
        assert response.status_code == 206, spec
        assert response.content == PDF[start:end]
        assert response.headers["content-range"] == f"bytes {start}-{end - 1}/{size}"
        assert response.headers["content-length"] == str(end - start)
    for ignored in ("bytes=0-1,5-6", "lines=1-2", "bytes=9-2", "bytes=x-"):
        assert get(ignored).status_code == 200 and get(ignored).content == PDF
    assert get("bytes=0-9", **{"If-Range": '"stale"'}).status_code == 200
    assert get("bytes=0-9", **{"If-Range": doc["current"]["sha256"].join('""')}).status_code == 206
    for unsatisfiable in (f"bytes={size}-", "bytes=-0"):
        response = get(unsatisfiable)
        problem(response, 416, "range-not-satisfiable")
        assert response.headers["content-range"] == f"bytes */{size}"


# --- the bin -----------------------------------------------------------------------------


def test_delete_to_the_bin_and_restore(
    client: TestClient, case: str, ann: dict[str, str], olga: dict[str, str], blobs: Path
) -> None:
    doc = created(upload(client, case, ann))
    url = f"/api/v1/cases/{case}/documents/{doc['id']}"
    assert problem(client.delete(url, headers=ann), 403, "forbidden")["detail"].startswith(
        "only the case's owner"
    )
    response = client.delete(url, headers=olga)
    assert response.status_code == 200, response.text
    binned = response.json()
    assert binned["deleted_by"] == "olga" and binned["deleted_at"] == "2026-03-02T09:00:00Z"
    assert binned["retain_until"] == "2026-04-01T09:00:00Z"  # 30 days

    listing = f"/api/v1/cases/{case}/documents"
    assert client.get(listing, headers=ann).json()["items"] == []
    assert [d["id"] for d in client.get(f"{listing}?deleted=true", headers=olga).json()["items"]]
    problem(client.get(f"{listing}?deleted=true", headers=ann), 403, "forbidden")
    problem(client.get(url, headers=ann), 404, "not-found")
    problem(client.get(f"{url}/content", headers=ann), 404, "not-found")
    assert client.get(f"{url}/content", headers=olga).content == PDF
    response = client.post(f"{url}/versions", files={"file": ("a.pdf", PDF)}, headers=olga)
    problem(response, 409, "refused")
    assert len(files_in(blobs)) == 1  # the refused version left nothing

    problem(client.post(f"{url}/restore", headers=ann), 403, "forbidden")
    restored = client.post(f"{url}/restore", headers=olga)
    assert restored.status_code == 200 and restored.json()["deleted_at"] is None
    assert client.get(f"{url}/content", headers=ann).content == PDF


# --- who may -----------------------------------------------------------------------------


def routes(case: str, doc: int) -> list[tuple[str, str, dict[str, Any]]]:
    base = f"/api/v1/cases/{case}/documents"
    pdf = {"files": {"file": ("a.pdf", PDF, "application/pdf")}}
    return [
        ("post", base, pdf),
        ("post", f"{base}/{doc}/versions", pdf),
        ("get", base, {}),
        ("get", f"{base}/{doc}", {}),
        ("get", f"{base}/{doc}/content", {}),
        ("get", f"{base}/{doc}/versions/1/content", {}),
        ("delete", f"{base}/{doc}", {}),
        ("post", f"{base}/{doc}/restore", {}),
    ]


def test_every_route_wants_a_caller_who_may_see_the_case(
    client: TestClient,
    case: str,
    ann: dict[str, str],
    nina: dict[str, str],
    admin: dict[str, str],
    blobs: Path,
) -> None:
    doc = created(upload(client, case, ann))["id"]
    for method, path, kw in routes(case, doc):
        problem(client.request(method, path, **kw), 401, "unauthenticated")
        body = problem(client.request(method, path, headers=nina, **kw), 404, "not-found")
        assert body["detail"] == f"no case {case}"  # the same as a case that does not exist
        problem(
            client.request(method, path.replace(case, "C-NOPE"), headers=admin, **kw),
            404,
            "not-found",
        )
    other = created(upload(client, case, admin))["id"]
    assert other != doc and len(files_in(blobs)) == 2


# --- the pieces --------------------------------------------------------------------------


def chunks_of(body: bytes, size: int) -> Iterator[bytes]:
    for i in range(0, len(body), size):
        yield body[i : i + size]


def multipart(data: bytes, *, name: str | None = "Doc") -> bytes:
    field = (
        f'--B\r\nContent-Disposition: form-data; name="name"\r\n\r\n{name}\r\n'.encode()
        if name
        else b""
    )
    return (
        field + b'--B\r\nContent-Disposition: form-data; name="file"; filename="r\xc3\xa9.pdf"\r\n'
        b"Content-Type: application/pdf\r\n\r\n" + data + b"\r\n--B--\r\n"
    )


def reader(body: bytes, chunk: int, pulled: list[int], limit: int = LIMIT) -> MultipartUpload:
    pieces = chunks_of(body, chunk)

    def receive() -> bytes | None:
        pulled.append(1)
        return next(pieces, None)

    headers = Headers({"content-type": "multipart/form-data; boundary=B"})
    return MultipartUpload(headers, receive, max_bytes=limit, fields=frozenset({"name"}))


@pytest.mark.parametrize("chunk", [1, 7, 4096])
def test_multipart_is_parsed_as_it_arrives(chunk: int) -> None:
    data = PDF * 3
    upload = reader(multipart(data), chunk, [])
    info = upload.start()
    assert (info.name, info.file_name, info.declared_type) == ("Doc", "ré.pdf", "application/pdf")
    out = []
    while piece := upload.read(1000):
        assert len(piece) <= 1000
        out.append(piece)
    assert b"".join(out) == data


def test_multipart_stops_reading_at_the_limit() -> None:
    pulled: list[int] = []
    upload = reader(multipart(b"x" * 10_000_000), 4096, pulled)
    upload.start()
    with pytest.raises(TooLarge):
        while upload.read(65536):
            pass
    # Never much past limit + overhead, out of 10 MB.
    assert len(pulled) * 4096 <= LIMIT + OVERHEAD + 4096


def test_multipart_refusals() -> None:
    json_headers = Headers({"content-type": "application/json"})
    with pytest.raises(UnsupportedType):
        MultipartUpload(json_headers, lambda: None, max_bytes=1).start()
    only_a_field = b'--B\r\nContent-Disposition: form-data; name="name"\r\n\r\nx\r\n--B--\r\n'
    with pytest.raises(InvalidInput, match="no file"):
        reader(only_a_field, 10, []).start()
    unexpected = only_a_field.replace(b'name="name"', b'name="evil"')
    with pytest.raises(InvalidInput, match="unexpected form field 'evil'"):
        reader(unexpected, 10, []).start()
    two_names = only_a_field.replace(b"--B--\r\n", b"") + only_a_field
    with pytest.raises(InvalidInput, match="unexpected form field 'name'"):
        reader(two_names, 10, []).start()


def test_byte_ranges_and_names() -> None:
    assert byte_range(None, 10) is None
    assert byte_range("bytes=2-4", 10) == (2, 5)
    assert byte_range("bytes = 2 - 4", 10) == (2, 5)
    assert content_disposition('a"b\\c%.pdf') == (
        "attachment; filename=\"a_b_c_.pdf\"; filename*=UTF-8''a%22b%5Cc%25.pdf"
    )
