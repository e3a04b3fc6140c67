"""Shares and directories as real directories on disk, plus safe path resolution.

``root/{share}/...`` holds the data, exactly what a job sees through its mount; the sidecar
database lives in ``root/.sidecar/``, a name no share can have, so it never shows up in a
share or in the share list. Every path coming from a request is checked twice: its names by
``_names`` and, after symlinks are resolved, its location (it must stay inside the share).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
import time
from pathlib import Path
from stat import S_ISDIR, S_ISLNK
from typing import Callable

import attrs

from ._errors import FilesError
from ._names import azure_name, check_share_name, is_share_name, local_name
from ._store import EntryRecord, Fingerprint, PropertiesStore, ShareRecord

DEFAULT_SHARE_QUOTA_GIB = 5120
SIDECAR_DIRECTORY = ".sidecar"
_LOCK_STRIPES = 64


class _Unread:
    """The sidecar row was not read yet (``None`` means there is none)."""


_UNREAD = _Unread()


@attrs.frozen
class ShareInfo:
    name: str
    quota: int
    metadata: dict[str, str]
    last_modified: float
    etag: str


@attrs.frozen
class EntryInfo:
    """A file or directory as the API shows it: stat from disk, settings from the sidecar."""

    is_directory: bool
    size: int
    last_modified: float
    changed: float
    inode: int
    etag: str
    content: dict[str, str]
    metadata: dict[str, str]


@attrs.frozen
class Located:
    """Where a request's path lives on disk (symlinks in the parent resolved and checked)."""

    share: str
    key: str            # "dir/sub/file" below the share: the sidecar key
    path: Path
    parent_exists: bool
    # the lstat of the path when it is no symlink, taken while locating it (None: missing, a
    # symlink, or not looked at): what a stat would say now, without asking the disk again
    found: os.stat_result | None = None


@attrs.frozen
class Listed:
    name: str           # the Azure name
    is_directory: bool
    size: int
    modified: float     # st_mtime


def etag_of(inode: int, size: int, mtime_ns: int) -> str:
    digest = hashlib.blake2b(f"{inode}:{size}:{mtime_ns}".encode(), digest_size=7).hexdigest()
    return f'"0x8{digest.upper()}"'


def effective_settings(record: EntryRecord | None, stat: os.stat_result) -> tuple[dict, dict]:
    """Content settings and metadata that still describe the file *stat* describes.

    A row for another inode belongs to a file that was replaced outside the API: ignore it.
    A stored Content-MD5 is dropped once the content changed outside the API.
    """
    if record is None or record.fingerprint.inode != stat.st_ino:
        return {}, {}
    content = dict(record.content)
    fingerprint = record.fingerprint
    if (fingerprint.size, fingerprint.mtime_ns) != (stat.st_size, stat.st_mtime_ns):
        content.pop("content_md5", None)
    return content, dict(record.metadata)


class Storage:
    """Shares and directories under *root*; thread-safe."""

    def __init__(self, root: Path, clock: Callable[[], float] = time.time):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.clock = clock
        self.store = PropertiesStore(self.root / SIDECAR_DIRECTORY / "properties.sqlite3")
        self._locks = [threading.Lock() for _ in range(_LOCK_STRIPES)]
        self._shares_lock = threading.Lock()
        self._real_roots: dict[str, tuple[tuple[int, int], str, str]] = {}  # name: (identity, real, path)

    def lock_for(self, share: str, key: str) -> threading.Lock:
        """The lock serialising changes to one path (striped: a few paths share one)."""
        return self._locks[hash((share, key)) % _LOCK_STRIPES]

    # shares -------------------------------------------------------------------------------
    def share_directory(self, name: str) -> Path:
        return self.root / check_share_name(name)

    def ensure_share(self, name: str) -> Path:
        directory = self.share_directory(name)
        directory.mkdir(exist_ok=True)
        return directory

    def list_shares(self) -> list[ShareInfo]:
        names = sorted(entry.name for entry in os.scandir(self.root)
                       if is_share_name(entry.name) and entry.is_dir(follow_symlinks=False))
        shares = []
        for name in names:
            try:
                shares.append(self.share_info(name))
            except FilesError:  # deleted while we listed
                continue
        return shares

    def share_info(self, name: str) -> ShareInfo:
        directory = self.share_directory(name)
        try:
            stat = directory.stat()
        except FileNotFoundError:
            raise FilesError("ShareNotFound") from None
        record = self.store.get_share(name)
        if record is None:
            return ShareInfo(name, DEFAULT_SHARE_QUOTA_GIB, {}, stat.st_mtime,
                             etag_of(stat.st_ino, 0, stat.st_mtime_ns))
        return ShareInfo(name, record.quota, record.metadata, record.modified,
                         etag_of(stat.st_ino, 0, int(record.modified * 1e9)))

    def create_share(self, name: str, quota: int | None, metadata: dict[str, str]) -> ShareInfo:
        directory = self.share_directory(name)
        with self._shares_lock:
            try:
                directory.mkdir()
            except FileExistsError:
                raise FilesError("ShareAlreadyExists") from None
            self.store.put_share(name, ShareRecord(quota or DEFAULT_SHARE_QUOTA_GIB, metadata,
                                                   self.clock()))
        return self.share_info(name)

    def update_share(self, name: str, quota: int | None = None,
                     metadata: dict[str, str] | None = None) -> ShareInfo:
        with self._shares_lock:
            current = self.share_info(name)
            self.store.put_share(name, ShareRecord(quota or current.quota,
                                                   current.metadata if metadata is None else metadata,
                                                   self.clock()))
        return self.share_info(name)

    def delete_share(self, name: str) -> None:
        directory = self.share_directory(name)
        with self._shares_lock:
            if not directory.is_dir():
                raise FilesError("ShareNotFound")
            shutil.rmtree(directory)
            self.store.delete_share(name)

    def share_usage_bytes(self, name: str) -> int:
        root = self.locate(name, ()).path
        return sum(os.lstat(os.path.join(folder, f)).st_size
                   for folder, _, files in os.walk(root) for f in files)

    # paths ---------------------------------------------------------------------------------
    def locate(self, share: str, segments: tuple[str, ...]) -> Located:
        """Resolve *segments* inside *share*; 404 ShareNotFound, or ResourceNotFound if a
        symlink would lead outside the share."""
        real_root = self._real_root(share)
        if not segments:
            return Located(share, "", Path(real_root), True)
        on_disk = [local_name(segment) for segment in segments]
        real_parent, parent_stat = _real_below(real_root, on_disk[:-1])
        path = os.path.join(real_parent, on_disk[-1])
        real_path, found = _real_below(real_parent, on_disk[-1:])
        if not (_inside(real_parent, real_root) and _inside(real_path, real_root)):
            raise FilesError("ResourceNotFound")
        if len(on_disk) == 1:
            parent_exists = True  # the share's directory: _real_root saw it is one
        elif parent_stat is not None:
            parent_exists = S_ISDIR(parent_stat.st_mode)
        else:
            parent_exists = os.path.isdir(real_parent)
        return Located(share, "/".join(segments), Path(path), parent_exists, found)

    def _real_root(self, share: str) -> str:
        """The share directory with symlinks resolved; 404 ShareNotFound if it is none. Resolved
        once per share directory (its device and inode tell when it was replaced)."""
        known = self._real_roots.get(share)
        share_dir = known[2] if known is not None else str(self.share_directory(share))
        try:
            stat = os.stat(share_dir)
        except OSError:
            raise FilesError("ShareNotFound") from None
        if not S_ISDIR(stat.st_mode):
            raise FilesError("ShareNotFound")
        identity = (stat.st_dev, stat.st_ino)
        if known is None or known[0] != identity:
            known = self._real_roots[share] = (identity, os.path.realpath(share_dir), share_dir)
        return known[1]

    def entry_info(self, located: Located, stat: os.stat_result,
                   record: EntryRecord | _Unread | None = _UNREAD) -> EntryInfo:
        """The entry as the API shows it; ``record`` is its sidecar row when the caller has just
        read or written it (the default reads it)."""
        is_directory = S_ISDIR(stat.st_mode)
        if isinstance(record, _Unread):
            record = self.store.get_entry(located.share, located.key)
        content, metadata = effective_settings(record, stat)
        if is_directory:
            content = {}
        return EntryInfo(is_directory, 0 if is_directory else stat.st_size, stat.st_mtime,
                         stat.st_ctime, stat.st_ino,
                         etag_of(stat.st_ino, stat.st_size, stat.st_mtime_ns), content, metadata)

    # directories ---------------------------------------------------------------------------
    def directory_info(self, share: str, segments: tuple[str, ...]) -> EntryInfo:
        located = self.locate(share, segments)
        try:
            stat = located.path.stat()
        except FileNotFoundError:
            raise FilesError("ResourceNotFound") from None
        if not located.path.is_dir():
            raise FilesError("ResourceNotFound")
        return self.entry_info(located, stat)

    def create_directory(self, share: str, segments: tuple[str, ...],
                         metadata: dict[str, str]) -> EntryInfo:
        located = self.locate(share, segments)
        if not segments:
            raise FilesError("ResourceAlreadyExists")
        if not located.parent_exists:
            raise FilesError("ParentNotFound")
        with self.lock_for(share, located.key):
            try:
                located.path.mkdir()
            except FileExistsError:
                raise FilesError("ResourceAlreadyExists") from None
            stat = located.path.stat()
            self.store.put_entry(share, located.key,
                                 EntryRecord(Fingerprint.of(stat), {}, metadata))
        return self.entry_info(located, stat)

    def set_directory_metadata(self, share: str, segments: tuple[str, ...],
                               metadata: dict[str, str]) -> EntryInfo:
        located = self.locate(share, segments)
        with self.lock_for(share, located.key):
            self.directory_info(share, segments)
            stat = located.path.stat()
            self.store.put_entry(share, located.key, EntryRecord(Fingerprint.of(stat), {}, metadata))
        return self.entry_info(located, stat)

    def delete_directory(self, share: str, segments: tuple[str, ...]) -> None:
        located = self.locate(share, segments)
        if not segments:
            raise FilesError("InvalidUri")
        with self.lock_for(share, located.key):
            if not located.path.is_dir() or located.path.is_symlink():
                raise FilesError("ResourceNotFound")
            try:
                located.path.rmdir()
            except OSError:
                raise FilesError("DirectoryNotEmpty") from None
            self.store.delete_entry(share, located.key)

    def list_directory(self, share: str, segments: tuple[str, ...]) -> list[Listed]:
        """Entries of a directory under their Azure names, sorted; names Azure could not show are
        left out, and so are symlinks leading outside the share and anything neither file nor
        directory. Symlinks inside the share are listed as what they point to."""
        self.directory_info(share, segments)
        located = self.locate(share, segments)
        real_root = os.path.realpath(self.share_directory(share))
        real_directory = os.path.realpath(located.path)
        listed = []
        with os.scandir(located.path) as entries:
            for entry in entries:
                name = azure_name(entry.name)
                if name is None:
                    continue
                try:
                    if entry.is_symlink():
                        target = os.path.realpath(entry.path)
                        # out of the share; or a directory holding itself, a tree without end
                        if not _inside(target, real_root) or _inside(real_directory, target):
                            continue
                    if entry.is_dir():
                        listed.append(Listed(name, True, 0, entry.stat().st_mtime))
                    elif entry.is_file():
                        stat = entry.stat()
                        listed.append(Listed(name, False, stat.st_size, stat.st_mtime))
                except OSError:  # vanished while listing
                    continue
        return sorted(listed, key=lambda item: item.name)


def _real_below(real_directory: str, names: list[str]) -> tuple[str, os.stat_result | None]:
    """``os.path.realpath(os.path.join(real_directory, *names))`` for a directory whose path has
    no symlinks: one ``lstat`` per name, where realpath takes one per component from ``/``. Also
    the last name's lstat when the walk met no symlink and nothing missing (else None)."""
    current = real_directory
    found = None
    for index, name in enumerate(names):
        candidate = os.path.join(current, name)
        try:
            found = os.lstat(candidate)
        except OSError:  # missing (or below a file): realpath keeps the rest as it is
            return os.path.join(candidate, *names[index + 1:]), None
        if S_ISLNK(found.st_mode):
            return os.path.realpath(os.path.join(candidate, *names[index + 1:])), None
        current = candidate
    return current, found


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)
