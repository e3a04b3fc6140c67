"""``batchai-kit gc``: what a killed process left behind is found from the journal, listed and
deleted; what is already gone is marked so."""

from __future__ import annotations

import json
import signal

import pytest
from click.testing import CliRunner

import batchai_kit as bk
from batchai_kit._journal import Journal
from batchai_kit.cli import main
from batchai_kit.local.arm.timing import Timings
from batchai_kit.local.emulator import emulator
from tests.library.conftest import GROUP, WORKSPACE, cluster_names


@pytest.fixture
def emu(tmp_path):
    """An emulator in this process that outlives the scripts the tests kill."""
    with emulator(tmp_path / "emu", timings=Timings.instant()) as running:
        yield running


@pytest.fixture
def ready_file(emu, tmp_path):
    path = tmp_path / "ready.json"
    emu.write_ready_file(path)
    return path


@pytest.fixture
def azure(ready_file):
    return bk.Azure.from_ready_file(ready_file)


@pytest.fixture
def batchai(emu):
    return emu.batchai_client()


@pytest.fixture
def existing_workspace(azure):
    """The workspace the scripts use, made beforehand and kept out of the journal."""
    return bk.Workspace(azure, GROUP, WORKSPACE, location="eastus", journal=False).ensure()


def gc(*args: str, answer: str | None = None):
    # a wide terminal keeps rich from folding the long resource ids of the table
    result = CliRunner().invoke(main, ["gc", *args], input=answer, env={"COLUMNS": "400"})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


KILLED_SCRIPT = """\
import sys, time
from pathlib import Path

import batchai_kit as bk

azure = bk.Azure.from_ready_file({ready!r})
with bk.Workspace(azure, "rg", "ws", location="eastus") as ws:  # the default journal: $BATCHAI_KIT_HOME/journal.jsonl
    with ws.gpu_cluster("c1", nodes=1):
        Path({marker!r}).write_text("created")
        time.sleep(60)
"""


@pytest.fixture
def killed_after_creating_a_cluster(existing_workspace, ready_file, run_script, tmp_path, batchai):
    """A process that created cluster c1 and was killed (SIGKILL) before it could delete it."""
    marker = tmp_path / "created"
    script = run_script(KILLED_SCRIPT.format(ready=str(ready_file), marker=str(marker)), name="killed")
    script.wait_for_file(marker, timeout=60)
    script.process.send_signal(signal.SIGKILL)
    assert script.exit_code(timeout=10) == -signal.SIGKILL
    assert cluster_names(batchai) == ["c1"]
    return f"{existing_workspace.id}/clusters/c1"


def test_a_killed_process_leaves_its_cluster_in_the_journal(killed_after_creating_a_cluster):
    [alive] = Journal().alive()
    assert (alive.kind, alive.id, alive.confirmed) == ("cluster", killed_after_creating_a_cluster, True)


def test_gc_lists_the_cluster_a_killed_process_left_as_alive(killed_after_creating_a_cluster, ready_file, batchai):
    result = gc("--ready-file", str(ready_file))
    assert result.exit_code == 0, result.output
    [row] = [line for line in result.output.splitlines() if killed_after_creating_a_cluster in line]
    assert "cluster" in row and "alive" in row
    assert cluster_names(batchai) == ["c1"]  # listing deletes nothing


def test_gc_delete_yes_deletes_it_and_the_journal_then_lists_nothing(killed_after_creating_a_cluster, ready_file,
                                                                    batchai):
    result = gc("--ready-file", str(ready_file), "--delete", "--yes")
    assert result.exit_code == 0, result.output
    assert f"deleted cluster {killed_after_creating_a_cluster}" in result.output
    assert cluster_names(batchai) == []
    assert Journal().alive() == []
    assert "The journal lists nothing still alive." in gc("--ready-file", str(ready_file)).output


def test_gc_delete_asks_first_and_a_no_deletes_nothing(killed_after_creating_a_cluster, ready_file, batchai):
    result = gc("--ready-file", str(ready_file), "--delete", answer="n\n")
    assert "Delete 1 resource(s)?" in result.output
    assert cluster_names(batchai) == ["c1"]
    assert len(Journal().alive()) == 1


def test_gc_marks_entries_whose_resource_is_already_gone(azure, ready_file, batchai):
    with bk.Workspace(azure, GROUP, WORKSPACE, location="eastus") as ws:
        cluster_id = ws.gpu_cluster("c1", nodes=1, cleanup="keep").create().id
    batchai.clusters.begin_delete(GROUP, WORKSPACE, "c1").result()  # behind the journal's back

    result = gc("--ready-file", str(ready_file))

    assert result.exit_code == 0, result.output
    [row] = [line for line in result.output.splitlines() if cluster_id in line]
    assert "gone" in row
    assert "cluster" not in {a.kind for a in Journal().alive()}
    assert Journal().entries()[-1].action == "deleted"


def test_gc_delete_kind_all_deletes_the_workspace_and_group_too(azure, ready_file, batchai):
    with bk.Workspace(azure, GROUP, WORKSPACE, location="eastus") as ws:
        ws.gpu_cluster("c1", nodes=1, cleanup="keep").create()
        ws.experiment("exp1")

    result = gc("--ready-file", str(ready_file), "--delete", "--yes", "--kind", "all")

    assert result.exit_code == 0, result.output
    assert Journal().alive() == []
    assert not azure.resources().resource_groups.check_existence(GROUP)


def test_gc_leaves_entries_of_another_endpoint_alone(ready_file):
    Journal().created("cluster", "/subscriptions/x/resourceGroups/g/providers/Microsoft.BatchAI/workspaces/w/"
                                 "clusters/elsewhere", "https://management.azure.com")

    result = gc("--ready-file", str(ready_file), "--delete", "--yes")

    assert result.exit_code == 0, result.output
    [row] = [line for line in result.output.splitlines() if "clusters/elsewhere" in line]
    assert "elsewhere" in row.split("clusters/elsewhere")[0]  # the state column, before the id
    assert len(Journal().alive()) == 1


def test_gc_lists_entries_of_an_emulator_that_no_longer_runs_as_stale_and_prune_forgets_them(ready_file):
    import socket

    with socket.socket() as closed:  # bound, not listening: a stopped emulator's port
        closed.bind(("127.0.0.1", 0))
        gone = f"https://127.0.0.1:{closed.getsockname()[1]}"
        Journal().created("cluster", "/subscriptions/x/resourceGroups/g/providers/Microsoft.BatchAI/workspaces/w/"
                                     "clusters/old", gone)

        listed = gc("--ready-file", str(ready_file))
        [row] = [line for line in listed.output.splitlines() if "clusters/old" in line]
        assert "stale" in row and "`batchai-kit gc --prune` forgets them" in listed.output
        assert len(Journal().alive()) == 1

        pruned = gc("--ready-file", str(ready_file), "--prune")
        assert pruned.exit_code == 0 and "Forgot 1 journal entry" in pruned.output
        assert Journal().alive() == []


def test_gc_delete_of_a_share_leaves_the_journal_listing_nothing(azure, ready_file):
    bk.FileShare(azure, "scratch").ensure()  # the default journal

    result = gc("--ready-file", str(ready_file), "--delete", "--yes", "--kind", "share")

    assert result.exit_code == 0, result.output
    assert not azure.file_service().exists("scratch")
    assert Journal().alive() == []


def test_gc_never_touches_a_share_of_another_storage_account(azure, ready_file):
    bk.FileShare(azure, "data", journal=False).ensure()  # this account's own "data", not journaled
    other = "https://otheraccount.file.core.windows.net"
    Journal().created("share", f"{other}/data", other)  # a "data" share made on another account

    result = gc("--ready-file", str(ready_file), "--delete", "--yes", "--kind", "all")

    assert result.exit_code == 0, result.output
    assert azure.file_service().exists("data")
    [row] = [line for line in result.output.splitlines() if f"{other}/data" in line]
    assert "elsewhere" in row
    assert [a.id for a in Journal().alive()] == [f"{other}/data"]


def test_gc_table_piped_keeps_whole_ids_and_json_parses(killed_after_creating_a_cluster, ready_file):
    piped = CliRunner().invoke(main, ["gc", "--ready-file", str(ready_file)], env={"COLUMNS": "80"})
    assert piped.exit_code == 0, piped.output
    [row] = [line for line in piped.output.splitlines() if killed_after_creating_a_cluster in line]
    assert row.split()[:3] == ["cluster", "alive", killed_after_creating_a_cluster]  # whole, though > 80 columns
    as_json = CliRunner().invoke(main, ["gc", "--ready-file", str(ready_file), "-o", "json"])
    [finding] = json.loads(as_json.stdout)
    assert (finding["kind"], finding["state"], finding["id"]) == ("cluster", "alive", killed_after_creating_a_cluster)
