"""``Azure``: constructors, validation, the clients it builds, and secrets kept out of sight."""

from __future__ import annotations

import json
import logging

import pytest
from azure.identity import ClientSecretCredential, DefaultAzureCredential

from batchai_kit import _connection
from batchai_kit._connection import AdminUser, Azure, StaticTokenCredential, arm_credential_scopes
from batchai_kit._waiter import playback_mode
from batchai_kit.errors import ValidationError

from . import CannedTransport, FakeCredential

SUB = "12345678-1234-1234-1234-123456789abc"
TENANT = "87654321-4321-4321-4321-cba987654321"
SECRET = "SP-SECRET-VALUE-7f3a"
STORAGE_KEY = "U1RPUkFHRS1LRVktVkFMVUUtOWIxYw=="
ADMIN_PASSWORD = "ADMIN-PASSWORD-2c8d"
TOKEN = "EMULATOR-TOKEN-5e1f"
SECRETS = (SECRET, STORAGE_KEY, ADMIN_PASSWORD, TOKEN)


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


def recipes_config(**overrides) -> dict:
    conf = {
        "subscription_id": SUB,
        "aad_client_id": "client-id",
        "aad_secret": SECRET,
        "aad_tenant": TENANT,
        "location": "eastus",
        "resource_group": "batchaitests",
        "storage_account": {"name": "myaccount", "key": STORAGE_KEY},
        "admin_user": {"name": "demoUser", "password": ADMIN_PASSWORD},
    }
    conf.update(overrides)
    return {k: v for k, v in conf.items() if v is not None}


@pytest.fixture
def write_json(tmp_path):
    def write(data, name="configuration.json"):
        path = tmp_path / name
        path.write_text(json.dumps(data) if not isinstance(data, str) else data)
        path.chmod(0o600)  # as the emulator writes them: a ready file readable by others is refused
        return path

    return write


@pytest.fixture
def ca_cert(tmp_path):
    path = tmp_path / "ca.pem"
    path.write_text("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n")
    return str(path)


@pytest.fixture
def ready_file(write_json, ca_cert):
    return write_json(
        {
            "arm_endpoint": "https://127.0.0.1:8443",
            "subscription_id": SUB,
            "ca_cert": ca_cert,
            "token": TOKEN,
            "files_endpoint": "https://127.0.0.1:8444/myaccount",
            "storage_account": "myaccount",
            "storage_key": STORAGE_KEY,
        },
        "ready.json",
    )


@pytest.fixture
def env(monkeypatch):
    for name in (
        "AZURE_SUBSCRIPTION_ID",
        "AZURE_CLIENT_ID",
        "AZURE_CLIENT_SECRET",
        "AZURE_TENANT_ID",
        "AZURE_STORAGE_ACCOUNT",
        "AZURE_STORAGE_KEY",
        "BATCHAI_KIT_ADMIN_USER",
        "BATCHAI_KIT_ADMIN_PASSWORD",
        "BATCHAI_KIT_ADMIN_SSH_KEY",
        "BATCHAI_KIT_LOCATION",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", SUB)
    return monkeypatch


def full_azure() -> Azure:
    return Azure.from_credentials(
        client_id="client-id",
        secret=SECRET,
        tenant=TENANT,
        subscription_id=SUB,
        storage_account="myaccount",
        storage_key=STORAGE_KEY,
        admin_user="demoUser",
        admin_password=ADMIN_PASSWORD,
    )


# --- secrets -------------------------------------------------------------------------------------


def test_repr_shows_no_secret():
    assert_no_secret(repr(full_azure()))


def test_str_shows_no_secret():
    assert_no_secret(str(full_azure()))


def test_repr_still_says_where_azure_is():
    text = repr(full_azure())
    assert SUB in text and "management.azure.com" in text and "ClientSecretCredential" in text


def test_static_token_credential_repr_shows_no_token(ready_file):
    assert_no_secret(repr(Azure.from_ready_file(ready_file)))


def test_admin_user_repr_shows_no_password():
    assert ADMIN_PASSWORD not in repr(AdminUser("demoUser", ADMIN_PASSWORD))


def test_bad_config_error_shows_no_secret(write_json):
    path = write_json(recipes_config(subscription_id="not-a-guid"))
    with pytest.raises(ValidationError) as caught:
        Azure.from_config(path)
    assert_no_secret(str(caught.value))
    assert_no_secret(repr(caught.value.__cause__) + repr(caught.value.__context__))


def test_malformed_storage_key_error_shows_no_key(write_json):
    bad_key = "NOT-BASE64-" + SECRET
    with pytest.raises(ValidationError, match="base64") as caught:
        Azure.from_config(write_json(recipes_config(storage_account={"name": "myaccount", "key": bad_key})))
    assert bad_key not in str(caught.value) and bad_key not in repr(caught.value.value)


def test_invalid_json_error_shows_no_secret(write_json):
    path = write_json('{"aad_secret": "' + SECRET + '", oops}')
    with pytest.raises(ValidationError, match="not valid JSON") as caught:
        Azure.from_config(path)
    assert_no_secret(str(caught.value))
    assert caught.value.__cause__ is None


def test_building_clients_logs_no_secret(caplog, monkeypatch, ready_file):
    monkeypatch.setattr(_connection, "_transport", lambda verify, **_: CannedTransport((200, {"value": []})))
    caplog.set_level(logging.DEBUG)
    azure = Azure.from_ready_file(ready_file)
    list(azure.batchai().workspaces.list())
    azure.file_service()
    assert_no_secret(caplog.text)


# --- from_config ---------------------------------------------------------------------------------


def test_from_config_reads_the_recipes_format(write_json):
    azure = Azure.from_config(write_json(recipes_config()))
    assert (azure.subscription_id, azure.location, azure.storage_account) == (SUB, "eastus", "myaccount")
    assert azure.admin == AdminUser("demoUser", ADMIN_PASSWORD)
    assert isinstance(azure.credential, ClientSecretCredential)


def test_from_config_accepts_a_token_uri_instead_of_a_tenant(write_json):
    token_uri = f"https://login.microsoftonline.com/{TENANT}/oauth2/token"
    azure = Azure.from_config(write_json(recipes_config(aad_tenant=None, aad_token_uri=token_uri)))
    assert azure.credential._tenant_id == TENANT


def test_from_config_takes_base_url_as_arm_endpoint(write_json):
    azure = Azure.from_config(write_json(recipes_config(base_url="https://management.chinacloudapi.cn")))
    assert azure.arm_endpoint == "https://management.chinacloudapi.cn"


def test_from_config_without_storage_and_admin_sections(write_json):
    azure = Azure.from_config(write_json(recipes_config(storage_account=None, admin_user=None)))
    assert (azure.storage_account, azure.admin) == (None, None)


def test_missing_key_error_names_the_key_and_the_file(write_json):
    path = write_json(recipes_config(aad_client_id=None))
    with pytest.raises(ValidationError) as caught:
        Azure.from_config(path)
    assert caught.value.field == "aad_client_id" and str(path) in str(caught.value)


def test_missing_nested_key_error_names_the_section(write_json):
    path = write_json(recipes_config(storage_account={"name": "myaccount"}))
    with pytest.raises(ValidationError, match='add "key" to "storage_account"'):
        Azure.from_config(path)


def test_missing_tenant_error_names_both_ways_to_give_it(write_json):
    with pytest.raises(ValidationError, match="aad_token_uri"):
        Azure.from_config(write_json(recipes_config(aad_tenant=None)))


def test_malformed_value_error_names_the_file(write_json):
    path = write_json(recipes_config(subscription_id="not-a-guid"))
    with pytest.raises(ValidationError, match="GUID") as caught:
        Azure.from_config(path)
    assert str(path) in str(caught.value)


def test_missing_config_file_is_named(tmp_path):
    with pytest.raises(ValidationError, match="does not exist"):
        Azure.from_config(tmp_path / "nope.json")


def test_admin_user_needs_a_password_or_ssh_key(write_json):
    with pytest.raises(ValidationError, match="password or an SSH public key"):
        Azure.from_config(write_json(recipes_config(admin_user={"name": "demoUser"})))


# --- from_env ------------------------------------------------------------------------------------


def test_from_env_uses_a_service_principal_when_its_secret_is_set(env):
    env.setenv("AZURE_CLIENT_ID", "client-id")
    env.setenv("AZURE_CLIENT_SECRET", SECRET)
    env.setenv("AZURE_TENANT_ID", TENANT)
    assert isinstance(Azure.from_env().credential, ClientSecretCredential)


def test_from_env_falls_back_to_default_azure_credential(env):
    assert isinstance(Azure.from_env().credential, DefaultAzureCredential)


def test_from_env_names_the_missing_subscription(env):
    env.delenv("AZURE_SUBSCRIPTION_ID")
    with pytest.raises(ValidationError) as caught:
        Azure.from_env()
    assert caught.value.field == "AZURE_SUBSCRIPTION_ID"


def test_from_env_names_the_missing_part_of_a_service_principal(env):
    env.setenv("AZURE_CLIENT_SECRET", SECRET)
    env.setenv("AZURE_CLIENT_ID", "client-id")
    with pytest.raises(ValidationError) as caught:
        Azure.from_env()
    assert caught.value.field == "AZURE_TENANT_ID"
    assert_no_secret(str(caught.value))


def test_from_env_reads_storage_and_admin(env, tmp_path):
    key_file = tmp_path / "id_rsa.pub"
    key_file.write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIF7U3XpYV8CuLxI0A/kgrT+RhmA1qyKo5XReqE2t65kM demo@host\n")
    env.setenv("AZURE_STORAGE_ACCOUNT", "myaccount")
    env.setenv("AZURE_STORAGE_KEY", STORAGE_KEY)
    env.setenv("BATCHAI_KIT_ADMIN_USER", "demoUser")
    env.setenv("BATCHAI_KIT_ADMIN_SSH_KEY", str(key_file))
    azure = Azure.from_env()
    assert (azure.storage_account, azure.storage_key) == ("myaccount", STORAGE_KEY)
    assert azure.admin == AdminUser("demoUser", None, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIF7U3XpYV8CuLxI0A/kgrT+RhmA1qyKo5XReqE2t65kM demo@host")


def test_storage_account_without_key_is_refused(env):
    env.setenv("AZURE_STORAGE_ACCOUNT", "myaccount")
    with pytest.raises(ValidationError, match="give both or neither"):
        Azure.from_env()


# --- from_credentials and the constructor ----------------------------------------------------------


def test_from_credentials_refuses_a_malformed_token_uri():
    with pytest.raises(ValidationError, match="oauth2/token"):
        Azure.from_credentials(
            client_id="c", secret=SECRET, token_uri="https://example.com/x", subscription_id=SUB
        )


def test_from_credentials_needs_a_tenant_or_token_uri():
    with pytest.raises(ValidationError, match="tenant"):
        Azure.from_credentials(client_id="c", secret=SECRET, subscription_id=SUB)


def test_malformed_subscription_id_is_refused():
    with pytest.raises(ValidationError, match="GUID"):
        Azure(FakeCredential(), "my-subscription")


def test_plain_http_arm_endpoint_is_refused():
    with pytest.raises(ValidationError, match="https"):
        Azure(FakeCredential(), SUB, arm_endpoint="http://127.0.0.1:8080")


def test_missing_ca_cert_file_is_refused(tmp_path):
    with pytest.raises(ValidationError, match="CA certificate"):
        Azure(FakeCredential(), SUB, ca_cert=str(tmp_path / "missing.pem"))


def test_from_ready_file_attaches_to_the_emulator(ready_file, ca_cert):
    azure = Azure.from_ready_file(ready_file)
    assert (azure.arm_endpoint, azure.ca_cert, azure.files_endpoint) == (
        "https://127.0.0.1:8443",
        ca_cert,
        "https://127.0.0.1:8444/myaccount",
    )
    assert azure.credential.get_token("https://127.0.0.1:8443/.default").token == TOKEN


def test_ready_file_missing_a_key_names_it(write_json):
    path = write_json({"arm_endpoint": "https://127.0.0.1:8443", "token": TOKEN}, "ready.json")
    with pytest.raises(ValidationError, match="subscription_id") as caught:
        Azure.from_ready_file(path)
    assert str(path) in str(caught.value)


# --- scopes, verification and clients ------------------------------------------------------------


@pytest.mark.parametrize(
    "endpoint, scope",
    [
        ("https://management.azure.com", "https://management.azure.com/.default"),
        ("https://management.azure.com/", "https://management.azure.com/.default"),
        ("https://management.usgovcloudapi.net", "https://management.core.usgovcloudapi.net/.default"),
        ("https://127.0.0.1:8443", "https://127.0.0.1:8443/.default"),
    ],
)
def test_credential_scope_follows_the_arm_endpoint(endpoint, scope):
    assert arm_credential_scopes(endpoint) == [scope]


def test_ca_cert_is_what_tls_trusts(ca_cert):
    assert Azure(FakeCredential(), SUB, ca_cert=ca_cert).verify == ca_cert


def test_connection_verify_false_turns_verification_off(ca_cert):
    assert Azure(FakeCredential(), SUB, ca_cert=ca_cert, connection_verify=False).verify is False


@pytest.fixture
def canned(monkeypatch):
    """Clients built by Azure talk to a CannedTransport; records the verify they were given."""
    made = {}

    def transport(verify, **_):
        made["verify"] = verify
        made["transport"] = CannedTransport(*made.pop("answers"))
        return made["transport"]

    monkeypatch.setattr(_connection, "_transport", transport)
    return made


def test_batchai_client_calls_the_arm_endpoint_with_a_token_for_its_scope(canned, ca_cert):
    credential = FakeCredential()
    canned["answers"] = [(200, {"value": []})]
    azure = Azure(credential, SUB, arm_endpoint="https://127.0.0.1:8443", ca_cert=ca_cert)
    list(azure.batchai().workspaces.list())
    [request] = canned["transport"].requests
    assert request.url.startswith(
        f"https://127.0.0.1:8443/subscriptions/{SUB}/providers/Microsoft.BatchAI/workspaces"
    )
    assert request.headers["Authorization"] == "Bearer fake-token"
    assert credential.scopes == [("https://127.0.0.1:8443/.default",)]
    assert canned["verify"] == ca_cert


def test_batchai_client_retries_a_throttled_request(canned):
    canned["answers"] = [
        (429, {"error": {"code": "TooManyRequests", "message": "x"}}, {"Retry-After": "3"}),
        (200, {"value": []}),
    ]
    list(Azure(FakeCredential(), SUB).batchai().workspaces.list())
    assert len(canned["transport"].requests) == 2 and canned["transport"].slept == [3.0]


def test_resources_client_calls_the_arm_endpoint(canned):
    canned["answers"] = [
        (200, {"id": "/subscriptions/x/resourceGroups/rg", "name": "rg", "location": "eastus"})
    ]
    Azure(FakeCredential(), SUB, arm_endpoint="https://127.0.0.1:8443").resources().resource_groups.get("rg")
    assert (
        canned["transport"]
        .requests[0]
        .url.startswith(f"https://127.0.0.1:8443/subscriptions/{SUB}/resourcegroups/rg")
    )


def test_transport_skips_sleeps_in_playback(monkeypatch):
    monkeypatch.setattr("time.sleep", lambda s: pytest.fail("slept in playback"))
    with playback_mode():
        _connection._transport(True).sleep(30)


def test_file_service_trusts_only_the_ca_cert(ready_file, ca_cert):
    service = Azure.from_ready_file(ready_file).file_service()
    assert (service.request_session.trust_env, service.request_session.verify) == (False, ca_cert)
    # what sends the requests: batchai_kit's urllib3 client, with the same trust
    pool = next(iter(service._httpclient._pools.values()))
    assert (pool.ca_certs, pool.cert_reqs) == (ca_cert, "CERT_REQUIRED")
    assert (service.primary_endpoint, service.account_name) == ("127.0.0.1:8444/myaccount", "myaccount")


def test_file_service_defaults_to_the_public_endpoint():
    azure = Azure(FakeCredential(), SUB, storage_account="myaccount", storage_key=STORAGE_KEY)
    assert azure.file_service().primary_endpoint == "myaccount.file.core.windows.net"


def test_file_service_uses_the_library_retry(ready_file):
    assert Azure.from_ready_file(ready_file).file_service().retry.__module__ == "batchai_kit._waiter"


def test_file_service_without_storage_account_says_how_to_set_one():
    with pytest.raises(ValidationError, match="AZURE_STORAGE_ACCOUNT"):
        Azure(FakeCredential(), SUB).file_service()


def test_static_token_credential_refuses_an_empty_token():
    with pytest.raises(ValidationError):
        StaticTokenCredential("")


def test_ready_file_with_a_bad_value_names_the_file(write_json, tmp_path):
    path = write_json(
        {
            "arm_endpoint": "https://127.0.0.1:8443",
            "subscription_id": SUB,
            "ca_cert": str(tmp_path / "gone.pem"),
            "token": TOKEN,
            "files_endpoint": "https://127.0.0.1:8444/myaccount",
            "storage_account": "myaccount",
            "storage_key": STORAGE_KEY,
        },
        "ready.json",
    )
    with pytest.raises(ValidationError, match="CA certificate") as caught:
        Azure.from_ready_file(path)
    assert str(path) in str(caught.value)
