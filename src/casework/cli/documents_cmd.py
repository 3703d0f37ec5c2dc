"""`casework documents purge`: empty the bin of documents whose retention has ended.

Run it from cron or a systemd timer (daily is plenty). The blob store comes from the
same environment as the server's (`CASEWORK_BLOB_DIR` or `CASEWORK_BLOB_URL`).
"""

from __future__ import annotations

from typing import Annotated

import typer

from casework.blobs import BlobError, DocumentStorage, FilesystemBlobStore
from casework.cli.common import DatabaseUrl, Json, database, now, operator, print_json
from casework.cli.errors import fail
from casework.services import documents

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
    try:
        storage = DocumentStorage.from_env()
    except BlobError as exc:
        fail(str(exc))
    with database(database_url) as db:
        purged = documents.purge_expired(db, storage.store, actor=operator(), now=now())
    swept = 0
    if isinstance(storage.store, FilesystemBlobStore):
        swept = storage.store.remove_stale_temporary_files(temporary_hours * 3600)
    if json_out:
        print_json({"purged": purged, "temporary_files_removed": swept})
    else:
        typer.echo(f"purged {purged} documents; removed {swept} interrupted upload files")
