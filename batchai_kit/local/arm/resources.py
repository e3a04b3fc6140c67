"""Resource documents: ids, wire rendering and secret stripping.

A document is what the store keeps for one resource: ``key`` (lowercased id), ``kind``,
``parent`` (the parent's key), the wire fields (``id``, ``name``, ``type``, ``location``,
``tags``, ``properties``), an ``etag``, and ``internal`` state that never goes on the wire
(nodes, secrets, timers).
"""

from __future__ import annotations

import copy
import uuid

PROVIDER = "providers/Microsoft.BatchAI"

WIRE_TYPES = {
    "resourcegroup": "Microsoft.Resources/resourceGroups",
    "workspace": "Microsoft.BatchAI/Workspaces",
    "experiment": "Microsoft.BatchAI/Experiments",
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


def new_etag() -> str:
    return f'W/"{uuid.uuid4().hex}"'


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
    body = {"id": doc["id"], "name": doc["name"], "type": doc["type"]}
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
