"""The sidecar store keeps the entry rows it wrote last in memory; what it answers is always
what the database holds."""

from __future__ import annotations

import pytest

from batchai_kit.local.files import _store
from batchai_kit.local.files._store import EntryRecord, Fingerprint, PropertiesStore


def _record(number: int) -> EntryRecord:
    return EntryRecord(Fingerprint(number, 10, 1_000 + number), {"content_md5": f"md5-{number}"},
                       {"owner": "me"})


@pytest.fixture
def store(tmp_path):
    opened = PropertiesStore(tmp_path / "properties.sqlite3")
    yield opened
    opened.close()


def test_a_row_written_is_read_back_and_survives_a_new_store(tmp_path, store):
    store.put_entry("data", "dir/f.bin", _record(1))
    assert store.get_entry("data", "dir/f.bin") == _record(1)
    reopened = PropertiesStore(tmp_path / "properties.sqlite3")
    try:
        assert reopened.get_entry("data", "dir/f.bin") == _record(1)
    finally:
        reopened.close()


def test_changing_the_dicts_given_after_the_write_changes_nothing(store):
    record = _record(1)
    store.put_entry("data", "f", record)
    record.content["content_md5"] = "changed"
    record.metadata.clear()
    assert store.get_entry("data", "f") == _record(1)


def test_deleted_rows_and_rows_of_a_deleted_share_are_gone(store):
    store.put_entry("data", "a", _record(1))
    store.put_entry("data", "b", _record(2))
    store.put_entry("other", "a", _record(3))
    store.delete_entry("data", "a")
    assert store.get_entry("data", "a") is None
    store.delete_share("data")
    assert store.get_entry("data", "b") is None
    assert store.get_entry("other", "a") == _record(3)


def test_rows_beyond_the_remembered_ones_come_from_the_database(store, monkeypatch):
    monkeypatch.setattr(_store, "RECENT_ENTRIES", 3)
    for number in range(6):
        store.put_entry("data", f"f{number}", _record(number))
    store.put_entry("data", "f0", _record(10))  # rewritten: the newest now
    assert [store.get_entry("data", f"f{number}") for number in range(6)] == \
        [_record(10), *(_record(number) for number in range(1, 6))]
    assert len(store._recent) == 3
