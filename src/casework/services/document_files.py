"""What an upload says about itself, made safe: its file name, its type, its bytes.

- File names lose any path, control and format characters (including the bidi
  overrides that make `gpj.exe` read `exe.jpg`), characters Windows forbids, and
  leading dots; a name whose extension does not fit the detected type gets the type's
  own (`invoice.exe` holding a PDF downloads as `invoice.exe.pdf`).
- The declared type (the part's Content-Type) is kept only when it agrees with the
  bytes: within text, the sender's `text/csv` beats our `text/plain`; otherwise the
  detected type replaces it.
- `CheckedUpload` wraps the stream the blob store reads: it sniffs the first bytes
  before passing any on, so a refused type costs a few kilobytes, not the upload, and
  checks that text stays text to the end.
"""

from __future__ import annotations

import io
import unicodedata

from casework.blobs.base import BlobFile, BlobStore, Readable, StoredBlob
from casework.blobs.sniff import (
    ACCEPTED,
    HEAD_BYTES,
    TEXT_TYPES,
    ZIP,
    Rejected,
    Sniffed,
    inspect_zip,
    is_text,
    sniff,
)
from casework.services.errors import InvalidInput, UnsupportedType

MAX_NAME_BYTES = 200  # of a file name, in UTF-8: below every file system's 255
MAX_TITLE = 255
_WINDOWS_FORBIDDEN = str.maketrans({c: "_" for c in '<>:"/\\|?*'})
_WINDOWS_DEVICES = frozenset(
    {"con", "prn", "aux", "nul"} | {f"{p}{n}" for p in ("com", "lpt") for n in range(1, 10)}
)


def _visible(text: str) -> str:
    """NFC; white space (tabs and line breaks included) as single spaces; without control,
    format (bidi overrides), private-use and unassigned characters."""
    text = unicodedata.normalize("NFC", text)
    kept = "".join(
        " " if ch.isspace() else ch
        for ch in text
        if ch.isspace() or not unicodedata.category(ch).startswith("C")
    )
    return " ".join(kept.split())


def clean_title(raw: str | None, *, field: str = "name") -> str | None:
    """A document's name as people gave it, printable and at most MAX_TITLE characters;
    None when nothing was given."""
    if raw is None:
        return None
    title = _visible(raw)
    if not title:
        raise InvalidInput("a document name needs some visible characters", field=field)
    if len(title) > MAX_TITLE:
        raise InvalidInput(f"a document name is at most {MAX_TITLE} characters", field=field)
    return title


def clean_file_name(raw: str | None, media_type: str) -> str:
    """A file name safe to offer for download, with an extension that fits `media_type`."""
    extensions = ACCEPTED[media_type][1]
    name = _visible((raw or "").replace("\\", "/").rsplit("/", 1)[-1])
    name = name.translate(_WINDOWS_FORBIDDEN).strip(" .")
    # Windows opens a device for `CON`, `nul.txt`, ... whatever follows the first dot.
    if name.split(".", 1)[0].strip().lower() in _WINDOWS_DEVICES:
        name = "_" + name
    if not name:
        name = "document"
    if not any(name.lower().endswith(e) for e in extensions):
        name += extensions[0]
    return _shorten(name)


def _shorten(name: str) -> str:
    """At most MAX_NAME_BYTES of UTF-8, cutting the stem and keeping the extension."""
    if len(name.encode()) <= MAX_NAME_BYTES:
        return name
    stem, _, ext = name.rpartition(".")
    ext = "." + ext[:20]
    budget = MAX_NAME_BYTES - len(ext.encode())
    cut = stem.encode()[:budget].decode("utf-8", "ignore").rstrip(" .")
    return (cut or "document") + ext


def media_type_of(declared: str | None, detected: str, file_name: str | None) -> str:
    """The type to store: the detected one, refined within text by what the sender
    declared, or else by a `.csv`/`.tsv` name (clients often send CSV as octet-stream):
    the bytes cannot tell CSV from text."""
    if detected not in TEXT_TYPES:
        return detected
    declared = (declared or "").split(";", 1)[0].strip().lower()
    if declared in TEXT_TYPES:
        return declared
    if (file_name or "").lower().endswith((".csv", ".tsv")):
        return "text/csv"
    return detected


class EmptyUpload(InvalidInput):
    pass


class CheckedUpload:
    """The upload as the blob store reads it (see the module docstring)."""

    def __init__(self, source: Readable, *, field: str) -> None:
        self._source = source
        self._field = field
        self._head = b""
        self.sniffed: Sniffed | None = None

    def read(self, size: int = -1, /) -> bytes:
        if self.sniffed is None:
            self._head = _read_at_least(self._source, HEAD_BYTES)
            if not self._head:
                raise EmptyUpload("the file is empty", field=self._field)
            self.sniffed = self._judge(self._head)
        if self._head:
            take = len(self._head) if size < 0 else size
            data, self._head = self._head[:take], self._head[take:]
            return data
        data = self._source.read(size)
        if self.sniffed.text and not is_text(data):
            raise UnsupportedType(
                "the file starts as text but holds binary data further on", field=self._field
            )
        return data

    def _judge(self, head: bytes) -> Sniffed:
        try:
            return sniff(head)
        except Rejected as exc:
            raise UnsupportedType(str(exc), field=self._field) from None


def _read_at_least(source: Readable, size: int) -> bytes:
    """`size` bytes, or fewer at the end of the stream (reads may come in pieces)."""
    parts: list[bytes] = []
    have = 0
    while have < size:
        piece = source.read(size - have)
        if not piece:
            break
        parts.append(piece)
        have += len(piece)
    return b"".join(parts)


def detected_type(store: BlobStore, blob: StoredBlob, sniffed: Sniffed, *, field: str) -> str:
    """The final type of a stored upload: a ZIP is looked inside (UnsupportedType if it
    is not an accepted document; the caller deletes the blob)."""
    if sniffed.media_type != ZIP:
        return sniffed.media_type
    with io.BufferedReader(BlobFile(store, blob.key, blob.size), 64 * 1024) as file:
        try:
            return inspect_zip(file)
        except Rejected as exc:
            raise UnsupportedType(str(exc), field=field) from None
