"""Moving files between this machine and a file share: what ``FileShare.upload`` and
``FileShare.download`` do.

A transfer is planned first (the directories to create and the files to move, every name checked
against Azure Files' rules before any request), then run ``workers`` files at a time while a tally
adds up the bytes for the progress callback. Each worker thread has its own FileService: the SDK
shares one ``requests.Session`` per FileService, and a Session is not documented as safe for
concurrent use. Uploads skip the files whose size and Content-MD5 match the share's copy;
downloads write each file under a temporary name and rename it, so it appears complete or not at
all.
"""

from __future__ import annotations

import base64
import concurrent.futures
import contextlib
import hashlib
import logging
import os
import posixpath
import threading
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, TypeVar

import attrs

from . import _names
from ._files_http import get_small_file
from ._resource import azure_errors, block_interrupts_in_this_thread
from ._sync_state import FileRecord, SyncState, now_ns
from .errors import NotFound, ValidationError

if TYPE_CHECKING:  # _share imports this module; FileShare is only named in annotations here
    from ._share import FileShare, SharePath

# Transfers log as part of the share they work on.
log = logging.getLogger("batchai_kit.share")

T = TypeVar("T")

_HASH_CHUNK = 1 << 20

Progress = Callable[["TransferProgress"], None]


@attrs.frozen
class TransferProgress:
    """Where an upload or download stands. Callbacks get one after each chunk and each file,
    from worker threads but one call at a time. Skipped files count as done."""

    bytes_done: int
    bytes_total: int
    files_done: int
    files_total: int
    current_file: str  # path on the share of the file that moved last


UploadProgress = TransferProgress


@attrs.frozen
class TransferReport:
    """What a transfer did: paths on the share of the files sent (``uploaded``) or fetched
    (``downloaded``), of those left alone because they matched (``skipped``), and the bytes
    moved."""

    transferred: list[str]
    skipped: list[str]
    bytes: int

    @property
    def uploaded(self) -> list[str]:
        return self.transferred

    @property
    def downloaded(self) -> list[str]:
        return self.transferred


# --- share paths and sizes --------------------------------------------------------------------


def _join(*parts: str) -> str:
    return "/".join(part for part in parts if part)


def _split(path: str) -> tuple[str | None, str]:
    """(directory or None for the share root, name) of a file path, as FileService wants them."""
    directory, name = posixpath.split(path)
    return directory or None, name


def _human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def _check_count(field: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(field, value, "must be a whole number of at least 1")
    return value


# --- one file's move, and the tally of all of them -------------------------------------------


@attrs.frozen
class _Item:
    local: Path
    remote: str
    size: int


class _Tally:
    """Adds up the bytes of files moving in parallel and reports them to one callback."""

    def __init__(self, callback: Progress | None, items: list[_Item]):
        self._callback = callback
        self._lock = threading.Lock()
        self.bytes_total = sum(item.size for item in items)
        self.files_total = len(items)
        self.bytes_done = 0
        self.files_done = 0

    def _report(self, remote: str) -> None:
        if self._callback is not None:
            self._callback(
                TransferProgress(self.bytes_done, self.bytes_total, self.files_done, self.files_total, remote)
            )

    def for_file(self, item: _Item) -> tuple[Callable[[int, Any], None], Callable[[], None]]:
        """(the SDK's ``progress_callback`` for ``item``, what to call when ``item`` is done)."""
        counted = [0]

        def on_bytes(current: int, _total: Any) -> None:
            # Parallel chunks report out of order: count only what is new.
            with self._lock:
                if current > counted[0]:
                    self.bytes_done += current - counted[0]
                    counted[0] = current
                    self._report(item.remote)

        def done() -> None:
            with self._lock:
                self.bytes_done += item.size - counted[0]
                counted[0] = item.size
                self.files_done += 1
                self._report(item.remote)

        return on_bytes, done


def _in_parallel(
    share: FileShare, work: Callable[[Any, _Item], T], items: list[_Item], workers: int
) -> list[T]:
    """``work(files, item)`` for every item on ``workers`` threads, each with its own
    FileService; the first error stops the rest and is raised. The FileServices are kept on the
    share for its next transfer: their connections stay open (a new one costs a TLS handshake,
    and a big file opens ``max_connections`` of them).

    Each thread takes the next item until none is left (or one failed): one task per thread,
    not one per item, so thousands of small files cost no futures or wake-ups of their own."""
    if not items:
        return []
    results: list[Any] = [None] * len(items)
    pending = iter(enumerate(items))
    taking = threading.Lock()
    failed = threading.Event()
    lent: list[Any] = []

    def next_item() -> tuple[int, _Item] | None:
        with taking:
            return None if failed.is_set() else next(pending, None)

    def run() -> None:
        try:
            with _IDLE_SERVICES_LOCK:
                files = share._idle_services.pop() if share._idle_services else None
            if files is None:
                files = share.azure.file_service()
            with _IDLE_SERVICES_LOCK:
                lent.append(files)
            while (taken := next_item()) is not None:
                index, item = taken
                results[index] = work(files, item)
        except BaseException:
            failed.set()
            raise

    threads = max(1, min(workers, len(items)))
    pool = concurrent.futures.ThreadPoolExecutor(
        max_workers=threads, thread_name_prefix=f"share-{share.name}",
        initializer=block_interrupts_in_this_thread,
    )
    try:
        futures = [pool.submit(run) for _ in range(threads)]
        for future in concurrent.futures.as_completed(futures):
            future.result()
        return results
    finally:
        failed.set()  # an interrupt here: the threads finish the item they have and stop
        pool.shutdown(wait=True, cancel_futures=True)
        with _IDLE_SERVICES_LOCK:
            share._idle_services.extend(lent)


_IDLE_SERVICES_LOCK = threading.Lock()


# --- uploads ----------------------------------------------------------------------------------


def _md5_of(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(_HASH_CHUNK), b""):
            digest.update(chunk)
    return base64.b64encode(digest.digest()).decode("ascii")


def _walk_error(error: OSError) -> None:
    raise ValidationError("local path", error.filename, f"cannot be read ({error.strerror})") from None


def _remote_path_for(local: Path, destination: str, relative: str) -> str:
    return _names.check_path(_join(destination, relative, local.name), field=f"share path for {local}")


def _upload_plan(source: Path, destination: str) -> tuple[list[str], list[_Item]]:
    """(directories to create, files to send) for uploading ``source`` into ``destination``.

    Checks every name against Azure Files' rules first, so a bad name fails before any request.
    """
    if not source.exists():
        raise ValidationError("local path", str(source), "does not exist")
    directories = [destination] if destination else []
    if source.is_file():
        return directories, [_Item(source, _remote_path_for(source, destination, ""), source.stat().st_size)]
    if not source.is_dir():
        raise ValidationError("local path", str(source), "must be a regular file or a directory")
    items = []
    for root, dirnames, filenames in os.walk(source, onerror=_walk_error):
        here = Path(root)
        relative = here.relative_to(source).as_posix()
        relative = "" if relative == "." else relative
        linked = [name for name in dirnames if (here / name).is_symlink()]
        for name in linked:
            log.warning("Not uploading %s: symbolic links to directories are not followed", here / name)
        dirnames[:] = sorted(name for name in dirnames if name not in linked)
        for name in dirnames:
            directories.append(_remote_path_for(here / name, destination, relative))
        for name in sorted(filenames):
            local = here / name
            if local.is_file():  # not sockets, pipes, broken links: nothing to upload there
                items.append(_Item(local, _remote_path_for(local, destination, relative), local.stat().st_size))
    return directories, items


@attrs.frozen
class _Listing:
    """What the share holds where an upload goes: directories that exist, and file sizes."""

    directories: frozenset[str]
    sizes: dict[str, int]


def _listing(share: FileShare, directories: list[str], items: list[_Item]) -> _Listing:
    """One listing per directory the upload writes into (and per ancestor of the destination),
    top-down from the share's root; a directory its parent's listing does not show is missing
    and is not asked about, nor is anything below it: no 404s, and no HEAD for each file."""
    wanted = set(directories) | {posixpath.dirname(item.remote) for item in items} | {""}
    for path in list(wanted):
        while path:
            path = posixpath.dirname(path)  # noqa: PLW2901 - walking up to the root
            wanted.add(path)
    existing: set[str] = set()
    children: dict[str, set[str]] = {}
    sizes: dict[str, int] = {}
    for directory in sorted(wanted, key=lambda path: (path.count("/") + bool(path), path)):
        if directory:
            parent = posixpath.dirname(directory)
            if parent not in existing or directory not in children[parent]:
                continue
        entries = share.list(directory)
        existing.add(directory)
        children[directory] = {entry.path for entry in entries if entry.is_directory}
        sizes.update((entry.path, entry.size) for entry in entries if entry.size is not None)
    return _Listing(frozenset(existing), sizes)


def _send_file(files: Any, share: FileShare, item: _Item, max_connections: int,
               on_bytes: Callable[[int, Any], None]) -> str:
    """Create ``item`` on the share with its content and Content-MD5; return the MD5.

    A file that fits one range (4 MiB) is read once and sent as Create File + one Put Range; a
    bigger one goes through the SDK's parallel ranges (the SDK would start a thread pool even
    for a one-range file)."""
    from azure.storage.file.models import ContentSettings

    directory, name = _split(item.remote)
    if item.size <= files.MAX_RANGE_SIZE:
        data = item.local.read_bytes()
        if len(data) <= files.MAX_RANGE_SIZE:
            md5 = base64.b64encode(hashlib.md5(data).digest()).decode("ascii")
            files.create_file(share.name, directory, name, len(data), content_settings=ContentSettings(content_md5=md5))
            if data:
                files.update_range(share.name, directory, name, data, 0, len(data) - 1)
            on_bytes(len(data), len(data))
            return md5
    # The MD5 is computed on another thread while the ranges go out (hashlib lets go of the GIL),
    # then set with the file's properties: one pass over the file fewer on the critical path.
    hasher = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="share-md5",
                                                   initializer=block_interrupts_in_this_thread)
    try:
        digest = hasher.submit(_md5_of, item.local)
        files.create_file_from_path(
            share.name, directory, name, str(item.local),
            max_connections=max_connections, progress_callback=on_bytes,
        )
        md5 = digest.result()
    finally:
        hasher.shutdown(wait=True)
    files.set_file_properties(share.name, directory, name, ContentSettings(content_md5=md5))
    return md5


def upload(
    share: FileShare,
    local: str | os.PathLike[str],
    remote: str | SharePath,
    *,
    workers: int,
    max_connections: int,
    progress: Progress | None,
    verify: bool = False,
) -> TransferReport:
    """``FileShare.upload``: send ``local`` into the directory ``remote`` on ``share``."""
    source = Path(local)
    destination = share._path(remote).path
    _check_count("workers", workers)
    _check_count("max_connections", max_connections)
    directories, items = _upload_plan(source, destination)
    tally = _Tally(progress or share.progress, items)
    log.info(
        "Uploading %d file(s) (%s) from %s to share %s",
        len(items), _human_size(tally.bytes_total), source, share._where(destination),
    )
    files = share._files()
    listing = _listing(share, directories, items)
    made: set[str] = set(listing.directories)
    for directory in directories:
        share._make_directories(files, directory, made)
    state = SyncState.load(share.url, destination, source.resolve())

    def known_unchanged(item: _Item) -> bool:
        """Skipped on the sync state's word: no request, no worker thread."""
        if verify:
            return False
        stat = item.local.stat()
        remote_size = listing.sizes.get(item.remote)
        known = state.unchanged(item.remote, item.local, stat, remote_size, _md5_of)
        if known is None:
            return False
        state.record(item.remote, known)
        tally.for_file(item)[1]()
        return True

    def send(files: Any, item: _Item) -> bool:
        on_bytes, done = tally.for_file(item)
        stat_at = now_ns()
        stat = item.local.stat()
        with azure_errors(f"Uploading {item.local} to share {share._where(item.remote)}"):
            if listing.sizes.get(item.remote) == stat.st_size:
                md5 = _md5_of(item.local)
                properties = files.get_file_properties(share.name, *_split(item.remote)).properties
                if properties.content_settings.content_md5 == md5:
                    state.record(item.remote, FileRecord.of(stat, md5, stat_at))
                    done()
                    return False
            md5 = _send_file(files, share, item, max_connections, on_bytes)
        state.record(item.remote, FileRecord.of(stat, md5, stat_at))
        done()
        return True

    try:
        skipped = {item.remote for item in items if known_unchanged(item)}
        to_check = [item for item in items if item.remote not in skipped]
        sent = dict(zip((item.remote for item in to_check),
                        _in_parallel(share, send, to_check, workers) if to_check else []))
    finally:
        state.save()
    report = TransferReport(
        [item.remote for item in items if sent.get(item.remote)],
        [item.remote for item in items if not sent.get(item.remote)],
        sum(item.size for item in items if sent.get(item.remote)),
    )
    log.info(
        "Uploaded %d file(s) (%s) to share %s; %d unchanged file(s) skipped",
        len(report.uploaded), _human_size(report.bytes), share._where(destination), len(report.skipped),
    )
    return report


# --- downloads --------------------------------------------------------------------------------


def _kind(share: FileShare, files: Any, path: str, action: str) -> str:
    """"directory" or "file", or ``NotFound`` naming the missing share or path."""
    with azure_errors(f"Looking up {share._where(path)}"):
        if not path:
            if files.exists(share.name):
                return "directory"
            share_exists = False
        else:
            if files.exists(share.name, directory_name=path):
                return "directory"
            directory, name = _split(path)
            if files.exists(share.name, directory_name=directory, file_name=name):
                return "file"
            share_exists = files.exists(share.name)
    if not share_exists:
        raise NotFound(
            f"the file share {share.name} does not exist", code="ShareNotFound", status=404, action=action
        )
    raise NotFound(
        f"there is no file or directory {path!r} on file share {share.name}",
        code="ResourceNotFound",
        status=404,
        action=action,
    )


def download(
    share: FileShare,
    remote: str | SharePath,
    local: str | os.PathLike[str],
    *,
    workers: int,
    max_connections: int,
    progress: Progress | None,
) -> TransferReport:
    """``FileShare.download``: fetch ``remote`` on ``share`` to ``local``."""
    source = share._path(remote).path
    target = Path(local)
    _check_count("workers", workers)
    _check_count("max_connections", max_connections)
    files = share._files()
    if _kind(share, files, source, f"Downloading {share._where(source)}") == "file":
        into_directory = target.is_dir() or str(local).endswith(("/", os.sep))
        destination = target / posixpath.basename(source) if into_directory else target
        with azure_errors(f"Looking up {share._where(source)}"):
            size = files.get_file_properties(share.name, *_split(source)).properties.content_length
        directories, items = [destination.parent], [_Item(destination, source, size)]
    else:
        if target.exists() and not target.is_dir():
            raise ValidationError("local path", str(target),
                                  f"is an existing file, but {share._where(source) or share.name} is a directory: "
                                  "give a directory (new or existing) to download it into")
        entries = list(share.walk(source))
        offset = len(source) + 1 if source else 0
        directories = [target] + [target / e.path[offset:] for e in entries if e.is_directory]
        items = [_Item(target / e.path[offset:], e.path, e.size) for e in entries if e.size is not None]
    tally = _Tally(progress or share.progress, items)
    log.info(
        "Downloading %d file(s) (%s) from share %s to %s",
        len(items), _human_size(tally.bytes_total), share._where(source), target,
    )
    for directory in directories:
        directory.mkdir(parents=True, exist_ok=True)

    def fetch(files: Any, item: _Item) -> None:
        on_bytes, done = tally.for_file(item)
        # Not mkstemp: the file would keep its 0600 mode instead of the user's umask.
        partial = item.local.with_name(f".{item.local.name}.{uuid.uuid4().hex}.partial")
        try:
            with azure_errors(f"Downloading share {share._where(item.remote)} to {item.local}"):
                content = get_small_file(files, share.name, *_split(item.remote)) \
                    if item.size <= files.MAX_SINGLE_GET_SIZE else None
                if content is not None:
                    partial.write_bytes(content)
                    on_bytes(len(content), len(content))
                else:  # big, or grown past one GET since it was listed: the SDK's parallel ranges
                    files.get_file_to_path(
                        share.name, *_split(item.remote), partial,
                        max_connections=max_connections, progress_callback=on_bytes,
                    )
            os.replace(partial, item.local)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(partial)
            raise
        done()

    _in_parallel(share, fetch, items, workers)
    log.info("Downloaded %d file(s) (%s) to %s", len(items), _human_size(tally.bytes_total), target)
    return TransferReport([item.remote for item in items], [], tally.bytes_total)
