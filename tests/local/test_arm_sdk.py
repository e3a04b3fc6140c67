"""The control plane driven by the real azure-mgmt-batchai and azure-mgmt-resource clients."""

import time

import azure.mgmt.batchai.models as models
import pytest
import requests
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceNotFoundError

from batchai_kit.local.arm.timing import Timings

from .waiting import wait_for

RG, WS, EXP = "rg", "ws", "exp"



def make_workspace(batchai, resources):
    """The resource group, workspace and experiment the tests work in."""
    resources.resource_groups.create_or_update(RG, {"location": "eastus"})
    batchai.workspaces.begin_create(RG, WS, models.WorkspaceCreateParameters(location="eastus")).result()
    batchai.experiments.begin_create(RG, WS, EXP).result()
    return WS


@pytest.fixture
def workspace(batchai, resources):
    return make_workspace(batchai, resources)


def cluster_params(nodes=1, **kwargs):
    return models.ClusterCreateParameters(
        vm_size="STANDARD_NC6",
        scale_settings=models.ScaleSettings(manual=models.ManualScaleSettings(target_node_count=nodes)),
        user_account_settings=models.UserAccountSettings(admin_user_name="demo", admin_user_password="Secret-pw1"),
        **kwargs)


def job_params(cluster_id, **kwargs):
    kwargs.setdefault("custom_toolkit_settings", models.CustomToolkitSettings(command_line="echo hi"))
    return models.JobCreateParameters(cluster=models.ResourceId(id=cluster_id), node_count=1,
                                      std_out_err_path_prefix="$AZ_BATCHAI_MOUNT_ROOT/afs", **kwargs)


# -- resource groups ------------------------------------------------------------------------------


def test_resource_group_create_get_exists_list(resources):
    created = resources.resource_groups.create_or_update("group1", {"location": "East US", "tags": {"a": "1"}})
    assert created.name == "group1" and created.location == "eastus" and created.tags == {"a": "1"}
    assert created.properties.provisioning_state == "Succeeded"
    assert resources.resource_groups.get("GROUP1").id.endswith("/resourceGroups/group1")
    assert resources.resource_groups.check_existence("group1") is True
    assert resources.resource_groups.check_existence("other") is False
    assert [g.name for g in resources.resource_groups.list()] == ["group1"]


def test_resource_group_get_missing_is_resource_group_not_found(resources):
    with pytest.raises(ResourceNotFoundError) as caught:
        resources.resource_groups.get("missing")
    assert caught.value.error.code == "ResourceGroupNotFound"


def test_resource_group_list_pages_with_top(emu, resources):
    for index in range(5):
        resources.resource_groups.create_or_update(f"g{index}", {"location": "eastus"})
    pages = list(resources.resource_groups.list(top=2).by_page())
    assert [len(list(page)) for page in pages] == [2, 2, 1]


def test_resource_group_delete_removes_everything_in_it(batchai, resources, workspace):
    cluster = batchai.clusters.begin_create(RG, WS, "c1", cluster_params()).result()
    batchai.jobs.begin_create(RG, WS, EXP, "j1", job_params(cluster.id)).result()
    resources.resource_groups.begin_delete(RG, polling_interval=0.01).result()
    assert resources.resource_groups.check_existence(RG) is False
    assert list(batchai.workspaces.list()) == []


# -- workspaces and experiments ---------------------------------------------------------------------


def test_workspace_create_answers_200_with_full_body(emu, resources):
    resources.resource_groups.create_or_update(RG, {"location": "eastus"})
    response = requests.put(
        f"{emu.info.arm_endpoint}/subscriptions/{emu.info.subscription_id}/resourceGroups/{RG}/providers/"
        f"Microsoft.BatchAI/workspaces/{WS}?api-version=2018-05-01",
        json={"location": "eastus"}, verify=str(emu.info.ca_cert),
        headers={"Authorization": f"Bearer {emu.info.token}"})
    assert response.status_code == 200
    body = response.json()
    assert body["properties"]["provisioningState"] == "succeeded"
    assert body["location"] == "eastus" and body["type"] == "Microsoft.BatchAI/workspaces"
    assert response.headers["ETag"]


def test_workspace_update_tags_get_list_delete(batchai, workspace):
    updated = batchai.workspaces.update(RG, WS, models.WorkspaceUpdateParameters(tags={"team": "ml"}))
    assert updated.tags == {"team": "ml"}
    assert batchai.workspaces.get(RG, WS).tags == {"team": "ml"}
    assert [w.name for w in batchai.workspaces.list()] == [WS]
    assert [w.name for w in batchai.workspaces.list_by_resource_group(RG)] == [WS]
    batchai.workspaces.begin_delete(RG, WS).result()
    with pytest.raises(ResourceNotFoundError) as caught:
        batchai.workspaces.get(RG, WS)
    assert caught.value.error.code == "WorkspaceNotFound"


def test_workspace_in_missing_resource_group_is_404(batchai):
    with pytest.raises(ResourceNotFoundError) as caught:
        batchai.workspaces.begin_create("nogroup", WS, models.WorkspaceCreateParameters(location="eastus")).result()
    assert caught.value.error.code == "ResourceGroupNotFound"


def test_experiment_get_list_delete(batchai, workspace):
    assert batchai.experiments.get(RG, WS, EXP).provisioning_state == "succeeded"
    assert [e.name for e in batchai.experiments.list_by_workspace(RG, WS)] == [EXP]
    batchai.experiments.begin_delete(RG, WS, EXP).result()
    with pytest.raises(ResourceNotFoundError) as caught:
        batchai.experiments.get(RG, WS, EXP)
    assert caught.value.error.code == "ExperimentNotFound"
    assert caught.value.error.message == f"The specified experiment {EXP} is not found"


def test_list_pages_past_maxresults(batchai, workspace):
    for index in range(7):
        batchai.experiments.begin_create(RG, WS, f"e{index}").result()
    options = models.ExperimentsListByWorkspaceOptions(max_results=3)
    pages = [list(p) for p in batchai.experiments.list_by_workspace(RG, WS, options).by_page()]
    assert [len(p) for p in pages] == [3, 3, 2]
    assert sorted(e.name for p in pages for e in p) == sorted([EXP] + [f"e{i}" for i in range(7)])


# -- clusters -------------------------------------------------------------------------------------------


def test_cluster_create_hides_secrets_and_reaches_steady(batchai, workspace):
    cluster = batchai.clusters.begin_create(RG, WS, "c1", cluster_params(nodes=2)).result()
    assert cluster.provisioning_state == "succeeded"
    assert cluster.user_account_settings.admin_user_password is None
    assert cluster.virtual_machine_configuration.image_reference.offer == "UbuntuServer"
    cluster = wait_for(lambda: batchai.clusters.get(RG, WS, "c1"),
                       lambda c: c.allocation_state == "steady" and c.node_state_counts.idle_node_count == 2)
    assert cluster.current_node_count == 2
    logins = list(batchai.clusters.list_remote_login_information(RG, WS, "c1"))
    assert [(login.ip_address, login.port) for login in logins] == [("127.0.0.1", 50001), ("127.0.0.1", 50002)]


def test_cluster_first_get_after_create_is_resizing_with_zero_nodes(emulator_factory):
    emu = emulator_factory(timings=Timings(cluster_allocation=60))
    batchai = emu.batchai_client()
    make_workspace(batchai, emu.resource_client())
    cluster = batchai.clusters.begin_create(RG, WS, "c1", cluster_params()).result()
    assert (cluster.provisioning_state, cluster.allocation_state, cluster.current_node_count) == \
        ("succeeded", "resizing", 0)


def test_cluster_update_scale_settings_resizes(batchai, workspace):
    batchai.clusters.begin_create(RG, WS, "c1", cluster_params(nodes=1)).result()
    scale = models.ScaleSettings(manual=models.ManualScaleSettings(target_node_count=3))
    updated = batchai.clusters.update(RG, WS, "c1", models.ClusterUpdateParameters(scale_settings=scale))
    assert updated.scale_settings.manual.target_node_count == 3
    wait_for(lambda: batchai.clusters.get(RG, WS, "c1"), lambda c: c.current_node_count == 3
             and c.allocation_state == "steady")
    batchai.clusters.update(RG, WS, "c1", models.ClusterUpdateParameters(scale_settings=models.ScaleSettings(
        manual=models.ManualScaleSettings(target_node_count=0))))
    wait_for(lambda: batchai.clusters.get(RG, WS, "c1"), lambda c: c.current_node_count == 0)


def test_cluster_put_with_other_vm_size_is_refused(batchai, workspace):
    batchai.clusters.begin_create(RG, WS, "c1", cluster_params()).result()
    changed = cluster_params()
    changed.vm_size = "STANDARD_NC12"
    with pytest.raises(HttpResponseError) as caught:
        batchai.clusters.begin_create(RG, WS, "c1", changed).result()
    assert caught.value.status_code == 409
    assert caught.value.error.code == "PropertyChangeNotAllowed"
    assert "vmSize" in caught.value.error.message


def test_cluster_put_with_same_spec_is_idempotent(batchai, workspace):
    first = batchai.clusters.begin_create(RG, WS, "c1", cluster_params()).result()
    again = batchai.clusters.begin_create(RG, WS, "c1", cluster_params()).result()
    assert again.creation_time == first.creation_time


def test_cluster_in_missing_workspace_is_workspace_not_found(batchai, resources):
    resources.resource_groups.create_or_update(RG, {"location": "eastus"})
    with pytest.raises(ResourceNotFoundError) as caught:
        batchai.clusters.begin_create(RG, "nows", "c1", cluster_params()).result()
    assert caught.value.error.code == "WorkspaceNotFound"


def test_cluster_delete_and_list(batchai, workspace):
    batchai.clusters.begin_create(RG, WS, "c1", cluster_params()).result()
    batchai.clusters.begin_create(RG, WS, "c2", cluster_params()).result()
    assert [c.name for c in batchai.clusters.list_by_workspace(RG, WS)] == ["c1", "c2"]
    batchai.clusters.begin_delete(RG, WS, "c1").result()
    assert [c.name for c in batchai.clusters.list_by_workspace(RG, WS)] == ["c2"]
    with pytest.raises(ResourceNotFoundError) as caught:
        batchai.clusters.get(RG, WS, "c1")
    assert caught.value.error.code == "ClusterNotFound"


def test_cluster_invalid_name_is_400_naming_the_property(emu, batchai, workspace):
    response = requests.put(
        f"{emu.info.arm_endpoint}/subscriptions/{emu.info.subscription_id}/resourceGroups/{RG}/providers/"
        f"Microsoft.BatchAI/workspaces/{WS}/clusters/{'x' * 65}?api-version=2018-05-01",
        json={"properties": {"vmSize": "STANDARD_NC6", "userAccountSettings": {"adminUserName": "u",
                                                                               "adminUserPassword": "p"}}},
        verify=str(emu.info.ca_cert), headers={"Authorization": f"Bearer {emu.info.token}"})
    assert response.status_code == 400
    assert "clusterName" in response.json()["error"]["message"]


def test_cluster_missing_vm_size_is_400(batchai, workspace):
    params = cluster_params()
    params.vm_size = None
    with pytest.raises(HttpResponseError) as caught:
        batchai.clusters.begin_create(RG, WS, "c1", params).result()
    assert caught.value.status_code == 400
    assert "vmSize" in caught.value.error.message


# -- jobs ----------------------------------------------------------------------------------------------


def test_job_without_node_runner_fails_honestly(emulator_factory):
    emu = emulator_factory(run_nodes=False)
    batchai = emu.batchai_client()
    make_workspace(batchai, emu.resource_client())
    cluster = batchai.clusters.begin_create(RG, WS, "c1", cluster_params()).result()
    batchai.jobs.begin_create(RG, WS, EXP, "j1", job_params(cluster.id)).result()
    job = wait_for(lambda: batchai.jobs.get(RG, WS, EXP, "j1"), lambda j: j.execution_state == "failed")
    assert job.execution_info.errors[0].code == "JobRunnerUnavailable"
    assert job.job_output_directory_path_segment.startswith(f"{batchai._config.subscription_id}/{RG}/workspaces/"
                                                            f"{WS}/experiments/{EXP}/jobs/j1/")


def test_job_on_missing_cluster_is_refused(batchai, workspace):
    missing = f"/subscriptions/{batchai._config.subscription_id}/resourceGroups/{RG}/providers/Microsoft.BatchAI/" \
              f"workspaces/{WS}/clusters/nothere"
    with pytest.raises(HttpResponseError) as caught:
        batchai.jobs.begin_create(RG, WS, EXP, "j1", job_params(missing)).result()
    assert caught.value.status_code == 400
    assert caught.value.error.code == "ClusterNotFound"


def test_job_secrets_never_come_back(batchai, workspace):
    cluster = batchai.clusters.begin_create(RG, WS, "c1", cluster_params()).result()
    params = job_params(cluster.id, secrets=[models.EnvironmentVariableWithSecretValue(name="TOKEN", value="s3cr3t")])
    batchai.jobs.begin_create(RG, WS, EXP, "j1", params).result()
    job = batchai.jobs.get(RG, WS, EXP, "j1")
    assert [s.name for s in job.secrets] == ["TOKEN"] and job.secrets[0].value is None


def test_job_queued_until_nodes_exist_then_terminate(emulator_factory):
    emu = emulator_factory(timings=Timings(cluster_allocation=60))
    batchai = emu.batchai_client()
    make_workspace(batchai, emu.resource_client())
    cluster = batchai.clusters.begin_create(RG, WS, "c1", cluster_params()).result()
    batchai.jobs.begin_create(RG, WS, EXP, "j1", job_params(cluster.id)).result()
    assert batchai.jobs.get(RG, WS, EXP, "j1").execution_state == "queued"
    batchai.jobs.begin_terminate(RG, WS, EXP, "j1").result()
    job = batchai.jobs.get(RG, WS, EXP, "j1")
    assert job.execution_state == "failed" and job.execution_info.errors[0].code == "JobTerminated"


def test_terminate_finished_job_answers_200(emu, batchai, workspace):
    cluster = batchai.clusters.begin_create(RG, WS, "c1", cluster_params()).result()
    batchai.jobs.begin_create(RG, WS, EXP, "j1", job_params(cluster.id)).result()
    wait_for(lambda: batchai.jobs.get(RG, WS, EXP, "j1"), lambda j: j.execution_state in ("succeeded", "failed"))
    response = requests.post(
        f"{emu.info.arm_endpoint}/subscriptions/{emu.info.subscription_id}/resourceGroups/{RG}/providers/"
        f"Microsoft.BatchAI/workspaces/{WS}/experiments/{EXP}/jobs/j1/terminate?api-version=2018-05-01",
        verify=str(emu.info.ca_cert), headers={"Authorization": f"Bearer {emu.info.token}"})
    assert response.status_code == 200 and response.content == b""


def test_job_list_delete_output_files_and_remote_login(batchai, workspace):
    # A cluster of zero nodes keeps the job queued for as long as the test needs: no race.
    cluster = batchai.clusters.begin_create(RG, WS, "c1", cluster_params(nodes=0)).result()
    batchai.jobs.begin_create(RG, WS, EXP, "j1", job_params(cluster.id)).result()
    assert batchai.jobs.get(RG, WS, EXP, "j1").execution_state == "queued"
    assert [j.name for j in batchai.jobs.list_by_experiment(RG, WS, EXP)] == ["j1"]
    options = models.JobsListOutputFilesOptions(outputdirectoryid="stdouterr")
    assert list(batchai.jobs.list_output_files(RG, WS, EXP, "j1", options)) == []
    assert list(batchai.jobs.list_remote_login_information(RG, WS, EXP, "j1")) == []
    batchai.jobs.begin_delete(RG, WS, EXP, "j1").result()
    with pytest.raises(ResourceNotFoundError) as caught:
        batchai.jobs.get(RG, WS, EXP, "j1")
    assert caught.value.error.message == "The specified job j1 is not found"


def test_list_output_files_with_unknown_directory_id_is_400(batchai, workspace):
    cluster = batchai.clusters.begin_create(RG, WS, "c1", cluster_params()).result()
    batchai.jobs.begin_create(RG, WS, EXP, "j1", job_params(cluster.id)).result()
    options = models.JobsListOutputFilesOptions(outputdirectoryid="NOPE")
    with pytest.raises(HttpResponseError) as caught:
        list(batchai.jobs.list_output_files(RG, WS, EXP, "j1", options))
    assert caught.value.status_code == 400


# -- file servers, usages, operations --------------------------------------------------------------------


def test_file_server_provisions_and_deletes(emu, batchai, workspace):
    params = models.FileServerCreateParameters(
        vm_size="STANDARD_NC6",
        ssh_configuration=models.SshConfiguration(user_account_settings=models.UserAccountSettings(
            admin_user_name="demo", admin_user_password="Secret-pw1")),
        data_disks=models.DataDisks(disk_size_in_gb=10, disk_count=2, storage_account_type="Standard_LRS"))
    server = batchai.file_servers.begin_create(RG, WS, "fs1", params).result()
    assert server.provisioning_state == "succeeded"
    assert server.mount_settings.file_server_public_ip == "127.0.0.1"
    assert server.id.endswith("/fileservers/fs1") and server.type == "Microsoft.BatchAI/workspaces/fileservers"
    assert server.ssh_configuration.user_account_settings.admin_user_password is None
    assert [s.name for s in batchai.file_servers.list_by_workspace(RG, WS)] == ["fs1"]
    # azure-mgmt-batchai 7.0.0 has no file server delete; the spec does: send it raw.
    response = requests.delete(f"{emu.info.arm_endpoint}{server.id}?api-version=2018-05-01",
                               verify=str(emu.info.ca_cert), headers={"Authorization": f"Bearer {emu.info.token}"})
    assert response.status_code == 202 and "operationresults" in response.headers["Azure-AsyncOperation"]
    wait_for(lambda: list(batchai.file_servers.list_by_workspace(RG, WS)), lambda servers: servers == [])


def test_usages_count_cluster_cores(batchai, workspace):
    batchai.clusters.begin_create(RG, WS, "c1", cluster_params(nodes=2)).result()
    wait_for(lambda: batchai.clusters.get(RG, WS, "c1"), lambda c: c.current_node_count == 2)
    usage = {u.name.value: u.current_value for u in batchai.usages.list("eastus")}
    assert usage["Clusters"] == 1
    assert usage["Standard NC Family Cluster Dedicated vCPUs"] == 12


def test_operations_list_names_the_provider_operations(batchai):
    names = {o.name for o in batchai.operations.list()}
    assert "Microsoft.BatchAI/workspaces/read" in names


# -- authentication, subscription, api-version ---------------------------------------------------------


def test_missing_token_is_401(emu):
    response = requests.get(f"{emu.info.arm_endpoint}/subscriptions/{emu.info.subscription_id}/providers/"
                            "Microsoft.BatchAI/workspaces?api-version=2018-05-01", verify=str(emu.info.ca_cert))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "AuthenticationFailed"


def test_unknown_token_is_401_through_the_sdk(emu):
    from azure.core.credentials import AccessToken
    from azure.mgmt.batchai import BatchAI

    class Forged:
        def get_token(self, *scopes, **kwargs):
            return AccessToken("forged-token", int(time.time()) + 3600)

    client = BatchAI(Forged(), emu.info.subscription_id, base_url=emu.info.arm_endpoint,
                     connection_verify=str(emu.info.ca_cert))
    with pytest.raises(ClientAuthenticationError) as caught:
        list(client.workspaces.list())
    assert caught.value.error.code == "InvalidAuthenticationToken"


def test_unknown_subscription_is_subscription_not_found(emu):
    from azure.mgmt.batchai import BatchAI

    client = BatchAI(emu.credential(), "00000000-0000-0000-0000-000000000000", base_url=emu.info.arm_endpoint,
                     connection_verify=str(emu.info.ca_cert))
    with pytest.raises(ResourceNotFoundError) as caught:
        list(client.workspaces.list())
    assert caught.value.error.code == "SubscriptionNotFound"


@pytest.mark.parametrize("query, code", [("", "MissingApiVersionParameter"),
                                         ("?api-version=2018-03-01", "NoRegisteredProviderFound")])
def test_unsupported_api_version_is_rejected_as_arm_does(emu, query, code):
    response = requests.get(f"{emu.info.arm_endpoint}/subscriptions/{emu.info.subscription_id}/providers/"
                            f"Microsoft.BatchAI/workspaces{query}", verify=str(emu.info.ca_cert),
                            headers={"Authorization": f"Bearer {emu.info.token}"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code


# -- persistence ------------------------------------------------------------------------------------------


@pytest.mark.fresh_signing_keys  # the old token works after the restart: the key was kept, not shared
def test_restart_with_same_data_dir_keeps_every_resource(tmp_path):
    from batchai_kit.local.emulator import emulator

    data = tmp_path / "state"
    with emulator(data, timings=Timings.instant()) as first:
        batchai = first.batchai_client()
        make_workspace(batchai, first.resource_client())
        batchai.clusters.begin_create(RG, WS, "c1", cluster_params()).result()
        subscription = first.info.subscription_id
        token = first.info.token
    with emulator(data, timings=Timings.instant()) as second:
        assert second.info.subscription_id == subscription
        response = requests.get(f"{second.info.arm_endpoint}/subscriptions/{subscription}/resourcegroups"
                                "?api-version=2021-04-01", verify=str(second.info.ca_cert),
                                headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200  # same signing key, same tenant: the old token still works
        batchai = second.batchai_client()
        assert batchai.clusters.get(RG, WS, "c1").vm_size == "STANDARD_NC6"
        assert [e.name for e in batchai.experiments.list_by_workspace(RG, WS)] == [EXP]
