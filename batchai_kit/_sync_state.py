"""What the last upload of a local tree to a share directory sent, so the next one can skip the
files that did not change without asking the share about each of them (as ``azcopy sync``).

A record says: this local file, as it was then (size, mtime, ctime, inode), was sent, and its
Content-MD5 was this. A later upload skips a file only when

- its record matches the file's stat now (any write changes mtime or ctime; a replaced file has
  a new inode), and the stat was not taken so soon after the file's last change that a second
  write in the same timestamp tick could hide (then the file is hashed and compared instead:
  git's "racily clean" rule); and
- the share's listing of the directory, fetched for this upload, shows the file with that size
  (a file deleted, resized or never sent is sent again).

The state is a cache: lost, stale or unreadable, it costs a re-check (one request per file), never
a skipped change. It lives in ``$BATCHAI_KIT_HOME/sync/``, one JSON file per (share URL,
directory, local source), mode 0600; it holds paths, sizes and hashes, no secret.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

import attrs

from ._journal import home_dir

log = logging.getLogger("batchai_kit.share")

FORMAT = 1
# Timestamps may be this coarse (FAT: 2 s): a file changed this close before its stat was taken
# could change again without its mtime moving, so it is hashed rather than trusted.
RACY_WINDOW_NS = 2_000_000_000


@attrs.frozen
class FileRecord:
    size: int
    mtime_ns: int
    ctime_ns: int
    inode: int
    md5: str          # base64, as Content-MD5
    stat_at_ns: int   # when the stat was taken

    @classmethod
    def of(cls, stat: os.stat_result, md5: str, stat_at_ns: int) -> FileRecord:
        return cls(stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino, md5, stat_at_ns)

    def same_stat(self, stat: os.stat_result) -> bool:
        return (self.size, self.mtime_ns, self.ctime_ns, self.inode) == (
            stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino)

    @property
    def racy(self) -> bool:
        return max(self.mtime_ns, self.ctime_ns) >= self.stat_at_ns - RACY_WINDOW_NS


def state_path(share_url: str, destination: str, source: Path) -> Path:
    key = json.dumps([share_url, destination, str(source)])
    return home_dir() / "sync" / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.json"


class SyncState:
    """The records of one (share directory, local source) pair; thread-safe."""

    def __init__(self, path: Path, records: dict[str, FileRecord]):
        self.path = path
        self._old = records
        self._new: dict[str, FileRecord] = {}
        self._lock = threading.Lock()

    @classmethod
    def load(cls, share_url: str, destination: str, source: Path) -> SyncState:
        path = state_path(share_url, destination, source)
        records: dict[str, FileRecord] = {}
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("format") == FORMAT:
                records = {remote: FileRecord(*fields) for remote, fields in data["files"].items()}
        except FileNotFoundError:
            pass
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as error:
            log.debug("Ignoring the unreadable sync state %s: %s", path, error)
        return cls(path, records)

    def unchanged(self, remote: str, local: Path, stat: os.stat_result, remote_size: int | None,
                  md5_of: Any) -> FileRecord | None:
        """The record that lets ``local`` be skipped, or None when it must be checked or sent.

        ``remote_size`` is the size the share's listing shows (None: not on the share)."""
        record = self._old.get(remote)
        if record is None or remote_size != record.size or not record.same_stat(stat):
            return None
        if record.racy and md5_of(local) != record.md5:
            return None
        return record

    def record(self, remote: str, record: FileRecord) -> None:
        with self._lock:
            self._new[remote] = record

    def save(self) -> None:
        """Write the records of this upload (those of files no longer uploaded are dropped)."""
        with self._lock:
            files = {remote: attrs.astuple(record) for remote, record in sorted(self._new.items())}
        temporary = self.path.with_name(f"{self.path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
                json.dump({"format": FORMAT, "files": files}, stream, separators=(",", ":"))
            os.replace(temporary, self.path)
        except OSError as error:  # a cache: the next upload re-checks instead
            log.warning("Could not save the upload's sync state to %s: %s", self.path, error)
            with contextlib.suppress(OSError):
                os.unlink(temporary)


def now_ns() -> int:
    return time.time_ns()
