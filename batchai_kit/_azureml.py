"""Port a Batch AI cluster and job to Azure Machine Learning (CLI/SDK v2 YAML).

Batch AI was retired in 2019; Azure Machine Learning's AmlCompute clusters and command jobs
took its place. :func:`to_azureml` turns a cluster and a job — the library's specs
(:class:`~batchai_kit.ClusterSpec`, :class:`~batchai_kit.CntkJob`, ...) or Batch AI's own JSON
bodies (``ClusterCreateParameters`` / ``JobCreateParameters``, the files ``az batchai ... -f``
read) — into three kinds of YAML that ``az ml`` and azure-ai-ml load:

- ``compute.yml``: an AmlCompute cluster (size, min/max instances, tier, SSH access);
- ``datastore-<name>.yml``: an Azure Files datastore for each mounted file share;
- ``job.yml``: a command job (command with ``$AZ_BATCHAI_INPUT_X`` / ``$AZ_BATCHAI_OUTPUT_X``
  rewritten to ``${{inputs.X}}`` / ``${{outputs.X}}``, ``uri_folder`` inputs and outputs on the
  datastores, the environment from the job's container image, ``resources.instance_count``,
  the ``distribution`` (mpi, pytorch, tensorflow) from the toolkit and counts,
  ``limits.timeout`` from the wall-clock limit, environment variables);

plus the ``az ml`` commands that create them. Whatever has no Azure ML counterpart (secrets,
setup tasks, job preparation, retired VM sizes, private registry credentials, ...) is named in
``notes``; nothing is dropped silently, and no secret is ever written.
"""

from __future__ import annotations

import datetime
import math
import re
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import attrs

from .errors import ValidationError

SCHEMAS = {
    "compute": "https://azuremlschemas.azureedge.net/latest/amlCompute.schema.json",
    "job": "https://azuremlschemas.azureedge.net/latest/commandJob.schema.json",
    "azure_file": "https://azuremlschemas.azureedge.net/latest/azureFile.schema.json",
    "azure_blob": "https://azuremlschemas.azureedge.net/latest/azureBlob.schema.json",
}
# Batch AI's default maxWallClockTime (7 days): kept explicit, Azure ML has no such default.
DEFAULT_WALL_CLOCK = datetime.timedelta(days=7)
# An image for jobs that ran on the host VM (no container): OpenMPI, Ubuntu, conda.
HOST_IMAGE = "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest"

# Retired GPU sizes (NC, NCv2, ND: 2023; NCv3: 2025) -> a current size with at least as many GPUs.
RETIRED_SIZES = {
    "standard_nc6": "Standard_NC4as_T4_v3", "standard_nc12": "Standard_NC64as_T4_v3",
    "standard_nc24": "Standard_NC64as_T4_v3", "standard_nc24r": "Standard_NC64as_T4_v3",
    "standard_nc6s_v2": "Standard_NC4as_T4_v3", "standard_nc12s_v2": "Standard_NC64as_T4_v3",
    "standard_nc24s_v2": "Standard_NC64as_T4_v3", "standard_nc24rs_v2": "Standard_NC64as_T4_v3",
    "standard_nc6s_v3": "Standard_NC4as_T4_v3", "standard_nc12s_v3": "Standard_NC64as_T4_v3",
    "standard_nc24s_v3": "Standard_NC64as_T4_v3", "standard_nc24rs_v3": "Standard_NC64as_T4_v3",
    "standard_nd6s": "Standard_NC4as_T4_v3", "standard_nd12s": "Standard_NC64as_T4_v3",
    "standard_nd24s": "Standard_NC64as_T4_v3", "standard_nd24rs": "Standard_NC64as_T4_v3",
}
TIERS = {"dedicated": "dedicated", "lowpriority": "low_priority"}
TOOLKITS = ("cntkSettings", "pyTorchSettings", "tensorFlowSettings", "chainerSettings", "caffeSettings",
            "caffe2Settings", "customToolkitSettings", "customMpiSettings", "horovodSettings")
# $AZ_BATCHAI_* variables with no Azure ML counterpart -> what to use instead.
NODE_VARIABLES = {
    "AZ_BATCHAI_TASK_INDEX": "$RANK (Azure ML sets it for distributed jobs)",
    "AZ_BATCHAI_JOB_TEMP": "$TMPDIR or a local path",
    "AZ_BATCHAI_JOB_TEMP_DIR": "$TMPDIR or a local path",
    "AZ_BATCHAI_SHARED_JOB_TEMP": "an output of the job (uri_folder)",
    "AZ_BATCHAI_STDOUTERR_DIR": "the job's logs in Azure ML studio (user_logs/)",
    "AZ_BATCHAI_MPI_HOST_FILE": "nothing: Azure ML launches MPI itself (distribution: mpi)",
    "AZ_BATCHAI_JOB_MASTER_NODE_IP": "$MASTER_ADDR (pytorch distribution)",
    "AZ_BATCHAI_NODE_IP": "the node's own address",
    "AZ_BATCHAI_IS_CURRENT_NODE_MASTER": "$NODE_RANK == 0",
    "AZ_BATCHAI_PS_HOSTS": "$TF_CONFIG (tensorflow distribution)",
    "AZ_BATCHAI_WORKER_HOSTS": "$TF_CONFIG (tensorflow distribution)",
    "AZ_BATCHAI_NUM_GPUS": "the VM size's GPU count",
}
_VARIABLE = re.compile(r"\$(?:\{(AZ_BATCHAI_[A-Za-z0-9_]+)\}|(AZ_BATCHAI_[A-Za-z0-9_]+))")
_ROOTED = re.compile(r"\$\{?(AZ_BATCHAI_(?:JOB_)?MOUNT_ROOT)\}?/([^/\s\"']+)((?:/[^\s\"']*)?)")
_COMPUTE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{1,15}$")
_DATASTORE_NAME = re.compile(r"[^a-z0-9_]")


@attrs.frozen
class AzureMLExport:
    """The Azure ML form of a Batch AI cluster and job: YAML documents, notes and commands."""

    compute: dict[str, Any]
    job: dict[str, Any]
    datastores: dict[str, dict[str, Any]]  # datastore name -> its YAML document
    notes: tuple[str, ...]  # what changed or has no counterpart, one sentence each
    commands: tuple[str, ...]  # az ml commands, in order

    def files(self) -> dict[str, str]:
        """File name -> YAML text: ``compute.yml``, ``datastore-<name>.yml`` ..., ``job.yml``."""
        import yaml

        def dump(document: dict[str, Any]) -> str:
            return yaml.safe_dump(document, sort_keys=False, default_flow_style=False, width=120)

        found = {"compute.yml": dump(self.compute)}
        found.update({f"datastore-{name}.yml": dump(document) for name, document in self.datastores.items()})
        found["job.yml"] = dump(self.job)
        return found

    def write(self, directory: str | Path) -> list[Path]:
        """Write the YAML files and ``PORTING.md`` (notes and commands) into ``directory``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        written = []
        for name, text in {**self.files(), "PORTING.md": self.report()}.items():
            path = directory / name
            path.write_text(text)
            written.append(path)
        return written

    def report(self) -> str:
        """The notes and the commands, as Markdown."""
        lines = ["# Porting notes", "", "What changed on the way to Azure ML, or has no counterpart there:", ""]
        lines += [f"- {note}" for note in self.notes] or ["- nothing"]
        lines += ["", "# Commands", "", "```bash", *self.commands, "```", ""]
        return "\n".join(lines)


def to_azureml(cluster: Any, job: Any, *, compute_name: str | None = None, experiment: str | None = None,
               resource_group: str = "<resource-group>", workspace: str = "<azureml-workspace>",
               vm_size: str | None = None) -> AzureMLExport:
    """The Azure ML form of ``cluster`` and ``job``.

    ``cluster``: a :class:`~batchai_kit.ClusterSpec`, a Batch AI ``ClusterCreateParameters`` body
    (dict, with or without ``properties``), or None (the compute then has only a name).
    ``job``: a job spec (:class:`~batchai_kit.CntkJob`, ...) or a ``JobCreateParameters`` body.
    ``compute_name`` defaults to the name in the job's cluster id, else ``batchai-cluster``;
    ``vm_size`` overrides the size (e.g. instead of a retired one's suggested replacement).

    Raises:
        ValidationError: a body is not a Batch AI cluster/job, naming the field and the rule.
    """
    notes: list[str] = []
    cluster_properties = _cluster_properties(cluster) if cluster is not None else {}
    job_properties = _job_properties(job)
    name = compute_name or _cluster_name(job_properties) or "batchai-cluster"
    if not _COMPUTE_NAME.match(name):
        fixed = re.sub(r"[^A-Za-z0-9-]", "-", name).strip("-")[:16] or "batchai-cluster"
        fixed = fixed if fixed[0].isalpha() else f"c{fixed}"[:16]
        notes.append(f"Compute name {name!r} breaks Azure ML's rule (2-16 letters, digits, hyphens, starting with a "
                     f"letter): it is {fixed!r} here.")
        name = fixed
    shares = _Shares(notes)
    shares.add_mounts(cluster_properties.get("nodeSetup", {}).get("mountVolumes"), "AZ_BATCHAI_MOUNT_ROOT", "cluster")
    shares.add_mounts(job_properties.get("mountVolumes"), "AZ_BATCHAI_JOB_MOUNT_ROOT", "job")
    compute = _compute(name, cluster_properties, vm_size, notes) if cluster is not None else _bare_compute(name, notes)
    command_job = _JobPorter(job_properties, shares, notes).port(name, experiment)
    commands = _commands(shares.documents, resource_group, workspace)
    return AzureMLExport(compute=compute, job=command_job, datastores=shares.documents, notes=tuple(notes),
                         commands=commands)


# --- bodies ---------------------------------------------------------------------------------------


def _properties(body: Any, what: str) -> dict[str, Any]:
    if not isinstance(body, Mapping):
        raise ValidationError(what, type(body).__name__, "must be a spec object or a Batch AI JSON body (an object)")
    properties = body.get("properties", body)
    if not isinstance(properties, Mapping):
        raise ValidationError(f"{what}.properties", properties, "must be an object")
    return dict(properties)


def _cluster_properties(cluster: Any) -> dict[str, Any]:
    from ._cluster import ClusterSpec

    if isinstance(cluster, ClusterSpec):
        return _properties(cluster.to_parameters(None, require_admin=False).serialize(), "cluster")
    properties = _properties(cluster, "cluster")
    if not properties.get("vmSize"):
        raise ValidationError("cluster.properties.vmSize", properties.get("vmSize"),
                              "is required: a Batch AI cluster body (ClusterCreateParameters) names its VM size")
    return properties


def _job_properties(job: Any) -> dict[str, Any]:
    from ._jobs import JobSpec

    if isinstance(job, JobSpec):
        body = job.to_parameters("/batchai-kit/clusters/" + "unknown", default_stdouterr="$AZ_BATCHAI_JOB_TEMP")
        properties = _properties(body.serialize(), "job")
        properties.pop("cluster", None)
        if job.stdouterr is None:
            properties.pop("stdOutErrPathPrefix", None)
        return properties
    properties = _properties(job, "job")
    present = [key for key in TOOLKITS if properties.get(key) is not None]
    if len(present) != 1:
        raise ValidationError("job.properties", present or None,
                              f"a Batch AI job body has exactly one toolkit setting ({', '.join(TOOLKITS)})")
    return properties


def _cluster_name(job: dict[str, Any]) -> str | None:
    cluster_id = ((job.get("cluster") or {}).get("id") or "").rstrip("/")
    name = cluster_id.rsplit("/", 1)[-1]
    return name if cluster_id and name != "unknown" else None


# --- compute --------------------------------------------------------------------------------------


def _compute(name: str, cluster: dict[str, Any], vm_size: str | None, notes: list[str]) -> dict[str, Any]:
    size = cluster["vmSize"]
    if vm_size:
        size = vm_size
    elif size.lower() in RETIRED_SIZES:
        replacement = RETIRED_SIZES[size.lower()]
        notes.append(f"VM size {size} is retired on Azure: the compute uses {replacement}, a current size with at "
                     f"least as many GPUs (choose another with vm_size= / --vm-size).")
        size = replacement
    compute: dict[str, Any] = {"$schema": SCHEMAS["compute"], "name": name, "type": "amlcompute", "size": size}
    scale = cluster.get("scaleSettings") or {}
    if scale.get("autoScale"):
        auto = scale["autoScale"]
        compute["min_instances"] = int(auto.get("minimumNodeCount", 0))
        compute["max_instances"] = int(auto["maximumNodeCount"])
        if auto.get("initialNodeCount"):
            notes.append(f"Auto-scale's initialNodeCount ({auto['initialNodeCount']}) has no AmlCompute counterpart: "
                         "the cluster starts at min_instances.")
    else:
        target = int((scale.get("manual") or {}).get("targetNodeCount", 1))
        compute["min_instances"] = 0
        compute["max_instances"] = max(target, 1)
        notes.append(f"The Batch AI cluster kept {target} node(s) allocated; the AmlCompute cluster scales between 0 "
                     f"and {max(target, 1)} and releases idle nodes (set min_instances: {target} to keep them).")
        option = (scale.get("manual") or {}).get("nodeDeallocationOption") or "requeue"
        if option.lower() != "requeue":  # the default, and what AmlCompute does on its own
            notes.append(f"manual.nodeDeallocationOption {option!r} has no AmlCompute counterpart (AmlCompute "
                         "requeues the jobs of a node it takes away).")
    priority = (cluster.get("vmPriority") or "dedicated").lower()
    compute["tier"] = TIERS.get(priority, "dedicated")
    if priority == "lowpriority":
        notes.append("Low-priority VMs are tier low_priority in Azure ML (Azure now sells them as Spot): nodes can be "
                     "evicted, and a job running there is requeued.")
    compute.update(_ssh(cluster.get("userAccountSettings") or {}, notes))
    setup = (cluster.get("nodeSetup") or {}).get("setupTask")
    if setup:
        notes.append(f"The cluster's setup task ({setup.get('commandLine')!r}) has no AmlCompute counterpart: install "
                     "what it installs in the job's environment (a Dockerfile or conda file).")
        secret_names = [s.get("name") for s in setup.get("secrets") or ()]
        if secret_names:
            notes.append(f"The setup task's secrets {secret_names} were not exported (their values never are).")
    performance = (cluster.get("nodeSetup") or {}).get("performanceCountersSettings")
    if performance:
        notes.append("performanceCountersSettings (Application Insights) has no counterpart: Azure ML reports "
                     "metrics in the workspace's own Application Insights.")
    image = (cluster.get("virtualMachineConfiguration") or {}).get("imageReference")
    if image:
        notes.append(f"The cluster's VM image {image} has no counterpart: Azure ML runs jobs in containers on its "
                     "own host image.")
    subnet = (cluster.get("subnet") or {}).get("id")
    if subnet:
        compute["network_settings"] = {"subnet": subnet}
    return compute


def _bare_compute(name: str, notes: list[str]) -> dict[str, Any]:
    notes.append("No cluster was given: compute.yml names the compute only; set its size and instance counts.")
    return {"$schema": SCHEMAS["compute"], "name": name, "type": "amlcompute", "size": RETIRED_SIZES["standard_nc6"],
            "min_instances": 0, "max_instances": 1}


def _ssh(account: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    name, key = account.get("adminUserName"), account.get("adminUserSshPublicKey")
    if account.get("adminUserPassword"):
        notes.append("The admin password was not exported (secrets never are): give one with "
                     "ssh_settings.admin_password, or use the SSH key.")
    if name and key:
        return {"ssh_public_access_enabled": True, "ssh_settings": {"admin_username": name, "ssh_key_value": key}}
    if name:
        notes.append(f"Admin user {name!r} had no SSH key: SSH access is off on the AmlCompute cluster.")
    return {"ssh_public_access_enabled": False}


# --- shares -> datastores -------------------------------------------------------------------------


class _Shares:
    """Mounted file systems as datastores, and paths on them as ``azureml://`` URIs."""

    def __init__(self, notes: list[str]):
        self.notes = notes
        self.documents: dict[str, dict[str, Any]] = {}
        self.mounts: dict[tuple[str, str], str] = {}  # (root variable, relative mount path) -> datastore

    def add_mounts(self, volumes: Any, root: str, owner: str) -> None:
        volumes = volumes or {}
        for share in volumes.get("azureFileShares") or ():
            account, share_name = _file_share(share["azureFileUrl"], share.get("accountName"), self.notes)
            self._add(root, share["relativeMountPath"], {
                "type": "azure_file", "account_name": account, "file_share_name": share_name,
                "description": f"Batch AI {owner} mount {share['relativeMountPath']} ({share['azureFileUrl']})"})
        for container in volumes.get("azureBlobFileSystems") or ():
            self._add(root, container["relativeMountPath"], {
                "type": "azure_blob", "account_name": container["accountName"],
                "container_name": container["containerName"],
                "description": f"Batch AI {owner} mount {container['relativeMountPath']} (blobfuse)"})
        for kind in ("fileServers", "unmanagedFileSystems"):
            for mount in volumes.get(kind) or ():
                self.notes.append(f"The {owner}'s {kind} mount at {mount.get('relativeMountPath')!r} has no Azure ML "
                                  "datastore counterpart: copy its data to Azure Files or Blob storage.")
        if volumes.get("azureFileShares") or volumes.get("azureBlobFileSystems"):
            self.notes.append("Datastores are exported without credentials (keys are never written): add the account "
                              "key when creating them (see the commands) or grant the workspace identity access.")

    def _add(self, root: str, relative: str, document: dict[str, Any]) -> None:
        share_or_container = document.get("file_share_name") or document.get("container_name") or ""
        base = _DATASTORE_NAME.sub("_", share_or_container.lower())
        name, number = base, 2
        while name in self.documents and self.documents[name]["account_name"] != document["account_name"]:
            name, number = f"{base}_{number}", number + 1
        self.documents[name] = {"$schema": SCHEMAS[document["type"]], "name": name, **document}
        self.mounts[(root, relative)] = name

    def uri(self, path: str) -> str | None:
        """``azureml://datastores/<name>/paths/<path>`` for a path on a mounted share, else None."""
        match = _ROOTED.fullmatch(path.strip())
        if not match:
            return None
        datastore = self.mounts.get((match[1], match[2]))
        if datastore is None:
            return None
        return f"azureml://datastores/{datastore}/paths/{match[3].strip('/')}".rstrip("/") + "/"

    def datastore_of(self, root: str, relative: str) -> str | None:
        return self.mounts.get((root, relative))


def _file_share(url: str, account: str | None, notes: list[str]) -> tuple[str, str]:
    """(account, share) of an Azure Files URL; the reference's own accountName wins (the URL's
    host name is lowercased, and may hold az's <AZURE_BATCHAI_STORAGE_ACCOUNT> placeholder)."""
    parts = urlsplit(url)
    segments = [segment for segment in parts.path.split("/") if segment]
    host = parts.netloc.rsplit("@", 1)[-1].split(":", 1)[0]
    if host.lower().endswith(".file.core.windows.net") and segments:
        found = account or host.split(".", 1)[0]
        if found.startswith("<"):
            notes.append(f"The storage account is the placeholder {found}: replace it in the datastore file.")
        return found, segments[0]
    if len(segments) >= 2:  # path-style, as the emulator and Azurite serve: /account/share
        notes.append(f"Share URL {url} is not on Azure Files (*.file.core.windows.net): the datastore names account "
                     f"{segments[0]!r} and share {segments[1]!r}; copy the data to a real storage account first.")
        return account or segments[0], segments[1]
    raise ValidationError("azureFileUrl", url, "must be an Azure Files share URL, "
                                               "https://<account>.file.core.windows.net/<share>")


# --- job --------------------------------------------------------------------------------------------


class _JobPorter:
    def __init__(self, job: dict[str, Any], shares: _Shares, notes: list[str]):
        self.job = job
        self.shares = shares
        self.notes = notes
        self.inputs: dict[str, dict[str, Any]] = {}
        self.outputs: dict[str, dict[str, Any]] = {}
        self.unmapped: set[str] = set()

    def port(self, compute: str, experiment: str | None) -> dict[str, Any]:
        job = self.job
        self._directories()
        key = next(k for k in TOOLKITS if job.get(k) is not None)
        settings = job[key]
        node_count = int(job.get("nodeCount") or 1)
        command = self.rewrite(self._command(key, settings), "the command")
        document: dict[str, Any] = {"$schema": SCHEMAS["job"], "type": "command"}
        if experiment:
            document["experiment_name"] = experiment
        document.update({"compute": f"azureml:{compute}", "command": command,
                         "environment": self._environment()})
        if self.inputs:
            document["inputs"] = self.inputs
        if self.outputs:
            document["outputs"] = self.outputs
        variables = {item["name"]: self.rewrite(str(item.get("value", "")), f"variable {item['name']}")
                     for item in job.get("environmentVariables") or ()}
        if variables:
            document["environment_variables"] = variables
        resources: dict[str, Any] = {"instance_count": node_count}
        shm = (job.get("containerSettings") or {}).get("shmSize")
        if shm:
            resources["shm_size"] = shm
        document["resources"] = resources
        distribution = self._distribution(key, settings, node_count)
        if distribution:
            document["distribution"] = distribution
        elif node_count > 1:
            self.notes.append(f"Batch AI ran this {key} command on the master node only; Azure ML runs a command job "
                              f"without distribution on each of the {node_count} instances.")
        document["limits"] = {"timeout": int(self._wall_clock().total_seconds())}
        self._report_leftovers()
        return document

    # -- pieces

    def _directories(self) -> None:
        for item in self.job.get("inputDirectories") or ():
            uri = self.shares.uri(item["path"])
            if uri is None:
                self.notes.append(f"Input {item['id']} ({item['path']}) is not on a mounted file share: it is exported "
                                  f"as that path; upload the data as a data asset and point inputs.{item['id']} at it.")
                self.inputs[item["id"]] = {"type": "uri_folder", "path": item["path"], "mode": "ro_mount"}
            else:
                self.inputs[item["id"]] = {"type": "uri_folder", "path": uri, "mode": "ro_mount"}
        for item in self.job.get("outputDirectories") or ():
            prefix = item["pathPrefix"].rstrip("/")
            suffix = (item.get("pathSuffix") or "").strip("/")
            uri = self.shares.uri(prefix + (f"/{suffix}" if suffix else ""))
            if uri is None:
                raise ValidationError(f"outputDirectories[{item['id']}].pathPrefix", item["pathPrefix"],
                                      "must be on a file share the cluster or the job mounts "
                                      "($AZ_BATCHAI_MOUNT_ROOT/<mount>/... or $AZ_BATCHAI_JOB_MOUNT_ROOT/<mount>/...)")
            # Batch AI wrote under {prefix}/{job segment}/outputs/{suffix}: one folder per job. ${{name}} keeps that.
            self.outputs[item["id"]] = {"type": "uri_folder", "path": uri + "${{name}}/", "mode": "rw_mount"}
            if item.get("type") and item["type"].lower() != "custom":
                self.notes.append(f"Output {item['id']}'s type {item['type']!r} (a Batch AI portal hint) has no "
                                  "counterpart.")
        if self.outputs:
            self.notes.append("Batch AI wrote each job's outputs under <prefix>/<job path segment>/outputs/<suffix>; "
                              "the Azure ML outputs write to <prefix>/<suffix>/<job name>/.")
        prefix = self.job.get("stdOutErrPathPrefix")
        if prefix:
            self.notes.append(f"stdOutErrPathPrefix ({prefix}) has no counterpart: Azure ML keeps stdout/stderr with "
                              "the job (user_logs/std_log.txt; `az ml job stream` / `az ml job download`).")

    def _command(self, key: str, settings: dict[str, Any]) -> str:
        def python(script_field: str = "pythonScriptFilePath", args_field: str = "commandLineArgs") -> str:
            script = settings.get(script_field)
            if not script:
                raise ValidationError(f"job.properties.{key}.{script_field}", script, "is required for this toolkit")
            interpreter = settings.get("pythonInterpreterPath") or "python"
            return " ".join(part for part in (interpreter, _quote(script), settings.get(args_field) or "") if part)

        if key in ("customToolkitSettings", "customMpiSettings"):
            command: str = settings.get("commandLine") or ""
            if not command:
                raise ValidationError(f"job.properties.{key}.commandLine", settings.get("commandLine"), "is required")
            return command
        if key == "cntkSettings" and (settings.get("languageType") or "Python").lower() == "brainscript":
            return " ".join(part for part in ("cntk", f"configFile={_quote(settings['configFilePath'])}",
                                              settings.get("commandLineArgs") or "") if part)
        if key == "caffeSettings" and settings.get("configFilePath"):
            return " ".join(part for part in ("caffe train", f"--solver={_quote(settings['configFilePath'])}",
                                              settings.get("commandLineArgs") or "") if part)
        if key == "tensorFlowSettings":
            for field in ("workerCommandLineArgs", "parameterServerCommandLineArgs"):
                if settings.get(field) and settings[field] != settings.get("masterCommandLineArgs"):
                    self.notes.append(f"tensorFlowSettings.{field} ({settings[field]!r}) differs from the master's: "
                                      "Azure ML runs one command on every worker; read the role from $TF_CONFIG.")
            return python(args_field="masterCommandLineArgs")
        if key == "pyTorchSettings" and settings.get("communicationBackend"):
            self.notes.append(f"pyTorchSettings.communicationBackend {settings['communicationBackend']!r}: Azure ML's "
                              "pytorch distribution sets MASTER_ADDR, MASTER_PORT, RANK and WORLD_SIZE; choose the "
                              "backend in torch.distributed.init_process_group (env://).")
        return python()

    def _distribution(self, key: str, settings: dict[str, Any], node_count: int) -> dict[str, Any] | None:
        if key == "tensorFlowSettings":
            workers = settings.get("workerCount")
            servers = settings.get("parameterServerCount")
            if workers is None and servers is None and node_count <= 1:
                return None
            return {"type": "tensorflow", "worker_count": int(workers or node_count),
                    "parameter_server_count": int(servers if servers is not None else 1)}
        process_count = settings.get("processCount")
        if key in ("customToolkitSettings", "caffe2Settings"):
            return None
        total = int(process_count or node_count)
        if total <= 1 and node_count <= 1:
            return None
        per_instance = math.ceil(total / node_count)
        if per_instance * node_count != total:
            self.notes.append(f"processCount {total} is not a multiple of nodeCount {node_count}: Azure ML runs "
                              f"{per_instance} per instance, {per_instance * node_count} in all.")
        return {"type": "pytorch" if key == "pyTorchSettings" else "mpi", "process_count_per_instance": per_instance}

    def _environment(self) -> dict[str, Any]:
        container = self.job.get("containerSettings") or {}
        registry = container.get("imageSourceRegistry") or {}
        image = registry.get("image")
        if registry.get("credentials"):
            self.notes.append("The image's registry credentials were not exported: attach the registry to the "
                              "workspace (or use a workspace connection) so Azure ML can pull the image.")
        if registry.get("serverUrl"):
            image = f"{urlsplit(registry['serverUrl']).netloc or registry['serverUrl'].rstrip('/')}/{image}"
        if not image:
            self.notes.append(f"The job ran on the host VM (no container image): the environment uses {HOST_IMAGE}; "
                              "add the packages the job needs (conda file or Dockerfile).")
            image = HOST_IMAGE
        elif image.startswith("microsoft/cntk"):
            self.notes.append(f"Image {image} is a retired CNTK image (CNTK ended at 2.7, Python <= 3.6): it still "
                              "pulls from Docker Hub, but plan a move to a maintained framework.")
        return {"image": image}

    def _wall_clock(self) -> datetime.timedelta:
        text = (self.job.get("constraints") or {}).get("maxWallClockTime")
        if not text:
            self.notes.append("No maxWallClockTime: limits.timeout keeps Batch AI's default of 7 days.")
            return DEFAULT_WALL_CLOCK
        if isinstance(text, datetime.timedelta):
            return text
        import isodate

        try:
            value = isodate.parse_duration(text)
        except (isodate.ISO8601Error, ValueError):
            raise ValidationError("job.properties.constraints.maxWallClockTime", text,
                                  "must be an ISO 8601 duration such as PT2H or P7D") from None
        if not isinstance(value, datetime.timedelta):
            raise ValidationError("job.properties.constraints.maxWallClockTime", text,
                                  "must be a duration in days, hours, minutes and seconds (no months or years)")
        return value

    def _report_leftovers(self) -> None:
        job = self.job
        secret_names = [item.get("name") for item in job.get("secrets") or ()]
        if secret_names:
            self.notes.append(f"Secrets {secret_names} were not exported (their values never are): keep them in the "
                              "workspace's Key Vault and read them in the job.")
        preparation = (job.get("jobPreparation") or {}).get("commandLine")
        if preparation:
            self.notes.append(f"Job preparation ({preparation!r}) has no counterpart: build it into the environment, "
                              "or run it at the start of the command.")
        priority = job.get("schedulingPriority")
        if priority and priority.lower() != "normal":
            self.notes.append(f"schedulingPriority {priority!r} has no direct counterpart (Azure ML queues jobs per "
                              "compute; see queue_settings).")
        for name in sorted(self.unmapped):
            self.notes.append(f"${name} has no Azure ML counterpart: use {NODE_VARIABLES.get(name, 'a job input')}.")

    def rewrite(self, text: str, where: str) -> str:
        """``$AZ_BATCHAI_INPUT_X`` -> ``${{inputs.X}}``, outputs alike, mount-root paths -> a share input."""

        def rooted(match: re.Match[str]) -> str:
            datastore = self.shares.datastore_of(match[1], match[2])
            if datastore is None:
                return match[0]
            name = f"{datastore}_share"
            self.inputs.setdefault(name, {"type": "uri_folder", "path": f"azureml://datastores/{datastore}/paths/",
                                          "mode": "ro_mount"})
            return "${{inputs." + name + "}}" + match[3]

        text = _ROOTED.sub(rooted, text)

        def variable(match: re.Match[str]) -> str:
            name = match[1] or match[2]
            for prefix, kind, known in (("AZ_BATCHAI_INPUT_", "inputs", self.inputs),
                                        ("AZ_BATCHAI_OUTPUT_", "outputs", self.outputs)):
                if name.startswith(prefix):
                    directory = name[len(prefix):]
                    if directory not in known:
                        raise ValidationError(where, text, f"refers to ${name}, but the job has no "
                                                           f"{kind[:-1]} directory {directory!r}")
                    return "${{" + kind + "." + directory + "}}"
            self.unmapped.add(name)
            return match[0]

        return _VARIABLE.sub(variable, text)


def _quote(path: str) -> str:
    return path if not any(c.isspace() for c in path) else shlex.quote(path)


def _commands(datastores: dict[str, dict[str, Any]], resource_group: str, workspace: str) -> tuple[str, ...]:
    where = f"--resource-group {resource_group} --workspace-name {workspace}"
    commands = [f"az ml datastore create --file datastore-{name}.yml {where} "
                "--set credentials.account_key=\"$AZURE_STORAGE_KEY\""
                for name in datastores]
    commands.append(f"az ml compute create --file compute.yml {where}")
    commands.append(f"az ml job create --file job.yml {where} --stream")
    return tuple(commands)


__all__ = ["to_azureml", "AzureMLExport"]
