"""Microsoft's 2018-05-01 examples, sent to the emulator as they are written.

For each example in ``tests/reference/examples``: create what it needs (resource group through
the real azure-mgmt-resource client, Batch AI resources by sending the Put* examples), send its
request (method and path from the spec's ``x-ms-examples``), and check

- the status code is one the example lists, and the one the live service answered (DESIGN.md:
  PUT workspace / experiment 200; PUT cluster / job / file server, DELETE and terminating an
  unfinished job 202 with ``Azure-AsyncOperation`` and ``Location`` headers, no Retry-After);
- the async operation, polled, has the shape of an operation status and ends Succeeded;
- the body has the example's shape: the same keys, recursively; list elements shaped like the
  example's. Values (ids, times, guids, IPs, node ids) are not compared. Where the emulator
  cannot or does not answer the same keys, ``ALLOWED_DIFFERENCES`` says so, with the reason.

Put examples answer 202 without a body; their ``200`` body is what a GET answers once the
operation succeeded, so that GET is compared with it.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
import requests

import batchai_kit.local
from batchai_kit.local.arm.timing import Timings
from batchai_kit.local.nodes import JobResult

EXAMPLES = Path(__file__).parents[1] / "reference" / "examples"
SPEC = Path(batchai_kit.local.__file__).parent / "spec" / "BatchAI.json"
API_VERSION = "2018-05-01"
EXAMPLE_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
GUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"

# The live service's status for each kind of request (DESIGN.md, "Facts about the real service").
LIVE_STATUS = {"Workspaces_Create": 200, "Experiments_Create": 200, "Clusters_Create": 202, "Jobs_Create": 202,
               "FileServers_Create": 202, "Workspaces_Delete": 202, "Experiments_Delete": 202,
               "Clusters_Delete": 202, "Jobs_Delete": 202, "FileServers_Delete": 202, "Jobs_Terminate": 202}
ASYNC = {op for op, status in LIVE_STATUS.items() if status == 202}

# Where the emulator's answer differs in shape from the example, and why that is right.
# Keys: "missing <path>" (in the example, not in the answer), "extra <path>" (the other way),
# "empty <path>" (the example's list has elements, the answer's has none).
_SUBNET = "the example's cluster is in a virtual network; the request names no subnet and the emulator " \
          "does not invent one for a cluster (a file server always reports one, as the live service does)"
_EXPERIMENT_NAME = "the live service always names a job's experiment (recorded); the example leaves it out"
ALLOWED_DIFFERENCES: dict[str, dict[str, str]] = {
    "GetCluster": {"missing properties.subnet": _SUBNET},
    "PutCluster": {"missing properties.subnet": _SUBNET},
    "PatchCluster": {
        "extra properties.nodeSetup.mountVolumes.fileServers":
            "the cluster was created from PutCluster.json, which mounts a file server; this example's does not",
    },
    "ListClusterByWorkspace": {
        "extra value[].properties.nodeSetup.mountVolumes.fileServers":
            "the cluster was created from PutCluster.json, which mounts a file server; this example's does not",
    },
    "GetJob": {"extra properties.experimentName": _EXPERIMENT_NAME},
    "PutJob": {"extra properties.experimentName": _EXPERIMENT_NAME},
    "ListJobByExperiment": {"extra value[].properties.experimentName": _EXPERIMENT_NAME},
}

# Adjustments to an example's request before it is sent, with the reason.
REQUEST_FIXES = {
    "subscription": "example bodies name subscription 00000000-...; the emulator has its own",
    "workspace segment": "PutJob.json's cluster.id says .../workspace/demo_workspace/... (sic); the emulator "
                         "accepts that too (test_put_job_example_cluster_id_with_workspace_segment_finds_the_cluster)",
}

# Operations removed from 2018-05-01 in June 2018 (tests/reference/SOURCES.md,
# examples-removed-2018-06): their resource types (clusters, fileservers directly under a resource
# group or subscription) belong to the older api-versions, so ARM refuses 2018-05-01 for them.
REMOVED_OPERATIONS = {
    "ListCluster": "/subscriptions/{subscriptionId}/providers/Microsoft.BatchAI/clusters",
    "ListClusterByResourceGroup":
        "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.BatchAI/clusters",
    "ListFileServer": "/subscriptions/{subscriptionId}/providers/Microsoft.BatchAI/fileServers",
    "ListFileServerByResourceGroup":
        "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.BatchAI/fileServers",
}


def _spec_operations() -> dict[str, dict]:
    """Example name -> {method, path, operation_id, query} from the spec's x-ms-examples."""
    spec = json.loads(SPEC.read_text())
    operations = {}
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "x-ms-examples" not in operation:
                continue
            parameters = [spec["parameters"][p["$ref"].split("/")[-1]] if "$ref" in p else p
                          for p in operation.get("parameters", [])]
            query = [p["name"] for p in parameters if p["in"] == "query" and p["name"] != "api-version"]
            for reference in operation["x-ms-examples"].values():
                name = Path(reference["$ref"]).stem
                operations[name] = {"method": method.upper(), "path": path,
                                    "operation_id": operation["operationId"], "query": query}
    return operations


OPERATIONS = _spec_operations()
EXAMPLE_NAMES = sorted(p.stem for p in EXAMPLES.glob("*.json"))


def load(name: str) -> dict:
    return json.loads((EXAMPLES / f"{name}.json").read_text())


# -- comparing shapes ------------------------------------------------------------------------------------


def shape_differences(expected, actual, path: str = "") -> set[str]:
    """How *actual* differs in shape from *expected*: keys of dicts, element shapes of lists, kinds."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        differences = {f"missing {_join(path, k)}" for k in expected.keys() - actual.keys()}
        differences |= {f"extra {_join(path, k)}" for k in actual.keys() - expected.keys()}
        for key in expected.keys() & actual.keys():
            differences |= shape_differences(expected[key], actual[key], _join(path, key))
        return differences
    if isinstance(expected, list) and isinstance(actual, list):
        if expected and not actual:
            return {f"empty {path}"}
        differences = set()
        for element in actual:
            # list elements may come in several shapes (files and directories): take the closest
            candidates = [shape_differences(e, element, f"{path}[]") for e in expected]
            differences |= min(candidates, key=len) if candidates else set()
        return differences
    if _kind(expected) != _kind(actual) and expected is not None:
        return {f"kind {path}: {_kind(expected)} expected, {_kind(actual)} given"}
    return set()


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _kind(value) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return type(value).__name__


def test_shape_differences_names_missing_extra_and_empty():
    expected = {"a": 1, "b": {"c": [{"d": 1}]}, "e": [1]}
    actual = {"a": 2, "b": {"c": [{"d": 2, "x": 0}]}, "e": [], "f": None}
    assert shape_differences(expected, actual) == {"extra b.c[].x", "empty e", "extra f"}


def assert_same_shape(name: str, expected, actual) -> None:
    allowed = ALLOWED_DIFFERENCES.get(name, {})
    unexpected = shape_differences(expected, actual) - allowed.keys()
    assert not unexpected, f"{name}: the answer's shape differs from the example: {sorted(unexpected)}\n" \
                           f"answer: {json.dumps(actual, indent=1)[:3000]}"


# -- a fake node runner: jobs run until terminated ------------------------------------------------------


class _Running:
    def __init__(self):
        self.result = None

    def poll(self):
        return self.result

    def terminate(self, reason_code: str = "JobTerminated", message: str = "") -> None:
        self.result = JobResult.failure(reason_code, message)


class RunForever:
    """Stands in for processes so a job stays ``running``, as in the Get/List job examples."""

    def check_job(self, properties):
        pass

    def prepare_node(self, cluster, node):
        return None

    def start_job(self, job, cluster, nodes):
        return _Running()

    def list_output_files(self, job, output_id, directory, expiry_minutes):
        return []


# -- talking to the emulator ----------------------------------------------------------------------------


class Client:
    """Sends examples and raw requests to one emulator."""

    def __init__(self, emu):
        self.emu = emu
        self.resources = emu.resource_client()
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {emu.info.token}"
        self.session.verify = str(emu.info.ca_cert)
        self.session.trust_env = False  # REQUESTS_CA_BUNDLE would override Session.verify

    def url(self, name: str, parameters: dict | None = None) -> str:
        example = load(name)
        operation = OPERATIONS[name]
        values = {**example["parameters"], **(parameters or {}),
                  "subscriptionId": self.emu.info.subscription_id}
        path = re.sub(r"\{(\w+)\}", lambda m: values[m[1]], operation["path"])
        return f"{self.emu.info.arm_endpoint}{path}"

    def send(self, name: str, fix: bool = True, fix_subscription: bool = True, **parameters) -> requests.Response:
        """The example's request, with its names unless *parameters* override them; REQUEST_FIXES applied."""
        example = load(name)
        operation = OPERATIONS[name]
        values = {**example["parameters"], **parameters}
        query = {k: values[k] for k in operation["query"] if k in values}
        query["api-version"] = API_VERSION
        body = values.get("parameters")
        if body is not None and (fix or fix_subscription):
            body = json.loads(json.dumps(body).replace(EXAMPLE_SUBSCRIPTION, self.emu.info.subscription_id))
        if body is not None and fix:
            text = json.dumps(body)
            body = json.loads(text.replace("/Microsoft.BatchAI/workspace/", "/Microsoft.BatchAI/workspaces/"))
        return self.session.request(operation["method"], self.url(name, parameters), params=query, json=body,
                                    timeout=30)

    def get(self, url: str) -> requests.Response:
        return self.session.get(url, timeout=30)

    def wait_operation(self, response: requests.Response, timeout: float = 20) -> dict:
        """Poll the Azure-AsyncOperation URL until the operation ends; check every answer's shape."""
        assert "Azure-AsyncOperation" in response.headers, f"{response.status_code} {response.text}"
        deadline = time.monotonic() + timeout
        while True:
            status = self.get(response.headers["Azure-AsyncOperation"])
            assert status.status_code == 200, status.text
            body = status.json()
            assert {"id", "name", "status", "startTime"} <= body.keys() <= \
                {"id", "name", "status", "startTime", "endTime", "properties", "error"}, body
            assert body["status"] in ("InProgress", "Succeeded", "Failed")
            if body["status"] != "InProgress":
                assert "endTime" in body
                assert set(body.get("properties", {})) <= {"resourceId"}
                return body
            assert time.monotonic() < deadline, f"operation still InProgress: {body}"
            time.sleep(0.02)

    def wait_for(self, url: str, done, timeout: float = 20) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            response = self.get(url + f"?api-version={API_VERSION}")
            assert response.status_code == 200, response.text
            if done(response.json()):
                return response.json()
            assert time.monotonic() < deadline, f"timed out; last answer {response.json()}"
            time.sleep(0.02)


def assert_async_accepted(response: requests.Response, emu) -> None:
    """202, no body, Azure-AsyncOperation .../operationresults/{guid} and Location .../operationstatuses/{guid}."""
    assert response.status_code == 202, response.text
    assert response.content == b""
    prefix = re.escape(f"{emu.info.arm_endpoint}/subscriptions/{emu.info.subscription_id}/providers/"
                       "Microsoft.BatchAI/locations/eastus/")
    query = re.escape(f"?api-version={API_VERSION}")
    results = re.fullmatch(f"{prefix}operationresults/({GUID}){query}", response.headers["Azure-AsyncOperation"])
    statuses = re.fullmatch(f"{prefix}operationstatuses/({GUID}){query}", response.headers["Location"])
    assert results and statuses, dict(response.headers)
    assert results[1] == statuses[1]
    assert "Retry-After" not in response.headers


# -- prerequisites: each creates what the next needs, with the examples' names -----------------------------

RG = "demo_resource_group"


def group(client):
    client.resources.resource_groups.create_or_update(RG, {"location": "eastus"})


def workspace(client):
    group(client)
    assert client.send("PutWorkspace").status_code == 200


def experiment(client, name="demo_experiment"):
    workspace(client)
    assert client.send("PutExperiment", experimentName=name).status_code == 200


def cluster(client):
    workspace(client)
    client.wait_operation(client.send("PutCluster"))


def ready_cluster(client):
    cluster(client)
    client.wait_for(client.url("GetCluster"), lambda c: c["properties"]["nodeStateCounts"]["idleNodeCount"] == 1)


def running_job(client, experiment_name="demo_experiment"):
    ready_cluster(client)
    assert client.send("PutExperiment", experimentName=experiment_name).status_code == 200
    client.wait_operation(client.send("PutJob", experimentName=experiment_name))
    client.wait_for(client.url("GetJob", {"experimentName": experiment_name}),
                    lambda j: j["properties"]["executionState"] == "running")


def file_server(client):
    workspace(client)
    client.wait_operation(client.send("PutFileServer"))


def nothing(client):
    pass


PREREQUISITES = {
    "ClusterListRemoteLoginInfo": ready_cluster,
    "DeleteCluster": cluster,
    "DeleteExperiment": experiment,
    "DeleteFileServer": file_server,
    "DeleteJob": running_job,
    "DeleteWorkspace": cluster,
    "GetCluster": cluster,
    "GetExperiment": experiment,
    "GetFileServer": file_server,
    "GetJob": running_job,
    "GetWorkspace": workspace,
    "JobListRemoteLoginInfo": running_job,
    "ListClusterByWorkspace": cluster,
    "ListExperimentByWorkspace": experiment,
    "ListFileServerByWorkspace": file_server,
    "ListJobByExperiment": lambda c: running_job(c, experiment_name="demo_experimnet"),  # sic, example
    "ListOperation": nothing,
    "ListUsages": ready_cluster,
    "ListWorkspace": workspace,
    "ListWorkspaceByResourceGroup": workspace,
    "PatchCluster": cluster,
    "PatchWorkspace": workspace,
    "PutCluster": workspace,
    "PutExperiment": workspace,
    "PutFileServer": workspace,
    "PutJob": lambda c: (ready_cluster(c), experiment(c)),
    "PutWorkspace": group,
    "TerminateJob": running_job,
}

# The resource a Put example creates, read back with this Get example once its operation succeeded.
READ_BACK = {"PutCluster": "GetCluster", "PutJob": "GetJob", "PutFileServer": "GetFileServer"}


def start(emulator_factory, runner=None, **kwargs) -> Client:
    """An emulator whose nodes run *runner* (none: the emulator's own node runner)."""
    if runner is None:
        return Client(emulator_factory(**kwargs))
    emu = emulator_factory(run_nodes=False, **kwargs)
    with emu.control.lock:
        emu.control.runner = runner
    return Client(emu)


@pytest.fixture
def client(emulator_factory):
    """An emulator whose jobs run until terminated."""
    return start(emulator_factory, RunForever())


def test_every_example_is_wired_to_an_operation_and_covered():
    assert len(EXAMPLE_NAMES) == 29
    assert set(EXAMPLE_NAMES) == set(OPERATIONS) == set(PREREQUISITES) | {"ListOutputFiles"}  # own test


def test_allowed_differences_name_existing_examples_and_give_reasons():
    assert set(ALLOWED_DIFFERENCES) <= set(EXAMPLE_NAMES)
    assert all(reason for table in ALLOWED_DIFFERENCES.values() for reason in table.values())


@pytest.mark.parametrize("name", [n for n in EXAMPLE_NAMES if n != "ListOutputFiles"])
def test_example_answers_as_the_live_service(name, client):
    example = load(name)
    operation = OPERATIONS[name]
    PREREQUISITES[name](client)

    response = client.send(name)

    expected_status = LIVE_STATUS.get(operation["operation_id"], 200)
    assert response.status_code == expected_status, response.text
    assert str(expected_status) in example["responses"]
    if operation["operation_id"] in ASYNC:
        assert_async_accepted(response, client.emu)
        outcome = client.wait_operation(response)
        assert outcome["status"] == "Succeeded", outcome
        # the live service names the resource by the names in its id, joined by "$"
        path = client.url(name).split(client.emu.info.arm_endpoint)[1].split("?")[0].strip("/").split("/")
        names = [path[i + 1] for i in range(0, len(path) - 1, 2) if path[i] != "providers"]
        if path[-1] == "terminate":
            names = [path[i + 1] for i in range(0, len(path) - 2, 2) if path[i] != "providers"]
        assert outcome["properties"]["resourceId"].lower() == "$".join(names).lower()
    body = example["responses"].get("200", {}).get("body")
    if body is None:
        return
    if name in READ_BACK:
        answer = client.get(client.url(READ_BACK[name]) + f"?api-version={API_VERSION}")
        assert answer.status_code == 200
    else:
        answer = response
    assert_same_shape(name, body, answer.json())


def test_put_job_example_cluster_id_with_workspace_segment_finds_the_cluster(client):
    ready_cluster(client)
    experiment(client)
    response = client.send("PutJob", fix=False)
    assert response.status_code == 202, response.text


@pytest.mark.parametrize("name", ["DeleteWorkspace", "DeleteCluster", "DeleteExperiment", "DeleteJob",
                                  "DeleteFileServer"])
def test_deleted_resource_is_gone_once_the_operation_succeeded(name, client):
    PREREQUISITES[name](client)
    client.wait_operation(client.send(name))
    getter = {"DeleteWorkspace": "GetWorkspace", "DeleteCluster": "GetCluster", "DeleteExperiment": "GetExperiment",
              "DeleteJob": "GetJob", "DeleteFileServer": "GetFileServer"}[name]
    response = client.send(getter)
    assert response.status_code == 404
    assert response.json()["error"]["code"].endswith("NotFound")


def test_delete_operation_status_names_the_deleted_resource(client):
    cluster(client)
    outcome = client.wait_operation(client.send("DeleteCluster"))
    assert outcome["status"] == "Succeeded"
    assert outcome["properties"]["resourceId"].endswith("$demo_resource_group$demo_workspace$demo_cluster")


def test_terminate_of_a_queued_job_answers_202(emulator_factory):
    queued = start(emulator_factory, RunForever(), timings=Timings(cluster_allocation=3600))
    emu = queued.emu
    cluster(queued)
    experiment(queued)
    queued.wait_operation(queued.send("PutJob"))
    assert queued.send("GetJob").json()["properties"]["executionState"] == "queued"
    response = queued.send("TerminateJob")
    assert_async_accepted(response, emu)
    assert queued.wait_operation(response)["status"] == "Succeeded"
    job = queued.send("GetJob").json()["properties"]
    assert job["executionState"] == "failed"
    assert [e["code"] for e in job["executionInfo"]["errors"]] == ["JobTerminated"]


def test_terminate_of_a_finished_job_answers_200_without_body(client):
    running_job(client)
    client.wait_operation(client.send("TerminateJob"))
    response = client.send("TerminateJob")
    assert response.status_code == 200 and response.content == b""
    assert "200" in load("TerminateJob")["responses"]


def test_list_output_files_example(emulator_factory):
    # The emulator's own node runner, not the fake: the cluster mounts a share of the emulator's
    # storage account instead of the example's storage_account_name, so the job can run.
    lister = start(emulator_factory)
    emu = lister.emu
    emu.file_service().create_share("afs")
    experiment(lister)
    body = load("PutCluster")["parameters"]["parameters"]
    volumes = body["properties"]["nodeSetup"]["mountVolumes"]
    del volumes["fileServers"]
    volumes["azureFileShares"][0].update(accountName=emu.info.storage_account,
                                         azureFileUrl=f"{emu.info.files_endpoint}/afs",
                                         credentials={"accountKey": emu.info.storage_key})
    lister.wait_operation(lister.session.put(lister.url("PutCluster"), params={"api-version": API_VERSION},
                                             json=body, timeout=30))
    lister.wait_operation(lister.send("PutJob"))
    job = lister.wait_for(lister.url("GetJob"),
                          lambda j: j["properties"]["executionState"] in ("succeeded", "failed"))
    assert job["properties"]["executionState"] == "succeeded", job["properties"]

    response = lister.send("ListOutputFiles")

    assert response.status_code == 200, response.text
    assert_same_shape("ListOutputFiles", load("ListOutputFiles")["responses"]["200"]["body"], response.json())
    files = {entry["name"]: entry for entry in response.json()["value"]}
    assert {"stdout.txt", "stderr.txt"} <= files.keys()
    url = files["stdout.txt"]["downloadUrl"]
    assert "sr=f" in url and "sp=rl" in url
    download = requests.get(url, verify=str(emu.info.ca_cert), timeout=30)  # the SAS is the only credential
    assert download.status_code == 200, download.text
    assert download.content == b"hi\n"


@pytest.mark.parametrize("name", sorted(REMOVED_OPERATIONS))
def test_operations_removed_from_2018_05_01_are_refused_for_that_version(name, client):
    group(client)
    path = REMOVED_OPERATIONS[name].format(subscriptionId=client.emu.info.subscription_id, resourceGroupName=RG)
    response = client.get(f"{client.emu.info.arm_endpoint}{path}?api-version={API_VERSION}")
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "NoRegisteredProviderFound"
    assert "The supported api-versions are '2017-09-01-preview, 2018-03-01'" in error["message"]
