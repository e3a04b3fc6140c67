"""The error hierarchy and the mapping of the Azure SDKs' exceptions onto it.

SDK exceptions are produced by the real SDK clients (azure-mgmt-batchai over a canned azure-core
transport, azure-storage-file over a canned requests adapter), exactly as they would be raised.
"""

from __future__ import annotations

import traceback

import pytest
import requests
from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError
from azure.mgmt.batchai import BatchAI
from azure.storage.common.retry import no_retry
from azure.storage.file import FileService

from batchai_kit.errors import (
    AuthenticationFailed,
    BatchAIKitError,
    Conflict,
    ConnectionFailed,
    ErrorDetail,
    JobFailed,
    NodesUnusable,
    NotFound,
    ProvisioningFailed,
    QuotaExceeded,
    ServiceError,
    Timeout,
    ValidationError,
    error_details,
    from_azure_error,
    scrub_secrets,
)

from . import CannedTransport, FakeCredential

SUB = "00000000-0000-0000-0000-000000000001"
ACCOUNT_KEY = "c2VjcmV0LXN0b3JhZ2Uta2V5LWZvci10ZXN0cw=="


def batchai_error(*answers) -> Exception:
    client = BatchAI(
        FakeCredential(), SUB, transport=CannedTransport(*answers), retry_total=0, polling_interval=0
    )
    with pytest.raises(Exception) as caught:
        client.clusters.get("rg", "ws", "mycluster")
    return caught.value


def arm_error(status, code, message, headers=None) -> Exception:
    return batchai_error((status, {"error": {"code": code, "message": message}}, headers or {}))


# --- azure-core / azure-mgmt ---------------------------------------------------------------------


def test_404_maps_to_not_found_with_code_message_and_status():
    error = from_azure_error(
        arm_error(404, "ClusterNotFound", "The specified cluster mycluster is not found")
    )
    assert isinstance(error, NotFound)
    assert (error.code, error.status) == ("ClusterNotFound", 404)
    assert error.message == "The specified cluster mycluster is not found"


def test_mapped_error_keeps_the_sdk_exception_as_cause():
    original = arm_error(404, "ClusterNotFound", "not found")
    assert from_azure_error(original).__cause__ is original


def test_409_maps_to_conflict():
    error = from_azure_error(arm_error(409, "ConflictingOperation", "Another operation is in progress"))
    assert isinstance(error, Conflict)


def test_401_maps_to_authentication_failed():
    error = from_azure_error(arm_error(401, "InvalidAuthenticationToken", "The access token is invalid."))
    assert isinstance(error, AuthenticationFailed)


def test_403_authorization_failed_maps_to_authentication_failed():
    error = from_azure_error(arm_error(403, "AuthorizationFailed", "The client does not have authorization"))
    assert isinstance(error, AuthenticationFailed) and error.status == 403


def test_quota_code_maps_to_quota_exceeded():
    error = from_azure_error(arm_error(400, "QuotaExceeded", "Cluster quota of 20 reached in eastus"))
    assert isinstance(error, QuotaExceeded)


def test_operation_not_allowed_about_quota_maps_to_quota_exceeded():
    message = "Operation results in exceeding quota limits of Core. Maximum allowed: 10, Current in use: 8"
    assert isinstance(from_azure_error(arm_error(409, "OperationNotAllowed", message)), QuotaExceeded)


def test_server_error_maps_to_plain_service_error():
    error = from_azure_error(arm_error(500, "InternalServerError", "Something went wrong"))
    assert type(error) is ServiceError and error.status == 500


def test_retry_after_header_is_carried():
    error = from_azure_error(arm_error(429, "TooManyRequests", "Slow down", {"Retry-After": "7"}))
    assert error.retry_after == 7.0


def test_failed_long_running_operation_maps_to_provisioning_failed():
    operation = (
        "https://management.azure.com/subscriptions/s/providers/Microsoft.BatchAI/locations/eastus/"
        "operationresults/1?api-version=2018-05-01"
    )
    client = BatchAI(
        FakeCredential(),
        SUB,
        transport=CannedTransport(
            (202, b"", {"Azure-AsyncOperation": operation, "Location": operation}),
            (
                200,
                {
                    "status": "Failed",
                    "error": {"code": "InvalidVmSize", "message": "VM size STANDARD_X is not supported"},
                },
            ),
        ),
        retry_total=0,
        polling_interval=0,
    )
    poller = client.workspaces.begin_create("rg", "ws", {"location": "eastus"})
    with pytest.raises(Exception) as caught:
        poller.result()
    error = from_azure_error(caught.value)
    assert isinstance(error, ProvisioningFailed)
    assert error.errors == [ErrorDetail("InvalidVmSize", "VM size STANDARD_X is not supported")]


def test_action_prefixes_the_message():
    error = from_azure_error(arm_error(404, "ClusterNotFound", "gone"), action="Resizing cluster mycluster")
    assert str(error).startswith("Resizing cluster mycluster failed: gone")


def test_message_names_code_status_and_what_to_do():
    text = str(from_azure_error(arm_error(404, "ClusterNotFound", "gone")))
    assert "ClusterNotFound" in text and "HTTP 404" in text and "create it first" in text


def test_identity_token_failure_maps_to_authentication_failed():
    error = from_azure_error(ClientAuthenticationError("AADSTS7000215: Invalid client secret provided."))
    assert isinstance(error, AuthenticationFailed) and error.status is None


def test_request_that_never_reached_azure_maps_to_connection_failed():
    error = from_azure_error(ServiceRequestError("Failed to establish a new connection: [Errno 111]"))
    assert isinstance(error, ConnectionFailed)


def test_a_batchai_kit_error_maps_to_itself():
    error = NotFound("gone")
    assert from_azure_error(error) is error


def test_non_azure_exception_is_refused():
    with pytest.raises(TypeError):
        from_azure_error(KeyError("x"))


# --- azure-storage-file ------------------------------------------------------------------------


class CannedAdapter(requests.adapters.BaseAdapter):
    """A requests adapter answering every request with one canned response (or raising)."""

    def __init__(self, status=200, body=b"", headers=None, raises=None):
        super().__init__()
        self.status, self.body, self.headers, self.raises = status, body, headers or {}, raises

    def send(self, request, **kwargs):
        if self.raises is not None:
            raise self.raises
        response = requests.Response()
        response.status_code = self.status
        response.reason = requests.status_codes._codes[self.status][0].replace("_", " ").title()
        response.headers.update(self.headers)
        response._content = self.body
        response.url = request.url
        response.request = request
        return response

    def close(self):
        pass


def file_service(adapter, key=ACCOUNT_KEY) -> FileService:
    session = requests.Session()
    session.mount("https://", adapter)
    service = FileService(account_name="myaccount", account_key=key, request_session=session)
    service.retry = no_retry
    return service


def storage_error_body(code, message):
    return (
        f'\ufeff<?xml version="1.0" encoding="utf-8"?><Error><Code>{code}</Code><Message>{message}\n'
        "RequestId:5c6a4b6e-001a-0001-0000-000000000000\nTime:2018-06-01T12:00:00.0000000Z</Message></Error>"
    ).encode()


def storage_error(status, code, message, call=lambda s: s.get_share_properties("myshare")) -> Exception:
    adapter = CannedAdapter(status, storage_error_body(code, message), {"x-ms-error-code": code})
    with pytest.raises(Exception) as caught:
        call(file_service(adapter))
    return caught.value


def test_missing_share_maps_to_not_found_with_service_code():
    error = from_azure_error(storage_error(404, "ShareNotFound", "The specified share does not exist."))
    assert isinstance(error, NotFound)
    assert (error.code, error.status, error.message) == (
        "ShareNotFound",
        404,
        "The specified share does not exist.",
    )


def test_existing_share_maps_to_conflict():
    call = lambda s: s.create_share("myshare", fail_on_exist=True)  # noqa: E731
    error = from_azure_error(
        storage_error(409, "ShareAlreadyExists", "The specified share already exists.", call)
    )
    assert isinstance(error, Conflict) and error.code == "ShareAlreadyExists"


def test_refused_signature_maps_to_authentication_failed():
    message = (
        "Server failed to authenticate the request. Make sure the value of Authorization header is "
        "formed correctly including the signature."
    )
    error = from_azure_error(storage_error(403, "AuthenticationFailed", message))
    assert isinstance(error, AuthenticationFailed)


def test_unusable_account_key_maps_to_authentication_failed():
    with pytest.raises(Exception) as caught:
        file_service(CannedAdapter(), key="not base64!").get_share_properties("myshare")
    assert isinstance(from_azure_error(caught.value), AuthenticationFailed)


def test_storage_connection_error_maps_to_connection_failed():
    refused = requests.ConnectionError("Max retries exceeded with url: /myshare?restype=share")
    with pytest.raises(Exception) as caught:
        file_service(CannedAdapter(raises=refused)).get_share_properties("myshare")
    assert isinstance(from_azure_error(caught.value), ConnectionFailed)


def test_sas_signature_in_sdk_error_text_appears_nowhere():
    leak = requests.ConnectionError(
        "HTTPSConnectionPool(host='myaccount.file.core.windows.net', port=443): Max retries exceeded "
        "with url: /myshare/model.dnn?sv=2019-02-02&sr=f&sp=rl&sig=FAKESIGNATURE%3D"
    )
    with pytest.raises(Exception) as caught:
        file_service(CannedAdapter(raises=leak)).get_share_properties("myshare")
    error = from_azure_error(caught.value)
    shown = "".join(traceback.format_exception(error))
    assert "FAKESIGNATURE" not in shown and "sig=REDACTED" in shown


# --- scrubbing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, secret",
    [
        ("https://a.file.core.windows.net/s/f.txt?sv=2019-02-02&sig=abc%2Bdef%3D&sp=r", "abc%2Bdef%3D"),
        ("DefaultEndpointsProtocol=https;AccountName=a;AccountKey=a2V5a2V5==;", "a2V5a2V5=="),
        ("{'Authorization': 'SharedKey myaccount:c2lnbmF0dXJl'}", "c2lnbmF0dXJl"),
        ("Authorization: Bearer abc.def.ghi", "abc.def.ghi"),
        ("token eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwcyJ9.c2lnbmF0dXJl", "eyJhdWQiOiJodHRwcyJ9"),
        ("client_secret=s3cr3t&grant_type=client_credentials", "s3cr3t"),
        ('{"adminUserPassword": "Pa55word!"}', "Pa55word!"),
    ],
)
def test_scrub_removes_secret(text, secret):
    assert secret not in scrub_secrets(text)


def test_scrub_keeps_ordinary_text():
    text = "The specified share does not exist. RequestId:5c6a"
    assert scrub_secrets(text) == text


# --- the library's own errors --------------------------------------------------------------------


def test_every_error_is_a_batchai_kit_error():
    for cls in (
        ValidationError,
        ServiceError,
        NotFound,
        Conflict,
        QuotaExceeded,
        AuthenticationFailed,
        ProvisioningFailed,
        ConnectionFailed,
        NodesUnusable,
        JobFailed,
        Timeout,
    ):
        assert issubclass(cls, BatchAIKitError)


def test_validation_error_names_value_and_rule():
    error = ValidationError("cluster name", "my cluster", "may contain only letters")
    assert str(error) == "cluster name='my cluster': may contain only letters"


def test_secret_validation_error_hides_the_value():
    error = ValidationError("storage_key", "hunter2", "must be base64", secret=True)
    assert "hunter2" not in str(error) and error.value == "<redacted>"


def test_job_failed_carries_exit_code_error_codes_and_stderr_tail():
    error = JobFailed(
        "myjob",
        exit_code=1,
        errors=error_details([{"code": "JobFailed", "message": "Job failed with non-zero exit code"}]),
        stderr_tail="Traceback...\nZeroDivisionError: division by zero\n",
    )
    assert (error.exit_code, error.error_codes) == (1, ["JobFailed"])
    assert "exit code 1" in str(error) and "ZeroDivisionError" in str(error)


def test_job_failed_without_an_exit_code_says_what_the_service_said_not_a_guess():
    # No exit code does not mean it never ran: a terminated job, or one an emulator crash lost,
    # ran for a while; the service's own errors say which.
    error = JobFailed("myjob", errors=[ErrorDetail("JobPreparationFailed", "mount failed")])
    assert error.exit_code is None
    assert "before running" not in str(error)
    assert str(error).startswith("Job myjob failed without an exit code (JobPreparationFailed: mount failed)")


def test_job_failed_that_an_emulator_crash_lost_says_what_is_known():
    lost = ("The emulator stopped without a clean shutdown (it was killed or crashed) while this job was "
            "running. On restart the job's process (pid 42) had ended, but its exit code was not recorded")
    error = JobFailed("myjob", errors=[ErrorDetail("JobProcessesLost", lost)])
    assert "before running" not in str(error) and lost in str(error)


def test_nodes_unusable_names_cluster_and_count():
    error = NodesUnusable("mycluster", 2, [ErrorDetail("SetupTaskFailed", "exit code 1")])
    assert "mycluster" in str(error) and "2 node(s) unusable" in str(error)


def test_timeout_says_what_how_long_and_last_state():
    error = Timeout("cluster mycluster to be steady", waited=600.2, deadline=600, last_state="resizing")
    assert (error.what, error.waited, error.deadline, error.last_state) == (
        "cluster mycluster to be steady",
        600.2,
        600,
        "resizing",
    )
    assert (
        "cluster mycluster to be steady" in str(error)
        and "600.2 s" in str(error)
        and "resizing" in str(error)
    )


def test_error_details_read_sdk_models():
    from azure.mgmt.batchai.models import BatchAIError

    assert error_details([BatchAIError.from_dict({"code": "C", "message": "M"})]) == [ErrorDetail("C", "M")]
