"""What a block cleans up, and when: after an exception, Ctrl-C and SIGTERM (real signals sent to
real processes), never what existed before it, and always journaled."""

from __future__ import annotations

import contextlib
import os
import signal

import pytest

import batchai_kit as bk
from batchai_kit.local.arm.timing import Timings
from tests.library.conftest import GROUP, WORKSPACE, cluster_names, error_codes, reopened, sdk_job, wait_for

WAIT = 60


def submit_sleeper(cluster: bk.GpuCluster) -> bk.Job:
    job = cluster.submit(bk.CustomJob(name="sleeper", command="sleep 60"))
    wait_for(lambda: job.state == "running", timeout=WAIT, what="the job to run")
    return job


# --- in this process --------------------------------------------------------------------------------


def test_an_exception_in_a_cluster_block_terminates_its_job_and_deletes_the_cluster_first(workspace, share,
                                                                                         batchai):
    try:
        with workspace.gpu_cluster("c1", nodes=1, mounts=[share]) as cluster:
            submit_sleeper(cluster)
            raise RuntimeError("boom")
    except RuntimeError as raised:
        # the exception reaches the caller only now, after the cleanup
        assert str(raised) == "boom"
        assert cluster_names(batchai) == []
        job = sdk_job(batchai, "sleeper")
        assert job.execution_state == "failed"
        assert error_codes(job) == ["JobTerminated"]  # terminated by the block, not by the cluster's deletion
    else:
        pytest.fail("the exception was swallowed")


def test_a_keyboard_interrupt_in_a_cluster_block_terminates_its_job_and_deletes_the_cluster(workspace, share,
                                                                                            batchai):
    with pytest.raises(KeyboardInterrupt):
        with workspace.gpu_cluster("c1", nodes=1, mounts=[share]) as cluster:
            submit_sleeper(cluster)
            raise KeyboardInterrupt
    assert cluster_names(batchai) == []
    assert error_codes(sdk_job(batchai, "sleeper")) == ["JobTerminated"]


def test_blocks_restore_the_previous_signal_handlers_after_a_keyboard_interrupt(azure, journal):
    sigint, sigterm = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        with bk.Workspace(azure, GROUP, WORKSPACE, location="eastus", journal=journal) as ws, \
                ws.gpu_cluster("c1", nodes=1):
            assert signal.getsignal(signal.SIGTERM) is not sigterm  # SIGTERM is ours while a block is open
            raise KeyboardInterrupt
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == (sigint, sigterm)


def test_a_block_ending_normally_terminates_the_jobs_its_cluster_still_runs(workspace, share, batchai):
    with workspace.gpu_cluster("c1", nodes=1, mounts=[share], cleanup="keep") as cluster:
        submit_sleeper(cluster)
    assert cluster_names(batchai) == ["c1"]
    assert error_codes(sdk_job(batchai, "sleeper")) == ["JobTerminated"]


def test_resources_that_existed_before_a_block_are_never_deleted_by_it(azure, journal, batchai):
    with bk.Workspace(azure, GROUP, WORKSPACE, location="eastus", journal=False) as ws:
        ws.file_share("kept")
        ws.experiment("exp1")
        ws.gpu_cluster("c1", nodes=1, cleanup="keep").create()

    with pytest.raises(RuntimeError):
        with bk.Workspace(azure, GROUP, WORKSPACE, location="eastus", cleanup="delete", journal=journal) as ws, \
                bk.FileShare(azure, "kept", cleanup="delete", journal=journal), \
                bk.Experiment(ws, "exp1", cleanup="delete"), \
                ws.gpu_cluster("c1", nodes=1, cleanup="delete"):
            raise RuntimeError("boom")

    assert azure.resources().resource_groups.check_existence(GROUP)
    assert batchai.workspaces.get(GROUP, WORKSPACE).name == WORKSPACE
    assert batchai.experiments.get(GROUP, WORKSPACE, "exp1").name == "exp1"
    assert cluster_names(batchai) == ["c1"]
    assert azure.file_service().exists("kept")
    assert journal.entries() == []


def test_the_journal_records_intent_creation_and_deletion_of_what_the_block_made(azure, journal):
    with bk.Workspace(azure, GROUP, WORKSPACE, location="eastus", cleanup="delete", journal=journal) as ws:
        with ws.gpu_cluster("c1", nodes=1) as cluster:
            cluster_id = cluster.id
        workspace_id, group_id = ws.id, ws.group_id

    history: dict[tuple[str, str], list[str]] = {}
    for entry in journal.entries():
        history.setdefault((entry.kind, entry.id), []).append(entry.action)
        assert entry.pid == os.getpid()
        assert entry.endpoint == azure.arm_endpoint
    assert history == {
        ("resource_group", group_id): ["creating", "created", "deleted"],
        ("workspace", workspace_id): ["creating", "created", "deleted"],
        ("cluster", cluster_id): ["creating", "created", "deleted"],
    }
    assert journal.alive() == []


def test_the_journal_lists_a_cluster_as_alive_while_its_block_is_open(workspace, journal):
    with workspace.gpu_cluster("c1", nodes=1) as cluster:
        alive = [(a.kind, a.id, a.confirmed) for a in journal.alive()]
        assert ("cluster", cluster.id, True) in alive
    assert "cluster" not in {a.kind for a in journal.alive()}


# --- signals, in a subprocess ---------------------------------------------------------------------

SCRIPT = """\
import logging, sys, time
from pathlib import Path

import batchai_kit as bk
from batchai_kit._journal import Journal
from batchai_kit.local.arm.timing import Timings

logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
logging.getLogger("azure").setLevel(logging.WARNING)
data_dir, marker = Path({data_dir!r}), Path({marker!r})
azure = bk.Azure.local(data_dir, timings=Timings({timings}))
with bk.Workspace(azure, "rg", "ws", location="eastus", journal=Journal({journal!r})) as ws:
    share = ws.file_share("logs")
    with ws.gpu_cluster("c1", nodes=1, mounts=[share]) as cluster:
        job = cluster.submit(bk.CustomJob(name="sleeper", command="sleep 60"))
        deadline = time.monotonic() + 30
        while job.state != "running":
            assert time.monotonic() < deadline, "the job never ran"
            time.sleep(0.05)
        marker.write_text("running")
        try:
            time.sleep(60)
        except Exception:  # SIGTERM must not be swallowed by user code like this
            pass
print("the block ended normally")
"""

INSTANT = "0, 0, 0, 0, 0, 0"
NEVER_DELETED_TIMINGS = (0, 0, 0, 3600, 0, 0)  # a deletion takes an hour
NEVER_DELETED = ", ".join(str(t) for t in NEVER_DELETED_TIMINGS)


def start_script(run_script, tmp_path, timings=INSTANT):
    data_dir, marker = tmp_path / "child-emu", tmp_path / "running"
    script = run_script(SCRIPT.format(data_dir=str(data_dir), marker=str(marker), timings=timings,
                                      journal=str(tmp_path / "child-journal.jsonl")), name="child")
    script.wait_for_file(marker, timeout=60)
    return script, data_dir


def test_sigterm_cleans_up_the_job_and_the_cluster_and_exits_non_zero(run_script, tmp_path):
    script, data_dir = start_script(run_script, tmp_path)

    script.process.send_signal(signal.SIGTERM)

    assert script.exit_code(timeout=30) != 0
    assert "Terminated" in script.stderr
    assert "the block ended normally" not in script.stdout_path.read_text()
    with reopened(data_dir) as batchai:
        assert cluster_names(batchai) == []
        job = sdk_job(batchai, "sleeper")
        assert job.execution_state == "failed"
        assert error_codes(job) == ["JobTerminated"]


def test_a_second_ctrl_c_during_cleanup_exits_at_once_naming_what_may_remain(run_script, tmp_path):
    # Deleting a cluster never ends here (an hour): the first Ctrl-C's cleanup is certainly still
    # running when the second comes, however loaded the machine, and a process that waited for
    # the cleanup would not exit at all. No clock is read: the cluster left behind is the proof.
    script, data_dir = start_script(run_script, tmp_path, timings=NEVER_DELETED)

    script.process.send_signal(signal.SIGINT)
    script.wait_for_stderr("batchai_kit.cluster: Deleting cluster c1", timeout=60)
    script.process.send_signal(signal.SIGINT)

    assert script.exit_code(timeout=60) == 128 + signal.SIGINT
    with reopened(data_dir, timings=Timings(*NEVER_DELETED_TIMINGS)) as batchai:
        assert cluster_names(batchai) == ["c1"]  # the cleanup was cut short, not waited for
    stderr = script.stderr
    assert "CRITICAL" in stderr and "may still exist" in stderr
    assert "cluster /subscriptions/" in stderr and "/clusters/c1" in stderr
    assert "batchai-kit gc" in stderr


# --- an interrupt is never lost ---------------------------------------------------------------------


def test_a_ctrl_c_swallowed_inside_a_block_is_raised_again_when_the_block_ends(workspace, batchai):
    carried_on = False
    with pytest.raises(KeyboardInterrupt):
        with workspace.gpu_cluster("c1", nodes=1, cleanup="delete") as cluster:
            with contextlib.suppress(BaseException):  # what a careless library does
                signal.raise_signal(signal.SIGINT)
            carried_on = True
    assert carried_on
    assert not cluster.created_here
    assert cluster_names(batchai) == []


def test_a_sigterm_swallowed_inside_a_block_ends_it_as_terminated(workspace, batchai):
    with pytest.raises(bk.Terminated):
        with workspace.gpu_cluster("c1", nodes=1, cleanup="delete"):
            with contextlib.suppress(SystemExit):
                signal.raise_signal(signal.SIGTERM)
    assert cluster_names(batchai) == []


def test_an_interrupt_that_propagates_is_raised_once_and_then_forgotten(workspace, batchai):
    with pytest.raises(KeyboardInterrupt):
        with workspace.gpu_cluster("c1", nodes=1):
            signal.raise_signal(signal.SIGINT)
    with workspace.gpu_cluster("c2", nodes=1):  # a later block ends normally
        pass
    assert cluster_names(batchai) == []


def test_an_interrupt_caught_outside_any_block_is_not_raised_later(azure, journal):
    with contextlib.suppress(KeyboardInterrupt):
        signal.raise_signal(signal.SIGINT)  # no block open: Python's own handler
    ran = []
    with bk.Workspace(azure, GROUP, WORKSPACE, location="eastus", journal=journal) as ws, \
            ws.gpu_cluster("c1", nodes=1) as cluster:
        ran.append(cluster.created_here)
    assert ran == [True]  # both blocks ran and ended without the old interrupt coming back


def test_a_users_own_sigint_handler_is_left_alone(workspace):
    calls = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: calls.append(signum))
    try:
        with workspace.gpu_cluster("c1", nodes=1):
            signal.raise_signal(signal.SIGINT)
        assert calls == [signal.SIGINT]
    finally:
        signal.signal(signal.SIGINT, previous)


def test_transfer_workers_leave_interrupts_to_the_main_thread(share, tmp_path):
    from batchai_kit import _transfer

    masks = []
    real = _transfer.block_interrupts_in_this_thread

    def recording():
        real()
        masks.append(signal.pthread_sigmask(signal.SIG_BLOCK, set()))

    _transfer.block_interrupts_in_this_thread = recording
    try:
        (tmp_path / "up").mkdir()
        for i in range(3):
            (tmp_path / "up" / f"{i}.txt").write_text(str(i))
        share.upload(tmp_path / "up", "d")
    finally:
        _transfer.block_interrupts_in_this_thread = real
    assert masks and all({signal.SIGINT, signal.SIGTERM} <= mask for mask in masks)
    assert not {signal.SIGINT, signal.SIGTERM} & signal.pthread_sigmask(signal.SIG_BLOCK, set())


def test_a_ctrl_c_dropped_inside_an_sdk_call_is_raised_as_the_call_returns(workspace, batchai):
    from batchai_kit._resource import azure_errors

    def careless_sdk_call():  # a __del__ or retry loop that catches what it should not
        with contextlib.suppress(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
        return "answer"

    after = []
    with pytest.raises(KeyboardInterrupt):
        with workspace.gpu_cluster("c1", nodes=1):
            with azure_errors("Calling the SDK"):
                careless_sdk_call()
            after.append("ran on")
    assert after == []
    assert cluster_names(batchai) == []


def interrupted_after(real):
    """``real`` that does its work, then meets a Ctrl-C before its caller sees the answer."""

    def call(*args, **kwargs):
        real(*args, **kwargs)
        raise KeyboardInterrupt

    return call


def assert_workspace_block_left_nothing(azure, journal):
    with pytest.raises(KeyboardInterrupt):
        with bk.Workspace(azure, GROUP, WORKSPACE, location="eastus", cleanup="delete", journal=journal):
            pytest.fail("the block must not run")


# --- interrupts during creates and cleanups ---------------------------------------------------------


def test_a_ctrl_c_during_a_normal_cleanup_lets_it_finish_then_is_raised(azure, journal, monkeypatch):
    real_delete = bk.FileShare.delete

    def interrupted_delete(self):
        signal.raise_signal(signal.SIGINT)  # the user presses Ctrl-C as the block ends
        real_delete(self)

    monkeypatch.setattr(bk.FileShare, "delete", interrupted_delete)
    with pytest.raises(KeyboardInterrupt):
        with bk.FileShare(azure, "ending", cleanup="delete", journal=journal):
            pass
    assert not azure.file_service().exists("ending")
    assert journal.alive() == []  # the delete was recorded: the cleanup was not cut in half


def test_a_cluster_whose_create_is_interrupted_in_flight_is_ours_and_deleted(workspace, journal, batchai,
                                                                               monkeypatch):
    clusters = workspace.batchai.clusters
    real_begin_create = clusters.begin_create

    def interrupted_while_waiting(*args, **kwargs):
        real_begin_create(*args, **kwargs).result()  # the service made it...
        raise KeyboardInterrupt  # ...but Ctrl-C came before its answer was seen

    monkeypatch.setattr(clusters, "begin_create", interrupted_while_waiting)
    with pytest.raises(KeyboardInterrupt):
        with workspace.gpu_cluster("c1", nodes=1):
            pytest.fail("the block must not run")
    assert cluster_names(batchai) == []
    assert "cluster" not in {a.kind for a in journal.alive()}


def test_a_share_whose_create_is_interrupted_in_flight_is_ours_and_deleted(azure, journal):
    share = bk.FileShare(azure, "inflight", cleanup="delete", journal=journal)
    files = share._files()
    files.create_share = interrupted_after(files.create_share)
    with pytest.raises(KeyboardInterrupt):
        with share:
            pytest.fail("the block must not run")
    assert not azure.file_service().exists("inflight")
    assert journal.alive() == []


def test_a_share_found_existing_is_never_claimed_by_an_interrupt(azure, journal):
    azure.file_service().create_share("theirs2")  # another client's, made between look-up and create
    share = bk.FileShare(azure, "theirs2", cleanup="delete", journal=journal)
    files = share._files()
    files.exists = lambda *args, **kwargs: False
    files.get_share_metadata = lambda *args, **kwargs: (_ for _ in ()).throw(KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        with share:
            pytest.fail("the block must not run")
    assert azure.file_service().exists("theirs2")


def test_a_workspace_whose_group_create_is_interrupted_in_flight_is_deleted(azure, journal, monkeypatch):
    from azure.mgmt.resource.resources.operations import ResourceGroupsOperations

    monkeypatch.setattr(ResourceGroupsOperations, "create_or_update",
                        interrupted_after(ResourceGroupsOperations.create_or_update))
    assert_workspace_block_left_nothing(azure, journal)
    monkeypatch.undo()
    assert not azure.resources().resource_groups.check_existence(GROUP)
    assert journal.alive() == []


def test_a_workspace_block_interrupted_after_making_its_group_deletes_the_group(azure, journal, monkeypatch):
    from azure.mgmt.batchai.operations import WorkspacesOperations

    def interrupted_get(self, *args, **kwargs):
        raise KeyboardInterrupt  # Ctrl-C while looking the workspace up, the group just made

    monkeypatch.setattr(WorkspacesOperations, "get", interrupted_get)
    assert_workspace_block_left_nothing(azure, journal)
    monkeypatch.undo()
    assert not azure.resources().resource_groups.check_existence(GROUP)
    assert journal.alive() == []


def test_a_share_made_by_ws_file_share_and_interrupted_in_flight_is_deleted(workspace, journal, monkeypatch):
    from azure.storage.file import FileService

    monkeypatch.setattr(FileService, "create_share", interrupted_after(FileService.create_share))
    with pytest.raises(KeyboardInterrupt):
        workspace.file_share("flight", cleanup="delete")
    monkeypatch.undo()
    assert not workspace.azure.file_service().exists("flight")
    assert "share" not in {a.kind for a in journal.alive()}
