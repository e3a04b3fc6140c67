"""The docs test's own rules: markers, languages and shown output (tests/docs/blocks.py)."""

from __future__ import annotations

from pathlib import Path

from .blocks import blocks_of, unmatched_lines


def _page(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "page.md"
    path.write_text(text)
    return path


def test_a_skip_marker_needs_a_reason(tmp_path):
    [without, with_reason] = blocks_of(_page(tmp_path, "<!-- docs-test: skip -->\n```bash\nls\n```\n\n"
                                                      "<!-- docs-test: skip it serves forever -->\n```bash\nls\n```\n"))
    assert without.problem is not None and "reason" in without.problem
    assert with_reason.problem is None and with_reason.skip == "it serves forever"


def test_options_combine_and_unknown_ones_are_problems(tmp_path):
    [known, unknown] = blocks_of(_page(tmp_path, "<!-- docs-test: cntk timeout=600 -->\n```python\npass\n```\n"
                                                 "<!-- docs-test: slow -->\n```python\npass\n```\n"))
    assert known.cntk and known.timeout == 600 and known.problem is None
    assert unknown.problem is not None and "slow" in unknown.problem


def test_a_marker_applies_only_to_the_block_right_after_it(tmp_path):
    [marked, plain] = blocks_of(_page(tmp_path, "<!-- docs-test: skip a daemon that serves -->\n```bash\nx\n```\n\n"
                                                "text\n\n```bash\ny\n```\n"))
    assert marked.skip and plain.skip is None and plain.code == "y\n" and plain.line == 8


def test_the_language_is_the_first_word_of_the_info_string(tmp_path):
    [block] = blocks_of(_page(tmp_path, "```Python title=x\nprint(1)\n```\n"))
    assert block.language == "python"


def test_shown_output_matches_with_numbers_and_elisions_as_wildcards():
    output = "CNTK 2.7 on CPU\nData: 8000 training\nnoise\nEpoch 1/1: loss 0.52, error 15.0%\nFinal test error: 4.1%\n"
    shown = "CNTK 2.7 on CPU\n...\nEpoch 1/1: loss 0.4397, error 13.56%\nFinal test error: 3.70%\n"
    assert unmatched_lines(shown, output) == []


def test_shown_output_that_is_missing_or_out_of_order_is_reported():
    output = "Final test error: 4.1%\nEpoch 1/1: loss 0.52\n"
    assert unmatched_lines("Epoch 1/1: loss 0.4\nFinal test error: 3.7%\n", output) == ["Final test error: 3.7%"]
    assert unmatched_lines("Model saved\n", output) == ["Model saved"]
