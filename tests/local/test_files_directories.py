"""Directories: create, delete, properties, exists, and listing with prefix and paging."""

from azure.storage.file import FileService

from .files_support import SHARE, azure_error, file_service, files_certificate, files_emulator, files_server, share  # noqa: F401


def test_created_directory_exists_with_properties(file_service: FileService, share):
    assert file_service.create_directory(share, "models") is True
    assert file_service.exists(share, "models")
    directory = file_service.get_directory_properties(share, "models")
    assert directory.properties.etag.startswith('"0x')
    assert directory.properties.last_modified is not None


def test_directory_metadata_round_trips(file_service: FileService, share):
    file_service.create_directory(share, "tagged", metadata={"stage": "train"})
    assert file_service.get_directory_properties(share, "tagged").metadata == {"stage": "train"}
    assert file_service.get_directory_metadata(share, "tagged") == {"stage": "train"}


def test_nested_directory_needs_its_parent(file_service: FileService, share):
    error = azure_error(file_service.create_directory, share, "a/b", fail_on_exist=True)
    assert (error.status_code, error.error_code) == (404, "ParentNotFound")
    file_service.create_directory(share, "a")
    assert file_service.create_directory(share, "a/b", fail_on_exist=True) is True


def test_creating_an_existing_directory_is_resource_already_exists(file_service, share):
    file_service.create_directory(share, "logs")
    assert file_service.create_directory(share, "logs") is False
    error = azure_error(file_service.create_directory, share, "logs", fail_on_exist=True)
    assert (error.status_code, error.error_code) == (409, "ResourceAlreadyExists")


def test_directory_in_a_missing_share_is_share_not_found(file_service: FileService):
    error = azure_error(file_service.create_directory, "missing", "logs", fail_on_exist=True)
    assert (error.status_code, error.error_code) == (404, "ShareNotFound")


def test_missing_directory_is_resource_not_found(file_service: FileService, share):
    assert not file_service.exists(share, "nowhere")
    error = azure_error(file_service.get_directory_properties, share, "nowhere")
    assert (error.status_code, error.error_code) == (404, "ResourceNotFound")


def test_deleting_a_non_empty_directory_is_directory_not_empty(file_service, share):
    file_service.create_directory(share, "full")
    file_service.create_file_from_bytes(share, "full", "f.txt", b"x")
    error = azure_error(file_service.delete_directory, share, "full", fail_not_exist=True)
    assert (error.status_code, error.error_code) == (409, "DirectoryNotEmpty")


def test_deleted_directory_no_longer_exists(file_service: FileService, share):
    file_service.create_directory(share, "empty")
    assert file_service.delete_directory(share, "empty") is True
    assert not file_service.exists(share, "empty")
    assert file_service.delete_directory(share, "empty") is False


def test_listing_shows_files_with_lengths_and_directories(file_service: FileService, share):
    file_service.create_directory(share, "out")
    file_service.create_directory(share, "out/sub")
    file_service.create_file_from_bytes(share, "out", "model.bin", b"12345")
    entries = {e.name: e for e in file_service.list_directories_and_files(share, "out")}
    assert set(entries) == {"model.bin", "sub"}
    assert entries["model.bin"].properties.content_length == 5
    assert type(entries["sub"]).__name__ == "Directory"


def test_listing_filters_by_prefix(file_service: FileService, share):
    for name in ("train.log", "test.log", "train.csv"):
        file_service.create_file_from_bytes(share, None, name, b"")
    names = [e.name for e in file_service.list_directories_and_files(share, prefix="train")]
    assert sorted(names) == ["train.csv", "train.log"]


def test_listing_pages_over_more_than_a_thousand_files(files_emulator, file_service, share):
    directory = files_emulator.service.share_directory(share) / "many"
    directory.mkdir()
    expected = [f"file-{index:04d}.txt" for index in range(1050)]
    for name in expected:
        (directory / name).write_bytes(b"")
    first = file_service.list_directories_and_files(share, "many", num_results=1000)
    first_names = [e.name for e in first]
    assert first_names == expected[:1000] and first.next_marker
    rest = file_service.list_directories_and_files(share, "many", marker=first.next_marker)
    assert [e.name for e in rest] == expected[1000:]
    assert rest.next_marker is None


def test_listing_follows_next_marker_across_pages(files_emulator, file_service, share):
    root = files_emulator.service.share_directory(share)
    for index in range(7):
        (root / f"f{index}").write_bytes(b"")
    client = file_service
    page = client._list_directories_and_files(share, max_results=3)
    seen = [e.name for e in page]
    while page.next_marker:
        page = client._list_directories_and_files(share, max_results=3, marker=page.next_marker)
        seen += [e.name for e in page]
    assert seen == [f"f{index}" for index in range(7)]


def test_maxresults_of_zero_is_out_of_range(files_emulator, share):
    response = files_emulator.raw("GET", f"/batchaikitlocal/{share}",
                                  {"restype": "directory", "comp": "list", "maxresults": "0"})
    assert (response.status, response.error_code) == (400, "OutOfRangeQueryParameterValue")


def test_directory_created_on_disk_is_listed(files_emulator, file_service, share):
    (files_emulator.service.share_directory(share) / "from-job").mkdir()
    assert file_service.exists(share, "from-job")
    assert [e.name for e in file_service.list_directories_and_files(share)] == ["from-job"]
