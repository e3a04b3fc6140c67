"""Fixtures for the live library tests: each test gets its own embedded emulator (instant phase
timings), a journal of its own and a workspace, so nothing is shared between tests and nothing
touches ~/.batchai_kit."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import pytest

import batchai_kit as bk
from batchai_kit._journal import HOME_ENV, Journal
from batchai_kit.local.arm.timing import Timings

GROUP, WORKSPACE = "rg", "ws"
POLL = 0.02  # seconds between polls: the emulator answers at once, so waits can be short
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def kit_home(tmp_path, monkeypatch):
    """$BATCHAI_KIT_HOME in the test's directory: the default journal never touches ~."""
    home = tmp_path / "home"
    monkeypatch.setenv(HOME_ENV, str(home))
    return home


@pytest.fixture
def make_azure(tmp_path):
    """Start in-process emulators (``Azure.local``) with the given phase timings (instant by
    default); each is stopped when the test ends."""
    started: list[bk.Azure] = []

    def make(timings: Timings | None = None, name: str = "emu") -> bk.Azure:
        azure = bk.Azure.local(tmp_path / name, timings=timings or Timings.instant(), poll_interval=POLL)
        started.append(azure)
        return azure

    yield make
    for azure in started:
        azure.emulator.stop()


@pytest.fixture
def azure(make_azure):
    return make_azure()


@pytest.fixture
def journal(tmp_path):
    return Journal(tmp_path / "journal.jsonl")


@pytest.fixture
def workspace(azure, journal):
    with bk.Workspace(azure, GROUP, WORKSPACE, location="eastus", journal=journal) as ws:
        yield ws


@pytest.fixture
def share(workspace):
    return workspace.file_share("myshare")


@pytest.fixture
def batchai(azure):
    """A plain SDK client for the emulator: how the tests look behind the library's back."""
    return azure.batchai()


# --- helpers ---------------------------------------------------------------------------------


def cluster_names(batchai: Any, group: str = GROUP, workspace: str = WORKSPACE) -> list[str]:
    return sorted(c.name for c in batchai.clusters.list_by_workspace(group, workspace))


def sdk_job(batchai: Any, name: str, experiment: str = "default", group: str = GROUP,
            workspace: str = WORKSPACE) -> Any:
    return batchai.jobs.get(group, workspace, experiment, name)


def error_codes(model: Any) -> list[str]:
    info = model.execution_info
    return [e.code for e in (info.errors or [])] if info else []


def wait_for(predicate: Callable[[], Any], *, timeout: float = 20.0, what: str = "the condition") -> Any:
    """Poll ``predicate`` every 0.05 s until it returns something truthy; fail the test at the
    deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting {timeout:g} s for {what}")
        time.sleep(0.05)


def write_tree(root: Path, files: dict[str, bytes]) -> Path:
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return root


def local_files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def run_script(tmp_path):
    """Start a Python script in a subprocess of the venv's interpreter, its stdout and stderr
    going to files; every process still running at the end of the test is killed."""
    processes: list[subprocess.Popen] = []

    def start(source: str, name: str = "script", env: dict[str, str] | None = None) -> Script:
        path = tmp_path / f"{name}.py"
        path.write_text(source)
        stdout, stderr = tmp_path / f"{name}.stdout", tmp_path / f"{name}.stderr"
        with open(stdout, "wb") as out, open(stderr, "wb") as err:
            process = subprocess.Popen([sys.executable, str(path)], stdout=out, stderr=err, cwd=REPO,
                                       env={**os.environ, **(env or {})})
        processes.append(process)
        return Script(process, stdout, stderr)

    yield start
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


class Script:
    def __init__(self, process: subprocess.Popen, stdout: Path, stderr: Path):
        self.process = process
        self.stdout_path = stdout
        self.stderr_path = stderr

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def wait_for_file(self, path: Path, timeout: float = 30.0) -> None:
        def ready():
            if self.process.poll() is not None:
                pytest.fail(f"the script exited ({self.process.returncode}) before writing {path.name}:\n"
                            f"{self.stderr[-3000:]}")
            return path.exists()

        wait_for(ready, timeout=timeout, what=f"{path.name} from the script")

    def wait_for_stderr(self, text: str, timeout: float = 30.0) -> None:
        wait_for(lambda: text in self.stderr or self.process.poll() is not None, timeout=timeout,
                 what=f"{text!r} on the script's stderr")
        assert text in self.stderr, self.stderr[-3000:]

    def exit_code(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the script did not exit within {timeout:g} s:\n{self.stderr[-3000:]}")


@contextlib.contextmanager
def reopened(data_dir: Path, timings: Timings | None = None):
    """A fresh in-process emulator on a data directory another process used (instant phase
    timings unless given), and an SDK client."""
    from batchai_kit.local.emulator import emulator

    with emulator(data_dir, timings=timings or Timings.instant()) as emu:
        yield emu.batchai_client()
