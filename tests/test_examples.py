"""The scripts in examples/ run as documented."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from batchai_kit.quickstart import recipe_dir, stage_sample

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def environment(tmp_path):
    from batchai_kit.local.runtimes import cntk_runtime_dir

    return {**os.environ, "BATCHAI_KIT_HOME": str(tmp_path / "home"),
            "BATCHAI_KIT_CNTK_RUNTIME": str(cntk_runtime_dir())}


@pytest.fixture
def ready_file(tmp_path):
    """A `batchai-kit emulator` process and its ready file."""
    ready = tmp_path / "emulator.json"
    process = subprocess.Popen([sys.executable, "-m", "batchai_kit.cli", "emulator", "--data-dir",
                                str(tmp_path / "emu"), "--ready-file", str(ready)], env=environment(tmp_path),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while not ready.exists():
        assert process.poll() is None and time.monotonic() < deadline, "the emulator did not start"
        time.sleep(0.05)
    json.loads(ready.read_text())
    yield ready
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0


@pytest.mark.cntk
def test_the_raw_sdk_example_runs_a_cntk_job_on_a_running_emulator(ready_file, tmp_path, cntk_runtime):
    result = subprocess.run([sys.executable, str(EXAMPLES / "raw_sdk_cntk_job.py"), str(ready_file)],
                            capture_output=True, text=True, timeout=300, env=environment(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "job state: succeeded" in result.stdout and "exit code: 0 tool type: cntk" in result.stdout
    assert "MODEL/tiny.dnn" in result.stdout and "model saved" in result.stdout
    assert "sig=" not in result.stdout


@pytest.mark.cntk
def test_the_quickstart_example_trains_in_twelve_lines(tmp_path, cntk_runtime):
    sample = stage_sample(recipe_dir(), tmp_path / "sample", train_count=100, test_count=50)
    result = subprocess.run([sys.executable, str(EXAMPLES / "quickstart.py"), str(sample)], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300, env=environment(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Final test error:" in result.stdout and "('stdout.txt'," in result.stdout
    source = (EXAMPLES / "quickstart.py").read_text().split("# --- the quickstart: 12 lines ---\n", 1)[1]
    assert len([line for line in source.splitlines() if line.strip() and not line.lstrip().startswith("#")]) <= 15
