"""The node runner runs custom jobs as Batch AI does: env, files, exit codes, termination."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from batchai_kit.local.nodes import JobResult, NodeLayout, start_job

SEGMENT = "00000000-0000-0000-0000-000000000000/rg/workspaces/ws/experiments/exp/jobs/job/1111-2222"
DEADLINE = 30.0
SECRET = "s3cr3t-value-xyz"


@pytest.fixture
def share(tmp_path: Path) -> Path:
    directory = tmp_path / "shares" / "myaccount" / "myshare"
    directory.mkdir(parents=True)
    return directory


@pytest.fixture
def resolve_share(share: Path):
    def resolve(account: str, url: str) -> Path:
        if url.rstrip("/").endswith("/myshare"):
            return share
        raise LookupError(f"no share at {url}")

    return resolve


@pytest.fixture
def run(tmp_path: Path, resolve_share):
    """start_job on one node (or more) with the host Python as runtime."""

    def start(properties: dict, nodes: int = 1):
        layouts = [NodeLayout.under(tmp_path / "nodes" / f"node-{i}", f"node-{i}") for i in range(nodes)]
        for layout in layouts:
            layout.mount_root.mkdir(parents=True, exist_ok=True)
            (layout.mount_root / "afs").symlink_to(tmp_path / "shares" / "myaccount" / "myshare")
        return start_job(
            {"nodeCount": nodes, "stdOutErrPathPrefix": "$AZ_BATCHAI_MOUNT_ROOT/afs", **properties},
            job_name="job",
            job_path_segment=SEGMENT,
            nodes=layouts,
            job_dir=tmp_path / "jobs" / "job",
            resolve_share=resolve_share,
            resolve_runtime=lambda image: (Path(sys.executable), {}),
            environ={"PATH": os.environ["PATH"], "HOME": str(tmp_path), "LANG": "C.UTF-8"},
        )

    return start


def finish(handle) -> JobResult:
    result = handle.wait(DEADLINE)
    assert result is not None, f"{handle!r} still running after {DEADLINE}s"
    return result


def custom(command_line: str, **properties) -> dict:
    return {"customToolkitSettings": {"commandLine": command_line}, **properties}


def stdouterr(share: Path) -> Path:
    return share / SEGMENT / "stdouterr"


def test_custom_job_succeeds_and_writes_stdout_under_the_segment(run, share):
    result = finish(run(custom("echo hello; echo oops >&2")))

    assert result == JobResult(exit_code=0, errors=())
    assert result.succeeded
    assert (stdouterr(share) / "stdout.txt").read_text() == "hello\n"
    assert (stdouterr(share) / "stderr.txt").read_text() == "oops\n"
    assert "exit code 0" in (stdouterr(share) / "execution.log").read_text()


def test_non_zero_exit_fails_with_job_failed(run):
    result = finish(run(custom("exit 3")))

    assert result.exit_code == 3
    assert not result.succeeded
    assert result.errors == ({"code": "JobFailed", "message": "Job failed with non-zero exit code"},)


def test_job_sees_inputs_outputs_mounts_variables_and_secrets(run, share, tmp_path):
    (share / "data").mkdir()
    script = (
        "echo INPUT=$AZ_BATCHAI_INPUT_DATA; echo OUTPUT=$AZ_BATCHAI_OUTPUT_MODEL; "
        "echo PLAIN=$PLAIN; echo SECRET=$MY_SECRET; echo JOBMOUNT=$AZ_BATCHAI_JOB_MOUNT_ROOT; "
        "echo model > $AZ_BATCHAI_OUTPUT_MODEL/model.txt"
    )
    properties = custom(
        script,
        inputDirectories=[{"id": "DATA", "path": "$AZ_BATCHAI_JOB_MOUNT_ROOT/jobshare/data"}],
        outputDirectories=[{"id": "MODEL", "pathPrefix": "${AZ_BATCHAI_MOUNT_ROOT}/afs", "pathSuffix": "Models"}],
        environmentVariables=[{"name": "PLAIN", "value": "at $AZ_BATCHAI_MOUNT_ROOT"}],
        secrets=[{"name": "MY_SECRET", "value": SECRET}],
        mountVolumes={"azureFileShares": [{
            "accountName": "myaccount",
            "azureFileUrl": "https://127.0.0.1:10000/myaccount/myshare",
            "relativeMountPath": "jobshare",
        }]},
    )
    result = finish(run(properties))

    assert result.succeeded, result
    lines = dict(line.split("=", 1) for line in (stdouterr(share) / "stdout.txt").read_text().splitlines())
    job_mounts = tmp_path / "jobs" / "job" / "mounts"
    assert lines["INPUT"] == f"{job_mounts}/jobshare/data"
    assert lines["JOBMOUNT"] == str(job_mounts)
    assert (job_mounts / "jobshare").is_symlink()
    assert (job_mounts / "jobshare").resolve() == share.resolve()
    assert lines["OUTPUT"] == f"{tmp_path}/nodes/node-0/mounts/afs/{SEGMENT}/outputs/Models"
    assert (share / SEGMENT / "outputs" / "Models" / "model.txt").read_text() == "model\n"
    assert lines["PLAIN"] == f"at {tmp_path}/nodes/node-0/mounts"
    assert lines["SECRET"] == SECRET
    assert SECRET not in (stdouterr(share) / "execution.log").read_text()


def test_secret_in_command_line_is_redacted_from_execution_log(run, share):
    result = finish(run(custom(f"echo {SECRET} > /dev/null", secrets=[{"name": "S", "value": SECRET}])))

    assert result.succeeded
    log = (stdouterr(share) / "execution.log").read_text()
    assert SECRET not in log
    assert "******" in log


def test_output_directory_without_suffix_is_the_outputs_folder(run, share):
    result = finish(run(custom(
        "echo $AZ_BATCHAI_OUTPUT_ALL",
        outputDirectories=[{"id": "ALL", "pathPrefix": "$AZ_BATCHAI_MOUNT_ROOT/afs"}],
    )))

    assert result.succeeded
    assert (stdouterr(share) / "stdout.txt").read_text().strip().endswith(f"{SEGMENT}/outputs")
    assert (share / SEGMENT / "outputs").is_dir()


def test_terminate_kills_the_whole_process_tree(run, share, tmp_path):
    pid_file = tmp_path / "child.pid"
    handle = run(custom(f"sleep 300 & echo $! > {pid_file}; wait"))
    deadline = time.monotonic() + DEADLINE
    while not (pid_file.exists() and pid_file.read_text().strip()):
        assert time.monotonic() < deadline, "the job never started its child"
        time.sleep(0.02)
    child = int(pid_file.read_text())

    handle.terminate()
    handle.terminate()  # idempotent
    result = finish(handle)

    assert result.errors[0]["code"] == "JobTerminated"
    assert not result.succeeded
    assert not _alive(child), "the job's child process survived termination"


def test_terminate_passes_the_control_planes_reason_through(run):
    handle = run(custom("sleep 300"))
    handle.terminate(reason_code="MaxWallClockTimeExceeded", message="The job ran longer than 0:00:01")

    result = finish(handle)

    assert result.errors == ({"code": "MaxWallClockTimeExceeded", "message": "The job ran longer than 0:00:01"},)


def test_terminate_after_the_end_changes_nothing(run):
    handle = run(custom("true"))
    result = finish(handle)
    handle.terminate()

    assert handle.poll() == result
    assert result.succeeded


def test_failing_job_preparation_fails_the_job_and_skips_the_command(run, share):
    result = finish(run(custom("echo main ran", jobPreparation={"commandLine": "echo preparing; exit 4"})))

    assert result.exit_code == 4
    assert [e["code"] for e in result.errors] == ["JobPreparationFailed"]
    assert (stdouterr(share) / "stdout-job_prep.txt").read_text() == "preparing\n"
    assert not (stdouterr(share) / "stdout.txt").exists()


def test_job_preparation_runs_first_with_the_job_environment(run, share):
    properties = custom(
        "cat $AZ_BATCHAI_INPUT_INPUT/hi.txt",
        jobPreparation={"commandLine": "mkdir -p $AZ_BATCHAI_INPUT_INPUT && echo hello | tee $AZ_BATCHAI_INPUT_INPUT/hi.txt"},
        inputDirectories=[{"id": "INPUT", "path": "$AZ_BATCHAI_JOB_TEMP/input"}],
    )
    result = finish(run(properties))

    assert result.succeeded, result
    assert (stdouterr(share) / "stdout.txt").read_text() == "hello\n"
    assert (stdouterr(share) / "stdout-job_prep.txt").read_text() == "hello\n"
    assert (stdouterr(share) / "stderr-job_prep.txt").read_text() == ""


def test_stdout_lines_appear_while_the_job_runs(run, share, tmp_path):
    go = tmp_path / "go"
    handle = run(custom(f"echo first; while [ ! -e {go} ]; do sleep 0.05; done; echo second"))
    stdout = stdouterr(share) / "stdout.txt"
    deadline = time.monotonic() + DEADLINE
    while not (stdout.exists() and stdout.read_text() == "first\n"):
        assert time.monotonic() < deadline, "the first line never appeared"
        time.sleep(0.02)

    assert handle.poll() is None
    go.touch()
    assert finish(handle).succeeded
    assert stdout.read_text() == "first\nsecond\n"


def test_unknown_share_fails_at_once_with_mount_failed(run):
    handle = run(custom("true", mountVolumes={"azureFileShares": [{
        "accountName": "other", "azureFileUrl": "https://other.file.core.windows.net/nope", "relativeMountPath": "x",
    }]}))

    result = handle.poll()

    assert result is not None
    assert result.errors[0]["code"] == "MountFailed"
    assert "https://other.file.core.windows.net/nope" in result.errors[0]["message"]
    assert handle.pid == 0


def test_blob_container_mount_is_reported_unsupported(run):
    result = finish(run(custom("true", mountVolumes={"azureBlobFileSystems": [{
        "accountName": "a", "containerName": "c", "relativeMountPath": "blob",
    }]})))

    assert result.errors[0]["code"] == "UnsupportedMountVolume"


def test_multi_node_preparation_runs_on_every_node_with_per_node_logs(run, share):
    result = finish(run(custom("echo main", jobPreparation={"commandLine": "echo $AZ_BATCHAI_MOUNT_ROOT"}), nodes=2))

    assert result.succeeded, result
    for node in ("node-0", "node-1"):
        assert (stdouterr(share) / f"stdout-job_prep-{node}.txt").read_text().strip().endswith(f"{node}/mounts")
        assert (stdouterr(share) / f"execution-{node}.log").exists()
    assert (stdouterr(share) / "stdout.txt").read_text() == "main\n"


def _alive(pid: int) -> bool:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        if _is_zombie(pid):
            return False
        time.sleep(0.02)
    return True


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except OSError:
        return False
