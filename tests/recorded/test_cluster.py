"""GpuCluster: create and wait, resize, attach, drift, delete, replayed."""

from __future__ import annotations

import pytest

import batchai_kit as bk

GROUP, WORKSPACE = "recorded-rg", "recorded-ws"


@pytest.fixture
def workspace(batchai_azure):
    with bk.Workspace(batchai_azure, GROUP, WORKSPACE) as ws:
        yield ws


def cluster_names(ws):
    return [c.name for c in ws.clusters()]


@pytest.mark.vcr
def test_a_cluster_block_creates_waits_until_ready_and_deletes(workspace):
    seen = []
    with workspace.gpu_cluster("c1", vm_size="STANDARD_NC6", nodes=1, on_change=seen.append) as cluster:
        assert cluster.created_here
        assert cluster.model.allocation_state == "steady"
        assert cluster.model.node_state_counts.idle_node_count == 1
        assert len(cluster.remote_logins()) == 1
        assert cluster_names(workspace) == ["c1"]
    assert seen and seen[-1].allocation_state == "steady"
    assert cluster_names(workspace) == []


@pytest.mark.vcr
def test_resize_changes_the_node_count_and_waits(workspace):
    with workspace.gpu_cluster("c1", nodes=1) as cluster:
        model = cluster.resize(2)
        assert model.current_node_count == 2
        assert model.node_state_counts.idle_node_count == 2
        model = cluster.resize(min_nodes=0, max_nodes=2)
        assert model.scale_settings.auto_scale.maximum_node_count == 2


@pytest.mark.vcr
def test_a_second_block_with_the_same_spec_attaches_and_keeps_the_cluster(workspace):
    with workspace.gpu_cluster("c1", nodes=1):
        with workspace.gpu_cluster("c1", nodes=1) as attached:
            assert not attached.created_here
        assert cluster_names(workspace) == ["c1"]


@pytest.mark.vcr
def test_an_existing_cluster_with_another_spec_is_a_conflict_naming_the_drift(workspace):
    with workspace.gpu_cluster("c1", nodes=1):
        with pytest.raises(bk.Conflict) as raised:
            with workspace.gpu_cluster("c1", nodes=2, vm_size="STANDARD_NC12"):
                pass
        assert raised.value.code == "ClusterSpecMismatch"
        assert "vm_size is STANDARD_NC6, not STANDARD_NC12" in str(raised.value)
        with workspace.gpu_cluster("c1", nodes=2, reuse=True) as reused:
            assert not reused.created_here


@pytest.mark.vcr
def test_delete_removes_a_kept_cluster(workspace):
    with workspace.gpu_cluster("c1", nodes=1, cleanup="keep") as cluster:
        pass
    assert cluster_names(workspace) == ["c1"]
    cluster.delete()
    assert cluster_names(workspace) == []
