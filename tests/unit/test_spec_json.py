"""Batch AI's JSON specs -> the library's spec classes (``JobSpec.from_json``,
``ClusterSpec.from_json``) and back (``to_json``): every toolkit, every accepted shape, and a typed
error naming the JSON path and value for whatever is invalid or unsupported. No network."""

from __future__ import annotations

import base64
import datetime
import json
from pathlib import Path

import pytest

import batchai_kit as bk
from batchai_kit._spec_json import read_cluster, read_job

EXAMPLES = Path(__file__).resolve().parents[1] / "reference" / "examples"
KEY = base64.b64encode(b"not-a-real-key").decode("ascii")
AZURE = bk.Azure(credential=bk.StaticTokenCredential("not-a-real-token"),
                 subscription_id="00000000-0000-0000-0000-000000000000", storage_account="myaccount",
                 storage_key=KEY)
MOUNT = "$AZ_BATCHAI_MOUNT_ROOT/external"

# The shape of the Batch AI recipes' job.json files (az batchai job create -f job.json).
CNTK_RECIPE = {
    "$schema": "https://raw.githubusercontent.com/Azure/BatchAI/master/schemas/2018-05-01/job.json",
    "properties": {
        "nodeCount": 1,
        "cntkSettings": {"pythonScriptFilePath": "$AZ_BATCHAI_INPUT_SCRIPT/ConvNet_MNIST.py",
                         "commandLineArgs": "$AZ_BATCHAI_INPUT_DATASET $AZ_BATCHAI_OUTPUT_MODEL"},
        "stdOutErrPathPrefix": MOUNT,
        "inputDirectories": [{"id": "DATASET", "path": f"{MOUNT}/mnist"}, {"id": "SCRIPT", "path": f"{MOUNT}/code"}],
        "outputDirectories": [{"id": "MODEL", "pathPrefix": MOUNT, "pathSuffix": "Models"}],
        "containerSettings": {"imageSourceRegistry": {"image": "microsoft/cntk:2.1-gpu-python3.5-cuda8.0-cudnn6.0"}},
    },
}


def job(settings_key: str, settings: dict, **properties) -> dict:
    return {"properties": {"nodeCount": 1, "stdOutErrPathPrefix": MOUNT, settings_key: settings, **properties}}


def fails(error: type, path: str, source: dict, **kwargs) -> bk.ValidationError:
    with pytest.raises(error) as caught:
        bk.JobSpec.from_json(source, name="myjob", **kwargs)
    assert caught.value.field == path
    return caught.value


# --- every toolkit ---------------------------------------------------------------------------


def test_a_cntk_recipe_becomes_a_cntk_job_with_every_setting():
    spec = bk.JobSpec.from_json(CNTK_RECIPE, name="myjob")
    assert isinstance(spec, bk.CntkJob)
    assert spec.script == "$AZ_BATCHAI_INPUT_SCRIPT/ConvNet_MNIST.py"
    assert spec.args == "$AZ_BATCHAI_INPUT_DATASET $AZ_BATCHAI_OUTPUT_MODEL"
    assert spec.inputs == {"DATASET": f"{MOUNT}/mnist", "SCRIPT": f"{MOUNT}/code"}
    assert spec.outputs == {"MODEL": bk.OutputLocation(MOUNT, "Models")}
    assert spec.image == "microsoft/cntk:2.1-gpu-python3.5-cuda8.0-cudnn6.0"
    assert spec.stdouterr == MOUNT and spec.node_count == 1


@pytest.mark.parametrize("key, settings, cls, expected", [
    ("cntkSettings", {"configFilePath": "$AZ_BATCHAI_INPUT_CONFIG/ConvNet_MNIST.cntk", "commandLineArgs": "a=1",
                      "processCount": 2}, bk.CntkJob,
     {"language": "brainscript", "config_file": "$AZ_BATCHAI_INPUT_CONFIG/ConvNet_MNIST.cntk", "process_count": 2}),
    ("pyTorchSettings", {"pythonScriptFilePath": "t.py", "commandLineArgs": "--epochs 10",
                         "communicationBackend": "gloo", "processCount": 2}, bk.PyTorchJob,
     {"script": "t.py", "backend": "Gloo", "process_count": 2}),
    ("tensorFlowSettings", {"pythonScriptFilePath": "r.py", "masterCommandLineArgs": "--m",
                            "workerCommandLineArgs": "--w", "parameterServerCommandLineArgs": "--p",
                            "workerCount": 2, "parameterServerCount": 1}, bk.TensorFlowJob,
     {"master_args": "--m", "worker_args": "--w", "ps_args": "--p", "worker_count": 2, "ps_count": 1}),
    ("caffeSettings", {"configFilePath": "solver.prototxt", "processCount": 2}, bk.CaffeJob,
     {"config_file": "solver.prototxt", "script": None}),
    ("caffe2Settings", {"pythonScriptFilePath": "c2.py", "pythonInterpreterPath": "/usr/bin/python3"}, bk.Caffe2Job,
     {"script": "c2.py", "python_interpreter": "/usr/bin/python3"}),
    ("chainerSettings", {"pythonScriptFilePath": "c.py", "processCount": 2}, bk.ChainerJob, {"process_count": 2}),
    ("horovodSettings", {"pythonScriptFilePath": "h.py", "commandLineArgs": "x"}, bk.HorovodJob, {"args": "x"}),
    ("customToolkitSettings", {"commandLine": "echo hi"}, bk.CustomJob, {"command": "echo hi"}),
    ("customMpiSettings", {"commandLine": "hostname", "processCount": 4}, bk.CustomMpiJob,
     {"command": "hostname", "process_count": 4}),
])
def test_each_toolkit_setting_picks_its_spec_class_and_round_trips(key, settings, cls, expected):
    body = job(key, settings, nodeCount=2)
    spec = bk.JobSpec.from_json(body, name="myjob")
    assert type(spec) is cls
    for field, value in expected.items():
        assert getattr(spec, field) == value
    written = spec.to_json()
    assert bk.JobSpec.from_json(written, name="myjob") == spec
    assert set(written["properties"]) >= {key, "nodeCount", "stdOutErrPathPrefix"}


def test_every_common_setting_is_read_and_written_back():
    body = job("customToolkitSettings", {"commandLine": "env"},
               schedulingPriority="high", jobPreparation={"commandLine": "apt-get update"},
               environmentVariables=[{"name": "A", "value": "1"}], secrets=[{"name": "TOKEN", "value": "s3cr3t"}],
               constraints={"maxWallClockTime": "PT2H"},
               mountVolumes={"azureFileShares": [{"accountName": "other", "azureFileUrl":
                                                  "https://other.file.core.windows.net/data",
                                                  "credentials": {"accountKey": KEY}, "relativeMountPath": "data"}]})
    spec = bk.JobSpec.from_json(body, name="myjob")
    assert (spec.priority, spec.preparation, spec.env, spec.secrets) == ("high", "apt-get update", {"A": "1"},
                                                                         {"TOKEN": "s3cr3t"})
    assert spec.max_wall_clock == datetime.timedelta(hours=2)
    assert spec.mounts == (bk.ExternalShare("other", "https://other.file.core.windows.net/data", "data", KEY),)
    assert "s3cr3t" not in repr(spec) and KEY not in repr(spec)
    again = bk.JobSpec.from_json(spec.to_json(), name="myjob")
    assert again == spec


def test_from_json_on_a_subclass_checks_the_toolkit():
    with pytest.raises(bk.ValidationError, match="describes a CntkJob, not a PyTorchJob"):
        bk.PyTorchJob.from_json(CNTK_RECIPE, name="myjob")


# --- the shapes accepted ---------------------------------------------------------------------


def test_bare_properties_a_file_and_json_text_read_the_same(tmp_path):
    path = tmp_path / "job.json"
    path.write_text(json.dumps(CNTK_RECIPE))
    wrapped = bk.JobSpec.from_json(CNTK_RECIPE, name="myjob")
    assert bk.JobSpec.from_json(CNTK_RECIPE["properties"], name="myjob") == wrapped
    assert bk.JobSpec.from_json(path, name="myjob") == wrapped
    assert bk.JobSpec.from_json(json.dumps(CNTK_RECIPE), name="myjob") == wrapped


def test_the_rest_api_example_gives_the_name_and_cluster():
    spec, cluster = read_job(EXAMPLES / "PutJob.json")
    assert isinstance(spec, bk.CustomJob) and spec.name == "demo_job"
    assert cluster.endswith("/clusters/demo_cluster")
    assert spec.outputs == {"OUTPUTS": bk.OutputLocation("$AZ_BATCHAI_MOUNT_ROOT/azfiles/", "files")}


def test_a_job_as_get_returns_it_reads_with_its_read_only_fields_ignored():
    body = json.loads((EXAMPLES / "GetJob.json").read_text())["responses"]["200"]["body"]
    spec = bk.JobSpec.from_json(body)
    assert spec.name == "demo_job" and spec.max_wall_clock == datetime.timedelta(days=7)


def test_the_live_services_experiment_name_in_a_get_body_is_read_only():
    body = json.loads((EXAMPLES / "GetJob.json").read_text())["responses"]["200"]["body"]
    body["properties"]["experimentName"] = "demo_experiment"  # the live service's bodies carry it
    assert bk.JobSpec.from_json(body).name == "demo_job"


def test_a_job_flattened_as_az_prints_it_reads_too():
    body = json.loads((EXAMPLES / "GetJob.json").read_text())["responses"]["200"]["body"]
    flat = {key: value for key, value in body.items() if key != "properties"} | body["properties"]
    assert bk.JobSpec.from_json(flat) == bk.JobSpec.from_json(body)


def test_a_job_body_without_a_name_needs_one():
    with pytest.raises(bk.ValidationError, match="carries no name") as caught:
        bk.JobSpec.from_json(CNTK_RECIPE)
    assert caught.value.field == "name"


# --- errors: the JSON path and the value -------------------------------------------------------


def test_a_wrongly_typed_value_names_its_path():
    body = job("cntkSettings", {"pythonScriptFilePath": "a.py", "processCount": "2"})
    error = fails(bk.ValidationError, "properties.cntkSettings.processCount", body)
    assert error.value == "2" and "whole number" in error.rule


def test_a_rule_of_the_spec_is_reported_under_the_json_path():
    fails(bk.ValidationError, "properties.nodeCount", job("customToolkitSettings", {"commandLine": "x"},
                                                          nodeCount=0))
    fails(bk.ValidationError, "properties.cntkSettings.pythonScriptFilePath",
          job("cntkSettings", {"commandLineArgs": "x"}))
    fails(bk.ValidationError, "properties.schedulingPriority",
          job("customToolkitSettings", {"commandLine": "x"}, schedulingPriority="urgent"))


def test_an_unknown_key_is_refused_not_dropped():
    error = fails(bk.ValidationError, "properties.nodeCont", job("customToolkitSettings", {"commandLine": "x"},
                                                                 nodeCont=2))
    assert not isinstance(error, bk.UnsupportedSetting) and error.value == 2


@pytest.mark.parametrize("extra, path", [
    ({"mountVolumes": {"fileServers": [{"fileServer": {"id": "x"}, "relativeMountPath": "nfs"}]}},
     "properties.mountVolumes.fileServers"),
    ({"mountVolumes": {"azureBlobFileSystems": [{}]}}, "properties.mountVolumes.azureBlobFileSystems"),
    ({"containerSettings": {"imageSourceRegistry": {"image": "x", "serverUrl": "r.io"}}},
     "properties.containerSettings.imageSourceRegistry.serverUrl"),
    ({"containerSettings": {"imageSourceRegistry": {"image": "x"}, "shmSize": "1g"}},
     "properties.containerSettings.shmSize"),
    ({"secrets": [{"name": "A", "valueSecretReference": {"secretUrl": "https://v"}}]},
     "properties.secrets[0].valueSecretReference"),
    ({"location": "eastus"}, "properties.location"),
])
def test_what_batchai_kit_cannot_honour_is_an_unsupported_setting(extra, path):
    fails(bk.UnsupportedSetting, path, job("customToolkitSettings", {"commandLine": "x"}, **extra))


def test_no_toolkit_or_two_toolkits_is_an_error():
    fails(bk.ValidationError, "properties", {"properties": {"nodeCount": 1}})
    fails(bk.ValidationError, "properties.customMpiSettings",
          job("customToolkitSettings", {"commandLine": "x"}, customMpiSettings={"commandLine": "y"}))


def test_a_tooltype_that_contradicts_the_settings_is_an_error():
    fails(bk.ValidationError, "properties.toolType", job("customToolkitSettings", {"commandLine": "x"},
                                                         toolType="cntk"))


def test_a_secret_value_never_shows_in_the_error():
    body = job("customToolkitSettings", {"commandLine": "x"}, secrets=[{"name": "A", "value": 42}])
    error = fails(bk.ValidationError, "properties.secrets[0].value", body)
    assert "42" not in str(error)


def test_bad_json_text_and_a_missing_file_are_validation_errors(tmp_path):
    with pytest.raises(bk.ValidationError, match="not valid JSON"):
        bk.JobSpec.from_json("{not json", name="j")
    with pytest.raises(bk.ValidationError, match="cannot be read"):
        bk.JobSpec.from_json(tmp_path / "missing.json", name="j")


# --- shares: the connection's own, placeholders, other accounts ----------------------------------


def share_entry(url: str, **extra) -> dict:
    return {"azureFileUrl": url, "relativeMountPath": "external", **extra}


def cluster(*shares: dict, **properties) -> dict:
    return {"properties": {"vmSize": "STANDARD_NC6", "scaleSettings": {"manual": {"targetNodeCount": 1}},
                           "nodeSetup": {"mountVolumes": {"azureFileShares": list(shares)}}, **properties}}


def test_az_placeholders_mean_the_connections_own_storage_account():
    body = cluster(share_entry("https://<AZURE_BATCHAI_STORAGE_ACCOUNT>.file.core.windows.net/batchaisample",
                               accountName="<AZURE_BATCHAI_STORAGE_ACCOUNT>",
                               credentials={"accountKey": "<AZURE_BATCHAI_STORAGE_KEY>"}))
    spec = bk.ClusterSpec.from_json(body, azure=AZURE)
    (share,) = spec.mounts
    assert isinstance(share, bk.FileShare)
    assert (share.name, share.mount_as, share.url) == ("batchaisample", "external",
                                                        "https://myaccount.file.core.windows.net/batchaisample")


def test_placeholders_without_a_connection_are_an_error_naming_the_path():
    body = cluster(share_entry("https://<AZURE_BATCHAI_STORAGE_ACCOUNT>.file.core.windows.net/s"))
    with pytest.raises(bk.ValidationError, match="placeholder") as caught:
        bk.ClusterSpec.from_json(body)
    assert caught.value.field == "properties.nodeSetup.mountVolumes.azureFileShares[0].azureFileUrl"


def test_a_share_of_another_account_needs_its_key_and_mounts_as_given():
    url = "https://other.file.core.windows.net/data"
    with pytest.raises(bk.ValidationError, match="required for a share of another"):
        bk.ClusterSpec.from_json(cluster(share_entry(url)), azure=AZURE)
    spec = bk.ClusterSpec.from_json(cluster(share_entry(url, credentials={"accountKey": KEY}, fileMode="0755")),
                                    azure=AZURE)
    reference = spec.mounts[0].mount_reference()
    assert (reference.account_name, reference.azure_file_url, reference.file_mode) == ("other", url, "0755")


def test_a_mode_other_than_0777_on_an_own_share_is_unsupported():
    body = cluster(share_entry("https://myaccount.file.core.windows.net/myshare", fileMode="0700"))
    with pytest.raises(bk.UnsupportedSetting) as caught:
        bk.ClusterSpec.from_json(body, azure=AZURE)
    assert caught.value.field.endswith("azureFileShares[0].fileMode") and caught.value.value == "0700"


# --- clusters --------------------------------------------------------------------------------


def test_a_cluster_body_maps_every_setting_and_round_trips():
    body = cluster(share_entry("https://myaccount.file.core.windows.net/myshare"),
                   vmPriority="lowpriority",
                   virtualMachineConfiguration={"imageReference": {"publisher": "Canonical", "offer": "UbuntuServer",
                                                                   "sku": "16.04-LTS"}},
                   userAccountSettings={"adminUserName": "me", "adminUserPassword": "pa55word!"})
    body["properties"]["nodeSetup"]["setupTask"] = {
        "commandLine": "echo setup", "stdOutErrPathPrefix": MOUNT,
        "environmentVariables": [{"name": "A", "value": "1"}], "secrets": [{"name": "B", "value": "2"}]}
    spec = bk.ClusterSpec.from_json(body, azure=AZURE)
    assert (spec.vm_size, spec.priority, spec.target_nodes) == ("STANDARD_NC6", "lowpriority", 1)
    assert spec.image == ("Canonical", "UbuntuServer", "16.04-LTS", "latest")
    assert (spec.admin_user, spec.admin_password) == ("me", "pa55word!")
    assert (spec.setup_command, spec.setup_output, spec.setup_env, spec.setup_secrets) == (
        "echo setup", MOUNT, {"A": "1"}, {"B": "2"})
    assert "pa55word!" not in repr(spec)
    written = spec.to_json()
    assert bk.ClusterSpec.from_json(written, azure=AZURE).to_json() == written  # FileShares compare by identity
    assert written["properties"]["nodeSetup"]["mountVolumes"]["azureFileShares"][0]["azureFileUrl"] == \
        "https://myaccount.file.core.windows.net/myshare"


def test_auto_scale_is_read():
    body = {"vmSize": "STANDARD_D1", "scaleSettings": {"autoScale": {"minimumNodeCount": 0, "maximumNodeCount": 4,
                                                                     "initialNodeCount": 1}}}
    spec = bk.ClusterSpec.from_json(body)
    assert (spec.min_nodes, spec.max_nodes, spec.nodes, spec.autoscale) == (0, 4, 1, True)


@pytest.mark.parametrize("properties, path, error", [
    ({"vmSize": "huge"}, "properties.vmSize", bk.ValidationError),
    ({"scaleSettings": {"manual": {"targetNodeCount": 1, "nodeDeallocationOption": "unknown"}}},
     "properties.scaleSettings.manual.nodeDeallocationOption", bk.UnsupportedSetting),
    ({"subnet": {"id": "/x"}}, "properties.subnet", bk.UnsupportedSetting),
    ({"scaleSettings": {"manual": {"targetNodeCount": "1"}}}, "properties.scaleSettings.manual.targetNodeCount",
     bk.ValidationError),
    ({"virtualMachineConfiguration": {"imageReference": {"virtualMachineImageId": "/img", "publisher": "p",
                                                         "offer": "o", "sku": "s"}}},
     "properties.virtualMachineConfiguration.imageReference.virtualMachineImageId", bk.UnsupportedSetting),
])
def test_cluster_errors_name_the_json_path(properties, path, error):
    body = {"properties": {"vmSize": "STANDARD_NC6", **properties}}
    with pytest.raises(error) as caught:
        bk.ClusterSpec.from_json(body)
    assert caught.value.field == path


def test_the_put_cluster_example_names_its_cluster_and_refuses_its_nfs_mount():
    body = json.loads((EXAMPLES / "PutCluster.json").read_text())
    volumes = body["parameters"]["parameters"]["properties"]["nodeSetup"]["mountVolumes"]
    volumes["azureFileShares"][0]["accountName"] = "storageaccount"
    volumes["azureFileShares"][0]["azureFileUrl"] = "https://storageaccount.file.core.windows.net/share"
    accounts = body["parameters"]["parameters"]["properties"]["userAccountSettings"]
    placeholder, accounts["adminUserSshPublicKey"] = accounts["adminUserSshPublicKey"], "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIF7U3XpYV8CuLxI0A/kgrT+RhmA1qyKo5XReqE2t65kM demo@host"
    with pytest.raises(bk.UnsupportedSetting) as caught:
        read_cluster(body)
    assert caught.value.field == "parameters.parameters.properties.nodeSetup.mountVolumes.fileServers"
    del volumes["fileServers"]
    spec, name = read_cluster(body)
    assert name == "demo_cluster" and spec.admin_user == "admin_user_name"
    # the example's own key is a placeholder ("ssh-rsa AAAAB3NzaC1yc..."): no SSH key at all
    accounts["adminUserSshPublicKey"] = placeholder
    with pytest.raises(bk.ValidationError, match="adminUserSshPublicKey"):
        read_cluster(body)


def test_the_recipes_json_files_describe_the_quickstarts_job_and_cluster():
    from batchai_kit import quickstart

    recipe = Path(__file__).resolve().parents[2] / "recipes" / "cntk_mnist"
    job = bk.JobSpec.from_json(recipe / "job.json", name="mnist", azure=AZURE)
    cluster_spec = bk.ClusterSpec.from_json(recipe / "cluster.json", azure=AZURE)
    (share,) = cluster_spec.mounts
    assert (share.name, share.mount_as) == (quickstart.SHARE, quickstart.MOUNT)
    assert (cluster_spec.vm_size, cluster_spec.target_nodes) == ("STANDARD_NC6", 1)
    assert isinstance(job, bk.CntkJob) and job.image == quickstart.IMAGE
    assert job.inputs == {"SAMPLE": (share / quickstart.SAMPLE_DIR).mount_path}
    assert job.outputs == {"MODEL": bk.OutputLocation(share.root.mount_path, "Models")}
    assert job.stdouterr == share.root.mount_path
    assert job.script == "$AZ_BATCHAI_INPUT_SAMPLE/ConvNet_MNIST.py"


def test_a_bad_variable_name_is_reported_at_its_own_path():
    body = cluster(share_entry("https://myaccount.file.core.windows.net/myshare"))
    body["properties"]["nodeSetup"]["setupTask"] = {"commandLine": "true", "stdOutErrPathPrefix": MOUNT,
                                                    "secrets": [{"name": "1BAD", "value": "x"}]}
    with pytest.raises(bk.ValidationError) as caught:
        bk.ClusterSpec.from_json(body, azure=AZURE)
    assert caught.value.field == "properties.nodeSetup.setupTask.secrets[0].name"
    assert caught.value.value == "1BAD"


def test_an_auto_scale_range_upside_down_names_the_minimum():
    body = {"vmSize": "STANDARD_D1", "scaleSettings": {"autoScale": {"minimumNodeCount": 3, "maximumNodeCount": 1}}}
    with pytest.raises(bk.ValidationError) as caught:
        bk.ClusterSpec.from_json(body)
    assert caught.value.field == "scaleSettings.autoScale.minimumNodeCount"


def test_an_admin_name_without_a_credential_takes_the_configured_ones():
    spec = bk.ClusterSpec.from_json({"vmSize": "STANDARD_NC6", "userAccountSettings": {"adminUserName": "me"}})
    settings = spec.admin(bk.AdminUser("configured", password="Configured-pa55"))
    assert (settings.admin_user_name, settings.admin_user_password) == ("me", "Configured-pa55")
    with pytest.raises(bk.ValidationError, match="password or an SSH"):
        spec.admin(None)
