"""Microsoft's examples of API 2017-09-01-preview and 2018-03-01, sent to the emulator as written.

The same method as ``test_arm_examples.py`` (2018-05-01), for each version's examples in
``tests/reference/{version}/examples``: create what the example needs (the resource group with
the real azure-mgmt-resource client, Batch AI resources by sending the version's Put* examples),
send its request (method and path from that version's spec), and check the status is one the
example lists; a long-running operation answers 202 with ``Location`` on
``.../operationresults/{guid}?api-version={version}`` and ``Retry-After`` (no
``Azure-AsyncOperation``), and polling it ends in 200 with the resource (a create) or 204; the
body has the example's shape, key for key (values are not compared). ``ALLOWED_DIFFERENCES``
lists where the emulator's shape differs, with the reason.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
import requests

import batchai_kit.local

from .test_arm_examples import _SUBNET, EXAMPLE_SUBSCRIPTION, GUID, RunForever, shape_differences

REFERENCE = Path(__file__).parents[1] / "reference"
SPECS = Path(batchai_kit.local.__file__).parent / "spec"
VERSIONS = ("2017-09-01-preview", "2018-03-01")
RG = "demo_resource_group"

_FILE_SERVER_MOUNT = "the cluster was created from PutCluster.json, which mounts a file server; this example's " \
                     "does not"
_SEGMENT = "2018-03-01 reports it (its spec and GetJob.json have it); these examples are 2017-09-01-preview's " \
           "copied unchanged, and 2017-09-01-preview had no such field (the emulator does not report it there)"
ALLOWED_DIFFERENCES: dict[str, dict[str, str]] = {
    "GetCluster": {"missing properties.subnet": _SUBNET},
    "PutCluster": {"missing properties.subnet": _SUBNET},
    "PatchCluster": {"extra properties.nodeSetup.mountVolumes.fileServers": _FILE_SERVER_MOUNT},
    "ListCluster": {"extra value[].properties.nodeSetup.mountVolumes.fileServers": _FILE_SERVER_MOUNT},
    "ListClusterByResourceGroup": {"extra value[].properties.nodeSetup.mountVolumes.fileServers":
                                   _FILE_SERVER_MOUNT},
    "PutJob": {"extra properties.jobOutputDirectoryPathSegment": _SEGMENT},
    "ListJob": {"extra value[].properties.jobOutputDirectoryPathSegment": _SEGMENT},
    "ListJobByResourceGroup": {"extra value[].properties.jobOutputDirectoryPathSegment": _SEGMENT},
}

# Requests whose live answer was not 200.
LIVE_STATUS = {"Clusters_Create": 202, "Jobs_Create": 202, "FileServers_Create": 202, "Clusters_Delete": 202,
               "Jobs_Delete": 202, "FileServers_Delete": 202, "Jobs_Terminate": 202}
READ_BACK = {"PutCluster": "GetCluster", "PutJob": "GetJob", "PutFileServer": "GetFileServer"}


def examples(version: str) -> Path:
    return REFERENCE / version / "examples"


def load(version: str, name: str) -> dict:
    return json.loads((examples(version) / f"{name}.json").read_text())


def spec_operations(version: str) -> dict[str, dict]:
    """Example name -> {method, path, operation_id, query} from the version's x-ms-examples."""
    spec = json.loads((SPECS / version / "BatchAI.json").read_text())
    operations = {}
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            parameters = [spec["parameters"][p["$ref"].split("/")[-1]] if "$ref" in p else p
                          for p in operation.get("parameters", [])]
            query = [p["name"] for p in parameters if p["in"] == "query" and p["name"] != "api-version"]
            for reference in operation.get("x-ms-examples", {}).values():
                operations[Path(reference["$ref"]).stem] = {
                    "method": method.upper(), "path": path, "operation_id": operation["operationId"], "query": query}
    return operations


class Client:
    """Sends one version's examples and raw requests to one emulator."""

    def __init__(self, emu, version: str):
        self.emu = emu
        self.version = version
        self.operations = spec_operations(version)
        self.resources = emu.resource_client()
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {emu.info.token}"
        self.session.verify = str(emu.info.ca_cert)
        self.session.trust_env = False  # REQUESTS_CA_BUNDLE would override Session.verify

    def url(self, name: str, **parameters) -> str:
        values = {**load(self.version, name)["parameters"], **parameters,
                  "subscriptionId": self.emu.info.subscription_id}
        path = re.sub(r"\{(\w+)\}", lambda m: values[m[1]], self.operations[name]["path"])
        return f"{self.emu.info.arm_endpoint}{path}"

    def send(self, name: str, body=None, **parameters) -> requests.Response:
        example = load(self.version, name)
        operation = self.operations[name]
        values = {**example["parameters"], **parameters}
        query = {k: values[k] for k in operation["query"] if k in values}
        query["api-version"] = self.version
        if body is None and values.get("parameters") is not None:
            body = json.loads(json.dumps(values["parameters"]).replace(EXAMPLE_SUBSCRIPTION,
                                                                        self.emu.info.subscription_id))
        return self.session.request(operation["method"], self.url(name, **parameters), params=query, json=body,
                                    timeout=30)

    def get(self, url: str, **query) -> requests.Response:
        return self.session.get(url, params={"api-version": self.version, **query}, timeout=30)

    def wait_operation(self, response: requests.Response, timeout: float = 20) -> requests.Response:
        """Poll the Location of an accepted request, as msrestazure does, until it is not 202."""
        assert_accepted(response, self)
        deadline = time.monotonic() + timeout
        while True:
            outcome = self.session.get(response.headers["Location"], timeout=30)
            if outcome.status_code != 202:
                return outcome
            assert_accepted(outcome, self)
            assert time.monotonic() < deadline, "operation still in progress"
            time.sleep(0.02)

    def wait_for(self, name: str, done, timeout: float = 20) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            answer = self.send(name)
            assert answer.status_code == 200, answer.text
            if done(answer.json()):
                return answer.json()
            assert time.monotonic() < deadline, f"timed out; last answer {answer.json()}"
            time.sleep(0.02)


def assert_accepted(response: requests.Response, client: Client) -> None:
    """202, no body, Location .../operationresults/{guid}?api-version={version}, Retry-After, no async header."""
    assert response.status_code == 202, response.text
    assert response.content == b""
    prefix = re.escape(f"{client.emu.info.arm_endpoint}/subscriptions/{client.emu.info.subscription_id}/providers/"
                       "Microsoft.BatchAI/locations/eastus/operationresults/")
    assert re.fullmatch(f"{prefix}{GUID}" + re.escape(f"?api-version={client.version}"),
                        response.headers["Location"]), dict(response.headers)
    assert response.headers["Retry-After"] == "0"  # Timings.instant()
    assert "Azure-AsyncOperation" not in response.headers


# -- prerequisites ----------------------------------------------------------------------------------------


def group(client):
    client.resources.resource_groups.create_or_update(RG, {"location": "eastus"})


def cluster(client):
    group(client)
    assert client.wait_operation(client.send("PutCluster")).status_code == 200


def ready_cluster(client):
    cluster(client)
    client.wait_for("GetCluster", lambda c: c["properties"]["nodeStateCounts"]["idleNodeCount"] == 1)


def running_job(client):
    ready_cluster(client)
    assert client.wait_operation(client.send("PutJob")).status_code == 200
    client.wait_for("GetJob", lambda j: j["properties"]["executionState"] == "running")


def file_server(client):
    group(client)
    assert client.wait_operation(client.send("PutFileServer")).status_code == 200


PREREQUISITES = {
    "ClusterListRemoteLoginInfo": ready_cluster, "DeleteCluster": cluster, "DeleteFileServer": file_server,
    "DeleteJob": running_job, "GetCluster": cluster, "GetFileServer": file_server, "GetJob": running_job,
    "JobListRemoteLoginInfo": running_job, "ListCluster": cluster, "ListClusterByResourceGroup": cluster,
    "ListFileServer": file_server, "ListFileServerByResourceGroup": file_server, "ListJob": running_job,
    "ListJobByResourceGroup": running_job, "OperationList": lambda c: None, "PatchCluster": cluster,
    "PutCluster": group, "PutFileServer": group, "PutJob": ready_cluster, "TerminateJob": running_job,
    "ListUsages": ready_cluster,
}
CASES = [(version, path.stem) for version in VERSIONS for path in sorted(examples(version).glob("*.json"))
         if path.stem != "ListOutputFiles"]  # ListOutputFiles runs a real job: its own test


def start(emulator_factory, version: str, runner=None, **kwargs) -> Client:
    if runner is None:
        return Client(emulator_factory(**kwargs), version)
    emu = emulator_factory(run_nodes=False, **kwargs)
    with emu.control.lock:
        emu.control.runner = runner
    return Client(emu, version)


@pytest.mark.parametrize("version", VERSIONS)
def test_every_example_is_wired_to_an_operation_and_covered(version):
    names = {p.stem for p in examples(version).glob("*.json")}
    assert len(names) == {"2017-09-01-preview": 21, "2018-03-01": 22}[version]
    assert names == set(spec_operations(version))
    assert names - {"ListOutputFiles"} <= set(PREREQUISITES)


@pytest.mark.parametrize(("version", "name"), CASES)
def test_example_answers_as_the_service_did(version, name, emulator_factory):
    client = start(emulator_factory, version, RunForever())
    example = load(version, name)
    operation = client.operations[name]
    PREREQUISITES[name](client)

    response = client.send(name)

    expected = LIVE_STATUS.get(operation["operation_id"], 200)
    assert response.status_code == expected, response.text
    assert str(expected) in example["responses"]
    if expected == 202:
        outcome = client.wait_operation(response)
        assert outcome.status_code == (200 if operation["method"] == "PUT" else 204), outcome.text
    body = example["responses"].get("200", {}).get("body")
    if body is None:
        return
    answer = client.send(READ_BACK[name]) if name in READ_BACK else response
    assert answer.status_code == 200, answer.text
    unexpected = shape_differences(body, answer.json()) - ALLOWED_DIFFERENCES.get(name, {}).keys()
    assert not unexpected, f"{version} {name}: {sorted(unexpected)}\n{json.dumps(answer.json(), indent=1)[:3000]}"


def test_allowed_differences_name_existing_examples_and_give_reasons():
    names = {p.stem for version in VERSIONS for p in examples(version).glob("*.json")}
    assert set(ALLOWED_DIFFERENCES) <= names
    assert all(reason for table in ALLOWED_DIFFERENCES.values() for reason in table.values())
