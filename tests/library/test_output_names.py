"""Job outputs under any name a job can write: listing and downloads never fail on them and
never leave the share.

A job on Batch AI writes through a Linux SMB (cifs) mount of Azure Files, which stores the
characters Azure refuses in names (``" * : < > ? \\ |``) as Unicode private-use characters (the
"Services for Mac" mapping, U+F020-U+F027; control characters as U+F001-U+F01F). The emulator
shows a job's files under those Azure names, and its download links percent-encode them."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

import pytest

import batchai_kit as bk
from tests.library.conftest import write_tree

WRITER = r'''
import os, sys
out = sys.argv[1]
names = [
    "model:epoch1.ckpt", "what?.txt", "star*.txt", "back\\slash.txt", "pipe|.txt", 'quote".txt',
    "less<more>.txt", "ünïcødé ✓ 模型.txt", "with space.txt", "100%.txt", "hash#tag.txt",
    "amp&eq=.txt", "plus+semi;.txt", "new\nline.txt", "tab\tname.txt", "L" * 251 + ".txt",
]
for name in names:
    with open(os.path.join(out, name), "w") as fh:
        fh.write("content of " + name)
os.makedirs(os.path.join(out, "sub:dir"))
with open(os.path.join(out, "sub:dir", "inner?.txt"), "w") as fh:
    fh.write("inner")
os.symlink("/etc", os.path.join(out, "outside_dir"))
os.symlink("/etc/hostname", os.path.join(out, "outside_file"))
os.symlink(os.path.join(out, *[".."] * 40), os.path.join(out, "up_and_out"))
os.symlink("..", os.path.join(out, "loop"))  # inside the share, but an endless tree
os.symlink("model:epoch1.ckpt", os.path.join(out, "inside_link"))
os.symlink("sub:dir", os.path.join(out, "inside_dir_link"))
deep = os.path.join(out, "deep", *["d" * 250] * 7)  # a path longer than Azure's 2,048 characters
os.makedirs(deep)
with open(os.path.join(deep, "f" * 200), "w") as fh:
    fh.write("too deep for Azure")
print("written")
'''

NAMES = ["model:epoch1.ckpt", "what?.txt", "star*.txt", "back\\slash.txt", "pipe|.txt", 'quote".txt',
         "less<more>.txt", "ünïcødé ✓ 模型.txt", "with space.txt", "100%.txt", "hash#tag.txt",
         "amp&eq=.txt", "plus+semi;.txt", "new\nline.txt", "tab\tname.txt", "L" * 251 + ".txt"]
SFM = {'"': "\uf020", "*": "\uf021", ":": "\uf022", "<": "\uf023", ">": "\uf024", "?": "\uf025",
       "\\": "\uf026", "|": "\uf027"}


def azure_name(name: str) -> str:
    """What an SMB client with the SFM mapping stores for *name* on Azure Files."""
    return "".join(SFM.get(ch, chr(0xF000 + ord(ch)) if ord(ch) < 0x20 else ch) for ch in name)


@pytest.fixture
def finished_job(workspace, share, tmp_path):
    write_tree(tmp_path / "scripts", {"writer.py": WRITER.encode()})
    share.upload(tmp_path / "scripts", "scripts")
    with workspace.gpu_cluster("c1", mounts=[share]) as cluster:
        job = cluster.submit(bk.CustomJob(
            name="names", inputs={"S": share / "scripts"}, outputs={"OUT": share / "out"},
            command="python3 $AZ_BATCHAI_INPUT_S/writer.py $AZ_BATCHAI_OUTPUT_OUT"))
        job.wait(timeout=60)
        yield job


def test_every_name_a_job_writes_is_listed_under_its_azure_name(finished_job):
    entries = {f.name: f for f in finished_job.files("OUT")}

    expected_files = {azure_name(n) for n in NAMES} | {"inside_link"}
    assert {n for n, f in entries.items() if not f.is_directory} == expected_files
    assert {n for n, f in entries.items() if f.is_directory} == {"sub\uf022dir", "inside_dir_link", "deep"}
    inner = finished_job.files("OUT", "sub\uf022dir")
    assert [(f.name, f.is_directory) for f in inner] == [("inner\uf025.txt", False)]


def test_download_links_percent_encode_the_name_and_download_each_file(finished_job, azure):
    session = azure.http_session()
    for entry in finished_job.files("OUT"):
        if entry.is_directory:
            continue
        path = urlsplit(entry.url).path
        assert "?" not in path and "#" not in path and " " not in path and "\n" not in path
        assert unquote(path).endswith("/" + entry.name)
        response = session.get(entry.url, timeout=30)
        assert response.status_code == 200, (entry.name, response.status_code)
        original = next((n for n in NAMES if azure_name(n) == entry.name), "model:epoch1.ckpt")
        assert response.content == f"content of {original}".encode()


def test_the_library_downloads_the_whole_output_directory(finished_job, tmp_path):
    finished_job.download("OUT", tmp_path / "got")

    got = {p.relative_to(tmp_path / "got").as_posix(): p.read_bytes()
           for p in (tmp_path / "got").rglob("*") if p.is_file()}
    expected = {azure_name(n): f"content of {n}".encode() for n in NAMES}
    expected["inside_link"] = b"content of model:epoch1.ckpt"
    expected["sub\uf022dir/inner\uf025.txt"] = b"inner"
    expected["inside_dir_link/inner\uf025.txt"] = b"inner"
    assert got == expected


def test_the_storage_sdk_reads_each_file_by_its_azure_name(finished_job, azure):
    files = azure.file_service()
    link = next(f.url for f in finished_job.files("OUT") if f.name == "with space.txt")
    share_name, directory = unquote(urlsplit(link).path).split("/", 3)[2:4]  # /account/share/dir.../file
    directory = directory.rsplit("/", 1)[0]
    listed = {e.name for e in files.list_directories_and_files(share_name, directory)}
    assert {azure_name(n) for n in NAMES} <= listed
    for name in NAMES:
        content = files.get_file_to_bytes(share_name, directory, azure_name(name)).content
        assert content == f"content of {name}".encode()


def test_symlinks_out_of_the_share_are_neither_listed_nor_followed(finished_job):
    names = {f.name for f in finished_job.files("OUT")}
    assert not {"outside_dir", "outside_file", "up_and_out", "loop"} & names
    for path in ("outside_dir", "up_and_out", "outside_dir/ssl", "up_and_out/etc"):
        assert finished_job.files("OUT", path) == []  # as a directory the share does not have


def test_a_host_directory_never_shows_through_a_symlinked_output_directory(workspace, share):
    with workspace.gpu_cluster("c1", mounts=[share]) as cluster:
        job = cluster.submit(bk.CustomJob(
            name="swap", outputs={"OUT": share / "out"},
            command="rmdir $AZ_BATCHAI_OUTPUT_OUT && ln -s /etc $AZ_BATCHAI_OUTPUT_OUT"))
        job.wait(timeout=60)
        assert job.files("OUT") == []
