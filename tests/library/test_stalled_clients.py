"""Idle and stalled TCP clients never block the emulator: the TLS handshake happens off the
accept thread, with timeouts, and a full library flow (and a Ctrl-C's cleanup) runs while they
hold their connections open."""

from __future__ import annotations

import contextlib
import signal
import socket
import struct
import threading
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit

import pytest

import batchai_kit as bk
from tests.library.conftest import (
    GROUP,
    WORKSPACE,
    cluster_names,
    error_codes,
    local_files,
    reopened,
    sdk_job,
    wait_for,
    write_tree,
)

IDLE, HALF_HANDSHAKEN = 50, 10
FLOW_DEADLINE = 180  # a hang detector, not a speed target: the flow takes seconds


def half_client_hello() -> bytes:
    """A TLS record header announcing a 512-byte ClientHello, then only its first 4 bytes."""
    return struct.pack("!BHH", 22, 0x0301, 512) + b"\x01\x00\x01\xfc"


@contextlib.contextmanager
def stalled_clients(endpoint: str, idle: int = IDLE, half: int = HALF_HANDSHAKEN) -> Iterator[list[socket.socket]]:
    """*idle* connections that send nothing and *half* that stop in the middle of a ClientHello."""
    parts = urlsplit(endpoint)
    sockets: list[socket.socket] = []
    try:
        for index in range(idle + half):
            sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
            if index >= idle:
                sock.sendall(half_client_hello())
            sockets.append(sock)
        yield sockets
    finally:
        for sock in sockets:
            sock.close()


def run_with_hang_detector(flow, release: list[socket.socket]):
    """Run *flow* on a thread; if it outlives FLOW_DEADLINE, close the stalled sockets (which
    frees a blocked server) and fail the test."""
    outcome: dict = {}

    def target():
        try:
            outcome["value"] = flow()
        except BaseException as raised:  # noqa: BLE001 - re-raised on the test's thread
            outcome["error"] = raised

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(FLOW_DEADLINE)
    if thread.is_alive():
        for sock in release:
            sock.close()
        thread.join(60)
        pytest.fail(f"the flow was still blocked after {FLOW_DEADLINE} s by {len(release)} stalled connections")
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def test_a_full_flow_completes_while_50_idle_and_10_half_handshaken_connections_stay_open(
        azure, journal, batchai, tmp_path):
    sample = write_tree(tmp_path / "sample", {"data/a.txt": b"alpha\n", "data/b.bin": bytes(range(256)) * 64})

    def flow():
        with bk.Workspace(azure, GROUP, WORKSPACE, location="eastus", journal=journal) as ws:
            with ws.file_share("stalled", cleanup="delete") as share:
                share.upload(sample, "input")
                with ws.gpu_cluster("c1", nodes=1, mounts=[share]) as cluster:
                    job = cluster.submit(bk.CustomJob(
                        name="copy", inputs={"IN": share / "input"}, outputs={"OUT": share / "out"},
                        command="cp -r $AZ_BATCHAI_INPUT_IN/data $AZ_BATCHAI_OUTPUT_OUT/ && echo copied"))
                    job.wait(timeout=120)
                    job.download("OUT", tmp_path / "downloaded")
                    stdout = job.read_text("stdout.txt")
        return stdout

    with stalled_clients(azure.arm_endpoint) as sockets:
        stdout = run_with_hang_detector(flow, sockets)

    assert stdout == "copied\n"
    assert local_files(tmp_path / "downloaded") == {"data/a.txt": b"alpha\n", "data/b.bin": bytes(range(256)) * 64}
    assert cluster_names(batchai) == []
    assert [s.name for s in azure.file_service().list_shares()] == []


CTRL_C_SCRIPT = """\
import logging, signal, sys, time
from pathlib import Path

import batchai_kit as bk
from batchai_kit._journal import Journal
from batchai_kit.local.arm.timing import Timings

logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
logging.getLogger("azure").setLevel(logging.WARNING)
# as in a terminal, even when the test runner was started with SIGINT ignored (a background job)
signal.signal(signal.SIGINT, signal.default_int_handler)
data_dir, marker = Path({data_dir!r}), Path({marker!r})
azure = bk.Azure.local(data_dir, timings=Timings.instant())
with bk.Workspace(azure, "rg", "ws", location="eastus", journal=Journal({journal!r})) as ws:
    share = ws.file_share("logs")
    with ws.gpu_cluster("c1", nodes=1, mounts=[share]) as cluster:
        job = cluster.submit(bk.CustomJob(name="sleeper", command="sleep 600"))
        deadline = time.monotonic() + 60
        while job.state != "running":
            assert time.monotonic() < deadline, "the job never ran"
            time.sleep(0.05)
        marker.write_text(azure.arm_endpoint)
        time.sleep(600)
print("the block ended normally")
"""


def test_a_ctrl_c_cleans_up_while_stalled_connections_hold_the_emulator(run_script, tmp_path):
    data_dir, marker = tmp_path / "child-emu", tmp_path / "endpoint"
    script = run_script(CTRL_C_SCRIPT.format(data_dir=str(data_dir), marker=str(marker),
                                             journal=str(tmp_path / "child-journal.jsonl")), name="child")
    script.wait_for_file(marker, timeout=60)
    endpoint = marker.read_text()

    with stalled_clients(endpoint):
        script.process.send_signal(signal.SIGINT)
        code = script.exit_code(timeout=FLOW_DEADLINE)

    assert code == -signal.SIGINT, script.stderr[-3000:]  # KeyboardInterrupt reached the top
    assert "the block ended normally" not in script.stdout_path.read_text()
    with reopened(data_dir) as batchai:
        assert cluster_names(batchai) == []
        assert error_codes(sdk_job(batchai, "sleeper")) == ["JobTerminated"]


def test_stopping_the_emulator_is_not_held_up_by_stalled_connections(make_azure):
    azure = make_azure()
    with stalled_clients(azure.arm_endpoint, idle=5, half=5) as sockets:
        run_with_hang_detector(azure.emulator.stop, sockets)
        # the emulator closed its side: each stalled client now reads end-of-file (or a reset)
        for sock in sockets:
            sock.settimeout(30)
            with contextlib.suppress(ConnectionResetError):
                assert sock.recv(1) == b""
    assert Path(azure.emulator.data_dir).is_dir()


def blocked_signals(status: str) -> set[int]:
    """The signals a /proc/.../status text says are blocked (its SigBlk mask)."""
    mask = int(next(line.split()[1] for line in status.splitlines() if line.startswith("SigBlk:")), 16)
    return {number for number in range(1, 65) if mask & (1 << (number - 1))}


def test_no_emulator_thread_can_take_the_users_ctrl_c(azure, workspace, share):
    # A process-directed SIGINT goes to any thread not blocking it; taken by an emulator thread,
    # it would not wake the main thread's sleep, and the Ctrl-C would seem ignored.
    with stalled_clients(azure.arm_endpoint, idle=3, half=2), workspace.gpu_cluster("c1", mounts=[share]) as cluster:
        job = cluster.submit(bk.CustomJob(name="j", command="grep SigBlk /proc/self/status && sleep 600"))
        wait_for(lambda: job.state == "running" and "SigBlk" in job.read_text("stdout.txt"), timeout=60,
                 what="the job to print its signal mask")
        emulator_threads = [t for t in threading.enumerate() if t.name.startswith("batchai")]
        names = {t.name.split("-")[2] if t.name.startswith("batchai-kit") else "node" for t in emulator_threads}
        assert {"https", "ticker", "connection", "node"} <= names
        for thread in emulator_threads:
            try:
                status = Path(f"/proc/self/task/{thread.native_id}/status").read_text()
            except (FileNotFoundError, ProcessLookupError):  # a connection that ended meanwhile: its thread ended
                assert not thread.is_alive()
                continue
            assert {signal.SIGINT, signal.SIGTERM} <= blocked_signals(status), thread.name
        # ... and a job process does not inherit the mask: it can be stopped with SIGTERM
        assert not {signal.SIGINT, signal.SIGTERM} & blocked_signals(job.read_text("stdout.txt"))
