"""Strict replay catches what lenient replay let through: each recorded test below is run, unmodified,
in a pytest session of its own (pytester) against its own cassette, once as it is (it passes) and
once with a small change to the library applied by monkeypatch (the replay fails, saying why).

The three changes are the ones an audit measured passing the whole lenient cassette suite: an
extra GET to a recorded URL, a cluster block that no longer terminates its running jobs, and
``GpuCluster.delete()`` no longer waiting on its poller.
"""

from __future__ import annotations

import shutil
import sys
import textwrap
from pathlib import Path

import pytest

pytest_plugins = ("pytester",)

HERE = Path(__file__).resolve().parent
CASSETTES = HERE.parents[0] / "cassettes"

CONFTEST = '''
import pytest
import batchai_kit as bk
import batchai_kit.testing
from batchai_kit._cluster import GpuCluster
from batchai_kit._job import Job


@pytest.fixture
def vcr_config():
    return batchai_kit.testing.vcr_config()


@pytest.fixture(scope="module")
def vcr_cassette_dir(request):
    return {cassettes!r} + "/" + request.node.path.stem


@pytest.fixture(autouse=True)
def library_change(monkeypatch):
{patch}
'''

# Each change as the body of an autouse fixture (``monkeypatch`` is in scope).
UNCHANGED = "pass"

EXTRA_GET = '''
original = GpuCluster.remote_logins
def remote_logins(self):
    self.refresh()  # one GET of the cluster more than the recording sent
    return original(self)
monkeypatch.setattr(GpuCluster, "remote_logins", remote_logins)
'''

NO_TERMINATION = '''
def cleanup(self, failed):  # GpuCluster._cleanup without its "terminate the running jobs" loop
    if self.created_here and self.cleanup == "delete":
        self.delete()
monkeypatch.setattr(GpuCluster, "_cleanup", cleanup)
'''

DELETE_WITHOUT_WAITING = '''
original = GpuCluster.delete
monkeypatch.setattr(GpuCluster, "delete", lambda self, wait=True: original(self, wait=False))
'''


@pytest.fixture
def pytester(pytester, monkeypatch):
    """pytester, whose in-process sessions keep what they import, but for the replayed tests.

    pytester drops every module a session imported once it ends; the next session then imports
    some of them again while the modules kept from before still hold the old ones (the SDKs' HTTP
    stack is imported lazily), and vcrpy's patches miss the requests. Keeping them, as one pytest
    run would, makes each session see one consistent set of modules.
    """
    from _pytest import pytester as pytester_module

    def restore(snapshot):
        for name in [name for name in sys.modules if name.split(".")[0] == "replayed"]:
            del sys.modules[name]

    monkeypatch.setattr(pytester_module.SysModulesSnapshot, "restore", restore)
    return pytester


def replay(pytester: pytest.Pytester, module: str, test: str, patch: str, *, lenient: bool = False):
    """Run tests/recorded/<module>.py::<test> in a fresh pytest session with ``patch`` applied."""
    package = pytester.path / "replayed"
    package.mkdir()
    (package / "__init__.py").write_text("")
    shutil.copy(HERE / "values.py", package / "values.py")
    source = (HERE / f"{module}.py").read_text()
    if lenient:
        source = source.replace("@pytest.mark.vcr\ndef " + test,
                                "@pytest.mark.vcr\n@pytest.mark.batchai_lenient_replay\ndef " + test)
        assert "batchai_lenient_replay" in source
    (package / f"{module}.py").write_text(source)
    (package / "conftest.py").write_text(CONFTEST.format(
        cassettes=str(CASSETTES), patch=textwrap.indent(textwrap.dedent(patch).strip(), "    ")))
    return pytester.runpytest_inprocess(f"replayed/{module}.py::{test}", "-p", "no:cacheprovider",
                                        "-p", "no:randomly", "--import-mode=importlib")


CASES = {
    "extra GET": ("test_cluster", "test_a_cluster_block_creates_waits_until_ready_and_deletes", EXTRA_GET),
    "no termination": ("test_jobs", "test_a_job_left_running_is_terminated_when_its_cluster_block_ends",
                       NO_TERMINATION),
    "delete without waiting": ("test_cluster", "test_delete_removes_a_kept_cluster", DELETE_WITHOUT_WAITING),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_recorded_test_passes_without_the_change(pytester, case):
    module, test, _ = CASES[case]
    replay(pytester, module, test, UNCHANGED).assert_outcomes(passed=1)


def test_an_extra_get_to_a_recorded_url_fails_replay(pytester):
    result = replay(pytester, *CASES["extra GET"])
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*ReplayMismatch*request 5 of 5 to */clusters/c1 was recorded as DELETE */clusters/c1?api-version=2018-05-01,"
        " and the code sent GET */clusters/c1?api-version=2018-05-01 (differs in method*"])


def test_a_cluster_block_that_no_longer_terminates_its_jobs_fails_replay(pytester):
    result = replay(pytester, *CASES["no termination"])
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines([
        "*strict replay: The cassette * holds 4 interaction(s) the test did not play*",
        "*#22: POST */jobs/j1/terminate?api-version=2018-05-01",
        "*#23: GET */operationresults/*",
        "*#24: GET */operationstatuses/*",
        "*#27: GET */jobs/j1?api-version=2018-05-01"])


def test_a_cluster_delete_that_no_longer_waits_on_its_poller_fails_replay(pytester):
    result = replay(pytester, *CASES["delete without waiting"])
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines([
        "*strict replay: The cassette * holds 1 interaction(s) the test did not play*",
        "*GET */operationresults/*"])


def test_the_lenient_marker_lets_an_extra_get_replay(pytester):
    module, test, patch = CASES["extra GET"]
    replay(pytester, module, test, patch, lenient=True).assert_outcomes(passed=1)


def test_the_lenient_marker_lets_interactions_go_unplayed(pytester):
    module, test, patch = CASES["no termination"]
    replay(pytester, module, test, patch, lenient=True).assert_outcomes(passed=1)
