"""The ``batchai-kit`` command line."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path

import click

from ._cli_common import output_option


@click.group()
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
@click.version_option(package_name="batchai_kit")
def main(verbose: int) -> None:
    """Azure Batch AI in a few lines, with an embedded local emulator."""
    from ._logging import configure_logging

    # Every record (the library's, urllib3's SAS links at DEBUG, the SDKs') is redacted of secrets.
    configure_logging(logging.WARNING - 10 * min(verbose, 2))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=None, type=click.IntRange(0, 65535),
              help="Port to listen on; 0 picks a free one. Default: the port of the last run on this data "
                   "directory (a free one the first time, or if that one is taken).")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path(".batchai_kit/emulator"), show_default=True,
              help="Where state, shares and the TLS certificate live; reuse it to keep resources.")
@click.option("--ready-file", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the endpoint, subscription, CA certificate path and a token here (JSON, mode 0600) "
                   "once ready.")
@click.option("--proxy", is_flag=True,
              help="Also run an HTTPS proxy that sends Azure's own host names (management.azure.com, "
                   "login.microsoftonline.com, the storage account's file host) here, for code that cannot be "
                   "given an endpoint: set HTTPS_PROXY to the proxy URL printed and REQUESTS_CA_BUNDLE to the "
                   "CA certificate (docs/legacy.md).")
@click.option("--faults", metavar="SPEC",
              help="Inject faults, e.g. '429=0.1,500=0.05,503=0.05,reset=0.02,lost=0.02,slow=0.05,seed=1' "
                   "(rates from 0 to 1; see docs/emulator.md).")
def emulator(host: str, port: int | None, data_dir: Path, ready_file: Path | None, proxy: bool,
             faults: str | None) -> None:
    """Run the local Batch AI + Azure Files emulator until SIGINT or SIGTERM."""
    from .errors import ValidationError
    from .local.emulator import Emulator

    try:
        instance = Emulator(data_dir, host=host, port=port, faults=faults, proxy=proxy)
    except ValidationError as exc:
        raise click.BadParameter(str(exc), param_hint="--faults") from None
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    info = instance.start()
    try:
        if ready_file is not None:
            instance.write_ready_file(ready_file)
        click.echo(f"Emulator listening on {info.arm_endpoint} (subscription {info.subscription_id}, "
                   f"CA certificate {info.ca_cert})", err=True)
        if info.proxy_url:
            click.echo(f"HTTPS proxy for Azure host names on {info.proxy_url}: HTTPS_PROXY={info.proxy_url} "
                       f"NO_PROXY=127.0.0.1,localhost REQUESTS_CA_BUNDLE={info.ca_cert}", err=True)
        stop.wait()
    finally:
        click.echo("Stopping emulator", err=True)
        instance.stop()
        if ready_file is not None:
            ready_file.unlink(missing_ok=True)


def _connect(ready_file: Path | None, config: Path | None):
    from ._connection import Azure

    if ready_file is not None:
        return Azure.from_ready_file(ready_file)
    if config is not None:
        return Azure.from_config(config)
    return Azure.from_env()


connection_options = [
    click.option("--ready-file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
                 help="Talk to a running emulator through its ready file."),
    click.option("--config", type=click.Path(dir_okay=False, exists=True, path_type=Path),
                 help="A configuration.json like the Batch AI recipes'. Default: AZURE_* environment variables."),
]


def with_connection(command):
    for option in reversed(connection_options):
        command = option(command)
    return command


@main.command()
@with_connection
@click.option("--delete", "delete", is_flag=True, help="Delete what is still alive (asks first unless --yes).")
@click.option("--kind", "kinds", multiple=True, default=("cluster", "job", "file_server"), show_default=True,
              type=click.Choice(["cluster", "job", "file_server", "experiment", "workspace", "resource_group",
                                 "share", "all"]), help="Kinds to delete.")
@click.option("--yes", is_flag=True, help="Do not ask before deleting.")
@click.option("--prune", is_flag=True, help="First forget the entries of local emulators that no longer run "
                                            "(never an entry on Azure); needs no connection.")
@output_option
def gc(ready_file: Path | None, config: Path | None, delete: bool, kinds: tuple[str, ...], yes: bool,
       prune: bool, output: str) -> None:
    """List what batchai_kit created and did not delete (from its journal); delete it on request.

    Entries of a local emulator that no longer runs (nothing listens at its loopback address any
    more) are listed as "stale"; --prune forgets them. Entries on Azure are never pruned.
    """
    import os

    import attrs
    from rich.console import Console

    from ._cli_common import emit
    from ._gc import Collector, prune_journal
    from ._journal import Journal
    from .errors import BatchAIKitError

    console = Console(stderr=False)
    notes = Console(stderr=True)
    journal = Journal()
    if prune:
        forgotten = prune_journal(journal)
        notes.print(f"Forgot {len(forgotten)} journal entr{'y' if len(forgotten) == 1 else 'ies'} of local "
                    "emulators that no longer run." if forgotten else
                    "No journal entries of local emulators that no longer run.")
        if ready_file is None and config is None and not os.environ.get("AZURE_SUBSCRIPTION_ID"):
            return  # nothing else to check without a connection
    try:
        collector = Collector(_connect(ready_file, config), journal)
        findings = collector.check(journal.alive())
    except BatchAIKitError as exc:
        raise click.ClickException(str(exc)) from None
    # a plain table: ids arrive whole in a pipe or a file, whatever the terminal's width
    rows = [(finding.kind, finding.state, finding.id, finding.detail) for finding in findings]
    if findings or output == "json":
        emit(output, [attrs.asdict(finding) for finding in findings], ["Kind", "State", "Id", "Note"], rows)
    else:
        console.print("The journal lists nothing still alive.")
    stale = sum(finding.state == "stale" for finding in findings)
    if stale:
        notes.print(f"{stale} entr{'y belongs' if stale == 1 else 'ies belong'} to local emulators that no "
                    "longer run: `batchai-kit gc --prune` forgets them.")
    chosen = set(kinds) if "all" not in kinds else None
    doomed = [f for f in findings if f.state == "alive" and (chosen is None or f.kind in chosen)]
    if not delete or not doomed:
        return
    if not yes and not click.confirm(f"Delete {len(doomed)} resource(s)?"):
        return
    failures = 0
    for finding in doomed:
        try:
            collector.delete(finding)
            console.print(f"deleted {finding.kind} {finding.id}")
        except (BatchAIKitError, NotImplementedError) as exc:
            failures += 1
            console.print(f"[red]could not delete {finding.kind} {finding.id}: {exc}[/red]")
    if failures:
        raise SystemExit(1)


@main.command()
@click.option("--epochs", default=15, show_default=True, type=click.IntRange(1, 1000), help="Training epochs.")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), default=Path("quickstart-output"),
              show_default=True, help="Where logs, the model and the training curve go.")
@click.option("--keep", is_flag=True, help="Keep the resource group, workspace and share (the cluster is always "
                                            "deleted).")
@click.option("--azure", "use_azure", is_flag=True, help="Run on real Azure, configured by AZURE_* variables.")
@click.option("--config", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Run on real Azure configured by this configuration.json.")
@click.option("--ready-file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Run on an emulator started with `batchai-kit emulator --ready-file`.")
@click.option("--train-digits", type=click.IntRange(1, 8000), help="Train on fewer of the 8,000 digits.")
@click.option("--test-digits", type=click.IntRange(1, 2000), help="Test on fewer of the 2,000 digits.")
@click.option("--nodes", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Cluster nodes; more than 1 trains data-parallel over MPI, one rank per node.")
@click.option("--processes", type=click.IntRange(1, 256),
              help="MPI ranks in all (default: one per node); more than 1 trains data-parallel.")
@click.option("--threads", default=2, show_default=True, type=click.IntRange(1, 256),
              help="CPU threads for the job, shared by its ranks; the test error depends on it, so it is fixed.")
@click.option("--install/--no-install", "install", default=True, show_default=True,
              help="On the emulator, install the CNTK runtime (CPython 3.6 + cntk 2.7) on first use.")
@click.option("--allow-apt", is_flag=True,
              help="As root on Debian/Ubuntu, let that install apt-get the Open MPI package it needs.")
def quickstart(epochs: int, out: Path, keep: bool, use_azure: bool, config: Path | None, ready_file: Path | None,
               train_digits: int | None, test_digits: int | None, nodes: int, processes: int | None,
               threads: int, install: bool, allow_apt: bool) -> None:
    """Train MNIST with CNTK on a Batch AI GPU cluster (Microsoft's quickstart).

    By default everything runs on the embedded emulator, where the job really trains in the
    CNTK runtime, installed on first use (--no-install refuses); --azure, --config or --ready-file
    run the same flow elsewhere. --nodes 2 trains data-parallel across two nodes (on the emulator
    the nodes share this machine's cores).
    """
    from ._quickstart_cli import run_quickstart

    run_quickstart(epochs=epochs, out=out, keep=keep, use_azure=use_azure, config=config, ready_file=ready_file,
                   train_digits=train_digits, test_digits=test_digits, nodes=nodes, processes=processes,
                   threads=threads, install=install, allow_apt=allow_apt)


def _register_subcommands() -> None:
    from ._cli_az import az
    from ._cli_clusters import cluster
    from ._cli_export import export
    from ._cli_jobs import job
    from ._cli_run import run
    from .local._runtime_cli import runtime

    main.add_command(runtime)
    main.add_command(run)
    main.add_command(job)
    main.add_command(cluster)
    main.add_command(export)
    main.add_command(az)


_register_subcommands()


if __name__ == "__main__":  # pragma: no cover
    main()
