"""Preparing a node: cluster mounts and the cluster's setup task."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from ._environment import Redactor, absolute_path, secret_variables, user_variables, which
from ._model import INTERNAL_ERROR, SETUP_TASK_FAILED, JobResult, NodeLayout, ShareResolver, StartError
from ._mounts import mount_volumes
from ._process import Launch, ProcessHandle, Stage
from ._tracking import ProcessTracker

logger = logging.getLogger(__name__)


def prepare_node(
    layout: NodeLayout,
    cluster_properties: dict,
    *,
    cluster_path_segment: str,
    resolve_share: ShareResolver,
    environ: Mapping[str, str],
    tracker: ProcessTracker | None = None,
    owner: str = "",
) -> ProcessHandle | None:
    """Mount the cluster's volumes under the node's mount root and start its setup task.

    Returns the setup task's handle; a handle that has already failed when a volume cannot
    be mounted; None when there is nothing to wait for (mounts done, no setup task). The
    setup task's output goes to
    ``{stdOutErrPathPrefix}/{cluster_path_segment}/stdout-{node_id}.txt`` (and stderr-).
    Never raises.
    """
    name = f"setup task on {layout.node_id}"
    try:
        node_setup = cluster_properties.get("nodeSetup") or {}
        layout.root.mkdir(parents=True, exist_ok=True)
        mount_volumes(node_setup.get("mountVolumes"), layout.mount_root, resolve_share)
        task = node_setup.get("setupTask")
        if not task:
            return None
        launch, redact = _setup_launch(layout, task, cluster_path_segment, environ)
        logger.info("Starting the setup task on node %s", layout.node_id)
        stage = Stage("Setup task", lambda: [launch], _setup_failed(layout.node_id))
        return ProcessHandle(name, [stage], None, redact, tracker, owner).start()
    except StartError as exc:
        logger.info("Node %s cannot be prepared: %s", layout.node_id, exc.message)
        return ProcessHandle.finished(name, exc.result())
    except Exception as exc:  # the control plane's thread must never see an exception
        logger.exception("Node %s cannot be prepared", layout.node_id)
        return ProcessHandle.finished(name, JobResult.failure(INTERNAL_ERROR, f"The local node runner failed: {exc}"))


def _setup_launch(layout: NodeLayout, task: dict, segment: str, environ: Mapping[str, str]) -> tuple[Launch, Redactor]:
    service = {"AZ_BATCHAI_MOUNT_ROOT": str(layout.mount_root), "AZ_BATCHAI_NUM_GPUS": "0"}
    secrets = secret_variables(task.get("secrets"))
    env = {**environ, **user_variables(task.get("environmentVariables"), service), **secrets, **service}
    prefix = absolute_path(task.get("stdOutErrPathPrefix") or "", service, "setupTask.stdOutErrPathPrefix")
    output = prefix / segment
    launch = Launch(
        label="setup task",
        argv=(which("bash", env) or "/bin/bash", "-c", task.get("commandLine") or ""),
        env=env,
        cwd=layout.root / "startup" / "wd",
        stdout=output / f"stdout-{layout.node_id}.txt",
        stderr=output / f"stderr-{layout.node_id}.txt",
        node_id=layout.node_id,
    )
    return launch, Redactor(secrets.values())


def _setup_failed(node_id: str):
    def failure(exit_code: int) -> JobResult:
        return JobResult.failure(
            SETUP_TASK_FAILED,
            f"The setup task failed on node {node_id} with exit code {exit_code}",
            exit_code=exit_code,
            nodeId=node_id,
            exitCode=exit_code,
        )

    return failure



