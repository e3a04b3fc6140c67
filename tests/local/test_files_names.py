"""Names that could escape a share (or that Azure refuses) are rejected before touching disk."""

import datetime
import os

import pytest

from .files_support import ACCOUNT, azure_error, file_service, files_certificate, files_emulator, files_server, share  # noqa: F401

ESCAPES = {
    "dot-dot": "../escape.txt",
    "percent-encoded dot-dot": "%2e%2e/escape.txt",
    "upper-case percent-encoded dot-dot": "%2E%2E%2Fescape.txt",
    "dot-dot inside a path": "sub/../../escape.txt",
    "absolute path": "/etc/passwd",
    "backslash": "..%5Cescape.txt",
    "NUL": "escape.txt%00.png",
    "single dot": "./escape.txt",
}


@pytest.mark.parametrize("name", ESCAPES.values(), ids=ESCAPES.keys())
def test_escaping_file_name_is_invalid_resource_name(files_emulator, share, name):
    response = files_emulator.raw("PUT", f"/{ACCOUNT}/{share}/{name}", headers={
        "x-ms-type": "file", "x-ms-content-length": "1"})
    assert (response.status, response.error_code) == (400, "InvalidResourceName")
    root = files_emulator.service.share_directory(share).parent
    assert not any("escape" in f for _, _, files in os.walk(root.parent) for f in files)


@pytest.mark.parametrize("name", ["..", "%2e%2e", "a%5Cb"])
def test_escaping_share_name_is_invalid_resource_name(files_emulator, name):
    response = files_emulator.raw("PUT", f"/{ACCOUNT}/{name}", {"restype": "share"})
    assert (response.status, response.error_code) == (400, "InvalidResourceName")


def test_escaping_directory_listing_is_invalid_resource_name(files_emulator, share):
    response = files_emulator.raw("GET", f"/{ACCOUNT}/{share}/..",
                                  {"restype": "directory", "comp": "list"})
    assert (response.status, response.error_code) == (400, "InvalidResourceName")


def test_symlink_leading_out_of_the_share_is_neither_readable_nor_listed(
        tmp_path, files_emulator, file_service, share):
    secret = tmp_path / "secret.txt"
    secret.write_text("outside")
    (files_emulator.service.share_directory(share) / "link.txt").symlink_to(secret)
    error = azure_error(file_service.get_file_to_bytes, share, None, "link.txt")
    assert (error.status_code, error.error_code) == (404, "ResourceNotFound")
    assert list(file_service.list_directories_and_files(share)) == []


def test_names_with_characters_azure_refuses_are_invalid(file_service, share):
    error = azure_error(file_service.create_file, share, None, "what?.txt", 1)
    assert (error.status_code, error.error_code) == (400, "InvalidResourceName")


def test_file_sas_url_refuses_an_escaping_path(files_emulator, share):
    with pytest.raises(ValueError):
        files_emulator.service.file_sas_url(files_emulator.endpoint, share, "../x",
                                            datetime.datetime(2100, 1, 1))
