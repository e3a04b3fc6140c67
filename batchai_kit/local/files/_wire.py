"""Reading what a request asks for: metadata, content settings, ranges, paging parameters."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Literal, overload

import attrs
from werkzeug.wrappers import Request

from ._errors import FilesError, bad_header, bad_query
from ._store import CONTENT_SETTINGS

if TYPE_CHECKING:
    from ._auth import Grant
    from ._filedata import FileData
    from ._storage import Storage

MAX_LIST_RESULTS = 5000
_METADATA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")


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


def metadata_from(request: Request) -> dict[str, str]:
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


def content_settings_from(request: Request) -> dict[str, str]:
    """The ``x-ms-content-*`` / ``x-ms-cache-control`` settings a request sets (non-empty ones)."""
    settings = {}
    for setting in CONTENT_SETTINGS:
        value = request.headers.get("x-ms-" + setting.replace("_", "-"))
        if value:
            settings[setting] = value
    return settings


@overload
def int_header(request: Request, name: str, minimum: int, maximum: int,
               required: Literal[True] = True) -> int: ...


@overload
def int_header(request: Request, name: str, minimum: int, maximum: int,
               required: bool) -> int | None: ...


def int_header(request: Request, name: str, minimum: int, maximum: int,
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
def range_from(request: Request, required: Literal[True]) -> ByteRange: ...


@overload
def range_from(request: Request, required: bool) -> ByteRange | None: ...


def range_from(request: Request, required: bool) -> ByteRange | None:
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


def read_body(request: Request, expected: int) -> bytes:
    """Exactly *expected* bytes of body (bounded by the caller), or 400 if the client sent fewer."""
    chunks, received = [], 0
    while received < expected:
        chunk = request.stream.read(min(1 << 20, expected - received))
        if not chunk:
            raise bad_header("Content-Length", str(expected))
        chunks.append(chunk)
        received += len(chunk)
    return b"".join(chunks)


def drain(request: Request, limit: int = 8 << 20) -> None:
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

    request: Request
    share: str | None
    segments: tuple[str, ...]
    grant: Grant
    storage: Storage
    files: FileData
    account_name: str

    @property
    def service_endpoint(self) -> str:
        """``https://host:port/account/``: only listings show it (werkzeug builds it per call)."""
        return f"{self.request.host_url}{self.account_name}/"

    @property
    def share_name(self) -> str:
        """The share of a share-, directory- or file-level operation (the router sets one)."""
        if self.share is None:
            raise FilesError("InvalidUri")
        return self.share

    @property
    def is_head(self) -> bool:
        return self.request.method == "HEAD"
