"""The control plane: Batch AI and resource-group operations over the store.

Plain Python, no HTTP: each public method is one service operation; it validates what the
service validates (beyond the spec's schema, which ``validation`` checks), changes documents,
and raises :class:`ArmError` with the service's status and code. Time-driven progress (nodes
allocating, jobs scheduled, deletions) lives in :mod:`machines` and runs on :meth:`advance`.

Resource-group-level resources (API 2017-09-01-preview and 2018-03-01: clusters, jobs and file
servers directly under a resource group, no workspaces or experiments) live in the same state
model: ``workspace=None`` (and ``experiment=None`` for jobs) names the resource group's *implicit
scope*, a hidden workspace document whose id is ``.../resourceGroups/{rg}/providers/
Microsoft.BatchAI``. Its children's ids are then exactly the older versions' ids
(``.../providers/Microsoft.BatchAI/clusters/{name}``, ``.../jobs/{name}``); it holds clusters,
file servers and jobs; it is made on the first create, never listed as a workspace, and deleted
with its resource group. These resources carry their own ``location`` and ``tags``, as the older
versions' bodies do. They and the workspaces' resources are separate namespaces: a 2018-05-01
client does not see them, nor an older client a workspace's (``docs/legacy.md``).
"""

from __future__ import annotations

import copy
import logging
import re
import threading
import time
import uuid
from typing import Callable, Protocol

from ..nodes._model import JOB_TERMINATED_MESSAGE
from . import machines
from .errors import ArmError, not_found, resource_group_not_found
from .resources import child_id, new_document, new_etag, resource_group_id, scope_id, strip_secrets, wire, workspace_id
from .store import Store
from .timing import Timings, iso, parse_duration
from .usages import parse_vm_size, usages

TOOLKITS = {
    "cntkSettings": "cntk", "pyTorchSettings": "custom", "tensorFlowSettings": "tensorflow",
    "caffeSettings": "caffe", "caffe2Settings": "caffe2", "chainerSettings": "chainer",
    "customToolkitSettings": "custom", "customMpiSettings": "custommpi", "horovodSettings": "horovod",
}
# how long a clean stop waits for a run after SIGTERM: the runner's SIGKILL comes after 5 s
STOP_GRACE_SECONDS = 15.0
log = logging.getLogger("batchai_kit.local.control")

DEFAULT_IMAGE = {"publisher": "Canonical", "offer": "UbuntuServer", "sku": "16.04-LTS", "version": "latest"}
EMPTY_COUNTS = {"idleNodeCount": 0, "runningNodeCount": 0, "preparingNodeCount": 0,
                "unusableNodeCount": 0, "leavingNodeCount": 0}


class Handle(Protocol):
    """A running process tree (setup task or job) as the node runner reports it."""

    def poll(self): ...

    def terminate(self, reason_code: str = "JobTerminated", message: str = "") -> None: ...


class NodeRunner(Protocol):
    """What runs processes on nodes (part 2 of the emulator); absent, jobs fail honestly."""

    def check_job(self, properties: dict) -> None:
        """Raise ArmError for a job this machine cannot run (e.g. its runtime is missing)."""

    def prepare_node(self, cluster: dict, node: dict) -> Handle | None: ...

    def start_job(self, job: dict, cluster: dict, nodes: list[dict]) -> Handle: ...

    def list_output_files(self, job: dict, output_id: str, directory: str, expiry_minutes: int) -> list[dict]: ...


class ControlPlane:
    """All resources of one emulated subscription."""

    def __init__(self, store: Store, subscription_id: str, *, timings: Timings | None = None,
                 clock: Callable[[], float] = time.time, runner: NodeRunner | None = None):
        self.store = store
        self.subscription_id = subscription_id
        self.timings = timings or Timings()
        self.clock = clock
        self.runner = runner
        self.handles: dict[str, Handle] = {}
        self.lock = threading.RLock()
        # Set when something may have changed that time alone would not (a request changed a
        # document, a run ended): the ticker sleeps on it while nothing is in transition.
        self.wakeup = threading.Event()

    # -- helpers ------------------------------------------------------------------------------

    def now(self) -> float:
        return self.clock()

    def _touch(self, doc: dict) -> None:
        doc["etag"] = new_etag()
        self.store.put(doc)

    def _live(self, resource_id: str, kind: str, name: str) -> dict:
        doc = self.store.get(resource_id)
        if doc is None:
            raise not_found(kind, name) if kind != "resourcegroup" else resource_group_not_found(name)
        return doc

    def _group(self, group: str) -> dict:
        return self._live(resource_group_id(self.subscription_id, group), "resourcegroup", group)

    def _workspace(self, group: str, workspace: str | None, create: bool = False) -> dict:
        """A workspace, or with ``workspace=None`` the resource group's implicit scope (module
        docstring); *create* makes the scope when it does not exist yet."""
        group_doc = self._group(group)
        if workspace is None:
            return self._scope(group_doc, create)
        return self._live(workspace_id(self.subscription_id, group, workspace), "workspace", workspace)

    def _scope(self, group_doc: dict, create: bool) -> dict:
        resource_id = scope_id(self.subscription_id, group_doc["name"])
        doc = self.store.get(resource_id)
        if create:
            self._refuse_if_deleting_rg(group_doc)
        if doc is not None or not create:
            # an unsaved stand-in when absent: it has no children, and lookups in it answer 404
            return doc or {"id": resource_id, "key": resource_id.lower(), "kind": "workspace", "name": "",
                           "properties": {}, "internal": {"implicit": True}}
        doc = new_document("workspace", resource_id, group_doc["name"], group_doc,
                           properties={"provisioningState": "succeeded"})
        doc["internal"]["implicit"] = True
        self.store.put(doc)
        return doc

    def _experiment(self, group: str, workspace: str | None, experiment: str | None, create: bool = False) -> dict:
        """The parent of jobs: an experiment, or the implicit scope (both names None)."""
        parent = self._workspace(group, workspace, create)
        if experiment is None:
            return parent
        return self._child(parent, "experiments", "experiment", experiment)

    @staticmethod
    def is_scoped(doc: dict) -> bool:
        """Whether *doc* lives directly under a resource group (API 2017-09-01-preview / 2018-03-01)."""
        return bool(doc.get("parent")) and doc["parent"].endswith("/providers/microsoft.batchai")

    def _own_fields(self, workspace: str | None, body: dict) -> dict:
        """``location`` and ``tags`` of a resource-group-level resource (none under a workspace)."""
        if workspace is not None:
            return {}
        return {"location": (body.get("location") or "").replace(" ", "").lower() or None,
                "tags": body.get("tags")}

    def list_scoped(self, kind: str, group: str | None = None) -> list[dict]:
        """Resource-group-level resources of *kind* in the subscription or in one group."""
        with self.lock:
            if group is not None:
                self._group(group)
            prefix = None if group is None else scope_id(self.subscription_id, group).lower()
            return sorted((d for d in self.store.of_kind(kind)
                           if self.is_scoped(d) and (prefix is None or d["parent"] == prefix)),
                          key=lambda d: d["key"])

    def _child(self, parent: dict, collection: str, kind: str, name: str) -> dict:
        return self._live(child_id(parent["id"], collection, name), kind, name)

    @staticmethod
    def _refuse_if_deleting(parent: dict) -> None:
        if parent["properties"].get("provisioningState") == "deleting":
            raise ArmError(409, "Conflict", f"The {parent['kind']} {parent['name']} is being deleted; "
                                            "no resources can be created in it.")

    def _new_operation(self, doc: dict, action: str) -> dict:
        name = str(uuid.uuid4())
        operation = {
            "key": f"operation:{name}", "kind": "operation", "parent": None,
            "name": name, "action": action, "target": doc["key"], "resourceId": doc["id"],
            "location": self.location_of(doc), "status": "InProgress", "startTime": iso(self.now()),
        }
        self.store.put(operation)
        return operation

    def location_of(self, doc: dict | None) -> str:
        while doc is not None and not doc.get("location"):
            doc = self.store.get(doc["parent"]) if doc.get("parent") else None
        return doc["location"] if doc else "eastus"

    @staticmethod
    def page(items: list[dict], skip: int, max_results: int) -> tuple[list[dict], int | None]:
        """One page of *items* and the offset of the next page (None when this is the last)."""
        chunk = items[skip:skip + max_results]
        following = skip + max_results
        return chunk, (following if following < len(items) else None)

    # -- resource groups -----------------------------------------------------------------------

    def create_resource_group(self, group: str, body: dict) -> tuple[dict, bool]:
        if not body or not body.get("location"):
            raise ArmError(400, "LocationRequired", "The location property is required for this definition.")
        resource_id = resource_group_id(self.subscription_id, group)
        with self.lock:
            existing = self.store.get(resource_id)
            if existing is not None:
                if existing["properties"]["provisioningState"] == "Deleting":
                    raise ArmError(409, "ResourceGroupBeingDeleted",
                                   f"The resource group '{group}' is in deprovisioning state "
                                   "and cannot perform this operation.")
                if existing["location"].lower() != body["location"].replace(" ", "").lower():
                    raise ArmError(409, "InvalidResourceGroupLocation",
                                   f"Invalid resource group location '{body['location']}'. The Resource group "
                                   f"already exists in location '{existing['location']}'.")
                if "tags" in body:
                    existing["tags"] = body["tags"]
                self._touch(existing)
                return existing, False
            doc = new_document("resourcegroup", resource_id, group, None,
                               location=body["location"].replace(" ", "").lower(), tags=body.get("tags"),
                               properties={"provisioningState": "Succeeded"})
            doc["managedBy"] = body.get("managedBy")
            self.store.put(doc)
            return doc, True

    def get_resource_group(self, group: str) -> dict:
        with self.lock:
            return self._group(group)

    def update_resource_group(self, group: str, body: dict) -> dict:
        with self.lock:
            doc = self._group(group)
            if "tags" in (body or {}):
                doc["tags"] = body["tags"]
            self._touch(doc)
            return doc

    def list_resource_groups(self) -> list[dict]:
        with self.lock:
            return sorted(self.store.of_kind("resourcegroup"), key=lambda d: d["key"])

    def delete_resource_group(self, group: str) -> dict:
        with self.lock:
            doc = self._group(group)
            return self._begin_delete(doc)

    # -- workspaces and experiments (synchronous: 200 at once) ---------------------------------

    def create_workspace(self, group: str, name: str, body: dict) -> dict:
        resource_id = workspace_id(self.subscription_id, group, name)
        with self.lock:
            parent = self._group(group)
            self._refuse_if_deleting_rg(parent)
            existing = self.store.get(resource_id)
            location = body["location"].replace(" ", "").lower()
            if existing is not None:
                if existing["location"] != location:
                    raise ArmError(409, "InvalidLocation", f"The workspace {name} already exists in location "
                                                           f"'{existing['location']}'; it cannot move to '{location}'.")
                existing["tags"] = body.get("tags", existing.get("tags"))
                self._touch(existing)
                return existing
            now = iso(self.now())
            doc = new_document("workspace", resource_id, name, parent, location=location, tags=body.get("tags"),
                               properties={"creationTime": now, "provisioningState": "succeeded",
                                           "provisioningStateTransitionTime": now})
            self.store.put(doc)
            return doc

    def _refuse_if_deleting_rg(self, group: dict) -> None:
        if group["properties"]["provisioningState"] == "Deleting":
            raise ArmError(409, "ResourceGroupBeingDeleted",
                           f"The resource group '{group['name']}' is in deprovisioning state "
                           "and cannot perform this operation.")

    def update_workspace(self, group: str, name: str, body: dict) -> dict:
        with self.lock:
            doc = self._workspace(group, name)
            if "tags" in (body or {}):
                doc["tags"] = body["tags"]
            self._touch(doc)
            return doc

    def get_workspace(self, group: str, name: str) -> dict:
        with self.lock:
            return self._workspace(group, name)

    def list_workspaces(self, group: str | None = None) -> list[dict]:
        with self.lock:
            if group is not None:
                found = self.store.children(self._group(group)["id"], "workspace")
            else:
                found = self.store.of_kind("workspace")
            return sorted((d for d in found if not d["internal"].get("implicit")), key=lambda d: d["key"])

    def delete_workspace(self, group: str, name: str) -> dict | None:
        with self.lock:
            try:
                doc = self._workspace(group, name)
            except ArmError as exc:
                if exc.code == "WorkspaceNotFound":
                    return None
                raise
            return self._begin_delete(doc)

    def create_experiment(self, group: str, workspace: str, name: str) -> dict:
        with self.lock:
            parent = self._workspace(group, workspace)
            self._refuse_if_deleting(parent)
            resource_id = child_id(parent["id"], "experiments", name)
            existing = self.store.get(resource_id)
            if existing is not None:
                return existing
            now = iso(self.now())
            doc = new_document("experiment", resource_id, name, parent,
                               properties={"creationTime": now, "provisioningState": "succeeded",
                                           "provisioningStateTransitionTime": now})
            self.store.put(doc)
            return doc

    def get_experiment(self, group: str, workspace: str, name: str) -> dict:
        with self.lock:
            return self._child(self._workspace(group, workspace), "experiments", "experiment", name)

    def list_experiments(self, group: str, workspace: str) -> list[dict]:
        with self.lock:
            return sorted(self.store.children(self._workspace(group, workspace)["id"], "experiment"),
                          key=lambda d: d["key"])

    def delete_experiment(self, group: str, workspace: str, name: str) -> dict | None:
        with self.lock:
            parent = self._workspace(group, workspace)
            doc = self.store.get(child_id(parent["id"], "experiments", name))
            return self._begin_delete(doc) if doc else None

    # -- clusters --------------------------------------------------------------------------------

    def create_cluster(self, group: str, workspace: str | None, name: str, body: dict) -> tuple[dict, dict]:
        properties = body.get("properties") or {}
        parse_vm_size(properties.get("vmSize", ""))
        public, secrets = strip_secrets("cluster", properties)
        with self.lock:
            parent = self._workspace(group, workspace, create=True)
            self._refuse_if_deleting(parent)
            resource_id = child_id(parent["id"], "clusters", name)
            existing = self.store.get(resource_id)
            if existing is not None:
                self._refuse_change(existing, public, ("vmSize", "vmPriority", "scaleSettings",
                                                       "virtualMachineConfiguration", "nodeSetup",
                                                       "userAccountSettings", "subnet"))
                return existing, self._new_operation(existing, "create")
            now = self.now()
            public.setdefault("vmPriority", "dedicated")
            public["vmPriority"] = public["vmPriority"].lower()
            public.setdefault("virtualMachineConfiguration", {"imageReference": dict(DEFAULT_IMAGE)})
            public["scaleSettings"] = _normalise_scale(public.get("scaleSettings"))
            public.update({
                "creationTime": iso(now), "provisioningState": "succeeded",
                "provisioningStateTransitionTime": iso(now), "allocationState": "resizing",
                "allocationStateTransitionTime": iso(now), "currentNodeCount": 0,
                "nodeStateCounts": dict(EMPTY_COUNTS),  # no "errors" until there is one, as the service
            })
            guid = str(uuid.uuid4())
            setup_task = (public.get("nodeSetup") or {}).get("setupTask")
            if setup_task is not None and workspace is not None:
                # where the setup task's output lands under its stdOutErrPathPrefix (2018-05-01 reports it)
                setup_task["stdOutErrPathSuffix"] = (f"{self.subscription_id}/{group}/workspaces/{workspace}/"
                                                     f"clusters/{name}/{guid}")
            doc = new_document("cluster", resource_id, name, parent, properties=public,
                               **self._own_fields(workspace, body))
            doc["internal"] = {"guid": guid, "nodes": [], "secrets": secrets,
                               "allocation_since": now, "target": machines.initial_target(public),
                               "autoscale_at": now, "node_serial": 0}
            self.store.put(doc)
            return doc, self._new_operation(doc, "create")

    def _refuse_change(self, existing: dict, requested: dict, fields: tuple[str, ...]) -> None:
        """A PUT on an existing immutable resource: same spec is idempotent, a change is refused."""
        for field in fields:
            if field not in requested:
                continue
            have = existing["properties"].get(field)
            want = requested[field]
            if isinstance(have, str) and isinstance(want, str):
                same = have.lower() == want.lower()
            elif field == "scaleSettings":
                same = _normalise_scale(want) == have
            else:
                same = have == want
            if not same:
                raise ArmError(409, "PropertyChangeNotAllowed",
                               f"Changing property 'properties.{field}' of existing {existing['kind']} "
                               f"{existing['name']} is not allowed (have {have!r}, requested {want!r}); "
                               "delete it and create it again"
                               + (", or update its scale settings with PATCH."
                                  if existing["kind"] == "cluster" else "."),
                               f"properties.{field}")

    def update_cluster(self, group: str, workspace: str | None, name: str, body: dict) -> dict:
        with self.lock:
            doc = self._child(self._workspace(group, workspace), "clusters", "cluster", name)
            if workspace is None and "tags" in (body or {}):
                doc["tags"] = body["tags"]
            scale = ((body or {}).get("properties") or {}).get("scaleSettings")
            if doc["properties"]["provisioningState"] == "deleting":
                raise ArmError(409, "Conflict", f"The cluster {name} is being deleted.")
            if scale is not None:
                doc["properties"]["scaleSettings"] = _normalise_scale(scale)
                doc["internal"]["target"] = machines.updated_target(doc)
                doc["internal"]["autoscale_at"] = self.now()
                machines.advance_cluster(self, doc)
            self._touch(doc)
            return doc

    def get_cluster(self, group: str, workspace: str | None, name: str) -> dict:
        with self.lock:
            return self._child(self._workspace(group, workspace), "clusters", "cluster", name)

    def list_clusters(self, group: str, workspace: str) -> list[dict]:
        with self.lock:
            return sorted(self.store.children(self._workspace(group, workspace)["id"], "cluster"),
                          key=lambda d: d["key"])

    def delete_cluster(self, group: str, workspace: str | None, name: str) -> dict | None:
        with self.lock:
            parent = self._workspace(group, workspace)
            doc = self.store.get(child_id(parent["id"], "clusters", name))
            return self._begin_delete(doc) if doc else None

    def cluster_remote_logins(self, group: str, workspace: str | None, name: str) -> list[dict]:
        with self.lock:
            doc = self.get_cluster(group, workspace, name)
            return [machines.remote_login(node) for node in doc["internal"]["nodes"]
                    if node["state"] != "leaving"]

    # -- file servers ------------------------------------------------------------------------------

    def create_file_server(self, group: str, workspace: str | None, name: str, body: dict) -> tuple[dict, dict]:
        properties = body.get("properties") or {}
        parse_vm_size(properties.get("vmSize", ""))
        public, secrets = strip_secrets("fileserver", properties)
        (public.get("dataDisks") or {}).setdefault("cachingType", "none")  # the spec's default, reported back
        with self.lock:
            parent = self._workspace(group, workspace, create=True)
            self._refuse_if_deleting(parent)
            resource_id = child_id(parent["id"], "fileservers", name)
            existing = self.store.get(resource_id)
            if existing is not None:
                self._refuse_change(existing, public, ("vmSize", "dataDisks", "subnet"))
                return existing, self._new_operation(existing, "create")
            now = self.now()
            public.update({"creationTime": iso(now), "provisioningState": "creating",
                           "provisioningStateTransitionTime": iso(now)})
            # The live service always reports the subnet: the one given, or the one it made.
            public.setdefault("subnet", {"id": f"{resource_group_id(self.subscription_id, group)}/providers/"
                                               f"Microsoft.Network/virtualNetworks/{name}-vnet/subnets/default"})
            doc = new_document("fileserver", resource_id, name, parent, properties=public,
                               **self._own_fields(workspace, body))
            doc["internal"] = {"secrets": secrets, "created": now}
            self.store.put(doc)
            return doc, self._new_operation(doc, "create")

    def get_file_server(self, group: str, workspace: str | None, name: str) -> dict:
        with self.lock:
            return self._child(self._workspace(group, workspace), "fileservers", "fileserver", name)

    def list_file_servers(self, group: str, workspace: str) -> list[dict]:
        with self.lock:
            return sorted(self.store.children(self._workspace(group, workspace)["id"], "fileserver"),
                          key=lambda d: d["key"])

    def delete_file_server(self, group: str, workspace: str | None, name: str) -> dict | None:
        with self.lock:
            parent = self._workspace(group, workspace)
            doc = self.store.get(child_id(parent["id"], "fileservers", name))
            return self._begin_delete(doc) if doc else None

    # -- jobs ----------------------------------------------------------------------------------------

    def create_job(self, group: str, workspace: str | None, experiment: str | None, name: str,
                   body: dict) -> tuple[dict, dict]:
        properties = body.get("properties") or {}
        public, secrets = strip_secrets("job", properties)
        with self.lock:
            parent = self._experiment(group, workspace, experiment, create=True)
            self._refuse_if_deleting(parent)
            resource_id = child_id(parent["id"], "jobs", name)
            existing = self.store.get(resource_id)
            if existing is not None:
                self._refuse_change(existing, public, tuple(k for k in public if k not in ("secrets",)))
                return existing, self._new_operation(existing, "create")
            cluster = self.store.get(_cluster_key((public.get("cluster") or {}).get("id", "")))
            if cluster is None or cluster["kind"] != "cluster":
                raise ArmError(400, "ClusterNotFound",
                               f"The cluster {public.get('cluster', {}).get('id')!r} referenced by job {name} "
                               "does not exist; create it before submitting the job.", "properties.cluster.id")
            if cluster["properties"]["provisioningState"] == "deleting":
                raise ArmError(409, "Conflict", f"The cluster {cluster['name']} is being deleted; no jobs can be "
                                                "submitted to it.", "properties.cluster.id")
            if self.runner is not None:
                self.runner.check_job(public)
            toolkit = next(k for k in TOOLKITS if k in public)
            constraints = public.setdefault("constraints", {})
            constraints.setdefault("maxWallClockTime", "P7D")
            try:
                wall_clock = parse_duration(constraints["maxWallClockTime"])
            except ValueError as exc:
                raise ArmError(400, "InvalidPropertyValue", f"properties.constraints.maxWallClockTime: {exc}",
                               "properties.constraints.maxWallClockTime") from None
            job_guid = str(uuid.uuid4())
            now = self.now()
            public.setdefault("schedulingPriority", "normal")
            public["schedulingPriority"] = public["schedulingPriority"].lower()
            where = f"workspaces/{workspace}/experiments/{experiment}/" if workspace is not None else ""
            public.update({
                "toolType": TOOLKITS[toolkit],
                "jobOutputDirectoryPathSegment": f"{self.subscription_id}/{group}/{where}jobs/{name}/{job_guid}",
                "creationTime": iso(now), "provisioningState": "succeeded",
                "provisioningStateTransitionTime": iso(now), "executionState": "queued",
                "executionStateTransitionTime": iso(now),
            })
            if experiment is not None:  # the live service always names it (2018-05-01)
                public["experimentName"] = experiment
            doc = new_document("job", resource_id, name, parent, properties=public,
                               **self._own_fields(workspace, body))
            doc["internal"] = {"guid": job_guid, "secrets": secrets, "cluster": cluster["key"],
                               "wall_clock": wall_clock, "created": now, "nodes": [],
                               # outputs stay listable after the cluster is gone
                               "cluster_mounts": (cluster["properties"].get("nodeSetup") or {}).get("mountVolumes")}
            self.store.put(doc)
            machines.schedule(self, cluster)
            return doc, self._new_operation(doc, "create")

    def _job(self, group: str, workspace: str | None, experiment: str | None, name: str) -> dict:
        return self._child(self._experiment(group, workspace, experiment), "jobs", "job", name)

    def get_job(self, group: str, workspace: str | None, experiment: str | None, name: str) -> dict:
        with self.lock:
            return self._job(group, workspace, experiment, name)

    def list_jobs(self, group: str, workspace: str, experiment: str) -> list[dict]:
        with self.lock:
            parent = self._experiment(group, workspace, experiment)
            return sorted(self.store.children(parent["id"], "job"), key=lambda d: d["key"])

    def delete_job(self, group: str, workspace: str | None, experiment: str | None, name: str) -> dict | None:
        with self.lock:
            parent = self._experiment(group, workspace, experiment)
            doc = self.store.get(child_id(parent["id"], "jobs", name))
            return self._begin_delete(doc) if doc else None

    def terminate_job(self, group: str, workspace: str | None, experiment: str | None, name: str) -> dict | None:
        """The operation tracking termination, or None when the job has already finished (200)."""
        with self.lock:
            doc = self._job(group, workspace, experiment, name)
            if doc["properties"]["executionState"] in ("succeeded", "failed"):
                return None
            operation = self._new_operation(doc, "terminate")
            machines.terminate_job(self, doc, "JobTerminated", JOB_TERMINATED_MESSAGE)
            return operation

    def job_remote_logins(self, group: str, workspace: str | None, experiment: str | None, name: str) -> list[dict]:
        with self.lock:
            doc = self._job(group, workspace, experiment, name)
            cluster = self.store.get(doc["internal"]["cluster"])
            if cluster is None or doc["properties"]["executionState"] not in ("running", "terminating"):
                return []
            return [machines.remote_login(node) for node in cluster["internal"]["nodes"]
                    if node.get("job") == doc["key"]]

    def job_output_files(self, group: str, workspace: str | None, experiment: str | None, name: str, output_id: str,
                         directory: str, expiry_minutes: int) -> list[dict]:
        with self.lock:
            doc = self._job(group, workspace, experiment, name)
            known = {"stdouterr"} | {d["id"].lower() for d in doc["properties"].get("outputDirectories") or []}
            if output_id.lower() not in known:
                raise ArmError(400, "InvalidOutputDirectoryId",
                               f"The output directory id '{output_id}' is not defined for job {name}; "
                               f"known ids: {', '.join(sorted(known))}.", "outputdirectoryid")
            if self.runner is None:
                return []
            snapshot = copy.deepcopy(doc)
        return self.runner.list_output_files(snapshot, output_id, directory, expiry_minutes)

    # -- usages, operations ---------------------------------------------------------------------------

    def usages(self, location: str) -> list[dict]:
        with self.lock:
            clusters = [c for c in self.store.of_kind("cluster")
                        if self.location_of(c).lower() == location.replace(" ", "").lower()]
            return usages(clusters)

    def get_operation(self, name: str) -> dict | None:
        with self.lock:
            return self.store.get(f"operation:{name}")

    def operation_target(self, operation: dict) -> dict | None:
        """The resource an operation acts on, if it still exists."""
        with self.lock:
            return self.store.get(operation["target"])

    # -- deletion and time-driven progress --------------------------------------------------------------

    def _begin_delete(self, doc: dict) -> dict:
        machines.mark_deleting(self, doc)
        operation = self._new_operation(doc, "delete")
        machines.advance_all(self)
        return operation

    def advance(self) -> None:
        """Move every state machine forward to now (called by a ticker and before each request)."""
        with self.lock:
            machines.advance_all(self)

    def wake(self) -> None:
        """Have the ticker advance now (safe from any thread, never blocks)."""
        self.wakeup.set()

    def watch(self, handle: Handle) -> None:
        """Wake the ticker when *handle*'s run ends, where the handle can say so."""
        when_finished = getattr(handle, "when_finished", None)
        if when_finished is not None:
            when_finished(self.wake)

    def idle_for(self) -> float | None:
        """How long the state can rest without a tick: None while something is in transition
        (tick at the ticker's pace), else the seconds until a running job's wall-clock limit
        (``math.inf`` without one). Only requests and ended runs change it meanwhile, and both
        call :meth:`wake`."""
        with self.lock:
            return machines.idle_for(self)

    def recover(self) -> None:
        """After a restart: processes of jobs and setup tasks that were running are gone."""
        with self.lock:
            machines.recover(self)

    def record_process(self, tracked) -> None:
        """Persist one process group a run started (a ``nodes.TrackedProcess``), so a restart
        after a crash finds it."""
        doc = tracked.to_doc()
        self.store.put({**doc, "key": Store.key(f"process:{tracked.owner}:{tracked.pid}"), "kind": "process",
                        "parent": Store.key(tracked.owner)})

    def forget_processes(self, owner: str) -> None:
        for doc in self.store.children(owner, "process"):
            self.store.delete(doc["key"])

    def close(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """Stop every run and wait for its processes to be gone (SIGKILL after the runner's grace
        period), recording how each job ended: a clean stop leaves no process behind."""
        with self.lock:
            handles = list(self.handles.values())
            for handle in handles:
                handle.terminate("EmulatorStopped", "The emulator stopped while this was running.")
        for handle in handles:
            wait = getattr(handle, "wait", None)
            if wait is not None and wait(grace) is None:
                log.warning("%s still running %.0f s after the emulator asked it to stop", handle, grace)
        with self.lock:
            machines.settle_jobs(self)  # record how they ended; start nothing new
            self.handles.clear()


def _cluster_key(cluster_id: str) -> str:
    """A job's cluster reference as a store key; Microsoft's own PutJob example spells the
    workspaces segment ``/workspace/``, which the service evidently accepted."""
    return re.sub(r"/providers/microsoft\.batchai/workspace/", "/providers/microsoft.batchai/workspaces/",
                  cluster_id.lower())


def _normalise_scale(scale: dict | None) -> dict:
    scale = copy.deepcopy(scale or {})
    if "manual" in scale:
        manual = scale["manual"]
        manual["nodeDeallocationOption"] = (manual.get("nodeDeallocationOption") or "requeue").lower()
        return {"manual": manual}
    if "autoScale" in scale:
        auto = scale["autoScale"]
        auto.setdefault("initialNodeCount", 0)
        return {"autoScale": auto}
    return scale


__all__ = ["ControlPlane", "NodeRunner", "Handle", "wire"]
