"""Files: create, put range, get (whole and ranged), properties, MD5, delete, disk visibility."""

import base64
import hashlib
import os
import time

from azure.storage.file import ContentSettings, FileService

from .files_support import SHARE, azure_error, file_service, files_certificate, files_emulator, files_server, share  # noqa: F401


def _md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def test_uploaded_bytes_download_identically(file_service: FileService, share):
    file_service.create_file_from_bytes(share, None, "hello.txt", b"hello world")
    assert file_service.get_file_to_bytes(share, None, "hello.txt").content == b"hello world"


def test_names_with_spaces_and_non_ascii_characters_round_trip(file_service, share):
    file_service.create_directory(share, "run (1)")
    file_service.create_file_from_bytes(share, "run (1)", "résumé & notes+1.txt", b"ok")
    [entry] = file_service.list_directories_and_files(share, "run (1)")
    assert entry.name == "résumé & notes+1.txt"
    assert file_service.get_file_to_bytes(share, "run (1)", entry.name).content == b"ok"


def test_created_file_is_zero_filled_to_its_length(file_service: FileService, share):
    file_service.create_file(share, None, "blank.bin", 1000)
    assert file_service.get_file_to_bytes(share, None, "blank.bin").content == bytes(1000)


def test_file_properties_report_length_type_etag_and_last_modified(file_service, share):
    file_service.create_file_from_bytes(share, None, "p.txt", b"12345",
                                        content_settings=ContentSettings(content_type="text/plain"))
    properties = file_service.get_file_properties(share, None, "p.txt").properties
    assert properties.content_length == 5
    assert properties.content_settings.content_type == "text/plain"
    assert properties.etag.startswith('"0x')
    assert abs(properties.last_modified.timestamp() - time.time()) < 60


def test_file_without_content_type_is_served_as_octet_stream(file_service, share):
    file_service.create_file_from_bytes(share, None, "raw", b"x")
    properties = file_service.get_file_properties(share, None, "raw").properties
    assert properties.content_settings.content_type == "application/octet-stream"


def test_head_answers_x_ms_type_file(files_emulator, file_service, share):
    file_service.create_file_from_bytes(share, None, "t.bin", b"abc")
    response = files_emulator.raw("HEAD", f"/batchaikitlocal/{share}/t.bin")
    assert response.status == 200
    assert response.headers["x-ms-type"] == "File"
    assert response.headers["Content-Length"] == "3"


def test_ranged_get_answers_206_with_content_range(files_emulator, file_service, share):
    file_service.create_file_from_bytes(share, None, "r.txt", b"0123456789")
    response = files_emulator.raw("GET", f"/batchaikitlocal/{share}/r.txt",
                                  headers={"x-ms-range": "bytes=2-5"})
    assert response.status == 206
    assert response.headers["Content-Range"] == "bytes 2-5/10"
    assert response.body == b"2345"


def test_range_reaching_past_the_end_is_truncated(file_service: FileService, share):
    file_service.create_file_from_bytes(share, None, "r.txt", b"0123456789")
    got = file_service.get_file_to_bytes(share, None, "r.txt", start_range=7, end_range=100)
    assert got.content == b"789"


def test_range_starting_past_the_end_is_invalid_range(file_service: FileService, share):
    file_service.create_file_from_bytes(share, None, "r.txt", b"0123456789")
    error = azure_error(file_service.get_file_to_bytes, share, None, "r.txt",
                        start_range=10, end_range=20)
    assert (error.status_code, error.error_code) == (416, "InvalidRange")


def test_empty_file_downloads_as_empty(file_service: FileService, share):
    file_service.create_file(share, None, "empty", 0)
    assert file_service.get_file_to_bytes(share, None, "empty").content == b""


def test_content_md5_set_by_the_client_round_trips(file_service: FileService, share):
    data = b"checksummed content"
    file_service.create_file_from_bytes(share, None, "m.txt", data,
                                        content_settings=ContentSettings(content_md5=_md5(data)))
    properties = file_service.get_file_properties(share, None, "m.txt").properties
    assert properties.content_settings.content_md5 == _md5(data)
    assert file_service.get_file_to_bytes(share, None, "m.txt").content == data


def test_ranged_get_can_return_the_range_md5(file_service: FileService, share):
    file_service.create_file_from_bytes(share, None, "v.txt", os.urandom(5000))
    # validate_content makes the SDK ask x-ms-range-get-content-md5 and check the answer;
    # the SDK's own default chunk (8 MiB) is above the 4 MiB the service allows for that.
    file_service.MAX_CHUNK_GET_SIZE = 4 * 1024 * 1024
    got = file_service.get_file_to_bytes(share, None, "v.txt", validate_content=True)
    assert len(got.content) == 5000


def test_put_range_with_a_wrong_md5_is_md5_mismatch(files_emulator, file_service, share):
    file_service.create_file(share, None, "w.bin", 4)
    response = files_emulator.raw("PUT", f"/batchaikitlocal/{share}/w.bin", {"comp": "range"},
                                  {"x-ms-range": "bytes=0-3", "x-ms-write": "update",
                                   "Content-MD5": _md5(b"nope")}, body=b"data")
    assert (response.status, response.error_code) == (400, "Md5Mismatch")


def test_update_and_clear_range_change_only_their_bytes(file_service: FileService, share):
    file_service.create_file_from_bytes(share, None, "u.bin", b"a" * 10)
    file_service.update_range(share, None, "u.bin", b"XY", 3, 4)
    file_service.clear_range(share, None, "u.bin", 7, 8)
    assert file_service.get_file_to_bytes(share, None, "u.bin").content == b"aaaXYaa\0\0a"


def test_writing_past_the_end_of_the_file_is_invalid_range(file_service, share):
    file_service.create_file(share, None, "small", 4)
    error = azure_error(file_service.update_range, share, None, "small", b"12345678", 0, 7)
    assert (error.status_code, error.error_code) == (416, "InvalidRange")


def test_parallel_chunked_upload_and_download_are_byte_exact(tmp_path, file_service, share):
    data = os.urandom(9 * 1024 * 1024 + 12345)
    source, target = tmp_path / "big.bin", tmp_path / "back.bin"
    source.write_bytes(data)
    file_service.create_file_from_path(share, None, "big.bin", str(source), max_connections=4)
    file_service.MAX_SINGLE_GET_SIZE = 2 * 1024 * 1024   # force a parallel ranged download
    file_service.MAX_CHUNK_GET_SIZE = 2 * 1024 * 1024
    file_service.get_file_to_path(share, None, "big.bin", str(target), max_connections=4)
    assert hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(data).digest()


def test_set_file_properties_replaces_content_settings(file_service: FileService, share):
    file_service.create_file_from_bytes(share, None, "s.txt", b"x",
                                        content_settings=ContentSettings(content_type="text/plain",
                                                                         content_language="en"))
    file_service.set_file_properties(share, None, "s.txt", ContentSettings(content_type="text/csv"))
    settings = file_service.get_file_properties(share, None, "s.txt").properties.content_settings
    assert (settings.content_type, settings.content_language) == ("text/csv", None)


def test_resize_file_changes_its_length(file_service: FileService, share):
    file_service.create_file_from_bytes(share, None, "grow", b"abc")
    file_service.resize_file(share, None, "grow", 6)
    assert file_service.get_file_to_bytes(share, None, "grow").content == b"abc\0\0\0"


def test_file_metadata_round_trips(file_service: FileService, share):
    file_service.create_file_from_bytes(share, None, "meta", b"x", metadata={"epoch": "3"})
    assert file_service.get_file_properties(share, None, "meta").metadata == {"epoch": "3"}
    file_service.set_file_metadata(share, None, "meta", {"epoch": "4"})
    assert file_service.get_file_metadata(share, None, "meta") == {"epoch": "4"}


def test_deleted_file_no_longer_exists(file_service: FileService, share):
    file_service.create_file_from_bytes(share, None, "gone", b"x")
    assert file_service.exists(share, None, "gone")
    file_service.delete_file(share, None, "gone")
    assert not file_service.exists(share, None, "gone")
    error = azure_error(file_service.delete_file, share, None, "gone")
    assert (error.status_code, error.error_code) == (404, "ResourceNotFound")


def test_file_in_a_missing_directory_is_parent_not_found(file_service: FileService, share):
    error = azure_error(file_service.create_file, share, "nowhere", "f", 1)
    assert (error.status_code, error.error_code) == (404, "ParentNotFound")


def test_file_written_on_disk_is_visible_through_the_api(files_emulator, file_service, share):
    path = files_emulator.service.share_directory(share) / "stdout.txt"
    path.write_bytes(b"epoch 1\n")
    assert file_service.get_file_to_bytes(share, None, "stdout.txt").content == b"epoch 1\n"
    with path.open("ab") as log:
        log.write(b"epoch 2\n")
    assert file_service.get_file_properties(share, None, "stdout.txt").properties.content_length == 16


def test_api_writes_land_in_the_share_directory(files_emulator, file_service, share):
    file_service.create_directory(share, "inputs")
    file_service.create_file_from_bytes(share, "inputs", "train.txt", b"|labels 0 1")
    local = files_emulator.service.share_directory(share) / "inputs" / "train.txt"
    assert local.read_bytes() == b"|labels 0 1"


def test_content_md5_is_dropped_when_a_job_rewrites_the_file(files_emulator, file_service, share):
    file_service.create_file_from_bytes(share, None, "out.txt", b"v1",
                                        content_settings=ContentSettings(content_type="text/plain",
                                                                         content_md5=_md5(b"v1")))
    time.sleep(0.01)
    (files_emulator.service.share_directory(share) / "out.txt").write_bytes(b"version 2")
    settings = file_service.get_file_properties(share, None, "out.txt").properties.content_settings
    assert settings.content_md5 is None
    assert settings.content_type == "text/plain"
