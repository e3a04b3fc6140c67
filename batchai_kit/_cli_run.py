"""``batchai-kit run``: a job and a cluster in Batch AI's own JSON formats, run from start to end.

Ensures the workspace, the experiment, the shares the specs mount and the cluster; uploads what
``--upload`` names; submits; streams the job's stdout; downloads its outputs; cleans up by the
library's rules (what this command created is deleted, unless ``--keep``; what existed is left);
exits with the job's exit code. Progress goes to stderr, the job's log to stdout.
"""

from __future__ import annotations

import contextlib
import datetime
import re
from pathlib import Path
from typing import Any, Optional

import attrs
import click

from ._cli_common import ExitCode, connect, connection_options, report, reported_errors

DEFAULT_GROUP = DEFAULT_WORKSPACE = "batchaikit"
DEFAULT_EXPERIMENT = "default"
DEFAULT_CLUSTER = "cluster"


def say(text: str) -> None:
    click.echo(f"> {text}", err=True)


@click.command("run")
@click.option("--job", "job_file", required=True, type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="The job: a JobCreateParameters body, as for `az batchai job create -f`.")
@click.option("--cluster", "cluster_file", required=True,
              type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="The cluster: a ClusterCreateParameters body, as for `az batchai cluster create -f`.")
@click.option("-g", "--resource-group", default=DEFAULT_GROUP, show_default=True, help="Resource group.")
@click.option("-w", "--workspace", default=DEFAULT_WORKSPACE, show_default=True, help="Batch AI workspace.")
@click.option("-e", "--experiment", default=DEFAULT_EXPERIMENT, show_default=True, help="Experiment of the job.")
@click.option("-c", "--cluster-name", help=f"Cluster name. Default: the name in the cluster JSON, else "
                                           f"{DEFAULT_CLUSTER!r}.")
@click.option("-n", "--name", help="Job name. Default: the name in the job JSON, else <job file name>-<UTC time>.")
@click.option("-l", "--location", help="Location of a workspace created here. Default: the connection's, or eastus.")
@click.option("--node-count", type=click.IntRange(1), help="Override the job's nodeCount.")
@click.option("-t", "--target", "target_nodes", type=click.IntRange(0),
              help="Override the cluster's fixed size (scaleSettings.manual.targetNodeCount).")
@click.option("-s", "--vm-size", help="Override the cluster's vmSize.")
@click.option("--image", help="Override the job's container image.")
@click.option("--args", "arguments", help="Override the toolkit's commandLineArgs (one string, as in the JSON).")
@click.option("--env", "env", multiple=True, metavar="NAME=VALUE", help="Add or override an environment variable "
                                                                        "of the job (repeatable).")
@click.option("--upload", "uploads", multiple=True, metavar="LOCAL=MOUNT[/PATH]",
              help="Before submitting, upload a local file or directory to the share mounted as MOUNT, into "
                   "PATH (repeatable).")
@click.option("--download", "download_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Where the outputs go, one folder per output directory id (and stdouterr). "
                   "Default: ./<job name>.")
@click.option("--no-download", is_flag=True, help="Download nothing.")
@click.option("--keep", is_flag=True, help="Keep what this command created (by default it is deleted at the end).")
@click.option("--timeout", type=click.FloatRange(min=1), default=7 * 24 * 3600.0, show_default=True,
              help="Seconds to wait for the job.")
@connection_options(embedded_default=True)
def run(job_file: Path, cluster_file: Path, resource_group: str, workspace: str, experiment: str,
        cluster_name: Optional[str], name: Optional[str], location: Optional[str], node_count: Optional[int],
        target_nodes: Optional[int], vm_size: Optional[str], image: Optional[str], arguments: Optional[str],
        env: tuple[str, ...], uploads: tuple[str, ...], download_dir: Optional[Path], no_download: bool, keep: bool,
        timeout: float, ready_file: Optional[Path], config: Optional[Path], use_azure: bool) -> None:
    """Run a job described in Batch AI's JSON on a cluster described in Batch AI's JSON.

    \b
    Exit status: the job's own exit code (0 when it succeeded); 1 when it failed without one;
    2 usage or invalid spec; 3 service error; 4 not found; 5 cannot connect; 6 timeout;
    7 unusable nodes; 8 runtime missing; 130 Ctrl-C (see docs/cli.md).
    """
    with reported_errors():
        azure = connect(ready_file, config, use_azure, embedded_default=True)
        embedded = azure.emulator is not None and ready_file is None
        cluster_spec, body_cluster = _read(cluster_file, lambda: _read_cluster(cluster_file, azure))
        job_spec = _read(job_file, lambda: _read_job(job_file, name, azure))
        job_spec = _job_overrides(job_spec, node_count=node_count, image=image, arguments=arguments, env=env)
        cluster_spec = _cluster_overrides(cluster_spec, vm_size=vm_size, target_nodes=target_nodes)
        targets = [_upload_target(text, [*cluster_spec.mounts, *job_spec.mounts]) for text in uploads]
        cluster_name = cluster_name or body_cluster or DEFAULT_CLUSTER
        _check_before_sending(job_spec, cluster_spec, azure, names=(resource_group, workspace, experiment,
                                                                    cluster_name))
        if embedded:
            say("On the embedded emulator: what this command makes ends with it")
        if azure.is_emulator:
            _check_runtime(job_spec.image)
        code = _run(azure, job_spec, cluster_spec, targets, resource_group=resource_group, workspace_name=workspace,
                    experiment_name=experiment, cluster_name=cluster_name,
                    location=location or azure.location or "eastus", keep=keep, timeout=timeout,
                    download=None if no_download else (download_dir or Path(job_spec.name)), journal=not embedded)
    if code:
        raise click.exceptions.Exit(code)


def _read(path: Path, read: Any) -> Any:
    from .errors import ValidationError

    try:
        return read()
    except ValidationError as exc:
        raise type(exc)(f"{path}: {exc.field}", exc.value, exc.rule, secret=exc.secret) from None


def _read_cluster(path: Path, azure: Any) -> tuple[Any, Optional[str]]:
    from ._spec_json import read_cluster

    return read_cluster(path, azure=azure)


def _read_job(path: Path, name: Optional[str], azure: Any) -> Any:
    from ._spec_json import read_job
    from .errors import ValidationError

    try:
        spec, _ = read_job(path, name=name, azure=azure)
    except ValidationError as exc:
        if exc.field != "name" or name is not None:
            raise
        stem = re.sub(r"[^-\w]", "-", path.stem)
        default = f"{stem}-{datetime.datetime.now(datetime.timezone.utc):%Y%m%d-%H%M%S}"
        spec, _ = read_job(path, name=default, azure=azure)
    return spec


def _pairs(values: tuple[str, ...], option: str) -> dict[str, str]:
    found = {}
    for text in values:
        key, equals, value = text.partition("=")
        if not equals or not key:
            raise click.BadParameter(f"{text!r} is not NAME=VALUE", param_hint=option)
        found[key] = value
    return found


def _job_overrides(spec: Any, *, node_count: Optional[int], image: Optional[str], arguments: Optional[str],
                   env: tuple[str, ...]) -> Any:
    changes: dict[str, Any] = {}
    if node_count is not None:
        changes["node_count"] = node_count
    if image is not None:
        changes["image"] = image
    if env:
        changes["env"] = {**spec.env, **_pairs(env, "--env")}
    if arguments is not None:
        if "args" not in attrs.fields_dict(type(spec)):
            raise click.BadParameter(f"a {type(spec).__name__} has no single commandLineArgs: edit the JSON",
                                     param_hint="--args")
        changes["args"] = arguments
    return attrs.evolve(spec, **changes) if changes else spec


def _cluster_overrides(spec: Any, *, vm_size: Optional[str], target_nodes: Optional[int]) -> Any:
    changes: dict[str, Any] = {}
    if vm_size is not None:
        changes["vm_size"] = vm_size
    if target_nodes is not None:
        if spec.autoscale:
            raise click.BadParameter("the cluster JSON asks for auto-scale: edit its autoScale settings",
                                     param_hint="--target")
        changes["nodes"] = target_nodes
    return attrs.evolve(spec, **changes) if changes else spec


def _upload_target(text: str, mounts: list[Any]) -> tuple[Path, Any, str]:
    from ._share import FileShare

    local, equals, remote = text.rpartition("=")
    if not equals or not local:
        raise click.BadParameter(f"{text!r} is not LOCAL=MOUNT[/PATH]", param_hint="--upload")
    source = Path(local)
    if not source.exists():
        raise click.BadParameter(f"{local} does not exist", param_hint="--upload")
    mount_as, _, path = remote.strip("/").partition("/")
    share = next((m for m in mounts if m.mount_as == mount_as), None)
    if share is None:
        known = ", ".join(sorted({m.mount_as for m in mounts})) or "none"
        raise click.BadParameter(f"no share is mounted as {mount_as!r} by the cluster or job JSON (mounted: {known})",
                                 param_hint="--upload")
    if not isinstance(share, FileShare):
        raise click.BadParameter(f"{mount_as} is a share of another storage account ({share.account_name}): "
                                 "batchai_kit uploads only to the connection's account", param_hint="--upload")
    return source, share, path


def _check_before_sending(job_spec: Any, cluster_spec: Any, azure: Any, *, names: tuple[str, str, str, str]
                          ) -> None:
    """What submitting would refuse, refused before anything is created."""
    from . import _names
    from .errors import ValidationError

    group, workspace, experiment, cluster = names
    _names.check_resource_group_name(group)
    _names.check_workspace_name(workspace)
    _names.check_experiment_name(experiment)
    _names.check_cluster_name(cluster)

    cluster_spec.admin(azure.admin)  # an admin account for the nodes
    default_prefix = cluster_spec.mounts[0].root.mount_path if cluster_spec.mounts else None
    try:  # where stdout/stderr go: the job's stdOutErrPathPrefix or the cluster's first share
        job_spec.to_parameters("/check", default_stdouterr=default_prefix)
    except ValidationError as exc:
        if exc.field != "stdouterr":
            raise
        raise ValidationError("properties.stdOutErrPathPrefix", None,
                              "is required when the cluster mounts no share to default to") from None


def _check_runtime(image: Optional[str]) -> None:
    from .local.runtimes import require_runtime, runtime_for_image

    runtime = runtime_for_image(image)
    if runtime != "host":
        require_runtime(runtime)


def _shares(cluster_spec: Any, job_spec: Any) -> list[Any]:
    from ._share import FileShare

    unique: dict[str, Any] = {}
    for share in [*cluster_spec.mounts, *job_spec.mounts]:
        if isinstance(share, FileShare):
            unique.setdefault(share.url, share)
    return list(unique.values())


def _run(azure: Any, job_spec: Any, cluster_spec: Any, uploads: list[tuple[Path, Any, str]], *, resource_group: str,
         workspace_name: str, experiment_name: str, cluster_name: str, location: str, keep: bool, timeout: float,
         download: Optional[Path], journal: bool) -> int:
    """Everything inside the resources' blocks; the exit code (the blocks have cleaned up)."""
    from ._cluster import describe_nodes
    from ._workspace import Experiment, Workspace

    cleanup = "keep" if keep else "delete"
    outcome: dict[str, Any] = {}
    with Workspace(azure, resource_group, workspace_name, location=location, cleanup=cleanup,
                   journal=None if journal else False) as workspace, contextlib.ExitStack() as stack:
        say(f"Workspace {resource_group}/{workspace_name}" + (" (created)" if workspace.created_here else ""))
        for share in _shares(cluster_spec, job_spec):
            share.cleanup = cleanup
            share.journal = workspace.journal if workspace.journal is not None else False
            stack.enter_context(share)
            say(f"File share {share.name}, mounted as {share.mount_as}" + (" (created)" if share.created_here else ""))
        for source, share, path in uploads:
            sent = share.upload(source, path)
            say(f"Uploaded {source} to {share.name}/{path}: {len(sent.transferred)} file(s) sent, "
                f"{len(sent.skipped)} unchanged")
        experiment = stack.enter_context(Experiment(workspace, experiment_name, cleanup=cleanup))
        say(f"Creating or attaching cluster {cluster_name} ({cluster_spec.target_nodes} x {cluster_spec.vm_size}), "
            "waiting for its nodes")
        cluster = stack.enter_context(workspace.gpu_cluster(
            cluster_name, cleanup=cleanup, on_change=lambda m: say(f"cluster {cluster_name}: {describe_nodes(m)}"),
            **attrs.asdict(cluster_spec, recurse=False)))
        job = cluster.submit(job_spec, experiment=experiment, cleanup="keep" if keep else "terminate")
        say(f"Job {job_spec.name} ({job_spec.toolkit}) submitted to experiment {experiment_name}; its stdout follows")
        model = job.wait(timeout, stream="stdout.txt", on_line=click.echo, check=False,
                         on_change=lambda m: say(f"job {job_spec.name}: {m.execution_state}"))
        outcome["model"] = model
        if model.execution_state == "failed":
            outcome["failure"] = job.failure()
        if download is not None:
            outcome["files"] = _download(job, model, download)
        if not keep:
            say("Cleaning up what this command created")
    return _finish(outcome, job_spec.name, keep)


def _download(job: Any, model: Any, destination: Path) -> int:
    from ._cli_jobs import output_directory_ids
    from .errors import BatchAIKitError

    count = 0
    for directory_id in output_directory_ids(model):
        try:
            count += len(job.download(directory_id, destination / directory_id))
        except BatchAIKitError as exc:  # a failed job may have written nothing: say so, go on
            click.echo(f"batchai-kit: warning: could not download {directory_id}: {exc}", err=True)
    say(f"Downloaded {count} file(s) to {destination}")
    return count


def _finish(outcome: dict[str, Any], name: str, keep: bool) -> int:
    return job_exit_status(outcome["model"], outcome.get("failure"), say)


def job_exit_status(model: Any, failure: Any, tell: Any) -> int:
    """The exit status for a finished job: 0, its own exit code, or 1; said on stderr."""
    info = model.execution_info
    exit_code = info.exit_code if info else None
    if model.execution_state == "succeeded":
        tell(f"Job {model.name} succeeded (exit code {exit_code if exit_code is not None else 0})")
        return ExitCode.OK
    if exit_code is not None and 0 < exit_code < 256:
        report(f"{failure} (exit code {exit_code}, passed on as this command's exit status)")
        return int(exit_code)
    report(f"{failure} (no exit code of its own: this command exits with {int(ExitCode.JOB_FAILED)})")
    return ExitCode.JOB_FAILED
