"""State machines of the emulated service, driven by the control plane's clock.

- Cluster allocation: ``resizing`` until the target node count is reached, then ``steady``.
  New nodes appear after ``cluster_allocation`` seconds as ``preparing``; a node is ``idle``
  once its setup task succeeded (or after ``node_preparation`` seconds when there is none),
  ``unusable`` when it failed. Shrinking removes idle nodes first, then busy ones according to
  ``nodeDeallocationOption`` (requeue / terminate / waitforjobcompletion); removed nodes are
  ``leaving`` for ``node_leaving`` seconds. Auto-scale re-targets every ``autoscale_interval``
  seconds to the nodes queued and running jobs need, within minimum and maximum.
- Job scheduling: per cluster, queued jobs in priority order (high, normal, low; then the older
  versions' numeric ``priority``, highest first), then by creation time; the head job starts
  when ``nodeCount`` idle nodes are free (gang scheduling; no back-filling past a head job that
  does not fit, so large jobs are not starved).
- Deletion: a resource is ``deleting`` (children too) until its running jobs are stopped and
  ``deletion`` seconds passed; then it is removed.

The functions take the :class:`~.control.ControlPlane` and mutate documents; callers hold its lock.
"""

from __future__ import annotations

import logging
import math

from ..nodes._model import JOB_FAILED, JOB_FAILED_MESSAGE, JOB_PREPARATION_FAILED, JOB_PREPARATION_FAILED_MESSAGE
from .timing import iso

log = logging.getLogger("batchai_kit.local.control")

PRIORITY_RANK = {"high": 0, "normal": 1, "low": 2}
FINISHED = ("succeeded", "failed")
# a resource group's implicit scope (a hidden workspace) holds jobs directly: control.py
CHILD_KINDS = {"resourcegroup": ("workspace",), "workspace": ("experiment", "cluster", "fileserver", "job"),
               "experiment": ("job",)}


def _lasted(now: float, since: float, duration: float) -> bool:
    """Whether a phase begun at *since* has run its *duration* by *now*. Clock readings near
    1.7e9 carry ~2e-7 s of rounding: a phase is not kept one tick longer over that."""
    return now - since >= duration - 1e-6


def initial_target(properties: dict) -> int:
    scale = properties.get("scaleSettings") or {}
    if "manual" in scale:
        return int(scale["manual"]["targetNodeCount"])
    auto = scale.get("autoScale") or {}
    return int(auto.get("initialNodeCount", 0))


def updated_target(cluster: dict) -> int:
    """The target after a PATCH of scale settings: a manual size is taken as given; a switch to
    auto-scale keeps the nodes there are, within the new range (initialNodeCount applies only
    at creation)."""
    scale = cluster["properties"]["scaleSettings"]
    if "manual" in scale:
        return int(scale["manual"]["targetNodeCount"])
    live = len([n for n in cluster["internal"]["nodes"] if n["state"] != "leaving"])
    auto = scale["autoScale"]
    return max(int(auto["minimumNodeCount"]), min(int(auto["maximumNodeCount"]), live))


def remote_login(node: dict) -> dict:
    return {"nodeId": node["id"], "ipAddress": "127.0.0.1", "port": 50000 + int(node["serial"])}


# -- jobs ---------------------------------------------------------------------------------------


def _set_execution(cp, job: dict, state: str) -> None:
    properties = job["properties"]
    if properties.get("executionState") != state:
        properties["executionState"] = state
        properties["executionStateTransitionTime"] = iso(cp.now())
        log.info("Job %s: %s", job["name"], state)


def jobs_of_cluster(cp, cluster: dict) -> list[dict]:
    return [j for j in cp.store.of_kind("job") if j["internal"]["cluster"] == cluster["key"]]


def finish_job(cp, job: dict, *, exit_code: int | None, errors: list[dict], succeeded: bool) -> None:
    info = job["properties"].setdefault("executionInfo", {})
    info.setdefault("startTime", iso(cp.now()))
    info["endTime"] = iso(cp.now())
    if exit_code is not None:
        info["exitCode"] = exit_code
    if errors:
        info["errors"] = errors
    _set_execution(cp, job, "succeeded" if succeeded else "failed")
    cp.handles.pop(job["key"], None)
    cp.forget_processes(job["key"])
    _release_nodes(cp, job)
    cp._touch(job)


def terminate_job(cp, job: dict, code: str, message: str, *, requeue: bool = False) -> None:
    """Stop *job*: a queued one fails at once; a running one is killed (or requeued)."""
    state = job["properties"]["executionState"]
    if state in FINISHED:
        return
    error = [{"code": code, "message": message}]
    handle = cp.handles.get(job["key"])
    if state == "queued" or handle is None:
        if requeue:
            return
        finish_job(cp, job, exit_code=None, errors=error, succeeded=False)
        return
    if requeue:
        handle.terminate(code, message)
        cp.handles.pop(job["key"], None)
        _release_nodes(cp, job)
        job["properties"].pop("executionInfo", None)
        _set_execution(cp, job, "queued")
        cp._touch(job)
        return
    job["internal"]["termination"] = {"code": code, "message": message}
    _set_execution(cp, job, "terminating")
    cp._touch(job)
    handle.terminate(code, message)


def _release_nodes(cp, job: dict) -> None:
    cluster = cp.store.get(job["internal"]["cluster"])
    if cluster is None:
        return
    for node in cluster["internal"]["nodes"]:
        if node.get("job") == job["key"]:
            node["job"] = None
            if node["state"] == "running":
                _set_node(cp, node, "idle")
    cp.store.put(cluster)
    job["internal"]["nodes"] = []


def _start_job(cp, job: dict, cluster: dict, nodes: list[dict]) -> None:
    for node in nodes:
        node["job"] = job["key"]
        _set_node(cp, node, "running")
    job["internal"]["nodes"] = [n["id"] for n in nodes]
    job["internal"]["started"] = cp.now()
    job["properties"]["executionInfo"] = {"startTime": iso(cp.now())}
    _set_execution(cp, job, "running")
    cp._touch(job)
    cp.store.put(cluster)
    if cp.runner is None:
        finish_job(cp, job, exit_code=None, succeeded=False, errors=[{
            "code": "JobRunnerUnavailable",
            "message": "This emulator was started without a node runner, so it cannot run job processes."}])
        return
    try:
        cp.handles[job["key"]] = handle = cp.runner.start_job(job, cluster, nodes)
        cp.watch(handle)
    except Exception as exc:  # the runner reports failures as results; this is a bug guard
        log.exception("Node runner failed to start job %s", job["name"])
        finish_job(cp, job, exit_code=None, succeeded=False,
                   errors=[{"code": "JobStartFailed", "message": f"The job could not be started: {exc}"}])


def schedule(cp, cluster: dict) -> None:
    if cluster["properties"]["provisioningState"] == "deleting":
        return
    queued = [j for j in jobs_of_cluster(cp, cluster)
              if j["properties"]["executionState"] == "queued" and j["properties"]["provisioningState"] != "deleting"]
    # then the older versions' numeric priority (-1000..1000), absent in 2018-05-01 jobs
    queued.sort(key=lambda j: (PRIORITY_RANK.get(j["properties"]["schedulingPriority"], 1),
                               -int(j["properties"].get("priority") or 0), j["internal"]["created"], j["name"]))
    for job in queued:
        free = [n for n in cluster["internal"]["nodes"]
                if n["state"] == "idle" and not n.get("draining") and not n.get("job")]
        needed = int(job["properties"]["nodeCount"])
        if needed > len(free):
            break
        _start_job(cp, job, cluster, free[:needed])


def settle_jobs(cp) -> None:
    """Record the result of every job whose processes have ended (and nothing else)."""
    for job in cp.store.of_kind("job"):
        _advance_job(cp, job)


def _advance_job(cp, job: dict) -> None:
    state = job["properties"]["executionState"]
    if state not in ("running", "terminating"):
        return
    handle = cp.handles.get(job["key"])
    if handle is None:
        return
    result = handle.poll()
    if result is None:
        started = job["internal"].get("started", cp.now())
        if state == "running" and cp.now() - started > job["internal"]["wall_clock"]:
            terminate_job(cp, job, "JobMaxWallClockTimeExceeded",
                          f"The job ran longer than its maxWallClockTime "
                          f"{job['properties']['constraints']['maxWallClockTime']} and was terminated.")
        return
    errors = [dict(e) for e in result.errors]
    finish_job(cp, job, exit_code=result.exit_code, errors=errors, succeeded=result.succeeded)


# -- clusters --------------------------------------------------------------------------------------


def _set_node(cp, node: dict, state: str) -> None:
    if node["state"] != state:
        node["state"] = state
        node["since"] = cp.now()


def _set_allocation(cp, cluster: dict, state: str) -> None:
    properties = cluster["properties"]
    if properties["allocationState"] != state:
        properties["allocationState"] = state
        properties["allocationStateTransitionTime"] = iso(cp.now())
        cluster["internal"]["allocation_since"] = cp.now()
        log.info("Cluster %s: %s", cluster["name"], state)


def _demand(cp, cluster: dict) -> int:
    return sum(int(j["properties"]["nodeCount"]) for j in jobs_of_cluster(cp, cluster)
               if j["properties"]["executionState"] in ("queued", "running", "terminating"))


def _retarget_autoscale(cp, cluster: dict) -> None:
    auto = cluster["properties"]["scaleSettings"].get("autoScale")
    internal = cluster["internal"]
    if not auto or not _lasted(cp.now(), internal["autoscale_at"], cp.timings.autoscale_interval):
        return
    if not internal.get("allocated"):  # the initial size is allocated before auto-scale takes over
        return
    internal["autoscale_at"] = cp.now()
    target = max(int(auto["minimumNodeCount"]), min(int(auto["maximumNodeCount"]), _demand(cp, cluster)))
    if target != internal["target"]:
        log.info("Cluster %s: auto-scale to %d nodes", cluster["name"], target)
        internal["target"] = target


def _new_node(cp, cluster: dict) -> dict:
    internal = cluster["internal"]
    internal["node_serial"] += 1
    serial = internal["node_serial"]
    stamp = iso(cp.now()).replace("-", "").replace(":", "").split(".")[0].lower() + "z"
    node = {"id": f"tvm-{int(internal['guid'][:8], 16) % 10**10}_{serial}-{stamp}", "serial": serial,
            "state": "preparing", "since": cp.now(), "job": None, "errors": []}
    internal["nodes"].append(node)
    if cp.runner is not None:
        try:
            handle = cp.runner.prepare_node(cluster, node)
        except Exception as exc:  # bug guard: a broken runner makes the node unusable, visibly
            log.exception("Node runner failed to prepare node %s", node["id"])
            _node_unusable(cp, cluster, node, "NodePreparationFailed", f"Node preparation failed: {exc}")
            return node
        if handle is not None:
            cp.handles[f"setup:{cluster['key']}:{node['id']}"] = handle
            cp.watch(handle)
            node["setup"] = True
    return node


def _node_unusable(cp, cluster: dict, node: dict, code: str, message: str, details=None) -> None:
    _set_node(cp, node, "unusable")
    error = {"code": code, "message": f"{message} (node {node['id']})"}
    if details:
        error["details"] = details
    node["errors"] = [error]
    cluster["properties"].setdefault("errors", []).append(error)


def _advance_nodes(cp, cluster: dict) -> None:
    internal = cluster["internal"]
    now = cp.now()
    for node in list(internal["nodes"]):
        if node["state"] == "preparing":
            key = f"setup:{cluster['key']}:{node['id']}"
            handle = cp.handles.get(key)
            if node.get("setup"):
                result = handle.poll() if handle is not None else None
                if handle is None:
                    _node_unusable(cp, cluster, node, "SetupTaskInterrupted",
                                   "The emulator restarted while the setup task was running")
                elif result is not None:
                    cp.handles.pop(key, None)
                    cp.forget_processes(key)
                    if result.succeeded:
                        _set_node(cp, node, "idle")
                    else:
                        first = result.errors[0] if result.errors else {"code": "SetupTaskFailed",
                                                                        "message": "The setup task failed"}
                        _node_unusable(cp, cluster, node, first["code"], first["message"], first.get("details"))
            elif _lasted(now, node["since"], cp.timings.node_preparation):
                _set_node(cp, node, "idle")
        elif node["state"] == "leaving" and _lasted(now, node["since"], cp.timings.node_leaving):
            internal["nodes"].remove(node)
        elif node.get("draining") and not node.get("job"):
            _set_node(cp, node, "leaving")


def _shrink(cp, cluster: dict, excess: int) -> None:
    nodes = [n for n in cluster["internal"]["nodes"] if n["state"] != "leaving" and not n.get("draining")]
    order = {"unusable": 0, "preparing": 1, "idle": 2, "running": 3}
    nodes.sort(key=lambda n: (order.get(n["state"], 4), -n["serial"]))
    option = cluster["properties"]["scaleSettings"].get("manual", {}).get("nodeDeallocationOption", "requeue")
    for node in nodes[:excess]:
        if node["state"] != "running":
            cp.handles.pop(f"setup:{cluster['key']}:{node['id']}", None)
            _set_node(cp, node, "leaving")
            continue
        job = cp.store.get(node["job"]) if node.get("job") else None
        if option == "waitforjobcompletion" or job is None:
            node["draining"] = True
            continue
        if option == "terminate":
            terminate_job(cp, job, "JobTerminated", "The job was terminated because its cluster was resized down.")
        else:
            terminate_job(cp, job, "JobRequeued", "Cluster resized down", requeue=True)
        _set_node(cp, node, "leaving")


def advance_cluster(cp, cluster: dict) -> None:
    internal = cluster["internal"]
    properties = cluster["properties"]
    if properties["provisioningState"] != "deleting":
        if len([n for n in internal["nodes"] if n["state"] != "leaving"]) >= internal["target"]:
            internal["allocated"] = True  # the initial size exists: auto-scale may take over
        _retarget_autoscale(cp, cluster)
        _advance_nodes(cp, cluster)
        live = [n for n in internal["nodes"] if n["state"] != "leaving" and not n.get("draining")]
        target = internal["target"]
        if len(live) < target:
            _set_allocation(cp, cluster, "resizing")
            if _lasted(cp.now(), internal["allocation_since"], cp.timings.cluster_allocation):
                for _ in range(target - len(live)):
                    _new_node(cp, cluster)
                _advance_nodes(cp, cluster)
        elif len(live) > target:
            _set_allocation(cp, cluster, "resizing")
            _shrink(cp, cluster, len(live) - target)
        settled = len([n for n in internal["nodes"] if n["state"] != "leaving" and not n.get("draining")]) == target
        if settled and not any(n["state"] == "leaving" or n.get("draining") for n in internal["nodes"]):
            _set_allocation(cp, cluster, "steady")
        schedule(cp, cluster)
    else:
        _advance_nodes(cp, cluster)
    counts = {"idleNodeCount": 0, "runningNodeCount": 0, "preparingNodeCount": 0,
              "unusableNodeCount": 0, "leavingNodeCount": 0}
    for node in internal["nodes"]:
        counts[f"{node['state']}NodeCount"] += 1
    properties["nodeStateCounts"] = counts
    properties["currentNodeCount"] = len(internal["nodes"])
    cp.store.put(cluster)


def _advance_file_server(cp, server: dict) -> None:
    properties = server["properties"]
    if properties["provisioningState"] == "creating" and \
            _lasted(cp.now(), server["internal"]["created"], cp.timings.file_server_provisioning):
        properties["provisioningState"] = "succeeded"
        properties["provisioningStateTransitionTime"] = iso(cp.now())
        properties["mountSettings"] = {"mountPoint": "/mnt/data", "fileServerPublicIP": "127.0.0.1",
                                       "fileServerInternalIP": "127.0.0.1"}
        cp._touch(server)


# -- deletion -------------------------------------------------------------------------------------------


def _children(cp, doc: dict) -> list[dict]:
    return [c for c in cp.store.children(doc["id"]) if c["kind"] in CHILD_KINDS.get(doc["kind"], ())]


def mark_deleting(cp, doc: dict) -> None:
    properties = doc["properties"]
    deleting = "Deleting" if doc["kind"] == "resourcegroup" else "deleting"
    if properties.get("provisioningState") != deleting:
        properties["provisioningState"] = deleting
        if doc["kind"] != "resourcegroup":
            properties["provisioningStateTransitionTime"] = iso(cp.now())
        doc["internal"]["deleting_since"] = cp.now()
        log.info("Deleting %s %s", doc["kind"], doc["name"])
    if doc["kind"] == "job":
        terminate_job(cp, doc, "JobDeleted", "The job was deleted while it was running.")
    if doc["kind"] == "cluster":
        for job in jobs_of_cluster(cp, doc):
            terminate_job(cp, job, "ClusterDeleted",
                          f"The cluster {doc['name']} this job was submitted to was deleted.")
    for child in _children(cp, doc):
        mark_deleting(cp, child)
    cp._touch(doc)


def _try_remove(cp, doc: dict) -> bool:
    """Remove a deleting *doc* once its children are gone, its processes stopped and time has passed."""
    if any(_try_remove(cp, child) is False for child in _children(cp, doc)):
        return False
    if doc["kind"] == "job" and doc["properties"]["executionState"] == "terminating":
        _advance_job(cp, doc)
        if doc["properties"]["executionState"] == "terminating":
            return False
    if doc["kind"] == "cluster":
        if any(j["properties"]["executionState"] == "terminating" for j in jobs_of_cluster(cp, doc)):
            return False
        for node in doc["internal"]["nodes"]:
            handle = cp.handles.pop(f"setup:{doc['key']}:{node['id']}", None)
            if handle is not None:
                handle.terminate("ClusterDeleted", "The cluster was deleted.")
    if not _lasted(cp.now(), doc["internal"]["deleting_since"], cp.timings.deletion):
        return False
    cp.store.delete(doc["id"])
    cp.handles.pop(doc["key"], None)
    log.info("Deleted %s %s", doc["kind"], doc["name"])
    return True


OPERATION_RETENTION = 3600.0  # seconds a finished operation's status stays readable


def _advance_operations(cp) -> None:
    for operation in cp.store.of_kind("operation"):
        if operation["status"] != "InProgress":
            if cp.now() - operation.get("ended", cp.now()) > OPERATION_RETENTION:
                cp.store.delete(operation["key"])
            continue
        target = cp.store.get(operation["target"])
        action = operation["action"]
        status, error = None, None
        if action == "delete":
            status = "Succeeded" if target is None else None
        elif target is None:
            status, error = "Failed", {
                "code": "ResourceDeleted",
                "message": f"{operation['resourceId']} was deleted before the operation completed."}
        elif action == "create":
            state = target["properties"].get("provisioningState")
            status = {"succeeded": "Succeeded", "failed": "Failed"}.get(state)
            if status == "Succeeded" and target["kind"] == "cluster" and cp.is_scoped(target) \
                    and target["properties"].get("allocationState") != "steady":
                # API 2017-09-01-preview / 2018-03-01: creation ended once the nodes were allocated
                # (the 2017 quickstart's status line right after .result() reads "steady ... Preparing: 1")
                status = None
            if status == "Failed":
                error = {"code": "ProvisioningFailed", "message": f"{target['name']} failed to provision."}
        elif action == "terminate":
            status = "Succeeded" if target["properties"]["executionState"] in FINISHED else None
        if status:
            operation["status"] = status
            operation["endTime"] = iso(cp.now())
            operation["ended"] = cp.now()
            if error:
                operation["error"] = error
            cp.store.put(operation)


def advance_all(cp) -> None:
    for doc in cp.store.of_kind("job"):
        _advance_job(cp, doc)
    for cluster in cp.store.of_kind("cluster"):
        advance_cluster(cp, cluster)
    for server in cp.store.of_kind("fileserver"):
        _advance_file_server(cp, server)
    for doc in list(cp.store):
        if doc["kind"] in ("resourcegroup", "workspace", "experiment", "cluster", "job", "fileserver") \
                and doc["properties"].get("provisioningState") in ("deleting", "Deleting") \
                and cp.store.get(doc["id"]) is not None:
            _try_remove(cp, doc)
    _advance_operations(cp)


def idle_for(cp) -> float | None:
    """None while a state machine is in a timed phase or a document is in transition; else the
    seconds until the earliest wall-clock limit of a running job (``math.inf`` without one).

    At rest: every job queued on nothing (none), running or finished; every cluster steady
    with its nodes idle, running or unusable; no deletion, creation or operation in progress;
    every running job's handle says when it ends (``when_finished``)."""
    if any(op["status"] == "InProgress" for op in cp.store.of_kind("operation")):
        return None
    for doc in cp.store:
        if doc["kind"] in ("resourcegroup", "workspace", "experiment", "cluster", "job", "fileserver") \
                and doc["properties"].get("provisioningState") in ("deleting", "Deleting", "creating"):
            return None
    for cluster in cp.store.of_kind("cluster"):
        properties = cluster["properties"]
        if properties.get("allocationState") != "steady" or "autoScale" in (properties.get("scaleSettings") or {}):
            return None
        if any(n["state"] not in ("idle", "running", "unusable") or n.get("draining")
               for n in cluster["internal"]["nodes"]):
            return None
    rest = math.inf
    for job in cp.store.of_kind("job"):
        state = job["properties"]["executionState"]
        if state in ("queued", "terminating"):
            return None
        if state == "running":
            handle = cp.handles.get(job["key"])
            if handle is None or getattr(handle, "when_finished", None) is None:
                return None
            limit = job["internal"]["started"] + job["internal"]["wall_clock"] - cp.now()
            rest = min(rest, max(limit, 0.0))
    return rest


PROCESSES_LOST = "JobProcessesLost"
_CRASHED = "The emulator stopped without a clean shutdown (it was killed or crashed) while this job was running"


def recover(cp) -> None:
    """After a crash: end the process groups it left (found by id and start time, never a
    recycled pid) and settle each job that was running with what is known of its processes."""
    records = cp.store.of_kind("process")
    reap = getattr(cp.runner, "reap", None)
    found = reap(records) if reap is not None and records else []
    for record in records:
        cp.store.delete(record["key"])
    by_owner: dict[str, list] = {}
    for tracked, running in found:
        by_owner.setdefault(tracked.owner, []).append((tracked, running))
    for job in cp.store.of_kind("job"):
        if job["properties"]["executionState"] in ("running", "terminating") and job["key"] not in cp.handles:
            termination = job["internal"].get("termination")
            if termination:
                finish_job(cp, job, exit_code=None, errors=[termination], succeeded=False)
            else:
                exit_code, errors = _after_a_crash(by_owner.get(job["key"], []))
                finish_job(cp, job, exit_code=exit_code, errors=errors, succeeded=not errors)
    advance_all(cp)


def _after_a_crash(found: list) -> tuple[int | None, list[dict]]:
    """(exit code, errors) of a job whose emulator crashed, from its recorded process groups."""
    if not found:
        return None, [{"code": PROCESSES_LOST, "message": f"{_CRASHED}; it has no record of the job's "
                       "processes, which are gone."}]
    still = [tracked.pid for tracked, running in found if running]
    if still:
        return None, [{"code": PROCESSES_LOST, "message": f"{_CRASHED}. On restart the job's processes "
                       f"(process group {', '.join(map(str, still))}) were still running and were ended: the "
                       "job may have done part of its work; its outputs are on the share."}]
    stage = "Job" if any(tracked.stage == "Job" for tracked, _ in found) else found[0][0].stage
    last = [tracked for tracked, _ in found if tracked.stage == stage and tracked.primary]
    codes = [tracked.exit_code for tracked in last]
    if last and all(code is not None for code in codes):  # it ended, and how was recorded
        failed = next((code for code in codes if code != 0), None)
        if failed is None and stage == "Job":
            return 0, []
        if failed is not None:
            code, message = (JOB_FAILED, JOB_FAILED_MESSAGE) if stage == "Job" else \
                (JOB_PREPARATION_FAILED, JOB_PREPARATION_FAILED_MESSAGE)
            return failed, [{"code": code, "message": message}]
        return None, [{"code": PROCESSES_LOST, "message": f"{_CRASHED}. Its job preparation had succeeded, "
                       "but the job's own processes had not started."}]
    pids = ", ".join(str(tracked.pid) for tracked in last) or "?"
    return None, [{"code": PROCESSES_LOST, "message": f"{_CRASHED}. On restart the job's process (pid {pids}) had "
                   "ended, but its exit code was not recorded: the job may have finished its work; its outputs "
                   "are on the share."}]
