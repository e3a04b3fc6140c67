"""Where runtimes live: ``$BATCHAI_KIT_HOME`` (default ``~/.batchai_kit``) and below it."""

from __future__ import annotations

import os
import pathlib
import shlex

DEFAULT_HOME = "~/.batchai_kit"


def kit_home() -> pathlib.Path:
    """``$BATCHAI_KIT_HOME``, else ``~/.batchai_kit``: runtimes and their settings live here."""
    return pathlib.Path(os.environ.get("BATCHAI_KIT_HOME") or DEFAULT_HOME).expanduser()


def cntk_runtime_dir() -> pathlib.Path:
    """The CNTK virtual environment: ``$BATCHAI_KIT_CNTK_RUNTIME``, else ``<home>/runtimes/cntk``."""
    explicit = os.environ.get("BATCHAI_KIT_CNTK_RUNTIME")
    if explicit:
        return pathlib.Path(explicit).expanduser()
    return kit_home() / "runtimes" / "cntk"


def image_rules_file() -> pathlib.Path:
    return kit_home() / "runtimes.json"


def install_command(name: str = "cntk") -> str:
    """The shell command that installs runtime ``name`` where this process looks for it.

    Carries the location variables when they are set, so the command installs into the same
    place that was checked.
    """
    settings = [
        f"{var}={shlex.quote(os.environ[var])}"
        for var in ("BATCHAI_KIT_HOME", "BATCHAI_KIT_CNTK_RUNTIME")
        if os.environ.get(var)
    ]
    return " ".join([*settings, "batchai-kit", "runtime", "install", name])
