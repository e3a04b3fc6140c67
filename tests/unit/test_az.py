"""`batchai-kit az`: preparing an isolated Azure CLI configuration for an emulator, checked
with a recording stand-in for `az` (the real one runs in tests/conformance)."""

import json
import os
import stat
import sys

import pytest

from batchai_kit._az import AzPreparationFailed, AzSession, AzureCliNotFound, EmulatorTarget, find_az
from batchai_kit.errors import ValidationError

SECRET = "s3cret-value-of-the-principal"
RECORDER = """#!{python}
import json, os, sys
with open(os.environ["FAKE_AZ_LOG"], "a") as log:
    log.write(json.dumps({{"argv": sys.argv[1:], "stdin": sys.stdin.read() if "@-" in sys.argv else None,
                          "config_dir": os.environ.get("AZURE_CONFIG_DIR"),
                          "ca": os.environ.get("REQUESTS_CA_BUNDLE"),
                          "user_secret": os.environ.get("AZURE_CLIENT_SECRET"),
                          "storage": os.environ.get("AZURE_STORAGE_CONNECTION_STRING")}}) + "\\n")
if os.environ.get("FAKE_AZ_FAIL") and sys.argv[1:3] == os.environ["FAKE_AZ_FAIL"].split():
    sys.stderr.write("ERROR: refused, the secret was {secret}\\n")
    sys.exit(3)
sys.exit(int(os.environ.get("FAKE_AZ_EXIT", "0")))
"""


def ready_file(tmp_path, **changes):
    ready = {"arm_endpoint": "https://127.0.0.1:4443", "subscription_id": "sub-1", "ca_cert": "/ca.pem",
             "tenant_id": "tenant-1", "client_id": "client-1", "client_secret": SECRET,
             "data_dir": str(tmp_path / "data"), "storage_account": "batchaikitlocal",
             "storage_key": "a2V5", "files_endpoint": "https://127.0.0.1:4443/batchaikitlocal", **changes}
    path = tmp_path / "ready.json"
    path.write_text(json.dumps(ready))
    path.chmod(0o600)
    return path


@pytest.fixture
def fake_az(tmp_path, monkeypatch):
    script = tmp_path / "bin" / "az"
    script.parent.mkdir()
    script.write_text(RECORDER.format(python=sys.executable, secret=SECRET))
    script.chmod(0o755)
    monkeypatch.setenv("FAKE_AZ_LOG", str(tmp_path / "calls.jsonl"))
    monkeypatch.setenv("AZURE_CLIENT_SECRET", "the-users-own-secret")
    return script


def calls(tmp_path):
    return [json.loads(line) for line in (tmp_path / "calls.jsonl").read_text().splitlines()]


def test_prepare_registers_the_cloud_signs_in_and_selects_the_subscription(tmp_path, fake_az):
    session = AzSession(EmulatorTarget.from_ready_file(ready_file(tmp_path)), fake_az)
    session.prepare()
    steps = [c["argv"][:2] for c in calls(tmp_path)]
    assert steps == [["cloud", "register"], ["cloud", "set"], ["login", "--service-principal"], ["account", "set"]]
    register, _, login, account = calls(tmp_path)
    assert register["argv"][register["argv"].index("--endpoint-resource-manager") + 1] == "https://127.0.0.1:4443"
    assert login["stdin"] == SECRET and not any(SECRET in arg for c in calls(tmp_path) for arg in c["argv"])
    assert account["argv"][account["argv"].index("--subscription") + 1] == "sub-1"
    assert {(c["config_dir"], c["ca"], c["user_secret"]) for c in calls(tmp_path)} == {
        (str(tmp_path / "data" / "az"), "/ca.pem", None)}


def test_the_configuration_turns_instance_discovery_off_and_is_private(tmp_path, fake_az):
    session = AzSession(EmulatorTarget.from_ready_file(ready_file(tmp_path)), fake_az)
    session.prepare()
    assert "instance_discovery = false" in (session.config_dir / "config").read_text()
    assert stat.S_IMODE(session.config_dir.stat().st_mode) == 0o700


def test_prepare_is_done_once_per_emulator_and_redone_for_another(tmp_path, fake_az):
    config_dir = tmp_path / "azcfg"
    AzSession(EmulatorTarget.from_ready_file(ready_file(tmp_path)), fake_az, config_dir).prepare()
    AzSession(EmulatorTarget.from_ready_file(ready_file(tmp_path)), fake_az, config_dir).prepare()
    assert len(calls(tmp_path)) == 4
    moved = ready_file(tmp_path, arm_endpoint="https://127.0.0.1:5555")
    AzSession(EmulatorTarget.from_ready_file(moved), fake_az, config_dir).prepare()
    assert len(calls(tmp_path)) == 8


def test_a_failing_step_names_itself_and_never_shows_the_secret(tmp_path, fake_az, monkeypatch):
    monkeypatch.setenv("FAKE_AZ_FAIL", "login --service-principal")
    session = AzSession(EmulatorTarget.from_ready_file(ready_file(tmp_path)), fake_az)
    with pytest.raises(AzPreparationFailed) as raised:
        session.prepare()
    assert raised.value.step == "login --service-principal" and raised.value.returncode == 3
    assert SECRET not in str(raised.value) and "<redacted>" in str(raised.value)
    assert not session.is_prepared()


def test_run_passes_the_arguments_and_returns_azs_exit_code(tmp_path, fake_az, monkeypatch):
    session = AzSession(EmulatorTarget.from_ready_file(ready_file(tmp_path)), fake_az)
    session.prepare()
    monkeypatch.setenv("FAKE_AZ_EXIT", "7")
    session = AzSession(EmulatorTarget.from_ready_file(ready_file(tmp_path)), fake_az)
    assert session.run(["batchai", "cluster", "list", "-g", "rg", "-w", "ws"]).returncode == 7
    assert calls(tmp_path)[-1]["argv"] == ["batchai", "cluster", "list", "-g", "rg", "-w", "ws"]


def test_az_storage_reaches_the_emulators_account_by_connection_string(tmp_path, fake_az, monkeypatch):
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", "AccountName=mine;AccountKey=real")
    session = AzSession(EmulatorTarget.from_ready_file(ready_file(tmp_path)), fake_az)
    session.run(["storage", "share", "create", "-n", "data"])
    assert calls(tmp_path)[-1]["storage"] == ("DefaultEndpointsProtocol=https;AccountName=batchaikitlocal;"
                                             "AccountKey=a2V5;FileEndpoint=https://127.0.0.1:4443/batchaikitlocal;")
    assert "a2V5" not in repr(session.target)


def test_the_cli_command_runs_az_and_exits_with_its_code(tmp_path, fake_az):
    from click.testing import CliRunner

    from batchai_kit.cli import main

    result = CliRunner().invoke(main, ["az", "--ready-file", str(ready_file(tmp_path)), "--az", str(fake_az),
                                       "batchai", "workspace", "list", "--output", "table"])
    assert result.exit_code == 0, result.output
    assert calls(tmp_path)[-1]["argv"] == ["batchai", "workspace", "list", "--output", "table"]


def test_a_ready_file_without_the_service_principal_is_refused(tmp_path):
    path = ready_file(tmp_path)
    ready = json.loads(path.read_text())
    del ready["client_secret"]
    path.write_text(json.dumps(ready))  # keeps its 0600 mode
    with pytest.raises(ValidationError, match="client_secret"):
        EmulatorTarget.from_ready_file(path)


def test_a_ready_file_readable_by_others_is_refused(tmp_path):
    path = ready_file(tmp_path)
    path.chmod(0o644)
    with pytest.raises(ValidationError, match="readable by others"):
        EmulatorTarget.from_ready_file(path)


def test_a_missing_ready_file_says_how_to_make_one(tmp_path):
    with pytest.raises(ValidationError, match="batchai-kit emulator --ready-file"):
        EmulatorTarget.from_ready_file(tmp_path / "nope.json")


def test_find_az_refuses_a_path_that_is_not_an_executable(tmp_path):
    (tmp_path / "az").write_text("not executable")
    with pytest.raises(AzureCliNotFound, match="not an executable"):
        find_az(str(tmp_path / "az"))


def test_find_az_takes_the_environment_variable_then_path(tmp_path, fake_az):
    assert find_az(environ={"BATCHAI_KIT_AZ": str(fake_az)}) == fake_az
    assert find_az(environ={"PATH": str(fake_az.parent)}) == fake_az
    assert os.access(find_az(environ={"PATH": str(fake_az.parent)}), os.X_OK)
