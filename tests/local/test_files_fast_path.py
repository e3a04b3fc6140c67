"""The Files app's fast path (Create File, Put Range, Get File and its HEAD answered without
werkzeug's Request/Response) answers exactly as the general path does: the same status, the
same headers in the same order, the same body, for successes and for every error on the way."""

from __future__ import annotations

import base64
import hashlib
import re

import attrs
import pytest

from batchai_kit.local.files import _app, generate_account_key

from .files_support import ACCOUNT, SHARE, files_certificate, files_server, start_emulator  # noqa: F401

# Values that differ between two runs by nature: the moment, the random request id, and what
# the files' inodes and times make (ETag, Last-Modified, the SMB properties).
_VOLATILE = {"date", "x-ms-request-id", "etag", "last-modified", "x-ms-file-creation-time",
             "x-ms-file-last-write-time", "x-ms-file-change-time", "x-ms-file-id"}
_ERROR_STAMP = re.compile(rb"RequestId:[0-9a-f-]+\nTime:[0-9T:.Z-]+")
_SIGNED_DATE = re.compile(rb"x-ms-date:[^\n]*")  # a refused signature's detail shows the request's date


def _md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


FILE = f"/{ACCOUNT}/{SHARE}/dir/f.bin"
CONTENT = b"0123456789"
CREATE = {"x-ms-type": "file", "x-ms-content-length": "10", "x-ms-content-type": "text/plain",
          "x-ms-meta-Owner": "me", "x-ms-client-request-id": "client-1"}


def _requests():
    """(method, path, query, headers, body, key) of one session: the upload and download of
    small files, and each way such a request can fail. ``key`` "wrong" signs with another key,
    None sends no signature."""
    write = {"x-ms-write": "update", "x-ms-range": "bytes=0-9"}
    return [
        ("PUT", f"/{ACCOUNT}/{SHARE}/dir", {"restype": "directory"}, {}, b"", "right"),
        ("PUT", FILE, {}, CREATE, b"", "right"),
        ("PUT", FILE, {"comp": "range"}, {**write, "Content-MD5": _md5(CONTENT)}, CONTENT, "right"),
        ("PUT", FILE, {"comp": "range"}, {**write, "Content-MD5": _md5(b"other")}, CONTENT, "right"),
        ("PUT", FILE, {"comp": "range"}, {**write, "x-ms-range": "bytes=5-14"}, CONTENT, "right"),
        ("PUT", FILE, {"comp": "range"}, {**write, "x-ms-range": "bytes=x"}, CONTENT, "right"),
        ("PUT", FILE, {"comp": "range"}, {"x-ms-write": "clear", "x-ms-range": "bytes=0-3"}, b"", "right"),
        ("PUT", FILE, {"comp": "range"}, {"x-ms-write": "sideways", "x-ms-range": "bytes=0-3"}, b"", "right"),
        ("GET", FILE, {}, {"x-ms-client-request-id": "client-2"}, b"", "right"),
        ("GET", FILE, {}, {"x-ms-range": "bytes=2-5"}, b"", "right"),
        ("GET", FILE, {}, {"x-ms-range": "bytes=2-5", "x-ms-range-get-content-md5": "true"}, b"", "right"),
        ("GET", FILE, {}, {"x-ms-range": "bytes=20-"}, b"", "right"),
        ("GET", FILE, {}, {"If-Match": '"0x8NOTTHEETAG"', "If-None-Match": "*"}, b"", "right"),
        ("HEAD", FILE, {}, {}, b"", "right"),
        ("GET", FILE, {}, {}, b"", "wrong"),
        ("PUT", FILE, {}, CREATE, b"", "wrong"),
        ("GET", FILE, {}, {}, b"", None),
        ("PUT", FILE, {}, {"x-ms-content-length": "10"}, b"", "right"),
        ("PUT", FILE, {}, {"x-ms-type": "file", "x-ms-content-length": "-1"}, b"", "right"),
        ("GET", f"/{ACCOUNT}/{SHARE}/dir/missing.bin", {}, {}, b"", "right"),
        ("HEAD", f"/{ACCOUNT}/{SHARE}/dir/missing.bin", {}, {}, b"", "right"),
        ("GET", f"/{ACCOUNT}/{SHARE}/dir", {}, {}, b"", "right"),
        ("PUT", f"/{ACCOUNT}/{SHARE}/dir", {}, CREATE, b"", "right"),
        ("PUT", f"/{ACCOUNT}/{SHARE}/nodir/f.bin", {}, CREATE, b"", "right"),
        ("PUT", f"/{ACCOUNT}/noshare/f.bin", {}, CREATE, b"", "right"),
        ("PUT", f"/{ACCOUNT}/{SHARE}/dir/a%3Cb", {}, CREATE, b"", "right"),
        ("PUT", f"/{ACCOUNT}/{SHARE}/dir/empty.bin", {}, {**CREATE, "x-ms-content-length": "0"}, b"", "right"),
        ("GET", f"/{ACCOUNT}/{SHARE}/dir/empty.bin", {}, {}, b"", "right"),
        ("GET", FILE, {"comp": "rangelist"}, {}, b"", "right"),
    ]


def _session(emulator) -> list[tuple[int, list[tuple[str, str]], bytes]]:
    emulator.client().create_share(SHARE)
    wrong = attrs.evolve(emulator, key=generate_account_key())
    answers = []
    for method, path, query, headers, body, key in _requests():
        sender = wrong if key == "wrong" else emulator
        response = sender.raw(method, path, query, headers, body, sign=key is not None)
        answers.append((response.status,
                        [(name, "<volatile>" if name.lower() in _VOLATILE else value)
                         for name, value in response.headers.items()],
                        _SIGNED_DATE.sub(b"x-ms-date:<volatile>",
                                         _ERROR_STAMP.sub(b"RequestId:<volatile>", response.body))))
    return answers


@pytest.fixture
def fast_calls(monkeypatch) -> list[str]:
    calls: list[str] = []
    answer_fast = _app.FilesService._answer_fast

    def counted(self, environ, start_response, *target):
        calls.append(environ["REQUEST_METHOD"])
        return answer_fast(self, environ, start_response, *target)

    monkeypatch.setattr(_app.FilesService, "_answer_fast", counted)
    return calls


def test_the_fast_path_answers_byte_for_byte_as_the_general_path(tmp_path, files_server, files_certificate,
                                                                  fast_calls, monkeypatch):
    fast = _session(start_emulator(tmp_path / "fast", files_server, files_certificate))
    served_fast = len(fast_calls)
    with monkeypatch.context() as patch:
        patch.setattr(_app, "FAST_ROUTES", {})
        general = _session(start_emulator(tmp_path / "general", files_server, files_certificate))
    assert len(fast_calls) == served_fast  # the second session never took the fast path
    assert served_fast >= 20  # the file operations of the first did
    assert [status for status, _, _ in fast] == [status for status, _, _ in general]
    for index, (one, other) in enumerate(zip(fast, general)):
        assert one == other, _requests()[index][:3]


def test_the_session_covers_successes_and_each_kind_of_failure(tmp_path, files_server, files_certificate):
    statuses = [status for status, _, _ in _session(start_emulator(tmp_path, files_server, files_certificate))]
    assert {200, 201, 206, 400, 401, 403, 404, 409, 416} <= set(statuses)
    assert statuses[2] == 201 and statuses[8] == 200 and statuses[9] == 206  # the upload, the downloads
