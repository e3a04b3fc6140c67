"""Starting a job on a set of emulated nodes."""

from __future__ import annotations

import logging
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path

from batchai_kit.errors import RuntimeUnavailable

from ._environment import Redactor, absolute_path, expand, secret_variables, user_variables, which, with_runtime
from ._model import (
    INTERNAL_ERROR,
    INVALID_JOB,
    JOB_FAILED,
    JOB_FAILED_MESSAGE,
    JOB_PREPARATION_FAILED,
    JOB_PREPARATION_FAILED_MESSAGE,
    RUNTIME_UNAVAILABLE,
    SCRIPT_NOT_FOUND,
    JobResult,
    NodeLayout,
    RuntimeResolver,
    ShareResolver,
    StartError,
)
from ._mounts import mount_volumes
from ._process import ExecutionLog, Launch, ProcessHandle, Stage
from ._toolkits import LOCALHOST, TOOLKIT_KEYS, TaskPlan, plan_job, ranks_per_node, tool_type
from ._tracking import ProcessTracker

logger = logging.getLogger(__name__)


def start_job(
    job_properties: dict,
    *,
    job_name: str,
    job_path_segment: str,
    nodes: Sequence[NodeLayout],
    job_dir: Path,
    resolve_share: ShareResolver,
    resolve_runtime: RuntimeResolver,
    environ: Mapping[str, str],
    tracker: ProcessTracker | None = None,
    owner: str = "",
) -> ProcessHandle:
    """Start a job (the wire ``properties`` of a 2018-05-01 job) on ``nodes``.

    Never raises: a job that cannot start gets a handle whose ``poll()`` already holds the
    failure. The files land where Batch AI puts them:
    ``{stdOutErrPathPrefix}/{job_path_segment}/stdouterr/`` and
    ``{pathPrefix}/{job_path_segment}/outputs/{pathSuffix}`` for each output directory.
    """
    job = _Job(job_properties, job_name, job_path_segment, tuple(nodes), Path(job_dir), environ)
    try:
        handle = job.prepare(resolve_share, resolve_runtime, tracker, owner)
        logger.info("Starting job %s on %d node(s)", job_name, len(job.nodes))
        return handle.start()
    except StartError as exc:
        logger.info("Job %s cannot start: %s", job_name, job.redact(exc.message))
        return ProcessHandle.finished(job_name, exc.result(), job.log)
    except Exception as exc:  # the control plane's thread must never see an exception
        logger.exception("Job %s cannot start", job_name)
        return ProcessHandle.finished(
            job_name, JobResult.failure(INTERNAL_ERROR, f"The local node runner failed: {exc}"), job.log
        )


class _Job:
    def __init__(self, properties: dict, name: str, segment: str, nodes: tuple[NodeLayout, ...],
                 job_dir: Path, environ: Mapping[str, str]):
        self.properties = properties
        self.name = name
        self.segment = segment
        self.job_dir = job_dir
        self.environ = environ
        self.nodes = nodes
        self.redact = Redactor(())
        self.log: ExecutionLog | None = None
        self.node_envs: list[dict[str, str]] = []
        self.python = Path()
        self.stdouterr = Path()

    def prepare(self, resolve_share: ShareResolver, resolve_runtime: RuntimeResolver,
                tracker: ProcessTracker | None = None, owner: str = "") -> ProcessHandle:
        props = self.properties
        node_count = int(props.get("nodeCount") or len(self.nodes) or 1)
        if len(self.nodes) < node_count:
            raise StartError(INVALID_JOB, f"The job needs {node_count} node(s); {len(self.nodes)} given")
        self.nodes = self.nodes[:node_count]
        secrets = secret_variables(props.get("secrets"))
        self.redact = Redactor(secrets.values())

        image = ((props.get("containerSettings") or {}).get("imageSourceRegistry") or {}).get("image")
        try:
            python, runtime_env = resolve_runtime(image)
        except RuntimeUnavailable as exc:
            raise StartError(RUNTIME_UNAVAILABLE, str(exc), image=image or "(none)") from exc
        self.python = Path(python)
        base = with_runtime(self.environ, self.python, runtime_env)

        job_mount_root = self.job_dir / "mounts"
        mount_volumes(props.get("mountVolumes"), job_mount_root, resolve_share)
        node_vars = [self._node_variables(node, index, job_mount_root) for index, node in enumerate(self.nodes)]
        job_vars = self._job_directories(node_vars[0])
        user = user_variables(props.get("environmentVariables"), {**node_vars[0], **job_vars})
        for own in node_vars:
            # Service variables last: a user variable cannot move the job's own paths.
            self.node_envs.append({**base, "PYTHONUNBUFFERED": "1", **user, **secrets, **job_vars, **own})
        assert self.log is not None  # opened by _job_directories
        self.log.write(f"Job {self.name} starting on node(s) {', '.join(n.node_id for n in self.nodes)}; "
                       f"toolkit {tool_type(props)}; image {image or '(host)'}")

        stages = []
        preparation = (props.get("jobPreparation") or {}).get("commandLine")
        if preparation:
            stages.append(Stage("Job preparation", lambda: self._preparation(preparation), _preparation_failed))
        stages.append(Stage("Job", self._main_processes, _job_failed))
        return ProcessHandle(self.name, stages, self.log, self.redact, tracker, owner)

    def _node_variables(self, node: NodeLayout, index: int, job_mount_root: Path) -> dict[str, str]:
        node.mount_root.mkdir(parents=True, exist_ok=True)
        temp_root = self.job_dir / "temp"
        temp = temp_root / node.node_id
        temp.mkdir(parents=True, exist_ok=True)
        host_file = temp / "hostfile"
        host_file.write_text(f"localhost slots={_process_count(self.properties, len(self.nodes))}\n")
        shared = self.job_dir / "shared"
        shared.mkdir(parents=True, exist_ok=True)
        return {
            "AZ_BATCHAI_MOUNT_ROOT": str(node.mount_root),
            "AZ_BATCHAI_JOB_MOUNT_ROOT": str(job_mount_root),
            "AZ_BATCHAI_JOB_TEMP_DIR": str(temp_root),
            "AZ_BATCHAI_JOB_TEMP": str(temp),
            "AZ_BATCHAI_SHARED_JOB_TEMP": str(shared),
            "AZ_BATCHAI_MPI_HOST_FILE": str(host_file),
            "AZ_BATCHAI_NUM_GPUS": "0",
            "AZ_BATCHAI_JOB_MASTER_NODE_IP": LOCALHOST,
            "AZ_BATCHAI_NODE_IP": LOCALHOST,
            "AZ_BATCHAI_IS_CURRENT_NODE_MASTER": "true" if index == 0 else "false",
        }

    def _job_directories(self, master: dict[str, str]) -> dict[str, str]:
        """Inputs, the stdout/stderr directory (with execution.log) and created output directories."""
        props = self.properties
        found: dict[str, str] = {}
        for item in props.get("inputDirectories") or ():
            found[f"AZ_BATCHAI_INPUT_{item['id']}"] = expand(item["path"], master)
        known = {**master, **found}
        prefix = props.get("stdOutErrPathPrefix")
        if not prefix:
            raise StartError(INVALID_JOB, "stdOutErrPathPrefix is required")
        stdouterr = absolute_path(prefix, known, "stdOutErrPathPrefix") / self.segment / "stdouterr"
        stdouterr.mkdir(parents=True, exist_ok=True)
        self.stdouterr = stdouterr
        paths: dict[str | None, Path]
        if len(self.nodes) == 1:
            paths = {None: stdouterr / "execution.log"}
        else:
            paths = {n.node_id: stdouterr / f"execution-{n.node_id}.log" for n in self.nodes}
        self.log = ExecutionLog(paths, self.redact)
        found["AZ_BATCHAI_STDOUTERR_DIR"] = str(stdouterr)
        for item in props.get("outputDirectories") or ():
            path = absolute_path(item["pathPrefix"], known, f"outputDirectories[{item['id']}].pathPrefix")
            path = path / self.segment / "outputs"
            if item.get("pathSuffix"):
                path = path / expand(item["pathSuffix"], known)
            path.mkdir(parents=True, exist_ok=True)
            found[f"AZ_BATCHAI_OUTPUT_{item['id']}"] = str(path)
        return found

    def _preparation(self, command_line: str) -> list[Launch]:
        suffix = (lambda n: "") if len(self.nodes) == 1 else (lambda n: f"-{n.node_id}")
        return [
            Launch(
                label=f"job preparation on {node.node_id}",
                argv=(_bash(env), "-c", command_line),
                env=env,
                cwd=Path(env["AZ_BATCHAI_JOB_TEMP"]),
                stdout=self.stdouterr / f"stdout-job_prep{suffix(node)}.txt",
                stderr=self.stdouterr / f"stderr-job_prep{suffix(node)}.txt",
                node_id=node.node_id,
            )
            for node, env in zip(self.nodes, self.node_envs)
        ]

    def _main_processes(self) -> list[Launch]:
        plans = plan_job(self.properties, node_count=len(self.nodes), python=self.python, env=self.node_envs[0])
        return [self._launch(plan) for plan in plans]

    def _launch(self, plan: TaskPlan) -> Launch:
        node = self.nodes[plan.node]
        env = dict(self.node_envs[plan.node])
        env.update({name: expand(value, env) for name, value in plan.env.items()})
        cwd = Path(env["AZ_BATCHAI_JOB_TEMP"])
        if plan.mpi_processes:
            argv = self._mpi_argv(plan, env)
        elif plan.shell:
            argv = (_bash(env), *plan.argv[1:])
        else:
            argv = tuple(expand(word, env) for word in plan.argv)
        if plan.script is not None:
            script = cwd / expand(plan.script, env)
            if not script.is_file():
                raise StartError(
                    SCRIPT_NOT_FOUND,
                    f"The file {plan.script!r} (expanded: {script}) does not exist on node {node.node_id}",
                    path=str(script),
                )
        return Launch(
            label=plan.label,
            argv=argv,
            env=env,
            cwd=cwd,
            stdout=self.stdouterr / f"stdout{plan.output_suffix}.txt",
            stderr=self.stdouterr / f"stderr{plan.output_suffix}.txt",
            node_id=node.node_id,
            primary=plan.primary,
        )


    def _mpi_argv(self, plan: TaskPlan, launcher_env: Mapping[str, str]) -> tuple[str, ...]:
        """mpirun with one application context per node (``-np k -x VAR=value ... program``):
        each rank gets its own node's variables (mount root, temp directories, master flag),
        as the ranks Batch AI started through its host file did; rank 0 runs on the master."""
        contexts: list[list[str]] = []
        for index, count in enumerate(ranks_per_node(plan.mpi_processes, len(self.nodes))):
            if not count:
                continue
            env = dict(self.node_envs[index])
            env.update({name: expand(value, env) for name, value in plan.env.items()})
            exports = [word for name in sorted(env) if launcher_env.get(name) != env[name]
                       for word in ("-x", f"{name}={env[name]}")]
            program = list(plan.argv[2:]) if plan.shell else [expand(word, env) for word in plan.argv]
            contexts.append(["-np", str(count), *exports, *program])
        if not plan.shell:
            return (*plan.mpi_launcher, *[word for i, c in enumerate(contexts) for word in ([":"] if i else []) + c])
        # A custom MPI command line is shell text: bash parses it, once per context.
        quoted = [" ".join([*map(shlex.quote, context[:-1]), context[-1]]) for context in contexts]
        return (_bash(launcher_env), "-c", " ".join(map(shlex.quote, plan.mpi_launcher)) + " " + " : ".join(quoted))


def _bash(env: Mapping[str, str]) -> str:
    return which("bash", env) or "/bin/bash"


def _process_count(props: dict, node_count: int) -> int:
    counts = [int((props.get(key) or {}).get("processCount") or 0) for key in TOOLKIT_KEYS]
    return max([node_count, *counts])


def _preparation_failed(exit_code: int) -> JobResult:
    return JobResult.failure(
        JOB_PREPARATION_FAILED, JOB_PREPARATION_FAILED_MESSAGE, exit_code=exit_code,
        exitCode=exit_code,
    )


def _job_failed(exit_code: int) -> JobResult:
    return JobResult(exit_code=exit_code, errors=({"code": JOB_FAILED, "message": JOB_FAILED_MESSAGE},))

