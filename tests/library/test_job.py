"""``Job``: submitting, waiting, streaming, outputs, terminating and attaching, on the emulator
(jobs run as real local processes)."""

from __future__ import annotations

import os
import subprocess
import textwrap

import pytest

import batchai_kit as bk
from batchai_kit.errors import JobFailed, NotFound, Timeout, ValidationError
from tests.library.conftest import error_codes, local_files, sdk_job, wait_for, write_tree

WAIT = 60  # seconds: the deadline of every wait for a job


@pytest.fixture
def cluster(workspace, share):
    with workspace.gpu_cluster("c1", nodes=1, mounts=[share]) as running:
        yield running


def run(cluster, command: str, name: str = "j1", **spec) -> bk.Job:
    return cluster.submit(bk.CustomJob(name=name, command=command, **spec))


def wait_running(job: bk.Job) -> None:
    wait_for(lambda: job.state == "running", timeout=WAIT, what=f"job {job.name} to run")


# --- submitting and waiting ----------------------------------------------------------------------


def test_a_job_that_exits_0_succeeds(cluster):
    job = run(cluster, "echo hello")
    model = job.wait(timeout=WAIT)
    assert model.execution_state == "succeeded"
    assert job.exit_code == 0
    assert job.created_here


def test_submit_creates_the_experiment_it_names(cluster, workspace):
    job = cluster.submit(bk.CustomJob(name="j1", command="true"), experiment="exp1")
    job.wait(timeout=WAIT)
    assert [j.name for j in workspace.experiment("exp1").jobs()] == ["j1"]


def test_experiment_submit_runs_the_job_in_that_experiment(cluster, workspace, batchai):
    experiment = workspace.experiment("exp1")
    job = experiment.submit(bk.CustomJob(name="j1", command="true"), cluster)
    job.wait(timeout=WAIT)
    assert sdk_job(batchai, "j1", experiment="exp1").execution_state == "succeeded"


def test_a_failed_job_raises_job_failed_with_its_exit_code_codes_and_stderr_tail(cluster):
    job = run(cluster, "for i in $(seq 1 30); do echo \"err $i\" >&2; done; echo out; exit 3")
    with pytest.raises(JobFailed) as raised:
        job.wait(timeout=WAIT)
    error = raised.value
    assert error.job == "j1"
    assert error.exit_code == 3
    assert error.error_codes == ["JobFailed"]
    assert error.stderr_tail == "\n".join(f"err {i}" for i in range(11, 31))
    assert "err 30" in str(error)


def test_wait_without_check_returns_the_failed_job(cluster):
    job = run(cluster, "exit 5")
    model = job.wait(timeout=WAIT, check=False)
    assert model.execution_state == "failed"
    assert model.execution_info.exit_code == 5
    assert error_codes(model) == ["JobFailed"]


def test_wait_reports_each_state_change(cluster):
    seen = []
    run(cluster, "true").wait(timeout=WAIT, on_change=lambda model: seen.append(model.execution_state))
    assert seen[-1] == "succeeded"


def test_wait_streams_the_lines_of_a_file_including_a_last_one_without_newline(cluster):
    lines = []
    run(cluster, "echo one; sleep 0.3; echo two; printf three").wait(timeout=WAIT, stream="stdout.txt",
                                                                  on_line=lines.append)
    assert lines == ["one", "two", "three"]


# --- streaming -------------------------------------------------------------------------------------


def test_stream_yields_a_line_while_the_job_still_runs(cluster):
    job = run(cluster, "echo first; sleep 1.5; echo second")
    stream = job.stream("stdout.txt")
    assert next(stream) == "first"
    assert job.state == "running"
    assert list(stream) == ["second"]


def test_stream_ends_when_the_job_ends_with_a_last_line_without_newline(cluster):
    job = run(cluster, "echo one; sleep 0.3; printf 'two\\nthree'")
    assert list(job.stream("stdout.txt")) == ["one", "two", "three"]
    assert job.state == "succeeded"


def test_stream_of_stderr(cluster):
    job = run(cluster, "echo out; echo oops >&2")
    assert list(job.stream("stderr.txt")) == ["oops"]


def test_stream_of_a_file_in_an_output_directory(cluster, share):
    job = run(cluster, "echo a > $AZ_BATCHAI_OUTPUT_LOGS/log.txt; echo b >> $AZ_BATCHAI_OUTPUT_LOGS/log.txt",
              outputs={"LOGS": share / "logs"})
    assert list(job.stream("log.txt", directory_id="LOGS")) == ["a", "b"]


def test_stream_of_a_nested_file_in_an_output_directory(cluster, share):
    job = run(cluster, "mkdir -p $AZ_BATCHAI_OUTPUT_LOGS/sub && echo a > $AZ_BATCHAI_OUTPUT_LOGS/sub/log.txt",
              outputs={"LOGS": share / "logs"})
    assert list(job.stream("sub/log.txt", directory_id="LOGS")) == ["a"]


def test_wait_past_its_deadline_is_a_timeout(cluster):
    job = run(cluster, "sleep 60")
    with pytest.raises(Timeout) as raised:
        job.wait(timeout=0.3)
    assert raised.value.what == "job j1 to finish"
    assert raised.value.last_state in ("queued", "running")


# --- outputs ---------------------------------------------------------------------------------------


TREE = {
    "top.txt": b"top level\n",
    "nested/one.txt": "één\n".encode(),
    "nested/deep/blob.bin": bytes(range(256)) * 64,
    "nested/deep/big.bin": os.urandom(3 << 19),  # more than one 1 MiB chunk of a download
    "empty.txt": b"",
}


@pytest.fixture
def finished_copy(cluster, share, tmp_path):
    """A succeeded job that copied TREE from its input directory DATA to its output MODEL."""
    share.upload(write_tree(tmp_path / "tree", TREE), "data")
    job = run(cluster, "cp -r $AZ_BATCHAI_INPUT_DATA/. $AZ_BATCHAI_OUTPUT_MODEL/ && echo copied && echo done >&2",
              inputs={"DATA": share / "data"}, outputs={"MODEL": share / "model"})
    job.wait(timeout=WAIT)
    return job


def test_files_lists_stdout_and_stderr_with_download_urls(finished_copy):
    files = {f.name: f for f in finished_copy.files()}
    assert {"stdout.txt", "stderr.txt"} <= set(files)
    assert files["stdout.txt"].size == len(b"copied\n")
    assert all(f.url and f.url.startswith("https://") and not f.is_directory for f in files.values())


def test_files_lists_one_level_of_an_output_directory(finished_copy):
    top = {f.name: f.is_directory for f in finished_copy.files("MODEL")}
    assert top == {"top.txt": False, "empty.txt": False, "nested": True}


def test_files_lists_a_nested_directory_with_paths_from_the_output_root(finished_copy):
    nested = {f.path: f.is_directory for f in finished_copy.files("MODEL", "nested/deep")}
    assert nested == {"nested/deep/blob.bin": False, "nested/deep/big.bin": False}


def test_read_text_reads_stdout(finished_copy):
    assert finished_copy.read_text("stdout.txt") == "copied\n"
    assert finished_copy.read_text("stderr.txt") == "done\n"


def test_read_text_reads_a_nested_output_file(finished_copy):
    assert finished_copy.read_text("nested/one.txt", "MODEL") == "één\n"


def test_read_text_of_a_missing_file_names_it(finished_copy):
    with pytest.raises(ValidationError, match="nope.txt"):
        finished_copy.read_text("nope.txt")


def test_download_of_the_whole_output_tree_is_byte_exact(finished_copy, tmp_path):
    written = finished_copy.download("MODEL", tmp_path / "got")
    assert local_files(tmp_path / "got") == TREE
    assert sorted(written) == sorted(tmp_path / "got" / name for name in TREE)


def test_download_of_one_file_writes_only_that_file(finished_copy, tmp_path):
    written = finished_copy.download("MODEL", tmp_path / "one", path="nested/deep/blob.bin")
    assert written == [tmp_path / "one" / "blob.bin"]
    assert local_files(tmp_path / "one") == {"blob.bin": TREE["nested/deep/blob.bin"]}


def test_download_of_a_subdirectory_keeps_paths_from_the_output_root(finished_copy, tmp_path):
    finished_copy.download("MODEL", tmp_path / "sub", path="nested/deep")
    assert local_files(tmp_path / "sub") == {k: v for k, v in TREE.items() if k.startswith("nested/deep/")}


def test_download_of_stdouterr(finished_copy, tmp_path):
    finished_copy.download("stdouterr", tmp_path / "logs")
    got = local_files(tmp_path / "logs")
    assert (got["stdout.txt"], got["stderr.txt"]) == (b"copied\n", b"done\n")


# --- terminating, deleting, attaching ---------------------------------------------------------------


def test_terminate_stops_a_running_job(cluster):
    job = run(cluster, "sleep 60")
    wait_running(job)
    job.terminate()
    model = job.refresh()
    assert model.execution_state == "failed"
    assert error_codes(model) == ["JobTerminated"]


def test_delete_deletes_the_job(cluster, workspace, journal):
    job = run(cluster, "sleep 60")
    job.delete()
    with pytest.raises(NotFound):
        job.refresh()
    assert workspace.experiment("default").jobs() == []
    assert "job" not in {a.kind for a in journal.alive()}


def test_attach_by_name_finds_the_job(cluster, workspace):
    run(cluster, "echo hi").wait(timeout=WAIT)
    attached = workspace.experiment("default").job("j1")
    assert attached.model.execution_state == "succeeded"
    assert attached.read_text("stdout.txt") == "hi\n"
    assert not attached.created_here


def test_job_attach_of_a_missing_job_is_not_found(cluster, workspace):
    with pytest.raises(NotFound):
        bk.Job.attach(workspace.experiment("default"), "ghost")


def test_an_attached_job_is_never_terminated_by_its_block(cluster, workspace):
    job = run(cluster, "sleep 60")
    wait_running(job)
    with workspace.experiment("default").job("j1") as attached:
        assert attached.cleanup == "keep"
    with bk.Job.attach(workspace.experiment("default"), "j1", cleanup="terminate"):
        pass  # even asked to terminate: it did not submit the job
    assert job.state == "running"


def test_the_job_block_terminates_a_job_still_running(cluster):
    with run(cluster, "sleep 60") as job:
        wait_running(job)
    model = job.refresh()
    assert model.execution_state == "failed"
    assert error_codes(model) == ["JobTerminated"]


def test_the_job_block_leaves_a_finished_job_alone(cluster):
    with run(cluster, "echo hi") as job:
        job.wait(timeout=WAIT)
    model = job.refresh()
    assert model.execution_state == "succeeded"
    assert error_codes(model) == []


def test_the_job_block_with_cleanup_delete_deletes_the_job(cluster, workspace):
    with cluster.submit(bk.CustomJob(name="j1", command="sleep 60"), cleanup="delete"):
        pass
    assert workspace.experiment("default").jobs() == []


# --- a real toolkit --------------------------------------------------------------------------------

CNTK_IMAGE = "microsoft/cntk:2.1-gpu-python3.5-cuda8.0-cudnn6.0"
CNTK_SCRIPT = textwrap.dedent("""\
    import os
    import sys

    import cntk
    import numpy as np

    np.random.seed(0)
    features = cntk.input_variable(2)
    target = cntk.input_variable(1)
    model = cntk.layers.Dense(1)(features)
    loss = cntk.squared_error(model, target)
    trainer = cntk.Trainer(model, (loss, loss), [cntk.sgd(model.parameters, cntk.learning_parameter_schedule(0.1))])
    data = np.random.rand(64, 2).astype(np.float32)
    losses = []
    for _ in range(50):
        trainer.train_minibatch({features: data, target: data.sum(axis=1, keepdims=True)})
        losses.append(trainer.previous_minibatch_loss_average)
    print("loss %.4f -> %.4f" % (losses[0], losses[-1]))
    path = os.path.join(sys.argv[1], "model.dnn")
    model.save(path)
    print("saved model.dnn with cntk", cntk.__version__)
    """)


@pytest.mark.cntk
def test_a_cntk_job_runs_in_the_cntk_runtime_and_writes_its_model(cntk_runtime, cluster, share, tmp_path,
                                                                  monkeypatch):
    # the runtime was found under the real $BATCHAI_KIT_HOME, which this test's home hides
    monkeypatch.setenv("BATCHAI_KIT_CNTK_RUNTIME", str(cntk_runtime.prefix))
    (tmp_path / "cntk").mkdir()
    (tmp_path / "cntk" / "train.py").write_text(CNTK_SCRIPT)
    share.upload(tmp_path / "cntk", "cntk")
    job = cluster.submit(bk.CntkJob(name="cntk", image=CNTK_IMAGE, script=share / "cntk/train.py",
                                    args=["$AZ_BATCHAI_OUTPUT_MODEL"], outputs={"MODEL": share / "models"}))
    job.wait(timeout=180)

    stdout = job.read_text("stdout.txt")
    assert "saved model.dnn with cntk 2.7" in stdout
    first, last = (float(x) for x in stdout.split("loss ")[1].splitlines()[0].split(" -> "))
    assert last < first / 2
    [model] = job.download("MODEL", tmp_path / "got")
    assert model.name == "model.dnn" and model.stat().st_size > 0
    loaded = subprocess.run([str(cntk_runtime.python), "-c", "import sys, cntk; "
                             "print(cntk.load_model(sys.argv[1]).shape)", str(model)],
                            capture_output=True, text=True, timeout=120, env={**os.environ, **cntk_runtime.environ()})
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    assert loaded.stdout.strip().endswith("(1,)")
