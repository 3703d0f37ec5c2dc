"""What a file is, judged by its bytes, and the names it is offered for download under."""

from __future__ import annotations

import io
import zipfile

import pytest

from casework.blobs.sniff import DOCX, ODS, ODT, PPTX, XLSX, ZIP, Rejected, inspect_zip, sniff
from casework.services.document_files import (
    CheckedUpload,
    clean_file_name,
    clean_title,
    media_type_of,
)
from casework.services.errors import InvalidInput, UnsupportedType


def ooxml(main: str, *names: str) -> io.BytesIO:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", f'<Types><Override ContentType="{main}"/></Types>')
        for name in names:
            z.writestr(name, b"x")
    out.seek(0)
    return out


def odf(mimetype: str, *names: str) -> io.BytesIO:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr(zipfile.ZipInfo("mimetype"), mimetype)  # first and stored, as ODF wants
        z.writestr("content.xml", "<office:document-content/>")
        for name in names:
            z.writestr(name, b"x")
    out.seek(0)
    return out


MAIN = "application/vnd.openxmlformats-officedocument.{}.main+xml"


@pytest.mark.parametrize(
    ("head", "media_type"),
    [
        (b"%PDF-1.4\n%\xe2\xe3", "application/pdf"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "image/png"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg"),
        (b"GIF87a\x01\x00", "image/gif"),
        (b"GIF89a\x01\x00", "image/gif"),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"II*\x00\x08\x00\x00\x00", "image/tiff"),
        (b"MM\x00*\x00\x00\x00\x08", "image/tiff"),
        (b"PK\x03\x04\x14\x00", ZIP),
        (b"name,amount\nann,12\n", "text/plain"),
        (b"\xef\xbb\xbfCaf\xc3\xa9 cr\xc3\xa8me\r\n\tindented\x0c", "text/plain"),
        (b"Gr\xfc\xdfe aus K\xf6ln\n", "text/plain"),  # Latin-1 text is text too
        (b"From: ann@example.org\nTo: bob@example.org\nSubject: claim\n\nHi", "message/rfc822"),
        (b"Received: from x\n  by y\nFrom: a@b\nDate: today\n\n", "message/rfc822"),
        (b"From: just a line that looks like a header\n\nthen text", "text/plain"),
        (b"a < b and c > d", "text/plain"),
    ],
)
def test_accepted_types(head: bytes, media_type: str) -> None:
    assert sniff(head).media_type == media_type


@pytest.mark.parametrize(
    ("head", "reason"),
    [
        (b"MZ\x90\x00", "executable"),
        (b"\x7fELF\x02", "executable"),
        (b"\xcf\xfa\xed\xfe\x07", "executable"),
        (b"\xca\xfe\xba\xbe\x00", "executable"),
        (b"\x00asm\x01\x00", "executable"),
        (b"#!/usr/bin/env python\n", "scripts"),
        (b"  <html><body>hi", "HTML"),
        (b"<?xml version='1.0'?><svg/>", "HTML, SVG"),
        (b"\xef\xbb\xbf<svg onload=alert(1)>", "HTML, SVG"),
        (b"Dear sir,\n<script>alert(1)</script>", "HTML"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "legacy Office"),
        (b"\xff\xfeh\x00i\x00", "not of an accepted type"),  # UTF-16
        (b"\x1b[31mred\x1b[0m", "not of an accepted type"),
        (b"\x1f\x8b\x08\x00", "not of an accepted type"),  # gzip
    ],
)
def test_refused_types(head: bytes, reason: str) -> None:
    with pytest.raises(Rejected, match=reason):
        sniff(head)


@pytest.mark.parametrize(
    ("archive", "media_type"),
    [
        (ooxml(MAIN.format("wordprocessingml.document"), "word/document.xml"), DOCX),
        (ooxml(MAIN.format("spreadsheetml.sheet")), XLSX),
        (ooxml(MAIN.format("presentationml.presentation")), PPTX),
        (odf(ODT), ODT),
        (odf(ODS), ODS),
    ],
)
def test_office_documents_are_told_apart(archive: io.BytesIO, media_type: str) -> None:
    assert inspect_zip(archive) == media_type


@pytest.mark.parametrize(
    ("archive", "reason"),
    [
        (ooxml("application/vnd.ms-word.document.macroEnabled.main+xml"), "macros"),
        (ooxml(MAIN.format("wordprocessingml.document"), "word/vbaProject.bin"), "macros"),
        (ooxml(MAIN.format("wordprocessingml.template")), "other than DOCX"),
        (odf(ODT, "Basic/Standard/Module1.xml"), "macros"),
        (odf("application/vnd.oasis.opendocument.graphics"), "not accepted"),
        (odf("application/x-anything"), "not accepted"),
        (ooxml("x").__class__(b"PK\x03\x04 not really"), "not a valid one"),
    ],
)
def test_other_zip_files_are_refused(archive: io.BytesIO, reason: str) -> None:
    with pytest.raises(Rejected, match=reason):
        inspect_zip(archive)


def test_plain_zip_archives_are_refused() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("payload.exe", b"MZ")
    with pytest.raises(Rejected, match="ZIP archives are not accepted"):
        inspect_zip(out)


@pytest.mark.parametrize(
    ("raw", "media_type", "clean"),
    [
        ("report.pdf", "application/pdf", "report.pdf"),
        ("REPORT.PDF", "application/pdf", "REPORT.PDF"),
        ("C:\\Users\\ann\\Desktop\\scan.JPG", "image/jpeg", "scan.JPG"),
        ("../../etc/passwd", "text/plain", "passwd.txt"),
        ("invoice.exe", "application/pdf", "invoice.exe.pdf"),
        ("photo.html", "image/png", "photo.html.png"),
        ("\u202egpj.exe", "application/pdf", "gpj.exe.pdf"),  # right-to-left override
        ("a\x00b\x07c\r\nd.txt", "text/plain", "abc d.txt"),
        ('what<>:"|?*.pdf', "application/pdf", "what_______.pdf"),
        ("...hidden.pdf", "application/pdf", "hidden.pdf"),
        ("trailing.pdf. . ", "application/pdf", "trailing.pdf"),
        ("CON.pdf", "application/pdf", "_CON.pdf"),
        ("nul", "text/plain", "_nul.txt"),
        ("", "application/pdf", "document.pdf"),
        (None, "image/png", "document.png"),
        ("  ", "text/csv", "document.csv"),
        ("Straße café.pdf", "application/pdf", "Straße café.pdf"),
        ("e\u0301t\u00e9.pdf", "application/pdf", "\u00e9t\u00e9.pdf"),  # NFC
    ],
)
def test_file_names(raw: str | None, media_type: str, clean: str) -> None:
    assert clean_file_name(raw, media_type) == clean


def test_long_file_names_keep_their_extension() -> None:
    name = clean_file_name("é" * 300 + ".pdf", "application/pdf")
    assert name.endswith(".pdf") and len(name.encode()) <= 200
    assert name.startswith("é") and "\ufffd" not in name


def test_titles() -> None:
    assert clean_title(None) is None
    assert clean_title(" Police\n report \u200b") == "Police report"
    with pytest.raises(InvalidInput):
        clean_title(" \t\x00 ")
    with pytest.raises(InvalidInput):
        clean_title("x" * 256)


@pytest.mark.parametrize(
    ("declared", "detected", "file_name", "stored"),
    [
        ("image/png", "application/pdf", "a.png", "application/pdf"),
        (None, "image/png", None, "image/png"),
        ("text/csv; charset=utf-8", "text/plain", "a.txt", "text/csv"),
        ("application/octet-stream", "text/plain", "a.csv", "text/csv"),
        ("text/html", "text/plain", "a.html", "text/plain"),
        ("text/plain", "message/rfc822", "m.eml", "text/plain"),
        ("text/csv", "application/pdf", "a.csv", "application/pdf"),
    ],
)
def test_the_declared_type_counts_only_where_it_agrees(
    declared: str | None, detected: str, file_name: str | None, stored: str
) -> None:
    assert media_type_of(declared, detected, file_name) == stored


def test_checked_upload_passes_every_byte_on() -> None:
    data = b"line\n" * 10_000
    upload = CheckedUpload(io.BytesIO(data), field="file")
    out = []
    while chunk := upload.read(3000):
        out.append(chunk)
    assert b"".join(out) == data
    assert upload.sniffed is not None and upload.sniffed.text


def test_checked_upload_refuses_before_passing_anything_on() -> None:
    upload = CheckedUpload(io.BytesIO(b"MZ" + b"\x00" * 100_000), field="file")
    with pytest.raises(UnsupportedType) as raised:
        upload.read(10)
    assert raised.value.field == "file"
