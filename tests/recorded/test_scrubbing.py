"""The scrubbers, the save-time normalisation and in-order replay, on hand-made interactions."""

from __future__ import annotations

import collections
import json

import pytest
from vcr.request import Request

import batchai_kit.testing as kit
from batchai_kit.testing import _cassette, _scrub

LIVE = "https://127.0.0.1:41234"
SUBSCRIPTION = "6b1c2f4e-1111-4a2b-9c3d-123456789abc"


@pytest.fixture
def scrubber(monkeypatch):
    fresh = _scrub.Scrubber()
    monkeypatch.setattr(_scrub, "SCRUBBER", fresh)
    monkeypatch.setattr(_cassette, "SCRUBBER", fresh)
    fresh.replace(LIVE, kit.FAKE_ENDPOINT)
    fresh.replace(SUBSCRIPTION, kit.FAKE_SUBSCRIPTION)
    return fresh


def interaction(uri, status=200, body="", method="GET"):
    return {"request": {"method": method, "uri": uri, "body": None, "headers": {}},
            "response": {"status": {"code": status, "message": "OK"},
                         "headers": {"Content-Length": [str(len(body))]}, "body": {"string": body}}}


def test_a_request_gets_the_fixed_endpoint_and_subscription_and_loses_its_secrets(scrubber):
    scrubber.secret("the-live-storage-key-value")
    body = {"properties": {
        "userAccountSettings": {"adminUserName": "batchai", "adminUserPassword": "hunter2-but-long"},
        "mountVolumes": {"azureFileShares": [{"credentials": {"accountKey": "the-live-storage-key-value"}}]},
        "secrets": [{"name": "TOKEN", "value": "job-secret"}]}}
    request = Request("PUT", f"{LIVE}/subscriptions/{SUBSCRIPTION}/x?api-version=1", json.dumps(body),
                      {"Authorization": "Bearer abc.def.ghi", "x-ms-client-request-id": "1", "Accept": "*/*"})
    scrubbed = kit.before_record_request(request)
    assert scrubbed.uri == f"{kit.FAKE_ENDPOINT}/subscriptions/{kit.FAKE_SUBSCRIPTION}/x?api-version=1"
    assert dict(scrubbed.headers) == {"Accept": "*/*"}
    sent = json.loads(scrubbed.body)["properties"]
    assert sent["userAccountSettings"] == {"adminUserName": "batchai", "adminUserPassword": "REDACTED"}
    assert sent["mountVolumes"]["azureFileShares"][0]["credentials"] == {"accountKey": "REDACTED"}
    assert sent["secrets"] == [{"name": "TOKEN", "value": "REDACTED"}]


def test_scrubbing_a_scrubbed_request_changes_nothing(scrubber):
    request = Request("GET", f"{LIVE}/share/f.txt?sv=2019-02-02&se=2030-01-01T10%3A00%3A00Z&sp=r&sig=abc%2Bdef%3D",
                      None, {})
    once = kit.before_record_request(request)
    assert once.uri == (f"{kit.FAKE_ENDPOINT}/share/f.txt?sv=2019-02-02&se=2018-05-01T00%3A00%3A00Z&sp=r"
                        "&sig=REDACTED")
    assert kit.before_record_request(once).uri == once.uri


def test_token_requests_are_not_recorded(scrubber):
    request = Request("POST", "https://login.microsoftonline.com/tenant/oauth2/v2.0/token", "secret=x", {})
    assert kit.before_record_request(request) is None


def test_guids_become_placeholders_numbered_by_first_appearance():
    a, b = "11111111-2222-4333-8444-555555555555", "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
    saved = _scrub.normalise_interactions([interaction(f"{kit.FAKE_ENDPOINT}/op/{b}", body=f'{{"id": "{a}"}}'),
                                           interaction(f"{kit.FAKE_ENDPOINT}/op/{a}")])
    assert saved[0]["request"]["uri"].endswith("/op/00000000-0000-0000-0000-000000000001")
    assert saved[0]["response"]["body"]["string"] == '{"id": "00000000-0000-0000-0000-000000000002"}'
    assert saved[1]["request"]["uri"].endswith("/op/00000000-0000-0000-0000-000000000002")


def test_timestamps_and_etags_become_fixed_values_of_the_same_shape():
    body = '{"t": "2026-11-26T08:31:19.627Z", "etag": "W/\\"0123456789abcdef0123456789abcdef\\""}'
    saved = _scrub.normalise_interactions([interaction(f"{kit.FAKE_ENDPOINT}/x", body=body)])
    assert saved[0]["response"]["body"]["string"] == (
        '{"t": "2018-05-01T00:00:00.000Z", "etag": "\\"0x8D5AF0000000000\\""}')
    assert saved[0]["response"]["headers"]["Content-Length"] == [str(len(saved[0]["response"]["body"]["string"]))]


def test_a_run_of_identical_successful_polls_keeps_two_and_errors_are_all_kept():
    uri = f"{kit.FAKE_ENDPOINT}/job"
    polls = [interaction(uri, body="running")] * 5 + [interaction(uri, body="done")]
    throttled = [interaction(f"{kit.FAKE_ENDPOINT}/c", status=429, body="slow down")] * 3
    saved = _scrub.normalise_interactions(polls + throttled)
    assert [i["response"]["body"]["string"] for i in saved] == ["running", "running", "done"] + ["slow down"] * 3


def test_a_long_running_operation_keeps_only_its_last_status():
    uri = f"{kit.FAKE_ENDPOINT}/subscriptions/s/providers/p/locations/eastus/operationresults/op"
    saved = _scrub.normalise_interactions([interaction(uri, body="InProgress"), interaction(uri, body="InProgress2"),
                                           interaction(uri, body="Succeeded")])
    assert [i["response"]["body"]["string"] for i in saved] == ["Succeeded"]


def test_the_serializer_refuses_to_write_a_secret_seen_while_recording(scrubber):
    scrubber.secret("storage-key-of-this-recording")
    cassette = {"version": 1, "interactions": [interaction(f"{kit.FAKE_ENDPOINT}/x",
                                                           body="it is storage-key-of-this-recording")]}
    with pytest.raises(kit.SecretInCassette):
        _cassette.SERIALIZER.serialize(cassette)


class FakeCassette:
    """What play_in_order needs of a vcrpy Cassette: recorded (uri, answer) pairs."""

    path = "fake.yaml"

    def __init__(self, recorded):
        self.data = [(uri, answer) for uri, answer in recorded]
        self.play_counts = collections.Counter()
        self.allow_playback_repeats = False

    def _responses(self, request):
        return [(i, answer) for i, (uri, answer) in enumerate(self.data) if uri == request]


def test_replay_gives_a_poll_its_next_answer_only_after_what_was_recorded_before_it():
    cassette = FakeCassette([("GET job", "running"), ("PATCH job", "resized"), ("GET job", "steady")])
    _cassette.play_in_order(cassette)
    play = cassette.play_response
    assert [play("GET job"), play("GET job"), play("PATCH job"), play("GET job"), play("GET job")] == [
        "running", "running", "resized", "steady", "steady"]


def test_the_kept_answer_of_a_run_that_saving_cut_short_is_marked_repeated():
    uri = f"{kit.FAKE_ENDPOINT}/job"
    polls = [interaction(uri, body="running")] * 3 + [interaction(uri, body="done")] * 2
    throttled = [interaction(f"{kit.FAKE_ENDPOINT}/c", status=429, body="slow down")] * 3
    saved = _scrub.normalise_interactions(polls + throttled)
    assert [(i["response"]["body"]["string"], i["response"].get("repeated")) for i in saved] == [
        ("running", None), ("running", True), ("done", None), ("done", None)] + [("slow down", None)] * 3


def test_saving_a_saved_cassette_again_keeps_its_marks():
    uri = f"{kit.FAKE_ENDPOINT}/job"
    saved = _scrub.normalise_interactions([interaction(uri, body="running")] * 4 + [interaction(uri, body="done")])
    assert _scrub.normalise_interactions(json.loads(json.dumps(saved))) == saved
    assert saved[1]["response"]["repeated"] is True
