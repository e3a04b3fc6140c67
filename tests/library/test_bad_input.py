"""Bad input, as a hostile or clumsy user gives it, through the public API, the command line and
configuration / ready files: each case is a typed ``BatchAIKitError`` whose message names the
value and the rule, and a counting emulator proves that nothing was sent for input the client
can reject by itself.

One emulator serves the whole table; it counts every request it receives (``faults=`` with a
chooser that never injects anything), so "nothing was sent" is measured, not assumed.
"""

from __future__ import annotations

import datetime
import json
import os
import threading
from pathlib import Path
from typing import Any, Callable

import attrs
import pytest
from click.testing import CliRunner

import batchai_kit as bk
from batchai_kit.cli import main
from batchai_kit.local.arm.timing import Timings

SUB = "00000000-0000-0000-0000-000000000000"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIF7U3XpYV8CuLxI0A/kgrT+RhmA1qyKo5XReqE2t65kM demo@host"
GOOD_CONFIG = {"subscription_id": SUB, "aad_client_id": "app", "aad_secret": "s3cret-value", "aad_tenant": "tenant"}


class Counter:
    """A fault chooser that injects nothing and counts every request the emulator receives."""

    def __init__(self):
        self.count = 0
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def __call__(self, method: str, path: str) -> None:
        with self.lock:
            self.count += 1
            self.requests.append((method, path))


@attrs.define
class World:
    """What the cases act on: a workspace with two shares, a running one-node cluster that mounts
    the first share only, a finished job with an output directory OUT, and a scratch directory."""

    azure: bk.Azure
    counter: Counter
    ws: bk.Workspace
    share: bk.FileShare
    other: bk.FileShare
    cluster: bk.GpuCluster
    job: bk.Job
    tmp: Path

    def file(self, name: str, text: str, mode: int = 0o600) -> Path:
        path = self.tmp / name
        path.write_text(text)
        path.chmod(mode)
        return path

    def config(self, name: str, **changes: Any) -> Path:
        return self.file(name, json.dumps({**GOOD_CONFIG, **changes}))

    def ready(self, name: str, mode: int = 0o600, **changes: Any) -> Path:
        path = self.tmp / name
        self.azure.emulator.write_ready_file(path)
        data = {**json.loads(path.read_text()), **changes}
        return self.file(name, json.dumps(data), mode)

    def existing_file(self) -> Path:
        return self.file("existing.txt", "precious\n")

    def local_tree(self) -> Path:
        root = self.tmp / "tree"
        root.mkdir(exist_ok=True)
        (root / "a.txt").write_text("a")
        return root


# One module-scoped world (an emulator, a cluster block and a job): keep this module on one
# parallel worker (--dist loadgroup), or each worker builds it again, and again when it comes back.
pytestmark = pytest.mark.xdist_group("bad_input_world")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bad-input")
    previous = os.environ.get("BATCHAI_KIT_HOME")
    os.environ["BATCHAI_KIT_HOME"] = str(tmp / "home")
    counter = Counter()
    azure = bk.Azure.local(tmp / "emu", timings=Timings.instant(), poll_interval=0.02, faults=counter)
    ws = bk.Workspace(azure, "rg", "ws", location="eastus", journal=False).ensure()
    share, other = ws.file_share("myshare"), ws.file_share("othershare")
    cluster = ws.gpu_cluster("c1", nodes=1, mounts=[share])
    cluster.__enter__()
    job = cluster.submit(bk.CustomJob(name="done", command="echo hi", outputs={"OUT": share / "out"}))
    job.wait(timeout=120)
    try:
        yield World(azure, counter, ws, share, other, cluster, job, tmp)
    finally:
        cluster.__exit__(None, None, None)
        azure.emulator.stop()
        if previous is None:
            os.environ.pop("BATCHAI_KIT_HOME", None)
        else:
            os.environ["BATCHAI_KIT_HOME"] = previous


@attrs.frozen
class Case:
    """``act(world)`` must raise ``error`` whose message contains every text of ``says`` (the
    value given and words of the rule). ``asks`` is True where only the service knows (the
    client may send read-only look-ups first); otherwise nothing may be sent at all."""

    name: str
    act: Callable[[World], Any]
    says: tuple[str, ...]
    error: type[bk.BatchAIKitError] = bk.ValidationError
    asks: bool = False


def job(**fields: Any) -> bk.CustomJob:
    return bk.CustomJob(**{"name": "j", "command": "echo", **fields})


CASES = [
    # --- names ------------------------------------------------------------------------------------
    Case("resource group with a space", lambda w: bk.Workspace(w.azure, "my rg", "ws"),
         ("'my rg'", "may contain only letters")),
    Case("resource group not a string", lambda w: bk.Workspace(w.azure, 42, "ws"), ("42", "must be a string")),
    Case("resource group ending in a period", lambda w: bk.Workspace(w.azure, "rg.", "ws"),
         ("'rg.'", "must not end with a period")),
    Case("workspace name with a slash", lambda w: bk.Workspace(w.azure, "rg", "ws/../x"),
         ("'ws/../x'", "may contain only letters")),
    Case("workspace name of 65 characters", lambda w: bk.Workspace(w.azure, "rg", "w" * 65),
         ("w" * 65, "1-64 characters")),
    Case("empty experiment name", lambda w: w.ws.experiment(""), ("''", "1-64 characters")),
    Case("cluster name with a space", lambda w: w.ws.gpu_cluster("my cluster"), ("'my cluster'", "may contain only")),
    Case("job name with a dot", lambda w: job(name="a.b"), ("'a.b'", "may contain only letters")),
    Case("share name in capitals", lambda w: bk.FileShare(w.azure, "MyShare"), ("'MyShare'", "lowercase letters")),
    Case("share name of two letters", lambda w: w.ws.file_share("ab"), ("'ab'", "3-63 characters")),
    Case("mount_as with a slash", lambda w: w.ws.file_share("okshare", mount_as="a/b"),
         ("'a/b'", "one directory name")),
    # --- regions ----------------------------------------------------------------------------------
    Case("a location that is no Azure region", lambda w: bk.Workspace(w.azure, "rg", "ws2", location="moon-1"),
         ("'moon-1'", "is not an Azure region")),
    Case("a location with a typo", lambda w: bk.Workspace(w.azure, "rg", "ws2", location="eastuss"),
         ("'eastuss'", "is not an Azure region")),
    Case("a location that is not a string", lambda w: bk.Workspace(w.azure, "rg", "ws2", location=1),
         ("1", "must be a string")),
    Case("Azure.local in no region", lambda w: bk.Azure.local(location="atlantis"),
         ("'atlantis'", "is not an Azure region")),
    # --- VM sizes, node counts, cluster settings --------------------------------------------------
    Case("vm_size=None", lambda w: w.ws.gpu_cluster("c2", vm_size=None), ("vm_size=None", "must be a string")),
    Case("vm_size without its family", lambda w: w.ws.gpu_cluster("c2", vm_size="NC6"),
         ("'NC6'", "must be an Azure VM size")),
    Case("negative node count", lambda w: w.ws.gpu_cluster("c2", nodes=-1), ("-1", "must be 0 or more")),
    Case("node count as a string", lambda w: w.ws.gpu_cluster("c2", nodes="2"), ("'2'", "whole number")),
    Case("node count as a bool", lambda w: w.ws.gpu_cluster("c2", nodes=True), ("True", "whole number")),
    Case("auto-scale minimum above maximum", lambda w: w.ws.gpu_cluster("c2", min_nodes=3, max_nodes=1),
         ("3", "must not exceed the maximum")),
    Case("auto-scale without a maximum", lambda w: w.ws.gpu_cluster("c2", min_nodes=1),
         ("min_nodes/max_nodes", "needs both")),
    Case("unknown priority", lambda w: w.ws.gpu_cluster("c2", priority="urgent"), ("'urgent'", "must be one of")),
    Case("mounts='name' as a string", lambda w: w.ws.gpu_cluster("c2", mounts="myshare"),
         ("'myshare'", "must be a list of file shares", "not str")),
    Case("mounts of share names", lambda w: w.ws.gpu_cluster("c2", mounts=["myshare"]),
         ("mounts[0]", "must be a file share")),
    Case("image of two parts", lambda w: w.ws.gpu_cluster("c2", image=("Canonical", "UbuntuServer")),
         ("image", "(publisher, offer, sku, version)")),
    Case("setup variable name starting with a digit",
         lambda w: w.ws.gpu_cluster("c2", setup_command="true", setup_env={"1X": "y"}, mounts=[w.share]),
         ("'1X'", "letter or underscore")),
    Case("cluster timeout of -1", lambda w: w.ws.gpu_cluster("c2", timeout=-1), ("timeout=-1", "above 0")),
    Case("cluster cleanup unknown", lambda w: w.ws.gpu_cluster("c2", cleanup="shred"), ("'shred'", "must be one of")),
    # --- SSH keys and credentials -----------------------------------------------------------------
    Case("SSH public key that is no key", lambda w: w.ws.gpu_cluster("c2", admin_user="me", admin_ssh_key="hello"),
         ("'hello'", "OpenSSH public key")),
    Case("SSH private key header", lambda w: bk.AdminUser("me", ssh_public_key="-----BEGIN OPENSSH PRIVATE KEY-----"),
         ("BEGIN OPENSSH", "not a private key")),
    Case("SSH key whose blob is another type",
         lambda w: bk.AdminUser("me", ssh_public_key="ssh-rsa " + KEY.split()[1]), ("ssh-rsa", "OpenSSH public key")),
    Case("SSH key truncated like the docs' placeholder",
         lambda w: bk.AdminUser("me", ssh_public_key="ssh-rsa AAAAB3NzaC1yc..."), ("AAAAB3NzaC1yc", "OpenSSH")),
    Case("admin user with neither password nor key", lambda w: bk.AdminUser("me"), ("'me'", "needs a password")),
    Case("no credential", lambda w: bk.Azure(None, SUB), ("credential=None", "TokenCredential is required")),
    Case("subscription that is no GUID", lambda w: bk.Azure(object(), "my-subscription"),
         ("'my-subscription'", "must be a GUID")),
    Case("ARM endpoint over http", lambda w: bk.Azure(object(), SUB, arm_endpoint="http://management.azure.com"),
         ("'http://management.azure.com'", "https://")),
    Case("storage key that is not base64",
         lambda w: bk.Azure(object(), SUB, storage_account="acct", storage_key="not base64!"),
         ("storage_key=<redacted>", "base64 account key")),
    Case("storage account without its key", lambda w: bk.Azure(object(), SUB, storage_account="acct"),
         ("storage_key", "go together")),
    Case("poll interval as a string", lambda w: bk.Azure(object(), SUB, poll_interval="1"),
         ("'1'", "number of seconds")),
    Case("service principal without an id",
         lambda w: bk.Azure.from_credentials(client_id="", secret="x", subscription_id=SUB, tenant="t"),
         ("client_id=''", "application id")),
    Case("environment without a subscription", lambda w: bk.Azure.from_env({}),
         ("AZURE_SUBSCRIPTION_ID", "is not set")),
    Case("environment SSH key that is neither a key nor a file",
         lambda w: bk.Azure.from_env({"AZURE_SUBSCRIPTION_ID": SUB, "BATCHAI_KIT_ADMIN_USER": "me",
                                      "BATCHAI_KIT_ADMIN_SSH_KEY": "~/.ssh/nope.pub"}),
         ("nope.pub", "SSH public key or the path")),
    Case("injected faults above 1", lambda w: bk.Azure.local(faults="429=2"), ("429='2'", "from 0 to 1")),
    # --- timeouts ---------------------------------------------------------------------------------
    Case("wait(timeout=-1)", lambda w: w.job.wait(timeout=-1), ("timeout=-1", "above 0")),
    Case("wait(timeout='abc')", lambda w: w.job.wait(timeout="abc"), ("'abc'", "number of seconds", "not str")),
    Case("wait(timeout=None)", lambda w: w.job.wait(timeout=None), ("None", "number of seconds")),
    Case("wait(timeout=inf)", lambda w: w.job.wait(timeout=float("inf")), ("inf", "finite")),
    Case("workspace timeout 'abc'", lambda w: bk.Workspace(w.azure, "rg", "ws", timeout="abc"),
         ("'abc'", "number of seconds")),
    # --- jobs and their cluster -------------------------------------------------------------------
    Case("job of zero nodes", lambda w: job(node_count=0), ("node_count=0", "1 or more")),
    Case("more nodes than the cluster can ever have", lambda w: w.cluster.submit(job(name="big", node_count=5)),
         ("node_count=5", "more than cluster c1 can ever have (1 node(s))")),
    Case("an input on a share the cluster does not mount",
         lambda w: w.cluster.submit(job(name="in", inputs={"IN": w.other / "data"})),
         ("othershare/data", "which neither cluster c1", "mounts")),
    Case("an output on a share the cluster does not mount",
         lambda w: w.cluster.submit(job(name="out", outputs={"OUT": w.other / "out"})),
         ("othershare/out", "neither cluster c1")),
    Case("stdouterr on a share the cluster does not mount",
         lambda w: w.cluster.submit(job(name="logs", stdouterr=w.other.root)), ("stdouterr", "othershare")),
    Case("directory id with a space", lambda w: job(inputs={"MY DATA": w.share / "d"}), ("'MY DATA'", "only letters")),
    Case("env value that is not a string", lambda w: job(env={"N": 1}), ("env['N']=1", "must be a string")),
    Case("secret value that is not a string", lambda w: job(secrets={"PW": 12345}),
         ("secrets['PW']=<redacted>", "must be a string")),
    Case("wall clock as text", lambda w: job(max_wall_clock="1h"), ("'1h'", "datetime.timedelta")),
    Case("negative wall clock", lambda w: job(max_wall_clock=datetime.timedelta(seconds=-5)),
         ("days=-1", "longer than zero")),
    Case("empty command", lambda w: job(command="  "), ("'  '", "must not be empty")),
    Case("a spec that is not a spec", lambda w: w.cluster.submit({"name": "j", "command": "x"}),
         ("spec", "must be a job specification", "not dict")),
    Case("an experiment given as a number", lambda w: w.cluster.submit(job(), experiment=5),
         ("experiment=5", "experiment name")),
    Case("an experiment name with a slash", lambda w: w.cluster.submit(job(), experiment="a/b"),
         ("'a/b'", "may contain only")),
    # --- paths and downloads ----------------------------------------------------------------------
    Case("share path escaping with ..", lambda w: w.share / "../etc", ("'../etc'", "'..'")),
    Case("share path with a colon", lambda w: w.share / "model:epoch1.ckpt", ("model:epoch1.ckpt", "must not contain")),
    Case("share path that is absolute when joined", lambda w: (w.share / "d") / "/abs", ("'/abs'", "must be relative")),
    Case("upload of a missing local path", lambda w: w.share.upload(w.tmp / "nope", "d"), ("nope", "does not exist")),
    Case("an unknown output directory id", lambda w: w.job.download("NOSUCH", w.tmp / "x"),
         ("'NOSUCH'", "not an output directory of job done", "stdouterr, OUT")),
    Case("listing an unknown output directory id", lambda w: w.job.files("MODEL"), ("'MODEL'", "use one of")),
    Case("job outputs downloaded onto an existing file", lambda w: w.job.download("OUT", w.existing_file()),
         ("existing.txt", "is an existing file")),
    Case("a share directory downloaded onto an existing file",
         lambda w: (w.share.upload(w.local_tree(), "tree"), w.share.download("tree", w.existing_file())),
         ("existing.txt", "is an existing file", "is a directory"), asks=True),
    # --- configuration and ready files ------------------------------------------------------------
    Case("configuration.json that is not JSON", lambda w: bk.Azure.from_config(w.file("c1.json", "{'single': 1}")),
         ("c1.json", "is not valid JSON")),
    Case("configuration.json holding a list", lambda w: bk.Azure.from_config(w.file("c2.json", "[]")),
         ("c2.json", "must hold a JSON object")),
    Case("configuration.json without a subscription",
         lambda w: bk.Azure.from_config(w.config("c3.json", subscription_id=None)), ("subscription_id", "missing")),
    Case("configuration.json with a numeric subscription",
         lambda w: bk.Azure.from_config(w.config("c4.json", subscription_id=5)), ("subscription_id=5", "string")),
    Case("configuration.json with storage_account as text",
         lambda w: bk.Azure.from_config(w.config("c5.json", storage_account="acct")),
         ("storage_account", "must be a JSON object")),
    Case("configuration.json in no region", lambda w: bk.Azure.from_config(w.config("c6.json", location="moon")),
         ("'moon'", "is not an Azure region", "c6.json")),
    Case("configuration.json with a bad SSH key",
         lambda w: bk.Azure.from_config(w.config("c7.json", admin_user={"name": "me", "ssh_public_key": "nokey"})),
         ("'nokey'", "OpenSSH public key", "c7.json")),
    Case("configuration.json with a foreign token URI",
         lambda w: bk.Azure.from_config(w.config("c8.json", aad_tenant=None, aad_token_uri="https://evil.example/t")),
         ("evil.example", "must look like https://login.microsoftonline.com")),
    Case("configuration file that is a directory", lambda w: bk.Azure.from_config(w.tmp), ("cannot be read",)),
    Case("a missing ready file", lambda w: bk.Azure.from_ready_file(w.tmp / "nope.json"), ("nope.json", "does not exist")),
    Case("a ready file readable by others", lambda w: bk.Azure.from_ready_file(w.ready("r1.json", mode=0o644)),
         ("r1.json", "readable by others", "chmod 600")),
    Case("a ready file readable by its group", lambda w: bk.Azure.from_ready_file(w.ready("r2.json", mode=0o640)),
         ("r2.json", "readable by others")),
    Case("a ready file with an http endpoint",
         lambda w: bk.Azure.from_ready_file(w.ready("r3.json", arm_endpoint="http://127.0.0.1:1")),
         ("http://127.0.0.1:1", "https://")),
    Case("a ready file with a numeric subscription",
         lambda w: bk.Azure.from_ready_file(w.ready("r4.json", subscription_id=5)), ("subscription_id=5", "string")),
    Case("a ready file whose CA certificate is gone",
         lambda w: bk.Azure.from_ready_file(w.ready("r5.json", ca_cert=str(w.tmp / "gone.pem"))),
         ("gone.pem", "existing CA certificate")),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_a_typed_error_naming_the_value_and_the_rule(world, case):
    before = world.counter.count
    with pytest.raises(bk.BatchAIKitError) as raised:
        case.act(world)
    sent = world.counter.count - before
    assert isinstance(raised.value, case.error), f"{type(raised.value).__name__}: {raised.value}"
    message = str(raised.value)
    for text in case.says:
        assert text in message, f"{text!r} not in {message!r}"
    if not case.asks:
        assert sent == 0, f"{sent} request(s) sent before refusing"


def test_the_table_is_at_least_forty_cases_over_every_area():
    assert len(CASES) + len(CLI_CASES) >= 40
    assert len({c.name for c in CASES}) == len(CASES)


def test_a_refused_download_leaves_the_existing_file_untouched(world):
    target = world.existing_file()
    with pytest.raises(bk.ValidationError):
        world.job.download("OUT", target)
    assert target.read_text() == "precious\n"


def test_a_refused_submission_creates_no_job(world):
    with pytest.raises(bk.ValidationError):
        world.cluster.submit(job(name="never", node_count=9))
    assert "never" not in [j.name for j in world.ws.experiment("default").jobs()]


# --- the command line -------------------------------------------------------------------------------


@attrs.frozen
class CliCase:
    name: str
    args: Callable[[World], list[str]]
    says: tuple[str, ...]


CLI_CASES = [
    CliCase("emulator with faults above 1", lambda w: ["emulator", "--data-dir", str(w.tmp / "d"), "--faults", "500=3"],
            ("500='3'", "from 0 to 1")),
    CliCase("emulator with an unknown fault", lambda w: ["emulator", "--data-dir", str(w.tmp / "d"), "--faults", "teapot=1"],
            ("'teapot' is unknown",)),
    CliCase("gc through a ready file readable by others",
            lambda w: ["gc", "--ready-file", str(w.ready("cli1.json", mode=0o644))], ("cli1.json", "readable by others")),
    CliCase("gc through a configuration.json that is not JSON",
            lambda w: ["gc", "--config", str(w.file("cli2.json", "{"))], ("cli2.json", "is not valid JSON")),
    CliCase("job show with a bad resource group",
            lambda w: ["job", "show", "done", "-e", "default", "-g", "bad rg!", "-w", "ws", "--ready-file",
                       str(w.ready("cli3.json"))], ("'bad rg!'", "may contain only")),
    CliCase("job download of an unknown output directory",
            lambda w: ["job", "download", "done", "-e", "default", "-g", "rg", "-w", "ws", "-d", "NOSUCH",
                       "--dest", str(w.tmp / "cli-out"), "--ready-file", str(w.ready("cli4.json"))],
            ("'NOSUCH'", "not an output directory")),
    CliCase("quickstart with zero epochs", lambda w: ["quickstart", "--epochs", "0"], ("--epochs", "0")),
    CliCase("quickstart configured by a configuration.json in no region",
            lambda w: ["quickstart", "--config", str(w.config("cli5.json", location="moon"))],
            ("'moon'", "is not an Azure region")),
]


@pytest.mark.parametrize("case", CLI_CASES, ids=[c.name for c in CLI_CASES])
def test_bad_input_on_the_command_line_is_a_clear_message_and_an_exit_code(world, case):
    args = case.args(world)
    before = world.counter.count
    result = CliRunner().invoke(main, args)
    sent = world.counter.count - before
    assert result.exit_code not in (0, None), result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)  # a message, not a traceback
    assert "Traceback" not in result.output
    flat = " ".join(result.output.split())
    for text in case.says:
        assert text in flat, f"{text!r} not in {result.output!r}"
    if args[:2] == ["job", "download"]:
        # it signs in and reads the job (to learn its output directories), and lists nothing
        asked = world.counter.requests[before:]
        assert [m for m, p in asked if p.endswith("/listOutputFiles")] == [], asked
    else:
        assert sent == 0
