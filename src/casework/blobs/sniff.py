"""What a file is, from its bytes: the allow-list of document types a case file takes.

Never from the name or the type the client declares: those are whatever the sender says.
Every accepted type is recognised by its signature at offset 0 (no "somewhere in the
first kilobyte" guessing that polyglot files exploit):

- PDF, PNG, JPEG, GIF, WebP, TIFF by their magic numbers;
- DOCX, XLSX, PPTX, ODT, ODS, ODP are ZIP files: `sniff` says "a ZIP" from the first
  bytes, and `inspect_zip` then looks inside the stored file: the ODF `mimetype` entry,
  or the main part's content type in OOXML's `[Content_Types].xml`. Macro-enabled
  documents (.docm, .xlsm, a `vbaProject.bin`, ODF `Basic/` scripts) and any other ZIP
  are refused;
- plain text and CSV: no control characters but tab, line breaks and form feed (checked
  to the end of the file, not only its head), not starting like markup; mail (EML) is
  such text that starts with a mail header block.

Refused with a reason: executables and scripts (PE, ELF, Mach-O, WebAssembly, `#!`),
HTML, SVG and XML (a browser would run their scripts), legacy OLE Office files (macros),
archives, and everything unknown.

The maintained pure-Python detectors on PyPI were tried (puremagic 1.30, filetype 1.2):
both report ODT and macro-enabled workbooks as DOCX, neither recognises text, and
puremagic answers with ranked guesses (a PDF is also "maybe FDF"). For an allow-list a
handful of exact signatures, read here, is the safer check.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from typing import IO

HEAD_BYTES = 8192  # what `sniff` wants to see (less only when the file is shorter)
_MAX_ENTRIES = 10_000  # a document with more ZIP entries is not one we want to open
_MAX_MANIFEST = 1024 * 1024  # [Content_Types].xml is a few kilobytes; never inflate more

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
ODT = "application/vnd.oasis.opendocument.text"
ODS = "application/vnd.oasis.opendocument.spreadsheet"
ODP = "application/vnd.oasis.opendocument.presentation"
ZIP = "application/zip"  # only ever an intermediate answer: see inspect_zip

# Accepted media type -> (what people call it, file name extensions, the first canonical).
ACCEPTED: dict[str, tuple[str, tuple[str, ...]]] = {
    "application/pdf": ("PDF", (".pdf",)),
    "image/png": ("PNG", (".png",)),
    "image/jpeg": ("JPEG", (".jpg", ".jpeg", ".jpe", ".jfif")),
    "image/gif": ("GIF", (".gif",)),
    "image/webp": ("WebP", (".webp",)),
    "image/tiff": ("TIFF", (".tif", ".tiff")),
    "text/plain": ("text", (".txt", ".text", ".log", ".md", ".csv", ".tsv")),
    "text/csv": ("CSV", (".csv", ".tsv", ".txt")),
    "message/rfc822": ("EML", (".eml",)),
    DOCX: ("DOCX", (".docx",)),
    XLSX: ("XLSX", (".xlsx",)),
    PPTX: ("PPTX", (".pptx",)),
    ODT: ("ODT", (".odt",)),
    ODS: ("ODS", (".ods",)),
    ODP: ("ODP", (".odp",)),
}
TEXT_TYPES = frozenset({"text/plain", "text/csv", "message/rfc822"})
ACCEPTED_NAMES = ", ".join(dict.fromkeys(label for label, _ in ACCEPTED.values()))

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"PK\x03\x04", ZIP),
)
_EXECUTABLES = (
    b"MZ",  # Windows PE (.exe, .dll, .scr)
    b"\x7fELF",
    b"\xfe\xed\xfa\xce",  # Mach-O, both byte orders, 32 and 64 bits
    b"\xfe\xed\xfa\xcf",
    b"\xce\xfa\xed\xfe",
    b"\xcf\xfa\xed\xfe",
    b"\xca\xfe\xba\xbe",  # Mach-O universal binaries and Java classes
    b"\x00asm",
)
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_UTF8_BOM = b"\xef\xbb\xbf"
# C0 controls and DEL, but tab, LF, FF and CR: binary data has them, text does not.
_NOT_TEXT = re.compile(rb"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_MARKUP = (b"<!doctype", b"<html", b"<head", b"<body", b"<script", b"<svg", b"<iframe", b"<?xml")
_HEADER_LINE = re.compile(rb"[A-Za-z0-9][A-Za-z0-9-]{0,76}:[ \t]")
_MAIL_HEADERS = frozenset(
    {b"date", b"subject", b"message-id", b"mime-version", b"received", b"to", b"return-path"}
)
_OOXML_MAIN = {
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml": DOCX,
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml": XLSX,
    "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml": PPTX,
}
_CONTENT_TYPE = re.compile(rb'ContentType\s*=\s*"([^"]{1,200})"')
_ODF = {ODT, ODS, ODP}


class Rejected(ValueError):
    """Not a type a case file accepts; the message says what it is or why not."""


@dataclass(frozen=True, slots=True)
class Sniffed:
    media_type: str  # ZIP: inspect_zip decides, once the whole file is stored
    text: bool = False  # the rest of the file must pass `is_text` too


def sniff(head: bytes) -> Sniffed:
    """The type of a file from its first HEAD_BYTES bytes (all of it, if shorter)."""
    for signature, media_type in _SIGNATURES:
        if head.startswith(signature):
            return Sniffed(media_type)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return Sniffed("image/webp")
    if head.startswith(_EXECUTABLES):
        raise Rejected("executable files are not accepted")
    if head.startswith(_OLE):
        raise Rejected(
            "legacy Office files (.doc, .xls, .ppt) are not accepted, since they can carry "
            "macros: save as PDF, DOCX, XLSX or PPTX"
        )
    return _sniff_text(head)


def is_text(chunk: bytes) -> bool:
    return _NOT_TEXT.search(chunk) is None


def _sniff_text(head: bytes) -> Sniffed:
    body = head.removeprefix(_UTF8_BOM)
    if not is_text(body):
        raise Rejected(f"the file is not of an accepted type ({ACCEPTED_NAMES})")
    start = body.lstrip()
    if start.startswith(b"#!"):
        raise Rejected("scripts are not accepted")
    if _is_mail(start):
        return Sniffed("message/rfc822", text=True)
    opening = start[:1024].lower()
    if start.startswith(b"<") or any(tag in opening for tag in _MARKUP):
        raise Rejected("HTML, SVG and XML files are not accepted: a browser may run them")
    return Sniffed("text/plain", text=True)


def _is_mail(text: bytes) -> bool:
    """A header block (`Name: value` lines and folded continuations) with `From` and one
    more header a message has."""
    names: set[bytes] = set()
    for line in text.splitlines()[:200]:
        if not line.strip():
            break
        if line[:1] in (b" ", b"\t") and names:
            continue
        if not _HEADER_LINE.match(line):
            return False
        names.add(line.split(b":", 1)[0].lower())
    return b"from" in names and bool(names & _MAIL_HEADERS)


def inspect_zip(file: IO[bytes]) -> str:
    """The document type of a stored ZIP file (a seekable file); Rejected if it is not
    an accepted one."""
    try:
        with zipfile.ZipFile(file) as archive:
            entries = archive.infolist()
            if len(entries) > _MAX_ENTRIES:
                raise Rejected("ZIP archives are not accepted")
            names = {entry.filename for entry in entries}
            lowered = {name.lower() for name in names}
            if any(name.endswith("vbaproject.bin") for name in lowered):
                raise Rejected("documents with macros are not accepted")
            if "mimetype" in names:
                return _odf_type(archive, lowered)
            if "[Content_Types].xml" in names:
                return _ooxml_type(archive)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError):
        raise Rejected("the file looks like a ZIP file but is not a valid one") from None
    except RuntimeError:  # an encrypted entry
        raise Rejected("encrypted ZIP entries are not accepted") from None
    raise Rejected("ZIP archives are not accepted: only DOCX, XLSX, PPTX, ODT, ODS, ODP")


def _odf_type(archive: zipfile.ZipFile, lowered: set[str]) -> str:
    with archive.open("mimetype") as entry:
        declared = entry.read(200).decode("ascii", "replace").strip()
    if declared not in _ODF:
        raise Rejected(f"OpenDocument files of type {declared[:80]!r} are not accepted")
    if any(name.startswith(("basic/", "scripts/")) for name in lowered):
        raise Rejected("documents with macros are not accepted")
    return declared


def _ooxml_type(archive: zipfile.ZipFile) -> str:
    with archive.open("[Content_Types].xml") as entry:
        manifest = entry.read(_MAX_MANIFEST + 1)
    if len(manifest) > _MAX_MANIFEST:
        raise Rejected("the document's [Content_Types].xml is too large")
    declared = {m.decode("ascii", "replace") for m in _CONTENT_TYPE.findall(manifest)}
    if any("macroenabled" in d.lower() or "vbaproject" in d.lower() for d in declared):
        raise Rejected("documents with macros are not accepted")
    found = {_OOXML_MAIN[d] for d in declared if d in _OOXML_MAIN}
    if len(found) != 1:
        raise Rejected("Office files other than DOCX, XLSX and PPTX are not accepted")
    return found.pop()
