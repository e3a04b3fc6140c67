"""Batch AI's own JSON specs, read into the library's spec classes and written back.

What is read (``JobSpec.from_json`` / ``ClusterSpec.from_json``):

- a ``JobCreateParameters`` / ``ClusterCreateParameters`` body as ``az batchai job create -f`` /
  ``cluster create -f`` and the Batch AI recipes use it: ``{"properties": {...}}`` or the bare
  properties (a ``$schema`` key is fine);
- a job or cluster as ``GET`` (or ``batchai-kit job show -o json``) returns it: ``id``, ``name``,
  ``type`` and the read-only fields (``executionState``, ``allocationState``...) are ignored;
- a REST API example file (``{"parameters": {"jobName": ..., "parameters": {body}}}``).

Every key is mapped, ignored because the service sets it (read-only, listed below), or refused:
``ValidationError`` for what is invalid, ``UnsupportedSetting`` for what batchai_kit cannot
honour — both name the JSON path (``properties.cntkSettings.processCount``) and the value. Nothing
is silently dropped; ``properties.cluster`` of a job body is the one setting replaced rather than
used: a job runs on the cluster it is submitted to (as with ``az batchai job create -c``).

Mounted Azure file shares of the connection's own storage account (``azure=``) become
FileShare objects — the az CLI's ``<AZURE_BATCHAI_STORAGE_ACCOUNT>`` and
``<AZURE_BATCHAI_STORAGE_KEY>`` placeholders mean that account, as they do for ``az``; shares of
other accounts become ExternalShare objects (mounted, never touched otherwise).
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Callable, Optional

from ._names import check_env_var_name
from .errors import UnsupportedSetting, ValidationError

log = logging.getLogger("batchai_kit.spec_json")

ACCOUNT_PLACEHOLDER = "<AZURE_BATCHAI_STORAGE_ACCOUNT>"
KEY_PLACEHOLDER = "<AZURE_BATCHAI_STORAGE_KEY>"
DEFAULT_FILE_MODE = "0777"

# Keys a resource body may carry around its properties (informational; a URL names the resource).
_ENVELOPE = ("$schema", "id", "name", "type")
# Fields the service sets: present in GET bodies, meaningless in a create request.
JOB_READ_ONLY = ("toolType", "experimentName", "jobOutputDirectoryPathSegment", "creationTime", "provisioningState",
                 "provisioningStateTransitionTime", "executionState", "executionStateTransitionTime",
                 "executionInfo")
CLUSTER_READ_ONLY = ("creationTime", "provisioningState", "provisioningStateTransitionTime", "allocationState",
                     "allocationStateTransitionTime", "errors", "currentNodeCount", "nodeStateCounts")

_SECRET_KEY = re.compile(r"(?i)key|password|secret|token|credential")
_UNSUPPORTED = {
    "location": "belongs to the workspace in API 2018-05-01 (the 2018-03-01 bodies carried it): give the "
                "workspace's location instead (batchai-kit run -l)",
    "subnet": "is not supported by batchai_kit: its clusters join no virtual network",
    "performanceCountersSettings": "is not supported by batchai_kit: it reports no performance counters",
    "azureBlobFileSystems": "is not supported by batchai_kit: it mounts Azure file shares only",
    "fileServers": "is not supported by batchai_kit: it mounts Azure file shares only",
    "unmanagedFileSystems": "is not supported by batchai_kit: it mounts Azure file shares only",
    "shmSize": "is not supported by batchai_kit: a job's container gets the default shared memory",
    "serverUrl": "is not supported by batchai_kit: images come from Docker Hub by name",
    "credentials": "is not supported by batchai_kit: images come from public registries",
    "valueSecretReference": "is not supported by batchai_kit (no Key Vault): give the secret's value",
    "accountKeySecretReference": "is not supported by batchai_kit (no Key Vault): give accountKey",
    "virtualMachineImageId": "is not supported by batchai_kit: give a marketplace image "
                             "(publisher, offer, sku, version)",
}

TOOLKIT_KEYS = ("cntkSettings", "pyTorchSettings", "tensorFlowSettings", "caffeSettings", "caffe2Settings",
                "chainerSettings", "customToolkitSettings", "customMpiSettings", "horovodSettings")
_TOOL_TYPES = {"cntkSettings": "cntk", "pyTorchSettings": "pytorch", "tensorFlowSettings": "tensorflow",
               "caffeSettings": "caffe", "caffe2Settings": "caffe2", "chainerSettings": "chainer",
               "customToolkitSettings": "custom", "customMpiSettings": "custommpi", "horovodSettings": "horovod"}
_SCRIPT = {"pythonScriptFilePath": "script", "pythonInterpreterPath": "python_interpreter",
           "commandLineArgs": "args"}
# JSON key -> spec field, per toolkit setting
_TOOLKIT_FIELDS: dict[str, dict[str, str]] = {
    "cntkSettings": {**_SCRIPT, "languageType": "language", "configFilePath": "config_file",
                     "processCount": "process_count"},
    "pyTorchSettings": {**_SCRIPT, "processCount": "process_count", "communicationBackend": "backend"},
    "tensorFlowSettings": {"pythonScriptFilePath": "script", "pythonInterpreterPath": "python_interpreter",
                           "masterCommandLineArgs": "master_args", "workerCommandLineArgs": "worker_args",
                           "parameterServerCommandLineArgs": "ps_args", "workerCount": "worker_count",
                           "parameterServerCount": "ps_count"},
    "caffeSettings": {**_SCRIPT, "configFilePath": "config_file", "processCount": "process_count"},
    "caffe2Settings": dict(_SCRIPT),
    "chainerSettings": {**_SCRIPT, "processCount": "process_count"},
    "horovodSettings": {**_SCRIPT, "processCount": "process_count"},
    "customToolkitSettings": {"commandLine": "command"},
    "customMpiSettings": {"commandLine": "command", "processCount": "process_count"},
}
_INTEGERS = {"processCount", "workerCount", "parameterServerCount", "nodeCount", "targetNodeCount",
             "minimumNodeCount", "maximumNodeCount", "initialNodeCount"}


# --- reading JSON objects, key by key ------------------------------------------------------------


def _kind(value: object) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "true/false", int: "a number",
            float: "a number", type(None): "null"}.get(type(value), type(value).__name__)


class _Object:
    """A JSON object being read: every key taken is marked; ``finish()`` refuses the others."""

    def __init__(self, value: object, path: str, *, ignored: tuple[str, ...] = ()):
        if not isinstance(value, Mapping):
            raise ValidationError(path or "(top level)", value, f"must be a JSON object, not {_kind(value)}")
        self.value = value
        self.path = path
        self.taken = set(ignored)

    def at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def take(self, key: str, kind: type | None = str, *, required: bool = False, secret: bool = False) -> Any:
        self.taken.add(key)
        value = self.value.get(key)
        if value is None:
            if required:
                raise ValidationError(self.at(key), None, "is required")
            return None
        if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValidationError(self.at(key), value, f"must be a whole number, not {_kind(value)}", secret=secret)
        if kind in (str, list) and not isinstance(value, kind):
            raise ValidationError(self.at(key), value, f"must be {_kind(kind())}, not {_kind(value)}", secret=secret)
        return value

    def object(self, key: str, *, required: bool = False) -> Optional[_Object]:
        value = self.take(key, None, required=required)
        return None if value is None else _Object(value, self.at(key))

    def objects(self, key: str) -> list[_Object]:
        items = self.take(key, list) or []
        return [_Object(item, f"{self.at(key)}[{index}]") for index, item in enumerate(items)]

    def finish(self) -> None:
        for key in self.value:
            if key in self.taken:
                continue
            value = self.value[key]
            secret = bool(_SECRET_KEY.search(key))
            if key in _UNSUPPORTED and value is not None:
                raise UnsupportedSetting(self.at(key), value, _UNSUPPORTED[key], secret=secret)
            raise ValidationError(self.at(key), value, "is not a field here in Batch AI's API 2018-05-01 "
                                                       "(check its spelling and place)", secret=secret)


def _load(source: Any) -> tuple[Any, str]:
    """The parsed JSON and what to call it in messages."""
    if isinstance(source, Mapping):
        return source, "the JSON"
    if isinstance(source, (bytes, str)) and not isinstance(source, os.PathLike):
        text, where = source, "the JSON text"
    elif isinstance(source, os.PathLike):
        path = Path(source)
        try:
            text = path.read_text(encoding="utf-8-sig")
        except OSError as exc:
            raise ValidationError("JSON file", str(path), f"cannot be read: {exc.strerror or exc}") from None
        where = str(path)
    else:
        raise ValidationError("source", source, "must be a mapping, JSON text (str) or a file path (os.PathLike)")
    try:
        return json.loads(text), where
    except ValueError as exc:
        raise ValidationError(where, _clip(text), f"is not valid JSON: {exc}") from None


def _clip(text: Any) -> str:
    text = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return text if len(text) <= 60 else text[:57] + "..."


def _unwrap(source: Any, name_key: str, read_only: tuple[str, ...]) -> tuple[_Object, Optional[str]]:
    """The properties object of a body in any of the accepted shapes, and the name it carries."""
    data, _ = _load(source)
    top = _Object(data, "")
    if isinstance(data, Mapping) and isinstance(data.get("parameters"), Mapping) \
            and isinstance(data["parameters"].get("parameters"), Mapping):
        # a REST API example file: {"parameters": {<names>, "parameters": <body>}, "responses": ...}
        example = data["parameters"]
        body = _Object(example["parameters"], "parameters.parameters")
        name = example.get(name_key)
    else:
        body, name = top, None
    if isinstance(body.value.get("properties"), Mapping):
        properties = _Object(body.value["properties"], body.at("properties"), ignored=read_only)
        body.taken.update(("properties", *_ENVELOPE))
        body.finish()  # nothing but the envelope around the properties
    else:  # the bare properties, perhaps flattened around id/name/type as az prints them
        properties = _Object(body.value, body.path, ignored=read_only + _ENVELOPE)
    wrapper_name = body.value.get("name")
    return properties, name or (wrapper_name if isinstance(wrapper_name, str) else None)


def _rename_errors(fields: Mapping[str, str], base: str) -> Callable[[ValidationError], ValidationError]:
    """Report a spec's own ValidationError under the JSON path its field came from."""

    def rename(exc: ValidationError) -> ValidationError:
        head = re.split(r"[ \[]", exc.field, maxsplit=1)[0]
        if exc.field in fields:
            field = fields[exc.field]
        elif head in fields:
            field = fields[head] + exc.field[len(head):]
        else:
            field = f"{base} ({exc.field})"
        return type(exc)(field, exc.value, exc.rule, secret=exc.secret)

    return rename


def _build(factory: Callable[..., Any], kwargs: dict[str, Any], rename: Callable[[ValidationError], ValidationError]
           ) -> Any:
    try:
        return factory(**kwargs)
    except ValidationError as exc:
        raise rename(exc) from None


def _variables(parent: _Object, key: str, *, secret: bool) -> dict[str, str]:
    found: dict[str, str] = {}
    for item in parent.objects(key):
        name = item.take("name", required=True)
        value = item.take("value", secret=secret)
        item.finish()  # a Key Vault reference instead of the value is refused here, by name
        if value is None:
            raise ValidationError(item.at("value"), None, "is required")
        _build(check_env_var_name, {"value": name}, _rename_errors({"environment variable name": item.at("name")},
                                                                     item.path))
        if name in found:
            raise ValidationError(item.at("name"), name, "is given twice")
        found[name] = value
    return found


def _duration(parent: _Object, key: str) -> Optional[datetime.timedelta]:
    text = parent.take(key)
    if text is None:
        return None
    import isodate

    try:
        value = isodate.parse_duration(text)
    except (isodate.ISO8601Error, ValueError):
        value = None
    if not isinstance(value, datetime.timedelta):
        raise ValidationError(parent.at(key), text, "must be an ISO 8601 duration in days or less, e.g. P7D or PT2H")
    return value


# --- mounts ----------------------------------------------------------------------------------------


def _shares(volumes: Optional[_Object], azure: Any) -> list[Any]:
    if volumes is None:
        return []
    shares = [_share(item, azure) for item in volumes.objects("azureFileShares")]
    volumes.finish()
    return shares


def _own_share_name(url: str, azure: Any) -> Optional[str]:
    """The share's name if ``url`` is on the connection's storage account, else None."""
    if azure is None or not azure.storage_account:
        return None
    account = azure.storage_account
    candidates = [azure.file_endpoint + "/", f"https://{account}.file."]
    if not any(url.lower().startswith(prefix.lower()) for prefix in candidates):
        return None
    if url.lower().startswith(candidates[0].lower()):
        rest = url[len(candidates[0]):]
    else:
        rest = url.split("/", 3)[3] if url.count("/") >= 3 else ""
    return rest.strip("/")


def _share(item: _Object, azure: Any) -> Any:
    from ._share import ExternalShare, FileShare

    url = item.take("azureFileUrl", required=True)
    account = item.take("accountName")
    mount_as = item.take("relativeMountPath", required=True)
    file_mode = item.take("fileMode") or DEFAULT_FILE_MODE
    directory_mode = item.take("directoryMode") or DEFAULT_FILE_MODE
    credentials = item.object("credentials")
    key = credentials.take("accountKey", secret=True) if credentials else None
    if credentials:
        credentials.finish()
    item.finish()
    placeholder = ACCOUNT_PLACEHOLDER in url or account == ACCOUNT_PLACEHOLDER or key == KEY_PLACEHOLDER
    if placeholder and (azure is None or not azure.storage_account):
        what = "azureFileUrl" if ACCOUNT_PLACEHOLDER in url else "accountName" if account == ACCOUNT_PLACEHOLDER \
            else "credentials.accountKey"
        raise ValidationError(item.at(what), url if what == "azureFileUrl" else account if what == "accountName"
                              else "<redacted>",
                              "is the az CLI's placeholder for the connection's storage account: read the spec "
                              "with a connection that has one (azure=, or batchai-kit run)")
    if azure is not None and azure.storage_account:
        url = url.replace(ACCOUNT_PLACEHOLDER, azure.storage_account)
        if account == ACCOUNT_PLACEHOLDER:
            account = azure.storage_account
    name = _own_share_name(url, azure)
    if name is not None:
        if account not in (None, azure.storage_account):
            raise ValidationError(item.at("accountName"), account,
                                  f"does not match azureFileUrl, a share of account {azure.storage_account}")
        if key not in (None, KEY_PLACEHOLDER, azure.storage_key):
            raise ValidationError(item.at("credentials.accountKey"), key, "is not the key of the connection's "
                                  f"storage account {azure.storage_account}: leave it out or use {KEY_PLACEHOLDER}",
                                  secret=True)
        for mode_key, mode in (("fileMode", file_mode), ("directoryMode", directory_mode)):
            if mode.lstrip("0") != DEFAULT_FILE_MODE.lstrip("0"):
                raise UnsupportedSetting(item.at(mode_key), mode, "batchai_kit mounts its shares with mode 0777")
        if "/" in name or not name:
            raise ValidationError(item.at("azureFileUrl"), url, "must name one share: https://<account>.file."
                                  "core.windows.net/<share>")
        return _build(lambda **kw: FileShare(azure, name, **kw), {"mount_as": mount_as},
                      _rename_errors({"name": item.at("azureFileUrl"), "share name": item.at("azureFileUrl"),
                                      "mount_as": item.at("relativeMountPath")}, item.path))
    if key is None:
        raise ValidationError(item.at("credentials.accountKey"), None,
                              "is required for a share of another storage account than the connection's")
    if account is None:
        host = url.split("/")[2] if url.count("/") >= 2 else ""
        account = host.split(".", 1)[0]
    return _build(ExternalShare, {"account_name": account, "url": url, "mount_as": mount_as, "account_key": key,
                                  "file_mode": file_mode, "directory_mode": directory_mode},
                  _rename_errors({"account_name": item.at("accountName"), "storage account name":
                                  item.at("accountName"), "azure_file_url": item.at("azureFileUrl"),
                                  "mount_as": item.at("relativeMountPath"), "file_mode": item.at("fileMode"),
                                  "directory_mode": item.at("directoryMode")}, item.path))


# --- jobs ------------------------------------------------------------------------------------------


def read_job(source: Any, *, name: Optional[str] = None, azure: Any = None) -> tuple[Any, Optional[str]]:
    """``(spec, cluster id or None)`` from a job body; see the module docstring."""
    from . import _jobs

    classes = {"cntkSettings": _jobs.CntkJob, "pyTorchSettings": _jobs.PyTorchJob,
               "tensorFlowSettings": _jobs.TensorFlowJob, "caffeSettings": _jobs.CaffeJob,
               "caffe2Settings": _jobs.Caffe2Job, "chainerSettings": _jobs.ChainerJob,
               "customToolkitSettings": _jobs.CustomJob, "customMpiSettings": _jobs.CustomMpiJob,
               "horovodSettings": _jobs.HorovodJob}
    props, body_name = _unwrap(source, "jobName", JOB_READ_ONLY)
    present = [key for key in TOOLKIT_KEYS if props.value.get(key) is not None]
    if len(present) != 1:
        raise ValidationError(props.at(present[1]) if present else props.path or "(top level)",
                              present or None, "a job needs exactly one toolkit setting: one of "
                                               + ", ".join(TOOLKIT_KEYS))
    toolkit = present[0]
    tool_type = props.value.get("toolType")
    if tool_type is not None and str(tool_type).lower() != _TOOL_TYPES[toolkit]:
        raise ValidationError(props.at("toolType"), tool_type, f"does not match {toolkit} "
                                                               f"(toolType {_TOOL_TYPES[toolkit]})")
    fields: dict[str, str] = {
        "name": "name", "node_count": props.at("nodeCount"), "inputs": props.at("inputDirectories"),
        "outputs": props.at("outputDirectories"), "env": props.at("environmentVariables"),
        "secrets": props.at("secrets"), "image": props.at("containerSettings.imageSourceRegistry.image"),
        "priority": props.at("schedulingPriority"), "max_wall_clock": props.at("constraints.maxWallClockTime"),
        "preparation": props.at("jobPreparation.commandLine"), "stdouterr": props.at("stdOutErrPathPrefix"),
        "mounts": props.at("mountVolumes.azureFileShares"),
    }
    kwargs: dict[str, Any] = {"name": name or body_name}
    if kwargs["name"] is None:
        raise ValidationError("name", None, "a job body carries no name (Batch AI takes it from the URL): "
                                            "give one (name=, or batchai-kit run --name)")
    settings = props.object(toolkit)
    assert settings is not None
    for key, field in _TOOLKIT_FIELDS[toolkit].items():
        fields[field] = settings.at(key)
        value = settings.take(key, int if key in _INTEGERS else str)
        if value is not None:
            kwargs[field] = value
    settings.finish()
    cluster = props.object("cluster")
    cluster_id = cluster.take("id", required=True) if cluster else None
    if cluster:
        cluster.finish()
    node_count = props.take("nodeCount", int)
    if node_count is not None:
        kwargs["node_count"] = node_count
    priority = props.take("schedulingPriority")
    if priority is not None:
        kwargs["priority"] = priority
    container = props.object("containerSettings")
    if container is not None:
        registry = container.object("imageSourceRegistry", required=True)
        assert registry is not None
        kwargs["image"] = registry.take("image", required=True)
        registry.finish()
        container.finish()
    preparation = props.object("jobPreparation")
    if preparation is not None:
        kwargs["preparation"] = preparation.take("commandLine", required=True)
        preparation.finish()
    stdouterr = props.take("stdOutErrPathPrefix")
    if stdouterr is not None:
        kwargs["stdouterr"] = stdouterr
    inputs: dict[str, Any] = {}
    for item in props.objects("inputDirectories"):
        directory_id = item.take("id", required=True)
        if directory_id in inputs:
            raise ValidationError(item.at("id"), directory_id, "is given twice")
        inputs[directory_id] = item.take("path", required=True)
        item.finish()
    outputs: dict[str, Any] = {}
    for item in props.objects("outputDirectories"):
        directory_id = item.take("id", required=True)
        if directory_id in outputs:
            raise ValidationError(item.at("id"), directory_id, "is given twice")
        prefix, suffix = item.take("pathPrefix", required=True), item.take("pathSuffix")
        item.finish()
        outputs[directory_id] = prefix if suffix is None else _build(
            _jobs.OutputLocation, {"prefix": prefix, "suffix": suffix},
            _rename_errors({"prefix": item.at("pathPrefix"), "suffix": item.at("pathSuffix")}, item.path))
    if inputs:
        kwargs["inputs"] = inputs
    if outputs:
        kwargs["outputs"] = outputs
    env = _variables(props, "environmentVariables", secret=False)
    if env:
        kwargs["env"] = env
    secrets = _variables(props, "secrets", secret=True)
    if secrets:
        kwargs["secrets"] = secrets
    constraints = props.object("constraints")
    if constraints is not None:
        wall_clock = _duration(constraints, "maxWallClockTime")
        if wall_clock is not None:
            kwargs["max_wall_clock"] = wall_clock
        constraints.finish()
    mounts = _shares(props.object("mountVolumes"), azure)
    if mounts:
        kwargs["mounts"] = mounts
    props.finish()
    spec = _build(classes[toolkit], kwargs, _rename_errors(fields, props.path or "(top level)"))
    return spec, cluster_id


def job_from_json(source: Any, *, name: Optional[str] = None, azure: Any = None) -> Any:
    spec, cluster_id = read_job(source, name=name, azure=azure)
    if cluster_id is not None:
        log.info("properties.cluster (%s) is not used: the job runs on the cluster it is submitted to", cluster_id)
    return spec


def _serializer() -> Any:
    from azure.mgmt.batchai import models
    from msrest import Serializer

    return Serializer({k: v for k, v in vars(models).items() if isinstance(v, type)})


def job_to_json(spec: Any, cluster_id: Optional[str], *, default_stdouterr: Any = None) -> dict[str, Any]:
    """``{"properties": {...}}``: the create body, leaving out what the spec does not say."""
    placeholder = "$AZ_BATCHAI_MOUNT_ROOT"
    missing_stdouterr = spec.stdouterr is None and default_stdouterr is None
    parameters = spec.to_parameters(cluster_id or "/unused",
                                    default_stdouterr=placeholder if missing_stdouterr else default_stdouterr)
    body = _serializer().body(parameters, "JobCreateParameters")
    if cluster_id is None:
        body["properties"].pop("cluster", None)
    if missing_stdouterr:
        body["properties"].pop("stdOutErrPathPrefix", None)
    return body


# --- clusters ----------------------------------------------------------------------------------------


def read_cluster(source: Any, *, azure: Any = None) -> tuple[Any, Optional[str]]:
    """``(ClusterSpec, the name the body carries or None)``; see the module docstring."""
    from ._cluster import ClusterSpec

    props, body_name = _unwrap(source, "clusterName", CLUSTER_READ_ONLY)
    fields = {"vm_size": props.at("vmSize"), "priority": props.at("vmPriority"),
              "image": props.at("virtualMachineConfiguration.imageReference"),
              "admin_user": props.at("userAccountSettings.adminUserName"),
              "admin_password": props.at("userAccountSettings.adminUserPassword"),
              "admin_ssh_key": props.at("userAccountSettings.adminUserSshPublicKey"),
              "mounts": props.at("nodeSetup.mountVolumes.azureFileShares"),
              "setup_command": props.at("nodeSetup.setupTask.commandLine"),
              "setup_env": props.at("nodeSetup.setupTask.environmentVariables"),
              "setup_secrets": props.at("nodeSetup.setupTask.secrets"),
              "setup_output": props.at("nodeSetup.setupTask.stdOutErrPathPrefix")}
    kwargs: dict[str, Any] = {"vm_size": props.take("vmSize", required=True)}
    priority = props.take("vmPriority")
    if priority is not None:
        kwargs["priority"] = priority
    scale = props.object("scaleSettings")
    if scale is not None:
        manual, auto = scale.object("manual"), scale.object("autoScale")
        if (manual is None) == (auto is None):
            raise ValidationError(scale.path, dict(scale.value), "must give exactly one of manual and autoScale")
        if manual is not None:
            fields.update(nodes=manual.at("targetNodeCount"))
            kwargs["nodes"] = manual.take("targetNodeCount", int, required=True)
            deallocation = manual.take("nodeDeallocationOption")
            if deallocation is not None and deallocation.lower() != "requeue":
                raise UnsupportedSetting(manual.at("nodeDeallocationOption"), deallocation,
                                         "batchai_kit resizes with the default, requeue, only")
            manual.finish()
        if auto is not None:
            fields.update({"nodes": auto.at("initialNodeCount"), "min_nodes/max_nodes": auto.path,
                           "min_nodes": auto.at("minimumNodeCount"), "max_nodes": auto.at("maximumNodeCount"),
                           "minimum node count": auto.at("minimumNodeCount"),
                           "maximum node count": auto.at("maximumNodeCount")})
            kwargs["min_nodes"] = auto.take("minimumNodeCount", int, required=True)
            kwargs["max_nodes"] = auto.take("maximumNodeCount", int, required=True)
            initial = auto.take("initialNodeCount", int)
            if initial is not None:
                kwargs["nodes"] = initial
            auto.finish()
        scale.finish()
    machine = props.object("virtualMachineConfiguration")
    if machine is not None:
        image = machine.object("imageReference")
        if image is not None:
            kwargs["image"] = (image.take("publisher", required=True), image.take("offer", required=True),
                               image.take("sku", required=True), image.take("version") or "latest")
            image.finish()
        machine.finish()
    account = props.object("userAccountSettings")
    if account is not None:
        kwargs["admin_user"] = account.take("adminUserName", required=True)
        kwargs["admin_password"] = account.take("adminUserPassword", secret=True)
        kwargs["admin_ssh_key"] = account.take("adminUserSshPublicKey")
        account.finish()
    setup = props.object("nodeSetup")
    if setup is not None:
        mounts = _shares(setup.object("mountVolumes"), azure)
        if mounts:
            kwargs["mounts"] = mounts
        task = setup.object("setupTask")
        if task is not None:
            task.taken.add("stdOutErrPathSuffix")  # read-only: the service makes it
            kwargs["setup_command"] = task.take("commandLine", required=True)
            kwargs["setup_output"] = task.take("stdOutErrPathPrefix", required=True)
            kwargs["setup_env"] = _variables(task, "environmentVariables", secret=False)
            kwargs["setup_secrets"] = _variables(task, "secrets", secret=True)
            task.finish()
        setup.finish()
    props.finish()
    spec = _build(ClusterSpec, kwargs, _rename_errors(fields, props.path or "(top level)"))
    return spec, body_name


def cluster_from_json(source: Any, *, azure: Any = None) -> Any:
    return read_cluster(source, azure=azure)[0]


def cluster_to_json(spec: Any, default_admin: Any = None) -> dict[str, Any]:
    """``{"properties": {...}}``: the create body; without an admin account (in the spec or
    ``default_admin``) ``userAccountSettings`` is left out."""
    from ._connection import AdminUser

    have_admin = spec.admin_user is not None or default_admin is not None
    parameters = spec.to_parameters(default_admin if have_admin else AdminUser("unused", password="unused"))
    body = _serializer().body(parameters, "ClusterCreateParameters")
    if not have_admin:
        body["properties"].pop("userAccountSettings", None)
    return body
