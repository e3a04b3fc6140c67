"""Test your own batchai_kit pipeline with recorded HTTP cassettes (pytest + pytest-recording).

In ``conftest.py``::

    import pytest
    import batchai_kit.testing

    @pytest.fixture
    def vcr_config():
        return batchai_kit.testing.vcr_config()

and in a test::

    @pytest.mark.vcr
    def test_my_pipeline(batchai_azure):
        with bk.Workspace(batchai_azure, "rg", "ws") as ws:
            ...

``pytest --record-mode=rewrite`` records the cassette against the embedded emulator (or Azure,
with ``BATCHAI_KIT_RECORD_AGAINST=azure``); plain ``pytest`` replays it with the network blocked,
and no wait sleeps. See docs/testing.md.
"""

from __future__ import annotations

from typing import Any

from ._cassette import MATCH_BODY, MATCH_RANGE, SERIALIZER_NAME, ReplayMismatch, SecretInCassette
from ._recorder import (
    PLAYBACK_STORAGE_KEY,
    PLAYBACK_TOKEN,
    RECORD_AGAINST_ENV,
    RECORDING_ADMIN_PASSWORD,
    RECORDING_ADMIN_USER,
    Fault,
    Recorder,
    playback_azure,
)
from ._scan import SECRET_SHAPES, find_secrets
from ._scrub import (
    FAKE_ENDPOINT,
    FAKE_FILES_ENDPOINT,
    FAKE_STORAGE_ACCOUNT,
    FAKE_SUBSCRIPTION,
    REDACTED,
    SCRUBBER,
    before_record_request,
    before_record_response,
)

__all__ = [
    "vcr_config", "Recorder", "Fault", "playback_azure", "find_secrets", "SECRET_SHAPES", "SecretInCassette",
    "ReplayMismatch",
    "SCRUBBER", "before_record_request", "before_record_response",
    "FAKE_ENDPOINT", "FAKE_FILES_ENDPOINT", "FAKE_STORAGE_ACCOUNT", "FAKE_SUBSCRIPTION", "REDACTED",
    "RECORDING_ADMIN_USER", "RECORDING_ADMIN_PASSWORD", "PLAYBACK_TOKEN", "PLAYBACK_STORAGE_KEY",
    "RECORD_AGAINST_ENV", "SERIALIZER_NAME",
]


def vcr_config(**overrides: Any) -> dict[str, Any]:
    """The configuration for pytest-recording's ``vcr_config`` fixture: batchai_kit's serializer
    (``<test>.batchai.yaml``), scrubbers and matchers. ``overrides`` replace single entries."""
    config: dict[str, Any] = {
        "serializer": SERIALIZER_NAME,
        "before_record_request": before_record_request,
        "before_record_response": before_record_response,
        "decode_compressed_response": True,
        "match_on": ("method", "scheme", "host", "port", "path", "query", MATCH_RANGE, MATCH_BODY),
    }
    config.update(overrides)
    return config
