"""Blob stores: the filesystem store (atomic writes, ranges, limits, keys that cannot
escape the root) and the S3 store against moto's in-process S3."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import sys
import time
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from casework.blobs import (
    BlobConfigError,
    BlobFile,
    BlobNotFound,
    BlobStore,
    BlobTooLarge,
    BlobUnavailable,
    DocumentStorage,
    FilesystemBlobStore,
)
from casework.blobs.base import CHUNK

DATA = bytes(range(256)) * 5000  # 1.28 MB: more than one chunk


class Failing(io.RawIOBase):
    """A stream that breaks after `good` bytes, like a client that went away."""

    def __init__(self, good: int) -> None:
        self.left = good

    def read(self, size: int = -1, /) -> bytes:
        if self.left <= 0:
            raise ConnectionResetError("gone")
        n = min(self.left, size if size > 0 else 4096)
        self.left -= n
        return b"x" * n


def files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


@pytest.fixture
def fs(tmp_path: Path) -> FilesystemBlobStore:
    return FilesystemBlobStore(tmp_path / "blobs")


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[BlobStore]:
    moto = pytest.importorskip("moto")
    boto3 = pytest.importorskip("boto3")
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    from casework.blobs.s3 import S3BlobStore

    with moto.mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="docs")
        yield S3BlobStore("docs", "/case-files/", client=client)


@pytest.fixture(params=["fs", "s3"])
def store(request: pytest.FixtureRequest) -> BlobStore:
    chosen: BlobStore = request.getfixturevalue(request.param)
    return chosen


def test_put_and_read_back_with_size_and_hash(store: BlobStore) -> None:
    blob = store.put(io.BytesIO(DATA))
    assert blob.size == len(DATA) and blob.sha256 == hashlib.sha256(DATA).hexdigest()
    assert len(blob.key) == 32 and store.exists(blob.key)
    with store.open(blob.key) as reader:
        assert b"".join(reader) == DATA
    other = store.put(io.BytesIO(DATA))
    assert other.key != blob.key  # random keys: the same bytes twice are two blobs


@pytest.mark.parametrize(
    ("start", "end"),
    [(0, 1), (10, 20), (CHUNK - 5, CHUNK + 5), (len(DATA) - 3, None), (7, 7), (0, None)],
)
def test_ranges(store: BlobStore, start: int, end: int | None) -> None:
    blob = store.put(io.BytesIO(DATA))
    with store.open(blob.key, start, end) as reader:
        assert reader.read() == DATA[start:end]


def test_past_the_end_reads_nothing(store: BlobStore) -> None:
    blob = store.put(io.BytesIO(b"abc"))
    with store.open(blob.key, 10) as reader:
        assert reader.read() == b""


def test_limit_is_enforced_while_reading(store: BlobStore) -> None:
    class Counting(io.BytesIO):
        asked = 0

        def read(self, size: int | None = -1, /) -> bytes:
            data = super().read(size)
            self.asked += len(data)
            return data

    source = Counting(DATA)
    with pytest.raises(BlobTooLarge):
        store.put(source, max_bytes=1000)
    assert source.asked == 1001  # one byte past the limit, not the whole stream
    exact = store.put(io.BytesIO(DATA[:1000]), max_bytes=1000)
    assert exact.size == 1000


def test_delete_and_missing_blobs(store: BlobStore) -> None:
    blob = store.put(io.BytesIO(b"abc"))
    store.delete(blob.key)
    store.delete(blob.key)  # again: fine
    assert not store.exists(blob.key)
    with pytest.raises(BlobNotFound):
        store.open(blob.key)


@pytest.mark.parametrize("key", ["../../etc/passwd", "ab/../../x", "A" * 32, "", "0" * 31])
def test_keys_that_are_not_ours_are_never_paths(store: BlobStore, key: str) -> None:
    assert not store.exists(key)
    with pytest.raises(BlobNotFound):
        store.open(key)
    with pytest.raises(BlobNotFound):
        store.delete(key)


def test_filesystem_layout_and_permissions(fs: FilesystemBlobStore) -> None:
    blob = fs.put(io.BytesIO(b"abc"))
    path = fs.root / blob.key[:2] / blob.key[2:4] / blob.key
    assert path.read_bytes() == b"abc"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # readable by the server only
    assert stat.S_IMODE(path.parent.stat().st_mode) & 0o007 == 0
    assert files_under(fs.root) == [path]


@pytest.mark.parametrize("good", [0, 100, CHUNK + 100])
def test_an_interrupted_write_leaves_nothing(fs: FilesystemBlobStore, good: int) -> None:
    with pytest.raises(ConnectionResetError):
        fs.put(Failing(good))
    assert files_under(fs.root) == []  # no blob, no temporary file


def test_too_large_leaves_nothing(fs: FilesystemBlobStore) -> None:
    with pytest.raises(BlobTooLarge):
        fs.put(io.BytesIO(DATA), max_bytes=CHUNK)
    assert files_under(fs.root) == []


def test_the_blob_appears_only_by_rename(
    fs: FilesystemBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[str, str, bool]] = []
    replace = os.replace

    def watching(src: Any, dst: Any) -> None:
        # At the rename, the data is complete in the temporary file, the target absent.
        seen.append((Path(src).name, Path(dst).name, Path(dst).exists()))
        assert Path(src).read_bytes() == DATA
        replace(src, dst)

    monkeypatch.setattr(os, "replace", watching)
    blob = fs.put(io.BytesIO(DATA))
    [(src, dst, existed)] = seen
    assert src.startswith(".tmp-") and dst == blob.key and not existed


def test_stale_temporary_files_are_swept(fs: FilesystemBlobStore) -> None:
    blob = fs.put(io.BytesIO(b"abc"))
    stale = fs.path(blob.key).parent / ".tmp-crashed"
    stale.write_bytes(b"half")
    fresh = fs.path(blob.key).parent / ".tmp-uploading"
    fresh.write_bytes(b"half")
    old = time.time() - 7200
    os.utime(stale, (old, old))
    assert fs.remove_stale_temporary_files(3600) == 1
    assert not stale.exists() and fresh.exists() and fs.exists(blob.key)
    assert FilesystemBlobStore(fs.root / "absent").remove_stale_temporary_files(0) == 0


def test_a_blob_as_a_seekable_file(store: BlobStore) -> None:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("a.txt", "hello " * 1000)
        z.writestr("b.txt", "world")
    blob = store.put(io.BytesIO(archive.getvalue()))
    with io.BufferedReader(BlobFile(store, blob.key, blob.size)) as file:
        with zipfile.ZipFile(file) as z:
            assert z.read("b.txt") == b"world"
            assert z.read("a.txt") == b"hello " * 1000
        file.seek(-5, io.SEEK_END)
        assert file.read() == archive.getvalue()[-5:]


def test_listing_names_every_blob_with_its_size_and_time(store: BlobStore) -> None:
    before = datetime.now(UTC) - timedelta(seconds=5)
    blobs = [store.put(io.BytesIO(DATA[:n])) for n in (0, 3, len(DATA))]
    listed = {b.key: b for b in store.listing()}
    assert set(listed) == {b.key for b in blobs}
    for blob in blobs:
        assert listed[blob.key].size == blob.size == store.size(blob.key)
        assert before <= listed[blob.key].modified <= datetime.now(UTC) + timedelta(seconds=5)
    store.delete(blobs[0].key)
    assert {b.key for b in store.listing()} == {b.key for b in blobs[1:]}
    with pytest.raises(BlobNotFound):
        store.size(blobs[0].key)
    with pytest.raises(BlobNotFound):
        store.size("../../etc/passwd")


def test_an_empty_store_lists_nothing(store: BlobStore, tmp_path: Path) -> None:
    assert list(store.listing()) == []
    assert list(FilesystemBlobStore(tmp_path / "never-made").listing()) == []


def test_the_filesystem_listing_leaves_out_what_is_not_a_blob(fs: FilesystemBlobStore) -> None:
    blob = fs.put(io.BytesIO(b"abc"))
    shard = fs.path(blob.key).parent
    (shard / ".tmp-upload-in-progress").write_bytes(b"half")
    (fs.root / "README").write_text("not a blob")
    misplaced = "ff" + blob.key[2:]  # a key's name, in another key's shard
    (shard / misplaced).write_bytes(b"x")
    (shard / ("0" * 32)).mkdir()
    assert [b.key for b in fs.listing()] == [blob.key]


def test_the_s3_listing_leaves_out_what_is_not_a_blob(s3: Any) -> None:
    blob = s3.put(io.BytesIO(b"abc"))
    for name in ["case-files/README", "case-files/ab/cd/other", "elsewhere/" + blob.key]:
        s3._client.put_object(Bucket="docs", Key=name, Body=b"x")
    assert [b.key for b in s3.listing()] == [blob.key]


def test_the_s3_listing_reads_every_page(s3: Any) -> None:
    keys = {s3.put(io.BytesIO(b"%d" % i)).key for i in range(7)}
    real = s3._client.get_paginator

    def small_pages(name: str) -> Any:
        paginator = real(name)
        paginate = paginator.paginate
        paginator.paginate = lambda **kw: paginate(**kw, PaginationConfig={"PageSize": 2})
        return paginator

    s3._client.get_paginator = small_pages
    assert {b.key for b in s3.listing()} == keys


def test_a_filesystem_that_fails_the_store_is_unavailable_not_the_uploads_fault(
    fs: FilesystemBlobStore,
) -> None:
    fs.root.mkdir()
    for n in range(256):  # no shard directory can be made
        (fs.root / f"{n:02x}").write_bytes(b"")
    with pytest.raises(BlobUnavailable) as caught:
        fs.put(io.BytesIO(b"abc"))
    assert caught.value.reason == "Not a directory" and str(fs.root) not in str(caught.value)
    with pytest.raises(ConnectionResetError):  # the client's failure stays the client's
        FilesystemBlobStore(fs.root / "ok").put(Failing(10))


def test_a_blob_that_is_not_a_file_is_unavailable_not_missing(fs: FilesystemBlobStore) -> None:
    blob = fs.put(io.BytesIO(b"abc"))
    fs.path(blob.key).unlink()
    fs.path(blob.key).mkdir()
    with pytest.raises(BlobUnavailable, match="Is a directory"):
        fs.open(blob.key)
    with pytest.raises(BlobUnavailable, match="Is a directory"):
        fs.delete(blob.key)


def test_an_s3_endpoint_that_does_not_answer_is_unavailable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("boto3")
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_MAX_ATTEMPTS": "1",
    }.items():
        monkeypatch.setenv(name, value)
    from casework.blobs.s3 import S3BlobStore

    store = S3BlobStore("docs", endpoint_url="http://127.0.0.1:9")  # nothing listens there
    key = "0" * 32
    for attempt in (
        lambda: store.put(io.BytesIO(b"abc")),
        lambda: store.open(key),
        lambda: store.size(key),
        lambda: store.delete(key),
        lambda: list(store.listing()),
    ):
        with pytest.raises(BlobUnavailable) as caught:
            attempt()
        assert caught.value.reason == "EndpointConnectionError"
    with pytest.raises(ConnectionResetError):
        store.put(Failing(10))


def test_s3_refusals_are_unavailable_and_missing_objects_missing(s3: Any) -> None:
    with pytest.raises(BlobNotFound):
        s3.open("0" * 32)
    assert not s3.exists("0" * 32)
    s3._client.delete_bucket(Bucket="docs")
    with pytest.raises(BlobUnavailable, match="NoSuchBucket"):
        s3.put(io.BytesIO(b"abc"))


def test_s3_objects_are_sharded_under_the_prefix(s3: Any) -> None:
    blob = s3.put(io.BytesIO(b"abc"))
    listed = s3._client.list_objects_v2(Bucket="docs")["Contents"]
    assert [o["Key"] for o in listed] == [f"case-files/{blob.key[:2]}/{blob.key[2:4]}/{blob.key}"]
    head = s3._client.head_object(Bucket="docs", Key=listed[0]["Key"])
    assert head["Metadata"] == {"sha256": blob.sha256}


def test_s3_nothing_reaches_the_bucket_when_an_upload_fails(s3: Any) -> None:
    with pytest.raises(ConnectionResetError):
        s3.put(Failing(100))
    with pytest.raises(BlobTooLarge):
        s3.put(io.BytesIO(DATA), max_bytes=10)
    assert s3._client.list_objects_v2(Bucket="docs").get("KeyCount") == 0


# --- configuration -----------------------------------------------------------------------


def test_storage_from_the_environment(tmp_path: Path) -> None:
    default = DocumentStorage.from_env({})
    assert isinstance(default.store, FilesystemBlobStore)
    assert default.store.root == Path("./casework-blobs")
    assert default.max_upload_bytes == 25 * 1024 * 1024 and default.retention.days == 30

    env = {
        "CASEWORK_BLOB_DIR": str(tmp_path),
        "CASEWORK_MAX_UPLOAD_BYTES": "1000",
        "CASEWORK_DOCUMENT_RETENTION_DAYS": "7",
    }
    storage = DocumentStorage.from_env(env)
    assert isinstance(storage.store, FilesystemBlobStore) and storage.store.root == tmp_path
    assert (storage.max_upload_bytes, storage.retention.days) == (1000, 7)


def test_s3_storage_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("boto3")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    from casework.blobs.s3 import S3BlobStore

    storage = DocumentStorage.from_env(
        {"CASEWORK_BLOB_URL": "s3://bucket/some/prefix", "CASEWORK_S3_ENDPOINT_URL": "http://x"}
    )
    assert isinstance(storage.store, S3BlobStore)
    assert (storage.store.bucket, storage.store.prefix) == ("bucket", "some/prefix/")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CASEWORK_BLOB_URL": "https://bucket/x"}, "s3://bucket/prefix"),
        ({"CASEWORK_BLOB_URL": "s3:///nobucket"}, "s3://bucket/prefix"),
        ({"CASEWORK_MAX_UPLOAD_BYTES": "lots"}, "whole number"),
        ({"CASEWORK_DOCUMENT_RETENTION_DAYS": "0"}, "at least 1"),
    ],
)
def test_bad_settings_say_which(env: dict[str, str], message: str) -> None:
    with pytest.raises(BlobConfigError, match=message):
        DocumentStorage.from_env(env)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CASEWORK_BLOB_URL": "file:///srv/blobs"}, "set CASEWORK_BLOB_DIR instead"),
        ({"CASEWORK_BLOB_URL": "docs/prefix"}, "must look like s3://bucket/prefix"),
        ({"CASEWORK_BLOB_URL": "s3://[docs/prefix"}, "is not a URL"),
        ({"CASEWORK_BLOB_URL": "s3://docs:9000/prefix"}, "does not name a valid bucket"),
        ({"CASEWORK_BLOB_URL": "s3://docs/prefix#x"}, "takes no query or fragment"),
        (
            {"CASEWORK_BLOB_URL": "s3://docs/x", "CASEWORK_S3_ENDPOINT_URL": "minio:9000"},
            "CASEWORK_S3_ENDPOINT_URL must be an http(s) URL",
        ),
    ],
)
def test_bad_blob_urls_are_refused_before_anything_is_contacted(
    env: dict[str, str], message: str
) -> None:
    with pytest.raises(BlobConfigError) as refused:
        DocumentStorage.from_env(env)
    assert message in str(refused.value) and "\n" not in str(refused.value)


@pytest.mark.parametrize(
    "url",
    [
        "s3://AKIAEXAMPLE:hunter2@docs/prefix",
        "s3://AKIAEXAMPLE:hun/ter2@docs/prefix",  # a / in the password ends urlsplit's host
        "s3://docs/prefix?aws_secret_access_key=hunter2",
        "s3://docs/prefix#hunter2",
        "https://AKIAEXAMPLE:hunter2@docs/prefix",
    ],
)
def test_a_blob_url_with_credentials_never_shows_them(url: str) -> None:
    with pytest.raises(BlobConfigError) as refused:
        DocumentStorage.from_env({"CASEWORK_BLOB_URL": url})
    message = str(refused.value)
    assert message.startswith("CASEWORK_BLOB_URL ")
    assert "hunter2" not in message and "ter2" not in message and "AKIAEXAMPLE" not in message
    assert "***" in message
    # The endpoint's too.
    with pytest.raises(BlobConfigError) as refused:
        DocumentStorage.from_env(
            {"CASEWORK_BLOB_URL": "s3://docs/x", "CASEWORK_S3_ENDPOINT_URL": "ftp://u:hunter2@h"}
        )
    assert "hunter2" not in str(refused.value) and "ftp://***@h" in str(refused.value)


def test_an_s3_client_that_cannot_be_made_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("boto3")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "not a region!")
    with pytest.raises(BlobConfigError, match=r"^CASEWORK_BLOB_URL: .*\(InvalidRegionError\)$"):
        DocumentStorage.from_env({"CASEWORK_BLOB_URL": "s3://docs/x"})


def test_a_missing_boto3_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)  # what an import then finds: none
    with pytest.raises(BlobConfigError, match=r"^CASEWORK_BLOB_URL: .*pip install"):
        DocumentStorage.from_env({"CASEWORK_BLOB_URL": "s3://docs/x"})


# --- readiness: prepare (at start-up) and check (each probe) ----------------------------


def test_the_filesystem_store_is_prepared_then_checked(fs: FilesystemBlobStore) -> None:
    with pytest.raises(FileNotFoundError):
        fs.check()
    fs.prepare()
    assert stat.S_IMODE(fs.root.stat().st_mode) == 0o750
    fs.check()
    fs.prepare()  # again: nothing to do
    assert files_under(fs.root) == []  # neither wrote anything
    fs.root.rmdir()
    fs.root.write_bytes(b"a file")
    with pytest.raises(NotADirectoryError):
        fs.check()
    with pytest.raises(NotADirectoryError):
        fs.prepare()


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into any directory")
def test_a_read_only_blob_directory_fails_the_check(fs: FilesystemBlobStore) -> None:
    fs.prepare()
    fs.root.chmod(0o550)
    try:
        with pytest.raises(PermissionError):
            fs.check()
        with pytest.raises(BlobConfigError, match=r"^CASEWORK_BLOB_DIR"):
            DocumentStorage(fs).prepare()
    finally:
        fs.root.chmod(0o750)


def test_preparing_storage_names_the_directory_that_cannot_be_used(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"x")
    storage = DocumentStorage(FilesystemBlobStore(tmp_path / "file" / "blobs"))
    with pytest.raises(BlobConfigError) as refused:
        storage.prepare()
    message = str(refused.value)
    assert message.startswith(f"CASEWORK_BLOB_DIR '{tmp_path / 'file' / 'blobs'}'")
    assert "Not a directory" in message and "\n" not in message


def test_the_s3_check_is_a_head_on_the_bucket(s3: Any) -> None:
    from botocore.exceptions import ClientError

    from casework.blobs.s3 import S3BlobStore

    s3.check()
    DocumentStorage(s3).prepare()  # contacts nothing, creates nothing
    assert s3._client.list_objects_v2(Bucket="docs").get("KeyCount") == 0
    with pytest.raises(ClientError):
        S3BlobStore("absent", client=s3._client).check()
    assert [b["Name"] for b in s3._client.list_buckets()["Buckets"]] == ["docs"]
