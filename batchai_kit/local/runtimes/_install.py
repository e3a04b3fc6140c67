"""Building the CNTK runtime: a CPython 3.6 venv with pinned CNTK, linked to Open MPI, verified.

Every step checks first and does nothing when already done, so installing again over a working
runtime only verifies it.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import pathlib
import subprocess
import threading
from collections.abc import Callable, Iterator

from ...errors import RuntimeUnavailable
from ._discovery import find_python36
from ._openmpi import link_sonames, require_openmpi
from ._runtime import Runtime, get_runtime, verify_cntk

log = logging.getLogger("batchai_kit.local.runtimes")

REQUIREMENTS = ("cntk==2.7.post2", "numpy==1.19.5", "scipy==1.5.4")
# The last pip that runs on Python 3.6. The one venv bundles with 3.6.15 (18.1) predates
# manylinux2010 wheels and crashes on some PIP_* settings (PIP_NO_CACHE_DIR).
PIP_FOR_PYTHON36 = "pip==21.3.1"
_MARKER = ".batchai_kit-requirements"
_PIP_PROGRESS = ("Collecting", "Downloading", "Installing collected", "Successfully installed")


def install_cntk(
    *,
    python36: pathlib.Path | None = None,
    allow_apt: bool = False,
    progress: Callable[[str], None] | None = None,
) -> Runtime:
    """Install (or repair, or just verify) the CNTK runtime at its configured location.

    ``python36`` overrides the discovery of a CPython 3.6 interpreter; ``allow_apt`` lets a root
    process on Debian/Ubuntu install the Open MPI package; ``progress`` receives one line per step.

    Raises:
        Python36NotFound, SystemLibraryMissing: a prerequisite is missing; the message says how to get it.
        RuntimeUnavailable: a step failed; the message carries the failing command's last lines.
    """
    say = _reporter(progress)
    runtime = get_runtime("cntk")
    assert runtime.prefix is not None
    with _exclusive(runtime.prefix):
        _ensure_venv(runtime, python36, say)
        openmpi = require_openmpi(allow_apt=allow_apt, progress=say)  # before the long download
        _ensure_packages(runtime, say)
        for link in link_sonames(runtime.cntk_libs_dir(), openmpi):
            say(f"Linked {link}")
        runtime.forget_check()
        say("Verifying: import cntk and train a tiny model")
        check = verify_cntk(runtime)
        say(
            f"CNTK {check.cntk_version} works on {', '.join(check.devices)}: loss "
            f"{check.losses[0]:.3f} -> {check.losses[-1]:.3f} in {len(check.losses)} SGD steps"
        )
    return runtime


def _ensure_venv(runtime: Runtime, python36: pathlib.Path | None, say: Callable[[str], None]) -> None:
    prefix = runtime.prefix
    assert prefix is not None
    is_venv = (prefix / "pyvenv.cfg").is_file()
    if is_venv and _runs(runtime.python):
        if python36 is not None:
            say(f"Keeping the existing environment {prefix}; delete it to rebuild it with {python36}")
        return
    if prefix.exists() and not is_venv and any(prefix.iterdir()):
        raise RuntimeUnavailable(
            f"{prefix} exists and is not a virtual environment; remove it or set BATCHAI_KIT_CNTK_RUNTIME elsewhere"
        )
    interpreter = find_python36(python36)
    say(f"Creating the virtual environment {prefix} with {interpreter}")
    prefix.parent.mkdir(parents=True, exist_ok=True)
    _run([str(interpreter), "-m", "venv", "--clear", str(prefix)], what="create the virtual environment", timeout=600)


def _ensure_packages(runtime: Runtime, say: Callable[[str], None]) -> None:
    assert runtime.prefix is not None
    marker = runtime.prefix / _MARKER
    wanted = "\n".join(REQUIREMENTS) + "\n"
    if marker.is_file() and marker.read_text() == wanted and _has_modules(runtime.python, "cntk", "numpy", "scipy"):
        return
    pip = [str(runtime.python), "-m", "pip", "--disable-pip-version-check"]
    version = _run([*pip, "--version"], what="run pip", timeout=120)
    if not version.startswith(f"pip {PIP_FOR_PYTHON36.split('==')[1]} "):
        say(f"Upgrading pip to {PIP_FOR_PYTHON36}")
        options, environment = _options_for_old_pip()
        _run([*pip, "install", *options, PIP_FOR_PYTHON36], what="upgrade pip", timeout=900, env=environment)
    say(f"Installing {' '.join(REQUIREMENTS)}")
    _run([*pip, "install", *REQUIREMENTS], what="install CNTK", timeout=3600, on_line=say, show=_PIP_PROGRESS)
    marker.write_text(wanted)


def _options_for_old_pip() -> tuple[list[str], dict[str, str]]:
    """pip < 19 crashes on ``PIP_NO_CACHE_DIR`` in the environment; it takes the option instead."""
    environment = dict(os.environ)
    value = environment.pop("PIP_NO_CACHE_DIR", None)
    if value is None:
        return [], environment
    return (["--no-cache-dir"] if value.lower() not in ("0", "false", "no", "off") else []), environment


def _has_modules(python: pathlib.Path, *names: str) -> bool:
    """Whether ``python`` can find these top-level modules, without importing them."""
    probe = f"import importlib.util, sys; sys.exit(any(importlib.util.find_spec(n) is None for n in {names!r}))"
    try:
        return subprocess.run([str(python), "-c", probe], capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def _runs(python: pathlib.Path) -> bool:
    try:
        return subprocess.run([str(python), "-c", "pass"], capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def _run(
    command: list[str],
    *,
    what: str,
    timeout: float,
    on_line: Callable[[str], None] | None = None,
    show: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
) -> str:
    """Run ``command``, logging its output; lines starting with ``show`` go to ``on_line``.

    Raises RuntimeUnavailable with the output's tail when it fails or outlives ``timeout`` seconds.
    """
    log.debug("Running %s", command)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1, env=env)
    timer = threading.Timer(timeout, process.kill)
    timer.start()
    lines: list[str] = []
    try:
        assert process.stdout is not None
        for raw in process.stdout:
            line = raw.rstrip()
            lines.append(line)
            log.debug("%s", line)
            if on_line is not None and line.lstrip().startswith(show):
                on_line(line.strip())
        returncode = process.wait()
    finally:
        timer.cancel()
    if returncode != 0:
        tail = "\n".join(lines[-15:])
        killed = f" (stopped after {timeout:.0f} s)" if returncode < 0 else ""
        raise RuntimeUnavailable(f"Could not {what}: `{' '.join(command)}` exited {returncode}{killed}:\n{tail}")
    return "\n".join(lines)


@contextlib.contextmanager
def _exclusive(prefix: pathlib.Path) -> Iterator[None]:
    """One installer per runtime location at a time, across processes."""
    prefix.parent.mkdir(parents=True, exist_ok=True)
    with open(prefix.parent / f".{prefix.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _reporter(progress: Callable[[str], None] | None) -> Callable[[str], None]:
    def say(message: str) -> None:
        log.info("%s", message)
        if progress is not None:
            progress(message)

    return say
