"""``batchai-kit az ...``: the real Azure CLI against a running emulator (see ``_az.py``)."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("az", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option("--ready-file", type=click.Path(dir_okay=False, path_type=Path), envvar="BATCHAI_KIT_READY_FILE",
              default=Path("emulator.json"), show_default=True,
              help="The running emulator's ready file (or $BATCHAI_KIT_READY_FILE).")
@click.option("--az", "az_path", help="The az executable (default: $BATCHAI_KIT_AZ, az on PATH, or the one "
                                      "`./dev.sh conformance` installs).")
@click.option("--config-dir", type=click.Path(file_okay=False, path_type=Path),
              help="The isolated AZURE_CONFIG_DIR (default: az/ in the emulator's data directory).")
@click.option("--print-env", is_flag=True,
              help="Prepare, then print the environment variables that point az at the emulator, for a shell "
                   "to export (`eval \"$(batchai-kit az --print-env)\"`).")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def az(ready_file: Path, az_path: str | None, config_dir: Path | None, print_env: bool, args: tuple[str, ...]) -> None:
    """Run the real Azure CLI against a running emulator: `batchai-kit az batchai cluster list -g rg -w ws`.

    The first time (per emulator) it prepares an isolated az configuration directory: the
    emulator registered as a custom cloud, its certificate trusted, and `az login
    --service-principal` with the ready file's service principal. Your own ~/.azure is never
    touched. Arguments after the options go to az unchanged; the exit code is az's.
    """
    import shlex

    from ._az import AzSession, EmulatorTarget, find_az
    from .errors import BatchAIKitError

    try:
        session = AzSession(EmulatorTarget.from_ready_file(ready_file), find_az(az_path), config_dir)
        session.prepare()
    except BatchAIKitError as exc:
        raise click.ClickException(str(exc)) from None
    if print_env:
        env = session.environ()
        for name in ("AZURE_CONFIG_DIR", "REQUESTS_CA_BUNDLE", "AZURE_CORE_COLLECT_TELEMETRY"):
            click.echo(f"export {name}={shlex.quote(env[name])}")
        return
    if not args:
        raise click.UsageError("give the az command to run, e.g. `batchai-kit az batchai workspace list`")
    raise SystemExit(session.run(args).returncode)
