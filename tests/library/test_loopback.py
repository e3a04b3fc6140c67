"""Clients of the emulator (loopback) reach it directly, whatever the environment says about proxies."""

from __future__ import annotations

import pytest


@pytest.mark.timeout(60)  # through the proxy, requests would retry until their budget ran out
def test_the_emulator_is_reached_directly_whatever_proxy_the_environment_names(azure, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # the discard port: no proxy there
    monkeypatch.setenv("https_proxy", "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    azure.resources().resource_groups.create_or_update("rg", {"location": "eastus"})
    assert [group.name for group in azure.resources().resource_groups.list()] == ["rg"]
    assert list(azure.batchai().workspaces.list()) == []
