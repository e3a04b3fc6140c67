"""Toolkit runtimes: finding Python 3.6, choosing a runtime by image, and the CNTK runtime itself."""

from __future__ import annotations

import json
import os
import pathlib
import stat
import subprocess
import sys

import pytest
from click.testing import CliRunner

from batchai_kit.errors import (
    Python36NotFound,
    RuntimeNotReady,
    RuntimeUnavailable,
    SystemLibraryMissing,
    ValidationError,
)
from batchai_kit.local._runtime_cli import runtime as runtime_cli
from batchai_kit.local.runtimes import (
    find_openmpi,
    find_python36,
    get_runtime,
    install_cntk,
    list_runtimes,
    require_runtime,
    runtime_for_image,
    verify_cntk,
)
from batchai_kit.local.runtimes._openmpi import link_sonames, require_openmpi


def _real_python36() -> pathlib.Path | None:
    try:
        return find_python36()
    except RuntimeUnavailable:
        return None


REAL_PYTHON36 = _real_python36()
needs_python36 = pytest.mark.usefixtures("python36")  # skips, or fails where runtimes are required


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No Python 3.6 anywhere discovery looks: empty PATH dir, HOME, pyenv and kit home under tmp_path."""
    for variable in ("BATCHAI_KIT_PYTHON36", "PYENV_ROOT", "BATCHAI_KIT_CNTK_RUNTIME", "BATCHAI_KIT_IMAGE_RUNTIMES"):
        monkeypatch.delenv(variable, raising=False)
    (tmp_path / "bin").mkdir()
    (tmp_path / "home").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("BATCHAI_KIT_HOME", str(tmp_path / "kit"))
    return tmp_path


def _python36_at(path: pathlib.Path) -> pathlib.Path:
    """A link to the machine's real Python 3.6 at ``path`` (a stand-in for another install of it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(REAL_PYTHON36)
    return path


def _pyenv_version(root: pathlib.Path, version: str) -> pathlib.Path:
    return _python36_at(root / "versions" / version / "bin" / "python3.6")


def _fake_pyenv_reporting_root(bin_dir: pathlib.Path, root: pathlib.Path) -> None:
    script = bin_dir / "pyenv"
    script.write_text(f'#!/bin/sh\n[ "$1" = root ] && echo {root}\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)


# --- finding CPython 3.6 -------------------------------------------------------------------------


@needs_python36
def test_explicit_python36_argument_wins_over_environment_pyenv_and_path(clean_env, monkeypatch):
    explicit = _python36_at(clean_env / "explicit" / "python3.6")
    monkeypatch.setenv("BATCHAI_KIT_PYTHON36", str(_python36_at(clean_env / "from-env" / "python3.6")))
    monkeypatch.setenv("PYENV_ROOT", str(clean_env / "pyenv"))
    _pyenv_version(clean_env / "pyenv", "3.6.15")
    _python36_at(clean_env / "bin" / "python3.6")

    assert find_python36(explicit) == explicit


@needs_python36
def test_python36_environment_variable_wins_over_pyenv_and_path(clean_env, monkeypatch):
    from_env = _python36_at(clean_env / "from-env" / "python3.6")
    monkeypatch.setenv("BATCHAI_KIT_PYTHON36", str(from_env))
    monkeypatch.setenv("PYENV_ROOT", str(clean_env / "pyenv"))
    _pyenv_version(clean_env / "pyenv", "3.6.15")
    _python36_at(clean_env / "bin" / "python3.6")

    assert find_python36() == from_env


@needs_python36
def test_pyenv_root_reported_by_pyenv_wins_over_path(clean_env):
    _fake_pyenv_reporting_root(clean_env / "bin", clean_env / "pyenv-elsewhere")
    in_pyenv = _pyenv_version(clean_env / "pyenv-elsewhere", "3.6.15")
    _python36_at(clean_env / "bin" / "python3.6")

    assert find_python36() == in_pyenv


@needs_python36
def test_pyenv_root_variable_is_searched_without_a_pyenv_binary(clean_env, monkeypatch):
    monkeypatch.setenv("PYENV_ROOT", str(clean_env / "pyenv"))
    in_pyenv = _pyenv_version(clean_env / "pyenv", "3.6.15")

    assert find_python36() == in_pyenv


@needs_python36
def test_home_pyenv_is_searched_without_pyenv_binary_or_variable(clean_env):
    in_pyenv = _pyenv_version(clean_env / "home" / ".pyenv", "3.6.15")

    assert find_python36() == in_pyenv


@needs_python36
def test_newest_pyenv_patch_release_is_chosen(clean_env, monkeypatch):
    monkeypatch.setenv("PYENV_ROOT", str(clean_env / "pyenv"))
    _pyenv_version(clean_env / "pyenv", "3.6.9")
    newest = _pyenv_version(clean_env / "pyenv", "3.6.15")
    _pyenv_version(clean_env / "pyenv", "3.6.10")

    assert find_python36() == newest


@needs_python36
def test_python36_on_path_is_used_when_pyenv_has_none(clean_env):
    on_path = _python36_at(clean_env / "bin" / "python3.6")

    assert find_python36() == on_path


def test_explicit_python_that_is_not_3_6_is_an_error_not_a_fallback(clean_env):
    with pytest.raises(RuntimeUnavailable, match=r"must be a CPython 3\.6 interpreter, but it is Python 3\.\d+"):
        find_python36(pathlib.Path(sys.executable))


def test_missing_python36_says_what_to_install_and_how_to_point_at_it(clean_env):
    with pytest.raises(Python36NotFound) as raised:
        find_python36()

    message = str(raised.value)
    assert "pyenv install 3.6.15" in message
    assert "BATCHAI_KIT_PYTHON36=/path/to/python3.6" in message
    assert "--python36" in message
    assert raised.value.looked_at[0] == "BATCHAI_KIT_PYTHON36"


def test_installing_cntk_without_python36_fails_before_doing_anything(clean_env):
    with pytest.raises(Python36NotFound, match="pyenv install 3.6.15"):
        install_cntk()

    assert not (clean_env / "kit" / "runtimes" / "cntk" / "bin").exists()


# --- container image -> runtime ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("microsoft/cntk:2.5.1-gpu-python3.6-cuda9.0-cudnn7.0", "cntk"),
        ("myregistry.azurecr.io/CNTK-Custom:latest", "cntk"),
        ("pytorch/pytorch:0.4_cuda9_cudnn7", "host"),
        ("tensorflow/tensorflow:1.8.0-gpu", "host"),
        (None, "host"),
        ("", "host"),
    ],
)
def test_default_rules_send_cntk_images_to_cntk_and_everything_else_to_host(clean_env, image, expected):
    assert runtime_for_image(image) == expected


def test_rules_file_in_kit_home_is_tried_before_the_defaults(clean_env):
    rules_file = clean_env / "kit" / "runtimes.json"
    rules_file.parent.mkdir()
    rules_file.write_text(json.dumps({"rules": [
        {"match": "^myorg/speech-", "runtime": "cntk"},
        {"match": "cntk-but-not-really", "runtime": "host"},
    ]}))

    assert runtime_for_image("myorg/speech-training:3") == "cntk"
    assert runtime_for_image("myorg/cntk-but-not-really:1") == "host"
    assert runtime_for_image("microsoft/cntk:2.5") == "cntk"


def test_first_matching_rule_wins(clean_env, monkeypatch):
    monkeypatch.setenv("BATCHAI_KIT_IMAGE_RUNTIMES", json.dumps({"rules": [
        {"match": "legacy", "runtime": "host"},
        {"match": "legacy", "runtime": "cntk"},
    ]}))

    assert runtime_for_image("myorg/legacy") == "host"


def test_environment_rules_are_tried_before_the_rules_file(clean_env, monkeypatch):
    (clean_env / "kit").mkdir()
    (clean_env / "kit" / "runtimes.json").write_text(json.dumps({"rules": [{"match": "myorg", "runtime": "host"}]}))
    monkeypatch.setenv("BATCHAI_KIT_IMAGE_RUNTIMES", json.dumps({"rules": [{"match": "myorg", "runtime": "cntk"}]}))

    assert runtime_for_image("myorg/trainer") == "cntk"


def test_rules_that_are_not_json_are_rejected_naming_the_source(clean_env, monkeypatch):
    monkeypatch.setenv("BATCHAI_KIT_IMAGE_RUNTIMES", "{rules: cntk}")

    with pytest.raises(ValidationError) as raised:
        runtime_for_image("microsoft/cntk")

    assert raised.value.field == "BATCHAI_KIT_IMAGE_RUNTIMES"
    assert raised.value.value == "{rules: cntk}"
    assert "must be JSON" in raised.value.rule


def test_a_rule_with_a_bad_regex_is_rejected_naming_the_rule_and_value(clean_env, monkeypatch):
    monkeypatch.setenv("BATCHAI_KIT_IMAGE_RUNTIMES", json.dumps({"rules": [
        {"match": "ok", "runtime": "host"},
        {"match": "cntk[", "runtime": "cntk"},
    ]}))

    with pytest.raises(ValidationError) as raised:
        runtime_for_image("anything")

    assert raised.value.field == "BATCHAI_KIT_IMAGE_RUNTIMES rules[1].match"
    assert raised.value.value == "cntk["
    assert "valid regular expression" in raised.value.rule


def test_a_rule_naming_an_unknown_runtime_is_rejected(clean_env):
    (clean_env / "kit").mkdir()
    rules_file = clean_env / "kit" / "runtimes.json"
    rules_file.write_text(json.dumps({"rules": [{"match": "tf", "runtime": "tensorflow"}]}))

    with pytest.raises(ValidationError) as raised:
        runtime_for_image("tf:1.8")

    assert raised.value.field == f"{rules_file} rules[0].runtime"
    assert str(raised.value).endswith("='tensorflow': must be one of cntk, host")


def test_a_rule_with_missing_or_extra_keys_is_rejected(clean_env, monkeypatch):
    monkeypatch.setenv("BATCHAI_KIT_IMAGE_RUNTIMES", json.dumps({"rules": [{"pattern": "x", "runtime": "cntk"}]}))

    with pytest.raises(ValidationError, match=r"rules\[0\]=.*must be \{\"match\""):
        runtime_for_image("x")


# --- runtimes and their status -------------------------------------------------------------------


def test_host_runtime_is_the_emulators_own_python(clean_env):
    host = get_runtime("host")

    assert host.python == pathlib.Path(sys.executable)
    assert host.check().ok


def test_cntk_runtime_lives_under_kit_home_by_default(clean_env):
    assert get_runtime("cntk").prefix == clean_env / "kit" / "runtimes" / "cntk"


def test_cntk_runtime_location_can_be_set_on_its_own(clean_env, monkeypatch):
    monkeypatch.setenv("BATCHAI_KIT_CNTK_RUNTIME", str(clean_env / "elsewhere"))

    assert get_runtime("cntk").python == clean_env / "elsewhere" / "bin" / "python"


def test_unknown_runtime_name_is_rejected(clean_env):
    with pytest.raises(ValidationError, match="runtime='tensorflow': must be one of cntk, host"):
        get_runtime("tensorflow")


def test_check_of_an_uninstalled_cntk_runtime_says_how_to_install_it(clean_env):
    status = get_runtime("cntk").check()

    assert not status.ok
    assert "not installed" in status.detail
    assert f"BATCHAI_KIT_HOME={clean_env / 'kit'} batchai-kit runtime install cntk" in status.detail


def test_requiring_an_uninstalled_runtime_raises_with_the_install_command(clean_env):
    with pytest.raises(RuntimeNotReady) as raised:
        require_runtime("cntk")

    assert raised.value.install_command.endswith("batchai-kit runtime install cntk")
    assert raised.value.install_command in str(raised.value)


def test_list_runtimes_reports_each_runtime_with_its_status(clean_env):
    listed = {runtime.name: status for runtime, status in list_runtimes()}

    assert listed["host"].ok
    assert not listed["cntk"].ok


def test_cntk_environ_puts_the_venv_first_and_adds_only_what_jobs_need(clean_env, monkeypatch):
    monkeypatch.setenv("UNRELATED_SETTING", "x")
    cntk = get_runtime("cntk")

    extra = cntk.environ()

    assert extra["PATH"].split(os.pathsep)[0] == str(cntk.prefix / "bin")
    assert str(cntk.cntk_libs_dir()) in extra["LD_LIBRARY_PATH"].split(os.pathsep)
    assert "UNRELATED_SETTING" not in extra


# --- Open MPI ------------------------------------------------------------------------------------


def test_missing_openmpi_says_which_package_to_install(tmp_path):
    with pytest.raises(SystemLibraryMissing) as raised:
        require_openmpi(search_dirs=(tmp_path,), use_ldconfig=False)

    assert raised.value.libraries == ["libmpi.so.40", "libmpi_cxx.so.40"]
    assert "apt-get install -y libopenmpi3" in str(raised.value)


def test_openmpi_is_found_in_the_searched_directories(tmp_path):
    for soname in ("libmpi.so.40", "libmpi_cxx.so.40"):
        (tmp_path / soname).write_bytes(b"")

    assert find_openmpi((tmp_path,), use_ldconfig=False) == {
        "libmpi.so.40": tmp_path / "libmpi.so.40",
        "libmpi_cxx.so.40": tmp_path / "libmpi_cxx.so.40",
    }


def test_cntk_sonames_are_linked_to_openmpi_4_once(tmp_path):
    found = {"libmpi.so.40": tmp_path / "libmpi.so.40", "libmpi_cxx.so.40": tmp_path / "libmpi_cxx.so.40"}
    libs = tmp_path / "libs"
    libs.mkdir()

    first = link_sonames(libs, found)
    second = link_sonames(libs, found)

    assert os.readlink(libs / "libmpi.so.12") == str(tmp_path / "libmpi.so.40")
    assert os.readlink(libs / "libmpi_cxx.so.1") == str(tmp_path / "libmpi_cxx.so.40")
    assert len(first) == 2 and second == []


# --- the installed CNTK runtime ------------------------------------------------------------------


@pytest.mark.cntk
def test_cntk_runtime_python_imports_cntk(cntk_runtime):
    status = cntk_runtime.check()

    assert status.ok
    assert status.detail.startswith("cntk 2.7 on Python 3.6")


@pytest.mark.cntk
def test_cntk_runtime_trains_a_small_model_and_the_loss_falls(cntk_runtime):
    check = verify_cntk(cntk_runtime)

    assert check.devices == ["CPU"]
    assert check.losses[-1] < 0.5 * check.losses[0]


@pytest.mark.cntk
def test_a_job_running_plain_python_with_the_runtime_environ_gets_cntk(cntk_runtime, tmp_path):
    job_environment = {**os.environ, **cntk_runtime.environ()}

    run = subprocess.run(
        ["python", "-c", "import cntk, sys; print(sys.version_info[:2], cntk.__version__)"],
        capture_output=True, text=True, env=job_environment, cwd=tmp_path, timeout=120,
    )

    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "(3, 6) 2.7"
    assert "Unsupported Linux distribution" not in run.stderr


@pytest.mark.cntk
def test_installing_over_a_working_runtime_only_verifies_it(cntk_runtime, monkeypatch):
    monkeypatch.setenv("BATCHAI_KIT_CNTK_RUNTIME", str(cntk_runtime.prefix))
    steps: list[str] = []

    installed = install_cntk(progress=steps.append)

    assert installed == cntk_runtime
    assert steps[0] == "Verifying: import cntk and train a tiny model"
    assert len(steps) == 2 and steps[1].startswith("CNTK 2.7 works on CPU")


# --- command line --------------------------------------------------------------------------------


def test_cli_list_shows_an_uninstalled_cntk_runtime_with_the_install_command(clean_env, monkeypatch):
    monkeypatch.setenv("COLUMNS", "1000")  # one table row per runtime, nothing folded (tmp paths are long)

    result = CliRunner().invoke(runtime_cli, ["list"])

    assert result.exit_code == 0
    assert "unavailable" in result.output
    assert "batchai-kit runtime install cntk" in result.output


def test_cli_refuses_to_install_the_host_runtime(clean_env):
    result = CliRunner().invoke(runtime_cli, ["install", "host"])

    assert result.exit_code == 2
    assert "only cntk is installable" in result.output


def test_cli_install_without_python36_exits_with_the_install_advice(clean_env):
    result = CliRunner().invoke(runtime_cli, ["install", "cntk"])

    assert result.exit_code == 1
    assert "pyenv install 3.6.15" in result.output
