"""``batchai-kit emulator`` as a user runs it: a separate process, a ready file, signals to stop."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import azure.mgmt.batchai.models as models
import pytest
from azure.core.credentials import AccessToken

STARTUP_DEADLINE = 60.0
STOP_DEADLINE = 10.0


class StaticToken:
    """An azure-core TokenCredential handing out the token from the ready file."""

    def __init__(self, token: str):
        self._token = token

    def get_token(self, *scopes, **kwargs) -> AccessToken:
        return AccessToken(self._token, int(time.time()) + 3600)


class RunningEmulator:
    """One ``batchai-kit emulator`` process and what its ready file says."""

    def __init__(self, process: subprocess.Popen, ready_file: Path, log: Path):
        self.process = process
        self.ready_file = ready_file
        self.log = log
        self.info: dict = {}

    def wait_ready(self) -> dict:
        deadline = time.monotonic() + STARTUP_DEADLINE
        while not self.ready_file.exists():
            if self.process.poll() is not None:
                pytest.fail(f"emulator exited with {self.process.returncode} before it was ready:\n"
                            f"{self.log.read_text()}")
            if time.monotonic() > deadline:
                pytest.fail(f"no ready file after {STARTUP_DEADLINE:.0f} s:\n{self.log.read_text()}")
            time.sleep(0.05)
        self.info = json.loads(self.ready_file.read_text())
        return self.info

    def stop(self, signum: int) -> int:
        """Send *signum*; the exit code (fails the test if the process outlives the deadline)."""
        self.process.send_signal(signum)
        try:
            return self.process.wait(timeout=STOP_DEADLINE)
        except subprocess.TimeoutExpired:
            pytest.fail(f"emulator still running {STOP_DEADLINE:.0f} s after signal {signum}:\n"
                        f"{self.log.read_text()}")

    def batchai(self):
        from azure.mgmt.batchai import BatchAI

        return BatchAI(StaticToken(self.info["token"]), self.info["subscription_id"],
                       base_url=self.info["arm_endpoint"], connection_verify=self.info["ca_cert"])

    def resources(self):
        from azure.mgmt.resource.resources import ResourceManagementClient

        return ResourceManagementClient(StaticToken(self.info["token"]), self.info["subscription_id"],
                                        base_url=self.info["arm_endpoint"], connection_verify=self.info["ca_cert"])


@pytest.fixture
def launch(tmp_path):
    """Start ``batchai-kit emulator`` processes; any still running at the end is killed."""
    started: list[RunningEmulator] = []

    def run(data_dir: Path = tmp_path / "data", port: str | None = "0", *options: str) -> RunningEmulator:
        ready = tmp_path / f"ready-{len(started)}.json"
        log = tmp_path / f"emulator-{len(started)}.log"
        port_option = ["--port", port] if port is not None else []
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "batchai_kit.cli", "emulator", *port_option, "--data-dir", str(data_dir),
                 "--ready-file", str(ready), *options], stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        emulator = RunningEmulator(process, ready, log)
        started.append(emulator)
        emulator.wait_ready()
        return emulator

    yield run
    for emulator in started:
        if emulator.process.poll() is None:
            emulator.process.kill()
            emulator.process.wait(timeout=STOP_DEADLINE)


def create_workspace(emulator: RunningEmulator, name: str = "ws") -> None:
    emulator.resources().resource_groups.create_or_update("rg", {"location": "eastus"})
    emulator.batchai().workspaces.begin_create("rg", name, models.WorkspaceCreateParameters(location="eastus"),
                                               polling_interval=0.05).result()


def test_ready_file_is_private_and_says_how_to_connect(launch):
    emulator = launch()
    assert stat.S_IMODE(os.stat(emulator.ready_file).st_mode) == 0o600
    info = emulator.info
    assert {"arm_endpoint", "subscription_id", "ca_cert", "token"} <= info.keys()
    assert info["arm_endpoint"].startswith("https://127.0.0.1:")
    assert Path(info["ca_cert"]).is_file()
    assert info["token"]


def test_real_batchai_client_creates_and_lists_a_workspace(launch):
    emulator = launch()
    create_workspace(emulator)
    assert [w.name for w in emulator.batchai().workspaces.list()] == ["ws"]
    assert emulator.batchai().workspaces.get("rg", "ws").provisioning_state == "succeeded"


def test_sigterm_stops_cleanly_and_removes_the_ready_file(launch):
    emulator = launch()
    assert emulator.stop(signal.SIGTERM) == 0
    assert not emulator.ready_file.exists()


def test_sigint_stops_cleanly_and_removes_the_ready_file(launch):
    emulator = launch()
    assert emulator.stop(signal.SIGINT) == 0
    assert not emulator.ready_file.exists()


def test_restart_with_the_same_data_dir_keeps_the_workspace(launch, tmp_path):
    first = launch(tmp_path / "data")
    create_workspace(first)
    assert first.stop(signal.SIGTERM) == 0

    second = launch(tmp_path / "data")
    assert second.info["subscription_id"] == first.info["subscription_id"]
    assert [w.name for w in second.batchai().workspaces.list()] == ["ws"]


def test_without_port_a_restarted_emulator_listens_where_it_did_before(launch):
    first = launch(port=None)
    endpoint = first.info["arm_endpoint"]
    assert first.stop(signal.SIGTERM) == 0
    second = launch(port=None)
    assert second.info["arm_endpoint"] == endpoint
    assert second.info["files_endpoint"].startswith(endpoint + "/")


def test_with_proxy_the_ready_file_names_it_and_azure_host_names_reach_the_emulator(launch, tmp_path):
    import requests

    emulator = launch(tmp_path / "data", "0", "--proxy")
    info = emulator.info
    session = requests.Session()
    session.trust_env = False
    session.proxies = {"https": info["proxy_url"]}
    session.verify = info["ca_cert"]
    response = session.get(f"https://management.azure.com/subscriptions/{info['subscription_id']}/resourcegroups",
                           params={"api-version": "2017-05-10"}, headers={"Authorization": f"Bearer {info['token']}"},
                           timeout=30)
    assert response.status_code == 200
    assert f"HTTPS_PROXY={info['proxy_url']}" in emulator.log.read_text()
    assert emulator.stop(signal.SIGTERM) == 0
