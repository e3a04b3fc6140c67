"""``GpuCluster`` against the embedded emulator."""

from __future__ import annotations

import attrs
import pytest

import batchai_kit as bk
from batchai_kit.errors import Conflict, NodesUnusable, Timeout, ValidationError
from batchai_kit.local.arm.timing import Timings
from tests.library.conftest import GROUP, WORKSPACE, cluster_names


def idle(model) -> int:
    return model.node_state_counts.idle_node_count


# --- creating and attaching --------------------------------------------------------------------


def test_entering_creates_the_cluster_and_waits_until_its_nodes_are_idle(workspace, batchai):
    with workspace.gpu_cluster("c1", vm_size="STANDARD_NC6", nodes=2) as cluster:
        assert cluster.created_here
        model = batchai.clusters.get(GROUP, WORKSPACE, "c1")
        assert (model.allocation_state, model.current_node_count, idle(model)) == ("steady", 2, 2)
        assert model.vm_size.upper() == "STANDARD_NC6"


def test_wait_ready_returns_the_steady_cluster(workspace):
    with workspace.gpu_cluster("c1", nodes=1, wait=False) as cluster:
        model = cluster.wait_ready(timeout=30)
        assert (model.allocation_state, idle(model)) == ("steady", 1)


def test_wait_ready_reports_each_change_of_the_nodes(workspace):
    seen = []
    with workspace.gpu_cluster("c1", nodes=1, wait=False) as cluster:
        cluster.wait_ready(timeout=30, on_change=lambda model: seen.append(model.allocation_state))
    assert seen and seen[-1] == "steady"


def test_the_block_deletes_the_cluster_it_created(workspace, batchai):
    with workspace.gpu_cluster("c1", nodes=1):
        pass
    assert cluster_names(batchai) == []


def test_an_identical_existing_cluster_is_attached(workspace):
    workspace.gpu_cluster("c1", nodes=1, cleanup="keep").create().wait_ready(timeout=30)

    with workspace.gpu_cluster("c1", nodes=1) as cluster:
        assert not cluster.created_here
        assert idle(cluster.model) == 1


def test_an_attached_cluster_is_never_deleted_on_exit(workspace, batchai):
    workspace.gpu_cluster("c1", nodes=1, cleanup="keep").create()

    with workspace.gpu_cluster("c1", nodes=1, cleanup="delete"):
        pass
    with pytest.raises(RuntimeError):
        with workspace.gpu_cluster("c1", nodes=1, cleanup="delete"):
            raise RuntimeError("boom")
    assert cluster_names(batchai) == ["c1"]


def test_a_differing_existing_cluster_is_a_conflict_naming_the_difference(workspace, batchai):
    workspace.gpu_cluster("c1", nodes=1, cleanup="keep").create()

    with pytest.raises(Conflict) as raised:
        with workspace.gpu_cluster("c1", nodes=2):
            pytest.fail("the block must not run")
    assert "it has 1 node(s), not 2" in str(raised.value)
    assert "reuse=True" in str(raised.value)
    assert raised.value.code == "ClusterSpecMismatch"
    assert batchai.clusters.get(GROUP, WORKSPACE, "c1").scale_settings.manual.target_node_count == 1


def test_a_conflict_names_a_differing_vm_size(workspace):
    workspace.gpu_cluster("c1", vm_size="STANDARD_NC6", nodes=1, cleanup="keep").create()

    with pytest.raises(Conflict, match="vm_size is STANDARD_NC6, not STANDARD_NC12"):
        workspace.gpu_cluster("c1", vm_size="STANDARD_NC12", nodes=1).create()


def test_a_conflict_names_differing_mounts(workspace, share):
    workspace.gpu_cluster("c1", nodes=1, cleanup="keep").create()

    with pytest.raises(Conflict, match="its mounts are"):
        workspace.gpu_cluster("c1", nodes=1, mounts=[share]).create()


def test_reuse_attaches_to_a_differing_cluster(workspace, batchai):
    workspace.gpu_cluster("c1", nodes=1, cleanup="keep").create()

    with workspace.gpu_cluster("c1", nodes=2, reuse=True) as cluster:
        assert not cluster.created_here
        assert cluster.model.current_node_count == 1
    assert cluster_names(batchai) == ["c1"]


def test_cleanup_keep_leaves_the_cluster_it_created(workspace, batchai):
    with workspace.gpu_cluster("c1", nodes=1, cleanup="keep") as cluster:
        assert cluster.created_here
    assert cluster_names(batchai) == ["c1"]


# --- changing it ----------------------------------------------------------------------------------


def test_resize_up_adds_idle_nodes(workspace):
    with workspace.gpu_cluster("c1", nodes=1) as cluster:
        model = cluster.resize(3)
        assert (model.current_node_count, idle(model)) == (3, 3)
        assert cluster.spec.nodes == 3


def test_resize_down_removes_nodes(workspace):
    with workspace.gpu_cluster("c1", nodes=3) as cluster:
        model = cluster.resize(1)
        assert (model.current_node_count, idle(model)) == (1, 1)


def test_resize_to_an_auto_scale_range(workspace, batchai):
    with workspace.gpu_cluster("c1", nodes=1) as cluster:
        cluster.resize(min_nodes=0, max_nodes=4)
        auto = batchai.clusters.get(GROUP, WORKSPACE, "c1").scale_settings.auto_scale
        assert (auto.minimum_node_count, auto.maximum_node_count) == (0, 4)
        assert cluster.spec.autoscale


def test_an_auto_scale_cluster_is_created_with_its_range(workspace):
    with workspace.gpu_cluster("c1", min_nodes=1, max_nodes=3) as cluster:
        auto = cluster.model.scale_settings.auto_scale
        assert (auto.minimum_node_count, auto.maximum_node_count, auto.initial_node_count) == (1, 3, 1)
        assert cluster.model.current_node_count == 1


def test_resize_without_waiting_returns_at_once(workspace):
    with workspace.gpu_cluster("c1", nodes=1) as cluster:
        model = cluster.resize(2, wait=False)
        assert model.scale_settings.manual.target_node_count == 2
        assert cluster.wait_ready(timeout=30).current_node_count == 2


def test_remote_logins_name_each_node(workspace):
    with workspace.gpu_cluster("c1", nodes=2) as cluster:
        logins = cluster.remote_logins()
    assert len(logins) == 2
    assert len({node for node, _, _ in logins}) == 2
    for node, address, port in logins:
        assert node and address
        assert isinstance(port, int) and port > 0


def test_delete_deletes_the_cluster_and_the_block_does_not_delete_it_again(workspace, batchai, journal):
    with workspace.gpu_cluster("c1", nodes=1) as cluster:
        cluster.delete()
        assert cluster_names(batchai) == []
        assert not cluster.created_here
    assert "cluster" not in {a.kind for a in journal.alive()}


# --- failures ---------------------------------------------------------------------------------------


def test_a_failing_setup_task_is_nodes_unusable_and_the_cluster_is_deleted(workspace, share, batchai):
    cluster = workspace.gpu_cluster("c1", nodes=1, mounts=[share], setup_command="echo setting up; exit 7")
    with pytest.raises(NodesUnusable) as raised:
        with cluster:
            pytest.fail("the block must not run")
    error = raised.value
    assert error.cluster == "c1"
    assert error.unusable == 1
    assert [e.code for e in error.errors] == ["SetupTaskFailed"]
    assert "SetupTaskFailed" in str(error)
    assert cluster_names(batchai) == []


def test_a_failing_setup_task_of_an_attached_cluster_leaves_it(workspace, share, batchai):
    spec = dict(nodes=1, mounts=[share], setup_command="exit 7")
    workspace.gpu_cluster("c1", cleanup="keep", **spec).create()

    with pytest.raises(NodesUnusable):
        with workspace.gpu_cluster("c1", **spec):
            pass
    assert cluster_names(batchai) == ["c1"]


def test_a_missing_admin_account_is_refused_before_any_request(workspace, batchai):
    no_admin = bk.Workspace(attrs.evolve(workspace.azure, admin=None), GROUP, WORKSPACE, journal=False)

    with pytest.raises(ValidationError, match="admin"):
        no_admin.gpu_cluster("c1", nodes=1)
    assert cluster_names(batchai) == []


def test_an_admin_account_given_to_the_cluster_is_enough(workspace, batchai):
    no_admin = bk.Workspace(attrs.evolve(workspace.azure, admin=None), GROUP, WORKSPACE, journal=False)

    with no_admin.gpu_cluster("c1", nodes=1, admin_user="me", admin_password="Pa55word!"):
        assert cluster_names(batchai) == ["c1"]


@pytest.mark.parametrize("spec", [dict(nodes=-1), dict(min_nodes=2), dict(min_nodes=3, max_nodes=1),
                                  dict(priority="urgent"), dict(vm_size="")])
def test_a_bad_spec_is_refused_before_any_request(workspace, batchai, spec):
    with pytest.raises(ValidationError):
        workspace.gpu_cluster("c1", **spec)
    assert cluster_names(batchai) == []


def test_a_bad_cluster_name_is_refused(workspace):
    with pytest.raises(ValidationError, match="cluster name"):
        workspace.gpu_cluster("bad name", nodes=1)


@pytest.fixture
def slow_workspace(make_azure, journal):
    """A workspace on an emulator whose clusters take a minute to allocate."""
    azure = make_azure(Timings(cluster_allocation=60, node_preparation=0, node_leaving=0, deletion=0,
                               file_server_provisioning=0, autoscale_interval=0), name="slow")
    with bk.Workspace(azure, GROUP, WORKSPACE, location="eastus", journal=journal) as ws:
        yield ws


def test_wait_ready_past_its_deadline_is_a_timeout(slow_workspace):
    with slow_workspace.gpu_cluster("c1", nodes=1, wait=False) as cluster:
        with pytest.raises(Timeout) as raised:
            cluster.wait_ready(timeout=0.5)
    assert raised.value.deadline == 0.5
    assert raised.value.waited >= 0.5
    assert "cluster c1" in raised.value.what
    assert "resizing" in str(raised.value.last_state)


def test_a_timeout_on_entering_deletes_the_cluster_it_created(slow_workspace):
    batchai = slow_workspace.batchai
    with pytest.raises(Timeout):
        with slow_workspace.gpu_cluster("c1", nodes=1, timeout=0.5):
            pytest.fail("the block must not run")
    assert cluster_names(batchai) == []
