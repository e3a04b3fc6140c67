"""Plain values shared by the node runner: where a node lives, how a run ended, error shapes."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import attrs

# Error codes. Those the real service reports (recordings, SDK tests) come first; the
# others are the emulator's own, for things a real node would not hit in the same way.
JOB_FAILED = "JobFailed"
JOB_TERMINATED = "JobTerminated"
JOB_PREPARATION_FAILED = "JobPreparationFailed"  # as the live 2018-05-01 service reported it
SETUP_TASK_FAILED = "SetupTaskFailed"
MOUNT_FAILED = "MountFailed"
UNSUPPORTED_MOUNT = "UnsupportedMountVolume"
RUNTIME_UNAVAILABLE = "RuntimeUnavailable"
TOOLKIT_UNAVAILABLE = "ToolkitUnavailable"
SCRIPT_NOT_FOUND = "ScriptFileNotFound"
INVALID_JOB = "InvalidJobConfiguration"
PROCESS_START_FAILED = "ProcessStartFailed"
INTERNAL_ERROR = "InternalError"

JOB_FAILED_MESSAGE = "Job failed with non-zero exit code"
JOB_PREPARATION_FAILED_MESSAGE = "Job preparation task failed with non-zero exit code"
JOB_TERMINATED_MESSAGE = "The specified job has been terminated by the user"


@attrs.frozen
class NodeLayout:
    """Where one emulated compute node lives on disk."""

    root: Path = attrs.field(converter=Path)
    mount_root: Path = attrs.field(converter=Path)  # $AZ_BATCHAI_MOUNT_ROOT of this node
    node_id: str

    @classmethod
    def under(cls, root: Path, node_id: str) -> NodeLayout:
        """The usual layout: ``root/mounts`` is the mount root."""
        root = Path(root)
        return cls(root=root, mount_root=root / "mounts", node_id=node_id)


def words(argv: Iterable[str]) -> tuple[str, ...]:
    """A command line as a tuple of words (the converter of ``argv`` fields)."""
    return tuple(argv)


def _error_tuple(errors: Iterable[dict]) -> tuple[dict, ...]:
    return tuple(errors)


@attrs.frozen
class JobResult:
    """How a job, a job preparation or a setup task ended, in the service's terms.

    ``errors`` holds BatchAIError wire dicts: ``{"code", "message", "details": [{"name", "value"}]}``.
    """

    exit_code: int | None
    errors: tuple[dict, ...] = attrs.field(converter=_error_tuple, default=())

    @property
    def succeeded(self) -> bool:
        return not self.errors and self.exit_code == 0

    @classmethod
    def failure(cls, code: str, message: str, exit_code: int | None = None, **details: object) -> JobResult:
        return cls(exit_code=exit_code, errors=(batchai_error(code, message, **details),))


class StartError(Exception):
    """A run cannot start; carries the error the service would report."""

    def __init__(self, code: str, message: str, **details: object):
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details

    def result(self) -> JobResult:
        return JobResult.failure(self.code, self.message, None, **self.details)


def batchai_error(code: str, message: str, **details: object) -> dict:
    """A BatchAIError in its wire shape; ``details`` become name/value pairs (values as strings)."""
    error: dict = {"code": code, "message": message}
    if details:
        error["details"] = [{"name": name, "value": str(value)} for name, value in details.items()]
    return error


ShareResolver = Callable[[str, str], Path]
RuntimeResolver = Callable[["str | None"], "tuple[Path, dict[str, str]]"]
