"""Injected faults (the emulator's ``--faults``) against the library: every request retries until
its operation's deadline, a lost answer never duplicates a resource or runs a job twice, a share
made by a retried create stays ours, and whole flows complete with every byte intact."""

from __future__ import annotations

import collections
import hashlib
import re
import threading
from pathlib import Path

import attrs
import pytest

import batchai_kit as bk
from batchai_kit import quickstart
from batchai_kit._journal import Journal
from batchai_kit.local.arm.timing import Timings
from tests.library.conftest import GROUP, POLL, WORKSPACE, local_files, write_tree

ACCOUNT = "/batchaikitlocal"


class Script:
    """A scripted ``choose(method, path)``: faults for the requests matching its rules, in order."""

    def __init__(self):
        self.rules: list[list] = []
        self.hits: list[tuple[str, str, str]] = []
        self.lock = threading.Lock()

    def add(self, kind: str, method: str, path: str, times: int = 1) -> Script:
        with self.lock:
            self.rules.append([kind, method, re.compile(path), times])
        return self

    def clear(self) -> None:
        with self.lock:
            self.rules.clear()

    def __call__(self, method: str, path: str) -> str | None:
        with self.lock:
            for rule in self.rules:
                kind, wanted, pattern, times = rule
                if times and method == wanted and pattern.search(path):
                    rule[3] -= 1
                    self.hits.append((kind, method, path))
                    return kind
        return None


def start(tmp_path: Path, faults, name: str = "emu", **kwargs) -> bk.Azure:
    return bk.Azure.local(tmp_path / name, timings=Timings.instant(), poll_interval=POLL, faults=faults, **kwargs)


@pytest.fixture
def started(tmp_path):
    azures: list[bk.Azure] = []

    def make(faults, **kwargs):
        azure = start(tmp_path, faults, name=f"emu{len(azures)}", **kwargs)
        azures.append(azure)
        return azure

    yield make
    for azure in azures:
        azure.emulator.stop()


def inventory(azure: bk.Azure) -> collections.Counter:
    """What the emulator holds: ARM resources by kind (not its operation records), and shares."""
    counts = collections.Counter(doc["kind"] for doc in azure.emulator.control.store if doc["kind"] != "operation")
    counts["share"] = len(azure.file_service().list_shares().items)
    return +counts


def md5s(root: Path) -> dict[str, str]:
    return {name: hashlib.md5(data).hexdigest() for name, data in local_files(root).items()}


# --- lost answers ------------------------------------------------------------------------------------


def test_a_lost_answer_to_a_job_put_runs_the_job_once(started, journal):
    script = Script().add("lost", "PUT", r"/jobs/once$")
    azure = started(script)
    with bk.Workspace(azure, GROUP, WORKSPACE, location="eastus", journal=journal) as ws:
        share = ws.file_share("myshare")
        with ws.gpu_cluster("c1", nodes=1, mounts=[share]) as cluster:
            job = cluster.submit(bk.CustomJob(name="once", command="echo ran >> $AZ_BATCHAI_MOUNT_ROOT/myshare/runs.txt"))
            job.wait()
        runs = (azure.emulator.files.share_directory("myshare") / "runs.txt").read_text()
        jobs = ws.experiment("default").jobs()
    assert [hit[0] for hit in script.hits] == ["lost"]  # the fault really happened
    assert runs == "ran\n"
    assert [j.name for j in jobs] == ["once"]


def test_a_lost_answer_to_create_share_leaves_the_share_ours_journaled_and_deleted_by_its_block(started, journal):
    script = Script().add("lost", "PUT", rf"^{ACCOUNT}/ours$")
    azure = started(script)
    with bk.FileShare(azure, "ours", cleanup="delete", journal=journal) as share:
        assert share.created_here
        assert [(a.kind, a.id, a.confirmed) for a in journal.alive()] == [("share", share.url, True)]
    assert [hit[0] for hit in script.hits] == ["lost"]
    assert not azure.file_service().exists("ours")
    assert journal.alive() == []


def test_a_share_another_client_created_meanwhile_is_not_ours(started, journal):
    azure = started(Script())
    share = bk.FileShare(azure, "theirs", cleanup="delete", journal=journal)
    files = share._files()
    real_exists = files.exists

    def exists_after_the_other_client(name, *args, **kwargs):
        azure.emulator.file_service().create_share(name)  # another client, between our look-up and create
        files.exists = real_exists
        return False

    files.exists = exists_after_the_other_client
    with share:
        assert not share.created_here
    assert azure.file_service().exists("theirs")  # not deleted: it was never ours
    assert journal.alive() == []


def test_entering_an_ensured_share_sends_nothing_so_an_outage_then_cannot_leak_it(started, journal):
    script = Script()
    azure = attrs.evolve(started(script), retry_budget=0.5)
    with bk.Workspace(azure, GROUP, WORKSPACE, location="eastus", journal=journal) as ws:
        share = ws.file_share("entered", cleanup="delete")
        script.add("500", "GET", rf"^{ACCOUNT}/", times=1000).add("500", "HEAD", rf"^{ACCOUNT}/", times=1000)
        with share:
            script.clear()
    assert not azure.file_service().exists("entered")
    assert [a.kind for a in journal.alive()] == ["resource_group", "workspace"]


class InterruptedAfterCreatingShares(Journal):
    """A journal whose confirmation of a share is where Ctrl-C lands."""

    def created(self, kind, *args):
        if kind == "share":
            raise KeyboardInterrupt
        return super().created(kind, *args)


def test_a_share_whose_entry_is_interrupted_after_its_create_is_deleted(started, tmp_path):
    azure = started(Script())
    journal = InterruptedAfterCreatingShares(tmp_path / "interrupted.jsonl")
    with pytest.raises(KeyboardInterrupt):
        with bk.FileShare(azure, "interrupted", cleanup="delete", journal=journal):
            pytest.fail("the block must not run")
    assert not azure.file_service().exists("interrupted")
    assert journal.alive() == []


def test_a_lost_answer_to_a_delete_still_deletes(started, journal):
    script = Script().add("lost", "DELETE", r"/clusters/c1$")
    azure = started(script)
    with bk.Workspace(azure, GROUP, WORKSPACE, location="eastus", journal=journal) as ws:
        with ws.gpu_cluster("c1", nodes=1):
            pass
        assert ws.clusters() == []
    assert [hit[0] for hit in script.hits] == ["lost"]
    assert "cluster" not in {a.kind for a in journal.alive()}


# --- throttling and outages -------------------------------------------------------------------------


def test_azure_files_retries_throttling_and_resets(started, tmp_path):
    script = Script().add("429", "PUT", rf"^{ACCOUNT}/files/data/a.bin$", times=3)
    script.add("reset", "GET", rf"^{ACCOUNT}/files/data/a.bin$", times=2)
    azure = started(script)
    share = bk.FileShare(azure, "files", journal=False).ensure()
    source = write_tree(tmp_path / "up", {"a.bin": bytes(range(256)) * 40})
    share.upload(source, "data")
    share.download("data", tmp_path / "down")
    assert local_files(tmp_path / "down") == local_files(source)
    assert collections.Counter(hit[0] for hit in script.hits) == {"429": 3, "reset": 2}


def test_a_lasting_outage_ends_at_the_operations_deadline_with_the_services_error(started):
    script = Script().add("503", "GET", r"/workspaces/ws$", times=10_000)
    azure = started(script)
    with pytest.raises(bk.ServiceError) as raised:
        bk.Workspace(azure, GROUP, WORKSPACE, location="eastus", journal=False, timeout=0.5).ensure()
    assert (raised.value.status, raised.value.code) == (503, "ServiceUnavailable")
    assert len(script.hits) >= 2  # retried, then gave up at the deadline


def test_job_output_downloads_retry_throttling(started, journal, tmp_path):
    script = Script()
    azure = started(script)
    with bk.Workspace(azure, GROUP, WORKSPACE, location="eastus", journal=journal) as ws:
        share = ws.file_share("myshare")
        with ws.gpu_cluster("c1", nodes=1, mounts=[share]) as cluster:
            job = cluster.submit(bk.CustomJob(name="out", command="echo hello", outputs={"OUT": share / "out"}))
            job.wait()
            script.add("429", "GET", r"/stdouterr/stdout\.txt$", times=3).add("503", "GET", r"/stdout\.txt$", times=1)
            job.download("stdouterr", tmp_path / "logs")
    assert (tmp_path / "logs" / "stdout.txt").read_text() == "hello\n"
    assert len(script.hits) == 4


# --- whole flows under random faults -----------------------------------------------------------------


def test_a_flow_completes_under_20_percent_faults_with_every_file_intact_and_nothing_left(started, journal,
                                                                                         tmp_path):
    azure = started("all=0.2,slow=0.02,delay=0.05,seed=20")
    files = {f"f{i}.bin": hashlib.sha256(str(i).encode()).digest() * (i * 50) for i in range(12)}
    source = write_tree(tmp_path / "up", {**files, "sub/deep.txt": b"deep\n"})
    with bk.Workspace(azure, GROUP, WORKSPACE, location="eastus", cleanup="delete", journal=journal) as ws:
        share = ws.file_share("myshare", cleanup="delete")
        with share:
            share.upload(source, "data")
            with ws.gpu_cluster("c1", nodes=1, mounts=[share]) as cluster:
                job = cluster.submit(bk.CustomJob(
                    name="copy", inputs={"DATA": share / "data"}, outputs={"OUT": share / "out"},
                    command="cp -r $AZ_BATCHAI_INPUT_DATA/. $AZ_BATCHAI_OUTPUT_OUT/ && echo copied"))
                job.wait(stream="stdout.txt")
                job.download("OUT", tmp_path / "outputs")
                jobs = ws.experiment("default").jobs()
            share.download("data", tmp_path / "down")
            during = inventory(azure)
    injected = azure.emulator.fault_injector.counts
    assert sum(injected.values()) >= 10, injected  # the faults were really there
    assert md5s(tmp_path / "down") == md5s(source)
    assert md5s(tmp_path / "outputs") == md5s(source)
    assert [j.name for j in jobs] == ["copy"]
    assert (during["resourcegroup"], during["workspace"], during["share"]) == (1, 1, 1)
    assert inventory(azure) == collections.Counter()
    assert journal.alive() == []


def test_the_quickstart_completes_under_20_percent_faults(started, tmp_path, cntk_runtime, kit_home, monkeypatch):
    monkeypatch.setenv("BATCHAI_KIT_CNTK_RUNTIME", str(cntk_runtime.prefix))
    azure = started("all=0.2,seed=7")
    result = quickstart.run(azure, tmp_path / "work", epochs=1, train_count=200, test_count=100, keep=True)
    assert result.model is not None and result.test_error is not None
    sample = tmp_path / "work" / "sample"
    on_share = azure.emulator.files.share_directory(quickstart.SHARE)
    assert md5s(on_share / quickstart.SAMPLE_DIR) == md5s(sample)
    # outputs sit below the job's own path segment (.../outputs/Models/) on the share
    models = {Path(name).name: md5 for name, md5 in md5s(on_share).items() if name.endswith(".dnn")}
    assert md5s(result.model.parent) == models != {}
    assert inventory(azure) == collections.Counter(
        {"resourcegroup": 1, "workspace": 1, "experiment": 1, "job": 1, "share": 1})
    assert sum(azure.emulator.fault_injector.counts.values()) >= 5
