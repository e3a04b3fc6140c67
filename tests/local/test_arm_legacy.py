"""API 2017-09-01-preview and 2018-03-01 beside 2018-05-01: what each version refuses, where its
resources live in the one state model, and how its answers differ (batchai_kit/local/arm/legacy.py)."""

from __future__ import annotations

import copy

import attrs
import pytest
import requests

from batchai_kit.local.arm.control import ControlPlane
from batchai_kit.local.arm.legacy import prune, request_body
from batchai_kit.local.arm.store import Store
from batchai_kit.local.arm.timing import Timings

from .test_arm_examples import RunForever
from .test_arm_examples_legacy import RG, VERSIONS, Client, group, load, ready_cluster, running_job, start


def body_of(version: str, name: str) -> dict:
    return copy.deepcopy(load(version, name)["parameters"]["parameters"])


def error_of(response: requests.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


# -- what a version never had ----------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_workspaces_are_refused_under_an_older_version(version, emu):
    client = Client(emu, version)
    group(client)
    url = (f"{emu.info.arm_endpoint}/subscriptions/{emu.info.subscription_id}/resourceGroups/{RG}/providers/"
           "Microsoft.BatchAI/workspaces/ws")
    response = client.session.put(url, params={"api-version": version}, json={"location": "eastus"}, timeout=30)
    assert error_of(response) == (400, "NoRegisteredProviderFound")
    assert "for type 'workspaces'. The supported api-versions are '2018-05-01'" in response.json()["error"]["message"]


def test_usages_are_refused_under_2017_09_01_preview_and_answered_under_2018_03_01(emu):
    url = f"{emu.info.arm_endpoint}/subscriptions/{emu.info.subscription_id}/providers/Microsoft.BatchAI/" \
          "locations/eastus/usages"
    old = Client(emu, "2017-09-01-preview")
    assert error_of(old.get(url)) == (400, "NoRegisteredProviderFound")
    answer = Client(emu, "2018-03-01").get(url)
    assert answer.status_code == 200
    assert {"unit", "currentValue", "limit", "name"} == answer.json()["value"][0].keys()


def test_an_unknown_resource_type_is_404_invalid_resource_type(emu):
    client = Client(emu, "2018-03-01")
    group(client)
    url = f"{emu.info.arm_endpoint}/subscriptions/{emu.info.subscription_id}/resourceGroups/{RG}/providers/" \
          "Microsoft.BatchAI/experiments/e"
    assert error_of(client.get(url)) == (404, "InvalidResourceType")


def test_2018_05_01_refuses_a_resource_group_level_cluster(emu):
    client = Client(emu, "2017-09-01-preview")
    group(client)
    url = f"{emu.info.arm_endpoint}/subscriptions/{emu.info.subscription_id}/resourceGroups/{RG}/providers/" \
          "Microsoft.BatchAI/clusters/c"
    response = client.session.put(url, params={"api-version": "2018-05-01"}, json=body_of("2018-03-01", "PutCluster"),
                                  timeout=30)
    assert error_of(response) == (400, "NoRegisteredProviderFound")


def test_a_2017_request_body_is_validated_against_2017_09_01_preview(emu):
    client = Client(emu, "2017-09-01-preview")
    group(client)
    body = body_of("2017-09-01-preview", "PutCluster")
    del body["location"]  # required in the older versions, absent from 2018-05-01's cluster body
    response = client.send("PutCluster", body=body)
    assert error_of(response) == (400, "MissingRequiredProperty")
    assert response.json()["error"]["target"] == "location"


# -- one state model, separate namespaces ------------------------------------------------------------


def test_resource_group_level_resources_are_shared_by_both_older_versions(emulator_factory):
    old = start(emulator_factory, "2017-09-01-preview", RunForever())
    ready_cluster(old)
    newer = Client(old.emu, "2018-03-01")
    listed = newer.send("ListClusterByResourceGroup").json()["value"]
    assert [c["name"] for c in listed] == ["demo_cluster"]
    assert listed[0]["location"] == "eastus"


def test_older_resources_are_invisible_to_2018_05_01_and_the_scope_is_no_workspace(emulator_factory):
    old = start(emulator_factory, "2018-03-01", RunForever())
    ready_cluster(old)
    emu = old.emu
    batchai = emu.batchai_client()
    assert list(batchai.workspaces.list()) == []
    assert list(batchai.workspaces.list_by_resource_group(RG)) == []
    batchai.workspaces.begin_create(RG, "ws", {"location": "eastus"}).result()
    assert [w.name for w in batchai.workspaces.list_by_resource_group(RG)] == ["ws"]
    assert list(batchai.clusters.list_by_workspace(RG, "ws")) == []
    assert [c["name"] for c in old.send("ListCluster").json()["value"]] == ["demo_cluster"]


def test_deleting_the_resource_group_deletes_its_older_resources(emulator_factory):
    client = start(emulator_factory, "2018-03-01", RunForever())
    running_job(client)
    client.resources.resource_groups.begin_delete(RG, polling_interval=0.05).result()
    group(client)
    assert client.send("ListJobByResourceGroup").json()["value"] == []
    assert error_of(client.send("GetCluster")) == (404, "ClusterNotFound")


# -- shapes of the older versions ------------------------------------------------------------------------


def test_a_feature_2017_never_had_is_dropped_from_its_requests():
    body = {"location": "eastus", "properties": {
        "cluster": {"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.BatchAI/clusters/c"},
        "nodeCount": 1, "stdOutErrPathPrefix": "$AZ_BATCHAI_MOUNT_ROOT/afs",
        "customToolkitSettings": {"commandLine": "env"},
        "secrets": [{"name": "S", "value": "hidden"}],
        "outputDirectories": [{"id": "OUT", "pathPrefix": "$AZ_BATCHAI_MOUNT_ROOT/afs"}],
        "priority": 7}}
    old = request_body("2017-09-01-preview", "job", body)
    assert "secrets" not in old["properties"]
    assert old["properties"]["schedulingPriority"] == "high"
    assert old["properties"]["outputDirectories"] == [
        {"id": "OUT", "pathPrefix": "$AZ_BATCHAI_MOUNT_ROOT/afs", "type": "custom", "createNew": True}]
    assert request_body("2018-03-01", "job", body)["properties"]["secrets"] == body["properties"]["secrets"]


def test_answers_show_only_what_the_version_defines():
    job = {"id": "x", "properties": {"schedulingPriority": "normal", "priority": 0, "jobOutputDirectoryPathSegment": "s",
                                     "executionInfo": {"startTime": "t", "exitCode": 0}}}
    assert prune("2017-09-01-preview", "Job", job) == {
        "id": "x", "properties": {"priority": 0, "executionInfo": {"startTime": "t", "exitCode": 0}}}
    assert "jobOutputDirectoryPathSegment" in prune("2018-03-01", "Job", job)["properties"]


def test_jobs_of_an_older_version_start_by_numeric_priority(tmp_path):
    from .test_arm_machines import FakeClock, FakeRunner

    runner = FakeRunner()
    cp = ControlPlane(Store(tmp_path / "s.db"), "sub", timings=Timings.instant(), clock=FakeClock(), runner=runner)
    cp.create_resource_group("rg", {"location": "eastus"})
    cluster, _ = cp.create_cluster("rg", None, "c", {"location": "eastus", "properties": {
        "vmSize": "STANDARD_NC6", "scaleSettings": {"manual": {"targetNodeCount": 0}}}})
    for name, priority in [("p0", 0), ("p500", 500), ("m3", -3), ("p9", 9)]:
        cp.create_job("rg", None, None, name, request_body("2018-03-01", "job", {"location": "eastus", "properties": {
            "cluster": {"id": cluster["id"]}, "nodeCount": 1, "stdOutErrPathPrefix": "$AZ_BATCHAI_MOUNT_ROOT/a",
            "customToolkitSettings": {"commandLine": "true"}, "priority": priority}}))
    cp.update_cluster("rg", None, "c", {"properties": {"scaleSettings": {"manual": {"targetNodeCount": 1}}}})
    for name in ("p500", "p9", "p0", "m3"):
        cp.advance()
        assert runner.started[-1] == name
        runner.jobs[name].succeed()
        cp.advance()
    assert cp.get_job("rg", None, None, "p0")["id"] == "/subscriptions/sub/resourceGroups/rg/providers/" \
                                                      "Microsoft.BatchAI/jobs/p0"


@pytest.mark.parametrize("version", VERSIONS)
def test_list_output_files_in_each_older_version(version, emulator_factory):
    client = start(emulator_factory, version)  # the emulator's own node runner: the job really runs
    emu = client.emu
    emu.file_service().create_share("afs")
    group(client)
    body = body_of(version, "PutCluster")
    volumes = body["properties"]["nodeSetup"]["mountVolumes"]
    del volumes["fileServers"]
    volumes["azureFileShares"][0].update(accountName=emu.info.storage_account,
                                         azureFileUrl=f"{emu.info.files_endpoint}/afs",
                                         credentials={"accountKey": emu.info.storage_key})
    assert client.wait_operation(client.send("PutCluster", body=body)).status_code == 200
    job = body_of(version, "PutJob")
    job["properties"]["customToolkitSettings"]["commandLine"] = \
        "mkdir -p $AZ_BATCHAI_OUTPUT_OUTPUTS/sub && echo hi | tee $AZ_BATCHAI_OUTPUT_OUTPUTS/hi.txt"
    job["properties"]["cluster"]["id"] = job["properties"]["cluster"]["id"].replace(
        "00000000-0000-0000-0000-000000000000", emu.info.subscription_id)
    assert client.wait_operation(client.send("PutJob", body=job)).status_code == 200
    done = client.wait_for("GetJob", lambda j: j["properties"]["executionState"] in ("succeeded", "failed"))
    assert done["properties"]["executionState"] == "succeeded", done["properties"]

    stdouterr = client.send("ListOutputFiles").json()["value"]
    outputs = client.send("ListOutputFiles", outputdirectoryid="OUTPUTS").json()["value"]

    files = {entry["name"]: entry for entry in stdouterr}
    assert {"stdout.txt", "stderr.txt"} <= files.keys()
    download = requests.get(files["stdout.txt"]["downloadUrl"], verify=str(emu.info.ca_cert), timeout=30)
    assert download.content == b"hi\n"
    if version == "2017-09-01-preview":
        assert all(entry.keys() == {"name", "downloadUrl", "properties"} for entry in stdouterr + outputs)
        assert [e["name"] for e in outputs] == ["hi.txt"]  # no directories in 2017-09-01-preview's lists
    else:
        assert {(e["name"], e["isDirectory"]) for e in outputs} == {("hi.txt", False), ("sub", True)}


def test_an_older_cluster_creation_ends_when_its_nodes_are_allocated(emulator_factory):
    client = start(emulator_factory, "2018-03-01", RunForever(), timings=attrs.evolve(Timings.instant(), cluster_allocation=3600))
    group(client)
    accepted = client.send("PutCluster")
    polled = client.session.get(accepted.headers["Location"], timeout=30)
    assert polled.status_code == 202  # resizing: the create is still in progress
    assert client.send("GetCluster").json()["properties"]["allocationState"] == "resizing"

    assert client.wait_operation(client.send("DeleteCluster")).status_code == 204
    outcome = client.session.get(accepted.headers["Location"], timeout=30)

    assert error_of(outcome) == (400, "ResourceDeleted")


def test_terminating_an_older_job_is_polled_to_204_and_the_job_failed(emulator_factory):
    client = start(emulator_factory, "2017-09-01-preview", RunForever())
    running_job(client)
    assert client.wait_operation(client.send("TerminateJob")).status_code == 204
    job = client.send("GetJob").json()["properties"]
    assert job["executionState"] == "failed"
    assert [e["code"] for e in job["executionInfo"]["errors"]] == ["JobTerminated"]
