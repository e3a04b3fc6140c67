"""Which runtime runs a job, from its container image name.

Rules come from ``$BATCHAI_KIT_IMAGE_RUNTIMES`` (JSON), then ``<home>/runtimes.json``, then the
defaults; each is ``{"rules": [{"match": "<regex>", "runtime": "<name>"}]}``. The first rule whose
regular expression is found in the image name (``re.search``, ignoring case) wins. A job without
an image is matched as the empty string.
"""

from __future__ import annotations

import json
import os
import re

import attrs

from ...errors import ValidationError
from ._paths import image_rules_file

IMAGE_RULES_ENV = "BATCHAI_KIT_IMAGE_RUNTIMES"
RUNTIME_NAMES = ("cntk", "host")
_EXAMPLE = '{"rules": [{"match": "cntk", "runtime": "cntk"}]}'


@attrs.frozen
class ImageRule:
    pattern: re.Pattern[str]
    runtime: str
    source: str

    def matches(self, image: str) -> bool:
        return self.pattern.search(image) is not None


DEFAULT_RULES = (
    ImageRule(re.compile("cntk", re.IGNORECASE), "cntk", "built-in default"),
    ImageRule(re.compile(""), "host", "built-in default"),
)


def runtime_for_image(image: str | None) -> str:
    """The runtime name (``"cntk"`` or ``"host"``) for a container image name.

    By default images whose name contains "cntk" (any case) run on the CNTK runtime and
    everything else, including no image, on the host's Python.

    Raises:
        ValidationError: the rules configured in the environment or file are malformed.
    """
    name = image or ""
    for rule in image_rules():
        if rule.matches(name):
            return rule.runtime
    raise AssertionError("the built-in defaults match every image")  # pragma: no cover


def image_rules() -> list[ImageRule]:
    """Every rule in the order they are tried: environment, file, defaults."""
    rules: list[ImageRule] = []
    if os.environ.get(IMAGE_RULES_ENV):
        rules += parse_rules(os.environ[IMAGE_RULES_ENV], source=IMAGE_RULES_ENV)
    path = image_rules_file()
    if path.is_file():
        rules += parse_rules(path.read_text(encoding="utf-8"), source=str(path))
    return [*rules, *DEFAULT_RULES]


def parse_rules(text: str, *, source: str) -> list[ImageRule]:
    """Validate a whole mapping document at once, so a bad rule fails even if never reached."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValidationError(source, _shorten(text), f"must be JSON like {_EXAMPLE} ({error})") from None
    if not isinstance(document, dict) or not isinstance(document.get("rules"), list):
        raise ValidationError(source, document, f'must be an object with a "rules" list, like {_EXAMPLE}')
    return [_parse_rule(entry, f"{source} rules[{index}]") for index, entry in enumerate(document["rules"])]


def _parse_rule(entry: object, where: str) -> ImageRule:
    if not isinstance(entry, dict) or set(entry) != {"match", "runtime"}:
        raise ValidationError(where, entry, 'must be {"match": "<regex>", "runtime": "<name>"} and nothing else')
    match, runtime = entry["match"], entry["runtime"]
    if not isinstance(match, str):
        raise ValidationError(f"{where}.match", match, "must be a regular expression string")
    try:
        pattern = re.compile(match, re.IGNORECASE)
    except re.error as error:
        raise ValidationError(f"{where}.match", match, f"must be a valid regular expression ({error})") from None
    if runtime not in RUNTIME_NAMES:
        raise ValidationError(f"{where}.runtime", runtime, f"must be one of {', '.join(RUNTIME_NAMES)}")
    return ImageRule(pattern, runtime, where)


def _shorten(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "..."
