"""``Workspace`` and ``Experiment`` against the embedded emulator."""

from __future__ import annotations

import attrs
import pytest

import batchai_kit as bk
from batchai_kit.errors import NotFound, ValidationError
from tests.library.conftest import GROUP, WORKSPACE


class RecordingCredential:
    """A TokenCredential that counts the tokens asked for: every request needs one."""

    def __init__(self):
        self.calls = 0

    def get_token(self, *scopes, **kwargs):
        self.calls += 1
        raise AssertionError("a request was about to be sent")


@pytest.fixture
def offline():
    """An ``Azure`` pointing nowhere whose credential records any attempt to send a request."""
    credential = RecordingCredential()
    azure = bk.Azure(credential, "00000000-0000-0000-0000-000000000000", arm_endpoint="https://127.0.0.1:9",
                     location=None)
    return azure, credential


def group_exists(azure, name=GROUP):
    return azure.resources().resource_groups.check_existence(name)


def workspace_exists(batchai, group=GROUP, name=WORKSPACE):
    try:
        batchai.workspaces.get(group, name)
    except Exception as exc:  # noqa: BLE001 - the SDK's ResourceNotFoundError
        assert getattr(exc, "status_code", None) == 404, exc
        return False
    return True


# --- creating and attaching ------------------------------------------------------------------


def test_entering_creates_the_resource_group_and_the_workspace(azure, journal, batchai):
    with bk.Workspace(azure, GROUP, WORKSPACE, location="eastus", journal=journal) as ws:
        assert (ws.created_group, ws.created_here) == (True, True)
        assert group_exists(azure)
        model = batchai.workspaces.get(GROUP, WORKSPACE)
        assert (model.name, model.location) == (WORKSPACE, "eastus")


def test_entering_attaches_when_the_group_and_workspace_exist(azure, journal):
    bk.Workspace(azure, GROUP, WORKSPACE, location="eastus", journal=False).ensure()

    with bk.Workspace(azure, GROUP, WORKSPACE, location="eastus", journal=journal) as ws:
        assert (ws.created_group, ws.created_here) == (False, False)
    assert journal.entries() == []


def test_entering_creates_only_the_workspace_in_an_existing_group(azure, journal):
    azure.resources().resource_groups.create_or_update(GROUP, {"location": "eastus"})

    with bk.Workspace(azure, GROUP, WORKSPACE, location="eastus", journal=journal) as ws:
        assert (ws.created_group, ws.created_here) == (False, True)


def test_the_location_defaults_to_the_connections(azure, journal, batchai):
    with bk.Workspace(azure, GROUP, WORKSPACE, journal=journal) as ws:
        assert ws.location == azure.location == "eastus"
    assert batchai.workspaces.get(GROUP, WORKSPACE).location == "eastus"


# --- cleanup ----------------------------------------------------------------------------------


def test_cleanup_keep_is_the_default_and_leaves_both(azure, journal, batchai):
    with bk.Workspace(azure, GROUP, WORKSPACE, location="eastus", journal=journal):
        pass
    assert group_exists(azure)
    assert workspace_exists(batchai)


def test_cleanup_delete_deletes_the_workspace_and_the_group_the_block_created(azure, journal, batchai):
    with bk.Workspace(azure, GROUP, WORKSPACE, location="eastus", cleanup="delete", journal=journal):
        pass
    assert not group_exists(azure)
    assert not workspace_exists(batchai)
    assert journal.alive() == []


def test_cleanup_delete_keeps_a_group_that_existed_before(azure, journal, batchai):
    azure.resources().resource_groups.create_or_update(GROUP, {"location": "eastus"})

    with bk.Workspace(azure, GROUP, WORKSPACE, location="eastus", cleanup="delete", journal=journal):
        pass
    assert group_exists(azure)
    assert not workspace_exists(batchai)


def test_cleanup_delete_keeps_a_workspace_that_existed_before(azure, journal, batchai):
    bk.Workspace(azure, GROUP, WORKSPACE, location="eastus", journal=False).ensure()

    with bk.Workspace(azure, GROUP, WORKSPACE, location="eastus", cleanup="delete", journal=journal):
        pass
    assert group_exists(azure)
    assert workspace_exists(batchai)


def test_cleanup_delete_also_runs_when_the_block_raises(azure, journal, batchai):
    with pytest.raises(RuntimeError, match="boom"):
        with bk.Workspace(azure, GROUP, WORKSPACE, location="eastus", cleanup="delete", journal=journal):
            raise RuntimeError("boom")
    assert not group_exists(azure)


def test_delete_deletes_the_workspace(workspace, batchai):
    workspace.delete()
    assert not workspace_exists(batchai)
    assert workspace.created_here is False


def test_clusters_lists_the_workspaces_clusters(workspace):
    assert workspace.clusters() == []
    with workspace.gpu_cluster("c1", nodes=1):
        assert [c.name for c in workspace.clusters()] == ["c1"]


def test_a_workspace_without_a_journal_journals_nothing_it_makes(azure, kit_home):
    with bk.Workspace(azure, GROUP, WORKSPACE, location="eastus", journal=False) as ws:
        ws.file_share("nojournal")
        ws.experiment("exp1")
        with ws.gpu_cluster("c1", nodes=1):
            pass
    assert not (kit_home / "journal.jsonl").exists()  # nor the default journal


# --- experiments -------------------------------------------------------------------------------


def test_experiment_creates_a_missing_experiment(workspace, batchai):
    experiment = workspace.experiment("exp1")
    assert experiment.created_here
    assert batchai.experiments.get(GROUP, WORKSPACE, "exp1").name == "exp1"


def test_experiment_attaches_to_an_existing_experiment(workspace):
    workspace.experiment("exp1")
    again = workspace.experiment("exp1")
    assert not again.created_here


def test_experiments_lists_the_workspaces_experiments(workspace):
    workspace.experiment("exp1")
    workspace.experiment("exp2")
    assert sorted(e.name for e in workspace.experiments()) == ["exp1", "exp2"]


def test_experiment_delete_deletes_it(workspace, batchai):
    experiment = workspace.experiment("exp1")
    experiment.delete()
    with pytest.raises(Exception) as raised:
        batchai.experiments.get(GROUP, WORKSPACE, "exp1")
    assert raised.value.status_code == 404
    assert workspace.experiments() == []


def test_experiment_block_with_cleanup_delete_deletes_only_what_it_created(workspace):
    workspace.experiment("kept")
    with bk.Experiment(workspace, "kept", cleanup="delete"), bk.Experiment(workspace, "made", cleanup="delete"):
        pass
    assert [e.name for e in workspace.experiments()] == ["kept"]


def test_experiment_journals_what_it_creates(workspace, journal):
    experiment = workspace.experiment("exp1")
    assert ("experiment", experiment.id) in {(a.kind, a.id) for a in journal.alive()}
    experiment.delete()
    assert "experiment" not in {a.kind for a in journal.alive()}


def test_experiment_job_of_a_missing_job_is_not_found(workspace):
    with pytest.raises(NotFound):
        workspace.experiment("exp1").job("nosuchjob")


# --- validation before any request --------------------------------------------------------------


@pytest.mark.parametrize("group", ["", "a" * 91, "bad/name", "ends.with.dot."])
def test_a_bad_resource_group_name_is_refused_before_any_request(offline, group):
    azure, credential = offline
    with pytest.raises(ValidationError) as raised:
        bk.Workspace(azure, group, WORKSPACE, location="eastus", journal=False)
    assert repr(group) in str(raised.value)
    assert credential.calls == 0


@pytest.mark.parametrize("name", ["", "has space", "dot.ted", "slash/ed", "x" * 65])
def test_a_bad_workspace_name_is_refused_before_any_request(offline, name):
    azure, credential = offline
    with pytest.raises(ValidationError):
        bk.Workspace(azure, GROUP, name, location="eastus", journal=False)
    assert credential.calls == 0


def test_a_missing_location_is_refused_before_any_request(offline):
    azure, credential = offline
    with pytest.raises(ValidationError, match="location"):
        bk.Workspace(azure, GROUP, WORKSPACE, journal=False)
    assert credential.calls == 0


def test_an_unknown_cleanup_policy_is_refused_before_any_request(offline):
    azure, credential = offline
    with pytest.raises(ValidationError, match="cleanup"):
        bk.Workspace(azure, GROUP, WORKSPACE, location="eastus", cleanup="destroy", journal=False)
    assert credential.calls == 0


def test_a_bad_experiment_name_is_refused_before_any_request(offline):
    azure, credential = offline
    workspace = bk.Workspace(azure, GROUP, WORKSPACE, location="eastus", journal=False)
    with pytest.raises(ValidationError):
        bk.Experiment(workspace, "bad name!")
    assert credential.calls == 0


def test_nothing_is_created_when_validation_fails(azure):
    with pytest.raises(ValidationError):
        bk.Workspace(attrs.evolve(azure, location=None), GROUP, WORKSPACE, journal=False)
    assert not group_exists(azure)
