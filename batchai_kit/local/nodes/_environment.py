"""The Batch AI node environment: ``$AZ_BATCHAI_*`` expansion, user variables and secrets.

The service expands ``$AZ_BATCHAI_X`` and ``${AZ_BATCHAI_X}`` in paths and arguments it
handles itself (script paths, argument strings, path prefixes, input paths, the values of
user environment variables); command lines run through bash, which expands them anyway.
Unknown names are left as written, as a shell-less substitution would.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path

from ._model import INVALID_JOB, StartError

_REFERENCE = re.compile(r"\$(?:\{(AZ_BATCHAI_[A-Za-z0-9_]+)\}|(AZ_BATCHAI_[A-Za-z0-9_]+))")

REDACTED = "******"


def expand(text: str, env: Mapping[str, str]) -> str:
    """Replace ``$AZ_BATCHAI_*`` / ``${AZ_BATCHAI_*}`` references that ``env`` defines."""

    def substitute(match: re.Match) -> str:
        name = match.group(1) or match.group(2)
        return env.get(name, match.group(0))

    return _REFERENCE.sub(substitute, text)


def split_words(arguments: str | None) -> list[str]:
    """Split an argument string like a shell. Callers expand each word afterwards, so an
    expanded path with spaces stays one argument."""
    if not arguments:
        return []
    try:
        return shlex.split(arguments)
    except ValueError as exc:
        raise StartError(INVALID_JOB, f"Cannot parse command line arguments {arguments!r}: {exc}") from exc


def absolute_path(text: str, env: Mapping[str, str], what: str) -> Path:
    """Expand a path the service requires to be absolute, or say which reference is unknown."""
    expanded = expand(text, env)
    if not os.path.isabs(expanded):
        raise StartError(
            INVALID_JOB,
            f"{what} {text!r} expands to {expanded!r}, which is not an absolute path "
            "(known variables: AZ_BATCHAI_MOUNT_ROOT, AZ_BATCHAI_JOB_MOUNT_ROOT, AZ_BATCHAI_INPUT_<id> ...)",
        )
    return Path(expanded)


def user_variables(definitions: Iterable[dict] | None, env: Mapping[str, str]) -> dict[str, str]:
    """``environmentVariables``: name -> value, ``$AZ_BATCHAI_*`` expanded in values."""
    return {item["name"]: expand(str(item.get("value", "")), env) for item in definitions or ()}


def secret_variables(definitions: Iterable[dict] | None) -> dict[str, str]:
    """``secrets``: name -> value. Key Vault references cannot be resolved locally."""
    secrets: dict[str, str] = {}
    for item in definitions or ():
        if "value" in item and item["value"] is not None:
            secrets[item["name"]] = str(item["value"])
        else:
            raise StartError(
                INVALID_JOB,
                f"Secret {item.get('name')!r} uses valueSecretReference (Azure Key Vault), which the "
                "local emulator cannot read; give the value directly",
            )
    return secrets


def with_runtime(base: Mapping[str, str], python: Path | None, extra: Mapping[str, str]) -> dict[str, str]:
    """Base environment plus a runtime's variables; the runtime's interpreter comes first on PATH
    (as it would inside its container) unless the runtime sets PATH itself."""
    env = dict(base)
    env.update(extra)
    if python is not None and "PATH" not in extra:
        parts = [str(Path(python).parent)] + [p for p in env.get("PATH", os.defpath).split(os.pathsep) if p]
        env["PATH"] = os.pathsep.join(dict.fromkeys(parts))
    return env


def which(program: str, env: Mapping[str, str]) -> str | None:
    """Find ``program`` on the PATH of ``env`` (not of this process)."""
    return shutil.which(program, path=env.get("PATH", os.defpath))


class Redactor:
    """Hides secret values in text meant for logs and execution.log."""

    def __init__(self, secrets: Iterable[str]):
        # Longest first, so a secret containing another is hidden whole. Very short values
        # would blank out ordinary text, and hardly hide anything anyway.
        self._values = sorted({s for s in secrets if len(s) >= 3}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for value in self._values:
            text = text.replace(value, REDACTED)
        return text

    def __repr__(self) -> str:
        return f"Redactor({len(self._values)} values)"


def describe(argv: Iterable[str]) -> str:
    return shlex.join(list(argv))
