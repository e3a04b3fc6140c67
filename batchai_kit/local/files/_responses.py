"""Building responses the way the File service shapes them: headers, XML bodies, errors."""

from __future__ import annotations

import base64
import datetime
import functools
import time
import uuid
import xml.etree.ElementTree as ET
from typing import Callable, Iterable, Iterator, Union

import attrs
from werkzeug.http import HTTP_STATUS_CODES, http_date
from werkzeug.wrappers import Response

from ._errors import FilesError
from ._storage import EntryInfo, ShareInfo

API_VERSION = "2019-02-02"
XML_DECLARATION = b'<?xml version="1.0" encoding="utf-8"?>'
UTF8_BOM = b"\xef\xbb\xbf"  # Azure's error bodies start with one
SERVER = "Windows-Azure-File/1.0 Microsoft-HTTPAPI/2.0 (batchai_kit local emulator)"
# Response header for each stored content setting.
CONTENT_HEADERS = {"content_type": "Content-Type", "content_encoding": "Content-Encoding",
                   "content_language": "Content-Language", "cache_control": "Cache-Control",
                   "content_disposition": "Content-Disposition", "content_md5": "Content-MD5"}


class FilesResponse(Response):
    """No default Content-Type: Azure sends none on empty answers."""

    default_mimetype = None


# The status lines werkzeug's Response writes ("201 CREATED"), for answers that skip it.
_STATUS_LINES = {code: f"{code} {reason.upper()}" for code, reason in HTTP_STATUS_CODES.items()}


@attrs.define(slots=True)
class Answer:
    """An answer of the hot file operations (Create File, Put Range, Get File): status, headers
    in order, and a body (none, bytes, or a stream sent as it is). The app's general path turns it
    into the :class:`FilesResponse` it stands for (:meth:`to_response`); its fast path writes it
    with :func:`answer_wsgi`, the same status line and header list without werkzeug's objects."""

    status: int
    headers: dict[str, str]
    body: Union[bytes, Iterator[bytes], None] = None

    def to_response(self) -> FilesResponse:
        if self.body is None or isinstance(self.body, bytes):
            return FilesResponse(self.body, status=self.status, headers=self.headers)
        return FilesResponse(self.body, status=self.status, headers=self.headers, direct_passthrough=True)

    def close(self) -> None:
        """Let go of a stream the answer will not send."""
        close = getattr(self.body, "close", None)
        if close is not None:
            close()


def answer_wsgi(answer: Answer, environ: dict, start_response: Callable,
                client_request_id: str | None) -> Iterable[bytes]:
    """Send *answer* through *start_response* as ``add_service_headers`` and werkzeug's Response
    would send it: the handler's headers in order (a bytes body's Content-Length set among
    them), the service headers, then Content-Length 0 for an empty body."""
    headers = answer.headers
    body = answer.body
    names = {name.lower() for name in headers}

    def set_header(name: str, value: str) -> None:
        if name.lower() in names:
            _set_header(headers, name, value)
        else:
            headers[name] = value
            names.add(name.lower())

    if isinstance(body, bytes):
        set_header("Content-Length", str(len(body)))
    if "x-ms-request-id" not in names:
        set_header("x-ms-request-id", str(uuid.uuid4()))
    set_header("x-ms-version", API_VERSION)
    set_header("Server", SERVER)
    set_header("Date", http_date_of(time.time()))
    if client_request_id:
        set_header("x-ms-client-request-id", client_request_id)
    status = answer.status
    if body is None and status not in (204, 304) and not 100 <= status < 200 and "content-length" not in names:
        headers["Content-Length"] = "0"
    start_response(_STATUS_LINES[status], list(headers.items()))
    if environ["REQUEST_METHOD"] == "HEAD" or body is None or status in (204, 304):
        answer.close()
        return []
    if isinstance(body, bytes):
        return [body]
    return body


def _set_header(headers: dict[str, str], name: str, value: str) -> None:
    """werkzeug's ``Headers.set``: replace the first header of that name (any case) in place, or
    add it at the end."""
    lower = name.lower()
    for key in headers:
        if key.lower() == lower:
            if key == name:
                headers[key] = value
            else:  # werkzeug writes the new name's spelling in the old one's place
                renamed = {(name if k == key else k): (value if k == key else v) for k, v in headers.items()}
                headers.clear()
                headers.update(renamed)
            return
    headers[name] = value


def empty(status: int, headers: dict[str, str] | None = None) -> FilesResponse:
    """A response without body; a Content-Length in *headers* (HEAD of a file) is kept."""
    return FilesResponse(status=status, headers=headers)


def xml_response(element: ET.Element, status: int = 200, *, bom: bool = False) -> FilesResponse:
    body = (UTF8_BOM if bom else b"") + XML_DECLARATION + ET.tostring(element, encoding="utf-8")
    return FilesResponse(body, status=status, content_type="application/xml")


def error_response(error: FilesError) -> FilesResponse:
    root = ET.Element("Error")
    ET.SubElement(root, "Code").text = error.code
    request_id = str(uuid.uuid4())
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")
    ET.SubElement(root, "Message").text = f"{error.message}\nRequestId:{request_id}\nTime:{now}"
    for name, value in error.details.items():
        ET.SubElement(root, name).text = value
    response = xml_response(root, error.status, bom=True)
    response.headers.update(error.headers)
    response.headers["x-ms-error-code"] = error.code
    response.headers["x-ms-request-id"] = request_id
    if error.status == 401:
        response.headers["WWW-Authenticate"] = 'SharedKey realm="Azure Files"'
    return response


@functools.lru_cache(maxsize=1024)
def _http_date_of_second(second: int) -> str:
    return http_date(second)


def http_date_of(timestamp: float) -> str:
    """An HTTP date (whole seconds) of *timestamp*; each second formatted once (a file's
    Last-Modified, every answer's Date)."""
    return _http_date_of_second(int(timestamp // 1))


def add_service_headers(response: Response, client_request_id: str | None) -> None:
    headers = response.headers
    headers.setdefault("x-ms-request-id", str(uuid.uuid4()))
    headers["x-ms-version"] = API_VERSION
    headers["Server"] = SERVER
    headers["Date"] = http_date_of(time.time())
    if client_request_id:
        headers["x-ms-client-request-id"] = client_request_id


@functools.lru_cache(maxsize=1024)  # an answer shows a file's ctime twice (creation and change time)
def _smb_time(timestamp: float) -> str:
    moment = datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def entry_headers(info: EntryInfo, *, read: bool = False) -> dict[str, str]:
    """ETag, Last-Modified and the SMB properties of 2019-02-02. A read (GET/HEAD) also carries
    the metadata and ``x-ms-server-encrypted``; a write ``x-ms-request-server-encrypted``
    instead, as Azure answers."""
    encrypted = "x-ms-server-encrypted" if read else "x-ms-request-server-encrypted"
    headers = {
        "ETag": info.etag,
        "Last-Modified": http_date_of(info.last_modified),
        encrypted: "true",
        "x-ms-file-attributes": "Directory" if info.is_directory else "Archive",
        "x-ms-file-creation-time": _smb_time(info.changed),
        "x-ms-file-last-write-time": _smb_time(info.last_modified),
        "x-ms-file-change-time": _smb_time(info.changed),
        "x-ms-file-id": str(info.inode),
    }
    if read:
        headers.update(metadata_headers(info.metadata))
    return headers


def share_headers(info: ShareInfo, with_metadata: bool = True) -> dict[str, str]:
    headers = {"ETag": info.etag, "Last-Modified": http_date_of(info.last_modified),
               "x-ms-share-quota": str(info.quota)}
    if with_metadata:
        headers.update(metadata_headers(info.metadata))
    return headers


def metadata_headers(metadata: dict[str, str]) -> dict[str, str]:
    return {f"x-ms-meta-{name}": value for name, value in metadata.items()}


def get_metadata_response(info: EntryInfo | ShareInfo) -> FilesResponse:
    """The answer to ``comp=metadata`` GET on a share, directory or file."""
    headers = {"ETag": info.etag, "Last-Modified": http_date_of(info.last_modified)}
    headers.update(metadata_headers(info.metadata))
    return empty(200, headers)


def listing(attributes: dict[str, str], params: dict[str, str | None],
            ) -> tuple[ET.Element, Callable[[str | None], ET.Element]]:
    """An ``EnumerationResults`` root echoing the paging parameters, and a closer that adds
    ``NextMarker`` (empty when the listing is complete, as Azure writes it)."""
    root = ET.Element("EnumerationResults", attributes)
    for tag, value in params.items():
        if value is not None:
            ET.SubElement(root, tag).text = value

    def close(next_marker: str | None) -> ET.Element:
        ET.SubElement(root, "NextMarker").text = next_marker
        return root
    return root, close


def add_metadata_element(parent: ET.Element, metadata: dict[str, str]) -> None:
    element = ET.SubElement(parent, "Metadata")
    for name, value in metadata.items():
        ET.SubElement(element, name).text = value


def page(items: Iterable, key, marker: str | None, max_results: int) -> tuple[list, str | None]:
    """Items from *marker* (a token from an earlier page) on, at most *max_results*, and the
    next page's token."""
    start = None if marker is None else decode_marker(marker)
    remaining = [item for item in items if start is None or key(item) >= start]
    if len(remaining) > max_results:
        return remaining[:max_results], encode_marker(key(remaining[max_results]))
    return remaining, None


def encode_marker(name: str) -> str:
    """An opaque continuation token for a listing resuming at *name*, shaped as Azure's
    (``2!{length}!{base64}``): clients must pass it back, not read it."""
    payload = base64.b64encode(f"{len(name.encode()):06d}!{name}!".encode()).decode().replace("=", "-")
    return f"2!{len(payload)}!{payload}"


def decode_marker(marker: str) -> str:
    """The name a token from :func:`encode_marker` resumes at; anything else is refused."""
    try:
        version, length, payload = marker.split("!", 2)
        if version != "2" or int(length) != len(payload):
            raise ValueError(marker)
        raw = base64.b64decode(payload.replace("-", "="), validate=True)
        size = int(raw[:6])
        if raw[6:7] != b"!" or raw[7 + size:] != b"!":
            raise ValueError(marker)
        name = raw[7:7 + size].decode()
    except (ValueError, UnicodeDecodeError):
        raise FilesError("OutOfRangeInput", {"QueryParameterName": "marker", "QueryParameterValue": marker}) \
            from None
    return name
