"""While a job trains, the in-process emulator's threads sleep until something happens.

On a 2-core machine every wake-up of another thread preempts one of the job's training threads
(and the other waits for it at the next barrier), so the emulator has no timers that poll while
nothing changes: a node's supervisor sleeps on its processes' pidfds, the accept thread on its
socket, and the control plane's ticker on an event that requests and ended runs set.
"""

from __future__ import annotations

import math
import os
import select
import sys
import threading
import time

import pytest
import requests

from batchai_kit.local import _server
from batchai_kit.local._server import serve_https
from batchai_kit.local._tls import generate_self_signed
from batchai_kit.local.nodes import _process

from .test_arm_machines import RG, WS, FakeHandle, FakeRunner, World
from .test_nodes_jobs import DEADLINE, custom, finish, resolve_share, run, share, stdouterr  # noqa: F401

pytestmark = pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="pidfds are Linux-only")


class WatchableHandle(FakeHandle):
    """A fake run that says when it ends, as the node runner's handles do."""

    def __init__(self, name: str):
        super().__init__(name)
        self.callbacks: list = []

    def when_finished(self, callback) -> None:
        self.callbacks.append(callback)

    def succeed(self) -> None:
        super().succeed()
        for callback in self.callbacks:
            callback()


class WatchableRunner(FakeRunner):
    def start_job(self, job: dict, cluster: dict, nodes: list[dict]):
        super().start_job(job, cluster, nodes)
        handle = self.jobs[job["name"]] = WatchableHandle(job["name"])
        return handle


@pytest.fixture
def rest_world(tmp_path):
    from batchai_kit.local.arm.timing import Timings

    return World(tmp_path / "state.db", Timings(), WatchableRunner())


def _running_job(world: World, **job) -> None:
    world.cluster("c1", nodes=1)
    world.tick(world.cp.timings.cluster_allocation)
    world.tick(world.cp.timings.node_preparation)
    world.job("j1", **job)
    world.tick()
    assert world.get_job("j1")["properties"]["executionState"] == "running"


# -- the control plane's ticker -----------------------------------------------------------------


def test_a_cluster_in_transition_keeps_the_ticker_ticking(rest_world):
    rest_world.cluster("c1", nodes=1)

    assert rest_world.cp.idle_for() is None  # resizing: allocation is timed


def test_a_running_job_on_a_steady_cluster_lets_the_ticker_rest_until_its_wall_clock_limit(rest_world):
    _running_job(rest_world, wall_clock="PT1H")
    rest_world.clock.advance(100)

    assert rest_world.cp.idle_for() == pytest.approx(3500)


def test_an_idle_steady_cluster_lets_the_ticker_rest_indefinitely(rest_world):
    rest_world.cluster("c1", nodes=1)
    rest_world.tick(rest_world.cp.timings.cluster_allocation)
    rest_world.tick(rest_world.cp.timings.node_preparation)

    assert rest_world.cp.idle_for() == math.inf


def test_a_queued_job_keeps_the_ticker_ticking(rest_world):
    rest_world.cluster("c1", nodes=1)
    rest_world.job("j1")

    assert rest_world.cp.idle_for() is None


def test_a_run_that_cannot_say_when_it_ends_keeps_the_ticker_ticking(tmp_path):
    from batchai_kit.local.arm.timing import Timings

    world = World(tmp_path / "state.db", Timings(), FakeRunner())  # handles without when_finished
    _running_job(world)

    assert world.cp.idle_for() is None


def test_the_end_of_a_run_wakes_the_ticker(rest_world):
    _running_job(rest_world)
    rest_world.cp.wakeup.clear()

    rest_world.runner.jobs["j1"].succeed()

    assert rest_world.cp.wakeup.is_set()


def test_a_deletion_keeps_the_ticker_ticking(rest_world):
    _running_job(rest_world)
    rest_world.cp.delete_cluster(RG, WS, "c1")

    assert rest_world.cp.idle_for() is None


# -- a node's supervisor ---------------------------------------------------------------------------


@pytest.fixture
def selects(monkeypatch):
    """The timeouts of every select() the supervisors make."""
    seen: list = []
    real = select.select

    def recording(rlist, wlist, xlist, *timeout):
        seen.append(timeout[0] if timeout else None)
        return real(rlist, wlist, xlist, *timeout)

    monkeypatch.setattr(_process.select, "select", recording)
    return seen


def test_the_supervisor_sleeps_until_the_process_exits_without_a_timeout(run, selects):
    handle = run(custom("sleep 0.3"))

    result = finish(handle)

    assert result.succeeded
    assert selects and all(timeout is None for timeout in selects)
    assert len(selects) <= 2  # woken by the exit (once more at most, for a racing reap)


def test_terminate_wakes_the_sleeping_supervisor_of_a_job_that_ignores_sigterm(run, share, monkeypatch, selects):
    monkeypatch.setattr(_process, "TERMINATE_GRACE_SECONDS", 0.2)
    ignoring = f"{sys.executable} -c 'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); " \
               f"print(\"up\", flush=True); time.sleep(300)'"
    handle = run(custom(ignoring))
    stdout = stdouterr(share) / "stdout.txt"
    deadline = time.monotonic() + DEADLINE
    while not (stdout.exists() and "up" in stdout.read_text()):  # SIGTERM is ignored from here on
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.02)

    handle.terminate()
    result = finish(handle)

    assert result.errors[0]["code"] == "JobTerminated"


def test_without_pidfds_the_supervisor_still_sees_the_end(run, monkeypatch, selects):
    def unavailable(pid, flags=0):
        raise OSError(38, "Function not implemented")

    monkeypatch.setattr(_process.os, "pidfd_open", unavailable)
    handle = run(custom("exit 3"))

    result = finish(handle)

    assert result.exit_code == 3
    assert selects == []  # it polled instead


def test_a_callback_registered_after_the_end_runs_at_once(run):
    handle = run(custom("true"))
    finish(handle)
    called = threading.Event()

    handle.when_finished(called.set)

    assert called.is_set()


# -- the accept thread ------------------------------------------------------------------------------


def test_the_accept_thread_sleeps_without_a_timeout_and_stops_when_asked(tmp_path, monkeypatch):
    timeouts: list = []

    class RecordingSelector(_server.selectors.DefaultSelector):  # type: ignore[name-defined,misc]
        def select(self, timeout=None):
            timeouts.append(timeout)
            return super().select(timeout)

    monkeypatch.setattr(_server.selectors, "DefaultSelector", RecordingSelector)
    certificate = generate_self_signed(tmp_path / "tls")
    server = serve_https(lambda environ, start: (start("200 OK", [("Content-Length", "2")]), [b"ok"])[1],
                         certificate)
    try:
        answer = requests.get(f"{server.base_url}/", verify=str(certificate.cert_path), timeout=30)
        assert answer.text == "ok"
    finally:
        server.stop()

    assert not server.thread.is_alive()
    assert timeouts and all(timeout is None for timeout in timeouts)


def test_stopping_a_server_whose_loop_never_ran_returns(tmp_path):
    server = _server._HardenedServer("127.0.0.1", 0, lambda e, s: [], None, _server.ConnectionLimits())

    server.shutdown()
    server.server_close()

    server.server_close()  # a second close is harmless

    assert server._wake_fds == ()  # the wake-up pipe is closed


# -- ending a run: a group of zombies is over -------------------------------------------------------


def test_a_process_group_left_with_only_zombies_counts_as_ended(tmp_path):
    """Orphans of a terminated job wait for PID 1 to reap them (about once a second in some
    containers); ``_stop`` must not wait for that reap."""
    import signal
    import subprocess

    from batchai_kit.local.nodes._tracking import _stat, group_has_live_member

    running = subprocess.Popen(["sleep", "30"], start_new_session=True)
    ended = subprocess.Popen(["true"], start_new_session=True)
    try:
        deadline = time.monotonic() + DEADLINE
        while (_stat(ended.pid) or ("?",))[0] != "Z":  # exited, not yet reaped: a zombie leader
            assert time.monotonic() < deadline, "true never exited"
            time.sleep(0.01)

        os.killpg(ended.pid, 0)  # the group is still there for the kernel...
        assert not group_has_live_member(ended.pid)  # ...but nothing in it runs
        assert group_has_live_member(running.pid)
    finally:
        os.killpg(running.pid, signal.SIGKILL)
        running.wait()
        ended.wait()
