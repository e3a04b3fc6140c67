"""Reading what a request asks for: metadata, content settings, ranges, paging parameters."""

from __future__ import annotations

import re
from typing import IO, TYPE_CHECKING, Any, Literal, Protocol, Union, overload

import attrs
from werkzeug.wrappers import Request
from werkzeug.wsgi import get_content_length, get_input_stream

from ._errors import FilesError, bad_header, bad_query
from ._store import CONTENT_SETTINGS

if TYPE_CHECKING:
    from ._auth import Grant
    from ._filedata import FileData
    from ._storage import Storage

MAX_LIST_RESULTS = 5000
_METADATA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")


class FileRequest(Protocol):
    """What the file and header helpers read of a request: werkzeug's Request, or an
    :class:`EnvironRequest` on the app's fast path."""

    @property
    def method(self) -> str: ...

    @property
    def headers(self) -> Any: ...  # .get(name) in any case, .items()

    @property
    def content_length(self) -> int | None: ...

    @property
    def stream(self) -> IO[bytes]: ...


_BODY_HEADERS = {"CONTENT_TYPE": "content-type", "CONTENT_LENGTH": "content-length"}


def lowercase_headers(environ: dict) -> dict[str, str]:
    """The request's headers by lower-case name: what ``request.headers`` shows (werkzeug's
    ``EnvironHeaders``: ``HTTP_*`` keys but its Content-Type/-Length, and the non-empty CGI
    ``CONTENT_TYPE``/``CONTENT_LENGTH``), read from the environ in one pass."""
    headers = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            if key not in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
                headers[key[5:].replace("_", "-").lower()] = value
        elif key in _BODY_HEADERS and value:
            headers[_BODY_HEADERS[key]] = value
    return headers


class LowercaseHeaders(dict):
    """Headers by lower-case name whose ``get`` takes a name in any case, as werkzeug's do."""

    def get(self, name: str, default: Any = None) -> Any:
        return dict.get(self, name.lower(), default)


class EnvironRequest:
    """A request as the hot file operations read it (method, headers, body), taken straight from
    the WSGI environ with werkzeug's own helpers for the body: what a werkzeug ``Request`` shows
    them, without building one."""

    __slots__ = ("content_length", "environ", "headers", "method", "stream")

    def __init__(self, environ: dict, headers: dict[str, str]):
        self.environ = environ
        self.method: str = environ["REQUEST_METHOD"]
        self.headers = LowercaseHeaders(headers)
        self.content_length = get_content_length(environ)
        self.stream: IO[bytes] = get_input_stream(environ)


@attrs.frozen
class ByteRange:
    start: int
    end: int | None      # inclusive; None = to the end

    def clipped(self, size: int) -> ByteRange:
        end = size - 1 if self.end is None else min(self.end, size - 1)
        return ByteRange(self.start, end)

    @property
    def length(self) -> int:
        assert self.end is not None
        return self.end - self.start + 1


def metadata_from(request: FileRequest) -> dict[str, str]:
    """``x-ms-meta-*`` headers. Names come back lower-case: WSGI keeps no header case."""
    metadata = {}
    for name, value in request.headers.items():
        lower = name.lower()
        if lower.startswith("x-ms-meta-"):
            key = lower[len("x-ms-meta-"):]
            if not _METADATA_NAME.match(key):
                raise FilesError("InvalidMetadata", {"MetadataName": key})
            metadata[key] = value
    return metadata


def content_settings_from(request: FileRequest) -> dict[str, str]:
    """The ``x-ms-content-*`` / ``x-ms-cache-control`` settings a request sets (non-empty ones)."""
    settings = {}
    for setting in CONTENT_SETTINGS:
        value = request.headers.get("x-ms-" + setting.replace("_", "-"))
        if value:
            settings[setting] = value
    return settings


@overload
def int_header(request: FileRequest, name: str, minimum: int, maximum: int,
               required: Literal[True] = True) -> int: ...


@overload
def int_header(request: FileRequest, name: str, minimum: int, maximum: int,
               required: bool) -> int | None: ...


def int_header(request: FileRequest, name: str, minimum: int, maximum: int,
               required: bool = True) -> int | None:
    text = request.headers.get(name)
    if text is None:
        if required:
            raise bad_header(name, None)
        return None
    if not text.isdigit() or not minimum <= int(text) <= maximum:
        raise bad_header(name, text)
    return int(text)


@overload
def range_from(request: FileRequest, required: Literal[True]) -> ByteRange: ...


@overload
def range_from(request: FileRequest, required: bool) -> ByteRange | None: ...


def range_from(request: FileRequest, required: bool) -> ByteRange | None:
    """``x-ms-range`` (preferred) or ``Range``: ``bytes=start-end`` or ``bytes=start-``."""
    for name in ("x-ms-range", "Range"):
        text = request.headers.get(name)
        if text is None:
            continue
        match = _RANGE.match(text.strip())
        if not match or (match.group(2) and int(match.group(2)) < int(match.group(1))):
            raise bad_header(name, text)
        return ByteRange(int(match.group(1)), int(match.group(2)) if match.group(2) else None)
    if required:
        raise bad_header("x-ms-range", None)
    return None


def paging_from(request: Request) -> tuple[str, str | None, int, dict[str, str | None]]:
    """prefix, marker and maxresults of a List request, plus the echo of what was given."""
    prefix = request.args.get("prefix") or ""
    marker = request.args.get("marker") or None
    text = request.args.get("maxresults")
    max_results = MAX_LIST_RESULTS
    if text is not None:
        try:
            max_results = int(text)
        except ValueError:
            raise bad_query("maxresults", text) from None
        if max_results <= 0:
            raise bad_query("maxresults", text, "OutOfRangeQueryParameterValue")
    echo = {"Prefix": request.args.get("prefix"), "Marker": marker, "MaxResults": text}
    return prefix, marker, min(max_results, MAX_LIST_RESULTS), echo


def read_body(request: FileRequest, expected: int) -> bytes:
    """Exactly *expected* bytes of body (bounded by the caller), or 400 if the client sent fewer."""
    chunks, received = [], 0
    while received < expected:
        chunk = request.stream.read(min(1 << 20, expected - received))
        if not chunk:
            raise bad_header("Content-Length", str(expected))
        chunks.append(chunk)
        received += len(chunk)
    return b"".join(chunks)


def drain(request: FileRequest, limit: int = 8 << 20) -> None:
    """Read (up to *limit* bytes of) a body the handler did not consume.

    werkzeug closes every connection after the response; closing a socket with unread input
    makes the kernel answer with a reset, and the client may then never see an error we sent
    (a 403 to a 4 MiB Put Range, say). Beyond *limit* we stop caring.
    """
    stream, read = request.stream, 0
    while read < limit:
        chunk = stream.read(1 << 16)
        if not chunk:
            return
        read += len(chunk)


@attrs.frozen
class Call:
    """One authenticated request on its way to an operation handler."""

    request: Union[Request, EnvironRequest]
    share: str | None
    segments: tuple[str, ...]
    grant: Grant
    storage: Storage
    files: FileData
    account_name: str

    @property
    def web_request(self) -> Request:
        """werkzeug's request, for what only the general path needs (the query, the host): the
        fast path serves file operations, which read the headers and the body alone."""
        assert isinstance(self.request, Request), "a fast-path call reads headers and body only"
        return self.request

    @property
    def service_endpoint(self) -> str:
        """``https://host:port/account/``: only listings show it (werkzeug builds it per call)."""
        return f"{self.web_request.host_url}{self.account_name}/"

    @property
    def share_name(self) -> str:
        """The share of a share-, directory- or file-level operation (the router sets one)."""
        if self.share is None:
            raise FilesError("InvalidUri")
        return self.share

    @property
    def is_head(self) -> bool:
        return self.request.method == "HEAD"
