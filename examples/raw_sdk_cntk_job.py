"""A CNTK job through the raw Azure SDKs (no batchai_kit resources) against a running emulator.

    .venv/bin/batchai-kit emulator --ready-file emulator.json &
    .venv/bin/python examples/raw_sdk_cntk_job.py emulator.json

Shows that the unmodified azure-mgmt-resource, azure-mgmt-batchai and azure-storage-file
clients drive the emulator: a file share with a tiny CNTK script, a one-node cluster mounting
it, a CNTK job (the quickstart's image maps to the CNTK runtime), its state polled, its stdout
listed and downloaded through the SAS link, then everything deleted.
"""

import json
import sys
import time

import azure.mgmt.batchai.models as models
import requests
from azure.core.credentials import AccessToken
from azure.mgmt.batchai import BatchAI
from azure.mgmt.resource.resources import ResourceManagementClient
from azure.storage.file import FileService

SCRIPT = """import sys, numpy as np, cntk as C
x = C.input_variable(2); y = C.input_variable(1); model = C.layers.Dense(1)(x)
loss = C.squared_error(model, y)
trainer = C.Trainer(model, (loss, loss), [C.sgd(model.parameters, C.learning_parameter_schedule(0.1))])
data = np.random.RandomState(0).rand(64, 2).astype(np.float32); target = data.sum(1, keepdims=True)
for step in range(100):
    trainer.train_minibatch({x: data, y: target})
    if step % 25 == 0: print("step", step, "loss", trainer.previous_minibatch_loss_average, flush=True)
model.save(sys.argv[1] + "/tiny.dnn"); print("CNTK", C.__version__, "model saved", flush=True)
"""


class ReadyFileToken:
    def __init__(self, token):
        self.token = token

    def get_token(self, *scopes, **kwargs):
        return AccessToken(self.token, int(time.time()) + 3600)


def main(ready_path):
    with open(ready_path) as ready_file:
        ready = json.load(ready_file)
    credential, subscription = ReadyFileToken(ready["token"]), ready["subscription_id"]
    common = dict(base_url=ready["arm_endpoint"], connection_verify=ready["ca_cert"], polling_interval=0.2)
    resources = ResourceManagementClient(credential, subscription, **common)
    batchai = BatchAI(credential, subscription, **common)
    session = requests.Session()
    session.trust_env, session.verify = False, ready["ca_cert"]  # REQUESTS_CA_BUNDLE would win otherwise
    files = FileService(connection_string=f"DefaultEndpointsProtocol=https;AccountName={ready['storage_account']};"
                                          f"AccountKey={ready['storage_key']};FileEndpoint={ready['files_endpoint']};",
                        request_session=session)

    resources.resource_groups.create_or_update("demo", {"location": "eastus"})
    batchai.workspaces.begin_create("demo", "ws", models.WorkspaceCreateParameters(location="eastus")).result()
    batchai.experiments.begin_create("demo", "ws", "exp").result()
    files.create_share("demoshare")
    files.create_directory("demoshare", "scripts")
    files.create_file_from_text("demoshare", "scripts", "tiny.py", SCRIPT)
    share = models.AzureFileShareReference(
        account_name=ready["storage_account"], azure_file_url=f"{ready['files_endpoint']}/demoshare",
        relative_mount_path="afs", credentials=models.AzureStorageCredentialsInfo(account_key=ready["storage_key"]))
    cluster = batchai.clusters.begin_create("demo", "ws", "cluster", models.ClusterCreateParameters(
        vm_size="STANDARD_NC6",
        scale_settings=models.ScaleSettings(manual=models.ManualScaleSettings(target_node_count=1)),
        user_account_settings=models.UserAccountSettings(admin_user_name="demo", admin_user_password="Demo-pass-1"),
        node_setup=models.NodeSetup(mount_volumes=models.MountVolumes(azure_file_shares=[share])))).result()
    while batchai.clusters.get("demo", "ws", "cluster").node_state_counts.idle_node_count < 1:
        time.sleep(0.2)
    print("cluster ready:", batchai.clusters.get("demo", "ws", "cluster").node_state_counts)
    batchai.jobs.begin_create("demo", "ws", "exp", "cntkjob", models.JobCreateParameters(
        cluster=models.ResourceId(id=cluster.id), node_count=1, std_out_err_path_prefix="$AZ_BATCHAI_MOUNT_ROOT/afs",
        output_directories=[models.OutputDirectory(id="MODEL", path_prefix="$AZ_BATCHAI_MOUNT_ROOT/afs",
                                                   path_suffix="models")],
        container_settings=models.ContainerSettings(image_source_registry=models.ImageSourceRegistry(
            image="microsoft/cntk:2.1-gpu-python3.5-cuda8.0-cudnn6.0")),
        cntk_settings=models.CNTKsettings(python_script_file_path="$AZ_BATCHAI_MOUNT_ROOT/afs/scripts/tiny.py",
                                          command_line_args="$AZ_BATCHAI_OUTPUT_MODEL"))).result()
    state = None
    while state not in ("succeeded", "failed"):
        job = batchai.jobs.get("demo", "ws", "exp", "cntkjob")
        if job.execution_state != state:
            state = job.execution_state
            print("job state:", state)
        time.sleep(0.2)
    print("exit code:", job.execution_info.exit_code, "tool type:", job.tool_type)
    for directory in ("stdouterr", "MODEL"):
        options = models.JobsListOutputFilesOptions(outputdirectoryid=directory)
        for entry in batchai.jobs.list_output_files("demo", "ws", "exp", "cntkjob", options):
            link = entry.download_url.split("?")[0]
            print(f"{directory}/{entry.name}: {entry.content_length} bytes, SAS link {link}")
            if entry.name == "stdout.txt":
                print(session.get(entry.download_url).text, end="")
    batchai.clusters.begin_delete("demo", "ws", "cluster").result()
    resources.resource_groups.begin_delete("demo").result()
    files.delete_share("demoshare")
    print("deleted the cluster, the resource group and the share")


if __name__ == "__main__":
    main(sys.argv[1])
