"""The wire of Batch AI API 2017-09-01-preview and 2018-03-01: clusters, jobs and file servers
directly under a resource group.

A thin layer over the one control plane (which keeps them in a resource group's implicit scope,
see :mod:`.control`): the routes, which resource types each api-version has, and how a request
and an answer of an older version are shaped. What it reads from each version's own spec
(``spec/{version}/BatchAI.json``): the validation (the same compiler and prose rules as
2018-05-01) and the property names of every definition, which decide what a request may carry
into the state model and what an answer shows.

How the older versions differ on the wire, and what this layer does about it:

- Paths: ``/resourceGroups/{rg}/providers/Microsoft.BatchAI/{clusters|jobs|fileServers}/{name}``,
  with subscription- and group-wide lists (``Clusters_List``, ``Jobs_ListByResourceGroup``, ...).
  Usages (``locations/{l}/usages``) exist from 2018-03-01 on.
- Bodies: ``location`` (required) and ``tags`` at the top level of every create; answers carry
  them back for clusters and file servers (Microsoft's job examples of both versions show none).
- Jobs: an integer ``priority`` (-1000..1000, default 0) instead of ``schedulingPriority``; the
  state model schedules by its sign (high / normal / low), then by the number. Output
  directories carry ``type`` (default ``custom``) and ``createNew`` (default true).
  2017-09-01-preview reports no ``jobOutputDirectoryPathSegment``; the files sit where
  2018-03-01 puts them (``{prefix}/{subscription}/{rg}/jobs/{job}/{guid}/stdouterr``).
- Files listed by ``listOutputFiles``: 2017-09-01-preview lists files only, ``{name,
  downloadUrl, properties}``, and has no ``directory`` parameter; 2018-03-01 marks each entry
  with ``isDirectory``.
- File servers: ``mountSettings.fileServerType`` is ``nfs``.
- Long-running operations (PUT of a cluster, job or file server, every DELETE, terminate) answer
  202 with a ``Location`` header on ``.../operationresults/{guid}`` and a ``Retry-After`` (the
  examples say 15 s; the emulator sends ``Timings.retry_after``), and no
  ``Azure-AsyncOperation``. Polled, that URL answers 202 until the operation ends, then 200 with
  the resource (a create), 204 (a delete or terminate), or the error.
- Enum values are lowercase, as in 2018-05-01 (every example of both versions agrees).
- Anything a version's spec does not define is dropped from its requests before the state model
  sees it (a ``secrets`` list sent to 2017-09-01-preview does nothing, as it did nothing there),
  and from its answers (no ``schedulingPriority``, no 2018-05-01-only fields).
- A resource type an api-version never had is refused as Azure Resource Manager refuses it:
  400 ``NoRegisteredProviderFound`` naming the type and the versions that have it (workspaces
  under 2018-03-01, group-level clusters under 2018-05-01, usages under 2017-09-01-preview).
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from .errors import ArmError
from .resources import LEGACY_WIRE_TYPES, wire
from .validation import API_VERSION, OLDER_VERSIONS, spec

ALL_VERSIONS = (*OLDER_VERSIONS, API_VERSION)

SUB = "/subscriptions/<subscriptionId>"
RG = SUB + "/resourceGroups/<resourceGroupName>"
PROVIDER = RG + "/providers/Microsoft.BatchAI"
CLUSTER = PROVIDER + "/clusters/<clusterName>"
JOB = PROVIDER + "/jobs/<jobName>"
FILESERVER = PROVIDER + "/fileServers/<fileServerName>"

# (rule, methods, endpoint): the endpoint is "Rg_" + the older specs' operationId.
ROUTES = [
    (SUB + "/providers/Microsoft.BatchAI/clusters", ["GET"], "Rg_Clusters_List"),
    (PROVIDER + "/clusters", ["GET"], "Rg_Clusters_ListByResourceGroup"),
    (CLUSTER, ["PUT"], "Rg_Clusters_Create"),
    (CLUSTER, ["PATCH"], "Rg_Clusters_Update"),
    (CLUSTER, ["DELETE"], "Rg_Clusters_Delete"),
    (CLUSTER, ["GET"], "Rg_Clusters_Get"),
    (CLUSTER + "/listRemoteLoginInformation", ["POST", "GET"], "Rg_Clusters_ListRemoteLoginInformation"),
    (SUB + "/providers/Microsoft.BatchAI/jobs", ["GET"], "Rg_Jobs_List"),
    (PROVIDER + "/jobs", ["GET"], "Rg_Jobs_ListByResourceGroup"),
    (JOB, ["PUT"], "Rg_Jobs_Create"),
    (JOB, ["DELETE"], "Rg_Jobs_Delete"),
    (JOB, ["GET"], "Rg_Jobs_Get"),
    (JOB + "/listOutputFiles", ["POST", "GET"], "Rg_Jobs_ListOutputFiles"),
    (JOB + "/listRemoteLoginInformation", ["POST", "GET"], "Rg_Jobs_ListRemoteLoginInformation"),
    (JOB + "/terminate", ["POST"], "Rg_Jobs_Terminate"),
    (SUB + "/providers/Microsoft.BatchAI/fileServers", ["GET"], "Rg_FileServers_List"),
    (PROVIDER + "/fileServers", ["GET"], "Rg_FileServers_ListByResourceGroup"),
    (FILESERVER, ["PUT"], "Rg_FileServers_Create"),
    (FILESERVER, ["DELETE"], "Rg_FileServers_Delete"),
    (FILESERVER, ["GET"], "Rg_FileServers_Get"),
]

# The ARM resource type of each endpoint of the provider, and the api-versions that have it.
TYPE_VERSIONS = {
    "operations": ALL_VERSIONS,
    "locations/operationresults": ALL_VERSIONS,
    "locations/operationstatuses": ALL_VERSIONS,
    "locations/usages": ("2018-03-01", API_VERSION),
    "workspaces": (API_VERSION,),
    "clusters": OLDER_VERSIONS,
    "jobs": OLDER_VERSIONS,
    "fileservers": OLDER_VERSIONS,
}
_FIXED_TYPES = {"Operations_List": "operations", "Usages_List": "locations/usages",
                "OperationResults_Get": "locations/operationresults",
                "OperationStatuses_Get": "locations/operationstatuses"}
LOCATIONS = "eastus, westus2, westeurope, eastus2, northeurope, southcentralus, westcentralus, australiaeast"


def resource_type(endpoint: str) -> str:
    """The ARM resource type an endpoint serves: ``workspaces`` for everything under one."""
    if endpoint in _FIXED_TYPES:
        return _FIXED_TYPES[endpoint]
    if endpoint.startswith("Rg_"):
        return endpoint.split("_")[1].lower()
    return "workspaces"


def check_version(endpoint: str, version: str) -> None:
    """Refuse an api-version that never had the endpoint's resource type, as ARM does."""
    kind = resource_type(endpoint)
    supported = TYPE_VERSIONS[kind]
    if version not in supported:
        raise ArmError(400, "NoRegisteredProviderFound",
                       f"No registered resource provider found for location 'eastus' and API version "
                       f"'{version}' for type '{kind}'. The supported api-versions are "
                       f"'{', '.join(supported)}'. The supported locations are '{LOCATIONS}'.")


def spec_operation(endpoint: str, version: str) -> str:
    """The operationId of an endpoint in *version*'s spec (2018-03-01 spells usages ``Usage_List``)."""
    operation = endpoint[3:] if endpoint.startswith("Rg_") else endpoint
    if operation == "Usages_List" and version == "2018-03-01":
        return "Usage_List"
    return operation


# -- shapes from the spec ----------------------------------------------------------------------------


class _Shape:
    """What an object of a definition may hold: member name -> shape (None: any value)."""

    __slots__ = ("items", "members", "values")

    def __init__(self):
        self.members: dict[str, _Shape | None] | None = None
        self.items: _Shape | None = None
        self.values: _Shape | None = None


@functools.cache
def _shape(version: str, definition: str) -> _Shape:
    document = spec(version)
    built: dict[str, _Shape] = {}

    def of(node: dict) -> _Shape | None:
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            if name not in built:
                built[name] = _Shape()
                fill(built[name], document["definitions"][name])
            return built[name]
        if not any(k in node for k in ("properties", "allOf", "items", "additionalProperties")):
            return None
        shape = _Shape()
        fill(shape, node)
        return shape

    def fill(shape: _Shape, node: dict) -> None:
        for part in node.get("allOf", ()):
            base = of(part)
            if base is not None and base.members is not None:
                shape.members = {**(shape.members or {}), **base.members}
        if "properties" in node:
            members = dict(shape.members or {})
            for name, member in node["properties"].items():
                members[name] = of(member)
            shape.members = members
        if "items" in node:
            shape.items = of(node["items"])
        if isinstance(node.get("additionalProperties"), dict):
            shape.values = of(node["additionalProperties"])

    return of({"$ref": f"#/definitions/{definition}"}) or _Shape()


def _prune(shape: _Shape | None, value: Any) -> Any:
    """*value* with every member *shape* does not define removed, recursively."""
    if shape is None:
        return value
    if isinstance(value, dict):
        if shape.members is not None:
            return {k: _prune(shape.members[k], v) for k, v in value.items() if k in shape.members}
        if shape.values is not None:
            return {k: _prune(shape.values, v) for k, v in value.items()}
        return value
    if isinstance(value, list) and shape.items is not None:
        return [_prune(shape.items, v) for v in value]
    return value


def prune(version: str, definition: str, value: Any) -> Any:
    """*value* as *version*'s definition can hold it (what the version never had removed)."""
    return _prune(_shape(version, definition), copy.deepcopy(value))


# -- requests ----------------------------------------------------------------------------------------

_CREATE_DEFINITIONS = {"cluster": "ClusterCreateParameters", "job": "JobCreateParameters",
                       "fileserver": "FileServerCreateParameters"}


def _bucket(priority: int) -> str:
    return "high" if priority > 0 else "low" if priority < 0 else "normal"


def request_body(version: str, kind: str, body: dict) -> dict:
    """A validated create body of *version* as the state model takes it."""
    body = prune(version, _CREATE_DEFINITIONS[kind], body)
    properties = body.setdefault("properties", {})
    if kind == "job":
        properties.setdefault("priority", 0)
        properties["schedulingPriority"] = _bucket(int(properties["priority"]))
        for directory in properties.get("outputDirectories") or []:
            directory.setdefault("type", "custom")
            directory["type"] = directory["type"].lower()
            directory.setdefault("createNew", True)
    return body


def update_body(version: str, body: dict | None) -> dict:
    return prune(version, "ClusterUpdateParameters", body or {})


# -- answers -------------------------------------------------------------------------------------------

_DEFINITIONS = {"cluster": "Cluster", "job": "Job", "fileserver": "FileServer"}


def render(version: str, doc: dict) -> dict:
    """The body *version* answers for a cluster, job or file server document."""
    body = wire(doc)
    body["type"] = LEGACY_WIRE_TYPES[doc["kind"]]
    if doc["kind"] == "job":
        body.pop("location", None)
    if doc["kind"] == "fileserver" and "mountSettings" in body["properties"]:
        body["properties"]["mountSettings"].setdefault("fileServerType", "nfs")
    return prune(version, _DEFINITIONS[doc["kind"]], body)


def render_file(version: str, entry: dict) -> dict | None:
    """One ``listOutputFiles`` entry as *version* shows it; None for a directory 2017-09-01-preview
    does not list."""
    directory = entry.get("fileType") == "directory"
    if version == "2017-09-01-preview":
        if directory:
            return None
        return {k: v for k, v in entry.items() if k != "fileType"}
    shown = {"name": entry["name"], "isDirectory": directory}
    shown.update({k: v for k, v in entry.items() if k not in ("name", "fileType")})
    return shown


def render_usage(version: str, usage: dict) -> dict:
    return prune(version, "Usage", usage)
