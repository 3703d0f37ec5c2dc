"""One file out of a multipart/form-data request, read as it arrives.

Starlette's form parser (behind FastAPI's `UploadFile`) reads the whole body into
temporary files before the route runs, without a size limit: a 2 GB upload would be on
disk before anyone could refuse it. Here the body is parsed chunk by chunk and the file's
bytes go straight to whoever reads them (the document service, into the blob store), so
the size limit and the type check stop an upload early and memory stays at one chunk.

The route runs the service in a worker thread (`run_upload`); `MultipartUpload.read`,
called there, pulls the request's next chunk from the event loop with
`anyio.from_thread.run`. Fields must come before the file (browsers and curl send them
in the order given); a field after it, a second file or a body that ends early are
refused, and since that happens while the blob store reads, nothing is stored.
"""

from __future__ import annotations

import codecs
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, TypeVar

import anyio
import anyio.to_thread
from anyio.lowlevel import RunVar
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect, Request

from casework.services.documents import FILE_FIELD, UploadInfo
from casework.services.errors import InvalidInput, TooLarge, UnsupportedType

if TYPE_CHECKING:  # only declared for type checkers
    from python_multipart.multipart import MultipartCallbacks

# What a multipart body may hold besides the file: boundaries, part headers, short fields.
OVERHEAD = 64 * 1024
MAX_FIELD = 2000  # bytes of one text field
T = TypeVar("T")
# Uploads at once in a server process. An upload holds its thread for as long as the
# client takes to send it, but a database connection only before and after: so not on
# the request threads, which are as many as the pool's connections (`app.create_app`).
UPLOADS_AT_ONCE = 40
_uploads: RunVar[anyio.CapacityLimiter] = RunVar("casework_uploads")


def receiver(request: Request) -> Callable[[], bytes | None]:
    """A blocking `() -> next chunk, or None at the end` over the request body, for code
    running in a worker thread that anyio started."""
    chunks: AsyncIterator[bytes] = request.stream()

    async def next_chunk() -> bytes | None:
        try:
            return await chunks.__anext__()
        except StopAsyncIteration:
            return None

    def receive() -> bytes | None:
        return anyio.from_thread.run(next_chunk)

    return receive


async def run_upload(call: Callable[[], T]) -> T:
    """Run a service that reads an upload in a worker thread."""
    try:
        limiter = _uploads.get()
    except LookupError:
        limiter = anyio.CapacityLimiter(UPLOADS_AT_ONCE)
        _uploads.set(limiter)
    try:
        return await anyio.to_thread.run_sync(call, limiter=limiter)
    except ClientDisconnect:
        # Nothing was kept (the services saw an exception mid-stream); nobody is listening.
        raise InvalidInput(
            "the upload ended early: the client went away", field=FILE_FIELD
        ) from None


class MultipartUpload:
    """`services.documents.UploadSource` over a multipart/form-data body."""

    def __init__(
        self,
        headers: Headers,
        receive: Callable[[], bytes | None],
        *,
        max_bytes: int,
        fields: frozenset[str] = frozenset(),
    ) -> None:
        self._headers = headers
        self._receive = receive
        self._limit = max_bytes + OVERHEAD
        self._allowed = fields
        self._received = 0
        self._parser: MultipartParser | None = None
        self._charset = "utf-8"
        # The part being parsed.
        self._header_name = b""
        self._header_value = b""
        self._disposition = b""
        self._content_type = b""
        self._field: str | None = None  # a text field's name; None inside the file
        self._value = bytearray()
        # What has been seen.
        self._fields: dict[str, str] = {}
        self._file: UploadInfo | None = None
        self._in_file = False
        self._file_done = False
        self._body_done = False
        self._pending: deque[bytes] = deque()

    # --- UploadSource --------------------------------------------------------------------

    def start(self) -> UploadInfo:
        """Check the request's headers, then read up to the start of the file's bytes."""
        self._parser = MultipartParser(self._boundary(), self._callbacks())
        while self._file is None:
            if not self._feed():
                raise InvalidInput(
                    f"the form has no file in the field '{FILE_FIELD}'", field=FILE_FIELD
                )
        return UploadInfo(
            file_name=self._file.file_name,
            declared_type=self._file.declared_type,
            name=self._fields.get("name"),
        )

    def field(self, name: str) -> str | None:
        """A text field sent before the file (once `start` has returned)."""
        return self._fields.get(name)

    def read(self, size: int = -1, /) -> bytes:
        while not self._pending and not self._body_done:
            if not self._feed():
                if not self._file_done:
                    raise InvalidInput("the upload ended before the file did", field=FILE_FIELD)
                self._body_done = True
        if not self._pending:
            return b""
        data = self._pending.popleft()
        if 0 <= size < len(data):
            data, rest = data[:size], data[size:]
            self._pending.appendleft(rest)
        return data

    # --- parsing -------------------------------------------------------------------------

    def _boundary(self) -> bytes:
        content_type, options = parse_options_header(self._headers.get("content-type"))
        boundary = options.get(b"boundary")
        if content_type != b"multipart/form-data" or not boundary:
            raise UnsupportedType(
                f"send the document as multipart/form-data, in the field '{FILE_FIELD}'",
                field=FILE_FIELD,
            )
        charset = options.get(b"charset", b"utf-8").decode("latin-1")
        try:
            self._charset = codecs.lookup(charset).name
        except LookupError:
            self._charset = "utf-8"
        length = self._headers.get("content-length", "")
        if length.isdigit() and int(length) > self._limit:
            raise self._too_large()
        return boundary

    def _too_large(self) -> TooLarge:
        limit = self._limit - OVERHEAD
        return TooLarge(
            f"a document is at most {limit} bytes ({limit / 2**20:.1f} MiB)", field=FILE_FIELD
        )

    def _feed(self) -> bool:
        """Parse the next chunk of the body; False at its end."""
        assert self._parser is not None
        chunk = self._receive()
        while chunk == b"":
            chunk = self._receive()
        if chunk is None:
            return False
        self._received += len(chunk)
        if self._received > self._limit:
            raise self._too_large()
        try:
            self._parser.write(chunk)
        except FormParserError:
            raise InvalidInput(
                "the body is not valid multipart/form-data", field=FILE_FIELD
            ) from None
        return True

    def _callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self._on_part_begin,
            "on_part_data": self._on_part_data,
            "on_part_end": self._on_part_end,
            "on_header_field": self._on_header_field,
            "on_header_value": self._on_header_value,
            "on_header_end": self._on_header_end,
            "on_headers_finished": self._on_headers_finished,
        }

    def _on_part_begin(self) -> None:
        self._disposition = self._content_type = b""
        self._field = None
        self._value = bytearray()

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _on_header_end(self) -> None:
        name = self._header_name.strip().lower()
        if name == b"content-disposition":
            self._disposition = self._header_value
        elif name == b"content-type":
            self._content_type = self._header_value
        self._header_name = self._header_value = b""

    def _on_headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        name = self._decode(options.get(b"name", b""))
        if self._file is not None:
            raise InvalidInput(
                f"'{name}' comes after the file: send the fields first, the file last",
                field=name or FILE_FIELD,
            )
        if b"filename" in options or name == FILE_FIELD:
            if name != FILE_FIELD:
                raise InvalidInput(
                    f"the file goes in the field '{FILE_FIELD}'", field=name or FILE_FIELD
                )
            declared = self._content_type.decode("latin-1").strip() or None
            self._file = UploadInfo(self._decode(options.get(b"filename", b"")) or None, declared)
            self._in_file = True
        elif name not in self._allowed or name in self._fields:
            raise InvalidInput(f"unexpected form field '{name}'", field=name or "body")
        else:
            self._field = name

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._in_file:
            self._pending.append(bytes(data[start:end]))
        elif self._field is not None:
            self._value += data[start:end]
            if len(self._value) > MAX_FIELD:
                raise InvalidInput(
                    f"'{self._field}' is at most {MAX_FIELD} bytes", field=self._field
                )

    def _on_part_end(self) -> None:
        if self._in_file:
            self._in_file, self._file_done = False, True
        elif self._field is not None:
            self._fields[self._field] = self._decode(bytes(self._value))

    def _decode(self, raw: bytes) -> str:
        return raw.decode(self._charset, errors="replace")
