"""``batchai-kit runtime``: list the toolkit runtimes and install the CNTK one."""

from __future__ import annotations

import pathlib
import time

import click
from rich.console import Console
from rich.table import Table

from ..errors import RuntimeUnavailable
from .runtimes import RUNTIME_NAMES, install_cntk, list_runtimes

_INSTALLABLE = ("cntk",)


@click.group("runtime")
def runtime() -> None:
    """Toolkit runtimes that emulator jobs run with (host Python, CNTK on Python 3.6)."""


@runtime.command("install")
@click.argument("name")
@click.option(
    "--python36",
    type=click.Path(exists=True, dir_okay=False, path_type=pathlib.Path),
    help="CPython 3.6 interpreter to build with (default: $BATCHAI_KIT_PYTHON36, pyenv, python3.6 on PATH).",
)
@click.option(
    "--allow-apt/--no-allow-apt",
    default=False,
    show_default=True,
    help="As root on Debian/Ubuntu, apt-get install libopenmpi3 when it is missing.",
)
def install(name: str, python36: pathlib.Path | None, allow_apt: bool) -> None:
    """Install runtime NAME (only "cntk" needs installing); again over a working one only verifies it."""
    if name not in _INSTALLABLE:
        if name == "host":
            reason = "the host runtime is the emulator's own Python; nothing to install"
        else:
            reason = f"runtimes are {', '.join(RUNTIME_NAMES)}"
        raise click.BadParameter(
            f"{name!r}: only {', '.join(_INSTALLABLE)} is installable ({reason})", param_hint="NAME"
        )
    console = Console(stderr=True, log_path=False)
    started = time.monotonic()
    try:
        with console.status("Installing the CNTK runtime", spinner="dots") as status:

            def progress(message: str) -> None:
                console.log(message)
                status.update(message)

            installed = install_cntk(python36=python36, allow_apt=allow_apt, progress=progress)
    except RuntimeUnavailable as error:
        raise click.ClickException(str(error)) from None
    console.print(
        f"[green]CNTK runtime ready[/green] at {installed.prefix} ({time.monotonic() - started:.0f} s); "
        f"python: {installed.python}"
    )


@runtime.command("list")
def list_() -> None:
    """Each runtime, its Python, and whether it works (or why not)."""
    table = Table("runtime")
    table.add_column("python", overflow="fold")
    table.add_column("status", overflow="fold")
    for each, status in list_runtimes():
        state = f"[green]ok[/green]: {status.detail}" if status.ok else f"[red]unavailable[/red]: {status.detail}"
        table.add_row(each.name, str(each.python), state)
    Console().print(table)
