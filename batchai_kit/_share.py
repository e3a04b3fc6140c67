"""Azure file shares: ``FileShare`` (a live share) and ``SharePath`` (a path on one).

::

    with bk.FileShare(azure, "batchaiquickstart", cleanup="delete") as share:
        share.upload("recipes/cntk_mnist", "mnistcntksample")   # unchanged files are skipped
        share.mount_reference()           # AzureFileShareReference for a cluster's mount volumes
        share / "mnistcntksample"         # SharePath: $AZ_BATCHAI_MOUNT_ROOT/batchaiquickstart/...
        share.download("Models", "models/")
    # the share is deleted here, because this block created it

Every Azure Files call goes through ``azure.storage.file.FileService`` (``Azure.file_service()``);
its exceptions become ``BatchAIKitError``s naming what failed. Transfers run one FileService per
worker thread: the SDK shares one ``requests.Session`` per FileService, and a Session is not
documented as safe for concurrent use.
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
from typing import Any, Callable, ClassVar, Iterator, TypeVar

import attrs

from . import _names
from ._journal import Journal
from ._resource import EnsuredResource, azure_errors, check_choice, journal_deleted, journal_for, journaled
from .errors import NotFound, ValidationError

log = logging.getLogger("batchai_kit.share")

T = TypeVar("T")

CLEANUP_POLICIES = ("keep", "delete")
MOUNT_ROOT = "$AZ_BATCHAI_MOUNT_ROOT"
# Batch AI gives relativeMountPath no pattern; one directory name keeps every mount directly under
# $AZ_BATCHAI_MOUNT_ROOT, where the node's mount commands and users' shells expect it.
MOUNT_AS_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$"
_HASH_CHUNK = 1 << 20


def _check_mount_as(value: object) -> str:
    return _names._check_pattern(
        "mount_as",
        value,
        MOUNT_AS_PATTERN,
        "must be one directory name of 1-64 letters, digits, '_', '-' and '.', starting with a "
        "letter, digit or '_' (it is mounted at $AZ_BATCHAI_MOUNT_ROOT/<mount_as>)",
    )


def _check_cleanup(_instance: Any, _attribute: Any, value: str) -> None:
    check_choice("cleanup", value, CLEANUP_POLICIES)


def _check_count(field: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(field, value, "must be a whole number of at least 1")
    return value


def _share_path(value: object) -> str:
    return _names.check_path(value, field="share path", allow_root=True)


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


@attrs.frozen
class SharePath:
    """A file or directory on a file share, as cluster mounts and job inputs/outputs name it.

    ``path`` is relative to the share's root (``""`` is the root), '/'-separated and checked by
    Azure Files' rules: no '.' or '..' or empty components, so a SharePath never leaves its
    share. Leading and trailing '/' are dropped. Two SharePaths are equal when they name the same
    path on the same share (the same URL), whichever ``FileShare`` handle made them.
    """

    share: FileShare = attrs.field(eq=lambda share: share.url, repr=lambda share: repr(share.name))
    path: str = attrs.field(default="", converter=_share_path)

    def __truediv__(self, other: str) -> SharePath:
        if isinstance(other, str) and other.startswith("/"):
            raise ValidationError(
                "share path",
                other,
                "must be relative when joined with '/': use share / path for a path from the share's root",
            )
        child = _names.check_path(other, field="share path")
        return SharePath(self.share, _join(self.path, child))

    @property
    def mount_path(self) -> str:
        """Where a node sees this path when the share is mounted on the cluster."""
        return _join(f"{MOUNT_ROOT}/{self.share.mount_as}", self.path)

    def __str__(self) -> str:
        return self.mount_path

    @property
    def parent(self) -> SharePath:
        """The directory holding this path (the root's parent is the root)."""
        return SharePath(self.share, posixpath.dirname(self.path))

    @property
    def name(self) -> str:
        """The last component ("" for the root)."""
        return posixpath.basename(self.path)


@attrs.frozen
class ShareEntry:
    """A file or directory found on a share; ``path`` is from the share's root, ``size`` is
    ``None`` for directories."""

    name: str
    path: str
    is_directory: bool
    size: int | None


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


@attrs.frozen
class _Item:
    local: Path
    remote: str
    size: int


class _Tally:
    """Adds up the bytes of files moving in parallel and reports them to one callback."""

    def __init__(self, callback: Callable[[TransferProgress], None] | None, items: list[_Item]):
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


def _entry(item: Any, directory: str) -> ShareEntry:
    from azure.storage.file.models import Directory

    is_directory = isinstance(item, Directory)
    size = None if is_directory else item.properties.content_length
    return ShareEntry(item.name, _join(directory, item.name), is_directory, size)


@attrs.define(eq=False)
class FileShare(EnsuredResource):
    """The live handle of one Azure file share.

    ``mount_as`` is the directory the share is mounted at on nodes, below $AZ_BATCHAI_MOUNT_ROOT
    (default: the share's name). ``cleanup="delete"`` deletes the share when the ``with`` block
    ends, but only if this handle created it; ``"keep"`` (default) never deletes. Creations and
    deletions are written to ``journal`` (None: the user's journal; False: none). ``progress`` is the
    default progress callback of uploads and downloads. Holds no secret of its own; the ``Azure``
    and the SDK client stay out of its repr.
    """

    azure: Any = attrs.field(repr=False)
    name: str = attrs.field(validator=lambda _i, _a, value: _names.check_share_name(value))
    mount_as: str = attrs.field(default=None, kw_only=True)
    cleanup: str = attrs.field(default="keep", kw_only=True, validator=_check_cleanup)
    journal: Journal | None = attrs.field(default=None, kw_only=True, repr=False, converter=journal_for)
    progress: Callable[[TransferProgress], None] | None = attrs.field(default=None, kw_only=True, repr=False)
    created_here: bool = attrs.field(default=False, init=False)
    _service: Any = attrs.field(default=None, init=False, repr=False)

    kind: ClassVar[str] = "share"
    # Entries asked for per listing request; 5000 is the service's maximum.
    list_page_size: ClassVar[int] = 5000

    def __attrs_post_init__(self) -> None:
        self.mount_as = self.name if self.mount_as is None else _check_mount_as(self.mount_as)
        self.azure.file_endpoint  # noqa: B018 - a ValidationError now if no storage account is set

    # --- the share ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The share's azureFileUrl, e.g. https://{account}.file.core.windows.net/{name}."""
        return f"{self.azure.file_endpoint}/{self.name}"

    @property
    def id(self) -> str:
        """What the journal records for this share: its URL."""
        return self.url

    @property
    def root(self) -> SharePath:
        return SharePath(self, "")

    def __truediv__(self, path: str) -> SharePath:
        return SharePath(self, path)

    def _files(self) -> Any:
        if self._service is None:
            self._service = self.azure.file_service()
        return self._service

    def describe(self) -> str:
        return f"file share {self.name}"

    def ensure(self) -> FileShare:
        """Create the share if it does not exist; ``created_here`` says whether this handle did."""
        files = self._files()
        with azure_errors(f"Looking up file share {self.name}"):
            existed = files.exists(self.name)
        if existed:
            log.info("Using existing file share %s", self.name)
            return self
        with journaled(self.journal, self.kind, self.url, self.azure.file_endpoint), \
                azure_errors(f"Creating file share {self.name}"):
            created = files.create_share(self.name, fail_on_exist=False)
        if created:
            self.created_here = True
            log.info("Created file share %s", self.name)
        else:
            # Another client created it between our look-up and our create: it is not ours, so
            # withdraw the journal's record (the journal has no other way to say "never mind").
            journal_deleted(self.journal, self.kind, self.url, self.azure.file_endpoint)
            log.info("Using existing file share %s (created concurrently by another client)", self.name)
        return self

    def delete(self) -> None:
        """Delete the share and everything on it (no error if it is already gone)."""
        with azure_errors(f"Deleting file share {self.name}"):
            deleted = self._files().delete_share(self.name, fail_not_exist=False)
        journal_deleted(self.journal, self.kind, self.url, self.azure.file_endpoint)
        self.created_here = False
        log.info("Deleted file share %s" if deleted else "File share %s was already gone", self.name)

    def mount_reference(self) -> Any:
        """The ``AzureFileShareReference`` that mounts this share on a cluster's nodes.

        It carries the storage account key, as Batch AI requires: keep it out of logs.
        """
        from azure.mgmt.batchai import models

        return models.AzureFileShareReference(
            account_name=self.azure.storage_account,
            azure_file_url=self.url,
            credentials=models.AzureStorageCredentialsInfo(account_key=self.azure.storage_key),
            relative_mount_path=self.mount_as,
            file_mode="0777",
            directory_mode="0777",
        )

    # --- paths ----------------------------------------------------------------------------

    def _path(self, value: str | SharePath) -> SharePath:
        if isinstance(value, SharePath):
            if value.share.url != self.url:
                raise ValidationError(
                    "share path", value.path, f"is on share {value.share.name}, not on {self.name}"
                )
            return value
        return SharePath(self, value)

    def _where(self, path: str) -> str:
        return _join(self.name, path)

    def _make_directories(self, files: Any, path: str, made: set[str]) -> None:
        parts = path.split("/") if path else []
        for depth in range(1, len(parts) + 1):
            prefix = "/".join(parts[:depth])
            if prefix in made:
                continue
            with azure_errors(f"Creating directory {self._where(prefix)}"):
                files.create_directory(self.name, prefix, fail_on_exist=False)
            made.add(prefix)

    def mkdir(self, path: str | SharePath) -> SharePath:
        """Create the directory ``path`` and its parents; existing ones are fine."""
        target = self._path(path)
        self._make_directories(self._files(), target.path, set())
        return target

    def list(self, path: str | SharePath = "") -> list[ShareEntry]:
        """The files and directories directly in the directory ``path``, all pages of them."""
        directory = self._path(path).path
        files = self._files()
        entries: list[ShareEntry] = []
        marker = None
        with azure_errors(f"Listing {self._where(directory)}"):
            while True:
                page = files.list_directories_and_files(
                    self.name, directory or None, num_results=self.list_page_size, marker=marker
                )
                entries.extend(_entry(item, directory) for item in page)
                marker = page.next_marker
                if not marker:
                    return entries

    def walk(self, path: str | SharePath = "") -> Iterator[ShareEntry]:
        """Everything below the directory ``path``, each directory before what it holds."""
        for entry in self.list(path):
            yield entry
            if entry.is_directory:
                yield from self.walk(entry.path)

    def exists(self, path: str | SharePath = "") -> bool:
        """Whether the share (``path=""``), or a file or directory on it, exists."""
        target = self._path(path).path
        files = self._files()
        with azure_errors(f"Looking up {self._where(target)}"):
            if not target:
                return files.exists(self.name)
            if files.exists(self.name, directory_name=target):
                return True
            directory, name = _split(target)
            return files.exists(self.name, directory_name=directory, file_name=name)

    # --- transfers ------------------------------------------------------------------------

    def _in_parallel(self, work: Callable[[Any, _Item], T], items: list[_Item], workers: int) -> list[T]:
        """``work(files, item)`` for every item on ``workers`` threads, each with its own
        FileService; the first error stops the rest and is raised."""
        local = threading.local()

        def run(item: _Item) -> T:
            if getattr(local, "files", None) is None:
                local.files = self.azure.file_service()
            return work(local.files, item)

        pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=max(1, min(workers, len(items))), thread_name_prefix=f"share-{self.name}"
        )
        try:
            futures = [pool.submit(run, item) for item in items]
            for future in concurrent.futures.as_completed(futures):
                future.result()
            return [future.result() for future in futures]
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _remote_sizes(self, items: list[_Item]) -> dict[str, int]:
        """The sizes of the files already on the share in the directories ``items`` go to: one
        listing a directory, instead of a (logged) 404 for each new file."""
        sizes = {}
        for directory in sorted({posixpath.dirname(item.remote) for item in items}):
            for entry in self.list(directory):
                if not entry.is_directory:
                    sizes[entry.path] = entry.size
        return sizes

    def upload(
        self,
        local: str | os.PathLike[str],
        remote: str | SharePath = "",
        *,
        workers: int = 4,
        max_connections: int = 4,
        progress: Callable[[TransferProgress], None] | None = None,
    ) -> TransferReport:
        """Upload the file or directory tree ``local`` into the directory ``remote``.

        A file keeps its name; a directory's contents (empty directories included) go below
        ``remote``. Files whose size and MD5 already match the share's copy are skipped; the
        others are sent with their Content-MD5, ``workers`` files at a time, big files in
        ``max_connections`` parallel ranges.
        """
        source = Path(local)
        destination = self._path(remote).path
        _check_count("workers", workers)
        _check_count("max_connections", max_connections)
        directories, items = _upload_plan(source, destination)
        tally = _Tally(progress or self.progress, items)
        log.info(
            "Uploading %d file(s) (%s) from %s to share %s",
            len(items), _human_size(tally.bytes_total), source, self._where(destination),
        )
        files = self._files()
        made: set[str] = set()
        for directory in directories:
            self._make_directories(files, directory, made)
        remote_sizes = self._remote_sizes(items)

        def send(files: Any, item: _Item) -> bool:
            on_bytes, done = tally.for_file(item)
            md5 = _md5_of(item.local)
            directory, name = _split(item.remote)
            with azure_errors(f"Uploading {item.local} to share {self._where(item.remote)}"):
                if remote_sizes.get(item.remote) == item.size:
                    properties = files.get_file_properties(self.name, directory, name).properties
                    if properties.content_settings.content_md5 == md5:
                        done()
                        return False
                from azure.storage.file.models import ContentSettings

                files.create_file_from_path(
                    self.name, directory, name, str(item.local),
                    content_settings=ContentSettings(content_md5=md5),
                    max_connections=max_connections, progress_callback=on_bytes,
                )
            done()
            return True

        sent = self._in_parallel(send, items, workers)
        report = TransferReport(
            [item.remote for item, was_sent in zip(items, sent) if was_sent],
            [item.remote for item, was_sent in zip(items, sent) if not was_sent],
            sum(item.size for item, was_sent in zip(items, sent) if was_sent),
        )
        log.info(
            "Uploaded %d file(s) (%s) to share %s; %d unchanged file(s) skipped",
            len(report.uploaded), _human_size(report.bytes), self._where(destination), len(report.skipped),
        )
        return report

    def _kind(self, files: Any, path: str, action: str) -> str:
        """"directory" or "file", or ``NotFound`` naming the missing share or path."""
        with azure_errors(f"Looking up {self._where(path)}"):
            if not path:
                if files.exists(self.name):
                    return "directory"
                share_exists = False
            else:
                if files.exists(self.name, directory_name=path):
                    return "directory"
                directory, name = _split(path)
                if files.exists(self.name, directory_name=directory, file_name=name):
                    return "file"
                share_exists = files.exists(self.name)
        if not share_exists:
            raise NotFound(
                f"the file share {self.name} does not exist", code="ShareNotFound", status=404, action=action
            )
        raise NotFound(
            f"there is no file or directory {path!r} on file share {self.name}",
            code="ResourceNotFound",
            status=404,
            action=action,
        )

    def download(
        self,
        remote: str | SharePath,
        local: str | os.PathLike[str],
        *,
        workers: int = 4,
        max_connections: int = 4,
        progress: Callable[[TransferProgress], None] | None = None,
    ) -> TransferReport:
        """Download the file or directory tree ``remote`` to ``local``.

        A directory's contents (empty directories included) go below the local directory
        ``local``. A file goes into ``local`` if that is an existing directory or ends with a
        path separator, else it is written as ``local``. Each file appears complete or not at all.
        """
        source = self._path(remote).path
        target = Path(local)
        _check_count("workers", workers)
        _check_count("max_connections", max_connections)
        files = self._files()
        if self._kind(files, source, f"Downloading {self._where(source)}") == "file":
            into_directory = target.is_dir() or str(local).endswith(("/", os.sep))
            destination = target / posixpath.basename(source) if into_directory else target
            with azure_errors(f"Looking up {self._where(source)}"):
                size = files.get_file_properties(self.name, *_split(source)).properties.content_length
            directories, items = [destination.parent], [_Item(destination, source, size)]
        else:
            entries = list(self.walk(source))
            offset = len(source) + 1 if source else 0
            directories = [target] + [target / e.path[offset:] for e in entries if e.is_directory]
            items = [_Item(target / e.path[offset:], e.path, e.size) for e in entries if not e.is_directory]
        tally = _Tally(progress or self.progress, items)
        log.info(
            "Downloading %d file(s) (%s) from share %s to %s",
            len(items), _human_size(tally.bytes_total), self._where(source), target,
        )
        for directory in directories:
            directory.mkdir(parents=True, exist_ok=True)

        def fetch(files: Any, item: _Item) -> None:
            on_bytes, done = tally.for_file(item)
            # Not mkstemp: the file would keep its 0600 mode instead of the user's umask.
            partial = item.local.with_name(f".{item.local.name}.{uuid.uuid4().hex}.partial")
            try:
                with azure_errors(f"Downloading share {self._where(item.remote)} to {item.local}"):
                    files.get_file_to_path(
                        self.name, *_split(item.remote), partial,
                        max_connections=max_connections, progress_callback=on_bytes,
                    )
                os.replace(partial, item.local)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(partial)
                raise
            done()

        self._in_parallel(fetch, items, workers)
        log.info("Downloaded %d file(s) (%s) to %s", len(items), _human_size(tally.bytes_total), target)
        return TransferReport([item.remote for item in items], [], tally.bytes_total)
