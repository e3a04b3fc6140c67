"""``batchai-kit cluster list|show|delete``: clusters that already exist."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import click

from ._cli_common import emit, emit_fields, output_option, reported_errors, resource_json
from ._cli_jobs import confirm_deletion, open_workspace, workspace_options

CLUSTER_COLUMNS = ["Name", "VmSize", "Priority", "State", "Nodes", "Idle", "Running", "Preparing", "Unusable",
                   "Leaving"]


def _counts(model: Any) -> list[int]:
    counts = model.node_state_counts
    return [getattr(counts, f"{state}_node_count", 0) or 0 if counts else 0
            for state in ("idle", "running", "preparing", "unusable", "leaving")]


def _target(model: Any) -> Optional[str]:
    scale = model.scale_settings
    if scale is None:
        return None
    if scale.auto_scale is not None:
        return f"auto {scale.auto_scale.minimum_node_count}-{scale.auto_scale.maximum_node_count}"
    return str(scale.manual.target_node_count) if scale.manual else None


def cluster_row(model: Any) -> list[Any]:
    return [model.name, model.vm_size, model.vm_priority, model.allocation_state,
            f"{model.current_node_count or 0}/{_target(model)}", *_counts(model)]


def cluster_fields(model: Any) -> list[tuple[str, Any]]:
    mounts = ((model.node_setup.mount_volumes if model.node_setup else None) or None)
    shares = ", ".join(f"{s.relative_mount_path} <- {s.azure_file_url}" for s in (mounts.azure_file_shares or [])) \
        if mounts else None
    errors = "; ".join(f"{e.code}: {e.message}" for e in model.errors or []) or None
    idle, running, preparing, unusable, leaving = _counts(model)
    return [("Name", model.name), ("Id", model.id), ("VmSize", model.vm_size), ("Priority", model.vm_priority),
            ("Provisioning", model.provisioning_state), ("Allocation", model.allocation_state),
            ("Nodes", f"{model.current_node_count or 0} (target {_target(model)})"),
            ("NodeStates", f"idle {idle}, running {running}, preparing {preparing}, unusable {unusable}, "
                           f"leaving {leaving}"),
            ("Mounts", shares), ("Errors", errors), ("Created", model.creation_time)]


@click.group("cluster")
def cluster() -> None:
    """Clusters of a workspace: list, show, delete."""


@cluster.command("list")
@workspace_options
@output_option
def list_clusters(ready_file: Optional[Path], config: Optional[Path], use_azure: bool, resource_group: str,
                  workspace: str, output: str) -> None:
    """List the clusters of a workspace with their node counts."""
    with reported_errors():
        models = open_workspace(ready_file, config, use_azure, resource_group, workspace).clusters()
    emit(output, [resource_json(model) for model in models], CLUSTER_COLUMNS, [cluster_row(m) for m in models])


def _get(where: dict[str, Any], name: str) -> tuple[Any, Any]:
    from ._resource import azure_errors

    ws = open_workspace(where["ready_file"], where["config"], where["use_azure"], where["resource_group"],
                        where["workspace"])
    with azure_errors(f"Reading cluster {name}"):
        return ws, ws.batchai.clusters.get(ws.resource_group, ws.name, name)


@cluster.command("show")
@click.argument("name")
@workspace_options
@output_option
def show_cluster(name: str, output: str, **where: Any) -> None:
    """Show one cluster: size, allocation, node states, mounts, errors."""
    with reported_errors():
        _, model = _get(where, name)
    emit_fields(output, resource_json(model), cluster_fields(model))


@cluster.command("delete")
@click.argument("name")
@workspace_options
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@output_option
def delete_cluster(name: str, yes: bool, output: str, **where: Any) -> None:
    """Delete a cluster (its running jobs fail as its nodes go)."""
    from ._resource import azure_errors, journal_deleted

    with reported_errors():
        ws, _model = _get(where, name)
        confirm_deletion(f"cluster {name}", yes)
        with azure_errors(f"Deleting cluster {name}"):
            ws.batchai.clusters.begin_delete(ws.resource_group, ws.name, name).result()
        journal_deleted(ws.journal, "cluster", f"{ws.id}/clusters/{name}", ws.azure.arm_endpoint)
    emit_fields(output, {"name": name, "deleted": True}, [("Name", name), ("Deleted", "yes")])
