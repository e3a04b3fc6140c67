"""Shares: create, list (prefix, marker, maxresults), properties, exists, delete."""

from azure.storage.file import FileService

from .files_support import SHARE, azure_error, file_service, files_certificate, files_emulator, files_server, share  # noqa: F401


def test_created_share_exists_and_has_default_quota(file_service: FileService):
    assert file_service.create_share("first") is True
    assert file_service.exists("first")
    properties = file_service.get_share_properties("first").properties
    assert properties.quota == 5120
    assert properties.etag.startswith('"0x')
    assert properties.last_modified is not None


def test_share_quota_and_metadata_round_trip(file_service: FileService):
    file_service.create_share("quoted", metadata={"owner": "alice"}, quota=10)
    share = file_service.get_share_properties("quoted")
    assert share.properties.quota == 10
    assert share.metadata == {"owner": "alice"}


def test_creating_an_existing_share_fails_with_share_already_exists(file_service, share):
    assert file_service.create_share(share) is False
    error = azure_error(file_service.create_share, share, fail_on_exist=True)
    assert (error.status_code, error.error_code) == (409, "ShareAlreadyExists")


def test_missing_share_is_share_not_found(file_service: FileService):
    assert not file_service.exists("missing")
    error = azure_error(file_service.get_share_properties, "missing")
    assert (error.status_code, error.error_code) == (404, "ShareNotFound")


def test_invalid_share_name_is_invalid_resource_name(file_service: FileService):
    error = azure_error(file_service.create_share, "Bad--Name", fail_on_exist=True)
    assert (error.status_code, error.error_code) == (400, "InvalidResourceName")


def test_list_shares_filters_by_prefix_and_returns_names_in_order(file_service: FileService):
    for name in ("logs-b", "logs-a", "models"):
        file_service.create_share(name)
    assert [s.name for s in file_service.list_shares(prefix="logs-")] == ["logs-a", "logs-b"]


def test_list_shares_pages_with_maxresults_and_marker(file_service: FileService):
    for index in range(5):
        file_service.create_share(f"share{index}")
    first = file_service.list_shares(num_results=2)
    assert [s.name for s in first] == ["share0", "share1"]
    assert first.next_marker and "share2" not in first.next_marker  # an opaque token, as Azure sends
    rest = file_service.list_shares(marker=first.next_marker)
    assert [s.name for s in rest] == ["share2", "share3", "share4"]
    assert rest.next_marker is None


def test_list_shares_includes_metadata_on_request(file_service: FileService):
    file_service.create_share("tagged", metadata={"purpose": "test"})
    [listed] = file_service.list_shares(include_metadata=True)
    assert listed.metadata == {"purpose": "test"}
    assert listed.properties.quota == 5120


def test_deleted_share_and_its_files_are_gone(file_service, files_emulator, share):
    file_service.create_file_from_bytes(share, None, "a.txt", b"abc")
    assert file_service.delete_share(share) is True
    assert not file_service.exists(share)
    assert not files_emulator.service.share_directory(share).exists()


def test_deleting_a_missing_share_is_share_not_found(file_service: FileService):
    assert file_service.delete_share("missing") is False
    error = azure_error(file_service.delete_share, "missing", fail_not_exist=True)
    assert (error.status_code, error.error_code) == (404, "ShareNotFound")


def test_ensure_share_makes_a_share_visible_through_the_api(files_emulator, file_service):
    directory = files_emulator.service.ensure_share("jobs")
    assert directory == files_emulator.service.share_directory("jobs") and directory.is_dir()
    assert file_service.exists("jobs")
    assert [s.name for s in file_service.list_shares()] == ["jobs"]


def test_share_listing_never_shows_the_sidecar_store(files_emulator, file_service, share):
    file_service.create_file_from_bytes(share, None, "a.txt", b"abc", content_settings=None)
    assert [s.name for s in file_service.list_shares()] == [SHARE]
    assert [e.name for e in file_service.list_directories_and_files(share)] == ["a.txt"]
