"""batchai_kit: Azure Batch AI resources as context managers, with an embedded local emulator.

``import batchai_kit as bk``; ``bk.Azure`` knows where Azure is (the real cloud, or the
emulator through its ready file); every error is a ``bk.BatchAIKitError``.
"""

from ._connection import Azure, StaticTokenCredential
from .errors import (AuthenticationFailed, BatchAIKitError, Conflict, ConnectionFailed, JobFailed, NodesUnusable,
                     NotFound, ProvisioningFailed, QuotaExceeded, RuntimeUnavailable, ServiceError, Timeout,
                     ValidationError)

__version__ = "0.1.0"

__all__ = [
    "Azure",
    "StaticTokenCredential",
    "AuthenticationFailed",
    "BatchAIKitError",
    "Conflict",
    "ConnectionFailed",
    "JobFailed",
    "NodesUnusable",
    "NotFound",
    "ProvisioningFailed",
    "QuotaExceeded",
    "RuntimeUnavailable",
    "ServiceError",
    "Timeout",
    "ValidationError",
    "__version__",
]
