"""Mount volumes: an Azure File share "mounted" on a node is a symlink to the directory the
emulator's Files service keeps for that share, so writes appear on the share at once, as
over SMB. Other volume kinds have no local backing and are reported, not faked."""

from __future__ import annotations

import logging
import os
from pathlib import Path, PurePosixPath

from ._model import MOUNT_FAILED, UNSUPPORTED_MOUNT, ShareResolver, StartError

logger = logging.getLogger(__name__)

_UNSUPPORTED = {
    "azureBlobFileSystems": "Azure Blob containers (blobfuse) are not emulated",
    "fileServers": "Batch AI file servers (NFS) are not emulated",
    "unmanagedFileSystems": "unmanaged file systems need a real mount command",
}


def mount_volumes(mount_volumes: dict | None, mount_root: Path, resolve_share: ShareResolver) -> None:
    """Create ``mount_root`` and map every volume of ``mount_volumes`` under it.

    Raises ``StartError`` (MountFailed / UnsupportedMountVolume) on the first volume that
    cannot be mapped; the ones before it stay mapped, as on a node whose mount failed.
    """
    mount_root.mkdir(parents=True, exist_ok=True)
    volumes = mount_volumes or {}
    for kind, reason in _UNSUPPORTED.items():
        for index, volume in enumerate(volumes.get(kind) or ()):
            raise StartError(
                UNSUPPORTED_MOUNT,
                f"Cannot mount {kind}[{index}] at {volume.get('relativeMountPath')!r}: {reason} by the "
                "local emulator; use azureFileShares instead",
                kind=kind,
                relativeMountPath=volume.get("relativeMountPath"),
            )
    for index, share in enumerate(volumes.get("azureFileShares") or ()):
        url = share.get("azureFileUrl", "")
        try:
            directory = Path(resolve_share(share.get("accountName") or "", url))
        except LookupError as exc:
            raise StartError(
                MOUNT_FAILED,
                f"Cannot mount azureFileShares[{index}] {url!r}: {_reason(exc)}",
                azureFileUrl=url,
            ) from exc
        link = mount_point(mount_root, share.get("relativeMountPath", ""), f"azureFileShares[{index}]")
        _symlink(link, directory)
        logger.debug("Mounted %s at %s", url, link)


def mount_point(mount_root: Path, relative: str, what: str) -> Path:
    """``mount_root/relative``, refusing paths that would leave the mount root."""
    path = PurePosixPath(relative)
    if not relative or path.is_absolute() or ".." in path.parts:
        raise StartError(
            MOUNT_FAILED,
            f"{what}: relativeMountPath {relative!r} must be a relative path without '..'",
            relativeMountPath=relative,
        )
    return mount_root.joinpath(*path.parts)


def _symlink(link: Path, target: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink():
        if Path(os.readlink(link)) == target:
            return
        link.unlink()  # a node re-prepared after the share moved
    elif link.exists():
        raise StartError(MOUNT_FAILED, f"Cannot mount at {link}: something else is already there")
    target.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target, target_is_directory=True)


def _reason(exc: LookupError) -> str:
    # KeyError's str() quotes its argument; the resolver's message reads better bare.
    return str(exc.args[0]) if exc.args else type(exc).__name__
