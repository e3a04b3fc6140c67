"""ARM's account side: subscriptions, tenants, cloud metadata and the Microsoft.Storage provider."""

import pytest
import requests


def arm(emu, method, path, **kwargs):
    return requests.request(method, f"{emu.info.arm_endpoint}{path}", verify=str(emu.info.ca_cert),
                            headers={"Authorization": f"Bearer {emu.info.token}"}, **kwargs)


@pytest.fixture
def subscriptions(emu):
    from azure.mgmt.resource.subscriptions import SubscriptionClient

    return SubscriptionClient(emu.credential(), base_url=emu.info.arm_endpoint,
                              connection_verify=str(emu.info.ca_cert))


def test_the_subscription_client_lists_and_gets_the_one_subscription(emu, subscriptions):
    [listed] = list(subscriptions.subscriptions.list())
    assert (listed.subscription_id, listed.tenant_id, listed.state) == (
        emu.info.subscription_id, emu.info.tenant_id, "Enabled")
    assert listed.id == f"/subscriptions/{emu.info.subscription_id}"
    assert listed.subscription_policies.quota_id and listed.authorization_source == "RoleBased"
    assert subscriptions.subscriptions.get(emu.info.subscription_id).display_name == listed.display_name


def test_the_subscription_client_lists_the_tenant(emu, subscriptions):
    [tenant] = list(subscriptions.tenants.list())
    assert (tenant.tenant_id, tenant.id) == (emu.info.tenant_id, f"/tenants/{emu.info.tenant_id}")


def test_another_subscription_is_subscription_not_found(emu):
    response = arm(emu, "GET", "/subscriptions/00000000-0000-0000-0000-000000000000?api-version=2022-12-01")
    assert (response.status_code, response.json()["error"]["code"]) == (404, "SubscriptionNotFound")


def test_subscriptions_need_a_token(emu):
    response = requests.get(f"{emu.info.arm_endpoint}/subscriptions?api-version=2022-12-01",
                            verify=str(emu.info.ca_cert))
    assert response.status_code == 401


@pytest.mark.parametrize("version, shape", [("2015-01-01", dict), ("2019-05-01", list), ("2022-09-01", dict)])
def test_cloud_metadata_answers_without_a_token_in_each_versions_shape(emu, version, shape):
    response = requests.get(f"{emu.info.arm_endpoint}/metadata/endpoints?api-version={version}",
                            verify=str(emu.info.ca_cert))
    assert response.status_code == 200
    body = response.json()
    assert isinstance(body, shape)
    cloud = body[0] if isinstance(body, list) else body
    assert cloud["authentication"]["loginEndpoint"] == emu.info.authority + "/"
    assert cloud["authentication"]["audiences"][0] == "https://management.core.windows.net/"
    if version >= "2019":
        assert cloud["resourceManager"] == emu.info.arm_endpoint + "/"
        assert cloud["suffixes"]["storage"] == "core.windows.net"


def test_cloud_metadata_feeds_azure_clis_mapper_shape(emu):
    """The fields azure-cli's _arm_to_cli_mapper requires (name, authentication, suffixes) are there."""
    cloud = requests.get(f"{emu.info.arm_endpoint}/metadata/endpoints?api-version=2022-09-01",
                         verify=str(emu.info.ca_cert)).json()
    assert cloud["name"] and cloud["authentication"]["audiences"] and isinstance(cloud["suffixes"], dict)


def test_cloud_metadata_without_api_version_is_missing_api_version(emu):
    response = requests.get(f"{emu.info.arm_endpoint}/metadata/endpoints", verify=str(emu.info.ca_cert))
    assert (response.status_code, response.json()["error"]["code"]) == (400, "MissingApiVersionParameter")


# -- Microsoft.Storage ---------------------------------------------------------------------------------


def test_the_storage_account_is_listed_got_and_its_key_listed(emu):
    sub = emu.info.subscription_id
    [listed] = arm(emu, "GET", f"/subscriptions/{sub}/providers/Microsoft.Storage/storageAccounts"
                               "?api-version=2023-05-01").json()["value"]
    assert (listed["name"], listed["type"]) == (emu.info.storage_account, "Microsoft.Storage/storageAccounts")
    assert listed["properties"]["primaryEndpoints"]["file"] == emu.info.files_endpoint + "/"
    got = arm(emu, "GET", f"{listed['id']}?api-version=2023-05-01")
    assert got.status_code == 200 and got.json() == listed
    keys = arm(emu, "POST", f"{listed['id']}/listKeys?api-version=2023-05-01")
    assert keys.status_code == 200
    assert keys.json()["keys"][0]["value"] == emu.info.storage_key
    assert keys.json()["keys"][0]["keyName"] == "key1"


def test_a_storage_account_elsewhere_is_resource_not_found(emu):
    sub = emu.info.subscription_id
    response = arm(emu, "POST", f"/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.Storage/"
                                "storageAccounts/other/listKeys?api-version=2023-05-01")
    assert (response.status_code, response.json()["error"]["code"]) == (404, "ResourceNotFound")


def test_the_storage_account_key_needs_a_token(emu):
    sub = emu.info.subscription_id
    response = requests.post(f"{emu.info.arm_endpoint}/subscriptions/{sub}/resourceGroups/batchaikit-local/"
                             f"providers/Microsoft.Storage/storageAccounts/{emu.info.storage_account}/listKeys"
                             "?api-version=2023-05-01", verify=str(emu.info.ca_cert))
    assert response.status_code == 401 and emu.info.storage_key not in response.text
