"""Jobs of every toolkit, and what a job can do: wait, stream, outputs, terminate, delete, attach.

Every job takes half a second at least: one that ends within milliseconds may be seen running
or already finished right after it was submitted, which would make recordings differ. Steps
that read a job's logs or outputs call ``batchai_recorder.settle()`` first: while
recording, it lets the emulator's process finish, so what the recording sees does not depend
on how fast the process ran; in replay it does nothing.
"""

from __future__ import annotations

import pytest

import batchai_kit as bk

from .values import JOB_SECRET

GROUP, WORKSPACE = "recorded-rg", "recorded-ws"
SCRIPT = b"import sys, time\ntime.sleep(0.5)\nprint('trained with', *sys.argv[1:])\n"


@pytest.fixture
def workspace(batchai_azure):
    with bk.Workspace(batchai_azure, GROUP, WORKSPACE) as ws:
        yield ws


@pytest.fixture
def share(workspace, tmp_path):
    script = tmp_path / "train.py"
    script.write_bytes(SCRIPT)
    share = workspace.file_share("recordedjobs")
    share.upload(script, "scripts", workers=1)
    return share


@pytest.fixture
def cluster(workspace, share):
    with workspace.gpu_cluster("c1", nodes=1, mounts=[share]) as running:
        yield running


TOOLKITS = {
    "cntk": lambda share: bk.CntkJob(name="cntk", script=share / "scripts/train.py", args=["cntk"]),
    "pytorch": lambda share: bk.PyTorchJob(name="pytorch", script=share / "scripts/train.py", args=["pytorch"]),
    "tensorflow": lambda share: bk.TensorFlowJob(name="tensorflow", script=share / "scripts/train.py",
                                                 master_args=["tensorflow"]),
    "chainer": lambda share: bk.ChainerJob(name="chainer", script=share / "scripts/train.py", args=["chainer"]),
    "horovod": lambda share: bk.HorovodJob(name="horovod", script=share / "scripts/train.py", args=["horovod"]),
    "custom": lambda share: bk.CustomJob(name="custom", command="sleep 0.5; echo trained with custom"),
    "custommpi": lambda share: bk.CustomMpiJob(name="custommpi", command="sleep 0.5; echo trained with custommpi"),
}


# The toolType the service reports where it differs from the toolkit's name.
TOOL_TYPES = {"pytorch": "custom"}


@pytest.mark.vcr
@pytest.mark.parametrize("toolkit", sorted(TOOLKITS))
def test_a_job_of_each_toolkit_runs_to_success(toolkit, cluster, share, batchai_recorder):
    job = cluster.submit(TOOLKITS[toolkit](share))
    batchai_recorder.settle()
    lines = []
    model = job.wait(stream="stdout.txt", on_line=lines.append)
    assert model.execution_state == "succeeded"
    assert model.tool_type == TOOL_TYPES.get(toolkit, toolkit)
    assert lines == [f"trained with {toolkit}"]


@pytest.mark.vcr
def test_wait_follows_a_job_through_its_states(cluster):
    states = []
    job = cluster.submit(bk.CustomJob(name="j1", command="sleep 1; echo done"))
    model = job.wait(on_change=lambda m: states.append(m.execution_state))
    assert model.execution_state == "succeeded" and job.exit_code == 0
    assert states == ["running", "succeeded"]


@pytest.mark.vcr
def test_stream_yields_the_lines_of_stdout(cluster, batchai_recorder):
    command = "sleep 0.5; for i in 1 2 3; do echo line $i; done; printf tail"
    job = cluster.submit(bk.CustomJob(name="j1", command=command))
    batchai_recorder.settle()
    assert list(job.stream()) == ["line 1", "line 2", "line 3", "tail"]


@pytest.mark.vcr
def test_outputs_are_listed_read_and_downloaded(cluster, share, tmp_path, batchai_recorder):
    command = ("sleep 0.5; mkdir -p $AZ_BATCHAI_OUTPUT_MODEL/sub && echo weights > $AZ_BATCHAI_OUTPUT_MODEL/model.txt "
               "&& echo extra > $AZ_BATCHAI_OUTPUT_MODEL/sub/extra.txt")
    job = cluster.submit(bk.CustomJob(name="j1", command=command, outputs={"MODEL": share / "models"}))
    batchai_recorder.settle()
    job.wait()
    assert sorted((f.name, f.is_directory) for f in job.files("MODEL")) == [("model.txt", False), ("sub", True)]
    assert job.read_text("model.txt", "MODEL") == "weights\n"
    written = job.download("MODEL", tmp_path / "out")
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in written) == ["model.txt", "sub/extra.txt"]
    assert (tmp_path / "out/sub/extra.txt").read_text() == "extra\n"


@pytest.mark.vcr
def test_terminate_stops_a_running_job(cluster):
    job = cluster.submit(bk.CustomJob(name="j1", command="sleep 300"))
    job.terminate()
    model = job.wait(check=False)
    assert model.execution_state == "failed"
    assert [e.code for e in model.execution_info.errors] == ["JobTerminated"]


@pytest.mark.vcr
def test_a_job_left_running_is_terminated_when_its_cluster_block_ends(workspace, share):
    with workspace.gpu_cluster("c1", nodes=1, mounts=[share], cleanup="keep") as cluster:
        cluster.submit(bk.CustomJob(name="j1", command="sleep 300"))
    job = workspace.experiment("default").job("j1")
    assert job.wait(check=False).execution_state == "failed"


@pytest.mark.vcr
def test_delete_removes_a_job(cluster, workspace):
    job = cluster.submit(bk.CustomJob(name="j1", command="sleep 0.5"))
    job.wait()
    job.delete()
    with pytest.raises(bk.NotFound):
        workspace.experiment("default").job("j1")


@pytest.mark.vcr
def test_attach_reads_an_existing_job_by_name(cluster, workspace):
    cluster.submit(bk.CustomJob(name="j1", command="sleep 0.5"), experiment="exp1").wait()
    job = workspace.experiment("exp1").job("j1")
    assert job.state == "succeeded"
    assert not job.created_here and job.cleanup == "keep"
    assert [j.name for j in workspace.experiment("exp1").jobs()] == ["j1"]


@pytest.mark.vcr
def test_a_failed_job_raises_job_failed_with_the_stderr_tail(cluster, batchai_recorder):
    command = 'sleep 0.5; for i in $(seq 1 30); do echo "err $i" >&2; done; exit 3'
    job = cluster.submit(bk.CustomJob(name="j1", command=command))
    batchai_recorder.settle()
    with pytest.raises(bk.JobFailed) as raised:
        job.wait()
    assert raised.value.exit_code == 3
    assert raised.value.error_codes == ["JobFailed"]
    assert raised.value.stderr_tail == "\n".join(f"err {i}" for i in range(11, 31))


@pytest.mark.vcr
def test_job_secrets_reach_the_job_but_not_the_cassette(cluster, batchai_recorder):
    batchai_recorder.secret(JOB_SECRET)
    job = cluster.submit(bk.CustomJob(name="j1", command='sleep 0.5; echo "token of ${#API_TOKEN} characters"',
                                      secrets={"API_TOKEN": JOB_SECRET}))
    batchai_recorder.settle()
    assert list(job.stream()) == [f"token of {len(JOB_SECRET)} characters"]
