"""What the emulator keeps on disk (storage key, job secrets, token digests, TLS key) is readable
by its owner only: data directory 0700, its databases (with their WAL and SHM files), keys and the
ready file 0600 — also in a data directory an older emulator left world-readable."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from batchai_kit.local.arm.timing import Timings
from batchai_kit.local.emulator import emulator


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def secret_files(data_dir: Path) -> list[Path]:
    """Every SQLite database (and -wal/-shm) and private key under *data_dir*."""
    found = [p for p in data_dir.rglob("*") if p.is_file()
             and (".sqlite" in p.name or p.name.endswith(("-wal", "-shm")) or "key" in p.name)]
    assert any(p.name == "state.sqlite3" for p in found)
    assert any(p.name == "state.sqlite3-wal" for p in found)
    assert any(p.name == "state.sqlite3-shm" for p in found)
    return found


@pytest.fixture(autouse=True)
def permissive_umask():
    """The common default: new files 0644, new directories 0755."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def use(emu) -> None:
    """Write through both databases (the WAL and SHM files exist while the emulator runs)."""
    emu.resource_client().resource_groups.create_or_update("rg", {"location": "eastus"})
    emu.file_service().create_share("private")


def test_a_new_data_directory_is_0700_and_its_secrets_0600(tmp_path):
    data_dir = tmp_path / "emulator"
    with emulator(data_dir, timings=Timings.instant()) as emu:
        use(emu)
        emu.write_ready_file(tmp_path / "ready.json")
        assert mode(data_dir) == 0o700
        for path in secret_files(data_dir):
            assert mode(path) == 0o600, path
        assert mode(tmp_path / "ready.json") == 0o600


def test_an_existing_world_readable_data_directory_is_made_private_at_start(tmp_path):
    data_dir = tmp_path / "emulator"
    with emulator(data_dir, timings=Timings.instant()) as emu:
        use(emu)
        secrets_then = secret_files(data_dir)
    # as an older emulator left it (or a user's umask made it)
    data_dir.chmod(0o755)
    for path in secrets_then:
        if path.exists():
            path.chmod(0o644)
    for path in (data_dir / "state.sqlite3-wal", data_dir / "state.sqlite3-shm"):
        path.touch()
        path.chmod(0o644)
    ready = tmp_path / "ready.json"
    ready.write_text("{}")
    ready.chmod(0o644)
    (tmp_path / "ready.json.tmp").write_text("{}")  # a leftover of an interrupted write
    (tmp_path / "ready.json.tmp").chmod(0o644)

    with emulator(data_dir, timings=Timings.instant()) as emu:
        use(emu)
        emu.write_ready_file(ready)
        assert mode(data_dir) == 0o700
        for path in secret_files(data_dir):
            assert mode(path) == 0o600, path
        assert mode(ready) == 0o600
