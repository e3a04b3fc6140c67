"""``batchai-kit gc``: find what batchai_kit created and did not delete, and delete it on request.

The journal records every create (an intent before the request, a confirmation after) and
every delete. Whatever it still lists is checked against Azure: gone resources are marked
deleted, live ones are reported, and deleted when asked.
"""

from __future__ import annotations

import logging
import socket
from typing import Any, Iterable
from urllib.parse import urlsplit

import attrs

from ._journal import AliveResource, Journal, clean_endpoint, is_local_endpoint
from ._resource import azure_errors
from .errors import NotFound, ValidationError

log = logging.getLogger("batchai_kit.gc")

COSTLY = ("cluster", "job", "file_server")
ORDER = ("job", "cluster", "file_server", "experiment", "share", "workspace", "resource_group")


@attrs.frozen
class Finding:
    kind: str
    id: str
    # "alive", "gone", "elsewhere" (another endpoint), "stale" (a local emulator that no longer
    # runs: `gc --prune` forgets it), "unknown" (could not check)
    state: str
    detail: str = ""


def _parts(resource_id: str) -> dict[str, str]:
    segments = resource_id.strip("/").split("/")
    return {segments[i].lower(): segments[i + 1] for i in range(0, len(segments) - 1, 2)}


def _path_args(kind: str, resource_id: str) -> tuple[str, ...]:
    p = _parts(resource_id)
    group = p["resourcegroups"]
    if kind == "resource_group":
        return (group,)
    workspace = p["workspaces"]
    if kind == "workspace":
        return group, workspace
    if kind == "experiment":
        return group, workspace, p["experiments"]
    if kind == "job":
        return group, workspace, p["experiments"], p["jobs"]
    if kind == "cluster":
        return group, workspace, p["clusters"]
    if kind == "file_server":
        return group, workspace, p["fileservers"]
    raise ValueError(kind)


def local_emulator_gone(endpoint: str, timeout: float = 1.0) -> bool:
    """True when ``endpoint`` is a local emulator's (a loopback address) and nothing listens
    there any more (the connection is refused). False for anything else: an endpoint on Azure,
    a port that answers (perhaps another emulator), or one that does not answer in time."""
    if not is_local_endpoint(endpoint):
        return False
    parts = urlsplit(endpoint)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", port), timeout=timeout):
            return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return False


def stale_entries(entries: Iterable[AliveResource]) -> list[AliveResource]:
    """The entries of local emulators that no longer run (see :func:`local_emulator_gone`),
    each endpoint probed once."""
    gone: dict[str, bool] = {}
    stale = []
    for entry in entries:
        endpoint = clean_endpoint(entry.endpoint)
        if endpoint not in gone:
            gone[endpoint] = local_emulator_gone(endpoint)
        if gone[endpoint]:
            stale.append(entry)
    return stale


def prune_journal(journal: Journal) -> list[AliveResource]:
    """Forget the journal's entries of local emulators that no longer run; return them.
    Entries on Azure (any endpoint that is not a loopback address) are never touched."""
    stale = stale_entries(journal.alive())
    for entry in stale:
        journal.forgotten(entry.kind, entry.id, entry.endpoint)
    return stale


def _share_name(resource_id: str) -> str:
    return resource_id.rstrip("/").rsplit("/", 1)[-1]


class Collector:
    """Checks and deletes journaled resources through one ``Azure`` connection."""

    def __init__(self, azure: Any, journal: Journal):
        self.azure = azure
        self.journal = journal
        self.batchai = azure.batchai()
        self.endpoint = clean_endpoint(azure.arm_endpoint)
        # Shares are journaled under their storage account's file endpoint, not ARM's.
        self.files_endpoint = clean_endpoint(azure.file_endpoint) if azure.storage_account else None

    def _endpoint_for(self, kind: str) -> str | None:
        return self.files_endpoint if kind == "share" else self.endpoint

    def _get(self, kind: str, resource_id: str) -> Any:
        if kind == "share":
            if not self.azure.file_service().exists(_share_name(resource_id)):
                raise NotFound(f"share {_share_name(resource_id)} does not exist")
            return True
        if kind == "resource_group":
            if not self.azure.resources().resource_groups.check_existence(*_path_args(kind, resource_id)):
                raise NotFound(f"resource group {resource_id} does not exist")
            return True
        operations = {"workspace": self.batchai.workspaces, "experiment": self.batchai.experiments,
                      "job": self.batchai.jobs, "cluster": self.batchai.clusters,
                      "file_server": self.batchai.file_servers}[kind]
        with azure_errors(f"Reading {kind} {resource_id}"):
            return operations.get(*_path_args(kind, resource_id))

    def check(self, entries: Iterable[AliveResource]) -> list[Finding]:
        findings = []
        for entry in sorted(entries, key=lambda e: ORDER.index(e.kind) if e.kind in ORDER else len(ORDER)):
            if clean_endpoint(entry.endpoint) != self._endpoint_for(entry.kind):
                stale = local_emulator_gone(entry.endpoint)
                findings.append(Finding(entry.kind, entry.id, "stale" if stale else "elsewhere", entry.endpoint))
                continue
            try:
                self._get(entry.kind, entry.id)
            except NotFound:
                self.journal.deleted(entry.kind, entry.id, entry.endpoint)
                findings.append(Finding(entry.kind, entry.id, "gone"))
            except Exception as exc:  # noqa: BLE001 - reported, the others are still checked
                findings.append(Finding(entry.kind, entry.id, "unknown", str(exc)))
            else:
                findings.append(Finding(entry.kind, entry.id, "alive",
                                        "" if entry.confirmed else "create was never confirmed"))
        return findings

    def delete(self, finding: Finding) -> None:
        kind, resource_id = finding.kind, finding.id
        endpoint = self._endpoint_for(kind)
        if endpoint is None:
            raise ValidationError("storage_account", None, f"is needed to delete {kind} {resource_id}")
        log.info("Deleting %s %s", kind, resource_id)
        with azure_errors(f"Deleting {kind} {resource_id}"):
            if kind == "share":
                self.azure.file_service().delete_share(_share_name(resource_id))
            elif kind == "resource_group":
                self.azure.resources().resource_groups.begin_delete(*_path_args(kind, resource_id)).result()
            elif kind == "file_server":
                raise NotImplementedError("azure-mgmt-batchai 7.0.0 cannot delete file servers; use the portal")
            else:
                operations = {"workspace": self.batchai.workspaces, "experiment": self.batchai.experiments,
                              "job": self.batchai.jobs, "cluster": self.batchai.clusters}[kind]
                operations.begin_delete(*_path_args(kind, resource_id)).result()
        self.journal.deleted(kind, resource_id, endpoint)
