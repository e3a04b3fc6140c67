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

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._azureml import AzureMLExport, to_azureml
    from ._cluster import ClusterSpec, GpuCluster
    from ._connection import AdminUser, Azure, StaticTokenCredential
    from ._job import Job, OutputFile
    from ._jobs import (
        Caffe2Job,
        CaffeJob,
        ChainerJob,
        CntkJob,
        CustomJob,
        CustomMpiJob,
        HorovodJob,
        JobSpec,
        OutputLocation,
        PyTorchJob,
        TensorFlowJob,
    )
    from ._logging import RedactingFilter, configure_logging
    from ._resource import Terminated
    from ._share import ExternalShare, FileShare, SharePath
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
        UnsupportedSetting,
        ValidationError,
    )

# Public name -> the private module defining it. Loaded on first use (PEP 562), so
# ``import batchai_kit`` costs a few milliseconds and a script pays only for what it touches;
# the Azure SDKs themselves load when a client is first built.
_WHERE = {
    **dict.fromkeys(["AzureMLExport", "to_azureml"], "._azureml"),
    **dict.fromkeys(["ClusterSpec", "GpuCluster"], "._cluster"),
    **dict.fromkeys(["AdminUser", "Azure", "StaticTokenCredential"], "._connection"),
    **dict.fromkeys(["Job", "OutputFile"], "._job"),
    **dict.fromkeys(["RedactingFilter", "configure_logging"], "._logging"),
    **dict.fromkeys(["Caffe2Job", "CaffeJob", "ChainerJob", "CntkJob", "CustomJob", "CustomMpiJob", "HorovodJob",
                     "JobSpec", "OutputLocation", "PyTorchJob", "TensorFlowJob"], "._jobs"),
    "Terminated": "._resource",
    **dict.fromkeys(["ExternalShare", "FileShare", "SharePath"], "._share"),
    **dict.fromkeys(["Experiment", "Workspace"], "._workspace"),
    **dict.fromkeys(["AuthenticationFailed", "BatchAIKitError", "Conflict", "ConnectionFailed", "JobFailed",
                     "NodesUnusable", "NotFound", "ProvisioningFailed", "QuotaExceeded", "RuntimeUnavailable",
                     "ServiceError", "Timeout", "UnsupportedSetting", "ValidationError"], ".errors"),
}


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(where, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))


__version__ = "0.1.0"

__all__ = [
    # where Azure is
    "Azure", "AdminUser", "StaticTokenCredential",
    # resources
    "Workspace", "Experiment", "FileShare", "ExternalShare", "SharePath", "GpuCluster", "ClusterSpec", "Job",
    "OutputFile",
    # job specifications
    "JobSpec", "CntkJob", "PyTorchJob", "TensorFlowJob", "ChainerJob", "CustomJob", "CustomMpiJob", "HorovodJob",
    "CaffeJob", "Caffe2Job", "OutputLocation",
    # errors
    "BatchAIKitError", "ValidationError", "UnsupportedSetting", "ServiceError", "NotFound", "Conflict",
    "QuotaExceeded", "AuthenticationFailed", "ProvisioningFailed", "ConnectionFailed", "NodesUnusable", "JobFailed",
    "Timeout",
    "RuntimeUnavailable", "Terminated",
    # leaving Batch AI
    "to_azureml", "AzureMLExport",
    # logs without secrets
    "configure_logging", "RedactingFilter",
    "__version__",
]
