"""Preparing a node: cluster mounts as symlinks into shares, and the setup task."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from batchai_kit.local.nodes import NodeLayout, prepare_node

CLUSTER_SEGMENT = "sub/rg/workspaces/ws/clusters/cluster/0000-guid"
DEADLINE = 30.0
SECRET = "has a secret"


@pytest.fixture
def share(tmp_path: Path) -> Path:
    directory = tmp_path / "share"
    directory.mkdir()
    return directory


@pytest.fixture
def prepare(tmp_path: Path, share: Path):
    layout = NodeLayout.under(tmp_path / "node", "tvm-1")

    def resolve(account: str, url: str) -> Path:
        if account == "acct" and url.endswith("/share"):
            return share
        raise LookupError(f"unknown share {url}")

    def run(node_setup: dict):
        return prepare_node(
            layout,
            {"vmSize": "STANDARD_D1", "nodeSetup": node_setup},
            cluster_path_segment=CLUSTER_SEGMENT,
            resolve_share=resolve,
            environ={"PATH": os.environ["PATH"], "HOME": str(tmp_path)},
        )

    run.layout = layout
    return run


MOUNTS = {"azureFileShares": [{
    "accountName": "acct", "azureFileUrl": "https://127.0.0.1:10443/acct/share", "relativeMountPath": "azfiles",
}]}


def test_cluster_share_is_a_symlink_under_the_mount_root_and_no_setup_task_means_no_handle(prepare, share):
    handle = prepare({"mountVolumes": MOUNTS})

    assert handle is None
    link = prepare.layout.mount_root / "azfiles"
    assert link.is_symlink() and link.resolve() == share.resolve()


def test_setup_task_output_lands_under_the_cluster_segment(prepare, share):
    handle = prepare({
        "mountVolumes": MOUNTS,
        "setupTask": {
            "commandLine": "echo $GREETING $SECRET_GREETING; ls $AZ_BATCHAI_MOUNT_ROOT",
            "environmentVariables": [{"name": "GREETING", "value": "setup task"}],
            "secrets": [{"name": "SECRET_GREETING", "value": SECRET}],
            "stdOutErrPathPrefix": "$AZ_BATCHAI_MOUNT_ROOT/azfiles",
        },
    })

    result = handle.wait(DEADLINE)

    assert result is not None and result.succeeded, result
    output = share / CLUSTER_SEGMENT
    assert (output / "stdout-tvm-1.txt").read_text() == f"setup task {SECRET}\nazfiles\n"
    assert (output / "stderr-tvm-1.txt").read_text() == ""


def test_failing_setup_task_reports_setup_task_failed_with_its_exit_code(prepare):
    handle = prepare({"mountVolumes": MOUNTS, "setupTask": {
        "commandLine": "exit 7", "stdOutErrPathPrefix": "$AZ_BATCHAI_MOUNT_ROOT/azfiles",
    }})

    result = handle.wait(DEADLINE)

    assert result.exit_code == 7
    assert result.errors[0]["code"] == "SetupTaskFailed"
    assert "exit code 7" in result.errors[0]["message"]
    assert {"name": "nodeId", "value": "tvm-1"} in result.errors[0]["details"]


def test_unknown_cluster_share_fails_the_node_at_once(prepare):
    handle = prepare({"mountVolumes": {"azureFileShares": [{
        "accountName": "acct", "azureFileUrl": "https://acct.file.core.windows.net/other", "relativeMountPath": "x",
    }]}})

    result = handle.poll()

    assert result is not None
    assert result.errors[0]["code"] == "MountFailed"


def test_mount_path_may_not_leave_the_mount_root(prepare):
    handle = prepare({"mountVolumes": {"azureFileShares": [{
        "accountName": "acct", "azureFileUrl": "https://acct.file.core.windows.net/share", "relativeMountPath": "../up",
    }]}})

    assert handle.poll().errors[0]["code"] == "MountFailed"


def test_preparing_again_keeps_the_mounts(prepare, share):
    prepare({"mountVolumes": MOUNTS})

    assert prepare({"mountVolumes": MOUNTS}) is None
    assert (prepare.layout.mount_root / "azfiles").resolve() == share.resolve()
