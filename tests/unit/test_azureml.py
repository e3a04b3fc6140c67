"""Porting to Azure ML: every toolkit's job and the quickstart export to YAML that azure-ai-ml's
own loaders (load_compute, load_job, load_datastore) accept offline, with what has no
counterpart reported and no secret written. No network."""

from __future__ import annotations

import base64
import datetime
import json
import re
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

import batchai_kit as bk
from batchai_kit import Azure, StaticTokenCredential
from batchai_kit._journal import Journal
from batchai_kit._share import FileShare
from batchai_kit.cli import main
from batchai_kit.errors import ValidationError

# azure-ai-ml takes seconds to import: inside the tests that load YAML, and all of this module on
# one parallel worker (--dist loadgroup), so the other workers never import it.
pytestmark = pytest.mark.xdist_group("azureml")

REFERENCE = Path(__file__).resolve().parents[1] / "reference" / "examples"
SECRET = "s3cr3t-Value-42"
KEY = base64.b64encode(b"not-a-real-key-but-secret").decode("ascii")
AZURE = Azure(credential=StaticTokenCredential("not-a-real-token"),
              subscription_id="00000000-0000-0000-0000-000000000000", storage_account="myaccount", storage_key=KEY)
SHARE = FileShare(AZURE, "batchaiquickstart", mount_as="azurefileshare",
                  journal=Journal(Path(tempfile.gettempdir()) / "batchai_kit-test_azureml-unused.jsonl"))
CLUSTER = bk.ClusterSpec(vm_size="STANDARD_NC6", nodes=1, mounts=[SHARE])
QUICKSTART_JOB = bk.CntkJob(
    name="myjob", image="microsoft/cntk:2.1-gpu-python3.5-cuda8.0-cudnn6.0", stdouterr=SHARE.root,
    inputs={"SAMPLE": SHARE / "mnistcntksample"}, outputs={"MODEL": SHARE / "Models"},
    script="$AZ_BATCHAI_INPUT_SAMPLE/ConvNet_MNIST.py", args="$AZ_BATCHAI_INPUT_SAMPLE $AZ_BATCHAI_OUTPUT_MODEL")
_BINDING = re.compile(r"\$\{\{(inputs|outputs)\.([A-Za-z0-9_]+)\}\}")


def load_all(export: bk.AzureMLExport, directory: Path) -> dict:
    """Write the export and load every file with azure-ai-ml's own loader; checks the command's
    bindings too (the loader does not): each ${{inputs.X}} / ${{outputs.X}} is declared."""
    from azure.ai.ml import load_compute, load_datastore, load_job

    export.write(directory)
    loaded = {"compute": load_compute(directory / "compute.yml"), "job": load_job(directory / "job.yml"),
              "datastores": {name: load_datastore(directory / f"datastore-{name}.yml") for name in export.datastores}}
    job = export.job
    for kind, name in _BINDING.findall(job["command"] + json.dumps(job.get("environment_variables", {}))):
        assert name in job.get(kind, {}), f"{kind}.{name} is used but not declared"
    return loaded


def every_file(export: bk.AzureMLExport) -> str:
    return "\n".join(export.files().values()) + export.report()


def test_the_quickstart_exports_to_a_compute_a_datastore_and_a_command_job(tmp_path):
    export = bk.to_azureml(CLUSTER, QUICKSTART_JOB, compute_name="mycluster", experiment="quickstart")
    loaded = load_all(export, tmp_path)

    assert export.job["command"] == "python ${{inputs.SAMPLE}}/ConvNet_MNIST.py ${{inputs.SAMPLE}} ${{outputs.MODEL}}"
    assert export.job["inputs"] == {"SAMPLE": {"type": "uri_folder", "mode": "ro_mount",
                                               "path": "azureml://datastores/batchaiquickstart/paths/mnistcntksample/"}}
    assert export.job["outputs"]["MODEL"]["path"] == "azureml://datastores/batchaiquickstart/paths/Models/${{name}}/"
    assert export.job["environment"] == {"image": "microsoft/cntk:2.1-gpu-python3.5-cuda8.0-cudnn6.0"}
    assert export.job["compute"] == "azureml:mycluster" and export.job["experiment_name"] == "quickstart"
    assert export.job["resources"] == {"instance_count": 1} and "distribution" not in export.job
    assert export.job["limits"] == {"timeout": 7 * 24 * 3600}
    assert loaded["job"].limits.timeout == 7 * 24 * 3600
    compute = loaded["compute"]
    assert (compute.name, compute.size, compute.tier, compute.min_instances, compute.max_instances) == (
        "mycluster", "Standard_NC4as_T4_v3", "dedicated", 0, 1)
    store = loaded["datastores"]["batchaiquickstart"]
    assert (store.account_name, store.file_share_name) == ("myaccount", "batchaiquickstart")
    notes = " ".join(export.notes)
    assert "STANDARD_NC6 is retired" in notes and "stdOutErrPathPrefix" in notes
    assert export.commands[-1].startswith("az ml job create --file job.yml")
    assert [c.split()[2] for c in export.commands] == ["datastore", "compute", "job"]


def test_a_two_node_cntk_job_is_an_mpi_job_with_one_process_per_instance(tmp_path):
    job = bk.CntkJob(name="dist", node_count=2, process_count=2, stdouterr=SHARE.root,
                     inputs={"SAMPLE": SHARE / "mnistcntksample"}, outputs={"MODEL": SHARE / "Models"},
                     script="$AZ_BATCHAI_INPUT_SAMPLE/ConvNet_MNIST.py",
                     args="$AZ_BATCHAI_INPUT_SAMPLE $AZ_BATCHAI_OUTPUT_MODEL")
    cluster = bk.ClusterSpec(nodes=2, mounts=[SHARE])
    loaded = load_all(bk.to_azureml(cluster, job), tmp_path)
    assert loaded["job"].resources.instance_count == 2
    assert loaded["job"].distribution.type == "mpi"
    assert loaded["job"].distribution.process_count_per_instance == 1
    assert loaded["compute"].max_instances == 2


@pytest.mark.parametrize("job, expected", [
    (bk.PyTorchJob(name="pt", node_count=2, process_count=4, script="$AZ_BATCHAI_INPUT_CODE/train.py",
                   inputs={"CODE": SHARE / "code"}, stdouterr=SHARE.root),
     {"type": "pytorch", "process_count_per_instance": 2}),
    (bk.TensorFlowJob(name="tf", node_count=2, worker_count=2, ps_count=1,
                      script="$AZ_BATCHAI_INPUT_CODE/train.py", inputs={"CODE": SHARE / "code"}, stdouterr=SHARE.root),
     {"type": "tensorflow", "worker_count": 2, "parameter_server_count": 1}),
    (bk.ChainerJob(name="ch", node_count=2, process_count=2, script="$AZ_BATCHAI_INPUT_CODE/train.py",
                   inputs={"CODE": SHARE / "code"}, stdouterr=SHARE.root),
     {"type": "mpi", "process_count_per_instance": 1}),
    (bk.HorovodJob(name="hvd", node_count=2, process_count=4, script="$AZ_BATCHAI_INPUT_CODE/train.py",
                   inputs={"CODE": SHARE / "code"}, stdouterr=SHARE.root),
     {"type": "mpi", "process_count_per_instance": 2}),
    (bk.CustomMpiJob(name="mpi", node_count=2, process_count=2, command="python $AZ_BATCHAI_INPUT_CODE/a.py",
                     inputs={"CODE": SHARE / "code"}, stdouterr=SHARE.root),
     {"type": "mpi", "process_count_per_instance": 1}),
    (bk.CustomJob(name="custom", command="echo hi > $AZ_BATCHAI_OUTPUT_OUT/hi.txt", outputs={"OUT": SHARE / "out"},
                  stdouterr=SHARE.root), None),
    (bk.CntkJob(name="bs", config_file="$AZ_BATCHAI_INPUT_CODE/cnn.cntk", inputs={"CODE": SHARE / "code"},
                stdouterr=SHARE.root), None),
    (bk.CaffeJob(name="caffe", node_count=2, process_count=2, config_file="$AZ_BATCHAI_INPUT_CODE/solver.prototxt",
                 inputs={"CODE": SHARE / "code"}, stdouterr=SHARE.root),
     {"type": "mpi", "process_count_per_instance": 1}),
    (bk.Caffe2Job(name="caffe2", script="$AZ_BATCHAI_INPUT_CODE/train.py", inputs={"CODE": SHARE / "code"},
                  stdouterr=SHARE.root), None),
], ids=lambda value: getattr(value, "name", "") if isinstance(value, bk.JobSpec) else "")
def test_every_toolkit_exports_to_a_job_azure_ml_loads(tmp_path, job, expected):
    export = bk.to_azureml(bk.ClusterSpec(nodes=2, mounts=[SHARE]), job)
    loaded = load_all(export, tmp_path)
    assert export.job.get("distribution") == expected
    assert loaded["job"].resources.instance_count == job.node_count
    assert "$AZ_BATCHAI_" not in export.job["command"]


@pytest.mark.parametrize("settings, command", [
    ({"caffeSettings": {"configFilePath": "$AZ_BATCHAI_INPUT_CODE/solver.prototxt", "processCount": 2}},
     "caffe train --solver=${{inputs.CODE}}/solver.prototxt"),
    ({"caffe2Settings": {"pythonScriptFilePath": "$AZ_BATCHAI_INPUT_CODE/train.py", "commandLineArgs": "--x 1"}},
     "python ${{inputs.CODE}}/train.py --x 1"),
])
def test_toolkits_without_a_library_spec_export_from_their_json(tmp_path, settings, command):
    job = {"properties": {"nodeCount": 1, "inputDirectories": [{"id": "CODE", "path": "$AZ_BATCHAI_MOUNT_ROOT/afs/code"}],
                          **settings}}
    cluster = json.loads((REFERENCE / "PutCluster.json").read_text())["parameters"]["parameters"]
    cluster["properties"]["nodeSetup"]["mountVolumes"]["azureFileShares"][0]["relativeMountPath"] = "afs"
    export = bk.to_azureml(cluster, job)
    load_all(export, tmp_path)
    assert export.job["command"] == command


def test_microsofts_create_examples_export_and_load(tmp_path):
    job = json.loads((REFERENCE / "PutJob.json").read_text())["parameters"]["parameters"]
    cluster = json.loads((REFERENCE / "PutCluster.json").read_text())["parameters"]["parameters"]
    export = bk.to_azureml(cluster, job, experiment="demo_experiment")
    loaded = load_all(export, tmp_path)
    assert export.job["command"] == "echo hi | tee ${{outputs.OUTPUTS}}/hi.txt"
    assert loaded["compute"].name == "demo-cluster"  # demo_cluster breaks Azure ML's naming rule
    notes = " ".join(export.notes)
    assert "fileServers mount at 'nfs'" in notes  # an NFS file server has no datastore counterpart
    assert "admin password was not exported" in notes
    assert "admin_user_password" not in every_file(export) and "adminUserPassword" not in every_file(export)


def test_no_secret_reaches_any_file_and_each_is_named_in_the_notes(tmp_path):
    job = bk.CustomJob(name="s", command="python $AZ_BATCHAI_MOUNT_ROOT/azurefileshare/a.py", stdouterr=SHARE.root,
                       secrets={"API_TOKEN": SECRET}, env={"MODE": "fast"}, preparation="pip install x")
    cluster = bk.ClusterSpec(mounts=[SHARE], admin_user="me", admin_password=SECRET, setup_command="apt-get update",
                             setup_secrets={"SETUP_TOKEN": SECRET})
    export = bk.to_azureml(cluster, job)
    load_all(export, tmp_path)
    text = every_file(export) + "".join(p.read_text() for p in tmp_path.iterdir())
    assert SECRET not in text and KEY not in text
    notes = " ".join(export.notes)
    for name in ("API_TOKEN", "SETUP_TOKEN", "admin password", "Job preparation", "setup task"):
        assert name in notes
    assert export.job["environment_variables"] == {"MODE": "fast"}
    assert "ssh_settings" not in export.compute  # a password-only admin: no SSH key to carry over


def test_a_path_under_a_mount_root_becomes_an_input_for_its_share(tmp_path):
    job = bk.CustomJob(name="m", command="python $AZ_BATCHAI_MOUNT_ROOT/azurefileshare/scripts/a.py", stdouterr=SHARE.root)
    export = bk.to_azureml(CLUSTER, job)
    load_all(export, tmp_path)
    assert export.job["command"] == "python ${{inputs.batchaiquickstart_share}}/scripts/a.py"
    assert export.job["inputs"]["batchaiquickstart_share"]["path"] == "azureml://datastores/batchaiquickstart/paths/"


def test_node_variables_without_counterpart_are_named_and_kept(tmp_path):
    job = bk.CustomJob(name="t", command="cd $AZ_BATCHAI_JOB_TEMP && echo $AZ_BATCHAI_TASK_INDEX", stdouterr=SHARE.root)
    export = bk.to_azureml(CLUSTER, job)
    load_all(export, tmp_path)
    assert export.job["command"] == "cd $AZ_BATCHAI_JOB_TEMP && echo $AZ_BATCHAI_TASK_INDEX"
    notes = " ".join(export.notes)
    assert "$AZ_BATCHAI_JOB_TEMP has no Azure ML counterpart" in notes and "$RANK" in notes


def test_wall_clock_priority_and_auto_scale_carry_over(tmp_path):
    job = bk.CustomJob(name="w", command="true", stdouterr=SHARE.root, max_wall_clock=datetime.timedelta(hours=2))
    cluster = bk.ClusterSpec(vm_size="Standard_D2_v2", min_nodes=1, max_nodes=4, priority="lowpriority")
    export = bk.to_azureml(cluster, job)
    loaded = load_all(export, tmp_path)
    assert loaded["job"].limits.timeout == 7200
    compute = loaded["compute"]
    assert (compute.size, compute.tier, compute.min_instances, compute.max_instances) == (
        "Standard_D2_v2", "low_priority", 1, 4)
    assert any("Spot" in note for note in export.notes)
    assert not any("retired" in note for note in export.notes)


def test_a_json_duration_turns_into_seconds_and_a_bad_one_is_refused():
    body = {"properties": {"customToolkitSettings": {"commandLine": "true"}, "constraints": {"maxWallClockTime": "PT90M"}}}
    assert bk.to_azureml(None, body).job["limits"] == {"timeout": 5400}
    body["properties"]["constraints"]["maxWallClockTime"] = "soon"
    with pytest.raises(ValidationError, match="maxWallClockTime='soon'.*ISO 8601"):
        bk.to_azureml(None, body)


def test_uneven_process_counts_are_reported():
    body = {"properties": {"nodeCount": 2, "customMpiSettings": {"commandLine": "hostname", "processCount": 3}}}
    export = bk.to_azureml(None, body)
    assert export.job["distribution"] == {"type": "mpi", "process_count_per_instance": 2}
    assert any("processCount 3 is not a multiple of nodeCount 2" in note for note in export.notes)


@pytest.mark.parametrize("body, message", [
    ({"properties": {"customToolkitSettings": {"commandLine": "cat $AZ_BATCHAI_INPUT_DATA/x"}}},
     r"refers to \$AZ_BATCHAI_INPUT_DATA, but the job has no input directory 'DATA'"),
    ({"properties": {"customToolkitSettings": {"commandLine": "true"},
                     "outputDirectories": [{"id": "OUT", "pathPrefix": "/tmp/out"}]}},
     r"outputDirectories\[OUT\].pathPrefix='/tmp/out': must be on a file share"),
    ({"properties": {"customToolkitSettings": {"commandLine": "true"}, "cntkSettings": {"pythonScriptFilePath": "a"}}},
     "exactly one toolkit setting"),
    ({"properties": {"pyTorchSettings": {}}}, r"pyTorchSettings.pythonScriptFilePath=None: is required"),
    (["not", "an", "object"], "must be a spec object or a Batch AI JSON body"),
])
def test_a_job_that_cannot_be_ported_is_refused_naming_the_field(body, message):
    with pytest.raises(ValidationError, match=message):
        bk.to_azureml(None, body)


def test_the_cli_exports_batch_ai_json_files(tmp_path):
    job = json.loads((REFERENCE / "PutJob.json").read_text())["parameters"]["parameters"]
    cluster = json.loads((REFERENCE / "PutCluster.json").read_text())["parameters"]["parameters"]
    (tmp_path / "job.json").write_text(json.dumps(job))
    (tmp_path / "cluster.json").write_text(json.dumps(cluster))
    out = tmp_path / "aml"
    result = CliRunner().invoke(main, ["export", "azureml", "--job", str(tmp_path / "job.json"), "--cluster",
                                       str(tmp_path / "cluster.json"), "--out", str(out), "-g", "rg", "-w", "ml"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [
        "PORTING.md", "compute.yml", "datastore-azure_file_share_name.yml", "job.yml"]
    from azure.ai.ml import load_job

    assert load_job(out / "job.yml").compute == "demo-cluster"
    assert "az ml job create --file job.yml --resource-group rg --workspace-name ml --stream" in result.output
    assert "fileServers mount" in result.output


def test_the_cli_refuses_a_file_that_is_not_json_with_status_2(tmp_path):
    (tmp_path / "job.json").write_text("{ not json")
    result = CliRunner().invoke(main, ["export", "azureml", "--job", str(tmp_path / "job.json"), "--out",
                                       str(tmp_path / "aml")])
    assert result.exit_code == 2
    assert "must hold one JSON object" in result.output
    assert not (tmp_path / "aml").exists()


def test_the_quickstart_recipes_json_files_export_with_azs_placeholder_account_named(tmp_path):
    recipe = Path(__file__).resolve().parents[2] / "recipes" / "cntk_mnist"
    job = json.loads((recipe / "job.json").read_text())
    cluster = json.loads((recipe / "cluster.json").read_text())
    export = bk.to_azureml(cluster, job, experiment="quickstart")
    loaded = load_all(export, tmp_path)
    # the reference's accountName, not the lowercased host name of the URL
    assert loaded["datastores"]["batchaiquickstart"].account_name == "<AZURE_BATCHAI_STORAGE_ACCOUNT>"
    assert any("placeholder <AZURE_BATCHAI_STORAGE_ACCOUNT>" in note for note in export.notes)
    assert export.job["command"] == "python ${{inputs.SAMPLE}}/ConvNet_MNIST.py ${{inputs.SAMPLE}} ${{outputs.MODEL}}"
    assert "<AZURE_BATCHAI_STORAGE_KEY>" not in every_file(export)
