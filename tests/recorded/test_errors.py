"""What the service's errors become: 404, 409, 400, 401, 403 on storage, 429 with Retry-After."""

from __future__ import annotations

import attrs
import pytest

import batchai_kit as bk
from batchai_kit._waiter import operation_deadline

from .values import WRONG_STORAGE_KEY, WRONG_TOKEN

GROUP, WORKSPACE = "recorded-rg", "recorded-ws"
CLUSTER_PATH = r"/clusters/c1$"


@pytest.fixture
def workspace(batchai_azure):
    with bk.Workspace(batchai_azure, GROUP, WORKSPACE) as ws:
        yield ws


@pytest.fixture
def cluster(workspace):
    share = workspace.file_share("recordederrors")
    with workspace.gpu_cluster("c1", nodes=1, mounts=[share]) as running:
        yield running


def needs_the_emulator(recorder):
    if recorder.mode == "azure":
        pytest.skip("Azure cannot be told to throttle: this cassette is recorded against the emulator")


@pytest.mark.vcr
def test_reading_a_missing_cluster_is_not_found(workspace):
    with pytest.raises(bk.NotFound) as raised:
        workspace.gpu_cluster("nosuchcluster", nodes=1).refresh()
    assert (raised.value.status, raised.value.code) == (404, "ClusterNotFound")
    assert "Reading cluster nosuchcluster failed" in str(raised.value)


@pytest.mark.vcr
def test_attaching_to_a_missing_job_is_not_found(workspace):
    with pytest.raises(bk.NotFound) as raised:
        workspace.experiment("exp1").job("nosuchjob")
    assert (raised.value.status, raised.value.code) == (404, "JobNotFound")


@pytest.mark.vcr
def test_submitting_another_job_under_a_taken_name_is_a_conflict(cluster):
    cluster.submit(bk.CustomJob(name="j1", command="sleep 300"))
    with pytest.raises(bk.Conflict) as raised:
        cluster.submit(bk.CustomJob(name="j1", command="echo something else"))
    assert (raised.value.status, raised.value.code) == (409, "PropertyChangeNotAllowed")


@pytest.mark.vcr
def test_an_unknown_output_directory_is_refused_before_asking(cluster, batchai_recorder):
    job = cluster.submit(bk.CustomJob(name="j1", command="sleep 0.5"))
    batchai_recorder.settle()
    job.wait()
    with pytest.raises(bk.ValidationError) as raised:
        job.files("NOSUCHOUTPUT")  # the job's spec says which ids exist: nothing is sent
    assert (raised.value.field, raised.value.value) == ("directory_id", "NOSUCHOUTPUT")
    assert "use one of stdouterr" in str(raised.value)


@pytest.mark.vcr
def test_a_wrong_token_fails_authentication(batchai_azure):
    azure = attrs.evolve(batchai_azure, credential=bk.StaticTokenCredential(WRONG_TOKEN))
    with pytest.raises(bk.AuthenticationFailed) as raised:
        bk.Workspace(azure, GROUP, WORKSPACE).ensure()
    assert raised.value.status == 401


@pytest.mark.vcr
def test_a_wrong_storage_key_is_refused_by_azure_files(workspace):
    azure = attrs.evolve(workspace.azure, storage_key=WRONG_STORAGE_KEY)
    with pytest.raises(bk.AuthenticationFailed) as raised:
        bk.FileShare(azure, "recordederrors").ensure()
    assert raised.value.status == 403
    assert raised.value.code == "AuthenticationFailed"


@pytest.mark.vcr
def test_a_throttled_read_is_retried_after_the_time_the_service_asks(cluster, batchai_recorder):
    needs_the_emulator(batchai_recorder)
    batchai_recorder.inject_fault(CLUSTER_PATH, times=2, retry_after=1)
    assert cluster.refresh().allocation_state == "steady"


@pytest.mark.vcr
def test_throttling_past_the_deadline_is_a_service_error_carrying_retry_after(cluster, batchai_recorder):
    needs_the_emulator(batchai_recorder)
    # Retry-After 1 s within a 3.5 s deadline: asked at 0, 1, 2 and 3 s, then no time is left.
    batchai_recorder.inject_fault(CLUSTER_PATH, times=4, retry_after=1)
    with operation_deadline(3.5), pytest.raises(bk.ServiceError) as raised:
        cluster.refresh()
    assert (raised.value.status, raised.value.code, raised.value.retry_after) == (429, "TooManyRequests", 1.0)


@pytest.mark.vcr
def test_waiting_rides_out_throttling_by_honouring_retry_after(cluster, batchai_recorder):
    needs_the_emulator(batchai_recorder)
    batchai_recorder.inject_fault(CLUSTER_PATH, times=5, retry_after=1)
    assert cluster.wait_ready().allocation_state == "steady"
