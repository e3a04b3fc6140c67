"""A crashed emulator (SIGKILL) leaves job processes behind; the next start on the same data
directory finds them by process group and start time, ends them (never a process that merely
got a recycled pid), and reports each job whose processes it lost with a code and a message
saying what happened. A clean stop leaves no job process behind."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

import batchai_kit as bk
from batchai_kit.local.arm.timing import Timings
from batchai_kit.local.emulator import emulator
from tests.local.test_emulator_cli import launch  # noqa: F401 - a fixture

DEADLINE = 60.0


def wait_until(probe, *, what: str, timeout: float = DEADLINE):
    """Poll *probe* until it returns something truthy; fail the test at the deadline."""
    deadline = time.monotonic() + timeout
    while not (value := probe()):
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting {timeout:g} s for {what}")
        time.sleep(0.02)
    return value


def alive(pid: int) -> bool:
    """Whether *pid* runs (a zombie does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def start_job(ready_file: Path, command: str, pid_file: Path) -> int:
    """A workspace, a share, a kept one-node cluster and a running job; the pid of the job's
    shell (the leader of its process group)."""
    azure = bk.Azure.from_ready_file(ready_file)
    with bk.Workspace(azure, "rg", "ws", location="eastus", journal=False, cleanup="keep") as ws:
        share = ws.file_share("logs", cleanup="keep")
        cluster = ws.gpu_cluster("c1", nodes=1, mounts=[share], cleanup="keep")
        cluster.create()
        job = cluster.submit(bk.CustomJob(name="j", command=f"echo $$ > {pid_file}.tmp && mv {pid_file}.tmp "
                                                            f"{pid_file}; {command}"))
        wait_until(lambda: job.state == "running", what="the job to run")
    return int(wait_until(lambda: pid_file.exists() and pid_file.read_text().strip(), what="the job's pid"))


@pytest.fixture
def crashed(launch, tmp_path):  # noqa: F811
    """Run a job on a ``batchai-kit emulator`` process, then SIGKILL the emulator."""

    left: list[int] = []

    def crash(command: str):
        data_dir = tmp_path / "data"
        first = launch(data_dir, port=None)
        pid = start_job(first.ready_file, command, tmp_path / "pid")
        left.append(os.getpgid(pid))
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(timeout=30)
        assert alive(pid)  # what the crash left behind
        return data_dir, pid

    yield crash
    for group in left:  # whatever the test found, leave no process behind
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)


def sdk_job(emu, name: str = "j"):
    return emu.batchai_client().jobs.get("rg", "ws", "default", name)


def test_a_restart_ends_the_processes_a_crash_left_and_says_so(crashed, tmp_path):
    data_dir, pid = crashed("sleep 600")

    with emulator(data_dir, timings=Timings.instant()) as emu:
        assert not alive(pid)
        job = sdk_job(emu)
        assert job.execution_state == "failed"
        [error] = job.execution_info.errors
        assert error.code == "JobProcessesLost"
        assert "stopped without a clean shutdown" in error.message
        assert "still running" in error.message and "ended" in error.message


@pytest.mark.parametrize("exit_code", [0, 3])
def test_a_job_that_ended_while_the_emulator_was_down_gets_its_real_result(crashed, tmp_path, exit_code):
    gate = tmp_path / "gate"
    data_dir, pid = crashed(f"while [ ! -e {gate} ]; do sleep 0.05; done; echo finished; exit {exit_code}")
    gate.touch()
    wait_until(lambda: not alive(pid), what="the job to end on its own")

    with emulator(data_dir, timings=Timings.instant()) as emu:
        job = sdk_job(emu)
        assert job.execution_info.exit_code == exit_code
        if exit_code == 0:
            assert job.execution_state == "succeeded" and not job.execution_info.errors
            return
        assert job.execution_state == "failed"
        assert [e.code for e in job.execution_info.errors] == ["JobFailed"]
        azure = bk.Azure.for_emulator(emu.info, emulator=emu)
        ran = bk.Workspace(azure, "rg", "ws", journal=False).experiment("default").job("j")
        with pytest.raises(bk.JobFailed) as raised:
            ran.wait(timeout=30)
        assert "failed with exit code 3" in str(raised.value)


def test_a_job_whose_processes_died_unrecorded_while_the_emulator_was_down_says_so(crashed):
    data_dir, pid = crashed("sleep 600")
    os.killpg(os.getpgid(pid), signal.SIGKILL)  # nothing of the job is left to record how it ended
    wait_until(lambda: not alive(pid), what="the job to die")

    with emulator(data_dir, timings=Timings.instant()) as emu:
        job = sdk_job(emu)
        assert job.execution_state == "failed" and job.execution_info.exit_code is None
        [error] = job.execution_info.errors
        assert error.code == "JobProcessesLost"
        assert "had ended" in error.message and "exit code was not recorded" in error.message
        azure = bk.Azure.for_emulator(emu.info, emulator=emu)
        lost = bk.Workspace(azure, "rg", "ws", journal=False).experiment("default").job("j")
        with pytest.raises(bk.JobFailed) as raised:
            lost.wait(timeout=30)
        message = str(raised.value)
        assert "before running" not in message
        assert "JobProcessesLost" in message and "had ended" in message


def test_a_recycled_pid_is_never_killed(crashed, tmp_path):
    data_dir, pid = crashed("sleep 600")
    group = os.getpgid(pid)
    os.killpg(group, signal.SIGKILL)
    wait_until(lambda: not alive(pid), what="the job to die")
    # another program now has the pid the emulator recorded (simulated: the record is pointed at it)
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True)
    try:
        with sqlite3.connect(data_dir / "state.sqlite3") as db:
            rows = db.execute("SELECT key, doc FROM documents WHERE kind = 'process'").fetchall()
            assert rows, "the emulator tracks its processes in its state"
            for key, doc in rows:
                db.execute("UPDATE documents SET doc = ? WHERE key = ?",
                           (doc.replace(f'"pid": {group}', f'"pid": {bystander.pid}'), key))
        with emulator(data_dir, timings=Timings.instant()) as emu:
            assert bystander.poll() is None and alive(bystander.pid)
            assert sdk_job(emu).execution_state == "failed"
    finally:
        bystander.kill()
        bystander.wait()


def test_a_clean_stop_leaves_no_job_process_behind_even_one_ignoring_sigterm(launch, tmp_path):  # noqa: F811
    data_dir = tmp_path / "data"
    running = launch(data_dir)
    pid = start_job(running.ready_file, "trap '' TERM; while true; do sleep 0.1; done", tmp_path / "pid")

    assert running.stop(signal.SIGTERM) == 0

    assert not alive(pid)
    with emulator(data_dir, timings=Timings.instant()) as emu:
        [error] = sdk_job(emu).execution_info.errors
        assert error.code == "EmulatorStopped"


def test_the_process_records_of_a_finished_job_are_dropped(tmp_path):
    with emulator(tmp_path / "data", timings=Timings.instant()) as emu:
        azure = bk.Azure.for_emulator(emu.info, emulator=emu, poll_interval=0.02)
        with bk.Workspace(azure, "rg", "ws", location="eastus", journal=False) as ws, \
                ws.gpu_cluster("c1", mounts=[ws.file_share("logs")]) as cluster:
            job = cluster.submit(bk.CustomJob(name="j", command="echo hi"))
            job.wait(timeout=60)
            assert emu.store.of_kind("process") == []
