"""Owner-only files: the emulator's data directory holds the storage key, job secrets, token
digests and TLS/signing keys, so it is 0700 and every secret file 0600 — also when an older
emulator (or a permissive umask) left them readable, which :func:`make_private` fixes at start."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import IO, Any

DIRECTORY_MODE = 0o700
FILE_MODE = 0o600
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def private_directory(path: Path) -> Path:
    """Create *path* (and parents) if needed and make it 0700."""
    path.mkdir(parents=True, exist_ok=True, mode=DIRECTORY_MODE)
    os.chmod(path, DIRECTORY_MODE)
    return path


def private_sqlite(path: Path) -> Path:
    """Before SQLite opens *path*: the database exists with mode 0600 (SQLite creates its WAL and
    SHM files with the database's mode), and companions already there are made 0600 too."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE))
    for candidate in (path, *(path.with_name(path.name + s) for s in SQLITE_COMPANIONS)):
        with contextlib.suppress(FileNotFoundError):
            os.chmod(candidate, FILE_MODE)
    return path


def open_private(path: Path, mode: str = "w") -> IO[Any]:
    """Open *path* for writing (truncated) with mode 0600, whatever mode a file already there had."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    os.fchmod(fd, FILE_MODE)
    return os.fdopen(fd, mode)
