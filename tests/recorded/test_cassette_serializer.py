"""How a cassette is written and read back (batchai_kit.testing's serializer), and what is
registered with vcrpy: the YAML a reviewer reads, byte for byte."""

from __future__ import annotations

import pytest
import vcr

import batchai_kit.testing as kit
from batchai_kit.testing import _cassette, _scrub

LONG = "x" * 106 + " tail"  # as a status message: folded at 120 columns, not at 121
WORDS = "word " * 19 + "end"  # 98 characters: folded at 80 columns, not at 120

CASSETTE = {"version": 1, "interactions": [
    {"request": {"method": "PUT", "uri": "https://batchai-kit.emulator/jobs/j1", "body": '{"b":2,"a":1}',
                 "headers": {"x-ms-version": ["2019-02-02"], "Content-Type": ["application/json"],
                             "Accept": ["*/*"]}},
     "response": {"status": {"code": 200, "message": "OK"},
                  "headers": {"x-ms-aa": ["2"], "x-ms-a_b": ["1"], "Content-Type": ["application/json; charset=utf-8"],
                              "content-length": ["99"]},
                  "body": {"string": '{"name":"caf\u00e9","n":[1,2]}'}}},
    {"request": {"method": "GET", "uri": "https://batchai-kit.emulator/share/log.txt", "body": None, "headers": {}},
     "response": {"status": {"code": 200, "message": LONG},
                  "headers": {"Content-Type": ["text/plain"]},
                  "body": {"string": '{"a":1}\nd\u00e9j\u00e0 vu\n'}}},
    {"request": {"method": "GET", "uri": "https://batchai-kit.emulator/share/list.txt", "body": None, "headers": {}},
     "response": {"status": {"code": 200, "message": WORDS},
                  "headers": {"Content-Type": ["text/plain"]},
                  "body": {"string": '[1,2]'}}},
]}

SAVED = """\
version: 1
interactions:
- request:
    method: PUT
    uri: https://batchai-kit.emulator/jobs/j1
    body: |
      {
        "b": 2,
        "a": 1
      }
    headers:
      Accept:
      - '*/*'
      Content-Type:
      - application/json
      x-ms-version:
      - '2019-02-02'
  response:
    status:
      code: 200
      message: OK
    headers:
      content-length:
      - '53'
      Content-Type:
      - application/json; charset=utf-8
      x-ms-a_b:
      - '1'
      x-ms-aa:
      - '2'
    body:
      string: |
        {
          "name": "caf\\u00e9",
          "n": [
            1,
            2
          ]
        }
- request:
    method: GET
    uri: https://batchai-kit.emulator/share/log.txt
    body: null
    headers: {}
  response:
    status:
      code: 200
      message: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
        tail
    headers:
      Content-Type:
      - text/plain
    body:
      string: |
        {"a":1}
        d\u00e9j\u00e0 vu
- request:
    method: GET
    uri: https://batchai-kit.emulator/share/list.txt
    body: null
    headers: {}
  response:
    status:
      code: 200
      message: word word word word word word word word word word word word word word word word word word word end
    headers:
      Content-Type:
      - text/plain
    body:
      string: '[1,2]'
"""


def test_a_cassette_is_saved_as_readable_yaml_with_json_bodies_indented_and_headers_sorted():
    # JSON bodies (by their Content-Type) indented, other bodies as sent, multi-line strings as
    # blocks, non-ASCII kept, headers in case-insensitive order, Content-Length following the body.
    assert _cassette.SERIALIZER.serialize(CASSETTE) == SAVED


def test_a_saved_cassette_reads_back_as_saved():
    loaded = _cassette.SERIALIZER.deserialize(SAVED)
    assert loaded["version"] == 1
    assert [i["request"]["uri"] for i in loaded["interactions"]] == [
        "https://batchai-kit.emulator/jobs/j1", "https://batchai-kit.emulator/share/log.txt",
        "https://batchai-kit.emulator/share/list.txt"]
    assert loaded["interactions"][1]["response"]["body"]["string"] == '{"a":1}\nd\u00e9j\u00e0 vu\n'
    assert _cassette.SERIALIZER.serialize(loaded) == SAVED


def test_a_cassette_without_interactions_is_saved_with_an_empty_list():
    assert _cassette.SERIALIZER.serialize({"version": 1}) == "version: 1\ninteractions: []\n"


def test_an_empty_or_non_json_body_is_left_alone():
    cassette = {"interactions": [{
        "request": {"body": "", "headers": {"Content-Type": "application/json"}, "method": "POST", "uri": "u"},
        "response": {"status": {"code": 200, "message": "OK"}, "headers": {"content-type": ["application/json"]},
                     "body": {"string": "not json"}}}]}
    saved = _cassette.SERIALIZER.deserialize(_cassette.SERIALIZER.serialize(cassette))["interactions"][0]
    assert saved["request"]["body"] == ""
    assert saved["response"]["body"]["string"] == "not json"


def test_the_serializer_names_the_fix_when_it_refuses_a_secret(monkeypatch):
    fresh = _scrub.Scrubber()
    monkeypatch.setattr(_cassette, "SCRUBBER", fresh)
    fresh.secret("storage-key-of-this-recording")
    cassette = {"interactions": [{"request": {"body": None, "headers": {}, "method": "GET", "uri": "u"},
                                  "response": {"status": {"code": 200, "message": "OK"}, "headers": {},
                                               "body": {"string": "storage-key-of-this-recording"}}}]}
    with pytest.raises(kit.SecretInCassette) as raised:
        _cassette.SERIALIZER.serialize(cassette)
    assert str(raised.value) == (
        "refusing to write a cassette that holds a secret value used while recording (a token, storage key or "
        "password): add a scrubber for it (batchai_kit.testing.SCRUBBER.secret(...))")


def test_register_gives_vcrpy_the_serializer_and_both_matchers():
    recorder = vcr.VCR()
    _cassette.register(recorder)
    assert recorder.serializers[kit.SERIALIZER_NAME] is _cassette.SERIALIZER
    assert recorder.matchers[kit.MATCH_BODY] is _cassette.match_body
    assert recorder.matchers[kit.MATCH_RANGE] is _cassette.match_range
    assert (kit.SERIALIZER_NAME, kit.MATCH_BODY, kit.MATCH_RANGE) == ("batchai.yaml", "batchai_body", "batchai_range")
