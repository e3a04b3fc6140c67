"""``batchai-kit job ...`` and ``cluster ...`` on jobs and clusters that exist: tables that never
cut a value, JSON that parses, and the documented exit codes."""

from __future__ import annotations

import json

import pytest

import batchai_kit as bk
from batchai_kit._cli_common import ExitCode, render_table

from .conftest import cluster_body, custom_job_body, write_json

GROUP, WORKSPACE, EXPERIMENT = "rg", "ws", "exp"
# long enough that an 80-column table would have to cut it
CLUSTER = "a-cluster-whose-name-is-long-enough-to-overflow-eighty-columns"
WHERE = ["-g", GROUP, "-w", WORKSPACE]


@pytest.fixture
def finished(cli, tmp_path):
    """A job run to the end with --keep: it, its experiment and its cluster stay."""
    job = write_json(tmp_path / "job.json", custom_job_body("echo out-line; echo err-line >&2; "
                                                            "echo result > $AZ_BATCHAI_OUTPUT_OUT/r.txt"))
    result = cli("run", "--job", str(job), "--cluster", str(write_json(tmp_path / "cluster.json", cluster_body())),
                 *WHERE, "-e", EXPERIMENT, "-c", CLUSTER, "-n", "done", "--keep", "--no-download")
    assert result.exit_code == 0, result.stderr
    return "done"


@pytest.fixture
def running(ready_file, finished):
    """A job that sleeps on the kept cluster until terminated."""
    azure = bk.Azure.from_ready_file(ready_file)
    workspace = bk.Workspace(azure, GROUP, WORKSPACE, location="eastus")
    cluster = workspace.gpu_cluster(CLUSTER, vm_size="STANDARD_D1", nodes=1,
                                    mounts=[workspace.file_share("runshare", mount_as="afs")], reuse=True)
    spec = bk.CustomJob(name="sleeper", command="echo started; sleep 300", stdouterr="$AZ_BATCHAI_MOUNT_ROOT/afs")
    job = cluster.create().submit(spec, experiment=workspace.experiment(EXPERIMENT))
    job.azure.waiter(60).wait_until(job.refresh, lambda m: m.execution_state == "running", describe="sleeper")
    return job


def test_job_list_json_parses_and_names_each_jobs_state(cli, finished):
    result = cli("job", "list", *WHERE, "-o", "json")
    assert result.exit_code == 0, result.stderr
    (job,) = json.loads(result.stdout)
    assert (job["name"], job["executionState"], job["executionInfo"]["exitCode"]) == ("done", "succeeded", 0)
    assert job["toolType"] == "custom" and job["cluster"]["id"].endswith(f"/clusters/{CLUSTER}")


def test_job_list_table_piped_keeps_whole_values(cli, finished):
    result = cli("job", "list", *WHERE)
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["Name", "Experiment", "Cluster", "Tool", "State", "ExitCode", "Created"]
    assert lines[2].split()[:6] == ["done", EXPERIMENT, CLUSTER, "custom", "succeeded", "0"]
    assert len(lines[2]) > 80  # nothing was cut to a terminal's width


def test_job_show_table_and_json(cli, finished):
    table = cli("job", "show", finished, *WHERE, "-e", EXPERIMENT)
    assert table.exit_code == 0, table.stderr
    rows = dict(line.split(None, 1) for line in table.stdout.splitlines()[2:])
    assert rows["State"] == "succeeded" and rows["ExitCode"] == "0"
    assert rows["Id"].endswith(f"/experiments/{EXPERIMENT}/jobs/done")  # the whole resource id
    body = json.loads(cli("job", "show", finished, *WHERE, "-e", EXPERIMENT, "-o", "json").stdout)
    assert body["name"] == "done" and body["outputDirectories"][0]["id"] == "OUT"


def test_a_job_shown_as_json_runs_again_from_that_json(cli, finished, tmp_path):
    body = json.loads(cli("job", "show", finished, *WHERE, "-e", EXPERIMENT, "-o", "json").stdout)
    again = write_json(tmp_path / "again.json", body)
    result = cli("run", "--job", str(again), "--cluster", str(write_json(tmp_path / "c.json", cluster_body())),
                 *WHERE, "-e", EXPERIMENT, "-c", CLUSTER, "-n", "again", "--no-download")
    assert result.exit_code == 0, result.stderr
    assert "out-line" in result.stdout


def test_missing_job_is_exit_4(cli, finished):
    result = cli("job", "show", "nosuchjob", *WHERE, "-e", EXPERIMENT)
    assert result.exit_code == ExitCode.NOT_FOUND
    assert "nosuchjob" in result.stderr


def test_job_logs_prints_stdout_or_stderr(cli, finished):
    assert cli("job", "logs", finished, *WHERE, "-e", EXPERIMENT).stdout == "out-line\n"
    assert cli("job", "logs", finished, *WHERE, "-e", EXPERIMENT, "--file", "stderr.txt").stdout == "err-line\n"
    body = json.loads(cli("job", "logs", finished, *WHERE, "-e", EXPERIMENT, "-o", "json").stdout)
    assert body["text"] == "out-line\n" and body["file"] == "stdout.txt"


def test_job_download_fetches_every_output_directory(cli, finished, tmp_path):
    result = cli("job", "download", finished, *WHERE, "-e", EXPERIMENT, "--dest", str(tmp_path / "d"), "-o", "json")
    assert result.exit_code == 0, result.stderr
    files = {(entry["directoryId"], entry["path"]) for entry in json.loads(result.stdout)}
    assert ("OUT", str(tmp_path / "d" / "OUT" / "r.txt")) in files
    assert ("stdouterr", str(tmp_path / "d" / "stdouterr" / "stdout.txt")) in files
    assert (tmp_path / "d" / "OUT" / "r.txt").read_text() == "result\n"


def test_job_logs_follow_and_terminate_a_running_job(cli, running):
    result = cli("job", "terminate", running.name, *WHERE, "-e", EXPERIMENT, "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["executionState"] in ("terminating", "failed")
    followed = cli("job", "logs", running.name, *WHERE, "-e", EXPERIMENT, "--follow")
    assert followed.exit_code == 0 and followed.stdout == "started\n"  # ends once the job has ended


def test_job_delete_needs_yes_when_nobody_can_answer(cli, finished, emu):
    refused = cli("job", "delete", finished, *WHERE, "-e", EXPERIMENT)
    assert refused.exit_code == ExitCode.USAGE and "--yes" in refused.stderr
    deleted = cli("job", "delete", finished, *WHERE, "-e", EXPERIMENT, "--yes")
    assert deleted.exit_code == 0, deleted.stderr
    assert list(emu.batchai_client().jobs.list_by_experiment(GROUP, WORKSPACE, EXPERIMENT)) == []


def test_cluster_list_show_delete(cli, finished, emu):
    listed = json.loads(cli("cluster", "list", *WHERE, "-o", "json").stdout)
    assert [(c["name"], c["vmSize"], c["allocationState"]) for c in listed] == [(CLUSTER, "STANDARD_D1", "steady")]
    table = cli("cluster", "list", *WHERE).stdout.splitlines()
    assert table[2].split() == [CLUSTER, "STANDARD_D1", "dedicated", "steady", "1/1", "1", "0", "0", "0", "0"]
    shown = cli("cluster", "show", CLUSTER, *WHERE).stdout
    assert f"/clusters/{CLUSTER}" in shown and "afs <- https://" in shown
    assert cli("cluster", "delete", CLUSTER, *WHERE, "--yes").exit_code == 0
    assert list(emu.batchai_client().clusters.list_by_workspace(GROUP, WORKSPACE)) == []
    assert cli("cluster", "show", CLUSTER, *WHERE).exit_code == ExitCode.NOT_FOUND


def test_job_commands_without_a_connection_say_so_with_exit_2(cli, monkeypatch):
    for name in ("AZURE_SUBSCRIPTION_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    result = cli("job", "list", *WHERE, connect=False)
    assert result.exit_code == ExitCode.USAGE, result.stderr
    assert "AZURE_" in result.stderr


def test_a_table_never_cuts_a_value():
    long_id = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/" + "g" * 90
    text = render_table(["Name", "Id"], [["x", long_id], ["longer-name", None]])
    lines = text.splitlines()
    assert lines[2] == f"x            {long_id}"
    assert lines[3] == "longer-name"
    assert lines[1] == "-----------  " + "-" * len(long_id)


def test_logs_of_a_file_the_job_did_not_write_is_exit_4(cli, finished):
    result = cli("job", "logs", finished, *WHERE, "-e", EXPERIMENT, "--file", "nothing.txt")
    assert result.exit_code == ExitCode.NOT_FOUND and "nothing.txt" in result.stderr


def test_job_files_lists_an_output_directory_without_its_download_links(cli, finished):
    table = cli("job", "files", finished, *WHERE, "-e", EXPERIMENT, "-d", "OUT")
    assert table.exit_code == 0, table.stderr
    assert [line.split()[:3] for line in table.stdout.splitlines()[2:]] == [["r.txt", "file", "7"]]
    listed = json.loads(cli("job", "files", finished, *WHERE, "-e", EXPERIMENT, "-o", "json").stdout)
    assert {entry["path"] for entry in listed} >= {"stdout.txt", "stderr.txt"}
    assert "sig=" not in json.dumps(listed)


def test_a_ready_file_of_a_stopped_emulator_is_exit_5_at_once(tmp_path, kit_home):
    from click.testing import CliRunner

    from batchai_kit.cli import main
    from batchai_kit.local.emulator import Emulator

    stopped = Emulator(tmp_path / "stopped")
    stopped.start()
    stopped.write_ready_file(tmp_path / "stale.json")
    stopped.stop()
    result = CliRunner().invoke(main, ["job", "list", *WHERE, "--ready-file", str(tmp_path / "stale.json")])
    assert result.exit_code == ExitCode.CONNECTION_FAILED
    assert "is it still running?" in result.stderr


def test_show_as_json_never_carries_a_secret_or_a_storage_key(cli, tmp_path, ready_file):
    body = custom_job_body("echo hi")
    body["properties"]["secrets"] = [{"name": "TOKEN", "value": "s3cr3t-value-123"}]
    result = cli("run", "--job", str(write_json(tmp_path / "job.json", body)),
                 "--cluster", str(write_json(tmp_path / "cluster.json", cluster_body())),
                 *WHERE, "-e", EXPERIMENT, "-c", "c1", "-n", "secretive", "--keep", "--no-download")
    assert result.exit_code == 0, result.stderr
    storage_key = json.loads(ready_file.read_text())["storage_key"]
    for command in (["job", "show", "secretive", "-e", EXPERIMENT], ["job", "list"], ["cluster", "show", "c1"],
                    ["cluster", "list"]):
        for output in ("json", "table"):
            shown = cli(*command, *WHERE, "-o", output)
            assert shown.exit_code == 0, shown.stderr
            assert "s3cr3t-value-123" not in shown.stdout and storage_key not in shown.stdout
    assert "TOKEN" in cli("job", "show", "secretive", *WHERE, "-e", EXPERIMENT, "-o", "json").stdout


def test_raw_get_bodies_of_the_wire_read_back_as_specs(cli, finished, ready_file):
    import requests

    import batchai_kit as bk

    info = json.loads(ready_file.read_text())
    base = (f"{info['arm_endpoint'].rstrip('/')}/subscriptions/{info['subscription_id']}/resourceGroups/{GROUP}/"
            f"providers/Microsoft.BatchAI/workspaces/{WORKSPACE}")
    session = requests.Session()
    session.trust_env = False
    session.verify = info["ca_cert"]
    session.headers["Authorization"] = f"Bearer {info['token']}"

    def get(path: str) -> dict:
        answer = session.get(f"{base}/{path}", params={"api-version": "2018-05-01"}, timeout=30)
        assert answer.status_code == 200, answer.text
        return answer.json()

    job = bk.JobSpec.from_json(get(f"experiments/{EXPERIMENT}/jobs/{finished}"))
    assert isinstance(job, bk.CustomJob) and job.name == finished
    azure = bk.Azure.from_ready_file(ready_file)
    cluster_body = get(f"clusters/{CLUSTER}")
    spec = bk.ClusterSpec.from_json(cluster_body, azure=azure)  # the key the GET leaves out is the connection's
    assert spec.vm_size == "STANDARD_D1" and [share.name for share in spec.mounts] == ["runshare"]
    assert spec.admin(azure.admin).admin_user_name  # the body's name, with the connection's credential


def test_job_wait_exits_with_the_jobs_code(cli, finished, running):
    assert cli("job", "wait", finished, *WHERE, "-e", EXPERIMENT).exit_code == 0
    # a running job: terminated meanwhile, it ends without an exit code of its own
    running.terminate()
    waited = cli("job", "wait", running.name, *WHERE, "-e", EXPERIMENT, "--stream")
    assert waited.exit_code == ExitCode.JOB_FAILED, waited.stderr
    assert "JobTerminated" in waited.stderr


def test_job_wait_passes_a_failed_jobs_exit_code(cli, tmp_path):
    job = write_json(tmp_path / "job.json", custom_job_body("exit 9"))
    result = cli("run", "--job", str(job), "--cluster", str(write_json(tmp_path / "cluster.json", cluster_body())),
                 *WHERE, "-e", EXPERIMENT, "-c", "c1", "-n", "nine", "--keep", "--no-download")
    assert result.exit_code == 9
    waited = cli("job", "wait", "nine", *WHERE, "-e", EXPERIMENT)
    assert waited.exit_code == 9 and "exit code 9" in waited.stderr
