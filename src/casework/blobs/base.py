"""What a blob store is: bytes in from a stream, bytes out by range, under an opaque key.

Keys are random (32 hex digits), never derived from the content: two uploads of the same
file are two blobs, so deleting one (an upload whose transaction failed, a purged
version) can never take away bytes another row still points to. The price is no
de-duplication, which case files rarely offer anyway.

A store never holds part of a blob under its key: `put` either stores all of it and
returns its size and SHA-256, or raises and leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import io
import re
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol

# Read and write in pieces of this size: memory per transfer stays flat.
CHUNK = 1024 * 1024
_KEY = re.compile(r"[0-9a-f]{32}")


class Readable(Protocol):
    """Anything with a binary `read` (a file, a socket's stream, an upload being parsed)."""

    def read(self, size: int = -1, /) -> bytes: ...


class Closable(Readable, Protocol):
    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class StoredBlob:
    key: str
    size: int
    sha256: str  # hex


@dataclass(frozen=True, slots=True)
class ListedBlob:
    """A blob as the store lists it: for checks of the store against the database."""

    key: str
    size: int
    modified: datetime  # aware, UTC: when the store got it


class BlobError(Exception):
    """A blob store could not do what was asked."""


class BlobTooLarge(BlobError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit} bytes")
        self.limit = limit


class BlobNotFound(BlobError):
    """No blob under that key (or a key that cannot be one)."""


class BlobUnavailable(BlobError):
    """The store could not be used just now: its disk is full, failing or read-only, a
    directory is not what it should be, the bucket does not answer or refuses. Neither
    the caller's fault nor the blob's: the server answers 503. `reason` is short and
    safe to log (an errno's text, an SDK error's class and code), never a path or URL."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"the blob store cannot be used: {reason}")
        self.reason = reason


@contextmanager
def store_side(reason: Callable[[BaseException], str | None]) -> Iterator[None]:
    """Turn the store's own failures (those `reason` names; None: not one) raised inside
    into BlobUnavailable. Only around the store's work: a failure to read the source
    (the client went away) must stay what it is."""
    try:
        yield
    except BlobError:
        raise
    except Exception as exc:
        why = reason(exc)
        if why is None:
            raise
        raise BlobUnavailable(why) from exc


def os_reason(exc: BaseException) -> str | None:
    """An OSError's text (`No space left on device`), for `store_side`."""
    if not isinstance(exc, OSError):
        return None
    return exc.strerror or type(exc).__name__


def writing_to_store(
    write: Callable[[bytes], object], reason: Callable[[BaseException], str | None]
) -> Callable[[bytes], object]:
    """`write`, its failures the store's (`store_side`), for `copy_stream`."""

    def store_write(chunk: bytes) -> object:
        with store_side(reason):
            return write(chunk)

    return store_write


class BlobReader:
    """A byte range of a blob, read in order; iterating gives chunks, for streaming out."""

    def __init__(self, raw: Closable, length: int | None) -> None:
        self._raw = raw
        self._left = length  # None: until the raw stream ends

    def read(self, size: int = -1, /) -> bytes:
        if self._left is not None:
            if self._left <= 0:
                return b""
            size = self._left if size < 0 else min(size, self._left)
        data = self._raw.read(size)
        if self._left is not None:
            self._left -= len(data)
        return data

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self.read(CHUNK):
            yield chunk

    def close(self) -> None:
        self._raw.close()

    def __enter__(self) -> BlobReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class BlobStore(Protocol):
    def put(self, source: Readable, *, max_bytes: int | None = None) -> StoredBlob:
        """Store everything `source` gives until it returns b"", under a new key.

        Raises BlobTooLarge as soon as more than `max_bytes` arrive, and re-raises
        whatever reading `source` raises; either way nothing is stored.
        """
        ...

    def open(self, key: str, start: int = 0, end: int | None = None) -> BlobReader:
        """The bytes from `start` up to, not including, `end` (None: to the end).
        BlobNotFound when there is no such blob."""
        ...

    def delete(self, key: str) -> None:
        """Remove the blob; a missing one is not an error (deletes are retried)."""
        ...

    def exists(self, key: str) -> bool: ...

    def size(self, key: str) -> int:
        """The blob's size in bytes, without reading it. BlobNotFound when there is none."""
        ...

    def listing(self) -> Iterator[ListedBlob]:
        """Every blob in the store, in no particular order; never the temporary files of
        uploads in progress, nor anything under the store's root that is not a blob."""
        ...

    def check(self) -> None:
        """Raise unless the store can be used now (the readiness probe): cheap, and it
        stores nothing. What it raises is the store's own (OSError, the SDK's errors)."""
        ...


def new_key() -> str:
    return secrets.token_hex(16)


def checked_key(key: str) -> str:
    """The key, if it can be one of ours: keys come back from the database, and must never
    become a path or object name outside the store's own."""
    if not _KEY.fullmatch(key):
        raise BlobNotFound("not a blob key")
    return key


def key_of_sharded(name: str) -> str | None:
    """The key of a `sharded` name (`ab/cd/abcd...`), None when it is not one."""
    parts = name.split("/")
    if len(parts) != 3 or not _KEY.fullmatch(parts[2]):
        return None
    key = parts[2]
    return key if parts[0] == key[:2] and parts[1] == key[2:4] else None


def sharded(key: str) -> str:
    """`ab/cd/abcd...`: at most 256 entries per directory level, whatever the count."""
    key = checked_key(key)
    return f"{key[:2]}/{key[2:4]}/{key}"


def check_range(start: int, end: int | None) -> None:
    if start < 0 or (end is not None and end < start):
        raise ValueError(f"bad byte range {start}..{end}")


def copy_stream(
    source: Readable, write: Callable[[bytes], object], max_bytes: int | None
) -> tuple[int, str]:
    """Copy `source` to `write` chunk by chunk, hashing as it goes; (size, sha256 hex).

    Never asks for more than one byte past the limit, so an oversized upload is refused
    after `max_bytes + 1` bytes, not after all of it.
    """
    digest = hashlib.sha256()
    size = 0
    while True:
        want = CHUNK if max_bytes is None else min(CHUNK, max_bytes + 1 - size)
        chunk = source.read(want)
        if not chunk:
            return size, digest.hexdigest()
        size += len(chunk)
        if max_bytes is not None and size > max_bytes:
            raise BlobTooLarge(max_bytes)
        digest.update(chunk)
        write(chunk)


class BlobFile(io.RawIOBase):
    """A stored blob as a read-only, seekable file, each read a ranged `open`: what
    `zipfile` needs to look inside an upload whatever the store. Wrap it in
    `io.BufferedReader` so small reads do not each become a request."""

    def __init__(self, store: BlobStore, key: str, size: int) -> None:
        super().__init__()
        self._store, self._key, self._size, self._pos = store, key, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: Any, /) -> int:
        view = memoryview(buffer).cast("B")
        want = min(len(view), self._size - self._pos)
        if want <= 0:
            return 0
        got = 0
        with self._store.open(self._key, self._pos, self._pos + want) as reader:
            while got < want:
                data = reader.read(want - got)
                if not data:
                    break
                view[got : got + len(data)] = data
                got += len(data)
        self._pos += got
        return got
