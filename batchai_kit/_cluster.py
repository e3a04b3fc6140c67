"""GpuCluster: a Batch AI cluster as a context manager (created or attached, deleted on exit)."""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

import attrs

from . import _names
from ._resource import LiveResource, azure_errors, check_choice, journal_deleted, journaled
from ._waiter import operation_deadline
from .errors import Conflict, NodesUnusable, NotFound, ValidationError, error_details, register_secret

if TYPE_CHECKING:  # pragma: no cover
    from azure.mgmt.batchai import BatchAI, models

    from ._connection import AdminUser, Azure
    from ._job import Job
    from ._jobs import JobSpec
    from ._share import FileShare, SharePath
    from ._workspace import Experiment, Workspace

log = logging.getLogger("batchai_kit.cluster")

PRIORITIES = ("dedicated", "lowpriority")
CLUSTER_CLEANUP = ("delete", "keep")


def _lower(value: str) -> str:
    if not isinstance(value, str):
        raise ValidationError("priority", value, f"must be 'dedicated' or 'lowpriority', not {type(value).__name__}")
    return value.lower()


def _shares(mounts: Any) -> tuple[FileShare, ...]:
    """``mounts`` as a tuple of file shares; a lone share is one mount, a string is refused (it
    would iterate as characters)."""
    if hasattr(mounts, "mount_reference") and hasattr(mounts, "mount_as"):
        return (mounts,)
    if isinstance(mounts, (str, bytes)) or not isinstance(mounts, (list, tuple)):
        raise ValidationError("mounts", mounts, "must be a list of file shares (ws.file_share(name)), "
                                                f"not {type(mounts).__name__}")
    for index, share in enumerate(mounts):
        if not (hasattr(share, "mount_reference") and hasattr(share, "mount_as")):
            raise ValidationError(f"mounts[{index}]", share, "must be a file share (ws.file_share(name)), not "
                                                             f"{type(share).__name__}")
    return tuple(mounts)


@attrs.frozen(kw_only=True)
class ClusterSpec:
    """What a cluster should be. ``nodes`` is a fixed size; ``min_nodes`` and ``max_nodes``
    ask for auto-scale instead (``nodes`` is then the initial size, default ``min_nodes``)."""

    vm_size: str = attrs.field(default="STANDARD_NC6", validator=lambda _i, _a, value: _names.check_vm_size(value))
    nodes: int | None = None
    min_nodes: int | None = None
    max_nodes: int | None = None
    priority: str = attrs.field(default="dedicated", converter=_lower)
    image: tuple[str, str, str, str] | None = attrs.field(default=None, converter=attrs.converters.optional(tuple))
    admin_user: str | None = None
    admin_password: str | None = attrs.field(default=None, repr=False)
    admin_ssh_key: str | None = attrs.field(default=None, validator=_names.validator(
        lambda value: _names.check_ssh_public_key(value, field="admin_ssh_key")))
    mounts: tuple[FileShare, ...] = attrs.field(default=(), converter=_shares)
    setup_command: str | None = None
    setup_env: Mapping[str, str] = attrs.field(factory=dict)
    setup_secrets: Mapping[str, str] = attrs.field(factory=dict, repr=False)
    setup_output: SharePath | str | None = None  # where the setup task's logs go ($AZ_BATCHAI_MOUNT_ROOT/...)

    def __attrs_post_init__(self) -> None:
        register_secret(self.admin_password)
        for value in self.setup_secrets.values():
            register_secret(value)
        check_choice("priority", self.priority, PRIORITIES)
        autoscale = self.min_nodes is not None or self.max_nodes is not None
        if autoscale:
            if self.min_nodes is None or self.max_nodes is None:
                raise ValidationError("min_nodes/max_nodes", (self.min_nodes, self.max_nodes),
                                      "auto-scale needs both min_nodes and max_nodes")
            _names.check_node_range(self.min_nodes, self.max_nodes)
            if self.nodes is not None and not self.min_nodes <= self.nodes <= self.max_nodes:
                raise ValidationError("nodes", self.nodes, f"the initial size must lie within min_nodes="
                                                           f"{self.min_nodes} and max_nodes={self.max_nodes}")
        elif self.nodes is not None:
            _names.check_node_count(self.nodes, field="nodes")
        if self.image is not None and len(self.image) != 4:
            raise ValidationError("image", self.image, "must be (publisher, offer, sku, version), e.g. "
                                                       "('Canonical', 'UbuntuServer', '16.04-LTS', 'latest')")
        mount_paths = [share.mount_as for share in self.mounts]
        if len(set(mount_paths)) != len(mount_paths):
            raise ValidationError("mounts", mount_paths, "each mounted share needs its own mount_as path")
        for name in list(self.setup_env) + list(self.setup_secrets):
            _names.check_env_var_name(name)
        if set(self.setup_env) & set(self.setup_secrets):
            raise ValidationError("setup_secrets", sorted(set(self.setup_env) & set(self.setup_secrets)),
                                  "a name may be an environment variable or a secret, not both")
        if (self.setup_env or self.setup_secrets or self.setup_output) and not self.setup_command:
            raise ValidationError("setup_command", None, "setup_env, setup_secrets and setup_output need a "
                                                         "setup_command")

    @classmethod
    def from_json(cls, source: Mapping[str, Any] | str | os.PathLike[str], *,
                  azure: Azure | None = None) -> ClusterSpec:
        """A cluster spec from Batch AI's own JSON: a ``ClusterCreateParameters`` body as ``az
        batchai cluster create -f`` uses it (with or without the ``properties`` wrapper), a cluster
        as ``GET`` returns it, or a REST API example file. ``source`` is a mapping, JSON text
        (``str``) or a file (``os.PathLike``); ``azure`` resolves mounted shares of its storage
        account (and the az CLI's ``<AZURE_BATCHAI_STORAGE_ACCOUNT>`` placeholders) into
        FileShare objects. ``ValidationError`` / ``UnsupportedSetting`` name the JSON path and value.
        """
        from ._spec_json import cluster_from_json

        spec: ClusterSpec = cluster_from_json(source, azure=azure)
        return spec

    def to_json(self, default_admin: AdminUser | None = None) -> dict[str, Any]:
        """The ``ClusterCreateParameters`` body (``{"properties": {...}}``) that ``from_json``
        reads back; it holds the admin password and mount keys: treat it as a secret."""
        from ._spec_json import cluster_to_json

        return cluster_to_json(self, default_admin)

    @property
    def autoscale(self) -> bool:
        """Whether the cluster auto-scales (``min_nodes``/``max_nodes`` given)."""
        return self.min_nodes is not None

    @property
    def target_nodes(self) -> int:
        """The size the cluster is created with: ``nodes``, else ``min_nodes``, else 1."""
        if self.nodes is not None:
            return self.nodes
        return 1 if self.min_nodes is None else self.min_nodes

    def _scale_settings(self) -> Any:
        from azure.mgmt.batchai import models

        if self.min_nodes is not None and self.max_nodes is not None:
            return models.ScaleSettings(auto_scale=models.AutoScaleSettings(
                minimum_node_count=self.min_nodes, maximum_node_count=self.max_nodes,
                initial_node_count=self.target_nodes))
        return models.ScaleSettings(manual=models.ManualScaleSettings(target_node_count=self.target_nodes))

    def _setup_task(self) -> Any:
        from azure.mgmt.batchai import models

        if not self.setup_command:
            return None
        output = self.setup_output
        if output is None:
            if not self.mounts:
                raise ValidationError("setup_output", None, "a setup task's logs go to a file share: mount one "
                                                            "or pass setup_output=")
            output = self.mounts[0].root
        return models.SetupTask(
            command_line=self.setup_command, std_out_err_path_prefix=str(getattr(output, "mount_path", output)),
            environment_variables=[models.EnvironmentVariable(name=k, value=v) for k, v in self.setup_env.items()]
            or None,
            secrets=[models.EnvironmentVariableWithSecretValue(name=k, value=v)
                     for k, v in self.setup_secrets.items()] or None)

    def admin(self, default: AdminUser | None) -> models.UserAccountSettings:
        """The cluster's admin account: this spec's, else ``default``; ``ValidationError`` when
        neither has a name and a password or SSH key."""
        from azure.mgmt.batchai import models

        name = self.admin_user or (default.name if default else None)
        # a name without a credential of its own (as a GET body gives it) takes the configured
        # ones, as az takes ~/.ssh/id_rsa.pub
        own = bool(self.admin_password or self.admin_ssh_key)
        password = self.admin_password if own else (default.password if default else None)
        ssh_key = self.admin_ssh_key if own else (default.ssh_public_key if default else None)
        if not name or not (password or ssh_key):
            raise ValidationError("admin_user", name, "a cluster needs an admin account with a password or an SSH "
                                                      "public key: pass admin_user= with admin_password= or "
                                                      "admin_ssh_key=, or configure BATCHAI_KIT_ADMIN_*")
        return models.UserAccountSettings(admin_user_name=name, admin_user_password=password,
                                          admin_user_ssh_public_key=ssh_key)

    def to_parameters(self, default_admin: AdminUser | None, *,
                      require_admin: bool = True) -> models.ClusterCreateParameters:
        """The create-cluster body. Without an admin account (this spec's or ``default_admin``)
        it is a ``ValidationError`` unless ``require_admin`` is False (e.g. for an export)."""
        from azure.mgmt.batchai import models

        has_admin = bool(self.admin_user or default_admin)

        image = None
        if self.image is not None:
            publisher, offer, sku, version = self.image
            image = models.VirtualMachineConfiguration(image_reference=models.ImageReference(
                publisher=publisher, offer=offer, sku=sku, version=version))
        node_setup = None
        if self.mounts or self.setup_command:
            node_setup = models.NodeSetup(
                mount_volumes=models.MountVolumes(azure_file_shares=[s.mount_reference() for s in self.mounts])
                if self.mounts else None,
                setup_task=self._setup_task())
        return models.ClusterCreateParameters(
            vm_size=self.vm_size, vm_priority=self.priority, scale_settings=self._scale_settings(),
            virtual_machine_configuration=image, node_setup=node_setup,
            user_account_settings=self.admin(default_admin) if require_admin or has_admin else None)

    def differences(self, cluster: Any) -> list[str]:
        """How an existing cluster (SDK model) differs from this spec, one phrase each."""
        found = []
        if cluster.vm_size.lower() != self.vm_size.lower():
            found.append(f"vm_size is {cluster.vm_size}, not {self.vm_size}")
        if (cluster.vm_priority or "dedicated").lower() != self.priority:
            found.append(f"priority is {cluster.vm_priority}, not {self.priority}")
        scale = cluster.scale_settings
        if self.autoscale:
            auto = scale.auto_scale if scale else None
            if auto is None:
                found.append("it has a fixed size, not auto-scale")
            elif (auto.minimum_node_count, auto.maximum_node_count) != (self.min_nodes, self.max_nodes):
                found.append(f"auto-scale is {auto.minimum_node_count}..{auto.maximum_node_count}, "
                             f"not {self.min_nodes}..{self.max_nodes}")
        else:
            manual = scale.manual if scale else None
            if manual is None:
                found.append("it auto-scales, not a fixed size")
            elif manual.target_node_count != self.target_nodes:
                found.append(f"it has {manual.target_node_count} node(s), not {self.target_nodes}")
        have = {(m.relative_mount_path, m.azure_file_url.rstrip("/"))
                for m in (((cluster.node_setup or _Nothing).mount_volumes or _Nothing).azure_file_shares or [])}
        want = {(s.mount_as, s.url.rstrip("/")) for s in self.mounts}
        if have != want:
            found.append(f"its mounts are {sorted(have)}, not {sorted(want)}")
        return found


class _Nothing:
    mount_volumes = None
    azure_file_shares = None


def _counts(cluster: Any) -> dict[str, int]:
    counts = cluster.node_state_counts
    return {state: getattr(counts, f"{state}_node_count", 0) or 0 if counts else 0
            for state in ("idle", "running", "preparing", "unusable", "leaving")}


def describe_nodes(cluster: Any) -> str:
    counts = _counts(cluster)
    busy = ", ".join(f"{state} {n}" for state, n in counts.items() if n)
    return f"{cluster.allocation_state}, {cluster.current_node_count or 0} node(s)" + (f": {busy}" if busy else "")


class GpuCluster(LiveResource):
    """A Batch AI cluster. On enter: attach to an existing one with the same spec (a differing
    spec is a :class:`~batchai_kit.Conflict` naming the differences, unless ``reuse=True``) or
    create it; then wait until its nodes are ready (``wait=True``). On exit: running jobs it
    submitted are terminated and, if this block created it and ``cleanup="delete"`` (default),
    it is deleted — also after an exception, Ctrl-C or SIGTERM.
    """

    kind = "cluster"

    def __init__(self, workspace: Workspace, name: str, *, reuse: bool = False, cleanup: str = "delete",
                 wait: bool = True, timeout: float = 1800,
                 on_change: Callable[[models.Cluster], None] | None = None, **spec: Any):
        self.workspace = workspace
        self.azure = workspace.azure
        self.name = _names.check_cluster_name(name)
        self.spec = ClusterSpec(**spec)
        self.spec.admin(self.azure.admin)  # an admin account is needed: fail before anything is sent
        self.reuse = reuse
        self.cleanup = check_choice("cleanup", cleanup, CLUSTER_CLEANUP)
        self.wait = wait
        self.timeout = _names.check_seconds(timeout, field="timeout")
        self.on_change = on_change
        self.journal = workspace.journal
        self.created_here = False
        self.creating = False
        self.jobs: list[Job] = []
        self.model: models.Cluster | None = None

    def __repr__(self) -> str:
        return f"GpuCluster({self.name!r}, vm_size={self.spec.vm_size!r}, nodes={self.spec.target_nodes})"

    def describe(self) -> str:
        """What log lines and errors call it: ``cluster <name>``."""
        return f"cluster {self.name}"

    @property
    def id(self) -> str:
        """The cluster's ARM resource id."""
        return f"{self.workspace.id}/clusters/{self.name}"

    @property
    def _client(self) -> BatchAI:
        return self.workspace.batchai

    @property
    def _where(self) -> tuple[str, str]:
        return self.workspace.resource_group, self.workspace.name

    # -- lifecycle -----------------------------------------------------------------------------

    def refresh(self) -> models.Cluster:
        """Read the cluster from Azure (``NotFound`` if it is gone); also kept as ``model``."""
        with azure_errors(f"Reading cluster {self.name}"):
            model = self._client.clusters.get(*self._where, self.name)
        self.model = model
        return model

    def create(self) -> GpuCluster:
        """Create the cluster, or attach to an existing one (see the class docstring)."""
        try:
            existing = self.refresh()
        except NotFound:
            existing = None
        if existing is not None:
            differences = self.spec.differences(existing)
            if differences and not self.reuse:
                raise Conflict(f"cluster {self.name} exists with another spec: {'; '.join(differences)}. "
                               "Pass reuse=True to use it as it is, or choose another name.",
                               code="ClusterSpecMismatch")
            log.info("Using existing cluster %s", self.name)
            return self
        parameters = self.spec.to_parameters(self.azure.admin)
        log.info("Creating cluster %s: %d x %s", self.name, self.spec.target_nodes, self.spec.vm_size)
        self.creating = True  # until the answer: see LiveResource._claim_unconfirmed
        with journaled(self.journal, "cluster", self.id, self.azure.arm_endpoint), \
                azure_errors(f"Creating cluster {self.name}"):
            self.model = self._client.clusters.begin_create(*self._where, self.name, parameters).result()
        self.created_here, self.creating = True, False
        return self

    def _open(self) -> None:
        # A failed wait (or an interrupt during it) cleans up in LiveResource.__enter__.
        with operation_deadline(self.timeout):
            self.create()
        if self.wait:
            self.wait_ready()

    def wait_ready(self, timeout: float | None = None,
                   on_change: Callable[[models.Cluster], None] | None = None) -> models.Cluster:
        """Wait until the allocation is steady and every node is idle or running.

        Unusable nodes or cluster errors raise :class:`~batchai_kit.NodesUnusable` with the
        service's codes and messages; the deadline raises :class:`~batchai_kit.Timeout`.
        """
        callback = on_change or self.on_change

        def changed(cluster: Any, previous: Any) -> None:
            log.info("Cluster %s: %s", self.name, describe_nodes(cluster))
            if callback:
                callback(cluster)

        def ready(cluster: Any) -> bool:
            counts = _counts(cluster)
            usable = counts["idle"] + counts["running"]
            return (cluster.allocation_state == "steady" and counts["preparing"] == 0
                    and counts["leaving"] == 0 and usable == (cluster.current_node_count or 0))

        def unusable(cluster: Any) -> NodesUnusable | None:
            counts = _counts(cluster)
            if counts["unusable"] or cluster.errors:
                return NodesUnusable(self.name, counts["unusable"], error_details(cluster.errors))
            return None

        model: models.Cluster = self.azure.waiter(self.timeout if timeout is None else timeout).wait_until(
            self.refresh, ready, describe=f"cluster {self.name} to be ready", on_change=changed,
            state_of=describe_nodes, fail=unusable)
        return model

    def resize(self, nodes: int | None = None, *, min_nodes: int | None = None, max_nodes: int | None = None,
               wait: bool = True) -> models.Cluster:
        """Change the size (``nodes``) or the auto-scale range; optionally wait until steady.
        Returns the cluster as Azure reports it (steady, when waited for)."""
        from azure.mgmt.batchai import models

        spec = attrs.evolve(self.spec, nodes=nodes, min_nodes=min_nodes, max_nodes=max_nodes)
        log.info("Resizing cluster %s", self.name)
        with azure_errors(f"Resizing cluster {self.name}"):
            model = self._client.clusters.update(
                *self._where, self.name, models.ClusterUpdateParameters(scale_settings=spec._scale_settings()))
        self.model = model
        self.spec = spec
        return self.wait_ready() if wait else model

    def remote_logins(self) -> list[tuple[str, str, int]]:
        """(node id, IP address, SSH port) of each node. The emulator runs no SSH server."""
        with azure_errors(f"Listing remote logins of cluster {self.name}"):
            # Any: azure-mgmt-batchai 7.0.0 annotates its pagers' items as the page type
            logins: Iterable[Any] = self._client.clusters.list_remote_login_information(*self._where, self.name)
            return [(r.node_id, r.ip_address, r.port) for r in logins]

    def delete(self, wait: bool = True) -> None:
        """Delete the cluster (waiting until Azure has, unless ``wait=False``) and journal it."""
        log.info("Deleting cluster %s", self.name)
        try:
            with azure_errors(f"Deleting cluster {self.name}"):
                poller = self._client.clusters.begin_delete(*self._where, self.name)
                if wait:
                    poller.result()
        except NotFound:
            log.info("Cluster %s was already gone", self.name)
        journal_deleted(self.journal, "cluster", self.id, self.azure.arm_endpoint)
        self.created_here = False

    def _leftovers(self) -> list[str]:
        return [leftover for job in self.jobs for leftover in job._leftovers()] + super()._leftovers()

    def _cleanup(self, failed: bool) -> None:
        for job in list(self.jobs):
            job.stop_if_running()
        if self.created_here and self.cleanup == "delete":
            self.delete()

    # -- jobs ----------------------------------------------------------------------------------

    def capacity(self) -> int:
        """The most nodes this cluster can have: its auto-scale maximum, or its fixed size (as the
        service reports it when known, else as asked)."""
        scale = getattr(self.model, "scale_settings", None)
        if scale is not None and scale.auto_scale is not None:
            return int(scale.auto_scale.maximum_node_count)
        if scale is not None and scale.manual is not None:
            return int(scale.manual.target_node_count)
        if self.spec.autoscale and self.spec.max_nodes is not None:
            return self.spec.max_nodes
        return self.spec.target_nodes

    def _check_fits(self, spec: JobSpec) -> None:
        """Refuse, before anything is sent, a job this cluster can never run: more nodes than it
        can ever have (the job would queue until its deadline), or a directory on a share that
        neither the cluster nor the job mounts (the path would not exist on the node)."""
        capacity = self.capacity()
        if spec.node_count > capacity:
            raise ValidationError("node_count", spec.node_count,
                                  f"is more than cluster {self.name} can ever have ({capacity} node(s)): the job would "
                                  "queue until its deadline; resize the cluster first (cluster.resize(...)) or ask "
                                  "for fewer nodes")
        mounted = {(share.url.rstrip("/"), share.mount_as) for share in (*self.spec.mounts, *spec.mounts)}
        places = [*((f"inputs[{k!r}]", v) for k, v in spec.inputs.items()),
                  *((f"outputs[{k!r}]", v) for k, v in spec.outputs.items()), ("stdouterr", spec.stdouterr)]
        for field, where in places:
            share = getattr(where, "share", None)
            if share is None or not hasattr(share, "url"):
                continue  # a '$AZ_BATCHAI_...' string: the user's word
            share_path: Any = where
            if (share.url.rstrip("/"), share.mount_as) not in mounted:
                names = ", ".join(s.name for s in self.spec.mounts) or "none"
                raise ValidationError(field, share_path.mount_path,
                                      f"is on share {share.name}, which neither cluster {self.name} (it mounts: "
                                      f"{names}) nor the job mounts: add the share to the cluster's mounts= or the "
                                      "job's mounts=")

    def submit(self, spec: JobSpec, *, experiment: Experiment | str = "default",
               cleanup: str = "terminate") -> Job:
        """Submit *spec* to this cluster in *experiment* (created if missing); returns the live job.

        Its stdout/stderr go to the spec's ``stdouterr`` or, by default, to the root of the first
        share this cluster mounts. The job is terminated when this cluster's block ends.
        """
        from ._job import Job
        from ._jobs import JobSpec
        from ._workspace import Experiment

        if not isinstance(spec, JobSpec):
            raise ValidationError("spec", spec, "must be a job specification such as bk.CustomJob(...) or "
                                                f"bk.CntkJob(...), not {type(spec).__name__}")
        if isinstance(experiment, Experiment):
            if experiment.workspace.id.lower() != self.workspace.id.lower():
                raise ValidationError("experiment", experiment.name,
                                      f"belongs to workspace {experiment.workspace.name}, not to "
                                      f"{self.workspace.name} of cluster {self.name}")
        elif isinstance(experiment, str):
            _names.check_experiment_name(experiment)
        else:
            raise ValidationError("experiment", experiment, f"must be an experiment name or ws.experiment(...), not "
                                                            f"{type(experiment).__name__}")
        self._check_fits(spec)
        if isinstance(experiment, str):
            experiment = Experiment(self.workspace, experiment).ensure()
        default_prefix = self.spec.mounts[0].root.mount_path if self.spec.mounts else None
        parameters = spec.to_parameters(self.id, default_stdouterr=default_prefix)
        job = Job(experiment, spec.name, spec=spec, cleanup=cleanup)
        self.jobs.append(job)  # before it is sent: an interrupted submission is still stopped on exit
        try:
            job.submit(parameters)
        except Exception:
            self.jobs.remove(job)  # refused: there is nothing to stop
            raise
        return job
