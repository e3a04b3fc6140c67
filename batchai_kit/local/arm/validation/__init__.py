"""Request validation for the emulated Batch AI 2018-05-01 control plane, driven by the spec.

Every handler calls :func:`validate_request` (path names and the JSON body) and, for operations
with query parameters, :func:`validate_query` before it changes anything. Both raise
:class:`RequestInvalid` (HTTP 400, ARM error shape) naming the property path, the value given and
the rule broken.

What is read from ``spec/BatchAI.json`` (once, at first use, compiled into a small tree):
path-parameter patterns and lengths; body ``$ref`` / ``allOf`` / ``required`` / ``type`` /
``format: int32`` / ``enum`` / ``minimum`` / ``maximum`` / string lengths / ``pattern``; query
parameters with their ``required`` / ``minimum`` / ``maximum`` / ``default``. How the wire is read,
as ARM services read it:

- ``x-ms-client-flatten`` is client-side only: the wire keeps ``properties`` nested. A flattened
  object whose definition has required members (cluster, job and file server ``properties``) is
  itself required, since the SDK always sends it and nothing can be created without it.
- ``readOnly`` properties sent by a client are ignored, never rejected; so are unknown properties:
  :func:`validate_request` returns the body without them, which is what the service keeps.
  A ``null`` counts as absent.
- Enum values compare case-insensitively (the live service accepted ``Dedicated`` as well as
  ``dedicated``); integers accept ``2.0`` but not ``true`` or ``2.5``.
- Operations without a body in the spec (``Experiments_Create``) ignore any body sent.

Rules the spec states in prose, checked after a body's shape is right (one per definition, in
``_RULES``): a job has exactly one toolkit settings object; ``scaleSettings`` has exactly one of
``manual`` / ``autoScale``; auto-scale ``minimumNodeCount <= maximumNodeCount`` and a given
``initialNodeCount`` lies between them; ``userAccountSettings`` has a password or an SSH public
key; CNTK ``languageType`` is Python (needs ``pythonScriptFilePath``, no ``configFilePath``) or
BrainScript (needs ``configFilePath``, no Python paths); Caffe has exactly one of
``configFilePath`` / ``pythonScriptFilePath`` and an interpreter only with a script; PyTorch
``communicationBackend`` is TCP, Gloo or MPI; TensorFlow ``parameterServerCount <= nodeCount``;
"one of X or X-secret-reference" pairs (storage keys, registry passwords, secrets, App Insights
keys) have exactly one; ``publicIPsToAllow`` has at most 400 entries; Batch AI clusters refuse
STANDARD_A0 and the premium-storage STANDARD_GS / STANDARD_DS / STANDARD_DSV2 series; a custom
image id has the form ``/subscriptions/../resourceGroups/../providers/Microsoft.Compute/images/..``.

Where the spec is silent, this module chooses (and says so here):

- Counts: job ``nodeCount`` and every ``processCount`` / ``workerCount`` / ``parameterServerCount``
  >= 1; node counts of scale settings >= 0. File server ``dataDisks``: ``diskCount`` 1..64 (the
  most data disks any Azure VM size takes), ``diskSizeInGB`` 1..4095 (the managed-disk limit of
  2018).
- A required string must not be empty.
- CNTK without ``languageType`` is Python (what the SDK samples and ``az batchai`` assume).
- Input / output directory ids become environment variable names (``AZ_BATCHAI_INPUT_<id>``):
  ``^[A-Za-z0-9_]+$`` and unique within their list. Environment variable and secret names:
  ``^[A-Za-z_][A-Za-z0-9_]*$`` and unique across both lists of a job (or of a setup task).
- Mount paths (``relativeMountPath``) are relative, without ``..``, and unique within one
  ``mountVolumes``. ``fileMode`` / ``directoryMode`` are octal (``0777``); ``shmSize`` is a docker
  size (``2g``, ``512m``, ``1073741824``); ``azureFileUrl`` is an http(s) URL with a share path
  (any host: the emulator's shares are not on ``file.core.windows.net``).
- A job's ``cluster.id`` is a Batch AI cluster resource id (``/subscriptions/../clusters/{name}``;
  the provider segment is not checked further because the spec's own PutJob example says
  ``/workspace/`` instead of ``/workspaces/``); a mounted ``fileServer.id`` names ``fileservers``.
  Whether the resource exists is the handler's business (404), not this module's.
- ``constraints.maxWallClockTime`` is an ISO 8601 duration (``P7D``, what the SDK sends for a
  ``timedelta``) or a .NET TimeSpan (``7.00:00:00``, the spec's default), and positive.
- Query parameter names compare case-insensitively; ``api-version`` is required and must be
  the version whose spec is checked (``2018-05-01`` unless told otherwise).

The older versions, 2017-09-01-preview and 2018-03-01 (``spec/{version}/BatchAI.json``), are
compiled and checked the same way, with the same prose rules: each rule is keyed by a definition
name, and a definition a version lacks (``PyTorchSettings`` in 2017-09-01-preview) simply has no
rule to run there. :func:`known_properties` gives the arm layer each version's property names, so
what a version never had is dropped from its requests, as that version's service ignored it.

Error codes, and why (no recording of the live Batch AI service answering a 400 survives in the
public azure-cli or azure-sdk-for-python cassettes; those scenarios only succeed, so the codes come
from the closest real answers found):

- ``InvalidPropertyValue`` for a value that breaks a rule: Batch AI answered "The specified value
  Standard_F4s for property Cluster.Properties.VMSize is not a supported VM size"
  (microsoft/vscode#54780, 2018) and its successor AmlCompute answers the same sentence with code
  ``InvalidPropertyValue``; Azure Batch, underneath Batch AI, uses the same code.
- ``MissingRequiredProperty`` for an absent required property (Azure Batch's code, "A required
  property was not specified in the request body").
- ``InvalidRequestContent`` for a body that cannot be read as the type the spec says (ARM's code,
  "The request content was invalid and could not be deserialized: 'Error converting value ... to
  type ... Path ...'").
- ``InvalidResourceName`` for a bad name in the URL (ARM's code for names, "Resource name X is
  invalid. ..."); ``InvalidParameter`` for another bad path parameter (``location``).
- ``MissingRequiredQueryParameter`` / ``InvalidQueryParameterValue`` for query parameters (Azure
  Batch's codes); ``MissingApiVersionParameter`` / ``NoRegisteredProviderFound`` for the
  api-version (ARM's).

Secret values (passwords, account keys, secret environment values, instrumentation keys) are
never echoed back in a message.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any, Mapping

from ._rules import _RULES, _TOOLKITS
from ._schema import RequestInvalid, _check, _Compiler, _known, _Operation, _Parameter

__all__ = ["RequestInvalid", "validate_request", "validate_query", "is_spec_operation", "known_properties",
           "API_VERSION", "OLDER_VERSIONS"]

API_VERSION = "2018-05-01"
OLDER_VERSIONS = ("2017-09-01-preview", "2018-03-01")


# ----------------------------------------------------------------------------------------------
# The spec, compiled once, with its prose rules


@functools.cache
def spec(version: str = API_VERSION) -> dict:
    """The swagger of *version* as shipped in the package (``spec/BatchAI.json`` is 2018-05-01)."""
    parts = ("spec", "BatchAI.json") if version == API_VERSION else ("spec", version, "BatchAI.json")
    if version != API_VERSION and version not in OLDER_VERSIONS:
        raise ValueError(f"no Batch AI spec for api-version {version!r}")
    node = resources.files("batchai_kit.local")
    for part in parts:
        node = node.joinpath(part)
    return json.loads(node.read_text("utf-8"))


@functools.cache
def _operations(version: str = API_VERSION) -> dict[str, _Operation]:
    operations = _Compiler(spec(version), _RULES).operations()
    if version == API_VERSION:
        body = operations["Jobs_Create"].body
        assert body is not None, "the spec no longer has a Jobs_Create body"
        job = body.properties["properties"]
        missing = [name for name in _TOOLKITS if name not in job.properties]
        assert not missing, f"the spec no longer has toolkit settings {missing}"
    return operations


def _operation(operation_id: str, version: str = API_VERSION) -> _Operation:
    try:
        return _operations(version)[operation_id]
    except KeyError:
        raise ValueError(f"unknown Batch AI operation {operation_id!r} in api-version {version}") from None


@functools.cache
def known_properties(version: str, definition: str) -> frozenset[str]:
    """The property names *definition* has in *version*'s spec, read-only ones included
    (through ``allOf``); empty when the version has no such definition."""
    definitions = spec(version)["definitions"]
    names: set[str] = set()
    pending = [definition]
    while pending:
        node = definitions.get(pending.pop())
        if node is None:
            continue
        names.update(node.get("properties", {}))
        pending.extend(part["$ref"].rsplit("/", 1)[-1] for part in node.get("allOf", ()) if "$ref" in part)
    return frozenset(names)


# ----------------------------------------------------------------------------------------------
# Public API


def validate_request(operation_id: str, path_params: Mapping[str, str], body: Any | None,
                     version: str = API_VERSION) -> Any | None:
    """Check an operation's path names and JSON body against the spec; raise RequestInvalid.

    ``path_params`` is keyed by the spec's parameter names (``workspaceName``, ``jobName``, ...);
    names the operation does not declare are ignored. ``body`` is the parsed JSON, None if absent.
    *version* is the api-version whose spec applies. Returns the body as the service keeps it:
    without the readOnly and unknown properties a client sent (None for an operation that takes
    no body, whatever was sent).
    """
    operation = _operation(operation_id, version)
    for parameter in operation.path_params:
        value = path_params.get(parameter.name)
        if value is not None:
            _check_path_parameter(parameter, value)
    if operation.body is None:
        return None
    if body is None:
        if operation.body_required:
            raise RequestInvalid(
                "InvalidRequestContent",
                "The request content was invalid and could not be deserialized: "
                f"the request body is required by {operation_id} and was empty.")
        return None
    _check(operation.body, body, "")
    return _known(operation.body, body)


def validate_query(operation_id: str, query: Mapping[str, str], version: str = API_VERSION) -> dict:
    """The operation's query parameters, typed and defaulted, keyed by the spec's names.

    E.g. ``{"api-version": "2018-05-01", "outputdirectoryid": "OUT", "directory": ".",
    "linkexpiryinminutes": 60, "maxresults": 1000}`` for ``Jobs_ListOutputFiles``. Parameters the
    operation does not declare are ignored; names compare case-insensitively. The ``api-version``
    given must be *version*.
    """
    operation = _operation(operation_id, version)
    given = {name.lower(): value for name, value in query.items()}
    typed: dict[str, Any] = {}
    for parameter in operation.query_params:
        raw = given.get(parameter.name.lower())
        if raw is None or raw == "":
            if parameter.required:
                raise _missing_query(parameter, operation_id)
            if parameter.default is not None:
                typed[parameter.name] = parameter.default
            continue
        typed[parameter.name] = _query_value(parameter, raw, version)
    return typed


# ----------------------------------------------------------------------------------------------
# Path and query parameters


def _check_path_parameter(parameter: _Parameter, value: str) -> None:
    problem = None
    if parameter.min_length is not None and len(value) < parameter.min_length:
        problem = f"it must be at least {parameter.min_length} characters long"
    elif parameter.max_length is not None and len(value) > parameter.max_length:
        problem = (f"it must be at most {parameter.max_length} characters long "
                   f"(it has {len(value)})")
    elif parameter.pattern is not None and not parameter.pattern.search(value):
        problem = f"it must match {parameter.pattern.pattern.replace(chr(92) + 'Z', '$')}"
    if problem is None:
        return
    if parameter.name.endswith("Name"):
        raise RequestInvalid(
            "InvalidResourceName",
            f"Resource name '{value}' given as {parameter.name} is invalid: {problem}. "
            f"{parameter.description}", target=parameter.name)
    raise RequestInvalid(
        "InvalidParameter",
        f"The value '{value}' of parameter {parameter.name} is invalid: {problem}.",
        target=parameter.name)


def _missing_query(parameter: _Parameter, operation_id: str) -> RequestInvalid:
    if parameter.name == "api-version":
        return RequestInvalid(
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
            target="api-version")
    return RequestInvalid(
        "MissingRequiredQueryParameter",
        f"The query parameter {parameter.name} is required by {operation_id}: "
        f"{parameter.description}", target=parameter.name)


def _query_value(parameter: _Parameter, raw: str, version: str) -> Any:
    if parameter.name == "api-version":
        if raw != version:
            raise RequestInvalid(
                "NoRegisteredProviderFound",
                f"No registered resource provider found for API version '{raw}' of "
                f"Microsoft.BatchAI. The supported api-versions are '{version}'.",
                target="api-version")
        return raw
    if parameter.type != "integer":
        return raw
    try:
        value = int(raw.strip())
    except ValueError:
        raise RequestInvalid(
            "InvalidQueryParameterValue",
            f"The value '{raw}' of query parameter {parameter.name} is invalid: "
            "it must be an integer.", target=parameter.name) from None
    low, high = parameter.minimum, parameter.maximum
    if (low is not None and value < low) or (high is not None and value > high):
        raise RequestInvalid(
            "InvalidQueryParameterValue",
            f"The value {value} of query parameter {parameter.name} is out of range: "
            f"it must be from {low} through {high}.", target=parameter.name)
    return value



def is_spec_operation(operation_id: str, version: str = API_VERSION) -> bool:
    """Whether *operation_id* is one of *version*'s spec operations (and so validated here)."""
    return operation_id in _operations(version)
