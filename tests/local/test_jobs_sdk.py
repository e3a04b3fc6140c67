"""Jobs that really run: the real BatchAI client submits, the real FileService reads the share."""


import azure.mgmt.batchai.models as models
import pytest
import requests

from batchai_kit.local.arm.timing import Timings

from .waiting import wait_for

RG, WS, EXP, SHARE = "rg", "ws", "exp", "afs"



class Lab:
    """A resource group, workspace, experiment, file share and a cluster that mounts it."""

    def __init__(self, emu):
        self.emu = emu
        self.batchai = emu.batchai_client()
        self.files = emu.file_service()
        emu.resource_client().resource_groups.create_or_update(RG, {"location": "eastus"})
        self.batchai.workspaces.begin_create(RG, WS, models.WorkspaceCreateParameters(location="eastus")).result()
        self.batchai.experiments.begin_create(RG, WS, EXP).result()
        self.files.create_share(SHARE)
        self.share_url = f"{emu.info.files_endpoint}/{SHARE}"

    def mounts(self):
        return models.MountVolumes(azure_file_shares=[models.AzureFileShareReference(
            account_name=self.emu.info.storage_account, azure_file_url=self.share_url, relative_mount_path="afs",
            credentials=models.AzureStorageCredentialsInfo(account_key=self.emu.info.storage_key))])

    def cluster(self, name="c1", nodes=1, setup_task=None):
        params = models.ClusterCreateParameters(
            vm_size="STANDARD_NC6",
            scale_settings=models.ScaleSettings(manual=models.ManualScaleSettings(target_node_count=nodes)),
            user_account_settings=models.UserAccountSettings(admin_user_name="demo", admin_user_password="Pw-123456"),
            node_setup=models.NodeSetup(mount_volumes=self.mounts(), setup_task=setup_task))
        return self.batchai.clusters.begin_create(RG, WS, name, params).result()

    def submit(self, name, cluster, **kwargs):
        kwargs.setdefault("node_count", 1)
        kwargs.setdefault("std_out_err_path_prefix", "$AZ_BATCHAI_MOUNT_ROOT/afs")
        params = models.JobCreateParameters(cluster=models.ResourceId(id=cluster.id), **kwargs)
        self.batchai.jobs.begin_create(RG, WS, EXP, name, params).result()

    def finished(self, name, timeout=30.0):
        return wait_for(lambda: self.batchai.jobs.get(RG, WS, EXP, name),
                        lambda j: j.execution_state in ("succeeded", "failed"), timeout)

    def outputs(self, name, directory_id="stdouterr", directory="."):
        options = models.JobsListOutputFilesOptions(outputdirectoryid=directory_id, directory=directory)
        return {f.name: f for f in self.batchai.jobs.list_output_files(RG, WS, EXP, name, options)}

    def download(self, url):
        response = requests.get(url, verify=str(self.emu.info.ca_cert))
        response.raise_for_status()
        return response.text


@pytest.fixture
def lab(emu):
    return Lab(emu)


def custom(command):
    return {"custom_toolkit_settings": models.CustomToolkitSettings(command_line=command)}


def test_custom_job_succeeds_and_its_stdout_downloads_through_the_sas_url(lab):
    cluster = lab.cluster()
    lab.submit("hello", cluster, **custom("echo hello from the node"))
    job = lab.finished("hello")
    assert job.execution_state == "succeeded" and job.execution_info.exit_code == 0
    files = lab.outputs("hello")
    assert {"stdout.txt", "stderr.txt", "execution.log"} <= set(files)
    stdout = files["stdout.txt"]
    assert "sr=f" in stdout.download_url and "sig=" in stdout.download_url
    assert lab.download(stdout.download_url) == "hello from the node\n"
    assert stdout.content_length == len("hello from the node\n")


def test_stdout_lands_on_the_share_where_batch_ai_puts_it(lab):
    cluster = lab.cluster()
    lab.submit("where", cluster, **custom("echo here"))
    job = lab.finished("where")
    path = f"{job.job_output_directory_path_segment}/stdouterr"
    assert lab.files.get_file_to_text(SHARE, path, "stdout.txt").content == "here\n"


def test_non_zero_exit_fails_with_exit_code_and_job_failed(lab):
    cluster = lab.cluster()
    lab.submit("three", cluster, **custom("echo oops >&2; exit 3"))
    job = lab.finished("three")
    assert job.execution_state == "failed"
    assert job.execution_info.exit_code == 3
    assert [e.code for e in job.execution_info.errors] == ["JobFailed"]
    assert lab.download(lab.outputs("three")["stderr.txt"].download_url) == "oops\n"


def test_job_sees_inputs_outputs_env_and_secrets_but_get_never_shows_the_secret(lab):
    lab.files.create_directory(SHARE, "data")
    lab.files.create_file_from_text(SHARE, "data", "numbers.txt", "1 2 3")
    cluster = lab.cluster()
    command = ('cat $AZ_BATCHAI_INPUT_DATA/numbers.txt > $AZ_BATCHAI_OUTPUT_MODEL/copy.txt; '
               'echo "$GREETING $PASSWORD_LEN" > $AZ_BATCHAI_OUTPUT_MODEL/env.txt; '
               'test -d $AZ_BATCHAI_MOUNT_ROOT/afs/data && echo mounted')
    lab.submit("env", cluster,
               input_directories=[models.InputDirectory(id="DATA", path="$AZ_BATCHAI_MOUNT_ROOT/afs/data")],
               output_directories=[models.OutputDirectory(id="MODEL", path_prefix="$AZ_BATCHAI_MOUNT_ROOT/afs",
                                                          path_suffix="models")],
               environment_variables=[models.EnvironmentVariable(name="GREETING", value="hi")],
               secrets=[models.EnvironmentVariableWithSecretValue(name="PASSWORD_LEN", value="s3cr3t-value")],
               **custom(command))
    job = lab.finished("env")
    assert job.execution_state == "succeeded", job.execution_info.errors
    assert job.secrets[0].value is None
    outputs = lab.outputs("env", "MODEL")
    assert lab.download(outputs["copy.txt"].download_url) == "1 2 3"
    assert lab.download(outputs["env.txt"].download_url) == "hi s3cr3t-value\n"
    assert "s3cr3t-value" not in lab.download(lab.outputs("env")["execution.log"].download_url)
    assert lab.download(lab.outputs("env")["stdout.txt"].download_url) == "mounted\n"


def test_listing_shows_directories_without_url_and_lists_inside_them(lab):
    cluster = lab.cluster()
    lab.submit("tree", cluster,
               output_directories=[models.OutputDirectory(id="OUT", path_prefix="$AZ_BATCHAI_MOUNT_ROOT/afs")],
               **custom("mkdir -p $AZ_BATCHAI_OUTPUT_OUT/sub && echo x > $AZ_BATCHAI_OUTPUT_OUT/sub/inner.txt"))
    lab.finished("tree")
    top = lab.outputs("tree", "OUT")
    assert top["sub"].file_type == "directory" and top["sub"].download_url is None
    inner = lab.outputs("tree", "OUT", "sub")
    assert lab.download(inner["inner.txt"].download_url) == "x\n"


def test_terminate_kills_a_running_job(lab):
    cluster = lab.cluster()
    lab.submit("sleeper", cluster, **custom("echo started; sleep 60"))
    wait_for(lambda: lab.batchai.jobs.get(RG, WS, EXP, "sleeper"), lambda j: j.execution_state == "running")
    lab.batchai.jobs.begin_terminate(RG, WS, EXP, "sleeper").result()
    job = lab.finished("sleeper", timeout=15)
    assert job.execution_state == "failed"
    assert [(e.code, e.message) for e in job.execution_info.errors] == [
        ("JobTerminated", "The specified job has been terminated by the user")]


def test_max_wall_clock_time_is_enforced(lab):
    cluster = lab.cluster()
    lab.submit("slow", cluster, constraints=models.JobBasePropertiesConstraints(max_wall_clock_time="PT1S"),
               **custom("sleep 60"))
    job = lab.finished("slow", timeout=20)
    assert job.execution_state == "failed"
    assert [e.code for e in job.execution_info.errors] == ["JobMaxWallClockTimeExceeded"]


def test_failing_job_preparation_fails_the_job_before_it_runs(lab):
    cluster = lab.cluster()
    lab.submit("prep", cluster, job_preparation=models.JobPreparation(command_line="exit 7"),
               **custom("echo should-not-run"))
    job = lab.finished("prep")
    assert job.execution_state == "failed" and job.execution_info.exit_code == 7
    assert [(e.code, e.message) for e in job.execution_info.errors] == [
        ("JobPreparationFailed", "Job preparation task failed with non-zero exit code")]
    files = lab.outputs("prep")
    stdout = lab.download(files["stdout.txt"].download_url) if "stdout.txt" in files else ""
    assert "should-not-run" not in stdout


def test_failing_setup_task_makes_the_node_unusable_and_shows_in_cluster_errors(lab):
    task = models.SetupTask(command_line="echo setting up; exit 5",
                            std_out_err_path_prefix="$AZ_BATCHAI_MOUNT_ROOT/afs")
    lab.cluster("broken", setup_task=task)
    cluster = wait_for(lambda: lab.batchai.clusters.get(RG, WS, "broken"),
                       lambda c: c.node_state_counts.unusable_node_count == 1)
    assert cluster.errors and cluster.errors[0].code == "SetupTaskFailed"


def test_successful_setup_task_output_lands_on_the_share(lab):
    task = models.SetupTask(command_line="echo prepared", std_out_err_path_prefix="$AZ_BATCHAI_MOUNT_ROOT/afs")
    lab.cluster("prepared", setup_task=task)
    cluster = wait_for(lambda: lab.batchai.clusters.get(RG, WS, "prepared"),
                       lambda c: c.node_state_counts.idle_node_count == 1)
    suffix = cluster.node_setup.setup_task.std_out_err_path_suffix
    subscription, group, _, workspace, _, name, _guid = suffix.split("/")
    assert (subscription, group, workspace, name) == (lab.emu.info.subscription_id, RG, WS, "prepared")
    outputs = [e.name for e in lab.files.list_directories_and_files(SHARE, suffix)]
    assert len(outputs) == 2 and all(n.startswith(("stdout-", "stderr-")) for n in outputs)
    stdout = next(n for n in outputs if n.startswith("stdout-"))
    assert lab.files.get_file_to_text(SHARE, suffix, stdout).content.strip() == "prepared"


def test_two_one_node_jobs_on_a_one_node_cluster_run_one_after_the_other(lab):
    cluster = lab.cluster()
    lab.submit("first", cluster, **custom("sleep 0.5"))
    lab.submit("second", cluster, **custom("sleep 0.1"))
    assert lab.batchai.jobs.get(RG, WS, EXP, "second").execution_state == "queued"
    first, second = lab.finished("first"), lab.finished("second")
    assert first.execution_state == second.execution_state == "succeeded"
    assert second.execution_info.start_time >= first.execution_info.end_time


def test_cluster_mounting_a_missing_share_gets_an_unusable_node(lab):
    lab.share_url = f"{lab.emu.info.files_endpoint}/nosuchshare"
    lab.cluster("nomount")
    cluster = wait_for(lambda: lab.batchai.clusters.get(RG, WS, "nomount"),
                       lambda c: c.node_state_counts.unusable_node_count == 1)
    assert cluster.errors[0].code == "MountFailed" and "nosuchshare" in cluster.errors[0].message


def test_remote_login_lists_the_jobs_nodes_while_it_runs(lab):
    cluster = lab.cluster()
    lab.submit("login", cluster, **custom("sleep 30"))
    wait_for(lambda: lab.batchai.jobs.get(RG, WS, EXP, "login"), lambda j: j.execution_state == "running")
    logins = list(lab.batchai.jobs.list_remote_login_information(RG, WS, EXP, "login"))
    assert [(login.ip_address, login.port) for login in logins] == [("127.0.0.1", 50001)]
    lab.batchai.jobs.begin_delete(RG, WS, EXP, "login").result()


CNTK_SCRIPT = '''
import os, sys
import numpy as np
import cntk as C
out = sys.argv[1]
x = C.input_variable(2); y = C.input_variable(1)
model = C.layers.Dense(1)(x)
loss = C.squared_error(model, y)
learner = C.sgd(model.parameters, C.learning_parameter_schedule(0.1))
trainer = C.Trainer(model, (loss, loss), [learner])
data = np.random.RandomState(0).rand(64, 2).astype(np.float32)
target = (data.sum(axis=1, keepdims=True)).astype(np.float32)
first = None
for step in range(200):
    trainer.train_minibatch({x: data, y: target})
    first = first if first is not None else trainer.previous_minibatch_loss_average
print("loss", first, trainer.previous_minibatch_loss_average, flush=True)
model.save(os.path.join(out, "tiny.dnn"))
'''


def test_cntk_job_trains_in_the_cntk_runtime_and_writes_its_model(lab, cntk_runtime):
    lab.files.create_directory(SHARE, "scripts")
    lab.files.create_file_from_text(SHARE, "scripts", "tiny.py", CNTK_SCRIPT)
    cluster = lab.cluster()
    lab.submit("cntk", cluster,
               container_settings=models.ContainerSettings(image_source_registry=models.ImageSourceRegistry(
                   image="microsoft/cntk:2.1-gpu-python3.5-cuda8.0-cudnn6.0")),
               output_directories=[models.OutputDirectory(id="MODEL", path_prefix="$AZ_BATCHAI_MOUNT_ROOT/afs")],
               cntk_settings=models.CNTKsettings(
                   python_script_file_path="$AZ_BATCHAI_MOUNT_ROOT/afs/scripts/tiny.py",
                   command_line_args="$AZ_BATCHAI_OUTPUT_MODEL"))
    job = lab.finished("cntk", timeout=120)
    stderr = lab.download(lab.outputs("cntk")["stderr.txt"].download_url)
    assert job.execution_state == "succeeded", stderr
    assert job.tool_type == "cntk"
    _, first, last = lab.download(lab.outputs("cntk")["stdout.txt"].download_url).split()
    assert float(last) < float(first)
    assert lab.outputs("cntk", "MODEL")["tiny.dnn"].content_length > 0


def test_outputs_stay_listable_after_the_cluster_is_deleted(lab):
    cluster = lab.cluster()
    lab.submit("kept", cluster, **custom("echo kept"))
    lab.finished("kept")
    lab.batchai.clusters.begin_delete(RG, WS, "c1").result()
    assert lab.download(lab.outputs("kept")["stdout.txt"].download_url) == "kept\n"


def test_listing_pages_with_maxresults(lab):
    cluster = lab.cluster()
    lab.submit("many", cluster,
               output_directories=[models.OutputDirectory(id="OUT", path_prefix="$AZ_BATCHAI_MOUNT_ROOT/afs")],
               **custom("for i in $(seq 1 7); do touch $AZ_BATCHAI_OUTPUT_OUT/f$i; done"))
    lab.finished("many")
    options = models.JobsListOutputFilesOptions(outputdirectoryid="OUT", max_results=3)
    pages = [list(p) for p in lab.batchai.jobs.list_output_files(RG, WS, EXP, "many", options).by_page()]
    assert [len(p) for p in pages] == [3, 3, 1]


def test_download_url_expires(emulator_factory):
    emu = emulator_factory(timings=Timings.instant())
    lab = Lab(emu)
    cluster = lab.cluster()
    lab.submit("exp", cluster, **custom("echo x"))
    lab.finished("exp")
    url = lab.outputs("exp")["stdout.txt"].download_url
    expired = requests.get(url.replace("se=", "se=2000-01-01T00%3A00%3A00Z&old_se="), verify=str(emu.info.ca_cert))
    assert expired.status_code == 403


def test_a_job_whose_runtime_is_missing_is_refused_at_submission_with_the_install_command(lab, tmp_path,
                                                                                         monkeypatch):
    from azure.core.exceptions import HttpResponseError

    monkeypatch.setenv("BATCHAI_KIT_CNTK_RUNTIME", str(tmp_path / "no-cntk-here"))
    cluster = lab.cluster()
    with pytest.raises(HttpResponseError) as caught:
        lab.submit("nocntk", cluster,
                   container_settings=models.ContainerSettings(image_source_registry=models.ImageSourceRegistry(
                       image="microsoft/cntk:2.1-gpu-python3.5-cuda8.0-cudnn6.0")),
                   cntk_settings=models.CNTKsettings(python_script_file_path="$AZ_BATCHAI_MOUNT_ROOT/afs/x.py"))
    assert caught.value.status_code == 400
    assert caught.value.error.code == "RuntimeUnavailable"
    assert "batchai-kit runtime install cntk" in caught.value.error.message
    assert list(lab.batchai.jobs.list_by_experiment(RG, WS, EXP)) == []
