"""Installing from the index: the recipe is found wherever batchai_kit is installed from, and
`batchai-kit quickstart` says what is missing (runtime, system package, matplotlib) instead of
failing with a traceback. (The built wheel itself is run by scripts/wheel-smoke.)"""

from __future__ import annotations

import configparser
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

import batchai_kit
from batchai_kit import quickstart
from batchai_kit.cli import main
from batchai_kit.errors import SystemLibraryMissing, ValidationError

REPO = Path(__file__).resolve().parents[2]


def _copy_recipe(destination: Path) -> Path:
    shutil.copytree(REPO / "recipes" / "cntk_mnist", destination, ignore=shutil.ignore_patterns("__pycache__"))
    return destination


def test_the_recipe_of_a_checkout_is_found_without_configuration(monkeypatch):
    monkeypatch.delenv(quickstart.RECIPE_ENV, raising=False)
    monkeypatch.setattr(quickstart, "PACKAGED_RECIPE", REPO / "nowhere")
    assert quickstart.recipe_dir() == REPO / "recipes" / "cntk_mnist"


def test_the_recipe_shipped_in_the_wheel_comes_first(monkeypatch, tmp_path):
    monkeypatch.delenv(quickstart.RECIPE_ENV, raising=False)
    packaged = _copy_recipe(tmp_path / "_recipes" / "cntk_mnist")
    monkeypatch.setattr(quickstart, "PACKAGED_RECIPE", packaged)
    assert quickstart.recipe_dir() == packaged


def test_without_any_recipe_the_error_names_both_places_and_the_variable(monkeypatch, tmp_path):
    monkeypatch.delenv(quickstart.RECIPE_ENV, raising=False)
    monkeypatch.setattr(quickstart, "PACKAGED_RECIPE", tmp_path / "a")
    monkeypatch.setattr(quickstart, "CHECKOUT_RECIPE", tmp_path / "b")
    with pytest.raises(ValidationError) as caught:
        quickstart.recipe_dir()
    assert str(tmp_path / "a") in str(caught.value) and str(tmp_path / "b") in str(caught.value)
    assert quickstart.RECIPE_ENV in str(caught.value)


def test_a_configured_directory_that_is_no_recipe_is_refused(monkeypatch, tmp_path):
    monkeypatch.setenv(quickstart.RECIPE_ENV, str(tmp_path))
    with pytest.raises(ValidationError, match="ConvNet_MNIST.py"):
        quickstart.recipe_dir()


@pytest.fixture
def no_cntk_runtime(monkeypatch, tmp_path):
    monkeypatch.setenv("BATCHAI_KIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("BATCHAI_KIT_CNTK_RUNTIME", str(tmp_path / "no-runtime"))


def test_quickstart_with_no_install_refuses_before_creating_anything(no_cntk_runtime, tmp_path):
    result = CliRunner().invoke(main, ["quickstart", "--no-install", "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "The CNTK runtime is not ready" in result.output and "runtime install cntk" in result.output
    assert "Nothing was created" in result.output
    assert not (tmp_path / "out" / "emulator").exists()  # no emulator was started


def test_quickstart_installs_the_runtime_on_first_use_and_names_a_missing_system_package(
        no_cntk_runtime, monkeypatch, tmp_path):
    from batchai_kit.local import runtimes

    calls = []

    def install_cntk(**options):
        calls.append(options)
        options["progress"]("Creating the virtual environment")
        raise SystemLibraryMissing("CNTK needs Open MPI's libmpi.so.40; install Debian/Ubuntu's libopenmpi3",
                                   ["libmpi.so.40"], "libopenmpi3", "apt-get install -y libopenmpi3")

    monkeypatch.setattr(runtimes, "install_cntk", install_cntk)
    result = CliRunner().invoke(main, ["quickstart", "--allow-apt", "--out", str(tmp_path / "out")])
    assert calls and calls[0]["allow_apt"] is True
    assert "Installing the CNTK runtime" in result.output and "Creating the virtual environment" in result.output
    assert result.exit_code == 1 and "libopenmpi3" in result.output and "Nothing was created" in result.output


def test_without_matplotlib_quickstart_says_there_will_be_no_curve(no_cntk_runtime, monkeypatch, tmp_path):
    monkeypatch.setattr(quickstart, "can_plot", lambda: False)
    result = CliRunner().invoke(main, ["quickstart", "--no-install", "--out", str(tmp_path / "out")])
    assert "matplotlib is not installed" in result.output and "batchai_kit[quickstart]" in result.output


def test_without_matplotlib_no_curve_is_drawn(monkeypatch, tmp_path):
    monkeypatch.setattr(quickstart, "can_plot", lambda: False)
    epochs = [quickstart.Epoch(1, 0.4, 13.5, 150, 3.7)]
    assert quickstart.plot_curve(epochs, 3.7, tmp_path / "curve.png") is None
    assert not (tmp_path / "curve.png").exists()


def _setup_cfg() -> configparser.ConfigParser:
    config = configparser.ConfigParser()
    config.read(REPO / "setup.cfg")
    return config


def test_the_package_says_it_is_typed():
    assert (Path(batchai_kit.__file__).parent / "py.typed").is_file()
    assert "py.typed" in _setup_cfg()["options.package_data"]["batchai_kit"]


def test_every_third_party_import_of_the_package_is_declared():
    declared = {line.split(";")[0].split("[")[0].split("=")[0].split(">")[0].split("<")[0].strip().lower()
                for line in _setup_cfg()["options"]["install_requires"].splitlines()
                if line.strip() and not line.strip().startswith("#")}
    # import name -> distribution; extras-only imports (pytest, vcr, matplotlib, azure.ai.ml) are
    # imported lazily where they are used, and numpy/cntk only by code the CNTK runtime runs.
    needed = {"attrs": "attrs", "azure.common": "azure-common", "azure.core": "azure-core",
              "azure.identity": "azure-identity", "azure.mgmt.batchai": "azure-mgmt-batchai",
              "azure.mgmt.resource": "azure-mgmt-resource", "azure.storage.common": "azure-storage-common",
              "azure.storage.file": "azure-storage-file", "click": "click", "cryptography": "cryptography",
              "isodate": "isodate", "jwt": "pyjwt", "msrest": "msrest", "requests": "requests", "rich": "rich",
              "urllib3": "urllib3", "werkzeug": "werkzeug", "yaml": "pyyaml"}
    import ast

    found = set()
    for path in Path(batchai_kit.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module else []
            found.update(names)
    for module in sorted(found):
        for prefix, distribution in needed.items():
            if module == prefix or module.startswith(prefix + "."):
                assert distribution in declared, f"{module} is imported but {distribution} is not declared"
    unknown = {m.split(".")[0] for m in found} - _stdlib() - {p.split(".")[0] for p in needed} - {
        "batchai_kit", "pytest", "pytest_recording", "vcr", "matplotlib", "numpy", "cntk", "typing_extensions"}
    assert not unknown, f"imports nobody declared: {sorted(unknown)}"


def _stdlib() -> set[str]:
    import sys

    return set(sys.stdlib_module_names)


PROJECT_BLOB = "https://github.com/batchai-kit/batchai_kit/blob/main/"


def test_the_readme_links_are_absolute_and_name_files_of_this_repository():
    # The README is the package's description on an index page, where relative links break.
    import re

    targets = re.findall(r"\]\(([^)\s]+)\)", (REPO / "README.md").read_text())
    assert targets
    for target in targets:
        assert target.startswith(("https://", "http://")), f"relative link {target} in README.md"
        if target.startswith(PROJECT_BLOB):
            path = target[len(PROJECT_BLOB):].split("#")[0]
            assert (REPO / path).exists(), f"README.md links {path}, which is not in the repository"
    assert _setup_cfg()["metadata"]["url"] + "/blob/main/" == PROJECT_BLOB
