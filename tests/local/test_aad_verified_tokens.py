"""The authority remembers which tokens' signatures checked out (a client sends the same token with
every request), and still checks every claim on every use."""

from __future__ import annotations

import pytest

from batchai_kit.local.aad._keys import load_or_create
from batchai_kit.local.aad._tokens import Authority, ServicePrincipal, TokenRejected

BASE = "https://127.0.0.1:1"
ARM = "https://management.core.windows.net/"
START = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def key(tmp_path_factory):
    return load_or_create(tmp_path_factory.mktemp("aad"))


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def authority(key, clock):
    return Authority(key, "tenant-1", ServicePrincipal("client-1", "object-1", "s3cret"), clock=clock)


def test_a_remembered_token_is_refused_once_it_expires(authority, clock):
    token = authority.issue(BASE, ARM, lifetime=3600).token
    assert authority.verify(token, [ARM])["aud"] == ARM

    clock.now += 2 * 3600

    with pytest.raises(TokenRejected) as refused:
        authority.verify(token, [ARM])
    assert refused.value.code == "ExpiredAuthenticationToken"


def test_a_remembered_token_is_refused_for_another_audience(authority):
    token = authority.issue(BASE, ARM).token
    authority.verify(token, [ARM])

    with pytest.raises(TokenRejected) as refused:
        authority.verify(token, ["https://storage.azure.com/"])
    assert refused.value.code == "InvalidAuthenticationTokenAudience"


def test_a_token_altered_after_a_good_one_was_remembered_is_refused(authority):
    token = authority.issue(BASE, ARM).token
    authority.verify(token, [ARM])
    header, payload, signature = token.split(".")
    altered = ".".join([header, payload, signature[:-4] + ("AAAA" if signature[-4:] != "AAAA" else "BBBB")])

    with pytest.raises(TokenRejected) as refused:
        authority.verify(altered, [ARM])
    assert refused.value.code == "InvalidAuthenticationToken"


def test_changing_the_claims_a_caller_got_changes_nothing_for_the_next_caller(authority):
    token = authority.issue(BASE, ARM).token
    authority.verify(token, [ARM])["aud"] = "https://elsewhere/"

    assert authority.verify(token, [ARM])["aud"] == ARM


@pytest.mark.fresh_signing_keys  # really another key (the suite otherwise shares one per process)
def test_another_signing_key_does_not_inherit_what_the_first_one_verified(authority, tmp_path, clock):
    token = authority.issue(BASE, ARM).token
    authority.verify(token, [ARM])
    authority.key = load_or_create(tmp_path / "other")

    with pytest.raises(TokenRejected):
        authority.verify(token, [ARM])
