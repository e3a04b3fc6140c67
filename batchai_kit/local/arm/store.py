"""SQLite persistence for the control plane.

Every resource and async operation is one JSON document keyed by its lowercased id (ARM ids
are case-insensitive). The working set lives in memory; each change is written through, so a
restart with the same data directory sees every resource exactly as it was.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Iterator

from .._private import private_sqlite

SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    parent TEXT,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS documents_parent ON documents(parent);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class Store:
    """Documents by key, kind and parent; thread-safe; write-through to SQLite."""

    def __init__(self, path: Path):
        self.path = path
        private_sqlite(path)  # it holds the storage key and job secrets
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._docs: dict[str, dict] = {}
        self._written: dict[str, str] = {}  # what SQLite holds, to skip rewriting unchanged documents
        for key, doc in self._db.execute("SELECT key, doc FROM documents"):
            self._docs[key] = json.loads(doc)
            self._written[key] = doc

    @staticmethod
    def key(resource_id: str) -> str:
        return resource_id.rstrip("/").lower()

    def get(self, resource_id: str) -> dict | None:
        with self._lock:
            return self._docs.get(self.key(resource_id))

    def put(self, doc: dict) -> None:
        """Insert or replace *doc* (which must carry ``key``, ``kind`` and ``parent``); a document
        that did not change is not written again (the state machines put on every tick)."""
        text = json.dumps(doc, sort_keys=True)
        with self._lock:
            self._docs[doc["key"]] = doc
            if self._written.get(doc["key"]) == text:
                return
            self._written[doc["key"]] = text
            self._db.execute(
                "INSERT OR REPLACE INTO documents(key, kind, parent, doc) VALUES (?, ?, ?, ?)",
                (doc["key"], doc["kind"], doc.get("parent"), text),
            )

    def delete(self, resource_id: str) -> None:
        key = self.key(resource_id)
        with self._lock:
            self._docs.pop(key, None)
            self._written.pop(key, None)
            self._db.execute("DELETE FROM documents WHERE key = ?", (key,))

    def of_kind(self, kind: str) -> list[dict]:
        with self._lock:
            return [d for d in self._docs.values() if d["kind"] == kind]

    def children(self, parent_id: str, kind: str | None = None) -> list[dict]:
        parent = self.key(parent_id)
        with self._lock:
            return [d for d in self._docs.values()
                    if d.get("parent") == parent and (kind is None or d["kind"] == kind)]

    def __iter__(self) -> Iterator[dict]:
        with self._lock:
            return iter(list(self._docs.values()))

    def meta(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
            return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def close(self) -> None:
        with self._lock:
            self._db.close()
