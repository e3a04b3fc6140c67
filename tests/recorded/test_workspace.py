"""Workspace and Experiment, replayed."""

from __future__ import annotations

import pytest

import batchai_kit as bk

GROUP, WORKSPACE = "recorded-rg", "recorded-ws"


@pytest.mark.vcr
def test_a_workspace_block_creates_the_group_and_workspace_and_deletes_them(batchai_azure):
    with bk.Workspace(batchai_azure, GROUP, WORKSPACE, cleanup="delete") as ws:
        assert ws.created_group and ws.created_here
        assert batchai_azure.batchai().workspaces.get(GROUP, WORKSPACE).name == WORKSPACE
    assert not batchai_azure.resources().resource_groups.check_existence(GROUP)


@pytest.mark.vcr
def test_a_second_workspace_block_attaches_to_the_existing_one(batchai_azure):
    with bk.Workspace(batchai_azure, GROUP, WORKSPACE):
        pass
    with bk.Workspace(batchai_azure, GROUP, WORKSPACE, cleanup="delete") as again:
        assert not again.created_here and not again.created_group
    assert batchai_azure.batchai().workspaces.get(GROUP, WORKSPACE).name == WORKSPACE


@pytest.mark.vcr
def test_an_experiment_is_created_listed_and_deleted(batchai_azure):
    with bk.Workspace(batchai_azure, GROUP, WORKSPACE) as ws:
        with ws.experiment("exp1", cleanup="delete") as experiment:
            assert experiment.created_here
            assert [e.name for e in ws.experiments()] == ["exp1"]
        assert ws.experiments() == []
