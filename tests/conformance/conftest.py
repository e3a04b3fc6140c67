"""The conformance suite: real clients (the Azure CLI, azure-identity) against a running emulator.

Run it with ``./dev.sh conformance``: that installs azure-cli into its own cached virtual
environment (~/.batchai_kit/conformance-venv) and sets BATCHAI_KIT_CONFORMANCE=1. Without that
variable these tests are not collected, so the default test run stays fast and needs no az.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

if not os.environ.get("BATCHAI_KIT_CONFORMANCE"):
    collect_ignore_glob = ["test_*.py"]


@pytest.fixture(scope="session")
def az_executable():
    from batchai_kit._az import find_az

    return find_az()


@pytest.fixture(scope="session")
def running_emulator(tmp_path_factory):
    """``batchai-kit emulator`` as a user starts it: its own process, a ready file."""
    root = tmp_path_factory.mktemp("conformance")
    ready = root / "emulator.json"
    log = (root / "emulator.log").open("w")
    process = subprocess.Popen([sys.executable, "-m", "batchai_kit.cli", "emulator", "--data-dir",
                                str(root / "data"), "--ready-file", str(ready)], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the emulator did not start: {(root / 'emulator.log').read_text()[-2000:]}")
            time.sleep(0.1)  # waiting for another process to write its ready file
        yield ready
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture(scope="session")
def ready(running_emulator):
    return json.loads(running_emulator.read_text())


class Az:
    """``batchai-kit az ...`` as a user types it; answers parsed from JSON."""

    def __init__(self, ready_file: Path, az: Path, environ: dict):
        self.ready_file = ready_file
        self.az = az
        self.environ = environ

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "batchai_kit.cli", "az", "--ready-file", str(self.ready_file),
                   "--az", str(self.az), *args]
        completed = subprocess.run(command, capture_output=True, text=True, env=self.environ, timeout=600)
        if check and completed.returncode != 0:
            raise AssertionError(f"az {' '.join(args)} failed ({completed.returncode}): {completed.stderr[-3000:]}")
        return completed

    def __call__(self, *args: str):
        out = self.run(*args, "--output", "json").stdout
        return json.loads(out) if out.strip() else None


@pytest.fixture(scope="session")
def az(running_emulator, ready, az_executable):
    return Az(running_emulator, az_executable, dict(os.environ))  # batchai-kit az points az storage at it
