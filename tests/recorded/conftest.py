"""Cassette tests: every public flow of batchai_kit, replayed from tests/cassettes/.

    .venv/bin/python -m pytest tests/recorded                          # replay (network blocked)
    .venv/bin/python -m pytest tests/recorded --record-mode=rewrite    # re-record against the emulator

See docs/testing.md (re-recording against Azure, what is scrubbed, why replay is stable).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import batchai_kit.testing

# The plugin's fixtures, also when batchai_kit is not installed with its pytest11 entry point.
from batchai_kit.testing.plugin import batchai_azure, batchai_recorder, pytest_recording_configure  # noqa: F401

CASSETTES = Path(__file__).resolve().parents[1] / "cassettes"


@pytest.fixture
def vcr_config():
    return batchai_kit.testing.vcr_config()


@pytest.fixture(scope="module")
def vcr_cassette_dir(request):
    """tests/cassettes/<test module>/."""
    return str(CASSETTES / Path(str(request.node.fspath)).stem)


@pytest.fixture(autouse=True)
def replay_never_sleeps(request, monkeypatch):
    """In replay, any sleep of the library or the SDKs fails the test."""
    if "batchai_recorder" not in request.fixturenames:
        yield
        return
    recorder = request.getfixturevalue("batchai_recorder")
    if recorder.playback:
        real_sleep = time.sleep

        def no_sleep(seconds):
            if seconds > 0:
                raise AssertionError(f"slept {seconds} s during replay")
            real_sleep(0)

        monkeypatch.setattr(time, "sleep", no_sleep)
    yield
