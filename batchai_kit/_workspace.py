"""Workspace and Experiment: the containers of clusters, file servers and jobs."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, cast

from . import _names
from ._resource import EnsuredResource, azure_errors, check_choice, journal_deleted, journal_for, journaled
from ._waiter import operation_deadline
from .errors import NotFound, ValidationError

if TYPE_CHECKING:  # pragma: no cover
    from azure.mgmt.batchai import BatchAI, models

    from ._cluster import GpuCluster
    from ._connection import Azure
    from ._job import Job
    from ._jobs import JobSpec
    from ._journal import Journal
    from ._share import FileShare

log = logging.getLogger("batchai_kit.workspace")

KEEP_OR_DELETE = ("keep", "delete")


class Workspace(EnsuredResource):
    """A resource group and a Batch AI workspace in it, ensured on enter.

    ``cleanup="keep"`` (default) leaves both; ``"delete"`` deletes the workspace on exit if this
    block created it, and the resource group too if this block created that.
    """

    kind = "workspace"

    def __init__(self, azure: Azure, resource_group: str, name: str, *, location: str | None = None,
                 cleanup: str = "keep", journal: Journal | bool | None = None, timeout: float = 1800):
        self.azure = azure
        self.resource_group = _names.check_resource_group_name(resource_group)
        self.name = _names.check_workspace_name(name)
        chosen = location or azure.location
        if not chosen:
            raise ValidationError("location", location, "a workspace needs a location such as 'eastus' "
                                                        "(pass location= or configure one)")
        self.location: str = _names.check_location(chosen)
        self.cleanup = check_choice("cleanup", cleanup, KEEP_OR_DELETE)
        self.journal = journal_for(journal)
        self.timeout = _names.check_seconds(timeout, field="timeout")
        self.created_group = False
        self.created_here = False
        self.creating_group = False  # a create was sent and not (yet) answered: see LiveResource
        self.creating = False
        self._batchai: BatchAI | None = None

    def __repr__(self) -> str:
        return f"Workspace({self.resource_group!r}, {self.name!r}, location={self.location!r})"

    def describe(self) -> str:
        """What log lines and errors call it: ``workspace <group>/<name>``."""
        return f"workspace {self.resource_group}/{self.name}"

    @property
    def batchai(self) -> BatchAI:
        """The Batch AI client of this workspace's connection (made on first use)."""
        if self._batchai is None:
            self._batchai = self.azure.batchai()
        return self._batchai

    @property
    def id(self) -> str:
        """The workspace's ARM resource id."""
        return (f"/subscriptions/{self.azure.subscription_id}/resourceGroups/{self.resource_group}/providers/"
                f"Microsoft.BatchAI/workspaces/{self.name}")

    @property
    def group_id(self) -> str:
        """The resource group's ARM resource id."""
        return f"/subscriptions/{self.azure.subscription_id}/resourceGroups/{self.resource_group}"

    # -- lifecycle -----------------------------------------------------------------------------

    def ensure(self) -> Workspace:
        """Create the resource group and the workspace where missing (idempotent); requests retry
        transient failures until ``timeout``."""
        with operation_deadline(self.timeout):
            return self._ensure()

    def _ensure(self) -> Workspace:
        resources = self.azure.resources()
        with azure_errors(f"Checking resource group {self.resource_group}"):
            exists = resources.resource_groups.check_existence(self.resource_group)
        if not exists:
            log.info("Creating resource group %s in %s", self.resource_group, self.location)
            self.creating_group = True
            with journaled(self.journal, "resource_group", self.group_id, self.azure.arm_endpoint), \
                    azure_errors(f"Creating resource group {self.resource_group}"):
                resources.resource_groups.create_or_update(self.resource_group, {"location": self.location})
            self.created_group, self.creating_group = True, False
        try:
            with azure_errors(f"Reading workspace {self.name}"):
                self.batchai.workspaces.get(self.resource_group, self.name)
        except NotFound:
            from azure.mgmt.batchai import models

            log.info("Creating workspace %s", self.name)
            self.creating = True
            with journaled(self.journal, "workspace", self.id, self.azure.arm_endpoint), \
                    azure_errors(f"Creating workspace {self.name}"):
                self.batchai.workspaces.begin_create(
                    self.resource_group, self.name, models.WorkspaceCreateParameters(location=self.location)).result()
            self.created_here, self.creating = True, False
        return self

    def _created_anything(self) -> bool:
        return self.created_here or self.created_group

    def _claim_unconfirmed(self) -> bool:
        group, self.creating_group = self.creating_group, False
        if group:
            self.created_group = True
        return super()._claim_unconfirmed() or group

    def _cleanup(self, failed: bool) -> None:
        if not (self.cleanup == "delete" and self.created_group):
            super()._cleanup(failed)
            return
        # deleting the group this block made deletes the workspace in it too
        log.info("Deleting resource group %s", self.resource_group)
        try:
            with azure_errors(f"Deleting resource group {self.resource_group}"):
                self.azure.resources().resource_groups.begin_delete(self.resource_group).result()
        except NotFound:
            log.info("Resource group %s was already gone", self.resource_group)
        if self.created_here:
            journal_deleted(self.journal, "workspace", self.id, self.azure.arm_endpoint)
            self.created_here = False
        journal_deleted(self.journal, "resource_group", self.group_id, self.azure.arm_endpoint)
        self.created_group = False

    def delete(self) -> None:
        """Delete the workspace and everything in it."""
        log.info("Deleting workspace %s", self.name)
        try:
            with azure_errors(f"Deleting workspace {self.name}"):
                self.batchai.workspaces.begin_delete(self.resource_group, self.name).result()
        except NotFound:
            log.info("Workspace %s was already gone", self.name)
        journal_deleted(self.journal, "workspace", self.id, self.azure.arm_endpoint)
        self.created_here = False

    # -- children ------------------------------------------------------------------------------

    def experiment(self, name: str, *, cleanup: str = "keep") -> Experiment:
        """An experiment of this workspace, ensured now (usable with or without ``with``)."""
        return Experiment(self, name, cleanup=cleanup).ensure()

    def file_share(self, name: str, *, mount_as: str | None = None, cleanup: str = "keep") -> FileShare:
        """An Azure file share of the connection's storage account, ensured now."""
        from ._share import FileShare

        journal = self.journal if self.journal is not None else False  # None would mean the default journal
        share = FileShare(self.azure, name, mount_as=mount_as, cleanup=cleanup, journal=journal)
        try:
            return share.ensure()
        except BaseException as error:
            # Interrupted (or failed) with its create in flight: its own block never opened, so
            # its cleanup policy is applied here, as a block's entry would.
            if share._claim_unconfirmed() or share.created_here:
                share._cleanup_after_failed_entry(error)
            raise

    def gpu_cluster(self, name: str, **spec: Any) -> GpuCluster:
        """A cluster of this workspace: created (or attached) when its ``with`` block starts."""
        from ._cluster import GpuCluster

        return GpuCluster(self, name, **spec)

    def clusters(self) -> list[models.Cluster]:
        """Every cluster of this workspace, as the SDK's ``Cluster`` models."""
        with azure_errors(f"Listing clusters of workspace {self.name}"):
            # cast: azure-mgmt-batchai 7.0.0 annotates its pagers' items as the page type
            return cast("list[models.Cluster]",
                        list(self.batchai.clusters.list_by_workspace(self.resource_group, self.name)))

    def experiments(self) -> list[models.Experiment]:
        """Every experiment of this workspace, as the SDK's ``Experiment`` models."""
        with azure_errors(f"Listing experiments of workspace {self.name}"):
            return cast("list[models.Experiment]",
                        list(self.batchai.experiments.list_by_workspace(self.resource_group, self.name)))


class Experiment(EnsuredResource):
    """An experiment: a named group of jobs in a workspace."""

    kind = "experiment"

    def __init__(self, workspace: Workspace, name: str, *, cleanup: str = "keep"):
        self.workspace = workspace
        self.name = _names.check_experiment_name(name)
        self.cleanup = check_choice("cleanup", cleanup, KEEP_OR_DELETE)
        self.journal = workspace.journal
        self.created_here = False

    def __repr__(self) -> str:
        return f"Experiment({self.workspace.name!r}, {self.name!r})"

    def describe(self) -> str:
        """What log lines and errors call it: ``experiment <name>``."""
        return f"experiment {self.name}"

    @property
    def id(self) -> str:
        """The experiment's ARM resource id."""
        return f"{self.workspace.id}/experiments/{self.name}"

    def ensure(self) -> Experiment:
        """Create the experiment if it does not exist (idempotent); ``created_here`` says whether
        this handle did."""
        ws = self.workspace
        try:
            with azure_errors(f"Reading experiment {self.name}"):
                ws.batchai.experiments.get(ws.resource_group, ws.name, self.name)
        except NotFound:
            log.info("Creating experiment %s", self.name)
            with journaled(self.journal, "experiment", self.id, ws.azure.arm_endpoint), \
                    azure_errors(f"Creating experiment {self.name}"):
                ws.batchai.experiments.begin_create(ws.resource_group, ws.name, self.name).result()
            self.created_here = True
        return self

    def delete(self) -> None:
        """Delete the experiment and its jobs; waits until Azure has."""
        ws = self.workspace
        log.info("Deleting experiment %s", self.name)
        with azure_errors(f"Deleting experiment {self.name}"):
            ws.batchai.experiments.begin_delete(ws.resource_group, ws.name, self.name).result()
        journal_deleted(self.journal, "experiment", self.id, ws.azure.arm_endpoint)
        self.created_here = False

    def submit(self, spec: JobSpec, cluster: GpuCluster, **options: Any) -> Job:
        """Submit *spec* to *cluster* in this experiment; see :meth:`GpuCluster.submit`."""
        return cluster.submit(spec, experiment=self, **options)

    def job(self, name: str) -> Job:
        """Attach to an existing job of this experiment by name."""
        from ._job import Job

        return Job.attach(self, name)

    def jobs(self) -> list[models.Job]:
        """Every job of this experiment, as the SDK's ``Job`` models."""
        ws = self.workspace
        with azure_errors(f"Listing jobs of experiment {self.name}"):
            return cast("list[models.Job]",
                        list(ws.batchai.jobs.list_by_experiment(ws.resource_group, ws.name, self.name)))
