"""The journal: a local, append-only record of every resource batchai_kit creates and deletes.

One JSON object a line in ``$BATCHAI_KIT_HOME/journal.jsonl`` (default
``~/.batchai_kit/journal.jsonl``)::

    {"time": "2018-06-01T12:00:00.000000Z", "action": "creating", "kind": "cluster",
     "id": "/subscriptions/.../clusters/mycluster", "endpoint": "https://management.azure.com",
     "pid": 4242}

``action`` is ``creating`` (the intent, written and fsynced *before* the create request is sent),
``created`` (the confirmation) or ``deleted``. A process killed between the two leaves its intent:
the resource may exist, so it stays in ``alive()`` until a delete is recorded. That is what
``batchai-kit gc`` lists and deletes on request.

Every write takes an exclusive ``fcntl`` lock on ``journal.jsonl.lock`` and opens the journal
afresh, so writers in several processes never interleave lines and ``compact()`` (which replaces
the file) never loses a line written by another process.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import ipaddress
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit, urlunsplit

import attrs

from .errors import ValidationError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: appends stay whole lines, without a lock
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

HOME_ENV = "BATCHAI_KIT_HOME"
KINDS = frozenset({"cluster", "job", "workspace", "experiment", "resource_group", "share", "file_server"})
# "forgotten": dropped without being deleted: a local emulator that no longer runs took it along
# (``batchai-kit gc --prune``). Never written for a resource on Azure.
ACTIONS = frozenset({"creating", "created", "deleted", "forgotten"})


def home_dir() -> Path:
    """``$BATCHAI_KIT_HOME``, or ``~/.batchai_kit``."""
    return Path(os.environ.get(HOME_ENV) or Path.home() / ".batchai_kit")


def default_path() -> Path:
    return home_dir() / "journal.jsonl"


def clean_endpoint(url: str) -> str:
    """``url`` reduced to scheme, host, port and path: no user info, query or fragment (no secrets)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))


def is_local_endpoint(url: str) -> bool:
    """Whether ``url`` points at this machine's loopback (127.0.0.0/8, ::1, localhost): a local
    emulator, never Azure."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@attrs.frozen
class Entry:
    """One line of the journal."""

    time: str
    action: str = attrs.field(validator=attrs.validators.in_(ACTIONS))
    kind: str = attrs.field(validator=attrs.validators.in_(KINDS))
    id: str
    endpoint: str
    pid: int

    @property
    def key(self) -> tuple[str, str]:
        # ARM ids are case-insensitive.
        return (self.endpoint, self.id.lower())


@attrs.frozen
class AliveResource:
    """A resource created and not (yet) recorded as deleted.

    ``confirmed`` is False when only the intent was written: the process stopped before it knew
    whether the create succeeded, so the resource may or may not exist.
    """

    kind: str
    id: str
    endpoint: str
    created: str
    pid: int
    confirmed: bool


def _fold(entries: list[Entry]) -> dict[tuple[str, str], tuple[Entry, bool]]:
    alive: dict[tuple[str, str], tuple[Entry, bool]] = {}
    for entry in entries:
        if entry.action == "creating":
            alive[entry.key] = (entry, False)
        elif entry.action == "created":
            first = alive.get(entry.key)
            alive[entry.key] = (first[0] if first else entry, True)
        else:
            # Deleting (or forgetting) a resource does so to what lives under it (a workspace's
            # clusters and jobs, a resource group's everything).
            endpoint, gone = entry.key
            for key in [
                k for k in alive if k[0] == endpoint and (k[1] == gone or k[1].startswith(gone + "/"))
            ]:
                del alive[key]
    return alive


@attrs.define
class Journal:
    """The journal at ``path`` (default ``$BATCHAI_KIT_HOME/journal.jsonl``)."""

    path: Path = attrs.field(factory=default_path, converter=Path)

    @property
    def _lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    @contextlib.contextmanager
    def _locked(self, exclusive: bool) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _append(self, action: str, kind: str, resource_id: str, endpoint: str) -> Entry:
        if kind not in KINDS:
            raise ValidationError("kind", kind, f"must be one of {sorted(KINDS)}")
        if not resource_id:
            raise ValidationError("id", resource_id, "must be the resource's id, not empty")
        entry = Entry(_now(), action, kind, resource_id, clean_endpoint(endpoint), os.getpid())
        line = (json.dumps(attrs.asdict(entry), sort_keys=False) + "\n").encode("utf-8")
        with self._locked(exclusive=True):
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)
        return entry

    def intent(self, kind: str, resource_id: str, endpoint: str) -> Entry:
        """Record, durably, that ``resource_id`` is about to be created. Call before sending."""
        return self._append("creating", kind, resource_id, endpoint)

    def created(self, kind: str, resource_id: str, endpoint: str) -> Entry:
        """Record that the create of ``resource_id`` succeeded."""
        return self._append("created", kind, resource_id, endpoint)

    def deleted(self, kind: str, resource_id: str, endpoint: str) -> Entry:
        """Record that ``resource_id`` (and everything under it) is gone."""
        return self._append("deleted", kind, resource_id, endpoint)

    def forgotten(self, kind: str, resource_id: str, endpoint: str) -> Entry:
        """Stop listing ``resource_id`` (and everything under it) without a delete: for resources
        of a local emulator that no longer runs. Refused for any other endpoint, where a
        forgotten resource could still cost money."""
        if not is_local_endpoint(endpoint):
            raise ValidationError("endpoint", endpoint, "only entries of a local emulator (a loopback address) can "
                                                        "be forgotten; delete a resource on Azure instead")
        return self._append("forgotten", kind, resource_id, endpoint)

    @contextlib.contextmanager
    def creating(self, kind: str, resource_id: str, endpoint: str) -> Iterator[None]:
        """Write the intent, run the block (which sends the create), then confirm it.

        If the block raises, the intent stays: the create may have reached Azure, so the resource
        is listed by ``alive()`` (unconfirmed) until a delete is recorded.
        """
        self.intent(kind, resource_id, endpoint)
        yield
        self.created(kind, resource_id, endpoint)

    def entries(self) -> list[Entry]:
        """Every readable line, oldest first. A torn last line (a kill mid-write) is skipped."""
        with self._locked(exclusive=False):
            try:
                raw = self.path.read_bytes()
            except FileNotFoundError:
                return []
        entries = []
        for number, line in enumerate(raw.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                entries.append(Entry(**json.loads(line)))
            except (ValueError, TypeError) as exc:
                log.warning("%s:%d: skipping unreadable journal line (%s)", self.path, number, exc)
        return entries

    def alive(self) -> list[AliveResource]:
        """Resources created (or about to be) and not recorded as deleted, oldest first."""
        return [
            AliveResource(e.kind, e.id, e.endpoint, e.time, e.pid, confirmed)
            for e, confirmed in _fold(self.entries()).values()
        ]

    def compact(self) -> int:
        """Rewrite the journal to hold only what is alive; return the number of lines dropped."""
        with self._locked(exclusive=True):
            try:
                raw = self.path.read_bytes()
            except FileNotFoundError:
                return 0
            entries = []
            for line in raw.splitlines():
                try:
                    entries.append(Entry(**json.loads(line)))
                except (ValueError, TypeError):
                    continue
            kept = []
            for entry, confirmed in _fold(entries).values():
                kept.append(entry)
                if confirmed and entry.action == "creating":
                    kept.append(attrs.evolve(entry, action="created"))
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name, suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as out:
                    for entry in kept:
                        out.write((json.dumps(attrs.asdict(entry)) + "\n").encode("utf-8"))
                    out.flush()
                    os.fsync(out.fileno())
                os.chmod(tmp, 0o600)
                os.replace(tmp, self.path)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        return len([line for line in raw.splitlines() if line.strip()]) - len(kept)
