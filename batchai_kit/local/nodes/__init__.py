"""Emulated compute nodes: jobs and setup tasks run as local process trees.

The control plane owns state and calls in with the wire JSON (``properties`` dicts of the
2018-05-01 API); it polls the returned handles. Nothing here knows about HTTP or storage.

- ``prepare_node(layout, cluster_properties, ...)``: cluster mounts + setup task.
- ``start_job(job_properties, ...)``: job preparation, then the toolkit's processes, with the
  Batch AI environment, stdout/stderr/execution.log under the job's stdouterr directory.
- ``ProcessHandle.poll()`` -> ``JobResult | None``; ``terminate(reason_code, message)``.
"""

from ._job import start_job
from ._model import JobResult, NodeLayout, RuntimeResolver, ShareResolver
from ._process import TERMINATE_GRACE_SECONDS, ProcessHandle
from ._setup import prepare_node
from ._toolkits import tool_type
from ._tracking import ProcessTracker, TrackedProcess, end_group, read_exit_code, still_running

__all__ = [
    "JobResult",
    "NodeLayout",
    "ProcessHandle",
    "ProcessTracker",
    "RuntimeResolver",
    "ShareResolver",
    "TERMINATE_GRACE_SECONDS",
    "TrackedProcess",
    "end_group",
    "prepare_node",
    "read_exit_code",
    "start_job",
    "still_running",
    "tool_type",
]
