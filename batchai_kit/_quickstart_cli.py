"""How ``batchai-kit quickstart`` shows the quickstart: rich progress, tables, a clear failure."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn
from rich.table import Table

from . import quickstart
from .errors import BatchAIKitError, JobFailed, RuntimeUnavailable

console = Console(highlight=False)


class ConsoleEvents(quickstart.Events):
    def __init__(self) -> None:
        self.progress: Progress | None = None
        self.task: Any = None
        self.last_cluster = ""
        self.last_state = ""

    def phase(self, text: str) -> None:
        self._end_upload()
        console.print(f"[bold cyan]>[/bold cyan] {text}")

    def upload(self, progress: Any) -> None:
        if self.progress is None:
            self.progress = Progress(TextColumn("  {task.description}"), BarColumn(), DownloadColumn(),
                                     TransferSpeedColumn(), console=console, transient=False)
            self.progress.start()
            self.task = self.progress.add_task("upload", total=progress.bytes_total)
        self.progress.update(self.task, completed=progress.bytes_done, total=progress.bytes_total,
                             description=f"upload {progress.files_done}/{progress.files_total} files")

    def _end_upload(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    def cluster(self, model: Any) -> None:
        from ._cluster import describe_nodes

        text = describe_nodes(model)
        if text != self.last_cluster:
            console.print(f"  cluster: {text}")
            self.last_cluster = text

    def job_state(self, model: Any) -> None:
        if model.execution_state != self.last_state:
            console.print(f"  job: {model.execution_state}")
            self.last_state = model.execution_state

    def line(self, text: str) -> None:
        style = "green" if text.startswith(("Epoch", "Final")) else "dim"
        console.print(f"  [{style}]| {text}[/{style}]")

    def files(self, files: list[Any]) -> None:
        table = Table("output file", "bytes", "download URL", title="stdout/stderr of the job")
        for entry in files:
            table.add_row(entry.name, str(entry.size if entry.size is not None else "-"),
                          _shorten(entry.url) if entry.url else "-")
        console.print(table)


def _shorten(url: str) -> str:
    """A download URL without its SAS token (a secret): where the file is, not the key to it."""
    return url.split("?", 1)[0] + "?<SAS>"


def _connection(use_azure: bool, config: Path | None, ready_file: Path | None, out: Path) -> Any:
    from ._connection import Azure

    if ready_file is not None:
        return Azure.from_ready_file(ready_file)
    if config is not None:
        return Azure.from_config(config)
    if use_azure:
        return Azure.from_env()
    console.print("[bold cyan]>[/bold cyan] Starting the embedded Batch AI emulator")
    return Azure.local(out / "emulator")


def _ensure_cntk_runtime(install: bool, allow_apt: bool) -> None:
    """On the emulator the job trains in the CNTK runtime: install it on first use, with progress."""
    from .local.runtimes import get_runtime, install_cntk

    status = get_runtime("cntk").check()
    if status.ok:
        return
    if not install:
        raise click.ClickException(f"The CNTK runtime is not ready: {status.detail}.\n"
                                   "Or run without --no-install to install it now. Nothing was created.")
    console.print("[bold cyan]>[/bold cyan] Installing the CNTK runtime (first use: a CPython 3.6 environment "
                  "with cntk 2.7, about 300 MB to download; later runs reuse it)")
    with console.status("Installing the CNTK runtime", spinner="dots") as spinner:

        def progress(message: str) -> None:
            console.print(f"  {message}")
            spinner.update(message)

        install_cntk(allow_apt=allow_apt, progress=progress)


def _say_if_no_curve() -> None:
    if not quickstart.can_plot():
        console.print("[yellow]matplotlib is not installed: no training curve will be drawn "
                      "(pip install 'batchai_kit\\[quickstart]' adds it).[/yellow]")


def run_quickstart(*, epochs: int, out: Path, keep: bool, use_azure: bool, config: Path | None,
                   ready_file: Path | None, train_digits: int | None, test_digits: int | None,
                   nodes: int = 1, processes: int | None = None, threads: int = quickstart.DEFAULT_THREADS,
                   install: bool = True, allow_apt: bool = False) -> None:
    logging.getLogger("batchai_kit").setLevel(logging.WARNING)  # the console shows progress instead
    out = out.resolve()
    events = ConsoleEvents()
    _say_if_no_curve()
    try:
        if ready_file is not None or not (use_azure or config):  # real Azure runs the container image
            _ensure_cntk_runtime(install, allow_apt)
        azure = _connection(use_azure, config, ready_file, out)
        quickstart.check_runtime(azure)
        result = quickstart.run(azure, out, epochs=epochs, keep=keep, train_count=train_digits,
                                test_count=test_digits, events=events, nodes=nodes, processes=processes,
                                threads=threads)
    except RuntimeUnavailable as exc:
        events._end_upload()
        raise click.ClickException(f"{exc}\nNothing was created.") from None
    except JobFailed as exc:
        events._end_upload()
        raise click.ClickException(f"{exc}\nThe job's logs are in {out / 'logs'}; the cluster was deleted.") from None
    except BatchAIKitError as exc:
        events._end_upload()
        raise click.ClickException(f"{exc}\nThe cluster, if one was created, was deleted.") from None
    _report(result)


def _report(result: quickstart.QuickstartResult) -> None:
    table = Table("epoch", "training loss", "training error", "held-out error", "samples/s", title="Training")
    for epoch in result.epochs:
        held_out = f"{epoch.held_out_error:.2f}%" if epoch.held_out_error is not None else "-"
        table.add_row(str(epoch.number), f"{epoch.loss:.4f}", f"{epoch.error:.2f}%", held_out,
                      str(epoch.samples_per_second))
    console.print(table)
    if result.ranks:
        ranks = Table("rank", "samples per epoch", "samples/s", title=f"Data-parallel: {len(result.ranks)} MPI ranks")
        for rank in result.ranks:
            ranks.add_row(f"{rank.index}/{rank.count}", str(rank.samples_per_epoch), str(rank.samples_per_second))
        console.print(ranks)
    if result.test_error is None:
        raise click.ClickException(f"The job's log has no final test error line; see {result.logs / 'stdout.txt'}")
    console.print(f"[bold green]Test error: {result.test_error:.2f}% on {result.test_samples} held-out digits "
                  f"after {len(result.epochs)} epochs[/bold green] ({result.seconds:.0f} s in all)")
    console.print(f"Model: {result.model}")
    if result.curve is not None:
        console.print(f"Training curve: {result.curve}")
    elif not quickstart.can_plot():
        console.print("Training curve: not drawn (matplotlib is not installed)")
    console.print(f"Logs: {result.logs}")
    console.print("The cluster was deleted.")
