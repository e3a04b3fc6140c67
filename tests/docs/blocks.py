"""The fenced code blocks of README.md and docs/: found, classified, and how to run them.

How a block is treated (docs/contributing.md says the same for writers):

- ``python``, ``bash``/``sh``/``shell`` blocks run, each on its own, in a fresh temporary
  directory that holds links to the repository's ``recipes/``, ``examples/``, ``docs/`` and
  ``tests/`` and a ``.venv`` link to the running environment (so ``.venv/bin/batchai-kit`` and
  ``batchai-kit`` both work), with ``$BATCHAI_KIT_HOME`` in that directory. They must exit 0.
- ``json``, ``yaml``, ``toml`` and ``ini`` blocks must parse.
- ``console`` (a shell session: ``$`` prompts and their output) and ``text`` blocks are shown,
  not run.
- A block without a language fails: say what it is.
- An HTML comment right before the opening fence changes that (it does not show on the page):
  ``<!-- docs-test: skip <reason> -->`` does not run the block (the reason is required);
  ``<!-- docs-test: cntk -->`` marks a block that needs the CNTK runtime (pytest ``-m cntk``);
  ``<!-- docs-test: timeout=600 -->`` allows more than the default 180 s;
  ``<!-- docs-test: output -->`` before a ``text`` block makes it the expected output of the
  block just before it: each shown line must appear in that block's output, in order, where any
  number matches any number and a line ``...`` matches any lines. Options combine:
  ``<!-- docs-test: cntk timeout=600 -->``.
"""

from __future__ import annotations

import re
from pathlib import Path

import attrs

REPO = Path(__file__).resolve().parents[2]
RUN = {"python": "python", "py": "python", "bash": "bash", "sh": "bash", "shell": "bash"}
DATA = {"json", "yaml", "yml", "toml", "ini", "cfg"}
SHOWN = {"console", "text", "pycon"}
DEFAULT_TIMEOUT = 180.0

_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>[^\n`]*)\n(?P<body>.*?)^ {0,3}(?P=fence)[ \t]*$",
                    re.M | re.S)
_MARKER = re.compile(r"<!--\s*docs-test:(?P<options>.*?)-->\s*$")


@attrs.frozen
class Block:
    page: str  # relative to the repository
    line: int  # of the opening fence
    language: str
    code: str
    skip: str | None = None  # the reason
    cntk: bool = False
    timeout: float = DEFAULT_TIMEOUT
    is_output: bool = False
    problem: str | None = None  # a marker or fence that is wrong

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"


def pages() -> list[Path]:
    """README.md and every Markdown page under docs/ (new pages are picked up by themselves)."""
    return [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]


def _options(text: str) -> dict[str, object]:
    words = text.split()
    options: dict[str, object] = {}
    if words and words[0] == "skip":
        options["skip"] = " ".join(words[1:])
        if len(words) < 3:
            options["problem"] = "a skip marker needs a reason: <!-- docs-test: skip <why it cannot run> -->"
        return options
    for word in words:
        if word == "cntk":
            options["cntk"] = True
        elif word == "output":
            options["is_output"] = True
        elif word.startswith("timeout="):
            options["timeout"] = float(word.split("=", 1)[1])
        else:
            options["problem"] = f"unknown docs-test option {word!r} (skip, cntk, output, timeout=N)"
    return options


def blocks_of(path: Path) -> list[Block]:
    text = path.read_text(encoding="utf-8")
    page = str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)
    found = []
    for match in _FENCE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        before = text[:match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = _MARKER.search(before)
        options = _options(marker.group("options")) if marker else {}
        language = match.group("info").strip().split(" ")[0].lower()
        body = match.group("body")
        indent = len(match.group("indent"))
        if indent:
            body = "\n".join(row[indent:] if row.startswith(" " * indent) else row for row in body.split("\n"))
        found.append(Block(page, line, language, body, **options))  # type: ignore[arg-type]
    return found


def all_blocks() -> list[Block]:
    return [block for path in pages() for block in blocks_of(path)]


def output_pattern(shown: str) -> list[re.Pattern[str] | None]:
    """Each shown line as a pattern (numbers match any number); None for a ``...`` line."""
    patterns: list[re.Pattern[str] | None] = []
    for row in shown.strip("\n").split("\n"):
        if row.strip() in ("...", "…"):
            patterns.append(None)
            continue
        parts = re.split(r"\d+(?:\.\d+)?", row.strip())
        patterns.append(re.compile(r"\d+(?:\.\d+)?".join(re.escape(part) for part in parts)))
    return patterns


def unmatched_lines(shown: str, output: str) -> list[str]:
    """The shown lines that do not appear in ``output`` in order (empty: it matches)."""
    rows = output.split("\n")
    position = 0
    missing = []
    for shown_row, pattern in zip(shown.strip("\n").split("\n"), output_pattern(shown)):
        if pattern is None:
            continue
        for index in range(position, len(rows)):
            if pattern.search(rows[index]):
                position = index + 1
                break
        else:
            missing.append(shown_row)
    return missing
