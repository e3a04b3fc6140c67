"""The ``batchai-kit`` command line."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path

import click


@click.group()
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
@click.version_option(package_name="batchai_kit")
def main(verbose: int) -> None:
    """Azure Batch AI in a few lines, with an embedded local emulator."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=0, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on; 0 picks a free one.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path(".batchai_kit/emulator"), show_default=True,
              help="Where state, shares and the TLS certificate live; reuse it to keep resources.")
@click.option("--ready-file", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the endpoint, subscription, CA certificate path and a token here (JSON, mode 0600) "
                   "once ready.")
def emulator(host: str, port: int, data_dir: Path, ready_file: Path | None) -> None:
    """Run the local Batch AI + Azure Files emulator until SIGINT or SIGTERM."""
    from .local.emulator import Emulator

    instance = Emulator(data_dir, host=host, port=port)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    info = instance.start()
    try:
        if ready_file is not None:
            instance.write_ready_file(ready_file)
        click.echo(f"Emulator listening on {info.arm_endpoint} (subscription {info.subscription_id}, "
                   f"CA certificate {info.ca_cert})", err=True)
        stop.wait()
    finally:
        click.echo("Stopping emulator", err=True)
        instance.stop()
        if ready_file is not None:
            ready_file.unlink(missing_ok=True)


def _register_subcommands() -> None:
    from .local._runtime_cli import runtime

    main.add_command(runtime)


_register_subcommands()


if __name__ == "__main__":  # pragma: no cover
    main()
