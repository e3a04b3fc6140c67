"""``batchai-kit job list|show|wait|logs|files|download|terminate|delete``: jobs that already exist."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable, Optional, TypeVar

import click

from ._cli_common import (
    ExitCode,
    connect,
    connection_options,
    emit,
    emit_fields,
    fail,
    last_segment,
    output_option,
    reported_errors,
    resource_json,
)
from .errors import ValidationError

F = TypeVar("F", bound=Callable[..., Any])


def workspace_options(command: F) -> F:
    """``-g`` / ``-w`` and where Azure is: what every job and cluster command needs."""
    command = click.option("-w", "--workspace", required=True, help="Batch AI workspace.")(command)
    command = click.option("-g", "--resource-group", required=True, help="Resource group of the workspace.")(command)
    return connection_options(embedded_default=False)(command)


def open_workspace(ready_file: Optional[Path], config: Optional[Path], use_azure: bool, resource_group: str,
                   workspace: str) -> Any:
    """A handle on an existing workspace (nothing is created; deletions go to the journal)."""
    from ._workspace import Workspace

    azure = connect(ready_file, config, use_azure)
    return Workspace(azure, resource_group, workspace, location=azure.location or "unused")


def _job(options: dict[str, Any], experiment: str, name: str) -> Any:
    from ._job import Job
    from ._workspace import Experiment

    workspace = open_workspace(options["ready_file"], options["config"], options["use_azure"],
                               options["resource_group"], options["workspace"])
    return Job.attach(Experiment(workspace, experiment), name)


def confirm_deletion(what: str, yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise click.UsageError(f"deleting {what} needs --yes when nobody can answer the question")
    click.confirm(f"Delete {what}?", abort=True, err=True)


def job_row(model: Any, experiment: str) -> list[Any]:
    info = model.execution_info
    return [model.name, experiment, last_segment(model.cluster.id if model.cluster else None), model.tool_type,
            model.execution_state, info.exit_code if info else None,
            model.creation_time.isoformat() if model.creation_time else None]


JOB_COLUMNS = ["Name", "Experiment", "Cluster", "Tool", "State", "ExitCode", "Created"]


def job_fields(model: Any, experiment: str) -> list[tuple[str, Any]]:
    info = model.execution_info
    errors = "; ".join(f"{e.code}: {e.message}" for e in (info.errors or [])) if info else None
    image = model.container_settings.image_source_registry.image if model.container_settings else None
    return [("Name", model.name), ("Id", model.id), ("Experiment", experiment),
            ("Cluster", model.cluster.id if model.cluster else None), ("Tool", model.tool_type),
            ("Nodes", model.node_count), ("Priority", model.scheduling_priority), ("Image", image),
            ("State", model.execution_state), ("ExitCode", info.exit_code if info else None), ("Errors", errors),
            ("Created", model.creation_time), ("Started", info.start_time if info else None),
            ("Ended", info.end_time if info else None), ("StdOutErr", model.std_out_err_path_prefix),
            ("Outputs", ", ".join(d.id for d in model.output_directories or []))]


@click.group("job")
def job() -> None:
    """Jobs of a workspace: list, show, wait, logs, files, download, terminate, delete."""


@job.command("list")
@workspace_options
@click.option("-e", "--experiment", help="Only this experiment's jobs (default: every experiment's).")
@output_option
def list_jobs(ready_file: Optional[Path], config: Optional[Path], use_azure: bool, resource_group: str,
              workspace: str, experiment: Optional[str], output: str) -> None:
    """List the jobs of a workspace, or of one experiment."""
    from ._resource import azure_errors

    with reported_errors():
        ws = open_workspace(ready_file, config, use_azure, resource_group, workspace)
        names = [experiment] if experiment else [e.name for e in ws.experiments()]
        found: list[tuple[str, Any]] = []
        for name in names:
            with azure_errors(f"Listing jobs of experiment {name}"):
                found.extend((name, model) for model in ws.batchai.jobs.list_by_experiment(resource_group, workspace,
                                                                                            name))
    emit(output, [resource_json(model) for _, model in found], JOB_COLUMNS,
         [job_row(model, name) for name, model in found])


def job_options(command: F) -> F:
    command = click.option("-e", "--experiment", required=True, help="Experiment of the job.")(command)
    command = click.argument("name")(command)
    return workspace_options(command)


@job.command("show")
@job_options
@output_option
def show_job(name: str, experiment: str, output: str, **where: Any) -> None:
    """Show one job: state, exit code, errors, times, settings."""
    with reported_errors():
        model = _job(where, experiment, name).model
    emit_fields(output, resource_json(model), job_fields(model, experiment))


@job.command("logs")
@job_options
@click.option("--file", "file", default="stdout.txt", show_default=True,
              help="Which file: stdout.txt, stderr.txt, execution.log, or a path in --directory-id.")
@click.option("-d", "--directory-id", default="stdouterr", show_default=True,
              help="Output directory holding the file.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines until the job ends.")
@output_option
def job_logs(name: str, experiment: str, file: str, directory_id: str, follow: bool, output: str,
             **where: Any) -> None:
    """Print a job's log (stdout.txt by default), or follow it while the job runs."""
    import json

    with reported_errors():
        live = _job(where, experiment, name)
        if follow and output == "table":
            for line in live.stream(file, directory_id=directory_id):
                click.echo(line)
            return
        if follow:
            text = "".join(line + "\n" for line in live.stream(file, directory_id=directory_id))
        else:
            try:
                text = live.read_text(file, directory_id)
            except ValidationError as exc:  # no such file (yet): nothing to read
                raise fail(str(exc), ExitCode.NOT_FOUND) from None
    if output == "json":
        click.echo(json.dumps({"job": name, "directoryId": directory_id, "file": file, "text": text}, indent=2))
    else:
        click.echo(text, nl=False)


@job.command("wait")
@job_options
@click.option("--timeout", type=click.FloatRange(min=1), default=7 * 24 * 3600.0, show_default=True,
              help="Seconds to wait.")
@click.option("--stream", "stream", is_flag=True, help="Print the job's stdout.txt while waiting.")
def wait_job(name: str, experiment: str, timeout: float, stream: bool, **where: Any) -> None:
    """Wait until a job ends; exit with its exit code, as `run` does."""
    from ._cli_run import job_exit_status

    with reported_errors():
        live = _job(where, experiment, name)
        model = live.wait(timeout, stream="stdout.txt" if stream else None, on_line=click.echo, check=False)
        failure = live.failure() if model.execution_state == "failed" else None
    code = job_exit_status(model, failure, lambda text: click.echo(text, err=True))
    if code:
        raise click.exceptions.Exit(code)


@job.command("files")
@job_options
@click.option("-d", "--directory-id", default="stdouterr", show_default=True, help="Output directory to list.")
@click.option("--path", default=".", show_default=True, help="Folder within it.")
@output_option
def job_files(name: str, experiment: str, directory_id: str, path: str, output: str, **where: Any) -> None:
    """List the files of one of a job's output directories (one level; download links are not shown)."""
    with reported_errors():
        entries = _job(where, experiment, name).files(directory_id, path)
    rows = [(entry.path, "directory" if entry.is_directory else "file", entry.size,
             entry.modified.isoformat() if entry.modified else None) for entry in entries]
    emit(output, [{"path": p, "type": t, "bytes": b, "modified": m} for p, t, b, m in rows],
         ["Path", "Type", "Bytes", "Modified"], rows)


@job.command("download")
@job_options
@click.option("-d", "--directory-id", "directory_ids", multiple=True,
              help="Output directory to download (repeatable). Default: every output directory and stdouterr.")
@click.option("--dest", type=click.Path(file_okay=False, path_type=Path),
              help="Where to put them: one folder per directory id. Default: ./<job name>.")
@output_option
def download_job(name: str, experiment: str, directory_ids: tuple[str, ...], dest: Optional[Path], output: str,
                 **where: Any) -> None:
    """Download a job's output directories (and its stdout/stderr)."""
    with reported_errors():
        live = _job(where, experiment, name)
        chosen = list(directory_ids) or output_directory_ids(live.model)
        files = download_outputs(live, chosen, dest or Path(name))
    emit(output, [{"directoryId": d, "path": str(p), "bytes": p.stat().st_size} for d, p in files],
         ["Directory", "File", "Bytes"], [(d, str(p), p.stat().st_size) for d, p in files])


def output_directory_ids(model: Any) -> list[str]:
    return [d.id for d in model.output_directories or []] + ["stdouterr"]


def download_outputs(live: Any, directory_ids: list[str], destination: Path) -> list[tuple[str, Path]]:
    """Each directory into ``destination/<id>``; ``[(id, local file)]``."""
    written: list[tuple[str, Path]] = []
    for directory_id in directory_ids:
        written.extend((directory_id, path) for path in live.download(directory_id, destination / directory_id))
    return written


@job.command("terminate")
@job_options
@output_option
def terminate_job(name: str, experiment: str, output: str, **where: Any) -> None:
    """Terminate a queued or running job (a finished job stays as it is)."""
    with reported_errors():
        live = _job(where, experiment, name)
        live.terminate()
        model = live.refresh()
    emit_fields(output, resource_json(model), [("Name", model.name), ("State", model.execution_state)])


@job.command("delete")
@job_options
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@output_option
def delete_job(name: str, experiment: str, yes: bool, output: str, **where: Any) -> None:
    """Delete a job (terminating it first if it runs) and its record."""
    with reported_errors():
        live = _job(where, experiment, name)
        confirm_deletion(f"job {name} of experiment {experiment}", yes)
        live.delete()
    emit_fields(output, {"name": name, "experiment": experiment, "deleted": True},
                [("Name", name), ("Experiment", experiment), ("Deleted", "yes")])
