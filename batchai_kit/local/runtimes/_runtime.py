"""Runtimes: the Python a job process runs with, and what its environment needs."""

from __future__ import annotations

import json
import logging
import os
import pathlib
import subprocess
import sys

import attrs

from ...errors import RuntimeNotReady, RuntimeUnavailable, ValidationError
from ._images import RUNTIME_NAMES
from ._paths import cntk_runtime_dir, install_command

log = logging.getLogger("batchai_kit.local.runtimes")

SMOKE_SCRIPT = pathlib.Path(__file__).with_name("_cntk_smoke.py")
# CNTK warns at import about the distribution (it knows only Ubuntu 16.04+) and about missing GPU
# libraries. A job on real Batch AI (Ubuntu + GPU) never shows them, so job logs here should not.
_CNTK_IMPORT_WARNINGS = "ignore::UserWarning:cntk.cntk_py_init"
_IMPORT_PROBE = (
    "import sys, cntk; "
    "sys.stdout.write('cntk %s on Python %d.%d.%d' % ((cntk.__version__,) + tuple(sys.version_info[:3])))"
)
# Host-side variables that would make a foreign interpreter load the wrong standard library.
_FOREIGN_PYTHON_VARIABLES = ("PYTHONHOME", "PYTHONPATH")
_known_good: dict[tuple[str, str], RuntimeStatus] = {}


@attrs.frozen
class RuntimeStatus:
    ok: bool
    detail: str


@attrs.frozen
class TrainingCheck:
    """What the CNTK smoke training reported: version, devices and the loss at each step."""

    cntk_version: str
    devices: list[str]
    losses: list[float]


@attrs.frozen
class Runtime:
    """A Python that job processes run with.

    ``name`` is "host" (the emulator's own interpreter) or "cntk" (a CPython 3.6 virtual
    environment at ``prefix`` with CNTK 2.7).
    """

    name: str
    python: pathlib.Path
    prefix: pathlib.Path | None = None

    def environ(self) -> dict[str, str]:
        """Variables to set on top of the caller's environment for a job process of this runtime."""
        path = os.environ.get("PATH", os.defpath)
        if self.name == "host":
            return {"PATH": _prepend(str(self.python.parent), path)}
        assert self.prefix is not None
        return {
            "PATH": _prepend(str(self.prefix / "bin"), path),
            "VIRTUAL_ENV": str(self.prefix),
            "LD_LIBRARY_PATH": _prepend(str(self.cntk_libs_dir()), os.environ.get("LD_LIBRARY_PATH", "")),
            "PYTHONNOUSERSITE": "1",
            "PYTHONWARNINGS": ",".join(filter(None, [_CNTK_IMPORT_WARNINGS, os.environ.get("PYTHONWARNINGS")])),
        }

    def process_environ(self) -> dict[str, str]:
        """The full environment for a process of this runtime: ours, minus Python-path leaks, plus ``environ()``."""
        base = {key: value for key, value in os.environ.items() if key not in _FOREIGN_PYTHON_VARIABLES}
        return {**base, **self.environ()}

    def cntk_libs_dir(self) -> pathlib.Path:
        """``site-packages/cntk/libs`` of this environment (where it will be, if not installed yet)."""
        assert self.prefix is not None, "only the cntk runtime has CNTK libraries"
        found = sorted(self.prefix.glob("lib/python3*/site-packages/cntk/libs"))
        return found[0] if found else self.prefix / "lib" / "python3.6" / "site-packages" / "cntk" / "libs"

    def check(self) -> RuntimeStatus:
        """Whether the interpreter runs (and, for cntk, ``import cntk`` works). A success is cached."""
        key = (self.name, str(self.python))
        if key in _known_good:
            return _known_good[key]
        status = self._check_host() if self.name == "host" else self._check_cntk()
        if status.ok:
            _known_good[key] = status
        return status

    def forget_check(self) -> None:
        """Drop the cached result of ``check()`` (after installing or repairing)."""
        _known_good.pop((self.name, str(self.python)), None)

    def _check_host(self) -> RuntimeStatus:
        if not self.python.exists():
            return RuntimeStatus(False, f"the host Python {self.python} does not exist")
        version = ".".join(map(str, sys.version_info[:3]))
        return RuntimeStatus(True, f"Python {version} (the emulator's own interpreter)")

    def _check_cntk(self) -> RuntimeStatus:
        assert self.prefix is not None
        how = f"install it with: {install_command('cntk')}"
        if not self.python.exists():
            return RuntimeStatus(False, f"CNTK runtime not installed ({self.python} does not exist); {how}")
        try:
            probe = subprocess.run(
                [str(self.python), "-c", _IMPORT_PROBE],
                capture_output=True,
                text=True,
                env=self.process_environ(),
                timeout=120,
            )
        except (OSError, subprocess.SubprocessError) as error:
            return RuntimeStatus(False, f"{self.python} does not run ({error}); re{how}")
        if probe.returncode != 0:
            reason = _last_line(probe.stderr) or f"exit code {probe.returncode}"
            return RuntimeStatus(False, f"`import cntk` fails in {self.python}: {reason}; re{how}")
        return RuntimeStatus(True, probe.stdout.strip())


def get_runtime(name: str) -> Runtime:
    """The runtime called ``name`` ("host" or "cntk"), installed or not: ``check()`` tells."""
    if name == "host":
        return Runtime("host", pathlib.Path(sys.executable))
    if name == "cntk":
        prefix = cntk_runtime_dir()
        return Runtime("cntk", prefix / "bin" / "python", prefix)
    raise ValidationError("runtime", name, f"must be one of {', '.join(RUNTIME_NAMES)}")


def list_runtimes() -> list[tuple[Runtime, RuntimeStatus]]:
    """Every known runtime with its current status, host first."""
    return [(runtime, runtime.check()) for runtime in map(get_runtime, ("host", "cntk"))]


def require_runtime(name: str) -> Runtime:
    """The runtime called ``name`` if it works.

    Raises:
        RuntimeNotReady: it is not installed or broken; the message has the install command.
    """
    runtime = get_runtime(name)
    status = runtime.check()
    if not status.ok:
        raise RuntimeNotReady(name, f"runtime {name!r} is unavailable: {status.detail}", install_command(name))
    return runtime


def verify_cntk(runtime: Runtime, *, timeout: float = 600) -> TrainingCheck:
    """Train a tiny dense net for a few SGD steps in ``runtime``'s Python; the loss must fall.

    Raises:
        RuntimeUnavailable: CNTK does not import or train, or the loss did not fall.
    """
    try:
        run = subprocess.run(
            [str(runtime.python), str(SMOKE_SCRIPT)],
            capture_output=True,
            text=True,
            env=runtime.process_environ(),
            timeout=timeout,
        )
    except (OSError, subprocess.SubprocessError) as error:
        raise RuntimeUnavailable(f"CNTK smoke training could not run in {runtime.python}: {error}") from None
    report = next((line for line in reversed(run.stdout.splitlines()) if line.startswith("{")), None)
    if run.returncode != 0 or report is None:
        raise RuntimeUnavailable(
            f"CNTK smoke training failed in {runtime.python} (exit code {run.returncode}): "
            f"{_last_line(run.stderr) or 'no output'}; reinstall with: {install_command('cntk')}"
        )
    answer = json.loads(report)
    check = TrainingCheck(answer["cntk"], answer["devices"], answer["losses"])
    if not check.losses[-1] < check.losses[0]:
        raise RuntimeUnavailable(
            f"CNTK smoke training did not learn: loss {check.losses[0]:.4f} -> {check.losses[-1]:.4f}"
        )
    return check


def _prepend(entry: str, path_list: str) -> str:
    return os.pathsep.join([entry, *[part for part in path_list.split(os.pathsep) if part and part != entry]])


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""
