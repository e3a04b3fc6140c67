"""ARM's account side: subscriptions, tenants, cloud metadata, and the emulator's storage account
as a minimal Microsoft.Storage provider.

What ``az login`` / ``az account`` / ``az cloud register`` and azure-mgmt-resource's
subscription client read, in the shapes Azure answers with:

- ``GET /subscriptions`` and ``GET /subscriptions/{id}``: the emulator's one subscription
  (``subscriptionId``, ``tenantId``, ``displayName``, ``state`` "Enabled",
  ``subscriptionPolicies``, ``authorizationSource``, ``managedByTenants``);
- ``GET /tenants``: its one tenant;
- ``GET /metadata/endpoints?api-version=``: the cloud's endpoints, unauthenticated as on Azure.
  Before 2019-05-01 the old single-cloud shape (``galleryEndpoint``, ``graphEndpoint``,
  ``portalEndpoint``, ``authentication``); from 2019-05-01 a list of clouds; from 2022-09-01
  this cloud alone (what ``az cloud register --endpoint-resource-manager`` asks for);
- ``Microsoft.Storage/storageAccounts``: list (subscription and group), GET, POST ``listKeys``
  of the account whose Azure Files the emulator serves (in the virtual resource group
  ``batchaikit-local``), so ``az batchai cluster create --storage-account-name`` finds its key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from .errors import ArmError, subscription_not_found

if TYPE_CHECKING:
    from ..aad import Authority
    from .control import ControlPlane

if TYPE_CHECKING:  # pragma: no cover
    from ..aad import Authority
    from .control import ControlPlane

STORAGE_RESOURCE_GROUP = "batchaikit-local"
LOCATION = "eastus"
CLOUD_NAME = "BatchAIKitLocal"
SUBSCRIPTION_NAME = "batchai_kit local emulator"
TENANT_DOMAIN = "batchaikitlocal.onmicrosoft.com"
# What the metadata endpoint lists as ARM's token audiences: Azure's first (the resource id
# az asks tokens for), then the emulator's own URL; ARM accepts all of them.
PUBLIC_AUDIENCES = ("https://management.core.windows.net/", "https://management.azure.com/")


@attrs.frozen
class StorageAccount:
    """The emulator's storage account: its name, key (never in a repr) and when it was made."""

    name: str
    key: str = attrs.field(repr=False)
    created: str = "2018-05-01T00:00:00.0000000Z"


ACCOUNT_ROUTES = [
    ("/subscriptions", ["GET"], "Subscriptions_List"),
    ("/subscriptions/<subscriptionId>", ["GET"], "Subscriptions_Get"),
    ("/tenants", ["GET"], "Tenants_List"),
    ("/subscriptions/<subscriptionId>/providers/Microsoft.Storage/storageAccounts", ["GET"],
     "StorageAccounts_List"),
    ("/subscriptions/<subscriptionId>/resourceGroups/<resourceGroupName>/providers/Microsoft.Storage/"
     "storageAccounts", ["GET"], "StorageAccounts_ListByResourceGroup"),
    ("/subscriptions/<subscriptionId>/resourceGroups/<resourceGroupName>/providers/Microsoft.Storage/"
     "storageAccounts/<accountName>", ["GET"], "StorageAccounts_GetProperties"),
    ("/subscriptions/<subscriptionId>/resourceGroups/<resourceGroupName>/providers/Microsoft.Storage/"
     "storageAccounts/<accountName>/listKeys", ["POST"], "StorageAccounts_ListKeys"),
]
METADATA_PATH = "/metadata/endpoints"


def cloud_metadata(base_url: str, api_version: str | None):
    """The answer of ``GET /metadata/endpoints`` for the emulator reached at *base_url*."""
    base = base_url.rstrip("/")
    if not api_version:
        raise ArmError(400, "MissingApiVersionParameter",
                       "The api-version query parameter (?api-version=) is required for all requests.")
    authentication = {"loginEndpoint": f"{base}/", "audiences": [*PUBLIC_AUDIENCES, f"{base}/"],
                      "tenant": "common", "identityProvider": "AAD"}
    if api_version < "2019-05-01":
        return {"galleryEndpoint": f"{base}/", "graphEndpoint": f"{base}/", "portalEndpoint": f"{base}/",
                "authentication": {"loginEndpoint": f"{base}/", "audiences": authentication["audiences"]}}
    cloud = {
        "portal": base, "authentication": authentication, "media": base, "graphAudience": f"{base}/",
        "graph": f"{base}/", "name": CLOUD_NAME,
        "suffixes": {"storage": "core.windows.net", "keyVaultDns": "vault.azure.net",
                     "acrLoginServer": "azurecr.io", "sqlServerHostname": "database.windows.net"},
        "batch": f"{base}/", "resourceManager": f"{base}/", "sqlManagement": f"{base}/",
        "microsoftGraphResourceId": f"{base}/", "activeDirectoryDataLake": f"{base}/",
    }
    return cloud if api_version >= "2022-09-01" else [cloud]


class AccountRoutes:
    """ArmApp's handlers for the account side (mixed into ArmApp, which supplies ``control``,
    ``authority``, ``storage`` and ``_json``-style helpers through :func:`respond`)."""

    control: ControlPlane
    authority: Authority
    storage: StorageAccount | None

    def _subscription(self) -> dict:
        subscription = self.control.subscription_id
        return {"id": f"/subscriptions/{subscription}", "authorizationSource": "RoleBased",
                "managedByTenants": [], "subscriptionId": subscription,
                "tenantId": self.authority.tenant_id,
                "displayName": SUBSCRIPTION_NAME, "state": "Enabled",
                "subscriptionPolicies": {"locationPlacementId": "Public_2014-09-01",
                                         "quotaId": "PayAsYouGo_2014-09-01", "spendingLimit": "Off"}}

    def Subscriptions_List(self, request):
        return {"value": [self._subscription()], "count": {"type": "Total", "value": 1}}

    def Subscriptions_Get(self, request, subscriptionId):
        if subscriptionId.lower() != self.control.subscription_id.lower():
            raise subscription_not_found(subscriptionId)
        return self._subscription()

    def Tenants_List(self, request):
        tenant = self.authority.tenant_id
        return {"value": [{"id": f"/tenants/{tenant}", "tenantId": tenant, "countryCode": "US",
                           "displayName": SUBSCRIPTION_NAME, "domains": [TENANT_DOMAIN],
                           "tenantCategory": "Home", "defaultDomain": TENANT_DOMAIN, "tenantType": "AAD"}]}

    # -- Microsoft.Storage ----------------------------------------------------------------------------

    def _account(self, request) -> dict:
        account = self._storage_account()
        files = f"{request.host_url.rstrip('/')}/{account.name}/"
        return {
            "sku": {"name": "Standard_LRS", "tier": "Standard"}, "kind": "StorageV2",
            "id": (f"/subscriptions/{self.control.subscription_id}/resourceGroups/"
                   f"{STORAGE_RESOURCE_GROUP}/providers/Microsoft.Storage/storageAccounts/{account.name}"),
            "name": account.name, "type": "Microsoft.Storage/storageAccounts", "location": LOCATION, "tags": {},
            "properties": {
                "keyCreationTime": {"key1": account.created},
                "privateEndpointConnections": [], "minimumTlsVersion": "TLS1_2", "allowBlobPublicAccess": False,
                "networkAcls": {"bypass": "AzureServices", "virtualNetworkRules": [], "ipRules": [],
                                "defaultAction": "Allow"},
                "supportsHttpsTrafficOnly": True,
                "encryption": {"services": {"file": {"keyType": "Account", "enabled": True,
                                                     "lastEnabledTime": account.created}},
                               "keySource": "Microsoft.Storage"},
                "accessTier": "Hot", "provisioningState": "Succeeded", "creationTime": account.created,
                "primaryEndpoints": {"file": files}, "primaryLocation": LOCATION, "statusOfPrimary": "available",
            },
        }

    def _storage_account(self) -> StorageAccount:
        if self.storage is None:
            raise ArmError(404, "ResourceNotFound", "This emulator serves no storage account.")
        return self.storage

    def _named_account(self, resourceGroupName: str, accountName: str) -> StorageAccount:
        account = self._storage_account()
        if resourceGroupName.lower() != STORAGE_RESOURCE_GROUP or accountName.lower() != account.name:
            raise ArmError(404, "ResourceNotFound",
                           f"The Resource 'Microsoft.Storage/storageAccounts/{accountName}' under resource group "
                           f"'{resourceGroupName}' was not found. For more details please go to "
                           "https://aka.ms/ARMResourceNotFoundFix")
        return account

    def StorageAccounts_List(self, request, subscriptionId):
        return {"value": [] if self.storage is None else [self._account(request)]}

    def StorageAccounts_ListByResourceGroup(self, request, subscriptionId, resourceGroupName):
        mine = self.storage is not None and resourceGroupName.lower() == STORAGE_RESOURCE_GROUP
        return {"value": [self._account(request)] if mine else []}

    def StorageAccounts_GetProperties(self, request, subscriptionId, resourceGroupName, accountName):
        self._named_account(resourceGroupName, accountName)
        return self._account(request)

    def StorageAccounts_ListKeys(self, request, subscriptionId, resourceGroupName, accountName):
        account = self._named_account(resourceGroupName, accountName)
        return {"keys": [{"creationTime": account.created, "keyName": "key1", "value": account.key,
                          "permissions": "FULL"}]}
