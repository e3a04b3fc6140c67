"""batchai_kit: Azure Batch AI resources as context managers, with an embedded local emulator.

    import batchai_kit as bk

    azure = bk.Azure.local()            # the embedded emulator; bk.Azure.from_env() for Azure
    with bk.Workspace(azure, "myresourcegroup", "myworkspace", location="eastus") as ws:
        share = ws.file_share("batchaiquickstart", mount_as="azurefileshare")
        share.upload("recipes/cntk_mnist", "mnistcntksample")
        with ws.gpu_cluster("mycluster", vm_size="STANDARD_NC6", nodes=1, mounts=[share]) as cluster:
            job = cluster.submit(bk.CntkJob(name="myjob", ...))
            job.wait(stream="stdout.txt")
        # the cluster is deleted here, also after an exception, Ctrl-C or SIGTERM

Every error is a ``bk.BatchAIKitError``.
"""

from ._cluster import ClusterSpec, GpuCluster
from ._connection import AdminUser, Azure, StaticTokenCredential
from ._job import Job, OutputFile
from ._jobs import ChainerJob, CntkJob, CustomJob, CustomMpiJob, HorovodJob, JobSpec, PyTorchJob, TensorFlowJob
from ._resource import Terminated
from ._share import FileShare, SharePath
from ._workspace import Experiment, Workspace
from .errors import (
                     AuthenticationFailed,
                     BatchAIKitError,
                     Conflict,
                     ConnectionFailed,
                     JobFailed,
                     NodesUnusable,
                     NotFound,
                     ProvisioningFailed,
                     QuotaExceeded,
                     RuntimeUnavailable,
                     ServiceError,
                     Timeout,
                     ValidationError,
)

__version__ = "0.1.0"

__all__ = [
    # where Azure is
    "Azure", "AdminUser", "StaticTokenCredential",
    # resources
    "Workspace", "Experiment", "FileShare", "SharePath", "GpuCluster", "ClusterSpec", "Job", "OutputFile",
    # job specifications
    "JobSpec", "CntkJob", "PyTorchJob", "TensorFlowJob", "ChainerJob", "CustomJob", "CustomMpiJob", "HorovodJob",
    # errors
    "BatchAIKitError", "ValidationError", "ServiceError", "NotFound", "Conflict", "QuotaExceeded",
    "AuthenticationFailed", "ProvisioningFailed", "ConnectionFailed", "NodesUnusable", "JobFailed", "Timeout",
    "RuntimeUnavailable", "Terminated",
    "__version__",
]
