"""Fixtures for driving ``batchai-kit`` for real: an emulator with a ready file (instant phase
timings), a journal home of the test's own, and a runner that keeps stdout and stderr apart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from batchai_kit._journal import HOME_ENV
from batchai_kit.cli import main

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def kit_home(tmp_path, monkeypatch):
    """The journal in the test's directory; the CNTK runtime where it is installed."""
    from batchai_kit.local.runtimes import cntk_runtime_dir

    monkeypatch.setenv("BATCHAI_KIT_CNTK_RUNTIME", str(cntk_runtime_dir()))
    home = tmp_path / "home"
    monkeypatch.setenv(HOME_ENV, str(home))
    monkeypatch.delenv("BATCHAI_KIT_READY_FILE", raising=False)
    return home


@pytest.fixture
def ready_file(emu, tmp_path) -> Path:
    path = tmp_path / "emulator.json"
    emu.write_ready_file(path)
    return path


@pytest.fixture
def cli(ready_file):
    """``cli("job", "list", ...)`` runs ``batchai-kit`` against the test's emulator."""

    def invoke(*args: str, connect: bool = True) -> Result:
        extra = ["--ready-file", str(ready_file)] if connect else []
        return CliRunner().invoke(main, [*args, *extra], catch_exceptions=False)

    return invoke


def write_json(path: Path, body: Any) -> Path:
    path.write_text(json.dumps(body))
    return path


MOUNT = "$AZ_BATCHAI_MOUNT_ROOT/afs"


def cluster_body(share: str = "runshare") -> dict:
    return {"properties": {
        "vmSize": "STANDARD_D1", "scaleSettings": {"manual": {"targetNodeCount": 1}},
        "nodeSetup": {"mountVolumes": {"azureFileShares": [{
            "accountName": "<AZURE_BATCHAI_STORAGE_ACCOUNT>",
            "azureFileUrl": f"https://<AZURE_BATCHAI_STORAGE_ACCOUNT>.file.core.windows.net/{share}",
            "credentials": {"accountKey": "<AZURE_BATCHAI_STORAGE_KEY>"}, "relativeMountPath": "afs"}]}}}}


def custom_job_body(command: str) -> dict:
    return {"properties": {
        "nodeCount": 1, "stdOutErrPathPrefix": MOUNT,
        "inputDirectories": [{"id": "DATA", "path": f"{MOUNT}/data"}],
        "outputDirectories": [{"id": "OUT", "pathPrefix": MOUNT, "pathSuffix": "out"}],
        "customToolkitSettings": {"commandLine": command}}}
