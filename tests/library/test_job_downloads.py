"""Downloading job outputs through SAS links: failures are the library's errors, never the link."""

import pytest
import requests

import batchai_kit as bk
from batchai_kit._job import _fetch
from batchai_kit._waiter import TransientRetry


def test_a_refused_connection_is_connection_failed_without_the_sas_token():
    with pytest.raises(bk.ConnectionFailed) as caught:
        _fetch(requests.Session(), "https://127.0.0.1:1/share/f.txt?sv=2019-02-02&sig=FAKESIGNATURE%3D",
               "f.txt of job j", retry=TransientRetry(budget_s=0.2, initial=0.05))
    assert "FAKESIGNATURE" not in str(caught.value)
    assert "Downloading f.txt of job j failed" in str(caught.value)


def test_a_tampered_link_is_a_service_error_with_the_storage_code(workspace, share):
    with workspace.gpu_cluster("c1", mounts=[share]) as cluster:
        job = cluster.submit(bk.CustomJob(name="j", command="echo hi"))
        job.wait(timeout=60)
        url = next(f.url for f in job.files() if f.name == "stdout.txt")
    tampered = url.replace("sig=", "sig=AAAA")
    with pytest.raises(bk.ServiceError) as caught:
        _fetch(workspace.azure.http_session(), tampered, "stdout.txt of job j", retry=workspace.azure.retry())
    assert (caught.value.status, caught.value.code) == (403, "AuthenticationFailed")
    assert "AAAA" not in str(caught.value)
