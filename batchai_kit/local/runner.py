"""The bridge between the control plane and the nodes: runs setup tasks and jobs, lists outputs.

The control plane hands over its documents; this module turns them into what
:mod:`batchai_kit.local.nodes` needs (node directories, the secrets the wire never shows,
share and runtime resolvers) and answers ``listOutputFiles`` from the share directories with
SAS download URLs on the emulator's Files endpoint.
"""

from __future__ import annotations

import copy
import datetime
import os
import posixpath
import re
from pathlib import Path
from typing import Callable
from urllib.parse import unquote, urlsplit

import attrs

from ..errors import ValidationError
from . import nodes
from .arm.errors import ArmError
from .arm.timing import iso
from .files import FilesService
from .files._errors import FilesError
from .runtimes import get_runtime, runtime_for_image

# What a job process inherits from the emulator's environment; the rest is Batch AI's.
INHERITED_VARIABLES = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "USER", "LOGNAME",
                       "SHELL", "TERM", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
_MOUNT_REFERENCE = re.compile(r"^\$\{?(AZ_BATCHAI_MOUNT_ROOT|AZ_BATCHAI_JOB_MOUNT_ROOT)\}?(?:/(.*))?$")


class LocalNodeRunner:
    """Runs the emulator's nodes as local process trees (the control plane's NodeRunner)."""

    def __init__(self, data_dir: Path, files: FilesService, files_endpoint: str,
                 clock: Callable[[], float], tracker: nodes.ProcessTracker | None = None):
        self.data_dir = Path(data_dir)
        self.tracker = tracker
        self.files = files
        self.files_endpoint = files_endpoint.rstrip("/")
        self.clock = clock

    # -- resolvers --------------------------------------------------------------------------------

    def resolve_share(self, account_name: str, url: str) -> Path:
        """The local directory of an Azure file share URL on this emulator's account."""
        share = self.share_of_url(url)
        if account_name and account_name.lower() != self.files.account_name:
            raise LookupError(f"storage account {account_name!r} is not this emulator's account "
                              f"{self.files.account_name!r}")
        directory = self.files.share_directory(share)
        if not directory.is_dir():
            raise LookupError(f"the file share {share!r} does not exist; create it first")
        return directory

    def share_of_url(self, url: str) -> str:
        parts = urlsplit(url)
        segments = [unquote(s) for s in parts.path.split("/") if s]
        ours = urlsplit(self.files_endpoint)
        account = self.files.account_name
        if parts.netloc.lower() == ours.netloc.lower() and len(segments) >= 2 and segments[0] == account:
            return segments[1]
        if parts.hostname and parts.hostname.lower() == f"{account}.file.core.windows.net" and segments:
            return segments[0]
        raise LookupError(f"{url!r} is not a file share of this emulator (expected "
                          f"{self.files_endpoint}/<share>)")

    @staticmethod
    def resolve_runtime(image: str | None) -> tuple[Path, dict[str, str]]:
        from batchai_kit.errors import RuntimeUnavailable

        runtime = get_runtime(runtime_for_image(image))
        status = runtime.check()
        if not status.ok:
            raise RuntimeUnavailable(f"The job's image {image!r} runs in the {runtime.name} runtime, which is not "
                                     f"available: {status.detail}")
        return runtime.python, runtime.environ()

    @staticmethod
    def base_environ() -> dict[str, str]:
        return {k: v for k, v in os.environ.items() if k in INHERITED_VARIABLES}

    # -- layout -------------------------------------------------------------------------------------

    def node_layout(self, cluster: dict, node: dict) -> nodes.NodeLayout:
        root = self.data_dir / "clusters" / cluster["internal"]["guid"] / "nodes" / node["id"]
        return nodes.NodeLayout.under(root, node["id"])

    @staticmethod
    def _segments(doc: dict) -> list[str]:
        # /subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.BatchAI/workspaces/{ws}/...
        return doc["id"].strip("/").split("/")

    def cluster_path_segment(self, cluster: dict) -> str:
        """Where a cluster's setup task output goes under its prefix: the suffix the cluster
        reports (2018-05-01), else the same shape built from its id."""
        task = (cluster["properties"].get("nodeSetup") or {}).get("setupTask") or {}
        if task.get("stdOutErrPathSuffix"):
            return task["stdOutErrPathSuffix"]
        parts = self._segments(cluster)
        if len(parts) == 8:  # .../providers/Microsoft.BatchAI/clusters/{c}: API 2017-09-01-preview, 2018-03-01
            return f"{parts[1]}/{parts[3]}/clusters/{parts[7]}/{cluster['internal']['guid']}"
        return f"{parts[1]}/{parts[3]}/workspaces/{parts[7]}/clusters/{parts[9]}/{cluster['internal']['guid']}"

    @staticmethod
    def _with_secrets(properties: dict, secrets: dict, holder_path: tuple[str, ...] = ()) -> dict:
        """A copy of *properties* with the secret values the wire never shows put back."""
        restored = copy.deepcopy(properties)
        holder = restored
        for key in holder_path:
            holder = (holder or {}).get(key) or {}
        for item in holder.get("secrets") or []:
            value = secrets.get(f"secrets.{item['name']}")
            if value is not None:
                item["value"] = value
        return restored

    # -- the NodeRunner protocol --------------------------------------------------------------------

    def check_job(self, properties: dict) -> None:
        """At submission: a job whose image needs a runtime this machine lacks is refused (400)
        with the install command, instead of failing later in a traceback."""
        from batchai_kit.errors import BatchAIKitError

        image = ((properties.get("containerSettings") or {}).get("imageSourceRegistry") or {}).get("image")
        try:
            self.resolve_runtime(image)
        except BatchAIKitError as exc:
            raise ArmError(400, "RuntimeUnavailable", str(exc),
                           "properties.containerSettings.imageSourceRegistry.image") from None

    def prepare_node(self, cluster: dict, node: dict):
        properties = self._with_secrets(cluster["properties"], cluster["internal"].get("secrets", {}),
                                        ("nodeSetup", "setupTask"))
        return nodes.prepare_node(self.node_layout(cluster, node), properties,
                                  cluster_path_segment=self.cluster_path_segment(cluster),
                                  resolve_share=self.resolve_share, environ=self.base_environ(),
                                  tracker=self.tracker, owner=f"setup:{cluster['key']}:{node['id']}")

    def start_job(self, job: dict, cluster: dict, assigned: list[dict]):
        properties = self._with_secrets(job["properties"], job["internal"].get("secrets", {}))
        layouts = [self.node_layout(cluster, node) for node in assigned]
        return nodes.start_job(properties, job_name=job["name"],
                               job_path_segment=job["properties"]["jobOutputDirectoryPathSegment"],
                               nodes=layouts, job_dir=self.data_dir / "jobs" / job["internal"]["guid"],
                               resolve_share=self.resolve_share, resolve_runtime=self.resolve_runtime,
                               environ=self.base_environ(), tracker=self.tracker, owner=job["key"])

    @staticmethod
    def reap(records: list[dict]) -> list[tuple[nodes.TrackedProcess, bool]]:
        """After a crash: end the recorded process groups that still run (only where they are
        still ours: a recycled pid is left alone); each record with whether it was running."""
        found = []
        for record in records:
            tracked = nodes.TrackedProcess.from_doc(record)
            running = nodes.still_running(tracked)
            if running:
                nodes.end_group(tracked, nodes.TERMINATE_GRACE_SECONDS)
            elif tracked.exit_code is None:  # it ended while the emulator was down: its shell said how
                tracked = attrs.evolve(tracked, exit_code=nodes.read_exit_code(tracked))
            if tracked.exit_file:
                Path(tracked.exit_file).unlink(missing_ok=True)
            found.append((tracked, running))
        return found

    def list_output_files(self, job: dict, output_id: str, directory: str, expiry_minutes: int) -> list[dict]:
        location = self._output_location(job, output_id)
        if location is None:
            return []
        share, base = location
        relative = posixpath.normpath(posixpath.join(base, directory or "."))
        if relative.startswith(("..", "/")):
            raise ArmError(400, "InvalidParameter", f"The directory '{directory}' leaves the output directory.",
                           "directory")
        relative = "" if relative == "." else relative
        try:
            # what the share's Files listing shows: Azure names (as an SMB mount stores what the
            # job wrote), symlinks out of the share neither listed nor followed
            listed = self.files.list_directory(share, relative)
        except FilesError as error:
            if error.code == "InvalidResourceName":
                raise ArmError(400, "InvalidParameter", f"The directory '{directory}' is not a valid path "
                               "in an Azure file share.", "directory") from None
            return []  # no such directory on the share, as for a job that wrote nothing there
        expiry = datetime.datetime.fromtimestamp(self.clock() + expiry_minutes * 60, tz=datetime.timezone.utc)
        entries: list[dict] = []
        for entry in listed:
            if entry.is_directory:
                entries.append({"name": entry.name, "fileType": "directory"})
                continue
            path = posixpath.join(relative, entry.name) if relative else entry.name
            try:
                url = self.files.file_sas_url(self.files_endpoint, share, path, expiry, "rl")
            except ValidationError:  # a path longer than Azure Files allows: no link can reach it
                continue
            entries.append({
                "name": entry.name, "fileType": "file",
                "downloadUrl": url,
                "properties": {"lastModified": iso(entry.modified).split(".")[0] + "Z",
                               "contentLength": entry.size},
            })
        return entries

    def _output_location(self, job: dict, output_id: str) -> tuple[str, str] | None:
        """(share, directory inside the share) of a job's stdouterr or output directory."""
        properties = job["properties"]
        segment = properties["jobOutputDirectoryPathSegment"]
        if output_id.lower() == "stdouterr":
            prefix, tail = properties["stdOutErrPathPrefix"], f"{segment}/stdouterr"
        else:
            directory = next(d for d in properties.get("outputDirectories") or []
                             if d["id"].lower() == output_id.lower())
            suffix = directory.get("pathSuffix")
            prefix = directory["pathPrefix"]
            tail = f"{segment}/outputs" + (f"/{suffix.strip('/')}" if suffix else "")
        return self._share_path(job, prefix.rstrip("/"), tail)

    def _share_path(self, job: dict, prefix: str, tail: str) -> tuple[str, str] | None:
        match = _MOUNT_REFERENCE.match(prefix)
        if not match:
            return None
        root, rest = match.groups()
        volumes = job["internal"].get("cluster_mounts") if root == "AZ_BATCHAI_MOUNT_ROOT" \
            else job["properties"].get("mountVolumes")
        rest = rest or ""
        for share in (volumes or {}).get("azureFileShares") or []:
            mount = share.get("relativeMountPath", "").strip("/")
            if rest == mount or rest.startswith(mount + "/"):
                try:
                    name = self.share_of_url(share.get("azureFileUrl", ""))
                except LookupError:
                    return None
                inside = rest[len(mount):].strip("/")
                return name, posixpath.join(inside, tail) if inside else tail
        return None
