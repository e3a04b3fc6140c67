"""Wire facts recorded from the live Batch AI 2018-05-01 service, checked on the raw answers."""

import email.utils
import re

import azure.mgmt.batchai.models as models
import pytest
import requests

from .test_arm_sdk import EXP, RG, WS, cluster_params, job_params, make_workspace

STRONG_ETAG = re.compile(r'^"0x[0-9A-F]{15}"$')
VERSION = "?api-version=2018-05-01"


class Wire:
    """Raw requests to the emulator's ARM, with its token."""

    def __init__(self, emu):
        self.emu = emu
        self.provider = (f"{emu.info.arm_endpoint}/subscriptions/{emu.info.subscription_id}/resourceGroups/{RG}/"
                         f"providers/Microsoft.BatchAI")

    def __call__(self, method, url, **kwargs):
        if not url.startswith("https://"):
            url = f"{self.provider}/{url}{VERSION}"
        return requests.request(method, url, verify=str(self.emu.info.ca_cert),
                                headers={"Authorization": f"Bearer {self.emu.info.token}"}, **kwargs)


@pytest.fixture
def wire(emu, batchai, resources):
    make_workspace(batchai, resources)
    return Wire(emu)


@pytest.fixture
def cluster(batchai, wire):
    return batchai.clusters.begin_create(RG, WS, "c1", cluster_params(nodes=0)).result()


# -- bodies ---------------------------------------------------------------------------------------------


def test_resource_types_are_the_nested_types_of_2018_05_01(batchai, wire, cluster):
    batchai.jobs.begin_create(RG, WS, EXP, "j1", job_params(cluster.id)).result()
    batchai.file_servers.begin_create(RG, WS, "fs1", models.FileServerCreateParameters(
        vm_size="STANDARD_D2", ssh_configuration=models.SshConfiguration(
            user_account_settings=models.UserAccountSettings(admin_user_name="a", admin_user_password="Pw-12345")),
        data_disks=models.DataDisks(disk_size_in_gb=10, disk_count=1, storage_account_type="Standard_LRS"))).result()
    types = {path: wire("GET", path).json()["type"] for path in (
        f"workspaces/{WS}", f"workspaces/{WS}/experiments/{EXP}", f"workspaces/{WS}/clusters/c1",
        f"workspaces/{WS}/experiments/{EXP}/jobs/j1", f"workspaces/{WS}/fileServers/fs1")}
    assert list(types.values()) == [
        "Microsoft.BatchAI/workspaces", "Microsoft.BatchAI/workspaces/experiments",
        "Microsoft.BatchAI/workspaces/clusters", "Microsoft.BatchAI/workspaces/experiments/jobs",
        "Microsoft.BatchAI/workspaces/fileservers"]


def test_a_job_always_names_its_experiment(batchai, wire, cluster):
    batchai.jobs.begin_create(RG, WS, EXP, "j1", job_params(cluster.id)).result()
    assert wire("GET", f"workspaces/{WS}/experiments/{EXP}/jobs/j1").json()["properties"]["experimentName"] == EXP


def test_a_file_server_always_reports_its_subnet(batchai, wire):
    batchai.file_servers.begin_create(RG, WS, "fs1", models.FileServerCreateParameters(
        vm_size="STANDARD_D2", ssh_configuration=models.SshConfiguration(
            user_account_settings=models.UserAccountSettings(admin_user_name="a", admin_user_password="Pw-12345")),
        data_disks=models.DataDisks(disk_size_in_gb=10, disk_count=1, storage_account_type="Standard_LRS"))).result()
    subnet = wire("GET", f"workspaces/{WS}/fileServers/fs1").json()["properties"]["subnet"]["id"]
    assert "/providers/Microsoft.Network/virtualNetworks/" in subnet and "/subnets/" in subnet


def test_a_cluster_without_errors_has_no_errors_member(wire, cluster):
    assert "errors" not in wire("GET", f"workspaces/{WS}/clusters/c1").json()["properties"]


# -- headers ----------------------------------------------------------------------------------------------


def test_etags_are_strong_and_shaped_as_azures_and_change_with_the_resource(batchai, wire, cluster):
    first = wire("GET", f"workspaces/{WS}/clusters/c1").headers["ETag"]
    batchai.clusters.update(RG, WS, "c1", models.ClusterUpdateParameters(scale_settings=models.ScaleSettings(
        manual=models.ManualScaleSettings(target_node_count=1))))
    second = wire("GET", f"workspaces/{WS}/clusters/c1").headers["ETag"]
    assert STRONG_ETAG.match(first) and STRONG_ETAG.match(second) and second > first


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH"])
def test_resource_answers_carry_last_modified(wire, method):
    body = {"location": "eastus"} if method == "PUT" else {"tags": {"a": "b"}} if method == "PATCH" else None
    response = wire(method, f"workspaces/{WS}", json=body)
    assert response.status_code == 200
    assert email.utils.parsedate_to_datetime(response.headers["Last-Modified"]).year >= 2018


def test_empty_answers_carry_no_content_type(batchai, wire, cluster):
    deleted = wire("DELETE", f"workspaces/{WS}/clusters/c1")
    assert deleted.status_code == 202 and "Content-Type" not in deleted.headers
    gone = wire("DELETE", f"workspaces/{WS}/clusters/never")
    assert gone.status_code == 204 and "Content-Type" not in gone.headers
    status = wire("GET", deleted.headers["Location"])
    assert status.content == b"" and "Content-Type" not in status.headers


# -- operation status --------------------------------------------------------------------------------------


def finished(wire, url):
    from .waiting import wait_for

    return wait_for(lambda: wire("GET", url).json(), lambda body: body["status"] != "InProgress")


def test_operation_status_id_is_the_absolute_url_and_names_the_resource(emu, wire):
    created = wire("PUT", f"workspaces/{WS}/clusters/c2", json={"properties": {
        "vmSize": "STANDARD_NC6", "scaleSettings": {"manual": {"targetNodeCount": 0}},
        "userAccountSettings": {"adminUserName": "demo", "adminUserPassword": "Secret-pw1"}}})
    url = created.headers["Azure-AsyncOperation"]
    body = finished(wire, url)
    assert body["id"] == url.split("?")[0] and body["id"].startswith("https://")
    assert body["properties"]["resourceId"] == f"{emu.info.subscription_id}${RG}${WS}$c2"


def test_a_succeeded_delete_also_names_the_resource(emu, wire, cluster):
    deleted = wire("DELETE", f"workspaces/{WS}/clusters/c1")
    body = finished(wire, deleted.headers["Azure-AsyncOperation"])
    assert body["status"] == "Succeeded"
    assert body["properties"]["resourceId"] == f"{emu.info.subscription_id}${RG}${WS}$c1"


def test_a_job_operation_names_experiment_and_job(emu, wire, cluster):
    created = wire("PUT", f"workspaces/{WS}/experiments/{EXP}/jobs/j9", json={"properties": {
        "cluster": {"id": cluster.id}, "nodeCount": 1, "stdOutErrPathPrefix": "$AZ_BATCHAI_MOUNT_ROOT/afs",
        "customToolkitSettings": {"commandLine": "echo hi"}}})
    body = finished(wire, created.headers["Azure-AsyncOperation"])
    assert body["properties"]["resourceId"] == f"{emu.info.subscription_id}${RG}${WS}${EXP}$j9"
