"""What the job and cluster commands share: where Azure is, ``--output table|json``, and the
exit codes (one table, documented in docs/cli.md).

Tables are plain text in the az CLI's style and never cut a value: piped into ``grep`` or a file,
every id arrives whole, whatever the terminal's width.
"""

from __future__ import annotations

import contextlib
import enum
import json
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Sequence, TypeVar

import click

from .errors import (
    AuthenticationFailed,
    BatchAIKitError,
    ConnectionFailed,
    JobFailed,
    NodesUnusable,
    NotFound,
    RuntimeUnavailable,
    ServiceError,
    Timeout,
    ValidationError,
)

F = TypeVar("F", bound=Callable[..., Any])

READY_FILE_ENV = "BATCHAI_KIT_READY_FILE"


class ExitCode(enum.IntEnum):
    """The exit status of a ``batchai-kit`` command. ``run`` passes a job's own non-zero exit
    code through instead; the message on stderr then says it was the job's."""

    OK = 0
    JOB_FAILED = 1  # a job failed without an exit code of its own (preparation failed, terminated...)
    USAGE = 2  # bad options, an invalid or unsupported JSON spec, a value that breaks a rule
    SERVICE_ERROR = 3  # Azure (or the emulator) answered with an error: conflict, quota, provisioning failed
    NOT_FOUND = 4  # the workspace, experiment, job or cluster named does not exist
    CONNECTION_FAILED = 5  # Azure could not be reached, or refused the credentials
    TIMEOUT = 6  # a wait passed its deadline
    NODES_UNUSABLE = 7  # the cluster's nodes cannot run jobs
    RUNTIME_UNAVAILABLE = 8  # a local toolkit runtime (the emulator's CNTK) is missing
    INTERRUPTED = 130  # Ctrl-C (after cleaning up)
    TERMINATED = 143  # SIGTERM (after cleaning up)


def exit_code_for(error: BaseException) -> ExitCode:
    """The exit code of an error that ended a command."""
    if isinstance(error, ValidationError):
        return ExitCode.USAGE
    if isinstance(error, NotFound):
        return ExitCode.NOT_FOUND
    if isinstance(error, (ConnectionFailed, AuthenticationFailed)):
        return ExitCode.CONNECTION_FAILED
    if isinstance(error, ServiceError):
        return ExitCode.SERVICE_ERROR
    if isinstance(error, Timeout):
        return ExitCode.TIMEOUT
    if isinstance(error, NodesUnusable):
        return ExitCode.NODES_UNUSABLE
    if isinstance(error, RuntimeUnavailable):
        return ExitCode.RUNTIME_UNAVAILABLE
    if isinstance(error, KeyboardInterrupt):
        return ExitCode.INTERRUPTED
    return ExitCode.JOB_FAILED


def report(message: str) -> None:
    """An error message on stderr, in one recognisable form."""
    click.echo(f"batchai-kit: error: {message}", err=True)


def fail(message: str, code: int) -> click.exceptions.Exit:
    """Say why on stderr; the ``click.exceptions.Exit`` to raise for ``code``."""
    report(message)
    return click.exceptions.Exit(int(code))


@contextlib.contextmanager
def reported_errors(context: str = "") -> Iterator[None]:
    """Turn the library's errors (and Ctrl-C) into a message on stderr and the documented exit code."""
    try:
        yield
    except (JobFailed, BatchAIKitError) as exc:
        raise fail(f"{context}{exc}", exit_code_for(exc)) from None
    except KeyboardInterrupt:
        raise fail("interrupted", ExitCode.INTERRUPTED) from None


# --- where Azure is ----------------------------------------------------------------------------


def connection_options(*, embedded_default: bool) -> Callable[[F], F]:
    """``--ready-file`` / ``--config`` / ``--azure``; with none, the embedded emulator when
    ``embedded_default`` (``run``), else the AZURE_* environment variables."""
    default = "the embedded emulator (started for this command)" if embedded_default else "--azure"
    options = [
        click.option("--ready-file", type=click.Path(dir_okay=False, path_type=Path), envvar=READY_FILE_ENV,
                     help=f"Talk to a running emulator through its ready file (or ${READY_FILE_ENV})."),
        click.option("--config", type=click.Path(dir_okay=False, exists=True, path_type=Path),
                     help="Real Azure, configured by a configuration.json like the Batch AI recipes'."),
        click.option("--azure", "use_azure", is_flag=True,
                     help=f"Real Azure, configured by the AZURE_* environment variables. Default: {default}."),
    ]

    def decorate(command: F) -> F:
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


def connect(ready_file: Optional[Path], config: Optional[Path], use_azure: bool, *,
            embedded_default: bool = False) -> Any:
    """The ``bk.Azure`` the options name (at most one of them)."""
    from ._connection import Azure

    chosen = [name for name, given in (("--ready-file", ready_file), ("--config", config), ("--azure", use_azure))
              if given]
    if len(chosen) > 1:
        raise click.UsageError(f"give one of {', '.join(chosen)}, not several")
    if ready_file is not None:
        if not ready_file.is_file():
            raise click.BadParameter(f"{ready_file} does not exist: is the emulator running "
                                     "(batchai-kit emulator --ready-file ...)?", param_hint="--ready-file")
        azure = Azure.from_ready_file(ready_file)
        _check_listening(azure.arm_endpoint, ready_file)
        return azure
    if config is not None:
        return Azure.from_config(config)
    if use_azure or not embedded_default:
        return Azure.from_env()
    return Azure.local()


def _check_listening(endpoint: str, ready_file: Path) -> None:
    """An emulator that is not running refuses at once: say so now, rather than retrying for
    minutes as the library does for a service that may come back."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(endpoint)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 443), timeout=5):
            pass
    except OSError as exc:
        raise ConnectionFailed(f"the emulator of {ready_file} does not answer at {endpoint} ({exc.strerror or exc}): "
                               "is it still running? (batchai-kit emulator --ready-file ...)") from None


# --- output ------------------------------------------------------------------------------------


def output_option(command: F) -> F:
    return click.option("-o", "--output", "output", type=click.Choice(["table", "json"]), default="table",
                        show_default=True, help="Output format.")(command)


def render_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """An az-style text table: a header, dashes, one line per row; no value is ever cut."""
    cells = [[_cell(value) for value in row] for row in rows]
    widths = [max([len(title)] + [len(row[index]) for row in cells]) for index, title in enumerate(columns)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(value.ljust(width) for value, width in zip(values, widths)).rstrip()

    return "\n".join([line(columns), line(["-" * width for width in widths]), *(line(row) for row in cells)])


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return " ".join(str(value).split())  # one line per row, whatever the value holds


def emit(output: str, data: Any, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print ``data`` as JSON, or ``rows`` as a table, on stdout."""
    if output == "json":
        click.echo(json.dumps(data, indent=2, sort_keys=False, default=str))
    elif rows:
        click.echo(render_table(columns, rows))


def emit_fields(output: str, data: Any, fields: Sequence[tuple[str, Any]]) -> None:
    """One resource: JSON, or a two-column table of its fields."""
    emit(output, data, ["Field", "Value"], [(name, value) for name, value in fields if value not in (None, "")])


def resource_json(model: Any) -> dict[str, Any]:
    """An SDK model as az prints it: the wire body with ``properties`` flattened into the top."""
    body = model.serialize(keep_readonly=True)
    properties = body.pop("properties", None) or {}
    return {**body, **properties}


def last_segment(resource_id: Optional[str]) -> Optional[str]:
    return resource_id.rstrip("/").rsplit("/", 1)[-1] if resource_id else None

