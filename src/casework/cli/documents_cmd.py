"""`casework documents purge|verify|sweep`: empty the bin of documents whose retention
has ended; check the blob store against the database; remove blobs no version names.

Run the purge from cron or a systemd timer (daily is plenty). The blob store comes from
the same environment as the server's (`CASEWORK_BLOB_DIR` or `CASEWORK_BLOB_URL`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, TypeVar

import typer

from casework.blobs import (
    BlobError,
    BlobStore,
    DocumentStorage,
    FilesystemBlobStore,
    ListedBlob,
)
from casework.cli.common import (
    DatabaseUrl,
    Json,
    database,
    now,
    one_line,
    operator,
    print_json,
    progress_bar,
)
from casework.cli.errors import fail
from casework.services import document_integrity, documents

T = TypeVar("T")

app = typer.Typer(no_args_is_help=True)


@app.command("purge")
def purge(
    temporary_hours: Annotated[
        int,
        typer.Option(
            min=1,
            help="Also remove files of uploads interrupted this many hours ago or more "
            "(filesystem store).",
        ),
    ] = 24,
    database_url: DatabaseUrl = None,
    json_out: Json = False,
) -> None:
    """Remove for good the deleted documents whose retention date has passed: their rows,
    then their blobs; each removal goes on its case's log as `DocumentPurged`."""
    storage = _storage()
    with database(database_url) as db:
        purged = documents.purge_expired(db, storage.store, actor=operator(), now=now())
    swept = 0
    if isinstance(storage.store, FilesystemBlobStore):
        swept = storage.store.remove_stale_temporary_files(temporary_hours * 3600)
    if json_out:
        print_json({"purged": purged, "temporary_files_removed": swept})
    else:
        typer.echo(f"purged {purged} documents; removed {swept} interrupted upload files")


@app.command("verify")
def verify(
    quick: Annotated[
        bool,
        typer.Option(
            "--quick",
            help="Only check that each blob is there with the size stored, reading no "
            "bytes; without it every byte is read and its SHA-256 compared.",
        ),
    ] = False,
    database_url: DatabaseUrl = None,
    json_out: Json = False,
) -> None:
    """Check every document version's blob: there, of its size and with its SHA-256.

    Exit 0 when all are, 1 when any is missing or holds other bytes, 2 on errors.
    """
    store = _storage().store
    with database(database_url) as db:
        total = document_integrity.versions_count(db)
        with progress_bar() as progress:
            task = progress.add_task("verifying document blobs", total=total)
            result = _blob_errors_fail(
                store,
                lambda: document_integrity.verify_blobs(
                    db, store, contents=not quick, on_version=lambda _: progress.advance(task)
                ),
            )
    problems = result.problems
    if json_out:
        print_json(
            {
                "ok": not problems,
                "versions": result.versions,
                "bytes_read": result.bytes_read,
                "problems": [
                    {
                        "case_id": p.stored.case_id,
                        "document_id": p.stored.document_id,
                        "version": p.stored.version,
                        "blob_key": p.stored.blob_key,
                        "message": p.problem,
                    }
                    for p in problems
                ],
            }
        )
    elif problems:
        for p in problems:
            typer.echo(str(p))
        typer.echo(f"{len(problems)} of {result.versions} document versions fail verification")
    else:
        how = "present with their sizes" if quick else "intact"
        typer.echo(f"blobs {how}: {result.versions} document versions")
    if problems:
        raise typer.Exit(code=1)


@app.command("sweep")
def sweep(
    older_than_hours: Annotated[
        int,
        typer.Option(
            min=1,
            help="Only blobs stored at least this many hours ago: younger ones may belong "
            "to uploads still in progress.",
        ),
    ] = 24,
    delete: Annotated[
        bool, typer.Option("--delete", help="Delete them; without it they are only listed.")
    ] = False,
    database_url: DatabaseUrl = None,
    json_out: Json = False,
) -> None:
    """List (or, with --delete, remove) the blobs no document version names: uploads cut
    off between storing and committing, blobs restored from a backup taken after the
    database's. Give it the database of this blob store: to another it is all unused."""
    store = _storage().store
    before = now() - timedelta(hours=older_than_hours)
    with database(database_url) as db:
        unused = _blob_errors_fail(
            store, lambda: list(document_integrity.unused_blobs(db, store, stored_before=before))
        )
        if (
            delete
            and unused
            and not _blob_errors_fail(store, lambda: document_integrity.names_blobs_of(db, store))
        ):
            fail(
                f"none of the blobs this database's newest documents name is in {store!r}, "
                "which holds unused ones: is this the database of this blob store? nothing "
                "deleted"
            )
    if delete:
        deleted: list[ListedBlob] = []
        _blob_errors_fail(
            store,
            lambda: document_integrity.delete_blobs(store, unused, deleted.append),
            after=lambda: f" (deleted {len(deleted)} of {len(unused)} unused blobs before it)",
        )
    size = sum(blob.size for blob in unused)
    if json_out:
        print_json(
            {
                "deleted": delete,
                "blobs": [{"key": b.key, "size": b.size, "stored_at": b.modified} for b in unused],
                "bytes": size,
            }
        )
    elif delete:
        typer.echo(f"deleted {len(unused)} unused blobs ({size} bytes)")
    else:
        for blob in unused:
            typer.echo(f"{blob.key}  {blob.size} bytes  stored {blob.modified:%Y-%m-%d %H:%M}")
        typer.echo(
            f"{len(unused)} unused blobs ({size} bytes) stored more than {older_than_hours} "
            "hours ago" + ("; --delete removes them" if unused else "")
        )


def _storage() -> DocumentStorage:
    try:
        return DocumentStorage.from_env()
    except BlobError as exc:
        fail(str(exc))


def _blob_errors_fail(
    store: BlobStore, work: Callable[[], T], after: Callable[[], str] | None = None
) -> T:
    """`work()`, with the blob store's own failures (a bucket that does not answer,
    a directory it may not read) as one line, exit 2; `after()` ends that line."""
    try:
        return work()
    except Exception as exc:
        message = _store_failure(store, exc)
        if message is None:
            raise
        fail(message + (after() if after is not None else ""))


def _store_failure(store: BlobStore, exc: Exception) -> str | None:
    if isinstance(exc, BlobError):
        return f"{store!r}: {exc}"
    if isinstance(exc, OSError):
        return f"{exc.filename or repr(store)}: {exc.strerror or exc}"
    if type(exc).__module__.startswith(("botocore", "boto3")):
        return f"{store!r}: {one_line(exc)}"
    return None
