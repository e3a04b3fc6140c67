"""``batchai-kit export azureml``: Batch AI JSON files -> Azure Machine Learning v2 YAML."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from .errors import ValidationError


class InvalidDefinition(click.ClickException):
    """A Batch AI file that cannot be ported as written: exit status 2, as for bad usage."""

    exit_code = 2


@click.group()
def export() -> None:
    """Port Batch AI definitions to the services that replaced it."""


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValidationError(f"--{what}", str(path),
                              f"must hold one JSON object (line {exc.lineno}: {exc.msg})") from None
    except OSError as exc:
        raise ValidationError(f"--{what}", str(path), f"cannot be read: {exc.strerror}") from None


@export.command(epilog="Exit status: 0 written; 2 a file is unreadable or not a Batch AI definition.")
@click.option("--job", "job_file", required=True, type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="A Batch AI job body (JobCreateParameters JSON, as `az batchai job create -f` reads).")
@click.option("--cluster", "cluster_file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="A Batch AI cluster body (ClusterCreateParameters JSON, as `az batchai cluster create -f` reads).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("azureml"), show_default=True,
              help="Directory for compute.yml, datastore-*.yml, job.yml and PORTING.md.")
@click.option("--compute-name", help="AmlCompute name (default: the cluster named in the job, else batchai-cluster).")
@click.option("--experiment", "-e", help="Azure ML experiment name for the job.")
@click.option("--vm-size",
              help="VM size for the compute (default: the cluster's, or a current one for a retired size).")
@click.option("--resource-group", "-g", default="<resource-group>", show_default=True,
              help="For the printed az ml commands.")
@click.option("--workspace", "-w", default="<azureml-workspace>", show_default=True,
              help="Azure ML workspace, for the printed az ml commands.")
def azureml(job_file: Path, cluster_file: Path | None, out: Path, compute_name: str | None, experiment: str | None,
            vm_size: str | None, resource_group: str, workspace: str) -> None:
    """Azure ML v2 YAML (AmlCompute, Azure Files datastores, command job) from Batch AI JSON files.

    Prints what has no Azure ML counterpart (never dropped silently; secrets are never written)
    and the `az ml` commands that create the compute, the datastores and the job.
    """
    from ._azureml import to_azureml

    try:
        job = _read_json(job_file, "job")
        cluster = _read_json(cluster_file, "cluster") if cluster_file is not None else None
        result = to_azureml(cluster, job, compute_name=compute_name, experiment=experiment, vm_size=vm_size,
                            resource_group=resource_group, workspace=workspace)
    except ValidationError as exc:
        raise InvalidDefinition(str(exc)) from None
    for path in result.write(out):
        click.echo(f"wrote {path}")
    click.echo("\nNo Azure ML counterpart, or changed on the way:")
    for note in result.notes:
        click.echo(f"  - {note}")
    click.echo("\nRun:")
    for command in result.commands:
        click.echo(f"  (cd {out} && {command})")
