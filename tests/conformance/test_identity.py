"""azure-identity signs in to the emulator: a service principal with the emulator as authority,
and AzureCliCredential through `az` prepared by `batchai-kit az`."""

import os

from azure.core.credentials import TokenCredential


def list_groups(credential: TokenCredential, ready):
    from azure.mgmt.resource.resources import ResourceManagementClient

    client = ResourceManagementClient(credential, ready["subscription_id"], base_url=ready["arm_endpoint"],
                                      connection_verify=ready["ca_cert"])
    return list(client.resource_groups.list())


def test_client_secret_credential_with_the_emulator_as_authority(ready):
    from azure.identity import ClientSecretCredential

    credential = ClientSecretCredential(ready["tenant_id"], ready["client_id"], ready["client_secret"],
                                        authority=ready["authority"], disable_instance_discovery=True,
                                        connection_verify=ready["ca_cert"])
    assert isinstance(list_groups(credential, ready), list)


def test_azure_cli_credential_through_the_prepared_az(az, ready, monkeypatch):
    from azure.identity import AzureCliCredential

    from batchai_kit._az import AzSession, EmulatorTarget

    session = AzSession(EmulatorTarget.from_ready_file(az.ready_file), az.az)
    session.prepare()
    for name, value in session.environ().items():
        if os.environ.get(name) != value:
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("PATH", f"{az.az.parent}{os.pathsep}{os.environ['PATH']}")
    assert isinstance(list_groups(AzureCliCredential(process_timeout=60), ready), list)
