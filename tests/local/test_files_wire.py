"""Azure Files wire facts recorded from the live service (x-ms-version 2019-02-02), on raw answers."""

import re
import xml.etree.ElementTree as ET

from .files_support import azure_error, file_service, files_certificate, files_emulator, files_server, share  # noqa: F401

BOM = b"\xef\xbb\xbf"


def test_a_directory_under_a_missing_parent_is_parent_not_found(files_emulator, share):
    response = files_emulator.raw("PUT", f"/batchaikitlocal/{share}/missing/child", {"restype": "directory"},
                                  {"x-ms-file-permission": "inherit", "x-ms-file-attributes": "None",
                                   "x-ms-file-creation-time": "now", "x-ms-file-last-write-time": "now"})
    assert (response.status, response.error_code) == (404, "ParentNotFound")


def test_a_file_under_a_missing_parent_is_parent_not_found(files_emulator, share):
    response = files_emulator.raw("PUT", f"/batchaikitlocal/{share}/missing/f.txt", None,
                                  {"x-ms-type": "file", "x-ms-content-length": "3",
                                   "x-ms-file-permission": "inherit", "x-ms-file-attributes": "None",
                                   "x-ms-file-creation-time": "now", "x-ms-file-last-write-time": "now"})
    assert (response.status, response.error_code) == (404, "ParentNotFound")


def test_reads_say_server_encrypted_and_writes_request_server_encrypted(files_emulator, file_service, share):
    created = files_emulator.raw("PUT", f"/batchaikitlocal/{share}/e.txt", None,
                                 {"x-ms-type": "file", "x-ms-content-length": "3",
                                  "x-ms-file-permission": "inherit", "x-ms-file-attributes": "None",
                                  "x-ms-file-creation-time": "now", "x-ms-file-last-write-time": "now"})
    assert created.status == 201
    assert created.headers["x-ms-request-server-encrypted"] == "true"
    assert "x-ms-server-encrypted" not in created.headers
    for method in ("GET", "HEAD"):
        read = files_emulator.raw(method, f"/batchaikitlocal/{share}/e.txt")
        assert read.headers["x-ms-server-encrypted"] == "true"
        assert "x-ms-request-server-encrypted" not in read.headers


def test_head_of_a_file_has_no_accept_ranges_but_get_has(files_emulator, file_service, share):
    file_service.create_file_from_bytes(share, None, "a.bin", b"abc")
    assert "Accept-Ranges" not in files_emulator.raw("HEAD", f"/batchaikitlocal/{share}/a.bin").headers
    assert files_emulator.raw("GET", f"/batchaikitlocal/{share}/a.bin").headers["Accept-Ranges"] == "bytes"


def test_an_unsatisfiable_range_answers_416_with_the_size_in_content_range(files_emulator, file_service, share):
    file_service.create_file_from_bytes(share, None, "r.txt", b"0123456789")
    response = files_emulator.raw("GET", f"/batchaikitlocal/{share}/r.txt", headers={"x-ms-range": "bytes=10-20"})
    assert (response.status, response.headers["Content-Range"]) == (416, "bytes */10")


def test_error_bodies_start_with_a_byte_order_mark(files_emulator, share):
    response = files_emulator.raw("GET", f"/batchaikitlocal/{share}/nope.txt")
    assert response.status == 404 and response.body.startswith(BOM + b"<?xml")
    assert ET.fromstring(response.body[len(BOM):]).findtext("Code") == "ResourceNotFound"


def test_next_marker_is_an_opaque_token_that_resumes_the_listing(files_emulator, file_service, share):
    for name in ("a.txt", "b.txt", "c.txt"):
        file_service.create_file_from_bytes(share, None, name, b"x")
    first = files_emulator.raw("GET", f"/batchaikitlocal/{share}", {"restype": "directory", "comp": "list",
                                                                      "maxresults": "2"})
    marker = ET.fromstring(first.body).findtext("NextMarker")
    assert re.fullmatch(r"2!\d+![A-Za-z0-9+/]+-*", marker) and "c.txt" not in marker
    rest = files_emulator.raw("GET", f"/batchaikitlocal/{share}", {"restype": "directory", "comp": "list",
                                                                     "marker": marker})
    assert [e.findtext("Name") for e in ET.fromstring(rest.body).iter("File")] == ["c.txt"]


def test_a_marker_that_is_not_a_token_is_refused(files_emulator, share):
    response = files_emulator.raw("GET", f"/batchaikitlocal/{share}", {"restype": "directory", "comp": "list",
                                                                         "marker": "c.txt"})
    assert (response.status, response.error_code) == (400, "OutOfRangeInput")


def test_share_listing_pages_with_opaque_markers_through_the_sdk(file_service):
    for name in ("sh1", "sh2", "sh3"):
        file_service.create_share(name)
    first = file_service.list_shares(num_results=2)
    names = [s.name for s in first]
    assert first.next_marker and not first.next_marker.startswith("sh")
    names += [s.name for s in file_service.list_shares(marker=first.next_marker)]
    assert names == ["sh1", "sh2", "sh3"]
