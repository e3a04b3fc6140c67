"""The API reference covers the public API, every public member has a docstring, and the site
builds with ``mkdocs build --strict`` (broken links, missing pages and unresolved references fail)."""

from __future__ import annotations

import inspect
import re
import shutil
import subprocess
import sys

import pytest

import batchai_kit
import batchai_kit.testing

from .blocks import REPO

REFERENCE = REPO / "docs" / "reference"


def _public() -> list[tuple[str, object]]:
    names = [(f"batchai_kit.{name}", getattr(batchai_kit, name)) for name in batchai_kit.__all__
             if not name.startswith("__")]
    names += [(f"batchai_kit.testing.{name}", getattr(batchai_kit.testing, name))
              for name in batchai_kit.testing.__all__]
    return names


def _documented_members(cls: type) -> list[tuple[str, object]]:
    members = []
    for name, value in vars(cls).items():
        if name.startswith("_"):
            continue
        function = value.fget if isinstance(value, property) else getattr(value, "__func__", value)
        if inspect.isfunction(function):
            members.append((name, function))
    return members


def test_every_public_class_function_method_and_property_has_a_docstring():
    missing = []
    for qualified, value in _public():
        if inspect.isclass(value) or inspect.isfunction(value):
            if not (value.__doc__ or "").strip():
                missing.append(qualified)
        if inspect.isclass(value):
            missing += [f"{qualified}.{name}" for name, function in _documented_members(value)
                        if not (function.__doc__ or "").strip()]
    assert not missing, f"public API without a docstring: {missing}"


def test_the_reference_pages_name_every_public_class_and_function():
    text = "\n".join(path.read_text() for path in REFERENCE.glob("*.md"))
    directives = set(re.findall(r"^::: (\S+)", text, re.M))
    errors_members = set(re.findall(r"^\s+- (\w+)$", (REFERENCE / "errors.md").read_text(), re.M))
    missing = []
    for qualified, value in _public():
        if not (inspect.isclass(value) or inspect.isfunction(value)):
            continue
        name = qualified.rsplit(".", 1)[1]
        covered = (qualified in directives or ("batchai_kit.testing" in directives and "testing" in qualified)
                   or (name in errors_members and "batchai_kit.errors" in directives))
        if not covered:
            missing.append(qualified)
    assert not missing, f"not in docs/reference/: {missing}"


def test_the_site_builds_strictly(tmp_path):
    if shutil.which("mkdocs", path=str(REPO / ".venv" / "bin")) is None and not _has_mkdocstrings():
        pytest.skip("mkdocs and mkdocstrings are not installed (pip install -e '.[docs]')")
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                            cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    page = (tmp_path / "site" / "reference" / "resources" / "index.html").read_text()
    assert "wait_ready" in page and "Wait until the allocation is steady" in page  # generated from docstrings


def _has_mkdocstrings() -> bool:
    import importlib.util

    return importlib.util.find_spec("mkdocstrings") is not None and importlib.util.find_spec("mkdocs") is not None
