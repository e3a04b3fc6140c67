"""An emulator restarted on the same data directory keeps its port unless told otherwise, and
nothing it stored depends on the port: after a restart on another port, a job's outputs are still
listed and downloaded, and a kept cluster is attached to without a Conflict."""

from __future__ import annotations

import logging
import socket
from urllib.parse import urlsplit

import batchai_kit as bk
from batchai_kit.local.arm.timing import Timings
from batchai_kit.local.emulator import emulator
from tests.library.conftest import GROUP, POLL, WORKSPACE, local_files


def port_of(url: str) -> int:
    port = urlsplit(url).port
    assert port is not None
    return port


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def restarted(data_dir, **kwargs):
    return emulator(data_dir, timings=Timings.instant(), **kwargs)


def test_a_restart_on_the_same_data_directory_keeps_the_port(tmp_path):
    with restarted(tmp_path / "emu") as first:
        port = port_of(first.info.arm_endpoint)
    with restarted(tmp_path / "emu") as second:
        assert port_of(second.info.arm_endpoint) == port
        assert port_of(second.info.files_endpoint) == port


def test_an_explicit_port_wins_and_is_kept_afterwards(tmp_path):
    with restarted(tmp_path / "emu"):
        pass
    wanted = free_port()
    with restarted(tmp_path / "emu", port=wanted) as second:
        assert port_of(second.info.arm_endpoint) == wanted
    with restarted(tmp_path / "emu") as third:
        assert port_of(third.info.arm_endpoint) == wanted


def test_when_the_kept_port_is_taken_the_emulator_starts_on_another_and_says_so(tmp_path, caplog):
    with restarted(tmp_path / "emu") as first:
        port = port_of(first.info.arm_endpoint)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        with caplog.at_level(logging.WARNING, logger="batchai_kit.local"), restarted(tmp_path / "emu") as second:
            assert port_of(second.info.arm_endpoint) != port
    assert f"port {port} is in use" in caplog.text


def test_after_a_restart_on_another_port_outputs_are_listed_and_a_kept_cluster_is_attached(tmp_path):
    data_dir = tmp_path / "emu"
    with restarted(data_dir) as first:
        azure = bk.Azure.for_emulator(first.info, emulator=first, poll_interval=POLL)
        with bk.Workspace(azure, GROUP, WORKSPACE, location="eastus", journal=False) as ws:
            share = ws.file_share("kept", cleanup="keep")
            with ws.gpu_cluster("c1", nodes=1, mounts=[share], cleanup="keep") as cluster:
                job = cluster.submit(bk.CustomJob(name="j", outputs={"OUT": share / "out"},
                                                  command="echo model > $AZ_BATCHAI_OUTPUT_OUT/model.txt && echo done"))
                job.wait(timeout=60)
        first_port = port_of(first.info.arm_endpoint)

    other = free_port()
    assert other != first_port
    with restarted(data_dir, port=other) as second:
        azure = bk.Azure.for_emulator(second.info, emulator=second, poll_interval=POLL)
        with bk.Workspace(azure, GROUP, WORKSPACE, location="eastus", journal=False) as ws:
            share = ws.file_share("kept", cleanup="keep")
            with ws.gpu_cluster("c1", nodes=1, mounts=[share], cleanup="keep") as cluster:  # no Conflict
                assert cluster.created_here is False
                job = ws.experiment("default").job("j")
                assert "stdout.txt" in [f.name for f in job.files()]
                assert job.read_text("stdout.txt") == "done\n"
                job.download("OUT", tmp_path / "out")
                assert local_files(tmp_path / "out") == {"model.txt": b"model\n"}
                # and it still runs jobs that mount the share
                again = cluster.submit(bk.CustomJob(name="again", command="echo again"))
                again.wait(timeout=60)
                assert again.read_text("stdout.txt") == "again\n"
