"""Finding a CPython 3.6 interpreter: explicit setting, then pyenv, then ``python3.6`` on PATH."""

from __future__ import annotations

import logging
import os
import pathlib
import re
import shutil
import subprocess

from ...errors import Python36NotFound, RuntimeUnavailable

log = logging.getLogger("batchai_kit.local.runtimes")

PYTHON36_ENV = "BATCHAI_KIT_PYTHON36"
_PROBE = "import sys; print('%d.%d' % sys.version_info[:2]); print(sys.executable)"
_VERSION_DIR = re.compile(r"^3\.6\.(\d+)$")

HOW_TO_GET_PYTHON36 = f"""\
CNTK 2.7.post2 is published only for CPython 3.6. Install one of:
  - pyenv (any Linux):  pyenv install 3.6.15
      (build needs: apt-get install build-essential libssl-dev zlib1g-dev libbz2-dev \\
       libreadline-dev libsqlite3-dev libffi-dev liblzma-dev; it is then found under $(pyenv root))
  - conda:              conda create -p ~/py36 python=3.6   (then use ~/py36/bin/python3.6)
  - Ubuntu <= 20.04:    add-apt-repository ppa:deadsnakes/ppa && apt-get install python3.6 python3.6-venv
then point batchai_kit at it if it is not found by itself:
  export {PYTHON36_ENV}=/path/to/python3.6
  or: batchai-kit runtime install cntk --python36 /path/to/python3.6"""


def find_python36(explicit: pathlib.Path | str | None = None) -> pathlib.Path:
    """The CPython 3.6 interpreter to build the CNTK runtime with.

    Looks, in order, at ``explicit``, then ``$BATCHAI_KIT_PYTHON36``, then pyenv's
    ``versions/3.6.*`` (newest patch first) under ``pyenv root``, ``$PYENV_ROOT`` and
    ``~/.pyenv``, then ``python3.6`` on PATH. An explicit setting that is not a working
    Python 3.6 is an error, not a reason to look elsewhere.

    Raises:
        Python36NotFound: nothing found; the message says how to install one.
        RuntimeUnavailable: the explicit setting is not a working Python 3.6.
    """
    for source, value in (("python36 argument", explicit), (PYTHON36_ENV, os.environ.get(PYTHON36_ENV))):
        if value:
            return _require_python36(pathlib.Path(value).expanduser(), source)

    looked_at = []
    for root in _pyenv_roots():
        candidates = _pyenv_versions(root)
        looked_at.append(f"{root}/versions/3.6.* ({len(candidates)} found)")
        for candidate in candidates:
            if _version_of(candidate) == "3.6":
                log.debug("Found Python 3.6 in pyenv: %s", candidate)
                return candidate

    on_path = shutil.which("python3.6")
    looked_at.append(f"python3.6 on PATH ({on_path or 'not found'})")
    if on_path:
        executable = _real_executable(pathlib.Path(on_path))
        if executable is not None:
            log.debug("Found Python 3.6 on PATH: %s", executable)
            return executable

    raise Python36NotFound(
        "No CPython 3.6 interpreter found. Looked at: "
         f"{PYTHON36_ENV} (unset); "
        + "; ".join(looked_at)
        + ".\n"
        + HOW_TO_GET_PYTHON36,
        looked_at=[PYTHON36_ENV, *looked_at],
    )


def _require_python36(path: pathlib.Path, source: str) -> pathlib.Path:
    version = _version_of(path)
    if version == "3.6":
        return path
    found = f"it is Python {version}" if version else "it does not run as a Python interpreter"
    raise RuntimeUnavailable(
        f"{source}={str(path)!r} must be a CPython 3.6 interpreter, but {found}.\n{HOW_TO_GET_PYTHON36}"
    )


def _pyenv_roots() -> list[pathlib.Path]:
    roots = []
    pyenv = shutil.which("pyenv")
    if pyenv:
        try:
            answer = subprocess.run([pyenv, "root"], capture_output=True, text=True, timeout=30, check=True)
            roots.append(pathlib.Path(answer.stdout.strip()))
        except (OSError, subprocess.SubprocessError) as error:
            log.debug("`pyenv root` failed: %s", error)
    if os.environ.get("PYENV_ROOT"):
        roots.append(pathlib.Path(os.environ["PYENV_ROOT"]).expanduser())
    roots.append(pathlib.Path("~/.pyenv").expanduser())
    unique = []
    for root in roots:
        if root not in unique:
            unique.append(root)
    return unique


def _pyenv_versions(root: pathlib.Path) -> list[pathlib.Path]:
    """``<root>/versions/3.6.N/bin/python3.6`` that exist, newest N first."""
    found = []
    versions = root / "versions"
    if versions.is_dir():
        for entry in versions.iterdir():
            match = _VERSION_DIR.match(entry.name)
            executable = entry / "bin" / "python3.6"
            if match and executable.exists():
                found.append((int(match.group(1)), executable))
    return [executable for _, executable in sorted(found, reverse=True)]


def _probe(path: pathlib.Path) -> tuple[str, str] | None:
    try:
        answer = subprocess.run([str(path), "-c", _PROBE], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    lines = answer.stdout.split()
    if answer.returncode != 0 or len(lines) != 2:
        return None
    return lines[0], lines[1]


def _version_of(path: pathlib.Path) -> str | None:
    probe = _probe(path)
    return probe[0] if probe else None


def _real_executable(path: pathlib.Path) -> pathlib.Path | None:
    """The interpreter behind ``path`` (a pyenv shim resolves to the real one), if it is 3.6."""
    probe = _probe(path)
    if probe is None or probe[0] != "3.6":
        return None
    return pathlib.Path(probe[1])
