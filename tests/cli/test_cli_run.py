"""``batchai-kit run``: Batch AI JSON files in, the job's log out, its outputs downloaded, what the
command created deleted, and the job's exit code as the command's."""

from __future__ import annotations

import select
import signal
import subprocess
import sys

import pytest

from batchai_kit._cli_common import ExitCode

from .conftest import REPO, cluster_body, custom_job_body, write_json

COMMAND = "cat $AZ_BATCHAI_INPUT_DATA/hello.txt; echo result > $AZ_BATCHAI_OUTPUT_OUT/r.txt; exit ${CODE:-0}"


@pytest.fixture
def specs(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "hello.txt").write_text("hello from the share\n")
    return (write_json(tmp_path / "job.json", custom_job_body(COMMAND)),
            write_json(tmp_path / "cluster.json", cluster_body()), data)


def run_args(specs, tmp_path, *extra: str) -> list[str]:
    job, cluster, data = specs
    return ["run", "--job", str(job), "--cluster", str(cluster), "--upload", f"{data}=afs/data",
            "--download", str(tmp_path / "out"), "-n", "myjob", *extra]


def test_a_succeeding_job_streams_its_log_downloads_its_outputs_and_leaves_nothing(cli, specs, tmp_path, emu):
    result = cli(*run_args(specs, tmp_path))
    assert result.exit_code == 0, result.stderr
    assert "hello from the share" in result.stdout  # the job's stdout, streamed
    assert (tmp_path / "out" / "OUT" / "r.txt").read_text() == "result\n"
    assert "hello from the share" in (tmp_path / "out" / "stdouterr" / "stdout.txt").read_text()
    batchai = emu.batchai_client()
    assert [w.name for w in batchai.workspaces.list()] == []  # the workspace it created is gone
    assert not emu.file_service().exists("runshare")  # and the share


def test_the_jobs_nonzero_exit_code_is_the_commands(cli, specs, tmp_path):
    result = cli(*run_args(specs, tmp_path, "--env", "CODE=42"))
    assert result.exit_code == 42
    assert "exit code 42" in result.stderr
    assert (tmp_path / "out" / "stdouterr" / "stdout.txt").exists()  # a failed job's logs still arrive


def test_keep_leaves_what_was_created_for_the_job_commands(cli, specs, tmp_path, emu):
    result = cli(*run_args(specs, tmp_path, "--keep", "-g", "rg", "-w", "ws", "-e", "exp", "-c", "mycluster"))
    assert result.exit_code == 0, result.stderr
    batchai = emu.batchai_client()
    assert batchai.jobs.get("rg", "ws", "exp", "myjob").execution_state == "succeeded"
    assert batchai.clusters.get("rg", "ws", "mycluster").vm_size == "STANDARD_D1"


def test_a_second_run_reuses_the_kept_cluster_and_skips_unchanged_uploads(cli, specs, tmp_path, emu):
    assert cli(*run_args(specs, tmp_path, "--keep", "-n", "first")).exit_code == 0
    result = cli(*run_args(specs, tmp_path, "-n", "second"))
    assert result.exit_code == 0, result.stderr
    assert "0 file(s) sent, 1 unchanged" in result.stderr
    # the cluster existed before this run: it is kept (only what a run creates is deleted)
    assert [c.name for c in emu.batchai_client().clusters.list_by_workspace("batchaikit", "batchaikit")] == ["cluster"]


def test_an_invalid_spec_is_exit_2_naming_the_file_and_path_before_anything_is_created(cli, tmp_path, emu):
    body = custom_job_body("true")
    body["properties"]["nodeCount"] = "two"
    job = write_json(tmp_path / "job.json", body)
    cluster = write_json(tmp_path / "cluster.json", cluster_body())
    result = cli("run", "--job", str(job), "--cluster", str(cluster))
    assert result.exit_code == ExitCode.USAGE
    assert f"{job}: properties.nodeCount='two'" in result.stderr
    assert list(emu.batchai_client().workspaces.list()) == []


def test_an_unsupported_setting_is_exit_2_naming_it(cli, tmp_path):
    body = cluster_body()
    body["properties"]["subnet"] = {"id": "/subscriptions/x/subnets/y"}
    result = cli("run", "--job", str(write_json(tmp_path / "job.json", custom_job_body("true"))),
                 "--cluster", str(write_json(tmp_path / "cluster.json", body)))
    assert result.exit_code == ExitCode.USAGE
    assert "properties.subnet" in result.stderr and "not supported" in result.stderr


def test_an_upload_to_a_mount_nobody_mounts_is_a_usage_error(cli, specs, tmp_path):
    job, cluster, data = specs
    result = cli("run", "--job", str(job), "--cluster", str(cluster), "--upload", f"{data}=elsewhere/data")
    assert result.exit_code == ExitCode.USAGE
    assert "no share is mounted as 'elsewhere'" in result.stderr


def test_args_cannot_override_a_custom_command(cli, specs):
    job, cluster, _ = specs
    result = cli("run", "--job", str(job), "--cluster", str(cluster), "--args", "x")
    assert result.exit_code == ExitCode.USAGE and "--args" in result.stderr


def test_a_job_outliving_the_timeout_is_exit_6_and_is_cleaned_up(cli, tmp_path, emu):
    job = write_json(tmp_path / "job.json", custom_job_body("sleep 60"))
    cluster = write_json(tmp_path / "cluster.json", cluster_body())
    result = cli("run", "--job", str(job), "--cluster", str(cluster), "--timeout", "1", "--no-download")
    assert result.exit_code == ExitCode.TIMEOUT, result.stderr
    assert list(emu.batchai_client().workspaces.list()) == []


@pytest.mark.cntk
def test_the_quickstart_job_from_its_json_files_trains_and_passes_its_exit_code(cli, cntk_runtime, tmp_path):
    recipe = REPO / "recipes" / "cntk_mnist"
    sample = tmp_path / "sample"
    prepared = subprocess.run([sys.executable, str(recipe / "prepare_data.py"), str(sample), "--train-count", "100",
                               "--test-count", "50"], capture_output=True, text=True)
    assert prepared.returncode == 0, prepared.stderr
    result = cli("run", "--job", str(recipe / "job.json"), "--cluster", str(recipe / "cluster.json"),
                 "--upload", f"{sample}=azurefileshare/mnistcntksample",
                 "--upload", f"{recipe / 'ConvNet_MNIST.py'}=azurefileshare/mnistcntksample",
                 "--args", "$AZ_BATCHAI_INPUT_SAMPLE $AZ_BATCHAI_OUTPUT_MODEL --epochs 1",
                 "-n", "mnist", "--download", str(tmp_path / "out"))
    assert result.exit_code == 0, result.stderr
    assert "Epoch 1/1" in result.stdout and "Final test error" in result.stdout
    assert (tmp_path / "out" / "MODEL" / "ConvNet_MNIST.dnn").stat().st_size > 0
    # the same job with a script argument it refuses: argparse's exit status 2 comes through
    failed = cli("run", "--job", str(recipe / "job.json"), "--cluster", str(recipe / "cluster.json"),
                 "--upload", f"{sample}=azurefileshare/mnistcntksample",
                 "--upload", f"{recipe / 'ConvNet_MNIST.py'}=azurefileshare/mnistcntksample",
                 "--args", "--no-such-option", "-n", "mnist-bad", "--no-download")
    assert failed.exit_code == 2
    assert "exit code 2, passed on" in failed.stderr


def test_a_real_process_on_the_embedded_emulator_exits_with_the_jobs_code(specs, tmp_path):
    job, cluster, data = specs
    job_text = job.read_text().replace("${CODE:-0}", "7")
    job.write_text(job_text)
    process = subprocess.run([sys.executable, "-m", "batchai_kit.cli", "run", "--job", str(job), "--cluster",
                              str(cluster), "--upload", f"{data}=afs/data", "--no-download"],
                             capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert process.returncode == 7, process.stderr
    assert "hello from the share" in process.stdout


def test_ctrl_c_cleans_up_what_run_created_and_exits_130(specs, tmp_path, ready_file, emu):
    job, cluster, _ = specs
    job.write_text(job.read_text().replace(COMMAND, "echo started; sleep 120"))
    process = subprocess.Popen([sys.executable, "-m", "batchai_kit.cli", "run", "--job", str(job), "--cluster",
                                str(cluster), "--ready-file", str(ready_file), "--no-download"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        ready, _, _ = select.select([process.stdout], [], [], 120)
        assert ready and process.stdout.readline() == "started\n"  # the job runs: its log is streaming
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=120) == ExitCode.INTERRUPTED, process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
    assert "interrupted" in process.stderr.read()
    assert list(emu.batchai_client().workspaces.list()) == []  # cluster, experiment, workspace: all deleted


def test_a_job_with_nowhere_for_its_logs_is_refused_before_anything_is_created(cli, tmp_path, emu):
    body = custom_job_body("true")
    del body["properties"]["stdOutErrPathPrefix"], body["properties"]["inputDirectories"]
    cluster = cluster_body()
    del cluster["properties"]["nodeSetup"]
    result = cli("run", "--job", str(write_json(tmp_path / "job.json", body)),
                 "--cluster", str(write_json(tmp_path / "cluster.json", cluster)))
    assert result.exit_code == ExitCode.USAGE
    assert "properties.stdOutErrPathPrefix" in result.stderr
    assert list(emu.batchai_client().workspaces.list()) == []


def test_a_job_terminated_from_another_command_ends_run_with_the_documented_code(specs, tmp_path, ready_file, cli):
    job, cluster, _ = specs
    job.write_text(job.read_text().replace(COMMAND, "echo started; sleep 120"))
    # --keep: run's cleanup (the workspace and its group deleted once the job ends) would race the
    # terminate command's own read of the job it has just terminated
    process = subprocess.Popen([sys.executable, "-m", "batchai_kit.cli", "run", "--job", str(job), "--cluster",
                                str(cluster), "--ready-file", str(ready_file), "--no-download", "--keep",
                                "-n", "victim"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        ready, _, _ = select.select([process.stdout], [], [], 120)
        assert ready and process.stdout.readline() == "started\n"
        terminated = cli("job", "terminate", "victim", "-g", "batchaikit", "-w", "batchaikit", "-e", "default")
        assert terminated.exit_code == 0, terminated.stderr
        code = process.wait(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    stderr = process.stderr.read()
    assert "JobTerminated" in stderr
    assert code == ExitCode.JOB_FAILED, stderr


def test_a_bad_cluster_name_is_refused_before_anything_is_created(cli, specs, emu):
    job, cluster, _ = specs
    result = cli("run", "--job", str(job), "--cluster", str(cluster), "-c", "no spaces allowed")
    assert result.exit_code == ExitCode.USAGE and "no spaces allowed" in result.stderr
    assert list(emu.batchai_client().workspaces.list()) == []
