"""The sign-in of 2017-2018 clients: msrestazure's ServicePrincipalCredentials (requests-oauthlib,
client credentials) and ADAL get the emulator's tokens from its v1 token endpoint
(``/{tenant}/oauth2/token``), by Azure's own host name through the proxy or at the emulator's URL,
and ARM takes those tokens. Runs in the legacy SDK environment (``--legacy-sdks``)."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from .test_seed import LEGACY_ROOT, SDKS

SIGN_IN = r"""
import json, sys
import adal, requests
from msrest.exceptions import AuthenticationError
from msrestazure.azure_active_directory import ServicePrincipalCredentials

c = json.loads(sys.argv[1])
arm = "https://management.azure.com/subscriptions/%s/resourcegroups?api-version=2017-05-10" % c["subscription"]
answers = {}

def arm_status(access_token):
    return requests.get(arm, headers={"Authorization": "Bearer " + access_token}, timeout=60).status_code

by_tenant = ServicePrincipalCredentials(c["client_id"], c["secret"], tenant=c["tenant"])
answers["by tenant"] = arm_status(by_tenant.token["access_token"])
by_uri = ServicePrincipalCredentials(c["client_id"], c["secret"], token_uri=c["token_uri"])
answers["by token_uri"] = arm_status(by_uri.token["access_token"])
context = adal.AuthenticationContext("https://login.microsoftonline.com/" + c["tenant"])
token = context.acquire_token_with_client_credentials("https://management.core.windows.net/", c["client_id"],
                                                      c["secret"])
answers["adal"] = arm_status(token["accessToken"])
try:
    ServicePrincipalCredentials(c["client_id"], "not-the-secret", tenant=c["tenant"])
except AuthenticationError as error:
    answers["wrong secret"] = "invalid_client" in str(error)
print(json.dumps(answers))
"""


@pytest.mark.parametrize("version", sorted(SDKS))
def test_old_clients_sign_in_at_the_emulators_authority(version, request, emulator_factory):
    if not request.config.getoption("--legacy-sdks"):
        pytest.skip("runs with ./dev.sh seed (pytest --legacy-sdks): legacy SDK environments")
    python = LEGACY_ROOT / SDKS[version] / "bin" / "python"
    info = emulator_factory(proxy=True).info
    environment = {k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY")}
    environment.update(HTTPS_PROXY=info.proxy_url, NO_PROXY="127.0.0.1,localhost",
                       REQUESTS_CA_BUNDLE=str(info.ca_cert))
    settings = {"client_id": info.client_id, "secret": info.client_secret, "tenant": info.tenant_id,
                "subscription": info.subscription_id, "token_uri": f"{info.authority}/{info.tenant_id}/oauth2/token"}

    run = subprocess.run([str(python), "-c", SIGN_IN, json.dumps(settings)], env=environment, capture_output=True,
                         text=True, timeout=300)

    assert run.returncode == 0, run.stderr[-3000:]
    assert json.loads(run.stdout) == {"by tenant": 200, "by token_uri": 200, "adal": 200, "wrong secret": True}


EDITED = r"""
import json, sys
from azure.common.credentials import ServicePrincipalCredentials
from azure.mgmt.batchai import BatchAIManagementClient
from azure.storage.file import FileService

c = json.loads(sys.argv[1])
creds = ServicePrincipalCredentials(client_id=c["client_id"], secret=c["secret"], token_uri=c["token_uri"])
client = BatchAIManagementClient(credentials=creds, subscription_id=c["subscription"], base_url=c["arm_endpoint"])
service = FileService(connection_string=c["connection_string"])
service.create_share("edited", fail_on_exist=False)
print(json.dumps({"clusters": [x.name for x in client.clusters.list()], "shares": [s.name for s in service.list_shares()],
                  "api": client.clusters.api_version}))
"""


@pytest.mark.parametrize("version", sorted(SDKS))
def test_code_given_the_emulators_endpoints_needs_no_proxy(version, request, emulator_factory):
    if not request.config.getoption("--legacy-sdks"):
        pytest.skip("runs with ./dev.sh seed (pytest --legacy-sdks): legacy SDK environments")
    python = LEGACY_ROOT / SDKS[version] / "bin" / "python"
    info = emulator_factory().info  # no proxy
    environment = {k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY")}
    environment["REQUESTS_CA_BUNDLE"] = str(info.ca_cert)
    settings = {"client_id": info.client_id, "secret": info.client_secret, "subscription": info.subscription_id,
                "token_uri": f"{info.authority}/{info.tenant_id}/oauth2/token", "arm_endpoint": info.arm_endpoint,
                "connection_string": info.storage_connection_string}

    run = subprocess.run([str(python), "-c", EDITED, json.dumps(settings)], env=environment, capture_output=True,
                         text=True, timeout=300)

    assert run.returncode == 0, run.stderr[-3000:]
    assert json.loads(run.stdout) == {"clusters": [], "shares": ["edited"], "api": version}
