"""The rules the spec states in prose, one per definition (``_RULES``, keyed by its name).

Each gets an object whose shape the schema walk has already checked, and the object's property
path; it raises ``RequestInvalid`` worded as the walk words its own refusals. The package
docstring lists the rules and where the spec is silent, what they choose.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Mapping

from ._schema import RequestInvalid, Rule, _duration_seconds, _invalid, _join, _missing

_RULES: dict[str, Rule] = {}


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
    for kind in ("inputDirectories", "outputDirectories"):
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
