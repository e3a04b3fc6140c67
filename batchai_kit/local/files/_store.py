"""The sidecar store: what Azure keeps about a share, directory or file that the disk cannot.

A SQLite file beside (never inside) the share directories. Lengths, times and contents always
come from the real files; this store only adds content settings, metadata and share quotas.
Each entry row remembers the inode, size and mtime the file had after the last write made
through the API, so a row can tell when a job replaced the file (new inode: the row is stale)
or rewrote it (same inode, new size or mtime: its stored Content-MD5 no longer holds).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

import attrs

from .._private import private_sqlite

_SCHEMA = """
CREATE TABLE IF NOT EXISTS shares (
    name TEXT PRIMARY KEY,
    quota INTEGER NOT NULL,
    metadata TEXT NOT NULL,
    modified REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS entries (
    share TEXT NOT NULL,
    path TEXT NOT NULL,
    inode INTEGER NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    content TEXT NOT NULL,
    metadata TEXT NOT NULL,
    PRIMARY KEY (share, path)
);
"""

CONTENT_SETTINGS = ("content_type", "content_encoding", "content_language", "cache_control",
                    "content_disposition", "content_md5")


@attrs.frozen
class ShareRecord:
    quota: int
    metadata: dict[str, str]
    modified: float


@attrs.frozen
class Fingerprint:
    """Identity and version of a file on disk, as last written through the API."""

    inode: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, stat) -> Fingerprint:
        return cls(stat.st_ino, stat.st_size, stat.st_mtime_ns)


@attrs.frozen
class EntryRecord:
    fingerprint: Fingerprint
    content: dict[str, str]          # keys from CONTENT_SETTINGS, only those set
    metadata: dict[str, str]


# Entry rows this store wrote last, kept in memory: an upload writes a row at Create File and
# reads it back at the Put Range that follows, which then needs no query.
RECENT_ENTRIES = 1024


class PropertiesStore:
    """Thread-safe access to the sidecar SQLite database (one connection, one lock).

    It must be the database's only writer (the emulator's Files service is): the entry rows it
    wrote last are read back from memory."""

    def __init__(self, path: Path):
        private_sqlite(path)
        self._lock = threading.Lock()
        self._recent: dict[tuple[str, str], EntryRecord] = {}  # guarded by _lock, oldest first
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            # In WAL mode NORMAL survives a crash of the emulator (only a power cut may lose the
            # last commits); FULL made every file write wait for an fsync (~3 ms each here).
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _run(self, sql: str, *args) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    # shares -------------------------------------------------------------------------------
    def get_share(self, name: str) -> ShareRecord | None:
        rows = self._run("SELECT quota, metadata, modified FROM shares WHERE name = ?", name)
        if not rows:
            return None
        quota, metadata, modified = rows[0]
        return ShareRecord(quota, json.loads(metadata), modified)

    def put_share(self, name: str, record: ShareRecord) -> None:
        self._run("INSERT OR REPLACE INTO shares VALUES (?, ?, ?, ?)",
                  name, record.quota, json.dumps(record.metadata), record.modified)

    def delete_share(self, name: str) -> None:
        with self._lock:
            self._recent.clear()
            self._db.execute("BEGIN")
            self._db.execute("DELETE FROM shares WHERE name = ?", (name,))
            self._db.execute("DELETE FROM entries WHERE share = ?", (name,))
            self._db.execute("COMMIT")

    # files and directories ------------------------------------------------------------------
    def get_entry(self, share: str, path: str) -> EntryRecord | None:
        with self._lock:
            recent = self._recent.get((share, path))
            if recent is not None:
                return recent
            rows = self._db.execute("SELECT inode, size, mtime_ns, content, metadata FROM entries "
                                    "WHERE share = ? AND path = ?", (share, path)).fetchall()
        if not rows:
            return None
        inode, size, mtime_ns, content, metadata = rows[0]
        return EntryRecord(Fingerprint(inode, size, mtime_ns), json.loads(content), json.loads(metadata))

    def put_entry(self, share: str, path: str, record: EntryRecord) -> None:
        fp = record.fingerprint
        row = (share, path, fp.inode, fp.size, fp.mtime_ns, json.dumps(record.content), json.dumps(record.metadata))
        # the dicts of a record are shared with whoever holds it: the remembered one gets copies
        remembered = EntryRecord(fp, dict(record.content), dict(record.metadata))
        with self._lock:
            self._recent.pop((share, path), None)  # moves to the newest end; gone if the write fails
            self._db.execute("INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?, ?, ?, ?)", row)
            self._recent[share, path] = remembered
            if len(self._recent) > RECENT_ENTRIES:
                del self._recent[next(iter(self._recent))]

    def delete_entry(self, share: str, path: str) -> None:
        with self._lock:
            self._recent.pop((share, path), None)
            self._db.execute("DELETE FROM entries WHERE share = ? AND path = ?", (share, path))
