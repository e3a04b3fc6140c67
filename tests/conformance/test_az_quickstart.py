"""Microsoft's Batch AI quickstart, as its `az batchai` commands, against a running emulator.

The flow of the quickstart "Run a CNTK training job using the Azure CLI": resource group,
workspace, file share with the MNIST sample and script (through `az storage`), a one-node
STANDARD_NC6 cluster mounting the share (its key looked up by account name), an experiment, the
job created from a JSON file, wait, the output files listed and streamed, deletes.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "cntk_mnist"
GROUP, WORKSPACE, CLUSTER, EXPERIMENT, SHARE = "batchai.quickstart", "quickstart", "nc6", "quickstart", "batchaisample"
SCOPE = ["-g", GROUP, "-w", WORKSPACE]


def test_az_login_signed_in_as_the_emulators_service_principal(az, ready):
    account = az("account", "show")
    assert (account["id"], account["tenantId"]) == (ready["subscription_id"], ready["tenant_id"])
    assert account["user"] == {"name": ready["client_id"], "type": "servicePrincipal"}
    assert account["environmentName"] == "BatchAIKitLocal"


def test_az_gets_an_arm_token_from_the_emulator(az, ready):
    token = az("account", "get-access-token")
    assert token["tenant"] == ready["tenant_id"] and token["accessToken"].count(".") == 2


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample")
    subprocess.run([sys.executable, str(RECIPE / "prepare_data.py"), str(out), "--train-count", "2000",
                    "--test-count", "500"], check=True, capture_output=True)
    return out


def test_the_quickstart_flow_through_az_batchai(az, ready, sample, tmp_path):
    account = ready["storage_account"]
    az("group", "create", "-n", GROUP, "-l", "eastus")
    workspace = az("batchai", "workspace", "create", *SCOPE[:2], "-n", WORKSPACE, "-l", "eastus")
    assert workspace["provisioningState"] == "succeeded"

    az("storage", "share", "create", "-n", SHARE)
    az("storage", "directory", "create", "-s", SHARE, "-n", "mnistcntksample")
    for name in ("Train-28x28_cntk_text.txt", "Test-28x28_cntk_text.txt"):
        az("storage", "file", "upload", "-s", SHARE, "--source", str(sample / name), "-p", "mnistcntksample")
    az("storage", "file", "upload", "-s", SHARE, "--source", str(RECIPE / "ConvNet_MNIST.py"),
       "-p", "mnistcntksample")

    cluster = az("batchai", "cluster", "create", *SCOPE, "-n", CLUSTER, "-s", "STANDARD_NC6", "-t", "1",
                 "--user-name", "demo", "--password", "Quickstart-pw1", "--afs-name", SHARE,
                 "--afs-mount-path", "azurefileshare", "--storage-account-name", account)
    assert cluster["vmSize"] == "STANDARD_NC6"
    assert cluster["nodeSetup"]["mountVolumes"]["azureFileShares"][0]["accountName"] == account
    listed = az("batchai", "cluster", "list", *SCOPE)
    assert [c["name"] for c in listed] == [CLUSTER]

    az("batchai", "experiment", "create", *SCOPE, "-n", EXPERIMENT)
    spec = json.loads((RECIPE / "job.json").read_text())
    spec["properties"]["cntkSettings"]["commandLineArgs"] += " --epochs 1"
    job_file = tmp_path / "job.json"
    job_file.write_text(json.dumps(spec))
    job = az("batchai", "job", "create", *SCOPE, "-e", EXPERIMENT, "-n", "cntk_python_1", "-c", CLUSTER,
             "-f", str(job_file), "--storage-account-name", account)
    assert job["name"] == "cntk_python_1" and job["toolType"] == "cntk"
    az.run("batchai", "job", "wait", *SCOPE, "-e", EXPERIMENT, "-n", "cntk_python_1")
    job = az("batchai", "job", "show", *SCOPE, "-e", EXPERIMENT, "-n", "cntk_python_1")
    assert job["executionState"] == "succeeded", job.get("executionInfo")

    files = az("batchai", "job", "file", "list", *SCOPE, "-e", EXPERIMENT, "-j", "cntk_python_1",
               "-d", "stdouterr")
    assert {"stdout.txt", "stderr.txt"} <= {f["name"] for f in files}
    stream = az.run("batchai", "job", "file", "stream", *SCOPE, "-e", EXPERIMENT, "-j", "cntk_python_1",
                    "-d", "stdouterr", "-f", "stdout.txt")
    assert "Epoch 1/1" in stream.stdout
    models = az("batchai", "job", "file", "list", *SCOPE, "-e", EXPERIMENT, "-j", "cntk_python_1", "-d", "MODEL")
    assert [f["name"] for f in models] == ["ConvNet_MNIST.dnn"]

    az.run("batchai", "job", "delete", *SCOPE, "-e", EXPERIMENT, "-n", "cntk_python_1", "-y")
    az.run("batchai", "cluster", "delete", *SCOPE, "-n", CLUSTER, "-y")
    assert az("batchai", "cluster", "list", *SCOPE) == []
    az.run("group", "delete", "-n", GROUP, "-y")
    assert GROUP not in [g["name"] for g in az("group", "list")]
