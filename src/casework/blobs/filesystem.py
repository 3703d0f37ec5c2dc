"""Blobs as files under one directory: `<root>/ab/cd/<key>`.

A blob is written to a temporary file in its final directory, flushed to disk (fsync),
then renamed over its final name: a rename within one directory is atomic, so a reader
sees the whole blob or none, and a crash or a failed upload leaves at most a
`.tmp-*` file, which nothing ever reads and `remove_stale_temporary_files` clears. The
directory is fsynced after the rename too, so a blob the database was told about is
still there after a power cut.

Files and directories are created readable by the owner and group only: case documents
are personal data.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from casework.blobs.base import (
    BlobNotFound,
    BlobReader,
    BlobUnavailable,
    ListedBlob,
    Readable,
    StoredBlob,
    check_range,
    copy_stream,
    key_of_sharded,
    new_key,
    os_reason,
    sharded,
    store_side,
    writing_to_store,
)
from casework.fsync import fsync_directory

TEMP_PREFIX = ".tmp-"
_DIR_MODE = 0o750


class FilesystemBlobStore:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"FilesystemBlobStore({str(self.root)!r})"

    def path(self, key: str) -> Path:
        return self.root / sharded(key)

    def prepare(self) -> None:
        """Create the directory (and missing parents) unless it is there, then `check` it:
        at start-up, so that a directory that cannot be used stops the server there, and
        `check` passes before the first upload. OSError when it cannot be used."""
        _make_dirs(self.root)
        self.check()

    def check(self) -> None:
        """Raise OSError unless the directory is there and this process may create files
        in it. Asks the file system, writes nothing: cheap enough for every readiness probe."""
        if not self.root.is_dir():
            if self.root.exists():
                raise NotADirectoryError(errno.ENOTDIR, "not a directory", str(self.root))
            raise FileNotFoundError(errno.ENOENT, "no such directory", str(self.root))
        # access(2) also says no on a read-only mount.
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise PermissionError(errno.EACCES, "not writable by this process", str(self.root))

    def put(self, source: Readable, *, max_bytes: int | None = None) -> StoredBlob:
        key = new_key()
        final = self.path(key)
        with store_side(os_reason):
            created = _make_dirs(final.parent)
            fd, temp = tempfile.mkstemp(dir=final.parent, prefix=TEMP_PREFIX)
        try:
            with os.fdopen(fd, "wb") as out:
                write = writing_to_store(out.write, os_reason)
                size, digest = copy_stream(source, write, max_bytes)
                with store_side(os_reason):
                    out.flush()
                    os.fsync(out.fileno())
            with store_side(os_reason):
                os.replace(temp, final)
                # The rename and any new directories are durable only once their parents
                # are.
                for directory in [final.parent, *created]:
                    fsync_directory(directory)
        except BaseException:
            # Interrupted (the client went away, too large, disk full): no partial blob.
            for leftover in (temp, final):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(leftover)
            raise
        return StoredBlob(key, size, digest)

    def open(self, key: str, start: int = 0, end: int | None = None) -> BlobReader:
        check_range(start, end)
        with _reading(key):
            raw = open(self.path(key), "rb")  # noqa: SIM115 (the reader closes it)
        try:
            raw.seek(start)
        except BaseException:
            raw.close()
            raise
        return BlobReader(raw, None if end is None else end - start)

    def delete(self, key: str) -> None:
        with store_side(os_reason), contextlib.suppress(FileNotFoundError):
            os.unlink(self.path(key))

    def exists(self, key: str) -> bool:
        try:
            return self.path(key).is_file()
        except BlobNotFound:
            return False

    def size(self, key: str) -> int:
        with _reading(key):
            return self.path(key).stat().st_size

    def listing(self) -> Iterator[ListedBlob]:
        if not self.root.is_dir():
            return
        for path in self.root.glob("*/*/*"):
            key = key_of_sharded(path.relative_to(self.root).as_posix())
            if key is None:
                continue  # a temporary file, or not ours
            try:
                info = path.stat()
            except FileNotFoundError:
                continue  # deleted while listing
            if stat.S_ISREG(info.st_mode):
                yield ListedBlob(key, info.st_size, datetime.fromtimestamp(info.st_mtime, UTC))

    def remove_stale_temporary_files(self, older_than_seconds: float) -> int:
        """Delete `.tmp-*` files older than this, left by a process killed mid-upload;
        how many. Younger ones may be uploads in progress, so keep a margin of hours."""
        if not self.root.is_dir():
            return 0
        cutoff = time.time() - older_than_seconds
        removed = 0
        for path in self.root.glob(f"*/*/{TEMP_PREFIX}*"):
            with contextlib.suppress(FileNotFoundError):
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
        return removed


@contextlib.contextmanager
def _reading(key: str) -> Iterator[None]:
    """A blob's file looked at: not there is BlobNotFound; any other failure of the
    file system (a directory in its place, a failing disk) the store's."""
    try:
        yield
    except FileNotFoundError:
        raise BlobNotFound(f"no blob {key}") from None
    except OSError as exc:
        raise BlobUnavailable(os_reason(exc) or type(exc).__name__) from exc


def _make_dirs(directory: Path) -> list[Path]:
    """Create `directory` and missing parents; the parents of those created (to fsync)."""
    missing = []
    current = directory
    while not current.exists():
        missing.append(current)
        current = current.parent
    for new in reversed(missing):
        # One by one: `mkdir(parents=True)` would give the parents the default mode.
        new.mkdir(mode=_DIR_MODE, exist_ok=True)
    return [d.parent for d in missing]
