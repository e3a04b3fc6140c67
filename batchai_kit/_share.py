"""Azure file shares: ``FileShare`` (a live share) and ``SharePath`` (a path on one).

::

    with bk.FileShare(azure, "batchaiquickstart", cleanup="delete") as share:
        share.upload("recipes/cntk_mnist", "mnistcntksample")   # unchanged files are skipped
        share.mount_reference()           # AzureFileShareReference for a cluster's mount volumes
        share / "mnistcntksample"         # SharePath: $AZ_BATCHAI_MOUNT_ROOT/batchaiquickstart/...
        share.download("Models", "models/")
    # the share is deleted here, because this block created it

Every Azure Files call goes through ``azure.storage.file.FileService`` (``Azure.file_service()``);
its exceptions become ``BatchAIKitError``s naming what failed. Uploads and downloads are
``_transfer``'s work (planning, progress, parallel workers); this module holds the share and its paths.
"""

from __future__ import annotations

import logging
import os
import posixpath
import secrets
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterator

import attrs

from . import _names, _transfer
from ._journal import Journal, clean_endpoint
from ._resource import EnsuredResource, azure_errors, check_choice, journal_deleted, journal_for
from ._transfer import TransferProgress, TransferReport, UploadProgress, _join, _split
from .errors import ValidationError

if TYPE_CHECKING:  # pragma: no cover
    from azure.mgmt.batchai import models

    from ._connection import Azure

__all__ = [
    "CLEANUP_POLICIES", "MOUNT_ROOT", "MOUNT_AS_PATTERN", "SharePath", "ShareEntry", "FileShare", "ExternalShare",
    # re-exported from _transfer, where they are made
    "TransferProgress", "UploadProgress", "TransferReport",
]

log = logging.getLogger("batchai_kit.share")

CLEANUP_POLICIES = ("keep", "delete")
MOUNT_ROOT = "$AZ_BATCHAI_MOUNT_ROOT"
# The share metadata naming the handle that created it (metadata names are C# identifiers).
CREATOR_METADATA = "batchaikitcreator"
# Batch AI gives relativeMountPath no pattern; one directory name keeps every mount directly under
# $AZ_BATCHAI_MOUNT_ROOT, where the node's mount commands and users' shells expect it.
MOUNT_AS_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$"


def _check_mount_as(value: object) -> str:
    return _names._check_pattern(
        "mount_as",
        value,
        MOUNT_AS_PATTERN,
        "must be one directory name of 1-64 letters, digits, '_', '-' and '.', starting with a "
        "letter, digit or '_' (it is mounted at $AZ_BATCHAI_MOUNT_ROOT/<mount_as>)",
    )


def _given_mount_as(value: str | None) -> str:
    """``mount_as`` as given, checked; "" when not given (the share's name is used then)."""
    return "" if value is None else _check_mount_as(value)


def _check_cleanup(_instance: Any, _attribute: Any, value: str) -> None:
    check_choice("cleanup", value, CLEANUP_POLICIES)


def _share_path(value: object) -> str:
    return _names.check_path(value, field="share path", allow_root=True)


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

    azure: Azure = attrs.field(repr=False)
    name: str = attrs.field(validator=lambda _i, _a, value: _names.check_share_name(value))
    mount_as: str = attrs.field(default=None, kw_only=True, converter=_given_mount_as)
    cleanup: str = attrs.field(default="keep", kw_only=True, validator=_check_cleanup)
    journal: Journal | None = attrs.field(default=None, kw_only=True, repr=False, converter=journal_for)
    progress: Callable[[TransferProgress], None] | None = attrs.field(default=None, kw_only=True, repr=False)
    created_here: bool = attrs.field(default=False, init=False)
    _ensured: bool = attrs.field(default=False, init=False, repr=False)
    # A create was sent and not (yet) answered: see LiveResource._claim_unconfirmed.
    creating: bool = attrs.field(default=False, init=False, repr=False)
    _service: Any = attrs.field(default=None, init=False, repr=False)
    # FileServices of finished transfers' workers, with their open connections (see _transfer)
    _idle_services: list[Any] = attrs.field(factory=list, init=False, repr=False)

    kind: ClassVar[str] = "share"
    # Entries asked for per listing request; 5000 is the service's maximum.
    list_page_size: ClassVar[int] = 5000

    def __attrs_post_init__(self) -> None:
        if not self.mount_as:
            self.mount_as = self.name
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
        """The share's root directory, as a path for job specs and transfers."""
        return SharePath(self, "")

    def __truediv__(self, path: str) -> SharePath:
        return SharePath(self, path)

    def _files(self) -> Any:
        if self._service is None:
            self._service = self.azure.file_service()
        return self._service

    def describe(self) -> str:
        """What log lines and errors call it: ``file share <name>``."""
        return f"file share {self.name}"

    def ensure(self) -> FileShare:
        """Create the share if it does not exist; ``created_here`` says whether this handle did.

        The create carries a token of this handle's in the share's metadata: when the service
        answers "already exists" (a retry after the first answer was lost, or another client's
        share), the token decides whose share it is, and the journal's intent record is confirmed
        or withdrawn accordingly.
        """
        if self._ensured:
            return self
        files = self._files()
        with azure_errors(f"Looking up file share {self.name}"):
            existed = files.exists(self.name)
        if existed:
            log.info("Using existing file share %s", self.name)
            self._ensured = True
            return self
        token = f"{os.getpid()}-{secrets.token_hex(8)}"
        endpoint = self.azure.file_endpoint
        self.creating = True  # from the intent on: see LiveResource._claim_unconfirmed
        if self.journal is not None:
            self.journal.intent(self.kind, self.url, clean_endpoint(endpoint))
        with azure_errors(f"Creating file share {self.name}"):
            created = files.create_share(self.name, metadata={CREATOR_METADATA: token}, fail_on_exist=False)
            if not created:
                # "Already exists": made by our own earlier attempt whose answer was lost, or by another
                # client. Until the token says which, an interrupt must not claim (and delete) it.
                self.creating = False
                created = files.get_share_metadata(self.name).get(CREATOR_METADATA) == token
        self.created_here, self.creating = bool(created), False
        self._ensured = True
        if created:
            if self.journal is not None:
                self.journal.created(self.kind, self.url, clean_endpoint(endpoint))
            log.info("Created file share %s", self.name)
        else:
            # Another client created it between our look-up and our create: it is not ours, so
            # withdraw the journal's record (the journal has no other way to say "never mind").
            journal_deleted(self.journal, self.kind, self.url, endpoint)
            log.info("Using existing file share %s (created concurrently by another client)", self.name)
        return self

    def delete(self) -> None:
        """Delete the share and everything on it (no error if it is already gone)."""
        with azure_errors(f"Deleting file share {self.name}"):
            deleted = self._files().delete_share(self.name, fail_not_exist=False)
        journal_deleted(self.journal, self.kind, self.url, self.azure.file_endpoint)
        self.created_here = False
        self._ensured = False
        log.info("Deleted file share %s" if deleted else "File share %s was already gone", self.name)

    def mount_reference(self) -> models.AzureFileShareReference:
        """The ``AzureFileShareReference`` that mounts this share on a cluster's nodes.

        It carries the storage account key, as Batch AI requires: keep it out of logs.
        """
        from azure.mgmt.batchai import models

        account = self.azure.storage_account
        if not account:  # made with one (see __attrs_post_init__); the connection may have changed since
            raise ValidationError("storage_account", None, "a share is mounted with its storage account: "
                                                           "the connection has none")
        return models.AzureFileShareReference(
            account_name=account,
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
                return bool(files.exists(self.name))
            if files.exists(self.name, directory_name=target):
                return True
            directory, name = _split(target)
            return bool(files.exists(self.name, directory_name=directory, file_name=name))

    # --- transfers ------------------------------------------------------------------------

    def upload(
        self,
        local: str | os.PathLike[str],
        remote: str | SharePath = "",
        *,
        workers: int = 4,
        max_connections: int = 8,
        progress: Callable[[TransferProgress], None] | None = None,
        verify: bool = False,
    ) -> TransferReport:
        """Upload the file or directory tree ``local`` into the directory ``remote``.

        A file keeps its name; a directory's contents (empty directories included) go below
        ``remote``. Unchanged files are skipped: those this machine sent before and has not
        changed since (a local sync state in ``$BATCHAI_KIT_HOME/sync``, checked against the
        share's listing of each directory: a file deleted or resized on the share is sent again),
        and those whose size and MD5 match the share's copy. The others are sent with their
        Content-MD5, ``workers`` files at a time, big files in ``max_connections`` parallel
        ranges. A change made on the share that keeps a file's size does not show in a listing:
        ``verify=True`` compares every same-size file's MD5 with the share's (one request each).
        """
        return _transfer.upload(
            self, local, remote, workers=workers, max_connections=max_connections, progress=progress,
            verify=verify,
        )

    def download(
        self,
        remote: str | SharePath,
        local: str | os.PathLike[str],
        *,
        workers: int = 4,
        max_connections: int = 8,
        progress: Callable[[TransferProgress], None] | None = None,
    ) -> TransferReport:
        """Download the file or directory tree ``remote`` to ``local``.

        A directory's contents (empty directories included) go below the local directory
        ``local``. A file goes into ``local`` if that is an existing directory or ends with a
        path separator, else it is written as ``local``. Each file appears complete or not at all.
        """
        return _transfer.download(
            self, remote, local, workers=workers, max_connections=max_connections, progress=progress
        )


def _check_file_mode(_instance: Any, attribute: Any, value: object) -> None:
    _names._check_pattern(attribute.name, value, r"^0?[0-7]{3}$", "must be an octal file mode such as 0777")


@attrs.frozen
class ExternalShare:
    """An Azure file share of another storage account, to mount on nodes only (batchai_kit
    neither creates, uploads to nor deletes it). ``account_key`` is a secret: never in its repr.

    ``FileShare`` is the share of the connection's own account; ``ExternalShare`` is what a Batch
    AI JSON spec names when its ``azureFileUrl`` points elsewhere."""

    account_name: str = attrs.field(validator=lambda _i, _a, value: _names.check_storage_account_name(value))
    url: str = attrs.field()
    mount_as: str = attrs.field(validator=lambda _i, _a, value: _check_mount_as(value))
    account_key: str = attrs.field(repr=False)
    file_mode: str = attrs.field(default="0777", validator=_check_file_mode)
    directory_mode: str = attrs.field(default="0777", validator=_check_file_mode)

    @url.validator
    def _check_url(self, _attribute: Any, value: object) -> None:
        if not isinstance(value, str) or not value.startswith("https://") or value.rstrip("/").count("/") < 3:
            raise ValidationError("azure_file_url", value, "must be https://<account>.file.<suffix>/<share>")

    @property
    def name(self) -> str:
        """The share's name: the last component of its URL."""
        return self.url.rstrip("/").rsplit("/", 1)[-1]

    @property
    def root(self) -> SharePath:
        """The share's root directory, as a path for job specs."""
        return SharePath(self, "")  # type: ignore[arg-type]  # a SharePath only needs url and mount_as

    def __truediv__(self, path: str) -> SharePath:
        return SharePath(self, path)  # type: ignore[arg-type]

    def mount_reference(self) -> models.AzureFileShareReference:
        """The ``AzureFileShareReference`` that mounts this share (it carries the key)."""
        from azure.mgmt.batchai import models

        return models.AzureFileShareReference(
            account_name=self.account_name,
            azure_file_url=self.url,
            credentials=models.AzureStorageCredentialsInfo(account_key=self.account_key),
            relative_mount_path=self.mount_as,
            file_mode=self.file_mode,
            directory_mode=self.directory_mode,
        )
