"""The real Azure CLI (``az``) pointed at a running emulator, in its own configuration directory.

:class:`AzSession` prepares an isolated ``AZURE_CONFIG_DIR`` once per emulator (the emulator's
ARM registered as a custom cloud through its metadata endpoint, its CA trusted through
``REQUESTS_CA_BUNDLE``, MSAL's instance discovery off, telemetry off, and a service-principal
``az login`` with the ready file's client id and secret) and then runs ``az`` commands in it.
Nothing of the user's own ``~/.azure`` is read or changed. The secret reaches ``az`` on its
standard input (``--password @-``), never on a command line or in a log.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
from pathlib import Path
from typing import Mapping, Sequence

import attrs

from .errors import BatchAIKitError, ValidationError

log = logging.getLogger(__name__)

CLOUD_NAME = "BatchAIKitLocal"
CONFORMANCE_VENV = Path.home() / ".batchai_kit" / "conformance-venv"
_MARKER = "batchai-kit-emulator.json"
_CONFIG = """\
[core]
instance_discovery = false
collect_telemetry = no
survey_message = no
first_run = no
no_color = true

[extension]
use_dynamic_install = no
"""


class AzureCliNotFound(BatchAIKitError):
    """No ``az`` executable was found (``--az``, ``BATCHAI_KIT_AZ``, ``PATH``, the conformance venv)."""


class AzPreparationFailed(BatchAIKitError):
    """An ``az`` step preparing the configuration directory failed; ``step`` says which."""

    def __init__(self, step: str, returncode: int, output: str):
        self.step = step
        self.returncode = returncode
        super().__init__(f"`az {step}` failed (exit code {returncode}) while preparing the Azure CLI for the "
                         f"emulator: {output.strip()[-800:]}")


@attrs.frozen
class EmulatorTarget:
    """What ``az`` needs to know about a running emulator (from its ready file)."""

    arm_endpoint: str
    subscription_id: str
    ca_cert: str
    tenant_id: str
    client_id: str
    client_secret: str = attrs.field(repr=False)
    data_dir: str
    storage_account: str = ""
    storage_key: str = attrs.field(default="", repr=False)
    files_endpoint: str = ""

    @property
    def storage_connection_string(self) -> str:
        """For ``az storage``: the emulator's account at its path-style Files endpoint."""
        return (f"DefaultEndpointsProtocol=https;AccountName={self.storage_account};AccountKey={self.storage_key};"
                f"FileEndpoint={self.files_endpoint};")

    @classmethod
    def from_ready_file(cls, path: Path) -> EmulatorTarget:
        from ._connection import _check_private

        path = Path(path)
        if not path.exists():
            raise ValidationError("ready file", str(path), "does not exist: start the emulator with "
                                  "`batchai-kit emulator --ready-file FILE` or pass --ready-file")
        _check_private(path, what="ready file")
        try:
            ready = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ValidationError("ready file", str(path), f"cannot be read as JSON ({exc})") from None
        needed = ("arm_endpoint", "subscription_id", "ca_cert", "tenant_id", "client_id", "client_secret",
                  "data_dir")
        missing = [name for name in needed if not ready.get(name)]
        if missing:
            raise ValidationError("ready file", str(path), f"lacks {', '.join(missing)}: it was written by an "
                                  "emulator without the sign-in authority; restart the emulator")
        storage = {name: str(ready[name]) for name in ("storage_account", "storage_key", "files_endpoint")
                   if ready.get(name)}
        return cls(**{name: str(ready[name]) for name in needed}, **storage)

    def facts(self) -> dict:
        """What identifies the sign-in (a change means the configuration must be redone)."""
        return {"arm_endpoint": self.arm_endpoint, "subscription_id": self.subscription_id,
                "tenant_id": self.tenant_id, "client_id": self.client_id, "ca_cert": self.ca_cert}


def find_az(explicit: str | None = None, environ: Mapping[str, str] | None = None) -> Path:
    """The ``az`` to run: *explicit*, ``$BATCHAI_KIT_AZ``, ``az`` on PATH, or the one
    ``./dev.sh conformance`` installs."""
    env = os.environ if environ is None else environ
    for candidate in (explicit, env.get("BATCHAI_KIT_AZ")):
        if candidate:
            path = Path(candidate).expanduser()
            if not (path.is_file() and os.access(path, os.X_OK)):
                raise AzureCliNotFound(f"az={str(path)!r}: not an executable file")
            return path
    on_path = shutil.which("az", path=env.get("PATH"))
    if on_path:
        return Path(on_path)
    installed = CONFORMANCE_VENV / "bin" / "az"
    if installed.is_file():
        return installed
    raise AzureCliNotFound("The Azure CLI (az) was not found: install it (`pip install azure-cli`, or "
                           "`./dev.sh conformance` which installs it into ~/.batchai_kit/conformance-venv), "
                           "put it on PATH, or pass --az / set BATCHAI_KIT_AZ")


class AzSession:
    """``az`` with an isolated configuration directory signed in to one emulator."""

    def __init__(self, target: EmulatorTarget, az: Path, config_dir: Path | None = None,
                 environ: Mapping[str, str] | None = None):
        self.target = target
        self.az = az
        self.config_dir = Path(config_dir) if config_dir else Path(target.data_dir) / "az"
        self._base_environ = dict(os.environ if environ is None else environ)

    def environ(self) -> dict[str, str]:
        env = dict(self._base_environ)
        for name in ("AZURE_CLIENT_SECRET", "AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_SUBSCRIPTION_ID"):
            env.pop(name, None)  # the user's real service principal is not this one
        env.update({"AZURE_CONFIG_DIR": str(self.config_dir), "REQUESTS_CA_BUNDLE": self.target.ca_cert,
                    "AZURE_CORE_COLLECT_TELEMETRY": "no", "AZURE_CORE_INSTANCE_DISCOVERY": "false"})
        if self.target.storage_key:  # `az storage ...` reaches the emulator's account with no options
            env["AZURE_STORAGE_CONNECTION_STRING"] = self.target.storage_connection_string
            env.pop("AZURE_STORAGE_ACCOUNT", None)
            env.pop("AZURE_STORAGE_KEY", None)
        env.pop("CURL_CA_BUNDLE", None)  # requests prefers REQUESTS_CA_BUNDLE, but be unambiguous
        return env

    def is_prepared(self) -> bool:
        marker = self.config_dir / _MARKER
        try:
            return json.loads(marker.read_text()) == self.target.facts()
        except (OSError, ValueError):
            return False

    def prepare(self) -> None:
        """Make the configuration directory, register the cloud and sign in (once per emulator)."""
        if self.is_prepared():
            return
        log.info("Preparing an Azure CLI configuration for the emulator at %s in %s", self.target.arm_endpoint,
                 self.config_dir)
        if self.config_dir.exists():
            shutil.rmtree(self.config_dir)  # another emulator's (or a half-made) configuration
        self.config_dir.mkdir(parents=True, mode=0o700)
        os.chmod(self.config_dir, 0o700)  # az keeps the service principal's secret here
        (self.config_dir / "config").write_text(_CONFIG)
        self._step(["cloud", "register", "--name", CLOUD_NAME,
                    "--endpoint-resource-manager", self.target.arm_endpoint.rstrip("/")])
        self._step(["cloud", "set", "--name", CLOUD_NAME])
        self._step(["login", "--service-principal", "--username", self.target.client_id, "--password", "@-",
                    "--tenant", self.target.tenant_id], stdin=self.target.client_secret)
        self._step(["account", "set", "--subscription", self.target.subscription_id])
        (self.config_dir / _MARKER).write_text(json.dumps(self.target.facts(), indent=2))

    def _step(self, args: Sequence[str], stdin: str | None = None) -> None:
        completed = subprocess.run([str(self.az), *args, "--only-show-errors", "--output", "none"],
                                   input=stdin, capture_output=True, text=True, env=self.environ(), check=False)
        if completed.returncode != 0:
            output = (completed.stderr or completed.stdout).replace(self.target.client_secret, "<redacted>")
            raise AzPreparationFailed(" ".join(args[:2]), completed.returncode, output)

    def run(self, args: Sequence[str], **kwargs) -> subprocess.CompletedProcess:
        """Run ``az *args`` in the prepared configuration (prepare first)."""
        self.prepare()
        return subprocess.run([str(self.az), *args], env=self.environ(), check=False, **kwargs)
