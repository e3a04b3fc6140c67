"""What the emulated Batch AI control plane accepts and refuses before it changes anything.

Bodies are built the way users build them: with the azure-mgmt-batchai 7.0.0 models, serialized
by the SDK's own serializer (client-side validation off, so the service's rules are what is
tested). No HTTP, but for the last test, which checks over HTTP that what is ignored is not kept.
An accepted body is checked for what the service keeps of it (``validate_request`` returns it).
"""

from __future__ import annotations

import copy
import datetime
import json
from pathlib import Path
from typing import Any

import pytest
from azure.mgmt.batchai import models
from msrest import Serializer

from batchai_kit.local.arm.validation import RequestInvalid, validate_query, validate_request

REFERENCE = Path(__file__).resolve().parents[1] / "reference"
SPEC = json.loads(
    (Path(__file__).resolve().parents[2] / "batchai_kit/local/spec/BatchAI.json").read_text())

CLUSTER_ID = ("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/"
              "Microsoft.BatchAI/workspaces/ws/clusters/cluster")
FILE_SERVER_ID = ("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/"
                  "providers/Microsoft.BatchAI/workspaces/ws/fileservers/nfs")
NAMES = {"resourceGroupName": "rg", "workspaceName": "ws", "experimentName": "exp",
         "jobName": "job", "clusterName": "cluster", "fileServerName": "nfs"}

_serializer = Serializer({k: v for k, v in vars(models).items() if isinstance(v, type)})
_serializer.client_side_validation = False


def wire(model: Any) -> dict:
    """The JSON body the SDK sends for ``model``."""
    return _serializer.body(model, type(model).__name__)


def a_job(**overrides: Any) -> dict:
    settings = dict(cluster=models.ResourceId(id=CLUSTER_ID), node_count=1,
                    std_out_err_path_prefix="$AZ_BATCHAI_MOUNT_ROOT/afs",
                    custom_toolkit_settings=models.CustomToolkitSettings(command_line="true"))
    settings.update(overrides)
    return wire(models.JobCreateParameters(**settings))


def a_cluster(**overrides: Any) -> dict:
    settings = dict(
        vm_size="STANDARD_NC6",
        scale_settings=models.ScaleSettings(manual=models.ManualScaleSettings(target_node_count=1)),
        user_account_settings=models.UserAccountSettings(admin_user_name="me",
                                                         admin_user_password="s3cret!"))
    settings.update(overrides)
    return wire(models.ClusterCreateParameters(**settings))


def a_file_server(**overrides: Any) -> dict:
    settings = dict(
        vm_size="STANDARD_D2_V2",
        ssh_configuration=models.SshConfiguration(user_account_settings=models.UserAccountSettings(
            admin_user_name="me", admin_user_ssh_public_key="ssh-rsa AAAA")),
        data_disks=models.DataDisks(disk_size_in_gb=10, disk_count=2,
                                    storage_account_type="Standard_LRS"))
    settings.update(overrides)
    return wire(models.FileServerCreateParameters(**settings))


def a_share(**overrides: Any) -> models.MountVolumes:
    settings = dict(account_name="a", azure_file_url="https://a.file.core.windows.net/s",
                    relative_mount_path="afs",
                    credentials=models.AzureStorageCredentialsInfo(account_key="k"))
    settings.update(overrides)
    return models.MountVolumes(azure_file_shares=[models.AzureFileShareReference(**settings)])


def changed(body: dict, path: str, value: Any) -> dict:
    """A copy of ``body`` with the property at the dotted ``path`` set, or removed if ``...``."""
    body = copy.deepcopy(body)
    *parents, leaf = path.split(".")
    node = body
    for name in parents:
        node = node[int(name)] if isinstance(node, list) else node[name]
    if value is ...:
        del node[leaf]
    else:
        node[leaf] = value
    return body


def refusal(operation_id: str, body: Any = None, **names: str) -> RequestInvalid:
    with pytest.raises(RequestInvalid) as caught:
        validate_request(operation_id, {**NAMES, **names}, body)
    return caught.value


def kept(operation_id: str, body: Any = None, **names: str) -> Any:
    """What the service keeps of an accepted request's body (None for an operation without one)."""
    return validate_request(operation_id, {**NAMES, **names}, body)


def accepted_as_sent(operation_id: str, body: Any, **names: str) -> None:
    """The request is accepted, and the service keeps all of its body: nothing refused or dropped."""
    sent = copy.deepcopy(body)
    assert kept(operation_id, body, **names) == sent
    assert body == sent  # validation never changes the request it reads


def spec_examples() -> list:
    found = []
    for path_item in SPEC["paths"].values():
        for operation in path_item.values():
            for example in operation.get("x-ms-examples", {}).values():
                found.append(pytest.param(operation["operationId"], example["$ref"],
                                          id=operation["operationId"]))
    return found


# --- What is accepted ---------------------------------------------------------------------------


@pytest.mark.parametrize("operation_id, example", spec_examples())
def test_every_request_of_the_spec_examples_is_accepted(operation_id, example):
    parameters = json.loads((REFERENCE / example).read_text())["parameters"]
    names = {k: v for k, v in parameters.items() if k != "parameters"}
    body = parameters.get("parameters")
    expected = None if operation_id == "Experiments_Create" or body is None else body  # Experiments_Create takes none
    assert validate_request(operation_id, names, body) == expected
    assert validate_query(operation_id, names)["api-version"] == "2018-05-01"


TOOLKITS = {
    "cntk_settings": models.CNTKsettings(language_type="Python", python_script_file_path="a.py"),
    "py_torch_settings": models.PyTorchSettings(python_script_file_path="a.py",
                                                communication_backend="Gloo"),
    "tensor_flow_settings": models.TensorFlowSettings(python_script_file_path="a.py",
                                                      worker_count=2, parameter_server_count=1),
    "caffe_settings": models.CaffeSettings(config_file_path="solver.prototxt"),
    "caffe2_settings": models.Caffe2Settings(python_script_file_path="a.py"),
    "chainer_settings": models.ChainerSettings(python_script_file_path="a.py"),
    "custom_toolkit_settings": models.CustomToolkitSettings(command_line="true"),
    "custom_mpi_settings": models.CustomMpiSettings(command_line="true", process_count=2),
    "horovod_settings": models.HorovodSettings(python_script_file_path="a.py"),
}


@pytest.mark.parametrize("toolkit", TOOLKITS)
def test_a_job_with_any_one_toolkit_is_accepted(toolkit):
    body = a_job(**{"custom_toolkit_settings": None, toolkit: TOOLKITS[toolkit]})
    accepted_as_sent("Jobs_Create", body)
    assert [name for name in body["properties"] if name.endswith("Settings")] == [
        {"cntk_settings": "cntkSettings", "py_torch_settings": "pyTorchSettings",
         "tensor_flow_settings": "tensorFlowSettings", "caffe_settings": "caffeSettings",
         "caffe2_settings": "caffe2Settings", "chainer_settings": "chainerSettings",
         "custom_toolkit_settings": "customToolkitSettings", "custom_mpi_settings": "customMpiSettings",
         "horovod_settings": "horovodSettings"}[toolkit]]


def test_a_job_using_every_optional_part_is_accepted():
    accepted_as_sent("Jobs_Create", a_job(
        node_count=2, scheduling_priority="high",
        cntk_settings=models.CNTKsettings(language_type="BrainScript", config_file_path="a.cntk",
                                          process_count=2),
        custom_toolkit_settings=None,
        container_settings=models.ContainerSettings(
            image_source_registry=models.ImageSourceRegistry(
                image="microsoft/cntk", server_url="r.io",
                credentials=models.PrivateRegistryCredentials(username="u", password="p")),
            shm_size="2g"),
        mount_volumes=models.MountVolumes(
            azure_file_shares=[models.AzureFileShareReference(
                account_name="acct", azure_file_url="https://127.0.0.1:8443/acct/share",
                credentials=models.AzureStorageCredentialsInfo(account_key="a2V5"),
                relative_mount_path="afs", file_mode="0755")],
            file_servers=[models.FileServerReference(
                file_server=models.ResourceId(id=FILE_SERVER_ID), relative_mount_path="nfs")]),
        job_preparation=models.JobPreparation(command_line="pip install x"),
        input_directories=[models.InputDirectory(id="SAMPLE",
                                                 path="$AZ_BATCHAI_JOB_MOUNT_ROOT/afs")],
        output_directories=[models.OutputDirectory(
            id="MODEL", path_prefix="$AZ_BATCHAI_JOB_MOUNT_ROOT/afs", path_suffix="Models")],
        environment_variables=[models.EnvironmentVariable(name="EPOCHS", value="3")],
        secrets=[models.EnvironmentVariableWithSecretValue(name="TOKEN", value="t")],
        constraints=models.JobBasePropertiesConstraints(
            max_wall_clock_time=datetime.timedelta(hours=2))))


def test_a_cluster_using_every_optional_part_is_accepted():
    accepted_as_sent("Clusters_Create", a_cluster(
        vm_priority="lowpriority",
        scale_settings=models.ScaleSettings(auto_scale=models.AutoScaleSettings(
            minimum_node_count=0, maximum_node_count=4, initial_node_count=1)),
        virtual_machine_configuration=models.VirtualMachineConfiguration(
            image_reference=models.ImageReference(
                publisher="microsoft-ads", offer="linux-data-science-vm-ubuntu",
                sku="linuxdsvmubuntu")),
        node_setup=models.NodeSetup(setup_task=models.SetupTask(
            command_line="echo hi", std_out_err_path_prefix="$AZ_BATCHAI_MOUNT_ROOT/afs",
            environment_variables=[models.EnvironmentVariable(name="A", value="1")]))))


def test_a_file_server_is_accepted():
    accepted_as_sent("FileServers_Create", a_file_server())


def test_workspace_creation_and_update_are_accepted():
    accepted_as_sent("Workspaces_Create", {"location": "eastus", "tags": {"team": "vision"}})
    accepted_as_sent("Workspaces_Update", {"tags": {}})


def test_a_cluster_resize_is_accepted():
    accepted_as_sent("Clusters_Update", wire(models.ClusterUpdateParameters(
        scale_settings=models.ScaleSettings(
            manual=models.ManualScaleSettings(target_node_count=0)))))


@pytest.mark.parametrize("path, value", [
    ("properties.vmPriority", "LowPriority"),
    ("properties.scaleSettings.manual.nodeDeallocationOption", "WaitForJobCompletion"),
])
def test_enum_values_are_accepted_in_any_case(path, value):
    accepted_as_sent("Clusters_Create", changed(a_cluster(), path, value))
    assert refusal("Clusters_Create", changed(a_cluster(), path, value + "s")).code == "InvalidPropertyValue"


def test_readonly_properties_sent_by_a_client_are_ignored():
    body = a_cluster(node_setup=models.NodeSetup(setup_task=models.SetupTask(
        command_line="true", std_out_err_path_prefix="$AZ_BATCHAI_MOUNT_ROOT/afs")))
    # 42 is no string: a writable property would be refused for it (see the wrong-type tests)
    sent = changed(body, "properties.nodeSetup.setupTask.stdOutErrPathSuffix", 42)
    assert kept("Clusters_Create", sent) == body


def test_unknown_properties_are_ignored():
    sent = changed(changed(a_cluster(), "properties.colour", {"any": "thing"}), "shape", "round")
    assert kept("Clusters_Create", sent) == a_cluster()


def test_a_body_sent_to_an_operation_without_one_is_ignored():
    assert kept("Experiments_Create", {"properties": {"anything": 1}}) is None


@pytest.mark.parametrize("limit", ["P7D", "PT1H30M", "7.00:00:00", "02:00:00"])
def test_max_wall_clock_time_is_an_iso_duration_or_a_timespan(limit):
    accepted_as_sent("Jobs_Create", changed(a_job(), "properties.constraints", {"maxWallClockTime": limit}))
    refused = changed(a_job(), "properties.constraints", {"maxWallClockTime": limit + "x"})
    assert refusal("Jobs_Create", refused).target == "properties.constraints.maxWallClockTime"


# --- Names in the URL ---------------------------------------------------------------------------

NAMED = [("Workspaces_Create", "workspaceName"), ("Experiments_Create", "experimentName"),
         ("Jobs_Create", "jobName"), ("Clusters_Create", "clusterName"),
         ("FileServers_Create", "fileServerName")]


@pytest.mark.parametrize("operation_id, parameter", NAMED)
@pytest.mark.parametrize("bad", ["x" * 65, "my job", "job!", "a/b", "demo.name"])
def test_a_bad_resource_name_is_refused_naming_the_parameter_and_the_value(
        operation_id, parameter, bad):
    error = refusal(operation_id, None, **{parameter: bad})
    assert (error.status, error.code, error.target) == (400, "InvalidResourceName", parameter)
    assert bad in error.message and parameter in error.message


@pytest.mark.parametrize("bad", ["my group", "rg!", "a/b"])
def test_a_bad_resource_group_name_is_refused(bad):
    error = refusal("Workspaces_Get", resourceGroupName=bad)
    assert (error.code, error.target) == ("InvalidResourceName", "resourceGroupName")


def test_a_resource_group_name_may_contain_dots():
    assert kept("Workspaces_Get", resourceGroupName="batchai.quickstart") is None  # accepted: no 400
    assert refusal("Workspaces_Get", resourceGroupName="batchai quickstart").target == "resourceGroupName"


@pytest.mark.parametrize("operation_id, parameter", NAMED)
def test_an_empty_resource_name_is_refused(operation_id, parameter):
    assert refusal(operation_id, None, **{parameter: ""}).code == "InvalidResourceName"


@pytest.mark.parametrize("operation_id, parameter", [
    ("Workspaces_Get", "workspaceName"), ("Experiments_Get", "experimentName"),
    ("Jobs_Get", "jobName"), ("Clusters_Get", "clusterName"),
    ("FileServers_Get", "fileServerName")])
def test_a_name_of_64_word_characters_dashes_and_underscores_is_accepted(operation_id, parameter):
    assert kept(operation_id, **{parameter: "a-b_c" + "9" * 59}) is None  # accepted: no 400
    assert refusal(operation_id, **{parameter: "a-b_c" + "9" * 60}).target == parameter  # one more is not


def test_a_name_ending_in_a_newline_is_refused():
    assert refusal("Jobs_Get", jobName="job\n").code == "InvalidResourceName"


def test_a_bad_location_is_refused_as_an_invalid_parameter():
    error = refusal("Usages_List", location="east us")
    assert (error.code, error.target) == ("InvalidParameter", "location")


# --- Bodies: shape -------------------------------------------------------------------------------


@pytest.mark.parametrize("operation_id, body, path", [
    ("Clusters_Create", a_cluster(), "properties.vmSize"),
    ("Clusters_Create", a_cluster(), "properties.userAccountSettings"),
    ("Clusters_Create", a_cluster(), "properties.userAccountSettings.adminUserName"),
    ("Clusters_Create", a_cluster(), "properties.scaleSettings.manual.targetNodeCount"),
    ("Clusters_Create", a_cluster(), "properties"),
    ("Jobs_Create", a_job(), "properties.cluster"),
    ("Jobs_Create", a_job(), "properties.cluster.id"),
    ("Jobs_Create", a_job(), "properties.nodeCount"),
    ("Jobs_Create", a_job(), "properties.stdOutErrPathPrefix"),
    ("FileServers_Create", a_file_server(), "properties.dataDisks"),
    ("FileServers_Create", a_file_server(), "properties.dataDisks.diskCount"),
    ("FileServers_Create", a_file_server(), "properties.sshConfiguration.userAccountSettings"),
    ("Workspaces_Create", {"location": "eastus"}, "location"),
])
def test_a_missing_required_property_is_refused_naming_its_path(operation_id, body, path):
    error = refusal(operation_id, changed(body, path, ...))
    assert (error.code, error.target) == ("MissingRequiredProperty", path)
    assert path in error.message


def test_a_required_property_sent_as_null_is_missing():
    error = refusal("Clusters_Create", changed(a_cluster(), "properties.vmSize", None))
    assert (error.code, error.target) == ("MissingRequiredProperty", "properties.vmSize")


def test_a_missing_property_inside_a_list_is_named_with_its_index():
    body = a_job(input_directories=[models.InputDirectory(id="A", path="p"),
                                    models.InputDirectory(id="B", path="q")])
    error = refusal("Jobs_Create", changed(body, "properties.inputDirectories.1.path", ...))
    assert error.target == "properties.inputDirectories[1].path"


def test_an_empty_required_string_is_refused():
    error = refusal("Clusters_Create", changed(a_cluster(), "properties.vmSize", ""))
    assert (error.code, error.target) == ("InvalidPropertyValue", "properties.vmSize")


def test_a_missing_body_is_refused():
    assert refusal("Clusters_Create", None).code == "InvalidRequestContent"


@pytest.mark.parametrize("value", ["two", True, 2.5, 2**31, [1], {"n": 1}])
def test_a_value_of_the_wrong_type_is_refused_naming_the_path_and_the_value(value):
    error = refusal("Jobs_Create", changed(a_job(), "properties.nodeCount", value))
    assert (error.code, error.target) == ("InvalidRequestContent", "properties.nodeCount")
    assert "properties.nodeCount" in error.message
    if not isinstance(value, (list, dict)):
        assert json.dumps(value) in error.message


def test_an_integral_float_is_an_integer():
    assert kept("Jobs_Create", changed(a_job(), "properties.nodeCount", 2.0))["properties"]["nodeCount"] == 2


def test_a_body_that_is_not_an_object_is_refused():
    assert refusal("Workspaces_Create", ["eastus"]).code == "InvalidRequestContent"


def test_a_tag_value_must_be_a_string():
    error = refusal("Workspaces_Update", {"tags": {"team": 7}})
    assert (error.code, error.target) == ("InvalidRequestContent", "tags.team")


@pytest.mark.parametrize("operation_id, body, path, value", [
    ("Clusters_Create", a_cluster(), "properties.vmPriority", "spot"),
    ("Clusters_Create", a_cluster(), "properties.scaleSettings.manual.nodeDeallocationOption",
     "later"),
    ("Jobs_Create", a_job(), "properties.schedulingPriority", "urgent"),
    ("FileServers_Create", a_file_server(), "properties.dataDisks.cachingType", "sometimes"),
    ("FileServers_Create", a_file_server(), "properties.dataDisks.storageAccountType", "Ultra_LRS"),
])
def test_a_value_outside_its_enum_is_refused(operation_id, body, path, value):
    error = refusal(operation_id, changed(body, path, value))
    assert (error.code, error.target) == ("InvalidPropertyValue", path)
    assert value in error.message and path in error.message


@pytest.mark.parametrize("operation_id, body, path, value", [
    ("Clusters_Create", a_cluster(), "properties.scaleSettings.manual.targetNodeCount", -1),
    ("Jobs_Create", a_job(), "properties.nodeCount", 0),
    ("Jobs_Create", a_job(custom_toolkit_settings=None,
                          custom_mpi_settings=models.CustomMpiSettings(command_line="true")),
     "properties.customMpiSettings.processCount", 0),
    ("FileServers_Create", a_file_server(), "properties.dataDisks.diskCount", 0),
    ("FileServers_Create", a_file_server(), "properties.dataDisks.diskCount", 65),
    ("FileServers_Create", a_file_server(), "properties.dataDisks.diskSizeInGB", 0),
    ("FileServers_Create", a_file_server(), "properties.dataDisks.diskSizeInGB", 4096),
])
def test_a_number_out_of_range_is_refused_naming_the_path_and_the_value(
        operation_id, body, path, value):
    error = refusal(operation_id, changed(body, path, value))
    assert (error.code, error.target) == ("InvalidPropertyValue", path)
    assert f"value {value} " in error.message


# --- Bodies: rules the spec states in prose ----------------------------------------------------


def test_a_job_without_a_toolkit_is_refused():
    error = refusal("Jobs_Create", a_job(custom_toolkit_settings=None))
    assert (error.code, error.target) == ("MissingRequiredProperty", "properties")
    assert "exactly one toolkit" in error.message


def test_a_job_with_two_toolkits_is_refused_naming_both():
    error = refusal("Jobs_Create", a_job(cntk_settings=TOOLKITS["cntk_settings"]))
    assert error.code == "InvalidPropertyValue"
    assert "properties.cntkSettings" in error.message
    assert "properties.customToolkitSettings" in error.message


def test_manual_and_auto_scale_together_are_refused():
    body = changed(a_cluster(), "properties.scaleSettings.autoScale",
                   {"minimumNodeCount": 0, "maximumNodeCount": 2})
    error = refusal("Clusters_Create", body)
    assert error.code == "InvalidPropertyValue"
    assert error.target == "properties.scaleSettings.autoScale"


def test_scale_settings_without_manual_or_auto_scale_are_refused():
    error = refusal("Clusters_Update", {"properties": {"scaleSettings": {}}})
    assert error.code == "MissingRequiredProperty"
    assert error.target == "properties.scaleSettings.manual"


def auto_scale(low: int, high: int, initial: int | None = None) -> dict:
    return a_cluster(scale_settings=models.ScaleSettings(auto_scale=models.AutoScaleSettings(
        minimum_node_count=low, maximum_node_count=high, initial_node_count=initial)))


def test_auto_scale_with_minimum_above_maximum_is_refused():
    error = refusal("Clusters_Create", auto_scale(5, 2))
    assert error.target == "properties.scaleSettings.autoScale.minimumNodeCount"
    assert "5" in error.message and "maximumNodeCount (2)" in error.message


@pytest.mark.parametrize("initial", [1, 9])
def test_auto_scale_initial_node_count_outside_minimum_and_maximum_is_refused(initial):
    error = refusal("Clusters_Create", auto_scale(2, 8, initial))
    assert error.target == "properties.scaleSettings.autoScale.initialNodeCount"


@pytest.mark.parametrize("operation_id, body, path", [
    ("Clusters_Create", a_cluster(), "properties.userAccountSettings"),
    ("FileServers_Create", a_file_server(), "properties.sshConfiguration.userAccountSettings"),
])
def test_an_admin_account_without_password_or_ssh_key_is_refused(operation_id, body, path):
    account = {"adminUserName": "me"}
    error = refusal(operation_id, changed(body, path, account))
    assert (error.code, error.target) == ("MissingRequiredProperty", f"{path}.adminUserPassword")
    assert "adminUserSshPublicKey" in error.message


@pytest.mark.parametrize("settings, path", [
    ({"languageType": "Python"}, "pythonScriptFilePath"),
    ({"pythonScriptFilePath": "a.py", "configFilePath": "a.cntk"}, "configFilePath"),
    ({"languageType": "BrainScript"}, "configFilePath"),
    ({"languageType": "brainscript", "configFilePath": "a", "pythonScriptFilePath": "a.py"},
     "pythonScriptFilePath"),
    ({"languageType": "Lua", "pythonScriptFilePath": "a.py"}, "languageType"),
])
def test_cntk_settings_must_match_their_language(settings, path):
    body = changed(a_job(custom_toolkit_settings=None), "properties.cntkSettings", settings)
    assert refusal("Jobs_Create", body).target == f"properties.cntkSettings.{path}"


@pytest.mark.parametrize("settings", [{}, {"configFilePath": "s", "pythonScriptFilePath": "a.py"},
                                      {"configFilePath": "s", "pythonInterpreterPath": "/py"}])
def test_caffe_runs_exactly_one_of_a_config_file_or_a_python_script(settings):
    body = changed(a_job(custom_toolkit_settings=None), "properties.caffeSettings", settings)
    assert refusal("Jobs_Create", body).target.startswith("properties.caffeSettings.")


def test_pytorch_communication_backend_is_tcp_gloo_or_mpi():
    body = a_job(custom_toolkit_settings=None, py_torch_settings=models.PyTorchSettings(
        python_script_file_path="a.py", communication_backend="nccl"))
    assert refusal("Jobs_Create", body).target == "properties.pyTorchSettings.communicationBackend"


def test_tensorflow_parameter_servers_cannot_outnumber_the_nodes():
    body = a_job(node_count=1, custom_toolkit_settings=None,
                 tensor_flow_settings=models.TensorFlowSettings(python_script_file_path="a.py",
                                                                parameter_server_count=2))
    error = refusal("Jobs_Create", body)
    assert error.target == "properties.tensorFlowSettings.parameterServerCount"


@pytest.mark.parametrize("kind, model, extra", [
    ("input_directories", models.InputDirectory, {"path": "p"}),
    ("output_directories", models.OutputDirectory, {"path_prefix": "p"}),
])
def test_directory_ids_must_be_unique(kind, model, extra):
    body = a_job(**{kind: [model(id="DATA", **extra), model(id="DATA", **extra)]})
    error = refusal("Jobs_Create", body)
    assert error.code == "InvalidPropertyValue"
    assert error.target.endswith("[1].id") and "DATA" in error.message


@pytest.mark.parametrize("bad_id", ["my-input", "in put", "données"])
def test_a_directory_id_must_fit_an_environment_variable_name(bad_id):
    body = a_job(input_directories=[models.InputDirectory(id=bad_id, path="p")])
    error = refusal("Jobs_Create", body)
    assert (error.target, bad_id in error.message) == ("properties.inputDirectories[0].id", True)


def test_environment_variable_names_must_be_valid():
    body = a_job(environment_variables=[models.EnvironmentVariable(name="1ST", value="x")])
    assert refusal("Jobs_Create", body).target == "properties.environmentVariables[0].name"


def test_an_environment_variable_and_a_secret_cannot_share_a_name():
    body = a_job(environment_variables=[models.EnvironmentVariable(name="TOKEN", value="x")],
                 secrets=[models.EnvironmentVariableWithSecretValue(name="TOKEN", value="y")])
    assert refusal("Jobs_Create", body).target == "properties.secrets[0].name"


def test_a_secret_is_a_value_or_a_key_vault_reference_not_neither():
    body = a_job(secrets=[models.EnvironmentVariableWithSecretValue(name="TOKEN")])
    assert refusal("Jobs_Create", body).code == "MissingRequiredProperty"


def test_storage_credentials_are_a_key_or_a_reference_not_both():
    reference = models.KeyVaultSecretReference(source_vault=models.ResourceId(id="/v"),
                                               secret_url="u")
    body = a_job(mount_volumes=a_share(credentials=models.AzureStorageCredentialsInfo(
        account_key="k", account_key_secret_reference=reference)))
    error = refusal("Jobs_Create", body)
    assert error.target == ("properties.mountVolumes.azureFileShares[0].credentials"
                            ".accountKeySecretReference")


def test_secret_values_are_never_echoed_in_a_message():
    body = changed(a_cluster(), "properties.userAccountSettings.adminUserPassword", 271828)
    error = refusal("Clusters_Create", body)
    assert error.code == "InvalidRequestContent" and "271828" not in error.message


@pytest.mark.parametrize("size", ["STANDARD_A0", "Standard_DS2_v2", "STANDARD_GS1"])
def test_a_vm_size_batch_ai_does_not_support_is_refused(size):
    error = refusal("Clusters_Create", changed(a_cluster(), "properties.vmSize", size))
    assert (error.code, error.target) == ("InvalidPropertyValue", "properties.vmSize")
    assert size in error.message and "not a supported VM size" in error.message


def test_a_job_cluster_must_be_a_cluster_resource_id():
    error = refusal("Jobs_Create", changed(a_job(), "properties.cluster.id", "cluster"))
    assert error.target == "properties.cluster.id"


@pytest.mark.parametrize("limit", ["forever", "PT0S", "P"])
def test_a_max_wall_clock_time_that_is_not_a_positive_duration_is_refused(limit):
    body = changed(a_job(), "properties.constraints", {"maxWallClockTime": limit})
    assert refusal("Jobs_Create", body).target == "properties.constraints.maxWallClockTime"


@pytest.mark.parametrize("mounts", [["/abs"], ["../up"], ["afs", "afs"]])
def test_mount_paths_are_relative_and_unique(mounts):
    body = a_cluster(node_setup=models.NodeSetup(mount_volumes=models.MountVolumes(
        unmanaged_file_systems=[models.UnmanagedFileSystemReference(mount_command="mount x",
                                                                    relative_mount_path=m)
                                for m in mounts])))
    error = refusal("Clusters_Create", body)
    assert error.target.endswith(f"unmanagedFileSystems[{len(mounts) - 1}].relativeMountPath")


def test_a_file_mode_must_be_octal():
    body = a_job(mount_volumes=a_share(file_mode="rwx"))
    assert refusal("Jobs_Create", body).target.endswith("azureFileShares[0].fileMode")


def test_at_most_400_ssh_ip_ranges_are_allowed():
    body = changed(a_file_server(), "properties.sshConfiguration.publicIPsToAllow", ["*"] * 401)
    error = refusal("FileServers_Create", body)
    assert error.target == "properties.sshConfiguration.publicIPsToAllow"


def test_the_error_body_has_the_arm_shape():
    error = refusal("Jobs_Create", changed(a_job(), "properties.nodeCount", 0))
    assert error.body() == {"error": {"code": "InvalidPropertyValue", "message": error.message,
                                      "target": "properties.nodeCount"}}


def test_an_unknown_operation_is_a_programming_error():
    with pytest.raises(ValueError, match="Jobs_Frobnicate"):
        validate_request("Jobs_Frobnicate", {}, None)


# --- Query parameters ----------------------------------------------------------------------------

LIST_FILES = {"api-version": "2018-05-01", "outputdirectoryid": "MODEL"}


def query_refusal(operation_id: str, query: dict) -> RequestInvalid:
    with pytest.raises(RequestInvalid) as caught:
        validate_query(operation_id, query)
    return caught.value


def test_list_output_files_query_is_typed_and_defaulted():
    assert validate_query("Jobs_ListOutputFiles", LIST_FILES) == {
        "api-version": "2018-05-01", "outputdirectoryid": "MODEL", "directory": ".",
        "linkexpiryinminutes": 60, "maxresults": 1000}


def test_query_values_are_converted_to_integers_and_names_compare_in_any_case():
    query = {**LIST_FILES, "MaxResults": "10", "linkexpiryinminutes": "5", "directory": "logs"}
    typed = validate_query("Jobs_ListOutputFiles", query)
    assert typed["maxresults"] == 10
    assert (typed["linkexpiryinminutes"], typed["directory"]) == (5, "logs")


def test_list_output_files_without_an_output_directory_id_is_refused():
    error = query_refusal("Jobs_ListOutputFiles", {"api-version": "2018-05-01"})
    assert (error.status, error.code, error.target) == (
        400, "MissingRequiredQueryParameter", "outputdirectoryid")


@pytest.mark.parametrize("operation_id", ["Jobs_ListOutputFiles", "Clusters_ListByWorkspace",
                                          "Workspaces_List"])
@pytest.mark.parametrize("value", ["0", "1001", "ten"])
def test_maxresults_outside_1_to_1000_is_refused(operation_id, value):
    error = query_refusal(operation_id, {**LIST_FILES, "maxresults": value})
    assert (error.code, error.target) == ("InvalidQueryParameterValue", "maxresults")
    assert value in error.message


@pytest.mark.parametrize("value", ["4", "601"])
def test_link_expiry_outside_5_to_600_minutes_is_refused(value):
    error = query_refusal("Jobs_ListOutputFiles", {**LIST_FILES, "linkexpiryinminutes": value})
    assert (error.code, error.target) == ("InvalidQueryParameterValue", "linkexpiryinminutes")


def test_the_api_version_is_required():
    assert query_refusal("Workspaces_Get", {}).code == "MissingApiVersionParameter"


def test_another_api_version_is_refused():
    error = query_refusal("Workspaces_Get", {"api-version": "2017-09-01-preview"})
    assert (error.code, error.target) == ("NoRegisteredProviderFound", "api-version")


# --- What the service keeps ------------------------------------------------------------------------


def test_what_is_ignored_is_not_stored_or_answered(emu):
    """Over HTTP: a cluster PUT with a readOnly and an unknown property answers, and later reads,
    without them (the service computes stdOutErrPathSuffix itself, and so does the emulator)."""
    import requests

    base = f"{emu.info.arm_endpoint}/subscriptions/{emu.info.subscription_id}/resourceGroups/rg"
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {emu.info.token}"
    session.verify = str(emu.info.ca_cert)
    session.trust_env = False
    assert session.put(f"{base}?api-version=2025-04-01", json={"location": "eastus"}).ok
    workspace = f"{base}/providers/Microsoft.BatchAI/workspaces/ws"
    assert session.put(f"{workspace}?api-version=2018-05-01", json={"location": "eastus"}).ok
    body = a_cluster(node_setup=models.NodeSetup(setup_task=models.SetupTask(
        command_line="true", std_out_err_path_prefix="$AZ_BATCHAI_MOUNT_ROOT/afs")))
    sent = changed(changed(body, "properties.nodeSetup.setupTask.stdOutErrPathSuffix", "mine"),
                   "properties.colour", "blue")
    created = session.put(f"{workspace}/clusters/c1?api-version=2018-05-01", json=sent)
    assert created.status_code in (200, 201, 202)
    answered = session.get(f"{workspace}/clusters/c1?api-version=2018-05-01").json()["properties"]
    assert "colour" not in answered
    task = answered["nodeSetup"]["setupTask"]
    assert {k: v for k, v in task.items() if k != "stdOutErrPathSuffix"} == {
        "commandLine": "true", "stdOutErrPathPrefix": "$AZ_BATCHAI_MOUNT_ROOT/afs"}
    assert task["stdOutErrPathSuffix"] != "mine"
    assert task["stdOutErrPathSuffix"].startswith(f"{emu.info.subscription_id}/rg/workspaces/ws/clusters/c1/")
