"""The emulator's Azure AD-compatible authority, signed in to by real clients (azure-identity,
MSAL, requests-oauthlib as msrestazure uses it), and ARM's checks of its tokens."""

import json
import logging
import stat
import time

import jwt
import pytest
import requests

RESOURCE_GROUPS = "/resourcegroups?api-version=2021-04-01"


def arm_get(emu, token, path=RESOURCE_GROUPS):
    return requests.get(f"{emu.info.arm_endpoint}/subscriptions/{emu.info.subscription_id}{path}",
                        verify=str(emu.info.ca_cert), headers={"Authorization": f"Bearer {token}"})


def token_request(emu, version="v2", **form):
    path = "oauth2/v2.0/token" if version == "v2" else "oauth2/token"
    tenant = form.pop("tenant", emu.info.tenant_id)
    data = {"grant_type": "client_credentials", "client_id": emu.info.client_id,
            "client_secret": emu.info.client_secret, **form}
    return requests.post(f"{emu.info.authority}/{tenant}/{path}", data=data, verify=str(emu.info.ca_cert))


# -- real clients sign in --------------------------------------------------------------------------------


def test_azure_identity_client_secret_credential_gets_a_token_arm_accepts(emu):
    from azure.identity import ClientSecretCredential
    from azure.mgmt.resource.resources import ResourceManagementClient

    credential = ClientSecretCredential(emu.info.tenant_id, emu.info.client_id, emu.info.client_secret,
                                        authority=emu.info.authority, disable_instance_discovery=True,
                                        connection_verify=str(emu.info.ca_cert))
    token = credential.get_token("https://management.azure.com/.default")
    assert jwt.decode(token.token, options={"verify_signature": False})["aud"] == "https://management.azure.com"
    client = ResourceManagementClient(credential, emu.info.subscription_id, base_url=emu.info.arm_endpoint,
                                      connection_verify=str(emu.info.ca_cert))
    client.resource_groups.create_or_update("signedin", {"location": "eastus"})
    assert [g.name for g in client.resource_groups.list()] == ["signedin"]


def test_msal_finds_the_token_endpoint_through_the_emulators_instance_discovery(emu):
    import msal

    session = requests.Session()
    session.trust_env = False  # else REQUESTS_CA_BUNDLE overrides session.verify
    session.verify = str(emu.info.ca_cert)
    app = msal.ConfidentialClientApplication(
        emu.info.client_id, client_credential=emu.info.client_secret,
        authority=f"{emu.info.authority}/{emu.info.tenant_id}",
        instance_discovery=f"{emu.info.authority}/common/discovery/instance", http_client=session)
    result = app.acquire_token_for_client(scopes=["https://management.core.windows.net//.default"])
    assert result.get("token_type") == "Bearer", result.get("error_description")
    assert arm_get(emu, result["access_token"]).status_code == 200


def test_requests_oauthlib_client_credentials_with_basic_auth_and_resource_as_msrestazure_signs_in(emu):
    from oauthlib.oauth2 import BackendApplicationClient
    from requests_oauthlib import OAuth2Session

    session = OAuth2Session(client=BackendApplicationClient(client_id=emu.info.client_id))
    token = session.fetch_token(f"{emu.info.authority}/{emu.info.tenant_id}/oauth2/token",
                                client_id=emu.info.client_id, client_secret=emu.info.client_secret,
                                resource="https://management.core.windows.net/", verify=str(emu.info.ca_cert))
    assert token["resource"] == "https://management.core.windows.net/"
    assert int(token["expires_on"]) > time.time()
    assert arm_get(emu, token["access_token"]).status_code == 200


# -- the tokens ----------------------------------------------------------------------------------------


@pytest.mark.fresh_signing_keys  # each emulator its own key, as outside the suite
def test_a_token_carries_the_standard_claims_and_verifies_against_the_published_keys(emu):
    response = token_request(emu, scope="https://management.azure.com/.default")
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3599
    discovery = requests.get(f"{emu.info.authority}/{emu.info.tenant_id}/.well-known/openid-configuration",
                             verify=str(emu.info.ca_cert)).json()
    keys = jwt.PyJWKSet.from_dict(requests.get(discovery["jwks_uri"], verify=str(emu.info.ca_cert)).json())
    header = jwt.get_unverified_header(body["access_token"])
    assert header["alg"] == "RS256"
    claims = jwt.decode(body["access_token"], keys[header["kid"]].key, algorithms=["RS256"],
                        audience="https://management.azure.com", issuer=discovery["issuer"])
    assert claims["tid"] == emu.info.tenant_id and claims["appid"] == emu.info.client_id
    assert claims["oid"] and claims["nbf"] == claims["iat"] and claims["exp"] == claims["iat"] + 3599


def test_the_v1_endpoint_answers_as_azure_ad_v1_does(emu):
    body = token_request(emu, version="v1", resource="https://management.core.windows.net/").json()
    assert body["expires_in"] == "3599" and body["resource"] == "https://management.core.windows.net/"
    assert int(body["expires_on"]) - int(body["not_before"]) == 3599


def test_the_ready_file_token_is_a_signed_jwt_for_arm(emu):
    claims = jwt.decode(emu.info.token, emu.authority.key.public_key, algorithms=["RS256"],
                        audience="https://management.core.windows.net/")
    assert claims["appid"] == emu.info.client_id
    assert arm_get(emu, emu.info.token).status_code == 200


# -- what the token endpoint refuses, in Azure AD's words --------------------------------------------------


@pytest.mark.parametrize("form, status, error, aadsts", [
    ({"client_secret": "not-the-secret"}, 401, "invalid_client", 7000215),
    ({"client_id": "00000000-0000-0000-0000-000000000001"}, 400, "unauthorized_client", 700016),
    ({"tenant": "00000000-0000-0000-0000-000000000002"}, 400, "invalid_request", 90002),
    ({"tenant": "common"}, 400, "invalid_request", 50059),
    ({"grant_type": "password"}, 400, "unsupported_grant_type", 70003),
    ({"scope": "https://management.azure.com/user_impersonation"}, 400, "invalid_scope", 1002012),
    ({"scope": ""}, 400, "invalid_request", 900144),
])
def test_the_token_endpoint_refuses_as_azure_ad_does(emu, form, status, error, aadsts):
    form.setdefault("scope", "https://management.azure.com/.default")
    response = token_request(emu, **form)
    body = response.json()
    assert (response.status_code, body["error"], body["error_codes"]) == (status, error, [aadsts])
    assert body["error_description"].startswith(f"AADSTS{aadsts}: ")
    assert emu.info.client_secret not in response.text


def test_discovery_of_an_unknown_tenant_is_invalid_tenant(emu):
    response = requests.get(f"{emu.info.authority}/someone-else/v2.0/.well-known/openid-configuration",
                            verify=str(emu.info.ca_cert))
    assert (response.status_code, response.json()["error"]) == (400, "invalid_tenant")


def test_instance_discovery_refuses_an_authority_on_another_host(emu):
    response = requests.get(f"{emu.info.authority}/common/discovery/instance",
                            params={"api-version": "1.1",
                                    "authorization_endpoint": "https://login.example.com/t/oauth2/v2.0/authorize"},
                            verify=str(emu.info.ca_cert))
    assert (response.status_code, response.json()["error"]) == (400, "invalid_instance")


def test_the_v1_and_v2_discovery_documents_name_their_own_endpoints_and_issuers(emu):
    base, tenant = emu.info.authority, emu.info.tenant_id
    v2 = requests.get(f"{base}/{tenant}/v2.0/.well-known/openid-configuration", verify=str(emu.info.ca_cert)).json()
    v1 = requests.get(f"{base}/{tenant}/.well-known/openid-configuration", verify=str(emu.info.ca_cert)).json()
    assert (v2["token_endpoint"], v2["issuer"]) == (f"{base}/{tenant}/oauth2/v2.0/token", f"{base}/{tenant}/v2.0")
    assert (v1["token_endpoint"], v1["issuer"]) == (f"{base}/{tenant}/oauth2/token", f"{base}/{tenant}/")


# -- ARM's checks ------------------------------------------------------------------------------------------


def rejection(response):
    assert response.status_code == 401
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer authorization_uri="') and 'error="invalid_token"' in challenge
    return response.json()["error"]


def test_arm_refuses_an_expired_token_with_expired_authentication_token(emu):
    stale = emu.authority.issue(emu.info.authority, "https://management.azure.com/", issued_at=time.time() - 7200)
    error = rejection(arm_get(emu, stale.token))
    assert error["code"] == "ExpiredAuthenticationToken"
    assert error["message"].startswith("The access token expiry UTC time '")


def test_arm_refuses_a_token_for_another_resource_with_invalid_audience(emu):
    storage = token_request(emu, scope="https://storage.azure.com/.default").json()["access_token"]
    error = rejection(arm_get(emu, storage))
    assert error["code"] == "InvalidAuthenticationTokenAudience"
    assert "'https://storage.azure.com'" in error["message"]


@pytest.mark.fresh_signing_keys  # each emulator its own key, as outside the suite
def test_arm_refuses_a_token_signed_by_another_key(emu, emulator_factory, tmp_path):
    other = emulator_factory(tmp_path / "other")
    assert rejection(arm_get(emu, other.info.token))["code"] == "InvalidAuthenticationToken"


def test_arm_refuses_an_unsigned_token(emu):
    claims = jwt.decode(emu.info.token, options={"verify_signature": False})
    forged = jwt.encode(claims, key=None, algorithm="none")
    assert rejection(arm_get(emu, forged))["code"] == "InvalidAuthenticationToken"


def test_arm_without_an_authorization_header_is_authentication_failed(emu):
    response = requests.get(f"{emu.info.arm_endpoint}/subscriptions/{emu.info.subscription_id}{RESOURCE_GROUPS}",
                            verify=str(emu.info.ca_cert))
    assert rejection(response)["code"] == "AuthenticationFailed"


# -- state and secrets -------------------------------------------------------------------------------------


@pytest.mark.fresh_signing_keys  # each emulator its own key, as outside the suite
def test_tenant_principal_and_key_survive_a_restart_and_the_key_file_is_private(emulator_factory, tmp_path):
    data = tmp_path / "kept"
    first = emulator_factory(data)
    facts = (first.info.tenant_id, first.info.client_id, first.info.client_secret, first.authority.key.kid)
    first.stop()
    second = emulator_factory(data)
    assert (second.info.tenant_id, second.info.client_id, second.info.client_secret,
            second.authority.key.kid) == facts
    assert stat.S_IMODE((data / "aad" / "signing-key.pem").stat().st_mode) == 0o600


def test_the_ready_file_names_the_service_principal_and_no_secret_is_logged(emu, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    emu.write_ready_file(tmp_path / "ready.json")
    ready = json.loads((tmp_path / "ready.json").read_text())
    assert {k: ready[k] for k in ("authority", "tenant_id", "client_id", "client_secret")} == {
        "authority": emu.info.authority, "tenant_id": emu.info.tenant_id, "client_id": emu.info.client_id,
        "client_secret": emu.info.client_secret}
    assert token_request(emu, scope="https://management.azure.com/.default").status_code == 200
    assert token_request(emu, client_secret="wrong", scope="x/.default").status_code == 401
    assert emu.info.client_secret not in caplog.text and emu.info.client_secret not in repr(emu.info)


def test_the_library_attached_through_a_ready_file_uses_its_token_without_a_request(emu, tmp_path):
    import batchai_kit as bk

    emu.write_ready_file(tmp_path / "ready.json")
    azure = bk.Azure.from_ready_file(tmp_path / "ready.json")
    assert azure.credential.get_token(*azure.scopes).token == emu.info.token
    assert emu.info.client_secret not in repr(azure) and emu.info.token not in repr(azure.credential)


def test_once_the_ready_file_token_expires_the_library_signs_in_as_the_service_principal(emu, tmp_path):
    import batchai_kit as bk

    ready = emu.info.ready_file_content()
    ready["token"] = emu.authority.issue(emu.info.authority, "https://management.core.windows.net/",
                                         issued_at=time.time() - 7200).token
    (tmp_path / "stale.json").write_text(json.dumps(ready))
    (tmp_path / "stale.json").chmod(0o600)
    azure = bk.Azure.from_ready_file(tmp_path / "stale.json")
    token = azure.credential.get_token(*azure.scopes).token
    assert token != ready["token"]
    assert jwt.decode(token, options={"verify_signature": False})["appid"] == emu.info.client_id
    assert [g.name for g in azure.resources().resource_groups.list()] == []


def test_a_ready_file_without_a_service_principal_uses_its_token(emu, tmp_path):
    import batchai_kit as bk

    ready = emu.info.ready_file_content()
    for name in ("authority", "tenant_id", "client_id", "client_secret"):
        del ready[name]
    (tmp_path / "old.json").write_text(json.dumps(ready))
    (tmp_path / "old.json").chmod(0o600)
    azure = bk.Azure.from_ready_file(tmp_path / "old.json")
    assert azure.credential.get_token(*azure.scopes).token == emu.info.token
