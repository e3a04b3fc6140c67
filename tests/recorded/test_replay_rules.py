"""Replay's rules on hand-made cassettes. Strict (the default): per-resource order, repeats only
where recorded, nothing left unplayed, messages that name the request that differs. The matchers.
Lenient (``batchai_lenient_replay``): the next answer once what was recorded before it was played."""

from __future__ import annotations

import io
import types

import pytest
from vcr import matchers
from vcr.cassette import Cassette
from vcr.record_mode import RecordMode
from vcr.request import Request

import batchai_kit.testing as kit
from batchai_kit.testing import _cassette, _scrub

JOB = "/subscriptions/s/jobs/j1"
FILE = "/batchaikitlocal/share/a.txt"
OTHER = "/batchaikitlocal/share/b.txt"
MATCH_ON = [matchers.method, matchers.scheme, matchers.host, matchers.port, matchers.path, matchers.query,
            _cassette.match_range, _cassette.match_body]


def request(method, path, body=None, headers=None, query="?api-version=1"):
    return Request(method, f"{kit.FAKE_ENDPOINT}{path}{query}", body, headers or {})


def answer(text, repeated=False):
    response = {"status": {"code": 200, "message": "OK"}, "headers": {}, "body": {"string": text}}
    if repeated:
        response[_scrub.REPEATED] = True
    return response


def recorded(*interactions, before_record_request=None):
    """A vcrpy Cassette holding ``(request, answer)`` pairs, replayed strictly."""
    cassette = Cassette("fake.batchai.yaml", match_on=MATCH_ON, record_mode=RecordMode.NONE,
                        before_record_request=before_record_request)
    cassette.data = list(interactions)
    return cassette, _cassette.play_strictly(cassette)


def play(cassette, *requests):
    return [cassette.play_response(r)["body"]["string"] for r in requests]


def test_requests_to_one_resource_get_their_answers_in_recorded_order():
    cassette, player = recorded((request("PUT", JOB, body='{"nodes": 1}'), answer("created")),
                                (request("GET", JOB), answer("running")),
                                (request("GET", JOB), answer("succeeded")), (request("DELETE", JOB), answer("gone")))
    assert play(cassette, request("PUT", JOB, body='{"nodes": 1}'), request("GET", JOB), request("GET", JOB),
                request("DELETE", JOB)) == ["created", "running", "succeeded", "gone"]
    assert player.problems() == []
    assert [cassette.play_counts[i] for i in range(4)] == [1, 1, 1, 1]


def test_requests_to_different_resources_replay_in_any_order():
    cassette, player = recorded((request("PUT", FILE), answer("a1")), (request("PUT", OTHER), answer("b1")),
                                (request("GET", FILE), answer("a2")), (request("GET", OTHER), answer("b2")))
    assert play(cassette, request("PUT", OTHER), request("GET", OTHER), request("PUT", FILE),
                request("GET", FILE)) == ["b1", "b2", "a1", "a2"]
    assert player.problems() == []


def test_a_request_out_of_its_resources_order_fails_naming_what_was_recorded():
    cassette, player = recorded((request("GET", JOB), answer("running")), (request("DELETE", JOB), answer("gone")))
    with pytest.raises(kit.ReplayMismatch) as raised:
        cassette.play_response(request("DELETE", JOB))
    message = str(raised.value)
    assert message == (
        "The cassette 'fake.batchai.yaml': request 1 of 2 to /subscriptions/s/jobs/j1 was recorded as "
        "GET /subscriptions/s/jobs/j1?api-version=1, and the code sent DELETE /subscriptions/s/jobs/j1?api-version=1 "
        "(differs in method: DELETE != GET). Re-record the cassette if that change is intended (docs/testing.md).")
    assert player.violations == [message]
    assert cassette.play_counts[0] == cassette.play_counts[1] == 0


def test_a_different_body_or_range_fails_with_the_matchers_reason():
    cassette, _ = recorded((request("PUT", JOB, body='{"nodes": 1}'), answer("ok")),
                           (request("GET", FILE, headers={"x-ms-range": "bytes=0-9"}, query=""), answer("0123456789")))
    with pytest.raises(kit.ReplayMismatch, match=r"\(differs in match_body: the request bodies differ"):
        cassette.play_response(request("PUT", JOB, body='{"nodes": 2}'))
    with pytest.raises(kit.ReplayMismatch) as raised:
        cassette.play_response(request("GET", FILE, headers={"x-ms-range": "bytes=10-19"}, query=""))
    assert ("recorded as GET /batchaikitlocal/share/a.txt (x-ms-range: bytes=0-9), and the code sent "
            "GET /batchaikitlocal/share/a.txt (x-ms-range: bytes=10-19) (differs in match_range: ranges differ: "
            "(None, 'bytes=10-19') != (None, 'bytes=0-9'))") in str(raised.value)


def test_one_request_more_than_the_recording_fails():
    cassette, player = recorded((request("GET", JOB), answer("succeeded")),)
    assert play(cassette, request("GET", JOB)) == ["succeeded"]
    with pytest.raises(kit.ReplayMismatch) as raised:
        cassette.play_response(request("GET", JOB))
    assert str(raised.value) == (
        "The cassette 'fake.batchai.yaml' holds 1 request(s) to /subscriptions/s/jobs/j1, all played; the code sent "
        "one more: GET /subscriptions/s/jobs/j1?api-version=1. A request repeats in replay only where the recording "
        "repeated it; re-record the cassette if that change is intended (docs/testing.md).")
    assert len(player.violations) == 1


def test_a_request_to_a_resource_the_recording_never_touched_fails():
    cassette, _ = recorded((request("GET", JOB), answer("running")),)
    with pytest.raises(kit.ReplayMismatch) as raised:
        cassette.play_response(request("GET", "/subscriptions/s/jobs/j2"))
    assert str(raised.value) == (
        "The cassette 'fake.batchai.yaml' holds no request to https://batchai-kit.emulator/subscriptions/s/jobs/j2, "
        "and the code sent GET /subscriptions/s/jobs/j2?api-version=1. Re-record the cassette if that change is "
        "intended (docs/testing.md).")


def test_only_an_answer_the_recording_repeated_may_repeat():
    cassette, player = recorded((request("GET", JOB), answer("queued")),
                                (request("GET", JOB), answer("running", repeated=True)),
                                (request("DELETE", JOB), answer("gone")))
    # The second answer stood for a run of polls that saving cut short: replay may poll it again.
    assert play(cassette, *[request("GET", JOB)] * 4, request("DELETE", JOB)) == [
        "queued", "running", "running", "running", "gone"]
    assert [cassette.play_counts[i] for i in range(3)] == [1, 3, 1]
    assert player.problems() == []


def test_an_answer_the_recording_did_not_repeat_does_not_repeat():
    cassette, _player = recorded((request("GET", JOB), answer("running")), (request("GET", JOB), answer("running")),
                                 (request("DELETE", JOB), answer("gone")))
    assert play(cassette, request("GET", JOB), request("GET", JOB)) == ["running", "running"]
    with pytest.raises(kit.ReplayMismatch, match=r"request 3 of 3 to /subscriptions/s/jobs/j1 was recorded as DELETE"):
        cassette.play_response(request("GET", JOB))
    assert cassette.play_counts[1] == 1


def test_a_repeated_answer_repeats_only_for_its_own_request():
    cassette, _ = recorded((request("GET", JOB), answer("running", repeated=True)),
                           (request("DELETE", JOB), answer("gone")))
    assert play(cassette, request("GET", JOB), request("GET", JOB)) == ["running", "running"]
    with pytest.raises(kit.ReplayMismatch, match="recorded as DELETE"):
        cassette.play_response(request("PUT", JOB))


def test_a_repeated_answer_is_not_played_before_its_turn():
    cassette, _ = recorded((request("GET", JOB), answer("queued")),
                           (request("GET", JOB), answer("running", repeated=True)))
    assert play(cassette, request("GET", JOB), request("GET", JOB), request("GET", JOB)) == [
        "queued", "running", "running"]


def test_what_was_left_unplayed_is_a_problem_listed_in_recorded_order():
    interactions = [(request("GET", f"/jobs/j{n}"), answer("ok")) for n in range(25)]
    cassette, player = recorded(*interactions)
    play(cassette, request("GET", "/jobs/j1"), request("GET", "/jobs/j3"))
    assert player.unplayed() == [0, 2, *range(4, 25)]
    [problem] = player.problems()
    lines = problem.splitlines()
    assert lines[0] == ("The cassette 'fake.batchai.yaml' holds 23 interaction(s) the test did not play: the code "
                        "no longer sends them.")
    assert lines[1:4] == ["  #1: GET /jobs/j0?api-version=1", "  #3: GET /jobs/j2?api-version=1",
                          "  #5: GET /jobs/j4?api-version=1"]
    assert lines[20] == "  #22: GET /jobs/j21?api-version=1"
    assert lines[21:] == ["  ... and 3 more", "Re-record the cassette if that change is intended (docs/testing.md)."]


def test_twenty_unplayed_interactions_are_all_listed_and_twenty_one_are_not():
    _cassette_20, player = recorded(*[(request("GET", f"/jobs/j{n}"), answer("ok")) for n in range(20)])
    [problem] = player.problems()
    assert problem.splitlines()[-2:] == ["  #20: GET /jobs/j19?api-version=1",
                                         "Re-record the cassette if that change is intended (docs/testing.md)."]
    _cassette_21, player = recorded(*[(request("GET", f"/jobs/j{n}"), answer("ok")) for n in range(21)])
    [problem] = player.problems()
    assert problem.splitlines()[-3:] == ["  #20: GET /jobs/j19?api-version=1", "  ... and 1 more",
                                         "Re-record the cassette if that change is intended (docs/testing.md)."]


def test_mismatches_come_before_leftovers_in_the_problems():
    cassette, player = recorded((request("GET", JOB), answer("running")),)
    with pytest.raises(kit.ReplayMismatch):
        cassette.play_response(request("DELETE", JOB))
    problems = player.problems()
    assert len(problems) == 2
    assert problems[0] == player.violations[0] and "did not play" in problems[1]


def test_the_player_answers_every_request_vcrpy_would_record_and_only_those():
    def drop_token_requests(r):
        return None if "login" in r.host else r

    cassette, _ = recorded((request("GET", JOB), answer("running")), before_record_request=drop_token_requests)
    assert cassette.can_play_response_for(request("GET", "/not/recorded"))
    assert not cassette.can_play_response_for(Request("POST", "https://login.example/token", "", {}))
    assert cassette.allow_playback_repeats  # vcrpy then asks the player about requests it already answered
    assert cassette.can_play_response_for(request("GET", JOB))


def test_requests_are_filtered_as_recorded_before_they_are_matched():
    def scrub(r):
        r.uri = r.uri.replace("live-host", "batchai-kit.emulator")
        return r

    cassette, player = recorded((request("GET", JOB), answer("running")), before_record_request=scrub)
    live = Request("GET", f"https://live-host{JOB}?api-version=1", None, {})
    assert play(cassette, live) == ["running"]
    assert player.problems() == []


def test_strict_replay_is_what_the_plugin_installs_unless_the_test_is_marked_lenient():
    from batchai_kit.testing import plugin

    assert plugin.LENIENT_MARKER == "batchai_lenient_replay"
    cassette, player = recorded((request("GET", JOB), answer("running")),)
    assert cassette.play_response.__self__ is player


def test_a_range_header_is_named_in_the_message_and_every_difference_is_listed():
    cassette, _ = recorded((request("GET", FILE, headers={"Range": "bytes=0-9"}, query=""), answer("0123456789")),)
    with pytest.raises(kit.ReplayMismatch) as raised:
        cassette.play_response(request("HEAD", FILE, headers={"Range": "bytes=0-3", "x-ms-range": "bytes=0-3"},
                                       query=""))
    assert ("was recorded as GET /batchaikitlocal/share/a.txt (Range: bytes=0-9), and the code sent "
            "HEAD /batchaikitlocal/share/a.txt (Range: bytes=0-3, x-ms-range: bytes=0-3) (differs in "
            "method: HEAD != GET; match_range: ranges differ: ('bytes=0-3', 'bytes=0-3') != ('bytes=0-9', None))"
            ) in str(raised.value)


def test_a_matcher_that_says_no_without_a_reason_is_named_alone():
    def never(r1, r2):
        return False

    cassette = Cassette("fake.batchai.yaml", match_on=[never], record_mode=RecordMode.NONE)
    cassette.data = [(request("GET", JOB), answer("running"))]
    _cassette.play_strictly(cassette)
    with pytest.raises(kit.ReplayMismatch, match=r"\(differs in never\)\. Re-record"):
        cassette.play_response(request("GET", JOB))


# --- the body and range matchers -------------------------------------------------------------------

def matches_body(body1, body2):
    try:
        _cassette.match_body(request("PUT", JOB, body=body1), request("PUT", JOB, body=body2))
    except AssertionError as error:
        assert str(error) == "the request bodies differ"
        return False
    return True


def test_json_bodies_match_as_data_whatever_the_order_of_their_keys():
    assert matches_body('{"a": 1, "b": [1, 2]}', '{"b":[1,2],"a":1}')
    assert not matches_body('{"a": 1, "b": [1, 2]}', '{"a": 1, "b": [2, 1]}')


def test_guids_and_timestamps_in_bodies_match_loosely():
    assert matches_body('{"id": "11111111-2222-4333-8444-555555555555", "t": "2026-11-29T09:00:00Z"}',
                        '{"id": "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee", "t": "2018-05-01T00:00:00Z"}')


def test_text_bodies_match_only_when_equal():
    assert matches_body("a=1&b=2", "a=1&b=2")
    assert not matches_body("a=1&b=2", "a=1&b=3")
    assert matches_body(b"caf\xc3\xa9", "caf\u00e9")


def test_a_text_body_kept_as_text_matches_as_text():
    # vcrpy's Request keeps bodies as bytes; a str body (other request objects) compares the same way
    def text(body):
        return types.SimpleNamespace(body=body)

    _cassette.match_body(text("a=1"), text("a=1"))
    with pytest.raises(AssertionError, match="the request bodies differ"):
        _cassette.match_body(text("a=1"), text("a=2"))


def test_no_body_matches_an_empty_one_and_not_a_text():
    assert matches_body(None, "")
    assert matches_body(None, b"")
    assert not matches_body(None, "x")


def test_a_file_like_body_is_read_to_match():
    assert matches_body(io.BytesIO(b'{"a": 1}'), '{"a":1}')
    assert not matches_body(io.BytesIO(b'{"a": 1}'), '{"a":2}')


def test_binary_bodies_match_byte_for_byte():
    assert matches_body(b"\xff\x00\x01", b"\xff\x00\x01")
    assert not matches_body(b"\xff\x00\x01", b"\xff\x00\x02")


def test_ranges_match_on_range_and_x_ms_range():
    def ranges(headers1, headers2):
        try:
            _cassette.match_range(request("GET", FILE, headers=headers1), request("GET", FILE, headers=headers2))
        except AssertionError:
            return False
        return True

    assert ranges({"Range": "bytes=0-9"}, {"range": "bytes=0-9"})
    assert not ranges({"Range": "bytes=0-9"}, {"Range": "bytes=0-8"})
    assert not ranges({"x-ms-range": "bytes=0-9"}, {})
    assert ranges({}, {})


# --- lenient replay (the opt-out) ------------------------------------------------------------------

def leniently(*interactions, patience=None):
    cassette = Cassette("fake.batchai.yaml", match_on=MATCH_ON, record_mode=RecordMode.NONE)
    cassette.data = list(interactions)
    if patience is None:
        _cassette.play_in_order(cassette)
    else:
        _cassette.play_in_order(cassette, patience=patience)
    return cassette


def test_lenient_replay_repeats_an_answer_until_what_was_recorded_before_the_next_is_played():
    cassette = leniently((request("GET", JOB), answer("running")), (request("PATCH", JOB), answer("resized")),
                         (request("GET", JOB), answer("steady")))
    assert cassette.allow_playback_repeats is True
    assert play(cassette, request("GET", JOB), request("GET", JOB), request("PATCH", JOB), request("GET", JOB),
                request("GET", JOB)) == ["running", "running", "resized", "steady", "steady"]
    assert [cassette.play_counts[i] for i in range(3)] == [2, 1, 2]


def test_lenient_replay_waits_only_for_what_was_recorded_after_the_previous_answer():
    # an interaction recorded before the first answer and never played does not hold the second back
    cassette = leniently((request("GET", OTHER), answer("never asked")), (request("GET", JOB), answer("running")),
                         (request("GET", JOB), answer("steady")))
    assert play(cassette, request("GET", JOB), request("GET", JOB)) == ["running", "steady"]


def test_lenient_replay_gives_up_waiting_after_its_patience():
    cassette = leniently((request("GET", JOB), answer("running")), (request("PATCH", JOB), answer("resized")),
                         (request("GET", JOB), answer("steady")), patience=2)
    assert play(cassette, *[request("GET", JOB)] * 4) == ["running", "running", "running", "steady"]
    assert [cassette.play_counts[i] for i in range(3)] == [3, 0, 1]


def test_lenient_replay_is_patient_fifty_times_by_default():
    cassette = leniently((request("GET", JOB), answer("running")), (request("PATCH", JOB), answer("resized")),
                         (request("GET", JOB), answer("steady")))
    assert play(cassette, *[request("GET", JOB)] * 52) == ["running"] * 51 + ["steady"]


def test_lenient_replay_refuses_a_request_the_recording_does_not_hold():
    from vcr.errors import UnhandledHTTPRequestError

    cassette = leniently((request("GET", JOB), answer("running")),)
    with pytest.raises(UnhandledHTTPRequestError) as raised:
        cassette.play_response(request("DELETE", JOB))
    message = raised.value.args[0]
    assert message.startswith("The cassette ('fake.batchai.yaml') holds no answer to <Request (DELETE) ")
    assert message.endswith(": the code sends a request the recording did not. Re-record the cassette "
                                      "if that change is intended (docs/testing.md).")
