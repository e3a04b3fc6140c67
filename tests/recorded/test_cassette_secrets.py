"""No cassette holds a secret: not the fixed ones the recorded tests use, nothing shaped like one.

(While recording, the serializer also refuses to write a cassette holding any secret value of
that run, such as the emulator's random storage key and bearer token: see test_scrubbing.py.)
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import batchai_kit.testing as kit

from .values import JOB_SECRET, WRONG_STORAGE_KEY, WRONG_TOKEN

REPO = Path(__file__).resolve().parents[2]
CASSETTE_DIRS = [REPO / "tests" / "cassettes", REPO / "examples" / "cassettes"]
FIXED_SECRETS = [kit.RECORDING_ADMIN_PASSWORD, kit.PLAYBACK_STORAGE_KEY, kit.PLAYBACK_TOKEN, JOB_SECRET,
                 WRONG_TOKEN, WRONG_STORAGE_KEY]
# The pattern the repository's pre-stop hook greps tests/ for.
HOOK_PATTERN = re.compile(r"Bearer [A-Za-z0-9._-]{20,}|AccountKey=[A-Za-z0-9+/]{20,}|sig=[A-Za-z0-9%+/]{20,}")
GUID = re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b")


def cassettes() -> list[Path]:
    return sorted(p for directory in CASSETTE_DIRS for p in directory.rglob(f"*.{kit.SERIALIZER_NAME}"))


def read(name: str) -> str:
    return next(p for p in cassettes() if p.name == f"{name}.{kit.SERIALIZER_NAME}").read_text()


def test_there_are_cassettes_to_scan():
    assert len(cassettes()) >= 38


def test_no_cassette_holds_a_secret_value_or_anything_shaped_like_one():
    found = [f"{path.relative_to(REPO)}: {hit}" for path in cassettes()
             for hit in kit.find_secrets(path.read_text(), FIXED_SECRETS)]
    assert found == []


def test_no_cassette_matches_the_repository_secret_pattern():
    assert [p.name for p in cassettes() if HOOK_PATTERN.search(p.read_text())] == []


def test_cassettes_name_only_the_fixed_endpoint_subscription_and_placeholders():
    for path in cassettes():
        text = path.read_text()
        assert not re.search(r"127\.0\.0\.1:\d+|localhost:\d+|/tmp/", text), path.name
        assert {g for g in GUID.findall(text) if not g.startswith("00000000-0000-0000-0000-")} == set(), path.name


@pytest.mark.parametrize("cassette, redacted", [
    ("test_a_job_left_running_is_terminated_when_its_cluster_block_ends", '"adminUserPassword": "REDACTED"'),
    ("test_a_job_left_running_is_terminated_when_its_cluster_block_ends", '"accountKey": "REDACTED"'),
    ("test_job_secrets_reach_the_job_but_not_the_cassette", '"value": "REDACTED"'),
    ("test_outputs_are_listed_read_and_downloaded", "&sig=REDACTED"),
])
def test_secrets_are_redacted_where_they_were_sent_or_answered(cassette, redacted):
    assert redacted in read(cassette)
