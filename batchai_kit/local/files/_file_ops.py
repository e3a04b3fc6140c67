"""File operations: Create File, Put Range, Get File (whole or ranged), properties, Delete."""

from __future__ import annotations

import base64
import hashlib
import xml.etree.ElementTree as ET
from typing import BinaryIO, Iterator

from ._errors import FilesError, bad_header
from ._responses import (
    CONTENT_HEADERS,
    Answer,
    FilesResponse,
    empty,
    entry_headers,
    get_metadata_response,
    xml_response,
)
from ._storage import EntryInfo
from ._wire import ByteRange, Call, content_settings_from, int_header, metadata_from, range_from, read_body

MAX_FILE_SIZE = 1 << 40                 # 1 TiB, the limit for x-ms-version 2019-02-02
MAX_RANGE_WRITE = 4 << 20               # Put Range writes at most 4 MiB
MAX_RANGE_MD5 = 4 << 20                 # transactional MD5 only for ranges up to 4 MiB
STREAM_CHUNK = 256 << 10
DEFAULT_CONTENT_TYPE = "application/octet-stream"


def _md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode("ascii")


def create_file(call: Call) -> Answer:
    kind = call.request.headers.get("x-ms-type")
    if kind is None or kind.lower() != "file":
        raise bad_header("x-ms-type", kind)
    length = int_header(call.request, "x-ms-content-length", 0, MAX_FILE_SIZE)
    info = call.files.create(call.share_name, call.segments, length,
                             content_settings_from(call.request), metadata_from(call.request))
    return Answer(201, entry_headers(info))


def put_range(call: Call) -> Answer:
    request = call.request
    write = (request.headers.get("x-ms-write") or "").lower()
    byte_range = range_from(request, required=True)
    if byte_range.end is None:
        raise bad_header("x-ms-range", request.headers.get("x-ms-range") or request.headers.get("Range"))
    sent_length = request.content_length or 0
    if write == "clear":
        if sent_length:
            raise bad_header("Content-Length", str(sent_length))
        info = call.files.clear(call.share_name, call.segments, byte_range.start, byte_range.end)
        return Answer(201, entry_headers(info))
    if write != "update":
        raise bad_header("x-ms-write", request.headers.get("x-ms-write"))
    if byte_range.length > MAX_RANGE_WRITE:
        raise FilesError("RequestBodyTooLarge", {"MaxLimit": str(MAX_RANGE_WRITE)})
    if sent_length != byte_range.length:
        raise bad_header("Content-Length", str(sent_length))
    data = read_body(request, byte_range.length)
    computed = _md5(data)
    claimed = request.headers.get("Content-MD5")
    if claimed and claimed != computed:
        raise FilesError("Md5Mismatch", {"UserSpecifiedMd5": claimed, "ServerCalculatedMd5": computed})
    info = call.files.write(call.share_name, call.segments, byte_range.start, data)
    headers = entry_headers(info)
    headers["Content-MD5"] = computed
    return Answer(201, headers)


def get_file(call: Call) -> Answer:
    """GET (content, whole or a range) and HEAD (properties) of a file."""
    handle, info = call.files.open(call.share_name, call.segments)
    try:
        byte_range = None if call.is_head else range_from(call.request, required=False)
        headers = _file_headers(info, call)
        if byte_range is None:
            status, start, length = 200, 0, info.size
        else:
            status, start, length = 206, *_partial(byte_range, info, headers)
        headers["Content-Length"] = str(length)
        if call.is_head or length == 0:
            handle.close()
            return Answer(status, headers)
        if byte_range is not None and call.request.headers.get("x-ms-range-get-content-md5") == "true":
            if length > MAX_RANGE_MD5:
                raise bad_header("x-ms-range-get-content-md5", "true")
            handle.seek(start)
            data = handle.read(length)
            handle.close()
            headers["Content-MD5"] = _md5(data)
            return Answer(status, headers, data)
    except BaseException:
        handle.close()
        raise
    return Answer(status, headers, _stream(handle, start, length))


def _file_headers(info: EntryInfo, call: Call) -> dict[str, str]:
    headers = entry_headers(info, read=True)
    headers.update({"x-ms-type": "File", "Content-Type": DEFAULT_CONTENT_TYPE})
    if not call.is_head:  # Azure sends Accept-Ranges on GET only
        headers["Accept-Ranges"] = "bytes"
    for setting, value in info.content.items():
        headers[CONTENT_HEADERS[setting]] = value
    headers.update(call.grant.response_overrides)
    return headers


def _partial(byte_range: ByteRange, info: EntryInfo, headers: dict[str, str]) -> tuple[int, int]:
    """Adjust *headers* for a 206 answer; return (start, length). 416 past the end."""
    if byte_range.start >= info.size:
        raise FilesError("InvalidRange", headers={"Content-Range": f"bytes */{info.size}"})
    clipped = byte_range.clipped(info.size)
    headers["Content-Range"] = f"bytes {clipped.start}-{clipped.end}/{info.size}"
    whole_md5 = headers.pop("Content-MD5", None)
    if whole_md5:
        headers["x-ms-content-md5"] = whole_md5
    return clipped.start, clipped.length


def _stream(handle: BinaryIO, start: int, length: int) -> Iterator[bytes]:
    """Bounded chunks of an open file; closes it when done or when the client goes away."""
    try:
        handle.seek(start)
        remaining = length
        while remaining > 0:
            chunk = handle.read(min(STREAM_CHUNK, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            yield chunk
    finally:
        handle.close()


def set_file_properties(call: Call) -> FilesResponse:
    length = int_header(call.request, "x-ms-content-length", 0, MAX_FILE_SIZE, required=False)
    info = call.files.set_properties(call.share_name, call.segments, content_settings_from(call.request),
                                     length=length)
    return empty(200, entry_headers(info))


def get_file_metadata(call: Call) -> FilesResponse:
    return get_metadata_response(call.files.info(call.share_name, call.segments))


def set_file_metadata(call: Call) -> FilesResponse:
    info = call.files.set_properties(call.share_name, call.segments, None,
                                     metadata=metadata_from(call.request))
    return empty(200, entry_headers(info))


def delete_file(call: Call) -> FilesResponse:
    call.files.delete(call.share_name, call.segments)
    return empty(202)


def list_ranges(call: Call) -> FilesResponse:
    """The whole file as one written range (the emulator does not track sparse regions)."""
    info = call.files.info(call.share_name, call.segments)
    root = ET.Element("Ranges")
    if info.size:
        element = ET.SubElement(root, "Range")
        ET.SubElement(element, "Start").text = "0"
        ET.SubElement(element, "End").text = str(info.size - 1)
    response = xml_response(root)
    response.headers.update({"ETag": info.etag, "x-ms-content-length": str(info.size)})
    return response
