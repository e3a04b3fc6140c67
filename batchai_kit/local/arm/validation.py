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
- ``readOnly`` properties sent by a client are ignored, never rejected; so are unknown properties.
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
  ``2018-05-01``.

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
import re
from importlib import resources
from typing import Any, Callable, Iterable, Mapping

from batchai_kit.local.arm.errors import ArmError

__all__ = ["RequestInvalid", "validate_request", "validate_query", "is_spec_operation", "API_VERSION"]

API_VERSION = "2018-05-01"
_INT32 = (-(2**31), 2**31 - 1)


class RequestInvalid(ArmError):
    """A request the service refuses before doing anything: 400 with the ARM error body."""

    def __init__(self, code: str, message: str, target: str | None = None, status: int = 400):
        super().__init__(status, code, message, target)


# ----------------------------------------------------------------------------------------------
# The spec, compiled once


class _Schema:
    """One node of a body schema: what a value at this place must be."""

    __slots__ = ("name", "type", "format", "properties", "required", "items", "values", "enum",
                 "minimum", "maximum", "min_length", "max_length", "pattern")

    def __init__(self, name: str | None = None):
        self.name = name                      # the spec definition, for the prose rules
        self.type: str | None = None
        self.format: str | None = None
        self.properties: dict[str, _Schema] = {}
        self.required: tuple[str, ...] = ()
        self.items: _Schema | None = None     # arrays
        self.values: _Schema | None = None    # maps (additionalProperties)
        self.enum: dict[str, str] | None = None  # lower-case -> as the spec spells it
        self.minimum: float | None = None
        self.maximum: float | None = None
        self.min_length: int | None = None
        self.max_length: int | None = None
        self.pattern: re.Pattern | None = None


class _Parameter:
    """A path or query parameter as the spec declares it."""

    __slots__ = ("name", "location", "required", "type", "default", "minimum", "maximum",
                 "min_length", "max_length", "pattern", "description")

    def __init__(self, node: Mapping[str, Any]):
        self.name: str = node["name"]
        self.location: str = node["in"]
        self.required: bool = bool(node.get("required"))
        self.type: str | None = node.get("type")
        self.default = node.get("default")
        self.minimum = node.get("minimum")
        self.maximum = node.get("maximum")
        self.min_length = node.get("minLength")
        self.max_length = node.get("maxLength")
        self.pattern = _compile_pattern(node["pattern"]) if "pattern" in node else None
        self.description: str = node.get("description", "")


class _Operation:
    __slots__ = ("operation_id", "path_params", "query_params", "body", "body_required")

    def __init__(self, operation_id: str):
        self.operation_id = operation_id
        self.path_params: list[_Parameter] = []
        self.query_params: list[_Parameter] = []
        self.body: _Schema | None = None
        self.body_required = False


def _compile_pattern(text: str) -> re.Pattern:
    # Swagger patterns are .NET regexes: "$" is the end of the string, not "before a final \n".
    if text.endswith("$") and not text.endswith("\\$"):
        text = text[:-1] + r"\Z"
    return re.compile(text)


class _Compiler:
    def __init__(self, spec: Mapping[str, Any]):
        self._spec = spec
        self._definitions: dict[str, _Schema] = {}

    def operations(self) -> dict[str, _Operation]:
        operations = {}
        for path_item in self._spec["paths"].values():
            shared = path_item.get("parameters", [])
            for method, node in path_item.items():
                if method == "parameters":
                    continue
                operation = _Operation(node["operationId"])
                for parameter in [*shared, *node.get("parameters", [])]:
                    parameter = self._resolve(parameter)
                    if parameter["in"] == "body":
                        operation.body = self.schema(parameter["schema"])
                        operation.body_required = bool(parameter.get("required"))
                    elif parameter["in"] == "path":
                        operation.path_params.append(_Parameter(parameter))
                    elif parameter["in"] == "query":
                        operation.query_params.append(_Parameter(parameter))
                operations[operation.operation_id] = operation
        return operations

    def _resolve(self, node: Mapping[str, Any]) -> Mapping[str, Any]:
        while "$ref" in node:
            _, section, name = node["$ref"].split("/")
            node = self._spec[section][name]
        return node

    def schema(self, node: Mapping[str, Any]) -> _Schema:
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            if name not in self._definitions:
                schema = self._definitions[name] = _Schema(name)  # registered first: cycles end
                self._fill(schema, self._spec["definitions"][name])
            return self._definitions[name]
        schema = _Schema()
        self._fill(schema, node)
        return schema

    def _fill(self, schema: _Schema, node: Mapping[str, Any]) -> None:
        required = []
        for part in node.get("allOf", ()):
            base = self.schema(part)
            schema.properties.update(base.properties)
            required.extend(base.required)
            schema.type = schema.type or base.type
        for name, member in node.get("properties", {}).items():
            if member.get("readOnly") is True:
                continue  # what the service reports; a client sending it is ignored
            child = self.schema(member)
            schema.properties[name] = child
            if member.get("x-ms-client-flatten") and child.required:
                required.append(name)
        required.extend(n for n in node.get("required", ()) if n in schema.properties)
        schema.required = tuple(dict.fromkeys(required))
        schema.type = node.get("type") or schema.type or ("object" if schema.properties else None)
        schema.format = node.get("format")
        if "items" in node:
            schema.items = self.schema(node["items"])
        if isinstance(node.get("additionalProperties"), dict):
            schema.values = self.schema(node["additionalProperties"])
            schema.type = schema.type or "object"
        if "enum" in node:
            schema.enum = {str(v).lower(): str(v) for v in node["enum"]}
        schema.minimum = node.get("minimum")
        schema.maximum = node.get("maximum")
        schema.min_length = node.get("minLength")
        schema.max_length = node.get("maxLength")
        if "pattern" in node:
            schema.pattern = _compile_pattern(node["pattern"])


@functools.lru_cache(maxsize=None)
def _operations() -> dict[str, _Operation]:
    text = resources.files("batchai_kit.local").joinpath("spec", "BatchAI.json").read_text("utf-8")
    operations = _Compiler(json.loads(text)).operations()
    job = operations["Jobs_Create"].body.properties["properties"]
    missing = [name for name in _TOOLKITS if name not in job.properties]
    assert not missing, f"the spec no longer has toolkit settings {missing}"
    return operations


def _operation(operation_id: str) -> _Operation:
    try:
        return _operations()[operation_id]
    except KeyError:
        raise ValueError(f"unknown Batch AI operation {operation_id!r}") from None


# ----------------------------------------------------------------------------------------------
# Public API


def validate_request(operation_id: str, path_params: Mapping[str, str], body: Any | None) -> None:
    """Check an operation's path names and JSON body against the spec; raise RequestInvalid.

    ``path_params`` is keyed by the spec's parameter names (``workspaceName``, ``jobName``, ...);
    names the operation does not declare are ignored. ``body`` is the parsed JSON, None if absent.
    """
    operation = _operation(operation_id)
    for parameter in operation.path_params:
        value = path_params.get(parameter.name)
        if value is not None:
            _check_path_parameter(parameter, value)
    if operation.body is None:
        return
    if body is None:
        if operation.body_required:
            raise RequestInvalid(
                "InvalidRequestContent",
                "The request content was invalid and could not be deserialized: "
                f"the request body is required by {operation_id} and was empty.")
        return
    _check(operation.body, body, "")


def validate_query(operation_id: str, query: Mapping[str, str]) -> dict:
    """The operation's query parameters, typed and defaulted, keyed by the spec's names.

    E.g. ``{"api-version": "2018-05-01", "outputdirectoryid": "OUT", "directory": ".",
    "linkexpiryinminutes": 60, "maxresults": 1000}`` for ``Jobs_ListOutputFiles``. Parameters the
    operation does not declare are ignored; names compare case-insensitively.
    """
    operation = _operation(operation_id)
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
        typed[parameter.name] = _query_value(parameter, raw)
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


def _query_value(parameter: _Parameter, raw: str) -> Any:
    if parameter.name == "api-version":
        if raw != API_VERSION:
            raise RequestInvalid(
                "NoRegisteredProviderFound",
                f"No registered resource provider found for API version '{raw}' of "
                f"Microsoft.BatchAI. The supported api-versions are '{API_VERSION}'.",
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


# ----------------------------------------------------------------------------------------------
# Bodies: the schema walk


_SECRETS = frozenset({"adminuserpassword", "accountkey", "password", "instrumentationkey"})
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def _join(path: str, name: str) -> str:
    if not _IDENTIFIER.match(name):
        return f"{path}['{name}']"
    return f"{path}.{name}" if path else name


def _show(value: Any, path: str) -> str:
    leaf = path.rsplit(".", 1)[-1].lower()
    if leaf in _SECRETS or (leaf == "value" and ".secrets[" in path):
        return "<redacted>"
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= 120 else text[:117] + "..."


def _invalid(path: str, value: Any, rule: str) -> RequestInvalid:
    return RequestInvalid(
        "InvalidPropertyValue",
        f"The specified value {_show(value, path)} for property {path} is invalid: {rule}.",
        target=path)


def _missing(path: str, hint: str = "") -> RequestInvalid:
    return RequestInvalid(
        "MissingRequiredProperty",
        f"The required property {path} is missing{': ' + hint if hint else ''}.", target=path)


def _not_convertible(path: str, value: Any, type_name: str) -> RequestInvalid:
    if isinstance(value, (dict, list)):
        shown = "an object" if isinstance(value, dict) else "an array"
    else:
        shown = _show(json.dumps(value), path)
    return RequestInvalid(
        "InvalidRequestContent",
        "The request content was invalid and could not be deserialized: "
        f"'Error converting value {shown} to type '{type_name}'. Path '{path}'.'",
        target=path or None)


def _is_integer(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def _check(schema: _Schema, value: Any, path: str) -> None:
    kind = schema.type
    if kind == "object":
        if not isinstance(value, dict):
            raise _not_convertible(path, value, schema.name or "Object")
        for name in schema.required:
            member = value.get(name)
            if member is None:
                raise _missing(_join(path, name))
            if member == "":
                raise _invalid(_join(path, name), member, "it must not be empty")
        for name, member_schema in schema.properties.items():
            member = value.get(name)
            if member is not None:
                _check(member_schema, member, _join(path, name))
        if schema.values is not None:
            for key, member in value.items():
                if member is not None:
                    _check(schema.values, member, _join(path, key))
        rule = _RULES.get(schema.name)
        if rule is not None:
            rule(value, path)
    elif kind == "array":
        if not isinstance(value, list):
            raise _not_convertible(path, value, "Array")
        if schema.items is not None:
            for index, item in enumerate(value):
                if item is not None:
                    _check(schema.items, item, f"{path}[{index}]")
    elif kind == "string":
        if not isinstance(value, str):
            raise _not_convertible(path, value, "String")
        _check_string(schema, value, path)
    elif kind == "integer":
        if not _is_integer(value):
            raise _not_convertible(path, value, "Int32" if schema.format == "int32" else "Int64")
        if schema.format == "int32" and not _INT32[0] <= value <= _INT32[1]:
            raise _not_convertible(path, value, "Int32")
        _check_range(schema, value, path)
    elif kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _not_convertible(path, value, "Double")
        _check_range(schema, value, path)
    elif kind == "boolean":
        if not isinstance(value, bool):
            raise _not_convertible(path, value, "Boolean")


def _check_string(schema: _Schema, value: str, path: str) -> None:
    if schema.enum is not None and value.lower() not in schema.enum:
        raise _invalid(path, value, "it must be one of " + ", ".join(schema.enum.values())
                       + " (any case)")
    if schema.min_length is not None and len(value) < schema.min_length:
        raise _invalid(path, value, f"it must be at least {schema.min_length} characters long")
    if schema.max_length is not None and len(value) > schema.max_length:
        raise _invalid(path, value, f"it must be at most {schema.max_length} characters long")
    if schema.pattern is not None and not schema.pattern.search(value):
        raise _invalid(path, value, f"it must match {schema.pattern.pattern}")
    if schema.format == "duration" and _duration_seconds(value) is None:
        raise _invalid(path, value, "it must be a duration such as P7D, PT2H30M or 7.00:00:00")


def _check_range(schema: _Schema, value: float, path: str) -> None:
    if schema.minimum is not None and value < schema.minimum:
        raise _invalid(path, value, f"it must be at least {schema.minimum}")
    if schema.maximum is not None and value > schema.maximum:
        raise _invalid(path, value, f"it must be at most {schema.maximum}")


_ISO_DURATION = re.compile(
    r"P(?:(?P<weeks>\d+(?:\.\d+)?)W)?(?:(?P<days>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?"
    r"(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?\Z")
_TIMESPAN = re.compile(
    r"(?:(?P<days>\d+)\.)?(?P<hours>\d{1,2}):(?P<minutes>\d{1,2})"
    r"(?::(?P<seconds>\d{1,2}(?:\.\d+)?))?\Z")
_SECONDS = {"weeks": 604800, "days": 86400, "hours": 3600, "minutes": 60, "seconds": 1}


def _duration_seconds(text: str) -> float | None:
    """Seconds in an ISO 8601 duration (P1DT2H) or a .NET TimeSpan (1.02:00:00); None if neither."""
    match = _ISO_DURATION.match(text) or _TIMESPAN.match(text)
    if match is None or text in ("P", "PT") or text.endswith("T"):
        return None
    return sum(float(v) * _SECONDS[k] for k, v in match.groupdict().items() if v)


# ----------------------------------------------------------------------------------------------
# Rules the spec states in prose, one per definition; each runs once the object's shape is right


_RULES: dict[str | None, Callable[[dict, str], None]] = {}


def _rule(*definitions: str):
    def register(function):
        for definition in definitions:
            _RULES[definition] = function
        return function
    return register


_TOOLKITS = ("cntkSettings", "pyTorchSettings", "tensorFlowSettings", "caffeSettings",
             "caffe2Settings", "chainerSettings", "customToolkitSettings", "customMpiSettings",
             "horovodSettings")
_DIRECTORY_ID = re.compile(r"[A-Za-z0-9_]+\Z")
_ENVIRONMENT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_CLUSTER_ID = re.compile(r"/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.BatchAI/"
                         r"(?:[^/]+/)*clusters/[^/]+\Z", re.IGNORECASE)
_FILE_SERVER_ID = re.compile(r"/subscriptions/[^/]+/resourceGroups/[^/]+/providers/"
                             r"Microsoft\.BatchAI/(?:[^/]+/)*fileservers/[^/]+\Z", re.IGNORECASE)
_IMAGE_ID = re.compile(r"/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Compute/"
                       r"images/[^/]+\Z", re.IGNORECASE)
_UNSUPPORTED_VM_SIZE = re.compile(r"STANDARD_A0\Z|STANDARD_(?:GS|DS)\d", re.IGNORECASE)
_FILE_MODE = re.compile(r"0?[0-7]{3}\Z")
_SHM_SIZE = re.compile(r"\d+[bkmgBKMG]?\Z")
_URL = re.compile(r"https?://[^/\s]+/[^/\s]+", re.IGNORECASE)


def _present(obj: Mapping[str, Any], name: str) -> bool:
    return obj.get(name) not in (None, "")


def _exactly_one(obj: dict, path: str, first: str, second: str, what: str) -> None:
    if _present(obj, first) and _present(obj, second):
        raise _invalid(_join(path, second), obj[second],
                       f"{_join(path, first)} is given too; {what}: give {first} or {second}, "
                       "not both")
    if not _present(obj, first) and not _present(obj, second):
        raise _missing(_join(path, first), f"{what}: give {first} or {second}")


def _at_least(obj: dict, path: str, name: str, low: int, default: Any = None) -> None:
    value = obj.get(name, default)
    if value is not None and value < low:
        raise _invalid(_join(path, name), value, f"it must be at least {low}")


def _unique(items: Iterable[tuple[str, str]], what: str) -> None:
    seen: dict[str, str] = {}
    for path, key in items:
        if key in seen:
            raise _invalid(path, key, f"{what} must be unique; {seen[key]} has it too")
        seen[key] = path


@_rule("JobBaseProperties")
def _job(job: dict, path: str) -> None:
    given = [_join(path, name) for name in _TOOLKITS if job.get(name) is not None]
    choices = ", ".join(_TOOLKITS)
    if not given:
        raise RequestInvalid(
            "MissingRequiredProperty",
            f"The job in {path or 'the body'} has no toolkit settings: a job must have exactly "
            f"one toolkit settings object among {choices}.", target=path or None)
    if len(given) > 1:
        raise RequestInvalid(
            "InvalidPropertyValue",
            f"The job gives both {given[0]} and {given[1]}: a job must have exactly one toolkit "
            f"settings object among {choices}.", target=given[1])
    _at_least(job, path, "nodeCount", 1)
    cluster_id = job["cluster"]["id"]
    if not _CLUSTER_ID.match(cluster_id):
        raise _invalid(_join(_join(path, "cluster"), "id"), cluster_id,
                       "it must be a cluster resource id, /subscriptions/{subscription}/"
                       "resourceGroups/{group}/providers/Microsoft.BatchAI/workspaces/"
                       "{workspace}/clusters/{cluster}")
    for kind, path_key in (("inputDirectories", "path"), ("outputDirectories", "pathPrefix")):
        directories = job.get(kind) or []
        for index, directory in enumerate(directories):
            if not _DIRECTORY_ID.match(directory["id"]):
                raise _invalid(f"{_join(path, kind)}[{index}].id", directory["id"],
                               "it must match ^[A-Za-z0-9_]+$ (it becomes part of an "
                               "environment variable name)")
        _unique(((f"{_join(path, kind)}[{i}].id", d["id"]) for i, d in enumerate(directories)),
                f"{kind} ids")
    _check_environment(job, path)
    tensorflow = job.get("tensorFlowSettings")
    if tensorflow is not None and tensorflow.get("parameterServerCount") is not None:
        if tensorflow["parameterServerCount"] > job["nodeCount"]:
            raise _invalid(_join(_join(path, "tensorFlowSettings"), "parameterServerCount"),
                           tensorflow["parameterServerCount"],
                           f"it must be at most nodeCount ({job['nodeCount']})")
    limit = (job.get("constraints") or {}).get("maxWallClockTime")
    if limit is not None and not _duration_seconds(limit):
        raise _invalid(_join(_join(path, "constraints"), "maxWallClockTime"), limit,
                       "it must be a positive duration")


@_rule("SetupTask")
def _setup_task(task: dict, path: str) -> None:
    _check_environment(task, path)


def _check_environment(owner: dict, path: str) -> None:
    names = []
    for kind in ("environmentVariables", "secrets"):
        for index, variable in enumerate(owner.get(kind) or []):
            where = f"{_join(path, kind)}[{index}].name"
            if not _ENVIRONMENT_NAME.match(variable["name"]):
                raise _invalid(where, variable["name"],
                               "an environment variable name must match ^[A-Za-z_][A-Za-z0-9_]*$")
            names.append((where, variable["name"]))
    _unique(names, "environment variable names")


@_rule("CNTKsettings")
def _cntk(settings: dict, path: str) -> None:
    language = settings.get("languageType") or "Python"
    if language.lower() == "python":
        if not _present(settings, "pythonScriptFilePath"):
            raise _missing(_join(path, "pythonScriptFilePath"),
                           "a CNTK job with languageType Python runs a Python script")
        if _present(settings, "configFilePath"):
            raise _invalid(_join(path, "configFilePath"), settings["configFilePath"],
                           "it can be given only if languageType is BrainScript")
    elif language.lower() == "brainscript":
        if not _present(settings, "configFilePath"):
            raise _missing(_join(path, "configFilePath"),
                           "a CNTK job with languageType BrainScript runs a config file")
        for name in ("pythonScriptFilePath", "pythonInterpreterPath"):
            if _present(settings, name):
                raise _invalid(_join(path, name), settings[name],
                               "it can be given only if languageType is Python")
    else:
        raise _invalid(_join(path, "languageType"), language,
                       "it must be one of BrainScript, Python (any case)")
    _at_least(settings, path, "processCount", 1)


@_rule("CaffeSettings")
def _caffe(settings: dict, path: str) -> None:
    _exactly_one(settings, path, "configFilePath", "pythonScriptFilePath",
                 "a Caffe job runs a config file or a Python script")
    interpreter_alone = not _present(settings, "pythonScriptFilePath")
    if _present(settings, "pythonInterpreterPath") and interpreter_alone:
        raise _invalid(_join(path, "pythonInterpreterPath"), settings["pythonInterpreterPath"],
                       "it can be given only with pythonScriptFilePath")
    _at_least(settings, path, "processCount", 1)


@_rule("PyTorchSettings")
def _pytorch(settings: dict, path: str) -> None:
    backend = settings.get("communicationBackend")
    if backend is not None and backend.lower() not in ("tcp", "gloo", "mpi"):
        raise _invalid(_join(path, "communicationBackend"), backend,
                       "it must be one of TCP, Gloo, MPI (any case)")
    _at_least(settings, path, "processCount", 1)


@_rule("TensorFlowSettings")
def _tensorflow(settings: dict, path: str) -> None:
    _at_least(settings, path, "workerCount", 1)
    _at_least(settings, path, "parameterServerCount", 1)


@_rule("ChainerSettings", "CustomMpiSettings", "HorovodSettings")
def _process_count(settings: dict, path: str) -> None:
    _at_least(settings, path, "processCount", 1)


@_rule("ScaleSettings")
def _scale(settings: dict, path: str) -> None:
    _exactly_one(settings, path, "manual", "autoScale", "scale settings are manual or automatic")


@_rule("ManualScaleSettings")
def _manual_scale(settings: dict, path: str) -> None:
    _at_least(settings, path, "targetNodeCount", 0)


@_rule("AutoScaleSettings")
def _auto_scale(settings: dict, path: str) -> None:
    for name in ("minimumNodeCount", "maximumNodeCount", "initialNodeCount"):
        _at_least(settings, path, name, 0)
    low, high = settings["minimumNodeCount"], settings["maximumNodeCount"]
    if low > high:
        raise _invalid(_join(path, "minimumNodeCount"), low,
                       f"it must not exceed maximumNodeCount ({high})")
    initial = settings.get("initialNodeCount")
    if initial is not None and not low <= initial <= high:
        raise _invalid(_join(path, "initialNodeCount"), initial,
                       f"it must be within minimumNodeCount ({low}) and maximumNodeCount ({high})")


@_rule("UserAccountSettings")
def _user_account(account: dict, path: str) -> None:
    if not (_present(account, "adminUserPassword") or _present(account, "adminUserSshPublicKey")):
        raise _missing(_join(path, "adminUserPassword"),
                       "the administrator account needs adminUserPassword or "
                       "adminUserSshPublicKey (or both)")


@_rule("SshConfiguration")
def _ssh(configuration: dict, path: str) -> None:
    ranges = configuration.get("publicIPsToAllow") or []
    if len(ranges) > 400:
        raise _invalid(_join(path, "publicIPsToAllow"), f"{len(ranges)} IP ranges",
                       "at most 400 IP ranges can be given")


@_rule("ClusterBaseProperties")
def _cluster(cluster: dict, path: str) -> None:
    size = cluster["vmSize"]
    if _UNSUPPORTED_VM_SIZE.match(size):
        raise _invalid(_join(path, "vmSize"), size,
                       "it is not a supported VM size; Batch AI clusters support all Azure VM "
                       "sizes except STANDARD_A0 and those with premium storage (STANDARD_GS, "
                       "STANDARD_DS and STANDARD_DSV2 series)")


@_rule("DataDisks")
def _data_disks(disks: dict, path: str) -> None:
    for name, low, high in (("diskCount", 1, 64), ("diskSizeInGB", 1, 4095)):
        if not low <= disks[name] <= high:
            raise _invalid(_join(path, name), disks[name], f"it must be from {low} through {high}")


@_rule("ImageReference")
def _image(image: dict, path: str) -> None:
    image_id = image.get("virtualMachineImageId")
    if image_id is not None and not _IMAGE_ID.match(image_id):
        raise _invalid(_join(path, "virtualMachineImageId"), image_id,
                       "it must have the form /subscriptions/{subscription}/resourceGroups/"
                       "{group}/providers/Microsoft.Compute/images/{image}")


@_rule("AzureStorageCredentialsInfo")
def _storage_credentials(credentials: dict, path: str) -> None:
    _exactly_one(credentials, path, "accountKey", "accountKeySecretReference",
                 "storage credentials are a key or a Key Vault reference")


@_rule("PrivateRegistryCredentials")
def _registry_credentials(credentials: dict, path: str) -> None:
    _exactly_one(credentials, path, "password", "passwordSecretReference",
                 "registry credentials are a password or a Key Vault reference")


@_rule("EnvironmentVariableWithSecretValue")
def _secret(variable: dict, path: str) -> None:
    _exactly_one(variable, path, "value", "valueSecretReference",
                 "a secret is a value or a Key Vault reference")


@_rule("AppInsightsReference")
def _app_insights(reference: dict, path: str) -> None:
    _exactly_one(reference, path, "instrumentationKey", "instrumentationKeySecretReference",
                 "Application Insights needs a key or a Key Vault reference")


@_rule("MountVolumes")
def _mount_volumes(volumes: dict, path: str) -> None:
    mounts = []
    for kind in ("azureFileShares", "azureBlobFileSystems", "fileServers", "unmanagedFileSystems"):
        for index, volume in enumerate(volumes.get(kind) or []):
            where = f"{_join(path, kind)}[{index}].relativeMountPath"
            mount = volume["relativeMountPath"]
            if mount.startswith("/") or ".." in mount.split("/"):
                raise _invalid(where, mount, "it must be a relative path without '..'")
            mounts.append((where, mount.strip("/")))
    _unique(mounts, "mount paths")


@_rule("AzureFileShareReference")
def _azure_file_share(share: dict, path: str) -> None:
    if not _URL.match(share["azureFileUrl"]):
        raise _invalid(_join(path, "azureFileUrl"), share["azureFileUrl"],
                       "it must be the share's URL, https://{account}.file.core.windows.net/"
                       "{share}")
    for name in ("fileMode", "directoryMode"):
        mode = share.get(name)
        if mode is not None and not _FILE_MODE.match(mode):
            raise _invalid(_join(path, name), mode, "it must be an octal file mode such as 0777")


@_rule("FileServerReference")
def _file_server_reference(reference: dict, path: str) -> None:
    server_id = reference["fileServer"]["id"]
    if not _FILE_SERVER_ID.match(server_id):
        raise _invalid(_join(_join(path, "fileServer"), "id"), server_id,
                       "it must be a file server resource id, /subscriptions/{subscription}/"
                       "resourceGroups/{group}/providers/Microsoft.BatchAI/workspaces/"
                       "{workspace}/fileservers/{fileServer}")


@_rule("ContainerSettings")
def _container(settings: dict, path: str) -> None:
    size = settings.get("shmSize")
    if size is not None and not _SHM_SIZE.match(size):
        raise _invalid(_join(path, "shmSize"), size,
                       "it must be a docker size: a number of bytes with an optional unit "
                       "b, k, m or g (e.g. 2g)")


def is_spec_operation(operation_id: str) -> bool:
    """Whether *operation_id* is one of the spec's operations (and so validated here)."""
    return operation_id in _operations()
