"""File shares: upload, skipping unchanged files, download and listing, replayed.

Transfers use one worker: parallel requests would be recorded in a different order each time.
"""

from __future__ import annotations

import pytest

import batchai_kit as bk

GROUP, WORKSPACE = "recorded-rg", "recorded-ws"
FILES = {"train.py": b"print('training')\n", "data/a.csv": b"x,y\n1,2\n", "data/b.csv": b"x,y\n3,4\n"}


def write_tree(root, files=FILES):
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return root


@pytest.fixture
def share(batchai_azure):
    with bk.Workspace(batchai_azure, GROUP, WORKSPACE):
        with bk.FileShare(batchai_azure, "recordedshare", cleanup="delete") as share:
            yield share


@pytest.mark.vcr
def test_upload_sends_a_tree_and_skips_it_when_unchanged(share, tmp_path):
    source = write_tree(tmp_path / "src")
    first = share.upload(source, "code", workers=1)
    assert sorted(first.uploaded) == ["code/data/a.csv", "code/data/b.csv", "code/train.py"]
    again = share.upload(source, "code", workers=1)
    assert again.uploaded == []
    assert sorted(again.skipped) == sorted(first.uploaded)


@pytest.mark.vcr
def test_upload_sends_only_the_changed_file(share, tmp_path):
    source = write_tree(tmp_path / "src")
    share.upload(source, "code", workers=1)
    (source / "train.py").write_bytes(b"print('training, version 2')\n")
    report = share.upload(source, "code", workers=1)
    assert report.uploaded == ["code/train.py"]
    assert sorted(report.skipped) == ["code/data/a.csv", "code/data/b.csv"]


@pytest.mark.vcr
def test_download_fetches_a_tree_and_a_single_file(share, tmp_path):
    share.upload(write_tree(tmp_path / "src"), "code", workers=1)
    report = share.download("code", tmp_path / "tree", workers=1)
    assert sorted(report.downloaded) == ["code/data/a.csv", "code/data/b.csv", "code/train.py"]
    assert {p.relative_to(tmp_path / "tree").as_posix(): p.read_bytes()
            for p in (tmp_path / "tree").rglob("*") if p.is_file()} == FILES
    share.download("code/train.py", tmp_path / "one.py")
    assert (tmp_path / "one.py").read_bytes() == FILES["train.py"]


@pytest.mark.vcr
def test_listing_walk_and_exists(share, tmp_path):
    share.upload(write_tree(tmp_path / "src"), "code", workers=1)
    share.mkdir("empty/inner")
    assert sorted((e.name, e.is_directory, e.size) for e in share.list("code")) == [
        ("data", True, None), ("train.py", False, len(FILES["train.py"]))]
    assert sorted(e.path for e in share.walk()) == [
        "code", "code/data", "code/data/a.csv", "code/data/b.csv", "code/train.py", "empty", "empty/inner"]
    assert share.exists("code/data/a.csv") and share.exists("empty/inner")
    assert not share.exists("code/missing.txt")


@pytest.mark.vcr
def test_downloading_what_is_not_there_is_not_found(share, tmp_path):
    with pytest.raises(bk.NotFound) as raised:
        share.download("no/such/file.txt", tmp_path / "x")
    assert raised.value.code == "ResourceNotFound"
