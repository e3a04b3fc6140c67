"""Every code block of README.md and docs/ runs (or parses), as tests/docs/blocks.py describes."""

from __future__ import annotations

import configparser
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .blocks import DATA, REPO, RUN, SHOWN, Block, all_blocks, unmatched_lines

BLOCKS = all_blocks()


def _params() -> list[object]:
    params = []
    for index, block in enumerate(BLOCKS):
        marks = [pytest.mark.cntk] if block.cntk else []
        params.append(pytest.param(index, id=block.id, marks=marks))
    return params


def _expected_output(index: int) -> Block | None:
    following = BLOCKS[index + 1] if index + 1 < len(BLOCKS) else None
    if following is not None and following.page == BLOCKS[index].page and following.is_output:
        return following
    return None


def _sandbox(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    from batchai_kit.local.runtimes import cntk_runtime_dir

    work = tmp_path / "work"
    work.mkdir()
    for name in ("recipes", "examples", "docs", "tests"):
        (work / name).symlink_to(REPO / name)
    (work / ".venv").symlink_to(Path(sys.prefix))
    env = {**os.environ, "BATCHAI_KIT_HOME": str(tmp_path / "home"), "PYTHONUNBUFFERED": "1",
           "BATCHAI_KIT_CNTK_RUNTIME": str(cntk_runtime_dir()),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    return work, env


def _run(block: Block, tmp_path: Path) -> str:
    work, env = _sandbox(tmp_path)
    if RUN[block.language] == "python":
        script = tmp_path / "block.py"
        script.write_text(block.code)
        argv = [sys.executable, str(script)]
    else:
        argv = ["bash", "-euo", "pipefail", "-c", block.code]
    try:
        result = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True, timeout=block.timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{block.id}: still running after {block.timeout:.0f} s (a long-running command? mark it "
                    "<!-- docs-test: skip <reason> --> or give it timeout=N)")
    assert result.returncode == 0, f"{block.id} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.mark.parametrize("index", _params())
def test_the_code_block_runs(index: int, tmp_path: Path) -> None:
    block = BLOCKS[index]
    assert block.problem is None, f"{block.id}: {block.problem}"
    if block.skip is not None:
        pytest.skip(f"marked not runnable: {block.skip}")
    if block.language in SHOWN:
        return  # shown, not run (an `output` block is checked with the block it follows)
    if block.language in DATA:
        _parse(block)
        return
    assert block.language in RUN, (
        f"{block.id}: a ```{block.language} block — give it a language the docs test knows: "
        f"{', '.join(sorted(RUN))} (run), {', '.join(sorted(DATA))} (parsed), {', '.join(sorted(SHOWN))} (shown)")
    if block.cntk:
        from batchai_kit.local.runtimes import get_runtime
        from tests.conftest import missing_runtime

        status = get_runtime("cntk").check()
        if not status.ok:
            missing_runtime(f"needs the CNTK runtime: {status.detail}")  # fails where runtimes are required
    output = _run(block, tmp_path)
    shown = _expected_output(index)
    if shown is not None:
        missing = unmatched_lines(shown.code, output)
        assert not missing, (f"{block.id} did not print what {shown.id} shows; missing, in order: {missing}\n"
                             f"it printed:\n{output}")


def _parse(block: Block) -> None:
    if block.language == "json":
        json.loads(block.code)
    elif block.language in ("yaml", "yml"):
        import yaml

        yaml.safe_load(block.code)
    elif block.language == "toml":
        import tomllib

        tomllib.loads(block.code)
    else:
        configparser.ConfigParser().read_string(block.code)


def test_every_page_is_found() -> None:
    pages = {block.page for block in BLOCKS}
    assert "README.md" in pages and "docs/library.md" in pages


def test_an_output_block_follows_a_block_that_runs() -> None:
    for index, block in enumerate(BLOCKS):
        if block.is_output:
            previous = BLOCKS[index - 1] if index else None
            assert previous is not None and previous.page == block.page and previous.language in RUN, (
                f"{block.id}: an output block must follow a block that runs")
