"""Job specifications: what a user asks a cluster to run, as frozen values.

A spec is checked when it is built (``ValidationError`` naming the value and the rule, before
anything is sent) and turns into the SDK's ``JobCreateParameters`` with ``to_parameters``;
submitting it and following the live job are another module's business.

Paths are written the way Batch AI expects them, with ``$AZ_BATCHAI_*`` references the service
expands on the node: a ``SharePath`` (``share / "dir"``) becomes
``$AZ_BATCHAI_MOUNT_ROOT/<mount_as>/dir``, or ``$AZ_BATCHAI_JOB_MOUNT_ROOT/<mount_as>/dir`` when
its share is one of the job's own ``mounts``; a string is used as written.

Values equal to the service's defaults (priority normal, CNTK language Python) are left out of
the body, so a spec of the quickstart's job serializes to the quickstart's body.
"""

from __future__ import annotations

import datetime
import os
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Optional, Union

import attrs

# The fields' checks and the argument quoting live in _job_fields; PRIORITIES, quote_argument and
# join_arguments stay importable from here.
from ._job_fields import (
    _check_arguments,
    _check_directories,
    _check_mounts,
    _check_name,
    _check_priority,
    _check_required_count,
    _check_script,
    _check_secrets,
    _check_stdouterr,
    _check_variables,
    _check_wall_clock,
    _is_share_path,
    _location,
    _optional_count,
    _optional_text,
    _text,
    _to_dict,
    _to_lower,
    _to_tuple,
    _validated,
    join_arguments,
    quote_argument,
)
from .errors import ValidationError, register_secret


class _LazyModels:
    """``azure.mgmt.batchai.models``, imported when a spec first becomes parameters rather than
    with batchai_kit (the SDK's import is most of the library's import time)."""

    def __getattr__(self, name: str) -> Any:
        from azure.mgmt.batchai import models as loaded

        globals()["models"] = loaded
        return getattr(loaded, name)


if TYPE_CHECKING:  # _share imports nothing from here; kept lazy so either can load first
    from azure.mgmt.batchai import models

    from ._connection import Azure
    from ._share import FileShare, SharePath

    Location = Union[SharePath, str]
    Argument = Union[SharePath, str]
else:
    models = _LazyModels()

__all__ = [
    "JobSpec",
    "CntkJob",
    "PyTorchJob",
    "TensorFlowJob",
    "ChainerJob",
    "CustomJob",
    "CustomMpiJob",
    "HorovodJob",
    "CaffeJob",
    "Caffe2Job",
    "OutputLocation",
    "quote_argument",
    "join_arguments",
]

MOUNT_ROOT = "$AZ_BATCHAI_MOUNT_ROOT"
JOB_MOUNT_ROOT = "$AZ_BATCHAI_JOB_MOUNT_ROOT"
CNTK_LANGUAGES = {"python": "Python", "brainscript": "BrainScript"}
PYTORCH_BACKENDS = {"tcp": "TCP", "gloo": "Gloo", "mpi": "MPI"}
# 2018-05-01 has no field for a PyTorch rendezvous URL: the script reads it from this variable.
PYTORCH_INIT_METHOD_VARIABLE = "PYTORCH_INIT_METHOD"

_INIT_METHOD = re.compile(r"(?:tcp|file|env)://", re.IGNORECASE)


def _check_prefix(_instance: Any, attribute: Any, value: Any) -> None:
    _location(attribute.name, value, absolute=True)


def _check_suffix(_instance: Any, attribute: Any, value: Any) -> None:
    _text(attribute.name, value, optional=True)
    if isinstance(value, str) and value.startswith("/"):
        raise ValidationError(attribute.name, value, "must be relative: it is appended below the job's own directory")


@attrs.frozen
class OutputLocation:
    """An output directory as Batch AI's JSON gives it: a ``prefix`` (``$AZ_BATCHAI_MOUNT_ROOT/...``)
    and an optional ``suffix``. The job writes to ``{prefix}/{job's path segment}/outputs/{suffix}``.
    ``share / "Models"`` is the usual way to say the same for a share batchai_kit mounts."""

    prefix: str = attrs.field(validator=_check_prefix)
    suffix: Optional[str] = attrs.field(default=None, validator=_check_suffix)


# --- the specs -----------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class JobSpec:
    """What to run on a cluster, and with what; the toolkit comes from the subclass.

    ``inputs`` / ``outputs`` map directory ids to paths; a script finds them as
    ``$AZ_BATCHAI_INPUT_<ID>`` / ``$AZ_BATCHAI_OUTPUT_<ID>``. ``secrets`` are environment
    variables whose values never appear in ``repr``, ``describe()`` or errors. ``stdouterr`` is
    where stdout.txt/stderr.txt go (``None``: the submitter's default).
    """

    _TOOLKIT: ClassVar[str] = ""

    name: str = _validated(_check_name)
    node_count: int = _validated(_check_required_count, default=1)
    inputs: Mapping[str, Location] = _validated(_check_directories, factory=dict, converter=_to_dict)
    outputs: Mapping[str, Location] = _validated(_check_directories, factory=dict, converter=_to_dict)
    mounts: Sequence[FileShare] = _validated(_check_mounts, default=(), converter=_to_tuple)
    env: Mapping[str, str] = _validated(_check_variables, factory=dict, converter=_to_dict)
    secrets: Mapping[str, str] = _validated(_check_secrets, factory=dict, converter=_to_dict, repr=False)
    image: Optional[str] = _validated(_optional_text, default=None)
    priority: str = _validated(_check_priority, default="normal", converter=_to_lower)
    max_wall_clock: Optional[datetime.timedelta] = _validated(_check_wall_clock, default=None)
    preparation: Optional[str] = _validated(_optional_text, default=None)
    stdouterr: Optional[Location] = _validated(_check_stdouterr, default=None)

    def __attrs_post_init__(self) -> None:
        if not self._TOOLKIT:
            raise TypeError("JobSpec is a base class: use CntkJob, PyTorchJob, CustomJob, ...")
        for value in self.secrets.values():
            register_secret(value)
        clash = sorted(set(self.env) & set(self.secrets))
        if clash:
            raise ValidationError("secrets name", clash[0], "is also given in env: give it in one of them")
        for name, rule in self._reserved_variables().items():
            if name in self.env or name in self.secrets:
                raise ValidationError("env name", name, rule)
        self._check_toolkit()

    # -- for subclasses

    def _check_toolkit(self) -> None:
        """Rules between a toolkit's fields (and the job's); ValidationError when broken."""

    def _toolkit(self) -> dict[str, Any]:
        """``{JobCreateParameters keyword: settings model}`` for this toolkit."""
        raise NotImplementedError

    def _reserved_variables(self) -> dict[str, str]:
        """Environment variable names this spec sets itself -> why the user may not."""
        return {}

    def _extra_variables(self) -> dict[str, str]:
        return {}

    # -- public

    @property
    def toolkit(self) -> str:
        """The job's toolType as the service reports it: cntk, pytorch, tensorflow, ..."""
        return self._TOOLKIT

    def to_parameters(
        self, cluster_id: str, *, default_stdouterr: Optional[Location] = None
    ) -> models.JobCreateParameters:
        """The body of the create-job request for the cluster ``cluster_id`` (its resource id).

        ``default_stdouterr`` is used when the spec gives no ``stdouterr``; with neither, nothing
        says where stdout/stderr go, which the service requires: ``ValidationError``.
        """
        _text("cluster_id", cluster_id)
        stdouterr = self.stdouterr if self.stdouterr is not None else default_stdouterr
        if stdouterr is None:
            raise ValidationError(
                "stdouterr",
                None,
                "is required: give the job a stdouterr path (share / 'logs') or submit it with a default",
            )
        _location("stdouterr", stdouterr, absolute=True)
        variables = {**self.env, **self._extra_variables()}
        return models.JobCreateParameters(
            scheduling_priority=None if self.priority == "normal" else self.priority,
            cluster=models.ResourceId(id=cluster_id),
            mount_volumes=self._mount_volumes(),
            node_count=self.node_count,
            container_settings=self._container_settings(),
            job_preparation=models.JobPreparation(command_line=self.preparation) if self.preparation else None,
            std_out_err_path_prefix=self._path(stdouterr),
            input_directories=[
                models.InputDirectory(id=directory_id, path=self._path(where))
                for directory_id, where in self.inputs.items()
            ]
            or None,
            output_directories=[self._output(directory_id, where) for directory_id, where in self.outputs.items()]
            or None,
            environment_variables=[models.EnvironmentVariable(name=k, value=v) for k, v in variables.items()] or None,
            secrets=[models.EnvironmentVariableWithSecretValue(name=k, value=v) for k, v in self.secrets.items()]
            or None,
            constraints=(
                models.JobBasePropertiesConstraints(max_wall_clock_time=self.max_wall_clock)
                if self.max_wall_clock is not None
                else None
            ),
            **self._toolkit(),
        )

    def describe(self) -> dict[str, Any]:
        """A JSON-able summary for logs and the journal: secret names, never their values."""
        settings = next(iter(self._toolkit().values()))
        summary: dict[str, Any] = {
            "name": self.name,
            "toolkit": self.toolkit,
            "node_count": self.node_count,
            "settings": settings.serialize(),
            "inputs": {directory_id: self._path(where) for directory_id, where in self.inputs.items()},
            "outputs": {
                directory_id: self._output(directory_id, where).serialize()
                for directory_id, where in self.outputs.items()
            },
            "mounts": [share.mount_as for share in self.mounts],
            "env": dict(self.env),
            "secrets": sorted(self.secrets),
            "image": self.image,
            "priority": self.priority,
            "max_wall_clock_seconds": self.max_wall_clock.total_seconds() if self.max_wall_clock else None,
            "preparation": self.preparation,
            "stdouterr": self._path(self.stdouterr) if self.stdouterr is not None else None,
        }
        return summary

    @classmethod
    def from_json(cls, source: Mapping[str, Any] | str | os.PathLike[str], *, name: Optional[str] = None,
                  azure: Azure | None = None) -> JobSpec:
        """A job spec from Batch AI's own JSON: a ``JobCreateParameters`` body as ``az batchai job
        create -f`` and the Batch AI recipes use it (with or without the ``properties`` wrapper),
        a job as ``GET`` returns it, or a REST API example file.

        ``source`` is a parsed mapping, JSON text (a ``str``) or a file (``os.PathLike``). The
        toolkit setting picks the class (``cntkSettings`` -> :class:`CntkJob`, ...); calling it
        on a subclass also checks the toolkit. ``name`` overrides the name a body may carry.
        ``azure`` resolves mounted shares of its storage account (and the az CLI's
        ``<AZURE_BATCHAI_STORAGE_ACCOUNT>`` / ``<AZURE_BATCHAI_STORAGE_KEY>`` placeholders) into
        FileShare objects. Anything invalid raises ``ValidationError``, anything
        batchai_kit cannot honour ``UnsupportedSetting``, both naming the JSON path and value.
        """
        from ._spec_json import job_from_json

        spec = job_from_json(source, name=name, azure=azure)
        if not isinstance(spec, cls):
            raise ValidationError("toolkit", spec.toolkit, f"the JSON describes a {type(spec).__name__}, "
                                                            f"not a {cls.__name__}")
        return spec

    def to_json(self, cluster_id: Optional[str] = None, *, default_stdouterr: Optional[Location] = None
                ) -> dict[str, Any]:
        """The ``JobCreateParameters`` body (``{"properties": {...}}``) that ``from_json`` reads back.
        It holds secret values and mount keys as given: treat it as a secret."""
        from ._spec_json import job_to_json

        return job_to_json(self, cluster_id, default_stdouterr=default_stdouterr)

    # -- building blocks

    def _mount_root(self, share: Any) -> str:
        for mounted in self.mounts:
            if mounted is share or (mounted.mount_as, getattr(mounted, "name", None)) == (
                share.mount_as,
                getattr(share, "name", None),
            ):
                return JOB_MOUNT_ROOT
        return MOUNT_ROOT

    def _path(self, where: Location) -> str:
        """A path as the node sees it: a SharePath under the right mount root, a string as is."""
        if isinstance(where, str):
            return where
        root = self._mount_root(where.share)
        if root == MOUNT_ROOT:
            return str(where.mount_path)
        return "/".join(part for part in (root, where.share.mount_as, where.path) if part)

    def _output(self, directory_id: str, where: Any) -> models.OutputDirectory:
        if isinstance(where, OutputLocation):
            return models.OutputDirectory(id=directory_id, path_prefix=where.prefix, path_suffix=where.suffix)
        if not _is_share_path(where):
            return models.OutputDirectory(id=directory_id, path_prefix=where)
        prefix = f"{self._mount_root(where.share)}/{where.share.mount_as}"
        return models.OutputDirectory(id=directory_id, path_prefix=prefix, path_suffix=where.path or None)

    def _arguments(self, value: Any) -> Optional[str]:
        if value is None:
            return None
        if isinstance(value, str):
            return value or None
        return join_arguments([self._path(item) for item in value]) or None

    def _script(self, value: Any) -> Optional[str]:
        return None if value is None else self._path(value)

    def _mount_volumes(self) -> Optional[models.MountVolumes]:
        if not self.mounts:
            return None
        return models.MountVolumes(azure_file_shares=[share.mount_reference() for share in self.mounts])

    def _container_settings(self) -> Optional[models.ContainerSettings]:
        if self.image is None:
            return None
        return models.ContainerSettings(image_source_registry=models.ImageSourceRegistry(image=self.image))


def _requires_script(job: Any) -> None:
    if job.script is None:
        raise ValidationError("script", None, f"a {type(job).__name__} runs a Python script: give script=")


@attrs.frozen(kw_only=True)
class CntkJob(JobSpec):
    """A CNTK job: a Python ``script``, or a BrainScript ``config_file`` (language brainscript)."""

    _TOOLKIT: ClassVar[str] = "cntk"

    script: Optional[Location] = _validated(_check_script, default=None)
    args: Union[str, Sequence[Argument]] = _validated(_check_arguments, default=(), converter=_to_tuple)
    config_file: Optional[Location] = _validated(_check_script, default=None)
    language: str = attrs.field(
        default=attrs.Factory(lambda job: "brainscript" if job.config_file is not None else "python", takes_self=True),
        converter=_to_lower,
    )
    process_count: Optional[int] = _validated(_optional_count, default=None)
    python_interpreter: Optional[str] = _validated(_optional_text, default=None)

    def _check_toolkit(self) -> None:
        if self.language not in CNTK_LANGUAGES:
            raise ValidationError("language", self.language, "must be python or brainscript")
        if self.script is not None and self.config_file is not None:
            raise ValidationError(
                "config_file", self.config_file, "cannot be given with script: a CNTK job runs one or the other"
            )
        if self.language == "python":
            if self.config_file is not None:
                raise ValidationError("config_file", self.config_file, "is for language brainscript, not python")
            if self.script is None:
                raise ValidationError("script", None, "a CNTK job in language python runs a script: give script=")
        else:
            if self.config_file is None:
                raise ValidationError(
                    "config_file", None, "a CNTK job in language brainscript runs a config file: give config_file="
                )
            if self.python_interpreter is not None:
                raise ValidationError(
                    "python_interpreter", self.python_interpreter, "is for language python, not brainscript"
                )

    def _toolkit(self) -> dict[str, Any]:
        return {
            "cntk_settings": models.CNTKsettings(
                language_type=None if self.language == "python" else CNTK_LANGUAGES[self.language],
                config_file_path=self._script(self.config_file),
                python_script_file_path=self._script(self.script),
                python_interpreter_path=self.python_interpreter,
                command_line_args=self._arguments(self.args),
                process_count=self.process_count,
            )
        }


def _to_backend(value: object) -> object:
    return PYTORCH_BACKENDS.get(value.lower(), value) if isinstance(value, str) else value


def _check_backend(field: str, value: object) -> None:
    if value is not None and value not in PYTORCH_BACKENDS.values():
        raise ValidationError(field, value, "must be one of TCP, Gloo, MPI (any case)")


def _check_init_method(field: str, value: object) -> None:
    _text(field, value, optional=True)
    if isinstance(value, str) and not _INIT_METHOD.match(value):
        raise ValidationError(field, value, "must be a URL starting with tcp://, file:// or env://")


@attrs.frozen(kw_only=True)
class PyTorchJob(JobSpec):
    """A PyTorch job. ``init_method`` (no field for it in 2018-05-01) reaches the script as the
    environment variable PYTORCH_INIT_METHOD; Batch AI's own rendezvous is in
    $AZ_BATCHAI_PYTORCH_INIT_METHOD."""

    _TOOLKIT: ClassVar[str] = "pytorch"

    script: Location = _validated(_check_script)
    args: Union[str, Sequence[Argument]] = _validated(_check_arguments, default=(), converter=_to_tuple)
    process_count: Optional[int] = _validated(_optional_count, default=None)
    backend: Optional[str] = _validated(_check_backend, default=None, converter=_to_backend)
    init_method: Optional[str] = _validated(_check_init_method, default=None)
    python_interpreter: Optional[str] = _validated(_optional_text, default=None)

    def _check_toolkit(self) -> None:
        _requires_script(self)
        if self.init_method is not None and self.backend == "MPI":
            raise ValidationError(
                "init_method", self.init_method, "is not used with backend MPI (MPI finds the processes itself)"
            )

    def _reserved_variables(self) -> dict[str, str]:
        if self.init_method is None:
            return {}
        return {PYTORCH_INIT_METHOD_VARIABLE: "is set from init_method: give one or the other"}

    def _extra_variables(self) -> dict[str, str]:
        return {PYTORCH_INIT_METHOD_VARIABLE: self.init_method} if self.init_method is not None else {}

    def _toolkit(self) -> dict[str, Any]:
        return {
            "py_torch_settings": models.PyTorchSettings(
                python_script_file_path=self._path(self.script),
                python_interpreter_path=self.python_interpreter,
                command_line_args=self._arguments(self.args),
                process_count=self.process_count,
                communication_backend=self.backend,
            )
        }


@attrs.frozen(kw_only=True)
class TensorFlowJob(JobSpec):
    """A TensorFlow job: one master, or ``worker_count`` workers and ``ps_count`` parameter
    servers, each with its own arguments."""

    _TOOLKIT: ClassVar[str] = "tensorflow"

    script: Location = _validated(_check_script)
    master_args: Union[str, Sequence[Argument]] = _validated(_check_arguments, default=(), converter=_to_tuple)
    worker_args: Union[str, Sequence[Argument]] = _validated(_check_arguments, default=(), converter=_to_tuple)
    ps_args: Union[str, Sequence[Argument]] = _validated(_check_arguments, default=(), converter=_to_tuple)
    worker_count: Optional[int] = _validated(_optional_count, default=None)
    ps_count: Optional[int] = _validated(_optional_count, default=None)
    python_interpreter: Optional[str] = _validated(_optional_text, default=None)

    def _check_toolkit(self) -> None:
        _requires_script(self)
        if self.ps_count is not None and self.ps_count > self.node_count:
            raise ValidationError(
                "ps_count", self.ps_count, f"must be at most node_count ({self.node_count}): one server per node"
            )
        if self.ps_args and self.ps_count is None:
            raise ValidationError("ps_args", self.ps_args, "needs ps_count: say how many parameter servers run")
        distributed = self.worker_count is not None or self.ps_count is not None or self.node_count > 1
        if self.worker_args and not distributed:
            raise ValidationError(
                "worker_args",
                self.worker_args,
                "needs workers: give worker_count (or ps_count, or node_count > 1); a single-process "
                "job runs only the master",
            )

    def _toolkit(self) -> dict[str, Any]:
        return {
            "tensor_flow_settings": models.TensorFlowSettings(
                python_script_file_path=self._path(self.script),
                python_interpreter_path=self.python_interpreter,
                master_command_line_args=self._arguments(self.master_args),
                worker_command_line_args=self._arguments(self.worker_args),
                parameter_server_command_line_args=self._arguments(self.ps_args),
                worker_count=self.worker_count,
                parameter_server_count=self.ps_count,
            )
        }


@attrs.frozen(kw_only=True)
class _ScriptJob(JobSpec):
    """A Python script with arguments, run by MPI over ``process_count`` processes when > 1."""

    _SETTINGS: ClassVar[tuple[str, Any]] = ("", None)  # (JobCreateParameters field, settings model)

    script: Location = _validated(_check_script)
    args: Union[str, Sequence[Argument]] = _validated(_check_arguments, default=(), converter=_to_tuple)
    process_count: Optional[int] = _validated(_optional_count, default=None)
    python_interpreter: Optional[str] = _validated(_optional_text, default=None)

    def _check_toolkit(self) -> None:
        _requires_script(self)

    def _toolkit(self) -> dict[str, Any]:
        field, model = self._SETTINGS
        return {
            field: getattr(models, model)(
                python_script_file_path=self._script(self.script),
                python_interpreter_path=self.python_interpreter,
                command_line_args=self._arguments(self.args),
                process_count=self.process_count,
            )
        }


@attrs.frozen(kw_only=True)
class ChainerJob(_ScriptJob):
    """A Chainer job: a Python script, run by MPI when ``process_count`` > 1."""

    _TOOLKIT: ClassVar[str] = "chainer"
    _SETTINGS: ClassVar[tuple[str, Any]] = ("chainer_settings", "ChainerSettings")


@attrs.frozen(kw_only=True)
class HorovodJob(_ScriptJob):
    """A Horovod job: a Python script run by MPI over ``process_count`` processes."""

    _TOOLKIT: ClassVar[str] = "horovod"
    _SETTINGS: ClassVar[tuple[str, Any]] = ("horovod_settings", "HorovodSettings")


@attrs.frozen(kw_only=True)
class CustomJob(JobSpec):
    """A command line run by bash on the master node."""

    _TOOLKIT: ClassVar[str] = "custom"

    command: str = _validated(_text)

    def _toolkit(self) -> dict[str, Any]:
        return {"custom_toolkit_settings": models.CustomToolkitSettings(command_line=self.command)}


@attrs.frozen(kw_only=True)
class CustomMpiJob(JobSpec):
    """A command line run by MPI as ``process_count`` processes."""

    _TOOLKIT: ClassVar[str] = "custommpi"

    command: str = _validated(_text)
    process_count: int = _validated(_check_required_count, default=1)

    def _toolkit(self) -> dict[str, Any]:
        return {
            "custom_mpi_settings": models.CustomMpiSettings(command_line=self.command, process_count=self.process_count)
        }


@attrs.frozen(kw_only=True)
class CaffeJob(JobSpec):
    """A Caffe job: ``caffe train --solver=<config_file>``, or a Python ``script``; run by MPI
    when ``process_count`` > 1."""

    _TOOLKIT: ClassVar[str] = "caffe"

    config_file: Optional[Location] = _validated(_check_script, default=None)
    script: Optional[Location] = _validated(_check_script, default=None)
    args: Union[str, Sequence[Argument]] = _validated(_check_arguments, default=(), converter=_to_tuple)
    process_count: Optional[int] = _validated(_optional_count, default=None)
    python_interpreter: Optional[str] = _validated(_optional_text, default=None)

    def _check_toolkit(self) -> None:
        if (self.script is None) == (self.config_file is None):
            raise ValidationError("config_file", self.config_file,
                                  "a Caffe job runs a config_file or a script: give exactly one of them")
        if self.python_interpreter is not None and self.script is None:
            raise ValidationError("python_interpreter", self.python_interpreter, "is for a script, not a config_file")

    def _toolkit(self) -> dict[str, Any]:
        return {
            "caffe_settings": models.CaffeSettings(
                config_file_path=self._script(self.config_file),
                python_script_file_path=self._script(self.script),
                python_interpreter_path=self.python_interpreter,
                command_line_args=self._arguments(self.args),
                process_count=self.process_count,
            )
        }


@attrs.frozen(kw_only=True)
class Caffe2Job(JobSpec):
    """A Caffe2 job: one Python script."""

    _TOOLKIT: ClassVar[str] = "caffe2"

    script: Location = _validated(_check_script)
    args: Union[str, Sequence[Argument]] = _validated(_check_arguments, default=(), converter=_to_tuple)
    python_interpreter: Optional[str] = _validated(_optional_text, default=None)

    def _check_toolkit(self) -> None:
        _requires_script(self)

    def _toolkit(self) -> dict[str, Any]:
        return {
            "caffe2_settings": models.Caffe2Settings(
                python_script_file_path=self._path(self.script),
                python_interpreter_path=self.python_interpreter,
                command_line_args=self._arguments(self.args),
            )
        }
