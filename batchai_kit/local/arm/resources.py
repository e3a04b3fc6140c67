"""Resource documents: ids, wire rendering and secret stripping.

A document is what the store keeps for one resource: ``key`` (lowercased id), ``kind``,
``parent`` (the parent's key), the wire fields (``id``, ``name``, ``type``, ``location``,
``tags``, ``properties``), an ``etag``, and ``internal`` state that never goes on the wire
(nodes, secrets, timers).
"""

from __future__ import annotations

import copy
import email.utils
import threading
import time

PROVIDER = "providers/Microsoft.BatchAI"

# The resource types of API 2018-05-01 as the live service reported them.
WIRE_TYPES = {
    "resourcegroup": "Microsoft.Resources/resourceGroups",
    "workspace": "Microsoft.BatchAI/workspaces",
    "experiment": "Microsoft.BatchAI/workspaces/experiments",
    "cluster": "Microsoft.BatchAI/workspaces/clusters",
    "job": "Microsoft.BatchAI/workspaces/experiments/jobs",
    "fileserver": "Microsoft.BatchAI/workspaces/fileservers",
}
# The older api-versions' types (resources directly under a resource group).
LEGACY_WIRE_TYPES = {
    "cluster": "Microsoft.BatchAI/Clusters",
    "job": "Microsoft.BatchAI/Jobs",
    "fileserver": "Microsoft.BatchAI/FileServers",
}


def resource_group_id(subscription: str, group: str) -> str:
    return f"/subscriptions/{subscription}/resourceGroups/{group}"


def workspace_id(subscription: str, group: str, workspace: str) -> str:
    return f"{resource_group_id(subscription, group)}/{PROVIDER}/workspaces/{workspace}"


def scope_id(subscription: str, group: str) -> str:
    """The implicit scope of a resource group's clusters, jobs and file servers (API 2017-09-01-preview
    and 2018-03-01): their ids are ``{scope}/clusters/{name}`` and so on."""
    return f"{resource_group_id(subscription, group)}/{PROVIDER}"


def child_id(parent_id: str, collection: str, name: str) -> str:
    return f"{parent_id}/{collection}/{name}"


_TICKS_AT_EPOCH = 621_355_968_000_000_000  # .NET ticks (100 ns since 0001-01-01) at 1970-01-01
_etag_lock = threading.Lock()
_previous_ticks = 0


def new_etag(when: float | None = None) -> str:
    """A strong ETag shaped as Azure's, ``"0x8D5CC10AE4AE08D"``: the change time in .NET ticks,
    hex; strictly increasing, so two changes never share one."""
    global _previous_ticks
    ticks = _TICKS_AT_EPOCH + int((time.time() if when is None else when) * 10_000_000)
    with _etag_lock:
        ticks = _previous_ticks = max(ticks, _previous_ticks + 1)
    return f'"0x{ticks:X}"'


def etag_time(etag: str) -> float | None:
    """When the change that made *etag* happened (None for an ETag not made by :func:`new_etag`)."""
    try:
        ticks = int(etag.strip('"'), 16)
    except ValueError:
        return None
    return (ticks - _TICKS_AT_EPOCH) / 10_000_000 if etag.startswith('"0x') else None


def last_modified(doc: dict) -> str | None:
    """The ``Last-Modified`` header for *doc*: the time of its last change, as an HTTP date."""
    when = etag_time(doc.get("etag", ""))
    return None if when is None else email.utils.formatdate(max(when, 0), usegmt=True)


def operation_resource_id(resource_id: str) -> str:
    """How an operation status names its resource: the names in its ARM id joined by ``$``,
    ``{subscription}${group}${workspace}${cluster}`` (a job: ``...${experiment}${job}``)."""
    segments = resource_id.strip("/").split("/")
    names = [segments[i + 1] for i in range(0, len(segments) - 1, 2) if segments[i].lower() != "providers"]
    return "$".join(names)


def new_document(kind: str, resource_id: str, name: str, parent: dict | None, **fields) -> dict:
    doc: dict = {
        "key": resource_id.lower(),
        "kind": kind,
        "parent": parent["key"] if parent else None,
        "id": resource_id,
        "name": name,
        "type": WIRE_TYPES[kind],
        "etag": new_etag(),
        "internal": {},
    }
    doc.update(fields)
    return doc


def wire(doc: dict) -> dict:
    """The body the service answers for *doc*: never ``internal``, never a secret."""
    body = {"id": doc["id"], "name": doc["name"], "type": WIRE_TYPES.get(doc["kind"], doc["type"])}
    for optional in ("location", "tags"):
        if doc.get(optional) is not None:
            body[optional] = copy.deepcopy(doc[optional])
    body["properties"] = copy.deepcopy(doc.get("properties", {}))
    return body


def strip_secrets(kind: str, properties: dict) -> tuple[dict, dict]:
    """Split request *properties* into (public properties, secrets) for a cluster, job or file server.

    Secrets are what the service never reports back: admin passwords, storage account keys,
    secret environment variable values, private registry passwords.
    """
    public = copy.deepcopy(properties)
    secrets: dict = {}

    def pop_password(settings: dict | None, path: str, key: str = "adminUserPassword") -> None:
        if settings and key in settings:
            secrets[path] = settings.pop(key)

    if kind in ("cluster", "fileserver"):
        users = public.get("userAccountSettings") or (public.get("sshConfiguration") or {}).get("userAccountSettings")
        pop_password(users, "adminUserPassword")
        if users is not None:
            users.pop("adminUserSshPublicKey", None)
    mounts = public.get("mountVolumes") if kind == "job" else (public.get("nodeSetup") or {}).get("mountVolumes")
    for index, share in enumerate((mounts or {}).get("azureFileShares") or []):
        pop_password(share.get("credentials"), f"azureFileShares[{index}].accountKey", "accountKey")
    for index, blob in enumerate((mounts or {}).get("azureBlobFileSystems") or []):
        pop_password(blob.get("credentials"), f"azureBlobFileSystems[{index}].accountKey", "accountKey")
    holders = [public] if kind == "job" else [(public.get("nodeSetup") or {}).get("setupTask") or {}]
    for holder in holders:
        for item in holder.get("secrets") or []:
            if "value" in item:
                secrets[f"secrets.{item['name']}"] = item.pop("value")
    registry = ((public.get("containerSettings") or {}).get("imageSourceRegistry") or {}).get("credentials")
    pop_password(registry, "registry.password", "password")
    return public, secrets
