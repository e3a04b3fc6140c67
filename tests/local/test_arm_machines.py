"""The control plane's state machines, driven by a fake clock, without HTTP.

Each test builds a :class:`ControlPlane` over a fresh store, moves the clock and calls
``advance()``, and checks the documents as the service would report them. A fake node runner
stands in for processes: its handles run until the test finishes them.
"""

from __future__ import annotations

import pytest

from batchai_kit.local.arm.control import ControlPlane
from batchai_kit.local.arm.store import Store
from batchai_kit.local.arm.timing import Timings
from batchai_kit.local.nodes import JobResult

RG, WS, EXP = "rg", "ws", "exp"
START = 1_700_000_000.0


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = START):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeHandle:
    """A process tree that runs until the test (or a terminate) gives it a result."""

    def __init__(self, name: str):
        self.name = name
        self.result: JobResult | None = None
        self.terminated: list[tuple[str, str]] = []

    def poll(self):
        return self.result

    def terminate(self, reason_code: str = "JobTerminated", message: str = "") -> None:
        self.terminated.append((reason_code, message))
        if self.result is None:
            self.result = JobResult.failure(reason_code, message)

    def succeed(self) -> None:
        self.result = JobResult(exit_code=0)

    def fail(self, exit_code: int) -> None:
        self.result = JobResult.failure("JobFailed", "Job failed with non-zero exit code", exit_code=exit_code)


class FakeRunner:
    """The NodeRunner protocol with fake handles; setup tasks only when ``with_setup``."""

    def __init__(self, with_setup: bool = False):
        self.with_setup = with_setup
        self.jobs: dict[str, FakeHandle] = {}
        self.job_nodes: dict[str, list[str]] = {}
        self.setups: dict[str, FakeHandle] = {}
        self.started: list[str] = []

    def check_job(self, properties: dict) -> None:
        pass

    def prepare_node(self, cluster: dict, node: dict):
        if not self.with_setup:
            return None
        handle = self.setups[node["id"]] = FakeHandle(node["id"])
        return handle

    def start_job(self, job: dict, cluster: dict, nodes: list[dict]):
        handle = self.jobs[job["name"]] = FakeHandle(job["name"])
        self.job_nodes[job["name"]] = [n["id"] for n in nodes]
        self.started.append(job["name"])
        return handle

    def list_output_files(self, job, output_id, directory, expiry_minutes):
        return []


class World:
    """A control plane with one resource group, workspace and experiment, and helpers."""

    def __init__(self, path, timings: Timings, runner: FakeRunner | None):
        self.clock = FakeClock()
        self.runner = runner
        self.cp = ControlPlane(Store(path), "sub-id", timings=timings, clock=self.clock, runner=runner)
        self.cp.create_resource_group(RG, {"location": "eastus"})
        self.cp.create_workspace(RG, WS, {"location": "eastus"})
        self.cp.create_experiment(RG, WS, EXP)

    def tick(self, seconds: float = 0.0) -> None:
        self.clock.advance(seconds)
        self.cp.advance()

    def cluster(self, name: str = "c1", *, nodes: int = 1, deallocation: str | None = None,
                auto: dict | None = None) -> dict:
        if auto is not None:
            scale = {"autoScale": auto}
        else:
            scale = {"manual": {"targetNodeCount": nodes}}
            if deallocation:
                scale["manual"]["nodeDeallocationOption"] = deallocation
        body = {"properties": {"vmSize": "STANDARD_NC6", "scaleSettings": scale,
                               "userAccountSettings": {"adminUserName": "u", "adminUserPassword": "pw"}}}
        doc, _ = self.cp.create_cluster(RG, WS, name, body)
        return doc

    def resize(self, name: str, scale: dict) -> dict:
        return self.cp.update_cluster(RG, WS, name, {"properties": {"scaleSettings": scale}})

    def job(self, name: str, cluster: str = "c1", *, nodes: int = 1, priority: str | None = None,
            wall_clock: str | None = None) -> dict:
        properties = {"cluster": {"id": self.get_cluster(cluster)["id"]}, "nodeCount": nodes,
                      "stdOutErrPathPrefix": "$AZ_BATCHAI_MOUNT_ROOT/afs",
                      "customToolkitSettings": {"commandLine": "echo hi"}}
        if priority:
            properties["schedulingPriority"] = priority
        if wall_clock:
            properties["constraints"] = {"maxWallClockTime": wall_clock}
        doc, _ = self.cp.create_job(RG, WS, EXP, name, {"properties": properties})
        return doc

    def get_cluster(self, name: str = "c1") -> dict:
        return self.cp.get_cluster(RG, WS, name)

    def get_job(self, name: str) -> dict:
        return self.cp.get_job(RG, WS, EXP, name)

    def state(self, job: str) -> str:
        return self.get_job(job)["properties"]["executionState"]

    def errors(self, job: str) -> list[str]:
        return [e["code"] for e in self.get_job(job)["properties"].get("executionInfo", {}).get("errors", [])]

    def counts(self, cluster: str = "c1") -> dict:
        counts = self.get_cluster(cluster)["properties"]["nodeStateCounts"]
        return {k.removesuffix("NodeCount"): v for k, v in counts.items() if v}

    def allocation(self, cluster: str = "c1") -> str:
        return self.get_cluster(cluster)["properties"]["allocationState"]

    def node_ids(self, cluster: str = "c1") -> list[str]:
        return [n["id"] for n in self.get_cluster(cluster)["internal"]["nodes"]]


PHASES = Timings(cluster_allocation=10, node_preparation=5, node_leaving=3, deletion=2,
                 file_server_provisioning=7, autoscale_interval=4)


@pytest.fixture
def world(tmp_path):
    """Phase durations of a few seconds, moved by hand."""
    return World(tmp_path / "s.sqlite3", PHASES, FakeRunner())


@pytest.fixture
def instant(tmp_path):
    """Every phase takes no time: nodes are idle at the first advance."""
    return World(tmp_path / "s.sqlite3", Timings.instant(), FakeRunner())


def ready_cluster(w: World, name: str = "c1", **kwargs) -> dict:
    """Create a cluster and move the clock until its nodes are idle."""
    w.cluster(name, **kwargs)
    w.tick(w.cp.timings.cluster_allocation)
    w.tick(w.cp.timings.node_preparation)
    assert w.allocation(name) == "steady" and set(w.counts(name)) <= {"idle"}
    return w.get_cluster(name)


# -- cluster allocation -----------------------------------------------------------------------------


def test_new_cluster_is_resizing_with_no_nodes_until_allocation_time(world):
    world.cluster(nodes=2)
    world.tick(9.9)
    cluster = world.get_cluster()["properties"]
    assert (cluster["provisioningState"], cluster["allocationState"], cluster["currentNodeCount"]) == \
        ("succeeded", "resizing", 0)
    assert world.counts() == {}


def test_nodes_appear_preparing_after_allocation_time_and_allocation_is_steady(world):
    world.cluster(nodes=2)
    world.tick(10)
    assert world.counts() == {"preparing": 2}
    assert world.get_cluster()["properties"]["currentNodeCount"] == 2
    assert world.allocation() == "steady"


def test_nodes_become_idle_after_preparation_time(world):
    world.cluster(nodes=2)
    world.tick(10)
    world.tick(4.9)
    assert world.counts() == {"preparing": 2}
    world.tick(0.1)
    assert world.counts() == {"idle": 2}
    assert world.allocation() == "steady"


def test_node_with_setup_task_is_idle_when_the_task_succeeds(tmp_path):
    runner = FakeRunner(with_setup=True)
    w = World(tmp_path / "s.sqlite3", Timings.instant(), runner)
    w.cluster()
    w.tick()
    assert w.counts() == {"preparing": 1}
    runner.setups[w.node_ids()[0]].succeed()
    w.tick()
    assert w.counts() == {"idle": 1}


def test_node_with_failing_setup_task_is_unusable_and_the_cluster_reports_the_error(tmp_path):
    runner = FakeRunner(with_setup=True)
    w = World(tmp_path / "s.sqlite3", Timings.instant(), runner)
    w.cluster()
    w.tick()
    runner.setups[w.node_ids()[0]].result = JobResult.failure("SetupTaskFailed", "exit code 2", exit_code=2)
    w.tick()
    assert w.counts() == {"unusable": 1}
    assert [e["code"] for e in w.get_cluster()["properties"]["errors"]] == ["SetupTaskFailed"]


def test_resize_up_goes_resizing_then_steady_with_the_new_nodes(world):
    ready_cluster(world, nodes=1)
    world.resize("c1", {"manual": {"targetNodeCount": 3}})
    assert world.allocation() == "resizing"
    world.tick(10)
    assert world.counts() == {"idle": 1, "preparing": 2}
    world.tick(5)
    assert world.counts() == {"idle": 3} and world.allocation() == "steady"


def test_resize_down_removes_idle_nodes_first(instant):
    instant.cluster(nodes=2)
    instant.tick()
    instant.job("j1")
    busy = instant.runner.job_nodes["j1"]
    instant.resize("c1", {"manual": {"targetNodeCount": 1}})
    instant.tick()
    assert instant.node_ids() == busy
    assert instant.state("j1") == "running"


def test_nodes_leave_for_node_leaving_seconds_then_are_gone(world):
    ready_cluster(world, nodes=2)
    world.resize("c1", {"manual": {"targetNodeCount": 0}})
    assert world.counts() == {"leaving": 2}
    assert world.allocation() == "resizing"
    world.tick(2.9)
    assert world.counts() == {"leaving": 2}
    world.tick(0.1)
    assert world.counts() == {} and world.get_cluster()["properties"]["currentNodeCount"] == 0
    assert world.allocation() == "steady"


def test_resize_down_with_requeue_puts_the_running_job_back_in_the_queue(instant):
    instant.cluster(nodes=1, deallocation="requeue")
    instant.tick()
    instant.job("j1")
    handle = instant.runner.jobs["j1"]
    instant.resize("c1", {"manual": {"targetNodeCount": 0, "nodeDeallocationOption": "requeue"}})
    assert handle.terminated, "the job's processes must be stopped"
    job = instant.get_job("j1")["properties"]
    assert job["executionState"] == "queued" and "executionInfo" not in job


def test_requeued_job_runs_again_when_nodes_come_back(instant):
    instant.cluster(nodes=1)
    instant.tick()
    instant.job("j1")
    instant.resize("c1", {"manual": {"targetNodeCount": 0}})
    instant.tick()
    instant.resize("c1", {"manual": {"targetNodeCount": 1}})
    instant.tick()
    assert instant.state("j1") == "running"
    assert instant.runner.started == ["j1", "j1"]


def test_resize_down_with_terminate_fails_the_running_job_as_terminated(instant):
    instant.cluster(nodes=1, deallocation="terminate")
    instant.tick()
    instant.job("j1")
    instant.resize("c1", {"manual": {"targetNodeCount": 0, "nodeDeallocationOption": "terminate"}})
    assert instant.state("j1") == "terminating"
    instant.tick()
    assert instant.state("j1") == "failed"
    assert instant.errors("j1") == ["JobTerminated"]


def test_resize_down_with_waitforjobcompletion_drains_the_node_after_the_job(world):
    ready_cluster(world, nodes=1, deallocation="waitforjobcompletion")
    world.job("j1")
    world.resize("c1", {"manual": {"targetNodeCount": 0, "nodeDeallocationOption": "waitforjobcompletion"}})
    world.tick(100)
    assert world.state("j1") == "running" and world.counts() == {"running": 1}
    assert world.allocation() == "resizing"
    world.runner.jobs["j1"].succeed()
    world.tick()
    assert world.state("j1") == "succeeded" and world.counts() == {"leaving": 1}
    world.tick(3)
    assert world.counts() == {} and world.allocation() == "steady"


def test_draining_node_takes_no_new_job(instant):
    instant.cluster(nodes=1, deallocation="waitforjobcompletion")
    instant.tick()
    instant.job("j1")
    instant.resize("c1", {"manual": {"targetNodeCount": 0, "nodeDeallocationOption": "waitforjobcompletion"}})
    instant.job("j2")
    instant.runner.jobs["j1"].succeed()
    instant.tick()
    assert instant.state("j2") == "queued"


# -- auto-scale ---------------------------------------------------------------------------------------------

AUTO = Timings(cluster_allocation=1, node_preparation=1, node_leaving=1, deletion=0,
               file_server_provisioning=0, autoscale_interval=30)


@pytest.fixture
def auto(tmp_path):
    """Auto-scale re-targets every 30 s; nodes take 2 s to be ready."""
    return World(tmp_path / "s.sqlite3", AUTO, FakeRunner())


def test_auto_scale_cluster_starts_with_initial_node_count(auto):
    auto.cluster(auto={"minimumNodeCount": 1, "maximumNodeCount": 4, "initialNodeCount": 2})
    auto.tick(1)
    auto.tick(1)
    assert auto.counts() == {"idle": 2}


def test_initial_node_count_is_allocated_even_when_auto_scale_evaluates_early(tmp_path):
    w = World(tmp_path / "s.sqlite3", Timings(), FakeRunner())  # the emulator's default phase durations
    w.cluster(auto={"minimumNodeCount": 0, "maximumNodeCount": 4, "initialNodeCount": 2})
    w.tick(Timings().cluster_allocation)
    assert w.get_cluster()["properties"]["currentNodeCount"] == 2


def test_auto_scale_shrinks_to_minimum_when_idle(auto):
    auto.cluster(auto={"minimumNodeCount": 1, "maximumNodeCount": 4, "initialNodeCount": 3})
    auto.tick(2)
    auto.tick(27.9)
    assert auto.counts() == {"idle": 3}
    auto.tick(0.1)
    assert auto.counts() == {"idle": 1, "leaving": 2}
    auto.tick(1)
    assert auto.counts() == {"idle": 1} and auto.allocation() == "steady"


def test_auto_scale_grows_to_demand_after_the_interval(auto):
    auto.cluster(auto={"minimumNodeCount": 0, "maximumNodeCount": 4, "initialNodeCount": 0})
    auto.tick()
    auto.job("j1", nodes=2)
    auto.job("j2")
    auto.tick(29)
    assert auto.counts() == {} and auto.state("j1") == "queued"
    auto.tick(1)
    assert auto.allocation() == "resizing"
    auto.tick(1)
    auto.tick(1)
    assert auto.counts() == {"running": 3}
    assert (auto.state("j1"), auto.state("j2")) == ("running", "running")


def test_switching_to_auto_scale_keeps_the_nodes_running_jobs_need(auto):
    ready_cluster(auto, nodes=1)
    auto.job("j1")
    auto.resize("c1", {"autoScale": {"minimumNodeCount": 0, "maximumNodeCount": 2}})
    auto.tick()
    assert auto.state("j1") == "running" and auto.counts() == {"running": 1}


def test_auto_scale_grows_no_further_than_maximum(auto):
    auto.cluster(auto={"minimumNodeCount": 0, "maximumNodeCount": 2, "initialNodeCount": 0})
    for index in range(5):
        auto.job(f"j{index}")
    auto.tick(30)
    auto.tick(1)
    auto.tick(1)
    assert auto.get_cluster()["properties"]["currentNodeCount"] == 2
    assert [auto.state(f"j{i}") for i in range(5)] == ["running"] * 2 + ["queued"] * 3


# -- job scheduling ------------------------------------------------------------------------------------------


def test_job_stays_queued_until_node_count_idle_nodes_are_free(world):
    world.cluster(nodes=2)
    world.job("j1", nodes=2)
    world.tick(10)
    assert world.state("j1") == "queued"
    world.tick(5)
    assert world.state("j1") == "running"
    assert len(world.runner.job_nodes["j1"]) == 2
    assert world.counts() == {"running": 2}


def test_running_job_reports_its_start_time(instant):
    ready_cluster(instant)
    instant.job("j1")
    info = instant.get_job("j1")["properties"]["executionInfo"]
    assert set(info) == {"startTime"}


def test_gang_scheduling_does_not_back_fill_past_a_job_that_does_not_fit(instant):
    ready_cluster(instant, nodes=2)
    instant.job("small")
    instant.clock.advance(1)
    instant.job("big", nodes=2)
    instant.clock.advance(1)
    instant.job("later")
    instant.tick()
    assert instant.counts() == {"running": 1, "idle": 1}
    assert (instant.state("big"), instant.state("later")) == ("queued", "queued")
    instant.runner.jobs["small"].succeed()
    instant.tick()
    assert (instant.state("big"), instant.state("later")) == ("running", "queued")
    instant.runner.jobs["big"].succeed()
    instant.tick()
    assert instant.state("later") == "running"


def test_queued_jobs_start_by_priority_then_creation_time(instant):
    ready_cluster(instant)
    instant.job("blocker")
    for name, priority in [("low", "low"), ("normal1", "normal"), ("high", "high"), ("normal2", "normal")]:
        instant.clock.advance(1)
        instant.job(name, priority=priority)
    for name in ["blocker", "high", "normal1", "normal2"]:
        instant.runner.jobs[name].succeed()
        instant.tick()
    assert instant.runner.started == ["blocker", "high", "normal1", "normal2", "low"]


def test_two_one_node_jobs_on_a_one_node_cluster_run_one_after_the_other(instant):
    ready_cluster(instant)
    instant.job("first")
    instant.clock.advance(1)
    instant.job("second")
    assert (instant.state("first"), instant.state("second")) == ("running", "queued")
    instant.runner.jobs["first"].succeed()
    instant.tick()
    assert (instant.state("first"), instant.state("second")) == ("succeeded", "running")
    instant.runner.jobs["second"].succeed()
    instant.tick()
    assert instant.state("second") == "succeeded" and instant.counts() == {"idle": 1}


def test_finished_job_reports_exit_code_and_end_time(instant):
    ready_cluster(instant)
    instant.job("j1")
    instant.runner.jobs["j1"].fail(exit_code=3)
    instant.tick()
    job = instant.get_job("j1")["properties"]
    assert job["executionState"] == "failed"
    assert job["executionInfo"]["exitCode"] == 3 and job["executionInfo"]["endTime"]
    assert instant.errors("j1") == ["JobFailed"]


def test_max_wall_clock_time_terminates_the_job(instant):
    ready_cluster(instant)
    instant.job("j1", wall_clock="PT10S")
    instant.tick(10)
    assert instant.state("j1") == "running"
    instant.tick(0.1)
    assert instant.state("j1") == "terminating"
    assert instant.runner.jobs["j1"].terminated[0][0] == "JobMaxWallClockTimeExceeded"
    instant.tick()
    assert instant.state("j1") == "failed"
    assert instant.errors("j1") == ["JobMaxWallClockTimeExceeded"]


def test_terminating_a_queued_job_fails_it_at_once(world):
    world.cluster()
    world.job("j1")
    assert world.cp.terminate_job(RG, WS, EXP, "j1") is not None
    assert world.state("j1") == "failed" and world.errors("j1") == ["JobTerminated"]


def test_terminating_a_running_job_stops_its_processes(instant):
    ready_cluster(instant)
    instant.job("j1")
    operation = instant.cp.terminate_job(RG, WS, EXP, "j1")
    assert instant.state("j1") == "terminating"
    assert instant.runner.jobs["j1"].terminated == [("JobTerminated", "The specified job has been terminated by the user")]
    instant.tick()
    assert instant.state("j1") == "failed" and instant.errors("j1") == ["JobTerminated"]
    assert instant.cp.get_operation(operation["name"])["status"] == "Succeeded"


def test_terminating_a_finished_job_has_no_operation(instant):
    ready_cluster(instant)
    instant.job("j1")
    instant.runner.jobs["j1"].succeed()
    instant.tick()
    assert instant.cp.terminate_job(RG, WS, EXP, "j1") is None


def test_without_a_runner_a_started_job_fails_with_job_runner_unavailable(tmp_path):
    w = World(tmp_path / "s.sqlite3", Timings.instant(), runner=None)
    ready_cluster(w)
    w.job("j1")
    assert w.state("j1") == "failed"
    assert w.errors("j1") == ["JobRunnerUnavailable"]
    assert w.counts() == {"idle": 1}


# -- deletion -------------------------------------------------------------------------------------------------


def test_deleting_a_workspace_marks_everything_in_it_deleting(world):
    ready_cluster(world)
    world.job("j1")
    world.cp.create_file_server(RG, WS, "fs1", file_server_body())
    world.cp.delete_workspace(RG, WS)
    states = {doc["kind"]: doc["properties"]["provisioningState"] for doc in world.cp.store
              if doc["kind"] in ("workspace", "experiment", "cluster", "job", "fileserver")}
    assert states == dict.fromkeys(("workspace", "experiment", "cluster", "job", "fileserver"), "deleting")
    assert world.runner.jobs["j1"].terminated


def test_deletion_completes_only_after_deletion_seconds(world):
    ready_cluster(world)
    world.job("j1")
    operation = world.cp.delete_workspace(RG, WS)
    world.tick(1.9)
    assert world.cp.get_operation(operation["name"])["status"] == "InProgress"
    assert world.cp.store.get(world.get_cluster()["id"]) is not None
    world.tick(0.1)
    assert world.cp.list_workspaces(RG) == []
    assert not [d for d in world.cp.store if d["kind"] in ("experiment", "cluster", "job")]
    assert world.cp.get_operation(operation["name"])["status"] == "Succeeded"


def test_deleting_a_running_job_waits_for_its_processes(instant):
    ready_cluster(instant)
    instant.job("j1")
    handle = instant.runner.jobs["j1"]
    handle.terminate = lambda code="", message="": handle.terminated.append((code, message))  # ignores the kill
    operation = instant.cp.delete_job(RG, WS, EXP, "j1")
    instant.tick(60)
    assert instant.get_job("j1")["properties"]["provisioningState"] == "deleting"
    handle.fail(exit_code=137)
    instant.tick()
    assert instant.cp.list_jobs(RG, WS, EXP) == []
    assert instant.cp.get_operation(operation["name"])["status"] == "Succeeded"


def test_deleting_a_cluster_fails_its_queued_jobs(world):
    world.cluster()
    world.job("j1")
    world.cp.delete_cluster(RG, WS, "c1")
    assert world.state("j1") == "failed" and world.errors("j1") == ["ClusterDeleted"]


# -- async operations and file servers -------------------------------------------------------------------------


def test_cluster_create_operation_goes_in_progress_then_succeeded(instant):
    _, operation = instant.cp.create_cluster(RG, WS, "c1", {"properties": {
        "vmSize": "STANDARD_NC6", "scaleSettings": {"manual": {"targetNodeCount": 1}},
        "userAccountSettings": {"adminUserName": "u", "adminUserPassword": "pw"}}})
    assert operation["status"] == "InProgress" and "endTime" not in operation
    instant.tick()
    done = instant.cp.get_operation(operation["name"])
    assert done["status"] == "Succeeded" and done["endTime"]


def test_a_finished_operation_is_forgotten_after_an_hour(world):
    _, operation = world.cp.create_cluster(RG, WS, "c1", {"properties": {
        "vmSize": "STANDARD_NC6", "scaleSettings": {"manual": {"targetNodeCount": 0}},
        "userAccountSettings": {"adminUserName": "u", "adminUserPassword": "pw"}}})
    world.tick()
    assert world.cp.get_operation(operation["name"])["status"] == "Succeeded"
    world.tick(3599)
    assert world.cp.get_operation(operation["name"]) is not None
    world.tick(2)
    assert world.cp.get_operation(operation["name"]) is None


def file_server_body() -> dict:
    return {"properties": {"vmSize": "STANDARD_NC6",
                           "sshConfiguration": {"userAccountSettings": {"adminUserName": "u",
                                                                        "adminUserPassword": "pw"}},
                           "dataDisks": {"diskSizeInGB": 10, "diskCount": 2, "storageAccountType": "Standard_LRS"}}}


def test_file_server_is_creating_until_provisioning_time_then_succeeded(world):
    server, operation = world.cp.create_file_server(RG, WS, "fs1", file_server_body())
    assert server["properties"]["provisioningState"] == "creating"
    world.tick(6.9)
    assert world.cp.get_file_server(RG, WS, "fs1")["properties"]["provisioningState"] == "creating"
    assert world.cp.get_operation(operation["name"])["status"] == "InProgress"
    world.tick(0.1)
    properties = world.cp.get_file_server(RG, WS, "fs1")["properties"]
    assert properties["provisioningState"] == "succeeded"
    assert set(properties["mountSettings"]) == {"mountPoint", "fileServerPublicIP", "fileServerInternalIP"}
    assert world.cp.get_operation(operation["name"])["status"] == "Succeeded"


def test_file_server_secrets_are_kept_off_the_document(world):
    server, _ = world.cp.create_file_server(RG, WS, "fs1", file_server_body())
    assert "adminUserPassword" not in server["properties"]["sshConfiguration"]["userAccountSettings"]


# -- restart recovery --------------------------------------------------------------------------------------------


def test_recover_fails_a_running_job_whose_processes_were_lost(tmp_path):
    path = tmp_path / "s.sqlite3"
    first = World(path, Timings.instant(), FakeRunner())
    ready_cluster(first)
    first.job("j1")
    assert first.state("j1") == "running"
    first.cp.store.close()  # the emulator died: no close(), no terminate

    clock = FakeClock(first.clock.now + 5)
    second = ControlPlane(Store(path), "sub-id", timings=Timings.instant(), clock=clock, runner=FakeRunner())
    second.recover()
    job = second.get_job(RG, WS, EXP, "j1")["properties"]
    assert job["executionState"] == "failed"
    assert [e["code"] for e in job["executionInfo"]["errors"]] == ["JobProcessesLost"]
    counts = second.get_cluster(RG, WS, "c1")["properties"]["nodeStateCounts"]
    assert counts["idleNodeCount"] == 1 and counts["runningNodeCount"] == 0


def test_recover_keeps_queued_jobs_queued(tmp_path):
    path = tmp_path / "s.sqlite3"
    first = World(path, PHASES, FakeRunner())
    first.cluster()
    first.job("j1")
    first.cp.store.close()

    second = ControlPlane(Store(path), "sub-id", timings=PHASES, clock=FakeClock(first.clock.now + 1),
                          runner=FakeRunner())
    second.recover()
    assert second.get_job(RG, WS, EXP, "j1")["properties"]["executionState"] == "queued"
