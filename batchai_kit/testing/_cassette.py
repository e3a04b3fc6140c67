"""How batchai_kit's cassettes are written, matched and replayed (vcrpy extension points).

- ``SERIALIZER`` (registered as ``batchai.yaml``; cassettes are ``<test>.batchai.yaml``): YAML
  with JSON bodies pretty-printed and multi-line strings as blocks, so a review reads like the
  conversation it records. Saving runs ``normalise_interactions`` and refuses to write a cassette
  holding a secret value seen while recording.
- Matchers ``batchai_body`` (JSON compared as data, GUIDs and timestamps loosely) and
  ``batchai_range`` (the Range / x-ms-range header: a log tail reads the same URL at growing offsets).
- ``play_in_order``: each request gets the next recorded answer to it and, once those are used
  up, the last one again. Polls replay as recorded; a replay that polls more often than the
  recording did sees the final state again instead of failing.
"""

from __future__ import annotations

import collections
import functools
import json
import threading
from typing import Any

from ._scrub import SCRUBBER, fix_content_length, mask_volatile, normalise_interactions

SERIALIZER_NAME = "batchai.yaml"
MATCH_BODY = "batchai_body"
MATCH_RANGE = "batchai_range"


class SecretInCassette(AssertionError):
    """A cassette about to be written holds a secret value seen while recording."""


@functools.cache
def _dumper() -> Any:
    """PyYAML's safe dumper, writing multi-line strings as blocks (PyYAML comes with vcrpy)."""
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    def represent_str(dumper: Any, value: str) -> Any:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, represent_str)
    return Dumper


def _is_json(headers: dict[str, Any] | None) -> bool:
    for name, values in (headers or {}).items():
        if name.lower() == "content-type":
            value = values[0] if isinstance(values, list) and values else values
            return "json" in str(value).lower()
    return False


def _pretty(part: dict[str, Any], body_holder: dict[str, Any], key: str) -> None:
    """Indent a JSON body (a JSON answer's bytes are not checked against anything)."""
    text = body_holder.get(key)
    if not isinstance(text, str) or not text.strip() or not _is_json(part.get("headers")):
        return
    try:
        body_holder[key] = json.dumps(json.loads(text), indent=2) + "\n"
    except ValueError:
        return


class _Serializer:
    """vcrpy serializer module interface: ``serialize(dict) -> str``, ``deserialize(str) -> dict``."""

    @staticmethod
    def serialize(cassette: dict[str, Any]) -> str:
        interactions = normalise_interactions(cassette.get("interactions", []))
        for interaction in interactions:
            request, response = interaction["request"], interaction["response"]
            _pretty(request, request, "body")
            _pretty(response, response.get("body") or {}, "string")
            for part in (request, response):
                # Servers send headers in no fixed order: sorted, recordings compare equal.
                part["headers"] = dict(sorted((part.get("headers") or {}).items(), key=lambda kv: kv[0].lower()))
        _fix_lengths(interactions)
        data = {**cassette, "interactions": interactions}
        import yaml

        text = yaml.dump(data, Dumper=_dumper(), sort_keys=False, allow_unicode=True, width=120)
        if SCRUBBER.leaked(text):
            raise SecretInCassette(
                "refusing to write a cassette that holds a secret value used while recording (a token, "
                "storage key or password): add a scrubber for it (batchai_kit.testing.SCRUBBER.secret(...))"
            )
        return text

    @staticmethod
    def deserialize(text: str) -> dict[str, Any]:
        import yaml

        cassette: dict[str, Any] = yaml.safe_load(text)
        return cassette


def _fix_lengths(interactions: list[dict[str, Any]]) -> None:
    for interaction in interactions:
        fix_content_length(interaction["response"])


SERIALIZER = _Serializer()


# --- matchers -------------------------------------------------------------------------------------


def _text_of(body: Any) -> str | bytes:
    if body is None:
        return ""
    if hasattr(body, "read"):  # a file-like body (vcrpy re-reads it)
        body = body.read()
    if isinstance(body, bytes):
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            return body
    return str(body)


def _comparable(body: Any) -> Any:
    text = _text_of(body)
    if isinstance(text, bytes):
        return text
    try:
        return mask_volatile(json.dumps(json.loads(text), sort_keys=True))
    except ValueError:
        return mask_volatile(text)


def match_body(r1: Any, r2: Any) -> None:
    """Bodies equal as JSON data (or as text), GUIDs, timestamps and ETags compared loosely."""
    assert _comparable(r1.body) == _comparable(r2.body), "the request bodies differ"


def _range(request: Any) -> tuple[str | None, str | None]:
    headers = request.headers
    return headers.get("Range"), headers.get("x-ms-range")


def match_range(r1: Any, r2: Any) -> None:
    assert _range(r1) == _range(r2), f"ranges differ: {_range(r1)} != {_range(r2)}"


def register(vcr: Any) -> None:
    """Register the serializer and matchers with a ``vcr.VCR`` (pytest-recording's hook)."""
    vcr.register_serializer(SERIALIZER_NAME, SERIALIZER)
    vcr.register_matcher(MATCH_BODY, match_body)
    vcr.register_matcher(MATCH_RANGE, match_range)


# --- replay ---------------------------------------------------------------------------------------


def play_in_order(cassette: Any, *, patience: int = 50) -> None:
    """Make ``cassette`` (a loaded vcrpy Cassette) replay in the order it was recorded.

    A request gets its next recorded answer once everything recorded before that answer has been
    replayed; until then (the recording's poll saw the same answer again, and saving collapsed the
    repeats) it gets its previous answer again, ``patience`` times at most. When its answers are
    used up, the last one repeats.
    """
    from vcr.errors import UnhandledHTTPRequestError

    lock = threading.Lock()
    repeats: collections.Counter[int] = collections.Counter()
    counts = cassette.play_counts
    cassette.allow_playback_repeats = True  # lets vcrpy ask us about requests already answered

    def choose(matches: list[int]) -> int:
        unplayed = [i for i in matches if counts[i] == 0]
        if not unplayed:
            return max(i for i in matches)
        following = unplayed[0]
        earlier = [i for i in matches if counts[i] > 0 and i < following]
        if earlier and repeats[earlier[-1]] < patience and any(
                counts[i] == 0 for i in range(earlier[-1] + 1, following)):
            repeats[earlier[-1]] += 1
            return earlier[-1]
        return following

    def play_response(request: Any) -> Any:
        with lock:
            matches = [index for index, _ in cassette._responses(request)]
            if matches:
                index = choose(matches)
                counts[index] += 1
                return cassette.data[index][1]
        raise UnhandledHTTPRequestError(
            f"The cassette ({cassette.path!r}) holds no answer to {request!r}: the code sends a request the "
            "recording did not. Re-record the cassette if that change is intended (docs/testing.md)."
        )

    cassette.play_response = play_response
