"""The journal of created resources: intents, confirmations, deletes, several processes, kills."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from batchai_kit._journal import HOME_ENV, Journal, clean_endpoint, default_path
from batchai_kit.errors import ValidationError

ARM = "https://management.azure.com"
WS = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.BatchAI/workspaces/ws"
CLUSTER = WS + "/clusters/c1"
JOB = WS + "/experiments/e/jobs/j1"


@pytest.fixture
def journal(tmp_path):
    return Journal(tmp_path / "journal.jsonl")


def alive_ids(journal):
    return [r.id for r in journal.alive()]


def test_default_path_is_under_batchai_kit_home(monkeypatch, tmp_path):
    monkeypatch.setenv(HOME_ENV, str(tmp_path))
    assert default_path() == tmp_path / "journal.jsonl"


def test_each_record_is_one_json_line_with_time_action_kind_id_endpoint_pid(journal):
    journal.intent("cluster", CLUSTER, ARM)
    record = json.loads(journal.path.read_text())
    assert record.keys() == {"time", "action", "kind", "id", "endpoint", "pid"}
    assert (record["action"], record["kind"], record["id"], record["pid"]) == (
        "creating",
        "cluster",
        CLUSTER,
        os.getpid(),
    )


def test_created_resource_is_alive_and_confirmed(journal):
    with journal.creating("cluster", CLUSTER, ARM):
        pass
    [resource] = journal.alive()
    assert (resource.id, resource.kind, resource.confirmed) == (CLUSTER, "cluster", True)


def test_deleted_resource_is_not_alive(journal):
    with journal.creating("cluster", CLUSTER, ARM):
        pass
    journal.deleted("cluster", CLUSTER, ARM)
    assert journal.alive() == []


def test_intent_without_confirmation_is_alive_unconfirmed(journal):
    journal.intent("job", JOB, ARM)
    [resource] = journal.alive()
    assert resource.confirmed is False


def test_create_that_raises_leaves_the_intent(journal):
    with pytest.raises(RuntimeError), journal.creating("cluster", CLUSTER, ARM):
        raise RuntimeError("connection reset after the PUT was sent")
    assert [(r.id, r.confirmed) for r in journal.alive()] == [(CLUSTER, False)]


def test_deleting_a_parent_deletes_its_children(journal):
    for kind, rid in (("workspace", WS), ("cluster", CLUSTER), ("job", JOB)):
        with journal.creating(kind, rid, ARM):
            pass
    journal.deleted("workspace", WS, ARM)
    assert journal.alive() == []


def test_ids_match_case_insensitively(journal):
    with journal.creating("cluster", CLUSTER, ARM):
        pass
    journal.deleted("cluster", CLUSTER.upper(), ARM)
    assert journal.alive() == []


def test_same_id_at_another_endpoint_is_another_resource(journal):
    with journal.creating("cluster", CLUSTER, ARM):
        pass
    journal.deleted("cluster", CLUSTER, "https://127.0.0.1:8443")
    assert alive_ids(journal) == [CLUSTER]


def test_endpoint_is_stored_without_credentials_or_query(journal):
    journal.intent("share", "myshare", "https://user:pw@myaccount.file.core.windows.net/?sig=SECRET")
    assert journal.path.read_text().count("SECRET") == 0
    assert journal.alive()[0].endpoint == "https://myaccount.file.core.windows.net"


def test_clean_endpoint_keeps_port_and_path():
    assert clean_endpoint("https://127.0.0.1:8443/devaccount/") == "https://127.0.0.1:8443/devaccount"


def test_unknown_kind_is_refused(journal):
    with pytest.raises(ValidationError):
        journal.intent("virtual_machine", "/x", ARM)


def test_missing_journal_has_nothing_alive(journal):
    assert journal.alive() == []


def test_torn_last_line_is_skipped(journal):
    with journal.creating("cluster", CLUSTER, ARM):
        pass
    with open(journal.path, "ab") as f:
        f.write(b'{"time": "2018-06-01T00:00:00Z", "action": "dele')
    assert alive_ids(journal) == [CLUSTER]


def test_compact_keeps_only_what_is_alive(journal):
    for n in range(5):
        with journal.creating("job", f"{JOB}{n}", ARM):
            pass
        if n != 3:
            journal.deleted("job", f"{JOB}{n}", ARM)
    before = journal.alive()
    dropped = journal.compact()
    assert journal.alive() == before
    assert dropped == 14 - 2 and len(journal.path.read_text().splitlines()) == 2


def test_compact_keeps_unconfirmed_intents_unconfirmed(journal):
    journal.intent("cluster", CLUSTER, ARM)
    journal.compact()
    assert [r.confirmed for r in journal.alive()] == [False]


def run_python(code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args], capture_output=True, text=True, timeout=120
    )


def test_writers_in_several_processes_lose_and_tear_no_line(journal):
    writer = """
        import sys
        from batchai_kit._journal import Journal
        journal = Journal(sys.argv[1])
        for n in range(50):
            journal.intent("job", f"/jobs/{sys.argv[2]}-{n}", "https://management.azure.com")
    """
    procs = [
        subprocess.Popen([sys.executable, "-c", textwrap.dedent(writer), str(journal.path), str(p)])
        for p in range(4)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    lines = journal.path.read_text().splitlines()
    assert len(lines) == 200 and all(json.loads(line)["action"] == "creating" for line in lines)
    assert len({r.id for r in journal.alive()}) == 200


def test_intent_survives_a_kill_before_confirmation(journal):
    killed = run_python(
        """
        import os, signal, sys
        from batchai_kit._journal import Journal
        Journal(sys.argv[1]).intent("cluster", sys.argv[2], "https://management.azure.com")
        os.kill(os.getpid(), signal.SIGKILL)  # dies where the create request would be sent
        """,
        str(journal.path),
        CLUSTER,
    )
    assert killed.returncode == -9
    [resource] = journal.alive()
    assert (resource.id, resource.confirmed) == (CLUSTER, False) and resource.pid != os.getpid()


def test_another_process_sees_what_this_one_recorded(journal):
    with journal.creating("workspace", WS, ARM):
        pass
    seen = run_python(
        "import sys; from batchai_kit._journal import Journal; "
        "print([r.id for r in Journal(sys.argv[1]).alive()])",
        str(journal.path),
    )
    assert seen.stdout.strip() == repr([WS])


def test_compact_while_another_process_writes_loses_nothing(journal):
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys\nfrom batchai_kit._journal import Journal\nj = Journal(sys.argv[1])\n"
            "for n in range(300):\n    j.intent('job', f'/jobs/{n}', 'https://management.azure.com')\n",
            str(journal.path),
        ]
    )
    while writer.poll() is None:
        journal.compact()
    assert writer.returncode == 0
    assert len(journal.alive()) == 300
