"""``FileShare`` and ``SharePath`` against the embedded emulator's Azure Files, over real HTTPS."""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import threading
import time
from pathlib import Path

import attrs
import pytest

import batchai_kit as bk
from batchai_kit import _transfer
from batchai_kit._files_http import get_small_file
from batchai_kit._journal import HOME_ENV, Journal
from batchai_kit._share import FileShare, ShareEntry, SharePath
from batchai_kit.errors import NotFound, ValidationError
from batchai_kit.local.emulator import emulator

# One module-scoped emulator: keep this module on one parallel worker (--dist loadgroup).
pytestmark = pytest.mark.xdist_group("library_share")

BIG = 9 << 20  # above the SDK's 4 MiB range size: three ranges, sent in parallel


@pytest.fixture(autouse=True)
def journal_home(tmp_path, monkeypatch):
    """Keep the default journal out of the user's home."""
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "home"))


@pytest.fixture(scope="module")
def emu(tmp_path_factory):
    with emulator(tmp_path_factory.mktemp("emu")) as running:
        yield running


@pytest.fixture
def azure(emu, tmp_path):
    """An ``Azure`` for the emulator, whose shares are all gone after each test."""
    ready = tmp_path / "ready.json"
    emu.write_ready_file(ready)
    yield bk.Azure.from_ready_file(ready)
    files = emu.file_service()
    for share in files.list_shares():
        files.delete_share(share.name)


@pytest.fixture
def share(azure):
    return FileShare(azure, "data").ensure()


@pytest.fixture
def tree(tmp_path):
    """A local tree: nested directories, an empty file, an empty directory and a big file."""
    root = tmp_path / "tree"
    files = {
        "top.txt": b"top level\n",
        "a/one.txt": b"one\n",
        "a/b/two.bin": bytes(range(256)) * 3,
        "a/b/c/empty.txt": b"",
        "big.bin": os.urandom(BIG),
    }
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    (root / "hollow").mkdir()
    return root


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def local_files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# --- creating, attaching, cleaning up ---------------------------------------------------------


def test_ensure_creates_a_missing_share(azure):
    share = FileShare(azure, "fresh").ensure()
    assert share.created_here
    assert share.exists()


def test_a_second_ensure_attaches_to_the_existing_share(azure):
    FileShare(azure, "fresh").ensure()
    again = FileShare(azure, "fresh").ensure()
    assert not again.created_here


def test_ensure_journals_the_share_it_creates(azure, tmp_path):
    journal = Journal(tmp_path / "journal.jsonl")
    FileShare(azure, "fresh", journal=journal).ensure()
    [alive] = journal.alive()
    assert (alive.kind, alive.id, alive.confirmed) == ("share", f"{azure.file_endpoint}/fresh", True)


def test_attaching_journals_nothing(azure, tmp_path):
    FileShare(azure, "fresh").ensure()
    journal = Journal(tmp_path / "journal.jsonl")
    FileShare(azure, "fresh", journal=journal).ensure()
    assert journal.entries() == []


def test_cleanup_delete_deletes_the_share_the_block_created(azure, tmp_path):
    journal = Journal(tmp_path / "journal.jsonl")
    with FileShare(azure, "scratch", cleanup="delete", journal=journal):
        pass
    assert not FileShare(azure, "scratch").exists()
    assert journal.alive() == []


def test_cleanup_delete_deletes_the_share_also_when_the_block_raises(azure):
    with pytest.raises(RuntimeError), FileShare(azure, "scratch", cleanup="delete"):
        raise RuntimeError("boom")
    assert not FileShare(azure, "scratch").exists()


def test_cleanup_delete_never_deletes_a_share_that_existed_before(azure):
    FileShare(azure, "precious").ensure()
    with FileShare(azure, "precious", cleanup="delete") as share:
        assert not share.created_here
    assert FileShare(azure, "precious").exists()


def test_cleanup_keep_is_the_default_and_keeps_the_share(azure):
    with FileShare(azure, "kept") as share:
        assert share.created_here
    assert FileShare(azure, "kept").exists()


def test_an_unknown_cleanup_policy_is_refused(azure):
    with pytest.raises(ValidationError, match="cleanup"):
        FileShare(azure, "data", cleanup="remove")


def test_a_wrong_storage_key_raises_authentication_failed_naming_the_action(azure):
    wrong = attrs.evolve(azure, storage_key=base64.b64encode(b"not the key").decode())
    with pytest.raises(bk.AuthenticationFailed, match="Looking up file share data failed") as raised:
        FileShare(wrong, "data").ensure()
    assert wrong.storage_key not in str(raised.value)


def test_journal_false_journals_nothing(azure, tmp_path, monkeypatch):
    monkeypatch.setattr(Journal, "intent", lambda *a, **k: pytest.fail("journaled"))
    with FileShare(azure, "scratch", cleanup="delete", journal=False) as share:
        assert share.created_here


def test_a_share_needs_a_storage_account(azure):
    without_storage = bk.Azure(azure.credential, azure.subscription_id, arm_endpoint=azure.arm_endpoint)
    with pytest.raises(ValidationError, match="storage_account"):
        FileShare(without_storage, "data")


def test_delete_removes_the_share(share):
    share.delete()
    assert not share.exists()


@pytest.mark.parametrize(
    "name", ["ab", "x" * 64, "Data", "my_share", "-data", "data-", "da--ta", "da.ta", ""]
)
def test_invalid_share_names_are_refused_before_any_request(azure, monkeypatch, name):
    monkeypatch.setattr(bk.Azure, "file_service", lambda self: pytest.fail("a request was prepared"))
    with pytest.raises(ValidationError, match="share name"):
        FileShare(azure, name)


def test_url_is_the_files_endpoint_and_the_share_name(azure):
    assert FileShare(azure, "data").url == f"{azure.file_endpoint}/data"


def test_mount_as_defaults_to_the_share_name(azure):
    assert FileShare(azure, "data").mount_as == "data"


@pytest.mark.parametrize("mount_as", ["", "..", "a/b", "/abs", "a b", "$HOME"])
def test_invalid_mount_as_is_refused(azure, mount_as):
    with pytest.raises(ValidationError, match="mount_as"):
        FileShare(azure, "data", mount_as=mount_as)


def test_mount_reference_names_account_url_mount_path_and_key(azure):
    reference = FileShare(azure, "data", mount_as="azurefileshare").mount_reference()
    assert reference.account_name == azure.storage_account
    assert reference.azure_file_url == f"{azure.file_endpoint}/data"
    assert reference.relative_mount_path == "azurefileshare"
    assert reference.credentials.account_key == azure.storage_key
    assert (reference.file_mode, reference.directory_mode) == ("0777", "0777")


def test_repr_and_str_of_a_share_hold_no_storage_key(share, azure):
    assert azure.storage_key not in repr(share)
    assert azure.storage_key not in str(share)
    assert azure.storage_key not in repr(share / "a")


# --- SharePath ----------------------------------------------------------------------------------


def test_share_path_joins_with_slash(azure):
    share = FileShare(azure, "data")
    assert (share / "a" / "b/c").path == "a/b/c"


def test_share_path_mount_path_is_below_the_mount_root(azure):
    share = FileShare(azure, "data", mount_as="azurefileshare")
    assert (share / "mnist/train").mount_path == "$AZ_BATCHAI_MOUNT_ROOT/azurefileshare/mnist/train"
    assert str(share / "mnist") == "$AZ_BATCHAI_MOUNT_ROOT/azurefileshare/mnist"
    assert share.root.mount_path == "$AZ_BATCHAI_MOUNT_ROOT/azurefileshare"


def test_share_path_parent_and_name(azure):
    path = FileShare(azure, "data") / "a/b/c.txt"
    assert (path.parent.path, path.name) == ("a/b", "c.txt")
    assert path.parent.parent.parent.path == ""


def test_share_path_drops_leading_and_trailing_slashes(azure):
    assert (FileShare(azure, "data") / "/a/b/").path == "a/b"


@pytest.mark.parametrize("path", ["..", "../x", "a/../b", "./a", "a//b", "a/.", "a\\b"])
def test_share_path_refuses_traversal_and_odd_components(azure, path):
    with pytest.raises(ValidationError, match="share path"):
        FileShare(azure, "data") / path


def test_joining_an_absolute_path_is_refused(azure):
    with pytest.raises(ValidationError, match="relative"):
        FileShare(azure, "data") / "a" / "/etc"


def test_share_paths_are_equal_across_handles_of_one_share(azure):
    assert FileShare(azure, "data") / "a" == FileShare(azure, "data") / "a"
    assert FileShare(azure, "data") / "a" != FileShare(azure, "other") / "a"
    assert len({FileShare(azure, "data") / "a", FileShare(azure, "data") / "a"}) == 1


def test_a_path_on_another_share_is_refused(share, azure):
    with pytest.raises(ValidationError, match="not on data"):
        share.mkdir(FileShare(azure, "other") / "x")


# --- upload and download ------------------------------------------------------------------------


def test_upload_of_a_file_keeps_its_name_in_the_destination_directory(share, tmp_path):
    local = tmp_path / "notes.txt"
    local.write_bytes(b"hello\n")
    report = share.upload(local, "docs/2018")
    assert report.uploaded == ["docs/2018/notes.txt"]
    share.download("docs/2018/notes.txt", tmp_path / "back.txt")
    assert (tmp_path / "back.txt").read_bytes() == b"hello\n"


def test_upload_of_a_tree_downloads_back_byte_for_byte(share, tree, tmp_path):
    report = share.upload(tree, share / "sample", max_connections=4)
    assert sorted(report.uploaded) == sorted(f"sample/{name}" for name in local_files(tree))
    share.download("sample", tmp_path / "back")
    assert local_files(tmp_path / "back") == local_files(tree)


def test_upload_of_a_tree_creates_empty_directories(share, tree, tmp_path):
    share.upload(tree, "sample")
    assert share.exists("sample/hollow")
    share.download("sample", tmp_path / "back")
    assert (tmp_path / "back" / "hollow").is_dir()


def test_upload_sets_content_md5(share, tree, azure):
    share.upload(tree, "sample")
    properties = azure.file_service().get_file_properties("data", "sample/a/b", "two.bin").properties
    assert properties.content_settings.content_md5 == md5_b64((tree / "a/b/two.bin").read_bytes())


def test_reupload_skips_unchanged_files(share, tree):
    share.upload(tree, "sample")
    report = share.upload(tree, "sample")
    assert report.uploaded == []
    assert len(report.skipped) == 5
    assert report.bytes == 0


def test_reupload_sends_a_file_changed_to_other_bytes_of_the_same_size(share, tree):
    share.upload(tree, "sample")
    (tree / "a/one.txt").write_bytes(b"uno\n")
    report = share.upload(tree, "sample")
    assert report.uploaded == ["sample/a/one.txt"]
    assert report.bytes == 4


def test_progress_reports_every_byte_and_file(share, tree):
    seen = []
    share.upload(tree, "sample", progress=seen.append)
    total = sum(len(content) for content in local_files(tree).values())
    last = seen[-1]
    assert (last.bytes_done, last.bytes_total, last.files_done, last.files_total) == (total, total, 5, 5)
    assert [p.bytes_done for p in seen] == sorted(p.bytes_done for p in seen)
    assert {p.current_file for p in seen} == {f"sample/{name}" for name in local_files(tree)}


def test_progress_counts_skipped_files_as_done(share, tree):
    share.upload(tree, "sample")
    seen = []
    share.upload(tree, "sample", progress=seen.append)
    assert (seen[-1].bytes_done, seen[-1].files_done) == (seen[-1].bytes_total, 5)


def test_upload_of_a_missing_local_path_raises_before_any_request(azure, monkeypatch, tmp_path):
    share = FileShare(azure, "data")
    monkeypatch.setattr(bk.Azure, "file_service", lambda self: pytest.fail("a request was prepared"))
    with pytest.raises(ValidationError, match="does not exist"):
        share.upload(tmp_path / "missing", "x")


def test_upload_of_a_name_azure_files_cannot_hold_raises_before_any_request(azure, monkeypatch, tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a:b.txt").write_text("x")
    share = FileShare(azure, "data")
    monkeypatch.setattr(bk.Azure, "file_service", lambda self: pytest.fail("a request was prepared"))
    with pytest.raises(ValidationError, match="a:b.txt"):
        share.upload(tmp_path / "src")


def test_upload_logs_what_it_sends_under_batchai_kit_share(share, tree, caplog, azure):
    with caplog.at_level(logging.INFO, logger="batchai_kit.share"):
        share.upload(tree, "sample")
    assert "Uploading 5 file(s)" in caplog.text and "to share data/sample" in caplog.text
    assert azure.storage_key not in caplog.text


def test_each_upload_worker_thread_has_its_own_file_service(share, tree, monkeypatch):
    threads = []
    original = bk.Azure.file_service

    def recording(self):
        threads.append(threading.current_thread().name)
        return original(self)

    monkeypatch.setattr(bk.Azure, "file_service", recording)
    share.upload(tree, "sample", workers=4)
    workers = [name for name in threads if name.startswith("share-data")]
    assert workers and len(workers) == len(set(workers))


def test_a_fresh_upload_logs_no_sdk_errors(share, tree, caplog):
    # New files are found missing by listing their directory, not by one 404 each (which the SDK
    # logs as an error).
    with caplog.at_level(logging.WARNING):
        share.upload(tree, "sample")
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_download_of_a_file_into_an_existing_directory_keeps_its_name(share, tree, tmp_path):
    share.upload(tree, "sample")
    (tmp_path / "out").mkdir()
    share.download("sample/a/one.txt", tmp_path / "out")
    assert (tmp_path / "out" / "one.txt").read_bytes() == b"one\n"


def test_download_of_a_missing_remote_raises_not_found(share, tmp_path):
    with pytest.raises(NotFound, match="nothing-here"):
        share.download("nothing-here", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_download_from_a_missing_share_raises_not_found(azure, tmp_path):
    with pytest.raises(NotFound, match="share ghost does not exist"):
        FileShare(azure, "ghost").download("", tmp_path / "out")


def test_download_reports_the_files_and_bytes_it_fetched(share, tree, tmp_path):
    share.upload(tree, "sample")
    report = share.download(share / "sample" / "a", tmp_path / "out")
    assert sorted(report.downloaded) == ["sample/a/b/c/empty.txt", "sample/a/b/two.bin", "sample/a/one.txt"]
    assert report.bytes == 4 + 768


def test_a_failing_file_ends_the_transfer_with_its_error_and_results_keep_their_order(share, tmp_path):
    items = [_transfer._Item(tmp_path / f"f{index}", f"f{index}", 1) for index in range(10)]
    done = []

    def work(_files, item):
        done.append(item.remote)
        if item.remote == "f3":
            raise OSError("disk full")
        return item.remote

    with pytest.raises(OSError, match="disk full"):
        _transfer._in_parallel(share, work, items, workers=1)
    assert done == ["f0", "f1", "f2", "f3"]
    assert _transfer._in_parallel(share, work, items[:3], workers=2) == ["f0", "f1", "f2"]  # in order


def test_a_small_file_comes_in_one_get_and_a_bigger_one_is_left_to_the_sdk(share, azure):
    files = azure.file_service()
    files.create_file_from_bytes("data", None, "ten.bin", b"0123456789")
    files.create_file_from_bytes("data", None, "empty.bin", b"")
    assert get_small_file(files, "data", None, "ten.bin") == b"0123456789"
    assert get_small_file(files, "data", None, "empty.bin") == b""  # a ranged GET of it is a 416
    files.MAX_SINGLE_GET_SIZE = 4
    assert get_small_file(files, "data", None, "ten.bin") is None


def test_download_sends_files_past_one_get_through_the_sdk_s_ranges(share, tree, tmp_path, monkeypatch):
    from azure.storage.file import FileService

    share.upload(tree, "sample")
    monkeypatch.setattr(FileService, "MAX_SINGLE_GET_SIZE", 16)  # one.txt in one GET, two.bin in ranges
    monkeypatch.setattr(FileService, "MAX_CHUNK_GET_SIZE", 256)
    share.download("sample/a", tmp_path / "out")
    assert (tmp_path / "out" / "b" / "two.bin").read_bytes() == (tree / "a" / "b" / "two.bin").read_bytes()
    assert (tmp_path / "out" / "one.txt").read_bytes() == b"one\n"


# --- listing ------------------------------------------------------------------------------------


def test_mkdir_is_recursive_and_idempotent(share):
    assert share.mkdir("x/y/z") == share / "x/y/z"
    share.mkdir("x/y/z")
    assert share.exists("x/y/z")


def test_list_gives_the_files_and_directories_in_a_directory(share, tree):
    share.upload(tree, "sample")
    entries = sorted(share.list("sample/a"), key=lambda e: e.name)
    assert entries == [
        ShareEntry("b", "sample/a/b", True, None),
        ShareEntry("one.txt", "sample/a/one.txt", False, 4),
    ]


def test_list_follows_marker_paging(share, monkeypatch):
    for index in range(5):
        share.mkdir(f"many/d{index}")
    monkeypatch.setattr(FileShare, "list_page_size", 2)
    assert sorted(e.name for e in share.list("many")) == [f"d{i}" for i in range(5)]


def test_list_of_a_missing_directory_raises_not_found_naming_it(share):
    with pytest.raises(NotFound, match="data/nope"):
        share.list("nope")


def test_walk_yields_everything_below_a_directory_parents_first(share, tree):
    share.upload(tree, "sample")
    paths = [entry.path for entry in share.walk("sample/a")]
    assert sorted(paths) == ["sample/a/b", "sample/a/b/c", "sample/a/b/c/empty.txt", "sample/a/b/two.bin",
                             "sample/a/one.txt"]
    assert paths.index("sample/a/b") < paths.index("sample/a/b/c") < paths.index("sample/a/b/c/empty.txt")


def test_exists_tells_share_directories_and_files_from_missing_ones(share, tree, azure):
    share.upload(tree, "sample")
    assert share.exists()
    assert share.exists("sample/a")
    assert share.exists(share / "sample/a/one.txt")
    assert not share.exists("sample/nope")
    assert not share.exists("nope/deeper/file.txt")
    assert not FileShare(azure, "ghost").exists()


def test_share_path_is_a_value_usable_as_an_upload_destination(share, tmp_path):
    local = tmp_path / "f.txt"
    local.write_text("x")
    destination = share / "in"
    assert isinstance(destination, SharePath)
    share.upload(local, destination)
    assert share.exists(destination / "f.txt")


# --- re-uploads trust the local sync state, checked against the share's listing -------------------

HOUR_AGO_NS = time.time_ns() - 3600 * 10**9


@pytest.fixture
def fine_timestamps(monkeypatch):
    """Records are trusted on the stat alone once the file's ctime is older than the stat, as on
    a filesystem whose timestamps tick finer than the test runs (the default waits 2 s, for FAT)."""
    monkeypatch.setattr("batchai_kit._sync_state.RACY_WINDOW_NS", 0)


def _aged(tree: Path) -> Path:
    """Files last modified an hour ago (their ctime is now: only that says they were touched)."""
    for path in tree.rglob("*"):
        if path.is_file():
            os.utime(path, ns=(HOUR_AGO_NS, HOUR_AGO_NS))
    return tree


def _no_per_file_requests(monkeypatch):
    from azure.storage.file import FileService

    def refuse(*args, **kwargs):
        pytest.fail("a request about one file was sent")

    for name in ("get_file_properties", "create_file", "update_range", "create_file_from_path", "exists"):
        monkeypatch.setattr(FileService, name, refuse)


def test_reupload_of_an_unchanged_tree_sends_no_request_about_any_file(share, tree, monkeypatch,
                                                                       fine_timestamps):
    share.upload(_aged(tree), "sample")
    _no_per_file_requests(monkeypatch)
    monkeypatch.setattr("batchai_kit._transfer._md5_of", lambda path: pytest.fail(f"{path} was hashed"))
    report = share.upload(tree, "sample")
    assert (report.uploaded, report.bytes, len(report.skipped)) == ([], 0, 5)


def test_reupload_of_files_changed_just_now_hashes_them_but_asks_the_share_nothing(share, tree, monkeypatch):
    # Changed within the timestamp granularity (2 s by default) before the upload's stat: a
    # same-size rewrite could keep mtime and ctime, so the record is checked by hashing the file.
    share.upload(tree, "sample")
    _no_per_file_requests(monkeypatch)
    hashed = []
    original = _transfer._md5_of
    monkeypatch.setattr("batchai_kit._transfer._md5_of", lambda path: hashed.append(path) or original(path))
    report = share.upload(tree, "sample")
    assert (report.uploaded, report.bytes) == ([], 0)
    assert len(hashed) == 5


def test_a_just_changed_same_size_file_with_the_old_stat_is_caught_by_its_hash(share, tree, monkeypatch):
    # As if a second write landed in the same timestamp tick: the stat matches the record.
    share.upload(tree, "sample")
    target = tree / "a/one.txt"
    stat = target.stat()
    target.write_bytes(b"eno\n")
    monkeypatch.setattr("batchai_kit._sync_state.FileRecord.same_stat", lambda record, now: True)
    report = share.upload(tree, "sample")
    assert report.uploaded == ["sample/a/one.txt"] and stat.st_size == 4


def test_reupload_sends_a_file_whose_size_changed(share, tree, fine_timestamps):
    share.upload(_aged(tree), "sample")
    (tree / "a/one.txt").write_bytes(b"one and more\n")
    report = share.upload(tree, "sample")
    assert report.uploaded == ["sample/a/one.txt"]
    assert share.azure.file_service().get_file_to_bytes("data", "sample/a", "one.txt").content == b"one and more\n"


def test_reupload_sends_same_size_other_bytes_even_with_the_old_mtime_put_back(share, tree, fine_timestamps):
    share.upload(_aged(tree), "sample")
    target = tree / "a/b/two.bin"
    before = target.stat()
    target.write_bytes(bytes(reversed(range(256))) * 3)
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))  # only ctime tells now
    assert target.stat().st_mtime_ns == before.st_mtime_ns and target.stat().st_size == before.st_size
    report = share.upload(tree, "sample")
    assert report.uploaded == ["sample/a/b/two.bin"]
    assert share.azure.file_service().get_file_to_bytes("data", "sample/a/b", "two.bin").content == \
        target.read_bytes()


def test_reupload_sends_a_file_replaced_by_another_of_the_same_size_and_mtime(share, tree, fine_timestamps):
    share.upload(_aged(tree), "sample")
    target = tree / "top.txt"
    replacement = tree / "top.txt.new"
    replacement.write_bytes(b"TOP LEVEL\n")
    os.utime(replacement, ns=(HOUR_AGO_NS, HOUR_AGO_NS))
    os.replace(replacement, target)
    report = share.upload(tree, "sample")
    assert report.uploaded == ["sample/top.txt"]


def test_reupload_sends_a_file_deleted_on_the_share(share, tree, fine_timestamps):
    share.upload(_aged(tree), "sample")
    share.azure.file_service().delete_file("data", "sample/a", "one.txt")
    report = share.upload(tree, "sample")
    assert report.uploaded == ["sample/a/one.txt"]
    assert share.exists("sample/a/one.txt")


def test_reupload_recreates_a_directory_deleted_on_the_share(share, tree):
    share.upload(_aged(tree), "sample")
    files = share.azure.file_service()
    files.delete_file("data", "sample/a/b/c", "empty.txt")
    files.delete_directory("data", "sample/a/b/c")
    report = share.upload(tree, "sample")
    assert report.uploaded == ["sample/a/b/c/empty.txt"]


def test_reupload_sends_a_file_resized_on_the_share(share, tree, fine_timestamps):
    share.upload(_aged(tree), "sample")
    share.azure.file_service().create_file_from_bytes("data", "sample", "top.txt", b"someone else's\n")
    report = share.upload(tree, "sample")
    assert report.uploaded == ["sample/top.txt"]
    assert share.azure.file_service().get_file_to_bytes("data", "sample", "top.txt").content == b"top level\n"


def test_a_same_size_change_on_the_share_is_sent_again_with_verify(share, tree, fine_timestamps):
    # A listing shows sizes only: a change on the share that keeps the size needs verify=True.
    share.upload(_aged(tree), "sample")
    share.azure.file_service().create_file_from_bytes("data", "sample", "top.txt", b"TOP LEVEL\n")
    assert share.upload(tree, "sample").uploaded == []
    assert share.upload(tree, "sample", verify=True).uploaded == ["sample/top.txt"]
    assert share.azure.file_service().get_file_to_bytes("data", "sample", "top.txt").content == b"top level\n"


def test_uploading_the_tree_elsewhere_or_to_another_share_does_not_use_its_state(share, tree, azure):
    share.upload(_aged(tree), "sample")
    assert len(share.upload(tree, "elsewhere").uploaded) == 5
    other = FileShare(azure, "other").ensure()
    assert len(other.upload(tree, "sample").uploaded) == 5


def test_a_lost_or_corrupt_sync_state_costs_a_check_not_a_skipped_change(share, tree, kit_home):
    share.upload(_aged(tree), "sample")
    (tree / "a/one.txt").write_bytes(b"ONE\n")
    for state in (kit_home / "sync").iterdir():
        state.write_text("{not json")
    report = share.upload(tree, "sample")
    assert report.uploaded == ["sample/a/one.txt"] and len(report.skipped) == 4
    for state in (kit_home / "sync").iterdir():
        state.unlink()
    report = share.upload(tree, "sample")
    assert report.uploaded == [] and len(report.skipped) == 5


def test_the_sync_state_is_private_and_holds_no_secret(share, tree, kit_home, azure):
    share.upload(tree, "sample")
    states = list((kit_home / "sync").iterdir())
    assert len(states) == 1
    assert states[0].stat().st_mode & 0o777 == 0o600
    text = states[0].read_text()
    assert azure.storage_key not in text and "sample/a/b/two.bin" in text
