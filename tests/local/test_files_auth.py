"""Authentication and authorization: SharedKey and service SAS, checked as Azure checks them."""

import datetime
import xml.etree.ElementTree as ET
from urllib.parse import parse_qs

from azure.storage.file import FilePermissions, FileService, SharePermissions

from batchai_kit.local.files import generate_account_key
from batchai_kit.local.files._signing import make_sas_token

from .files_support import (  # noqa: F401
    ACCOUNT,
    azure_error,
    file_service,
    files_certificate,
    files_emulator,
    files_server,
    share,
    start_emulator,
)


def _in(hours: float) -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=hours)


def test_wrong_account_key_is_authentication_failed(files_emulator, share):
    intruder = files_emulator.client(key=generate_account_key())
    error = azure_error(intruder.get_share_properties, share)
    assert (error.status_code, error.error_code) == (403, "AuthenticationFailed")


def test_request_without_credentials_is_no_authentication_information(files_emulator, share):
    response = files_emulator.raw("GET", f"/{ACCOUNT}/{share}", {"restype": "share"}, sign=False)
    assert (response.status, response.error_code) == (401, "NoAuthenticationInformation")


def test_errors_carry_azure_xml_bodies(files_emulator, share):
    response = files_emulator.raw("GET", f"/{ACCOUNT}/missing", {"restype": "share"})
    error = ET.fromstring(response.body)
    assert response.headers["Content-Type"] == "application/xml"
    assert error.tag == "Error" and error.findtext("Code") == "ShareNotFound"
    assert error.findtext("Message").startswith("The specified share does not exist.")


def test_stale_request_date_is_authentication_failed(files_emulator, share):
    response = files_emulator.raw("GET", f"/{ACCOUNT}/{share}", {"restype": "share"},
                                  {"x-ms-date": "Mon, 01 Jan 2018 00:00:00 GMT"})
    assert (response.status, response.error_code) == (403, "AuthenticationFailed")


def test_share_sas_from_the_sdk_can_list_and_read(files_emulator, file_service, share):
    file_service.create_file_from_bytes(share, None, "a.txt", b"shared")
    token = file_service.generate_share_shared_access_signature(
        share, SharePermissions(read=True, list=True), expiry=_in(1))
    reader = files_emulator.client(sas_token=token)
    assert [e.name for e in reader.list_directories_and_files(share)] == ["a.txt"]
    assert reader.get_file_to_bytes(share, None, "a.txt").content == b"shared"


def test_sas_without_write_permission_cannot_write(files_emulator, file_service, share):
    token = file_service.generate_share_shared_access_signature(
        share, SharePermissions(read=True), expiry=_in(1))
    error = azure_error(files_emulator.client(sas_token=token).create_file_from_bytes,
                        share, None, "new.txt", b"x")
    assert (error.status_code, error.error_code) == (403, "AuthorizationPermissionMismatch")


def test_refused_range_upload_still_gets_its_403(files_emulator, file_service, share):
    file_service.create_file(share, None, "big.bin", 4 * 1024 * 1024)
    token = file_service.generate_share_shared_access_signature(
        share, SharePermissions(read=True), expiry=_in(1))
    reader = files_emulator.client(sas_token=token)
    error = azure_error(reader.update_range, share, None, "big.bin", bytes(4 * 1024 * 1024),
                        0, 4 * 1024 * 1024 - 1)
    assert (error.status_code, error.error_code) == (403, "AuthorizationPermissionMismatch")


def test_sas_with_write_permission_can_upload(files_emulator, file_service, share):
    token = file_service.generate_share_shared_access_signature(
        share, SharePermissions(read=True, write=True), expiry=_in(1))
    writer = files_emulator.client(sas_token=token)
    writer.create_file_from_bytes(share, None, "up.txt", b"uploaded")
    assert file_service.get_file_to_bytes(share, None, "up.txt").content == b"uploaded"


def test_sas_cannot_manage_shares(files_emulator, file_service, share):
    token = file_service.generate_share_shared_access_signature(
        share, SharePermissions(read=True, write=True, delete=True, list=True),
        expiry=_in(1))
    error = azure_error(files_emulator.client(sas_token=token).delete_share, share,
                        fail_not_exist=True)
    assert (error.status_code, error.error_code) == (403, "AuthorizationFailure")


def test_expired_sas_is_authentication_failed(files_emulator, file_service, share):
    token = file_service.generate_share_shared_access_signature(
        share, SharePermissions(read=True, list=True), expiry=_in(-1), start=_in(-2))
    error = azure_error(files_emulator.client(sas_token=token).list_directories_and_files, share)
    assert (error.status_code, error.error_code) == (403, "AuthenticationFailed")


def test_sas_before_its_start_is_authentication_failed(files_emulator, file_service, share):
    token = file_service.generate_share_shared_access_signature(
        share, SharePermissions(list=True), expiry=_in(2), start=_in(1))
    error = azure_error(files_emulator.client(sas_token=token).list_directories_and_files, share)
    assert (error.status_code, error.error_code) == (403, "AuthenticationFailed")


def test_file_sas_url_downloads_with_plain_requests(files_emulator, file_service, share):
    file_service.create_directory(share, "out")
    file_service.create_file_from_bytes(share, "out", "model.dnn", b"0123456789")
    url = files_emulator.service.file_sas_url(files_emulator.endpoint, share, "out/model.dnn",
                                              expiry=_in(1), permission="rl")
    assert "sr=f" in url and "sp=rl" in url
    session = files_emulator.session()
    whole = session.get(url)
    assert (whole.status_code, whole.content) == (200, b"0123456789")
    part = session.get(url, headers={"Range": "bytes=4-"})
    assert (part.status_code, part.content) == (206, b"456789")
    assert session.get(url, headers={"Range": "bytes=10-"}).status_code == 416


def test_tampered_sas_is_authentication_failed(files_emulator, file_service, share):
    file_service.create_file_from_bytes(share, None, "f.txt", b"x")
    url = files_emulator.service.file_sas_url(files_emulator.endpoint, share, "f.txt", _in(1))
    response = files_emulator.session().get(url.replace("sp=r", "sp=rw"))
    assert response.status_code == 403
    assert response.headers["x-ms-error-code"] == "AuthenticationFailed"


def test_file_sas_does_not_open_another_file(files_emulator, file_service, share):
    for name in ("mine.txt", "other.txt"):
        file_service.create_file_from_bytes(share, None, name, b"x")
    url = files_emulator.service.file_sas_url(files_emulator.endpoint, share, "mine.txt", _in(1))
    response = files_emulator.session().get(url.replace("mine.txt", "other.txt"))
    assert (response.status_code, response.headers["x-ms-error-code"]) == (403, "AuthenticationFailed")


def test_expired_file_sas_url_is_authentication_failed(files_emulator, file_service, share):
    file_service.create_file_from_bytes(share, None, "f.txt", b"x")
    url = files_emulator.service.file_sas_url(files_emulator.endpoint, share, "f.txt", _in(-1))
    response = files_emulator.session().get(url)
    assert (response.status_code, response.headers["x-ms-error-code"]) == (403, "AuthenticationFailed")


def test_sdk_file_sas_applies_response_header_overrides(files_emulator, file_service, share):
    file_service.create_file_from_bytes(share, None, "data.bin", b"a,b")
    token = file_service.generate_file_shared_access_signature(
        share, None, "data.bin", FilePermissions(read=True), expiry=_in(1),
        content_type="text/csv", protocol="https")
    response = files_emulator.session().get(
        file_service.make_file_url(share, None, "data.bin", sas_token=token))
    assert response.status_code == 200 and response.headers["Content-Type"] == "text/csv"


def test_file_sas_cannot_list_directories(files_emulator, file_service, share):
    token = file_service.generate_file_shared_access_signature(
        share, None, "x", FilePermissions(read=True), expiry=_in(1))
    error = azure_error(files_emulator.client(sas_token=token).list_directories_and_files, share)
    assert error.status_code == 403


def test_sas_from_another_address_is_source_ip_mismatch(files_emulator, file_service, share):
    token = file_service.generate_share_shared_access_signature(
        share, SharePermissions(list=True), expiry=_in(1), ip="10.1.2.3")
    error = azure_error(files_emulator.client(sas_token=token).list_directories_and_files, share)
    assert (error.status_code, error.error_code) == (403, "AuthorizationSourceIPMismatch")


def test_emulator_signs_a_file_sas_exactly_like_the_sdk():
    key = generate_account_key()
    sdk = FileService(account_name=ACCOUNT, account_key=key)
    expected = sdk.generate_file_shared_access_signature(
        "data", "out dir", "model.dnn", FilePermissions(read=True), expiry="2030-01-01T00:00:00Z",
        start="2020-01-01T00:00:00Z", ip="127.0.0.1", protocol="https", cache_control="no-cache")
    ours = make_sas_token(ACCOUNT, key, "data/out dir/model.dnn", {
        "st": "2020-01-01T00:00:00Z", "se": "2030-01-01T00:00:00Z", "sp": "r", "sip": "127.0.0.1",
        "spr": "https", "sv": "2019-02-02", "sr": "f", "rscc": "no-cache"})
    assert parse_qs(ours) == parse_qs(expected)


def test_sas_expiry_is_judged_by_the_service_clock(tmp_path, files_server, files_certificate):
    in_two_hours = datetime.datetime.now().timestamp() + 7200
    emulator = start_emulator(tmp_path / "root", files_server, files_certificate,
                              clock=lambda: in_two_hours)
    emulator.service.ensure_share("data")
    (emulator.service.share_directory("data") / "f.txt").write_bytes(b"x")
    url = emulator.service.file_sas_url(emulator.endpoint, "data", "f.txt", _in(1))
    response = emulator.session().get(url)
    assert (response.status_code, response.headers["x-ms-error-code"]) == (403, "AuthenticationFailed")


def test_logs_never_carry_signatures(caplog, files_emulator, file_service, share):
    file_service.create_file_from_bytes(share, None, "f.txt", b"x")
    url = files_emulator.service.file_sas_url(files_emulator.endpoint, share, "f.txt", _in(1))
    signature = parse_qs(url.split("?", 1)[1])["sig"][0]
    with caplog.at_level("DEBUG"):
        files_emulator.session().get(url)
        files_emulator.session().get(url.replace("sp=r", "sp=rw"))
        file_service.get_file_properties(share, None, "f.txt")
    assert signature not in caplog.text
    assert files_emulator.key not in caplog.text
