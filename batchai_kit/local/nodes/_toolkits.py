"""What each toolkit runs: the processes of a job, before environment and paths are filled in.

Local choices, following how Batch AI launched each toolkit:
- custom: ``commandLine`` through bash, once (the service runs it on the master node only);
- cntk (Python), chainer, horovod, caffe, customMpi: one process, or mpirun with processCount
  ranks when processCount > 1 (the service used MPI across nodes for these); the ranks are spread
  over the job's nodes in blocks (rank 0 first on the master node), each rank with its own node's
  variables, as mpirun with Batch AI's host file placed them;
- pyTorch: processCount processes, each with AZ_BATCHAI_TASK_INDEX; the MPI backend uses mpirun;
- tensorFlow: one master, or, when distributed, workerCount workers (the master is worker 0)
  plus parameterServerCount parameter servers with AZ_BATCHAI_PS_HOSTS/WORKER_HOSTS, TF_CONFIG;
- caffe2: one process.
Processes are spread over the job's nodes round robin; each sees its node's mount root.
"""

from __future__ import annotations

import functools
import json
import os
import socket
import subprocess
from collections.abc import Mapping
from pathlib import Path

import attrs

from ._environment import split_words, which
from ._model import INVALID_JOB, TOOLKIT_UNAVAILABLE, StartError, words

LOCALHOST = "127.0.0.1"

# Settings key -> the job's toolType as the service reports it.
TOOL_TYPES = {
    "customToolkitSettings": "custom",
    "cntkSettings": "cntk",
    "pyTorchSettings": "pytorch",
    "tensorFlowSettings": "tensorflow",
    "chainerSettings": "chainer",
    "caffeSettings": "caffe",
    "caffe2Settings": "caffe2",
    "customMpiSettings": "custommpi",
    "horovodSettings": "horovod",
}
TOOLKIT_KEYS = tuple(TOOL_TYPES)


def tool_type(properties: dict) -> str | None:
    """The ``toolType`` of a job's properties (None when no toolkit setting is given)."""
    return next((TOOL_TYPES[key] for key in TOOLKIT_KEYS if properties.get(key) is not None), None)


@attrs.frozen
class TaskPlan:
    """One process of a job. ``argv`` words may still hold ``$AZ_BATCHAI_*`` references,
    expanded against the process's own environment unless ``shell`` (bash does it)."""

    label: str
    argv: tuple[str, ...] = attrs.field(converter=words)
    node: int = 0
    output_suffix: str = ""  # stdout{suffix}.txt / stderr{suffix}.txt
    env: Mapping[str, str] = attrs.field(factory=dict)
    primary: bool = True
    shell: bool = False
    script: str | None = None  # a script path that must exist once preparation ran
    # An MPI launch: ``argv`` is each rank's program, started by ``mpi_launcher`` (mpirun and its
    # options, without -np) as ``mpi_processes`` ranks spread over the job's nodes.
    mpi_launcher: tuple[str, ...] = attrs.field(default=(), converter=words)
    mpi_processes: int = 0


def plan_job(properties: dict, *, node_count: int, python: Path, env: Mapping[str, str]) -> list[TaskPlan]:
    """The processes ``properties`` asks for. ``python`` is the runtime's interpreter and
    ``env`` the job's environment on the master node (its PATH finds mpirun, cntk, caffe)."""
    present = [key for key in TOOLKIT_KEYS if properties.get(key) is not None]
    if len(present) != 1:
        raise StartError(
            INVALID_JOB,
            f"A job needs exactly one toolkit setting ({', '.join(TOOLKIT_KEYS)}); got {present or 'none'}",
        )
    key = present[0]
    settings = properties[key]
    process_count = int(settings.get("processCount") or node_count)
    launcher = _Launcher(key, node_count, python, env)
    if key == "customToolkitSettings":
        return [launcher.shell(settings.get("commandLine") or "")]
    if key == "customMpiSettings":
        return [launcher.shell(settings["commandLine"], process_count)]
    if key == "tensorFlowSettings":
        return launcher.tensorflow(settings)
    if key == "pyTorchSettings":
        return launcher.pytorch(settings, process_count)
    if key == "cntkSettings" and (settings.get("languageType") or "Python").lower() == "brainscript":
        return [launcher.native("cntk", settings.get("configFilePath"), "configFile=", settings, process_count)]
    if key == "caffeSettings" and settings.get("configFilePath"):
        return [launcher.native("caffe", settings["configFilePath"], "train --solver=", settings, process_count)]
    if key == "caffe2Settings":
        process_count = 1
    return [launcher.python_script(settings, process_count)]


class _Launcher:
    def __init__(self, key: str, node_count: int, python: Path, env: Mapping[str, str]):
        self.key = key
        self.node_count = max(1, node_count)
        self.runtime_python = python
        self.env = env

    def interpreter(self, settings: dict) -> str:
        return settings.get("pythonInterpreterPath") or str(self.runtime_python)

    def shell(self, command_line: str, process_count: int = 1) -> TaskPlan:
        plan = TaskPlan("command", ("bash", "-c", command_line), shell=True)
        return self.under_mpi(plan, process_count) if process_count > 1 else plan

    def python_script(self, settings: dict, process_count: int) -> TaskPlan:
        script = _required(settings, "pythonScriptFilePath", self.key)
        argv = [self.interpreter(settings), script, *split_words(settings.get("commandLineArgs"))]
        if process_count > 1:  # ranks come from MPI (OMPI_COMM_WORLD_RANK), not from us
            return self.under_mpi(TaskPlan("command", argv, script=script), process_count)
        return TaskPlan("command", argv, env={"AZ_BATCHAI_TASK_INDEX": "0"}, script=script)

    def native(self, program: str, config: str | None, option: str, settings: dict, process_count: int) -> TaskPlan:
        if not config:
            raise StartError(INVALID_JOB, f"{self.key}: configFilePath is required for this language type")
        executable = which(program, self.env)
        if executable is None:
            raise StartError(
                TOOLKIT_UNAVAILABLE,
                f"{self.key} needs the {program!r} executable, which is not on the PATH of the job's "
                f"runtime; install {program} into that runtime or use the Python language type",
            )
        *subcommand, flag = option.split(" ")
        argv = [executable, *subcommand, flag + config, *split_words(settings.get("commandLineArgs"))]
        plan = TaskPlan("command", argv, script=config)
        return self.under_mpi(plan, process_count) if process_count > 1 else plan

    def pytorch(self, settings: dict, process_count: int) -> list[TaskPlan]:
        backend = (settings.get("communicationBackend") or "gloo").lower()
        if process_count <= 1 or backend == "mpi":
            plan = self.python_script(settings, process_count)
            return [attrs.evolve(plan, env={**plan.env, "AZ_BATCHAI_PYTORCH_BACKEND": backend})]
        script = _required(settings, "pythonScriptFilePath", self.key)
        argv = [self.interpreter(settings), script, *split_words(settings.get("commandLineArgs"))]
        # File-system rendezvous on the job's shared temp directory, as the service's
        # AZ_BATCHAI_PYTORCH_INIT_METHOD pointed at shared storage.
        init = "file://${AZ_BATCHAI_SHARED_JOB_TEMP}/pytorch_init"
        return [
            TaskPlan(
                f"rank {rank}",
                argv,
                node=rank % self.node_count,
                output_suffix=f"-{rank}",
                env={
                    "AZ_BATCHAI_TASK_INDEX": str(rank),
                    "AZ_BATCHAI_PYTORCH_BACKEND": backend,
                    "AZ_BATCHAI_PYTORCH_INIT_METHOD": init,
                },
                script=script,
            )
            for rank in range(process_count)
        ]

    def tensorflow(self, settings: dict) -> list[TaskPlan]:
        script = _required(settings, "pythonScriptFilePath", self.key)
        python = self.interpreter(settings)
        distributed = (
            settings.get("workerCount") is not None
            or settings.get("parameterServerCount") is not None
            or self.node_count > 1
        )
        master_args = split_words(settings.get("masterCommandLineArgs"))
        if not distributed:
            return [TaskPlan("master", [python, script, *master_args], env={"AZ_BATCHAI_TASK_INDEX": "0"},
                             script=script)]
        workers = max(1, int(settings.get("workerCount") or self.node_count))
        declared_servers = settings.get("parameterServerCount")
        servers = max(0, int(declared_servers if declared_servers is not None else 1))
        ports = _free_ports(workers + servers)
        worker_hosts = [f"{LOCALHOST}:{port}" for port in ports[:workers]]
        ps_hosts = [f"{LOCALHOST}:{port}" for port in ports[workers:]]
        cluster = {"ps": ps_hosts, "worker": worker_hosts}
        shared = {"AZ_BATCHAI_PS_HOSTS": ",".join(ps_hosts), "AZ_BATCHAI_WORKER_HOSTS": ",".join(worker_hosts)}

        def task(role: str, kind: str, index: int, args: list[str], node: int, primary: bool = True) -> TaskPlan:
            tf_config = {"cluster": cluster, "task": {"type": role, "index": index}, "environment": "cloud"}
            env = {**shared, "AZ_BATCHAI_TASK_INDEX": str(index), "TF_CONFIG": json.dumps(tf_config)}
            return TaskPlan(f"{role} {index}", [python, script, *args], node=node, output_suffix=f"-{kind}-{index}",
                            env=env, primary=primary, script=script)

        worker_args = split_words(settings.get("workerCommandLineArgs")) or master_args
        ps_args = split_words(settings.get("parameterServerCommandLineArgs")) or master_args
        plans = [task("master", "wk", 0, master_args, node=0)]
        plans += [task("worker", "wk", i, worker_args, node=i % self.node_count) for i in range(1, workers)]
        # Parameter servers serve until killed: the job ends with its workers.
        plans += [task("ps", "ps", i, ps_args, node=i % self.node_count, primary=False) for i in range(servers)]
        return plans

    def under_mpi(self, plan: TaskPlan, process_count: int) -> TaskPlan:
        return attrs.evolve(plan, mpi_launcher=self.mpirun(process_count), mpi_processes=process_count)

    def mpirun(self, process_count: int) -> list[str]:
        """mpirun and its options; the ranks (-np) come per node when the plan is launched."""
        mpirun = which("mpirun", self.env)
        if mpirun is None:
            raise StartError(
                TOOLKIT_UNAVAILABLE,
                f"{self.key} with processCount={process_count} runs through mpirun, which is not on the "
                "PATH of the job's runtime; install Open MPI (e.g. `apt-get install openmpi-bin`) or "
                "set processCount to 1",
            )
        argv = [mpirun]
        if _is_open_mpi(mpirun):
            # All "nodes" are this machine: allow more processes than cores, and root in CI.
            argv.append("--oversubscribe")
            if os.geteuid() == 0:
                argv.append("--allow-run-as-root")
        return argv


def ranks_per_node(process_count: int, node_count: int) -> list[int]:
    """How many of ``process_count`` ranks each node runs: as even as it goes, the first nodes
    taking one more when it does not divide (rank 0 on the master node)."""
    share, extra = divmod(process_count, node_count)
    return [share + (1 if index < extra else 0) for index in range(node_count)]


def _required(settings: dict, name: str, key: str) -> str:
    value = settings.get(name)
    if not value:
        raise StartError(INVALID_JOB, f"{key}.{name} is required")
    return value


@functools.lru_cache(maxsize=8)
def _is_open_mpi(mpirun: str) -> bool:
    try:
        out = subprocess.run([mpirun, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "open mpi" in (out.stdout + out.stderr).lower()


def _free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((LOCALHOST, 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()
