"""The journal forgets entries of local emulators that no longer run (``gc --prune``), and never
an entry on Azure."""

from __future__ import annotations

import socket

import pytest
from click.testing import CliRunner

from batchai_kit._gc import local_emulator_gone, prune_journal, stale_entries
from batchai_kit._journal import Journal, is_local_endpoint
from batchai_kit.cli import main
from batchai_kit.errors import ValidationError

AZURE = "https://management.azure.com"
CLUSTER = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.BatchAI/workspaces/ws/clusters/c"


@pytest.fixture
def closed_port():
    """A loopback port bound but not listening: connecting is refused, and nobody can take it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture
def open_port():
    """A loopback port something listens on (say, an emulator now running there)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.fixture
def journal(tmp_path, monkeypatch):
    monkeypatch.setenv("BATCHAI_KIT_HOME", str(tmp_path))
    monkeypatch.delenv("AZURE_SUBSCRIPTION_ID", raising=False)
    return Journal()


@pytest.mark.parametrize(("url", "local"), [
    ("https://127.0.0.1:4443", True), ("https://127.8.0.1:1/x", True), ("https://[::1]:4443", True),
    ("https://localhost:4443", True), (AZURE, False), ("https://10.0.0.5:4443", False),
    ("https://myaccount.file.core.windows.net", False),
])
def test_only_loopback_endpoints_are_local(url, local):
    assert is_local_endpoint(url) is local


def test_a_local_emulator_is_gone_when_its_port_refuses(closed_port, open_port):
    assert local_emulator_gone(f"https://127.0.0.1:{closed_port}")
    assert not local_emulator_gone(f"https://127.0.0.1:{open_port}")
    assert not local_emulator_gone(AZURE)  # never probed: Azure is never "gone"


def test_prune_forgets_the_entries_of_emulators_that_no_longer_run_and_nothing_else(journal, closed_port, open_port):
    gone, running = f"https://127.0.0.1:{closed_port}", f"https://127.0.0.1:{open_port}"
    journal.created("cluster", CLUSTER, gone)
    journal.created("share", f"{gone}/batchaikitlocal/data", f"{gone}/batchaikitlocal")
    journal.created("cluster", CLUSTER, running)
    journal.intent("cluster", CLUSTER, AZURE)  # unconfirmed, on Azure: may cost money
    forgotten = prune_journal(journal)
    assert sorted(entry.kind for entry in forgotten) == ["cluster", "share"]
    assert sorted(entry.endpoint for entry in journal.alive()) == sorted([AZURE, running])
    assert stale_entries(journal.alive()) == []


def test_an_entry_on_azure_cannot_be_forgotten(journal):
    with pytest.raises(ValidationError, match="only entries of a local emulator"):
        journal.forgotten("cluster", CLUSTER, AZURE)


def test_forgetting_a_group_forgets_what_is_in_it(journal, closed_port):
    gone = f"https://127.0.0.1:{closed_port}"
    journal.created("resource_group", "/subscriptions/s/resourceGroups/rg", gone)
    journal.created("cluster", CLUSTER, gone)
    journal.forgotten("resource_group", "/subscriptions/s/resourceGroups/rg", gone)
    assert journal.alive() == []


def test_gc_prune_needs_no_connection_and_says_what_it_forgot(journal, closed_port):
    journal.created("cluster", CLUSTER, f"https://127.0.0.1:{closed_port}")
    journal.created("cluster", CLUSTER, AZURE)
    result = CliRunner().invoke(main, ["gc", "--prune"])
    assert result.exit_code == 0, result.output
    assert "Forgot 1 journal entry of local emulators that no longer run" in result.output
    assert [entry.endpoint for entry in journal.alive()] == [AZURE]
    again = CliRunner().invoke(main, ["gc", "--prune"])
    assert "No journal entries of local emulators that no longer run" in again.output
