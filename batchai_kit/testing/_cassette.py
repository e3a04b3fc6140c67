"""How batchai_kit's cassettes are written, matched and replayed (vcrpy extension points).

- ``SERIALIZER`` (registered as ``batchai.yaml``; cassettes are ``<test>.batchai.yaml``): YAML
  with JSON bodies pretty-printed and multi-line strings as blocks, so a review reads like the
  conversation it records. Saving runs ``normalise_interactions`` and refuses to write a cassette
  holding a secret value seen while recording.
- Matchers ``batchai_body`` (JSON compared as data, GUIDs and timestamps loosely) and
  ``batchai_range`` (the Range / x-ms-range header: a log tail reads the same URL at growing offsets).
- ``play_strictly`` (the default replay): the recording is a script. Each request must be the
  next unplayed interaction recorded for its resource (scheme, host, path), equal in method, URL,
  range and body; an answer repeats only where the recording repeated it (a run of polls that
  saving cut short); every interaction must be played by the end of the test. Concurrent
  requests to different resources (parallel transfers) replay in any order.
- ``play_in_order`` (the opt-out, ``@pytest.mark.batchai_lenient_replay``): each request gets the
  next recorded answer to it and, once those are used up, the last one again; nothing checks
  that every interaction was played.
"""

from __future__ import annotations

import collections
import functools
import json
import threading
from typing import Any
from urllib.parse import urlsplit

from ._scrub import REPEATED, SCRUBBER, fix_content_length, mask_volatile, normalise_interactions

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
    return any("json" in str(values).lower() for name, values in (headers or {}).items()
               if name.lower() == "content-type")


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
    # Raised, not asserted: the message stays the same under pytest's assertion rewriting and -O.
    if _comparable(r1.body) != _comparable(r2.body):
        raise AssertionError("the request bodies differ")


def _range(request: Any) -> tuple[str | None, str | None]:
    headers = request.headers
    return headers.get("Range"), headers.get("x-ms-range")


def match_range(r1: Any, r2: Any) -> None:
    if _range(r1) != _range(r2):
        raise AssertionError(f"ranges differ: {_range(r1)} != {_range(r2)}")


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


# --- strict replay ---------------------------------------------------------------------------------

class ReplayMismatch(AssertionError):
    """A replayed request is not the next one the recording holds for its resource."""


def _resource(request: Any) -> tuple[Any, ...]:
    """What a request acts on: its URL without the query (one file, one job, one operation)."""
    return (request.scheme, request.host, request.port, request.path)


def _describe(request: Any) -> str:
    ranges = ", ".join(f"{name}: {value}" for name, value in zip(("Range", "x-ms-range"), _range(request)) if value)
    url = urlsplit(request.uri)
    target = url.path + (f"?{url.query}" if url.query else "")
    return f"{request.method} {target}" + (f" ({ranges})" if ranges else "")


class StrictPlayer:
    """Strict replay of a loaded vcrpy Cassette (see the module docstring); ``install`` hooks it in.

    A mismatch raises :class:`ReplayMismatch` from the request, and is also kept in
    ``violations``: the library may turn the exception into its own error, or a test may expect
    an error, and the test must fail all the same (the pytest plugin checks ``problems()``).
    """

    def __init__(self, cassette: Any):
        self.cassette = cassette
        self.lock = threading.Lock()
        self.sequences: dict[tuple[Any, ...], list[int]] = collections.defaultdict(list)
        for index, (request, _) in enumerate(cassette.data):
            self.sequences[_resource(request)].append(index)
        self.next: collections.Counter[Any] = collections.Counter()  # per resource: position of the next unplayed
        self.violations: list[str] = []

    def install(self) -> StrictPlayer:
        cassette = self.cassette
        cassette.allow_playback_repeats = True  # vcrpy lets us answer; we decide what may repeat
        cassette.can_play_response_for = self.can_play_response_for
        cassette.play_response = self.play_response
        return self

    def can_play_response_for(self, request: Any) -> bool:
        # Every request the cassette would record is ours to judge, so that one the recording does
        # not hold fails with the resource's expected next request, not vcrpy's generic message.
        return bool(self.cassette.filter_request(request))

    def _matches(self, request: Any, index: int) -> tuple[bool, list[Any]]:
        from vcr.matchers import get_matchers_results

        _, failures = get_matchers_results(request, self.cassette.data[index][0], self.cassette._match_on)
        return not failures, failures

    def play_response(self, request: Any) -> Any:
        request = self.cassette.filter_request(request)
        with self.lock:
            resource = _resource(request)
            sequence = self.sequences.get(resource, [])
            position = self.next[resource]
            if position < len(sequence):
                index = sequence[position]
                matched, failures = self._matches(request, index)
                if matched:
                    self.next[resource] += 1
                    return self._play(index)
            else:
                index, failures = None, []
            if position > 0:
                previous = sequence[position - 1]
                if self.cassette.data[previous][1].get(REPEATED) and self._matches(request, previous)[0]:
                    return self._play(previous)
            message = self._mismatch(request, index, failures, position, sequence)
            self.violations.append(message)
        raise ReplayMismatch(message)

    def _play(self, index: int) -> Any:
        self.cassette.play_counts[index] += 1
        return self.cassette.data[index][1]

    def _mismatch(self, request: Any, index: int | None, failures: list[Any], position: int,
                  sequence: list[Any]) -> str:
        where = f"The cassette {self.cassette.path!r}"
        if not sequence:
            return (f"{where} holds no request to {request.scheme}://{request.host}{request.path}, and the code "
                    f"sent {_describe(request)}. Re-record the cassette if that change is intended "
                    "(docs/testing.md).")
        if index is None:
            return (f"{where} holds {len(sequence)} request(s) to {request.path}, all played; the code sent "
                    f"one more: {_describe(request)}. A request repeats in replay only where the recording "
                    "repeated it; re-record the cassette if that change is intended (docs/testing.md).")
        details = "; ".join(f"{name}: {message}" if message else name for name, message in failures)
        return (f"{where}: request {position + 1} of {len(sequence)} to {request.path} was recorded as "
                f"{_describe(self.cassette.data[index][0])}, and the code sent {_describe(request)} "
                f"(differs in {details}). Re-record the cassette if that change is intended (docs/testing.md).")

    def unplayed(self) -> list[int]:
        return [index for index in range(len(self.cassette.data)) if not self.cassette.play_counts[index]]

    def problems(self) -> list[str]:
        """What makes the replay fail: the mismatches seen, then the interactions left unplayed."""
        problems = list(self.violations)
        unplayed = self.unplayed()
        if unplayed:
            listed = "\n".join(f"  #{index + 1}: {_describe(self.cassette.data[index][0])}" for index in unplayed[:20])
            more = f"\n  ... and {len(unplayed) - 20} more" if len(unplayed) > 20 else ""
            problems.append(f"The cassette {self.cassette.path!r} holds {len(unplayed)} interaction(s) the test "
                            f"did not play: the code no longer sends them.\n{listed}{more}\nRe-record the "
                            "cassette if that change is intended (docs/testing.md).")
        return problems


def play_strictly(cassette: Any) -> StrictPlayer:
    """Make ``cassette`` (a loaded vcrpy Cassette) replay strictly; the returned player's
    ``problems()`` says, at the end of the test, what went wrong."""
    return StrictPlayer(cassette).install()
