"""Running process trees: a handle the control plane polls and may terminate.

A run is a sequence of stages (job preparation on every node, then the job's processes).
Each process starts in its own session, so terminating it reaches everything it spawned.
A supervisor thread walks the stages; ``poll`` only reads what it recorded. While a stage runs,
the supervisor sleeps until one of its processes exits or termination is asked for (pidfds and a
wake-up pipe, where the kernel has pidfds): it takes no CPU from the job meanwhile.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import select
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import attrs

from .._threads import background_thread, interrupts_unblocked
from ._environment import Redactor, describe
from ._model import (
    INTERNAL_ERROR,
    JOB_TERMINATED,
    JOB_TERMINATED_MESSAGE,
    PROCESS_START_FAILED,
    JobResult,
    StartError,
    words,
)
from ._tracking import (
    ProcessTracker,
    TrackedProcess,
    boot_id,
    group_has_live_member,
    identity,
    recording_exit_code,
)

logger = logging.getLogger(__name__)

TERMINATE_GRACE_SECONDS = 5.0
_TICK = 0.05
_START_WAIT_SECONDS = 30.0


@attrs.frozen
class Launch:
    """One process to start: what, where, and where its output goes."""

    label: str
    argv: tuple[str, ...] = attrs.field(converter=words)
    env: Mapping[str, str] = attrs.field(repr=False)  # holds secrets
    cwd: Path
    stdout: Path
    stderr: Path
    node_id: str | None = None
    primary: bool = True  # the stage ends when every primary process has exited


@attrs.frozen
class Stage:
    """Processes started together. ``build`` runs when the stage begins (so it sees what the
    stages before it left on disk) and may raise ``StartError``; ``failure`` turns a
    non-zero exit code into the service's result."""

    name: str
    build: Callable[[], Sequence[Launch]]
    failure: Callable[[int], JobResult]


_Running = tuple[Launch, subprocess.Popen]


class ExecutionLog:
    """execution.log: timestamped lifecycle lines, secrets redacted. A multi-node job keeps
    one per node (``execution-{node}.log``); lines without a node go to all of them."""

    def __init__(self, paths: Mapping[str | None, Path], redact: Redactor):
        self._paths = dict(paths)
        self._redact = redact
        self._lock = threading.Lock()

    def write(self, message: str, node_id: str | None = None) -> None:
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        line = f"{stamp} {self._redact(message)}\n"
        targets = [p for n, p in self._paths.items() if node_id is None or n in (node_id, None)]
        with self._lock:
            for path in targets:
                try:
                    with open(path, "a", encoding="utf-8") as f:
                        f.write(line)
                except OSError as exc:  # a share gone away must not kill the supervisor
                    logger.warning("Cannot write %s: %s", path, exc)


class ProcessHandle:
    """A running (or finished) run. ``poll`` never blocks; ``terminate`` is idempotent and
    safe from any thread."""

    def __init__(self, name: str, stages: Sequence[Stage], log: ExecutionLog | None, redact: Redactor,
                 tracker: ProcessTracker | None = None, owner: str = ""):
        self.name = name
        self._tracker = tracker
        self._owner = owner
        self._stages = tuple(stages)
        self._log = log
        self._redact = redact
        self._lock = threading.Lock()
        self._running: list[subprocess.Popen] = []
        self._pid = 0
        self._result: JobResult | None = None
        self._termination: JobResult | None = None
        self._terminate_requested = threading.Event()
        self._started = threading.Event()
        self._start_ticks: dict[int, int] = {}
        self._exit_files: dict[int, Path] = {}  # by id() of the Launch as the stage built it
        self._wake_fd: int | None = None  # written to by terminate() while the supervisor sleeps in select
        self._finished_callbacks: list[Callable[[], None]] = []
        self._thread = background_thread(self._supervise, f"batchai-node-{name}")

    @classmethod
    def finished(cls, name: str, result: JobResult, log: ExecutionLog | None = None) -> ProcessHandle:
        """A handle for a run that could not start: poll() yields ``result`` at once."""
        handle = cls(name, (), log, Redactor(()))
        handle._finish(result)
        handle._started.set()
        return handle

    def start(self) -> ProcessHandle:
        """Start the supervisor; returns once the first process runs or the run has ended."""
        self._thread.start()
        self._started.wait(_START_WAIT_SECONDS)
        return self

    @property
    def pid(self) -> int:
        """Process id of the leading process of the current stage (0 if none was started)."""
        return self._pid

    def poll(self) -> JobResult | None:
        return self._result

    def when_finished(self, callback: Callable[[], None]) -> None:
        """Call *callback* (from the supervisor thread; it must not block) once the run has a
        result, or now if it has one already: the control plane sleeps until then."""
        with self._lock:
            if self._result is None:
                self._finished_callbacks.append(callback)
                return
        callback()

    def wait(self, timeout: float) -> JobResult | None:
        """Block up to ``timeout`` seconds for the result (for tests and callers with threads)."""
        if self._thread.is_alive():
            self._thread.join(timeout)
        return self._result

    def terminate(self, reason_code: str = JOB_TERMINATED, message: str = JOB_TERMINATED_MESSAGE) -> None:
        """Stop the whole process tree: SIGTERM now, SIGKILL after a grace period.

        The first call's reason wins; calls after the run ended change nothing.
        """
        with self._lock:
            if self._result is not None or self._termination is not None:
                return
            self._termination = JobResult.failure(reason_code, message)
            self._terminate_requested.set()
            running = list(self._running)
            if self._wake_fd is not None:  # the supervisor sleeps in select: wake it
                os.write(self._wake_fd, b"x")
        logger.info("Terminating %s (%s)", self.name, reason_code)
        for process in running:
            _signal_group(process.pid, signal.SIGTERM)

    def __repr__(self) -> str:
        state = "running" if self._result is None else ("succeeded" if self._result.succeeded else "failed")
        return f"<ProcessHandle {self.name} pid={self._pid} {state}>"

    # --- supervisor thread -------------------------------------------------------------

    def _supervise(self) -> None:
        try:
            self._finish(self._run_stages())
        except Exception as exc:  # never let a bug escape into nowhere: report it as the result
            logger.exception("Supervisor of %s failed", self.name)
            self._finish(JobResult.failure(INTERNAL_ERROR, f"The local node runner failed: {exc}"))
        finally:
            self._started.set()

    def _run_stages(self) -> JobResult:
        for stage in self._stages:
            if self._terminate_requested.is_set():
                break
            try:
                launches = stage.build()
            except StartError as exc:
                self._write(f"{stage.name}: {exc.message}")
                return exc.result()
            processes = self._spawn(stage, launches)
            if isinstance(processes, JobResult):
                return processes
            codes = self._wait(processes)
            _stop([process for _, process in processes])
            self._track(stage, processes)
            with self._lock:
                self._running.clear()
            if self._terminate_requested.is_set():
                break
            exit_code = _stage_exit_code(processes, codes)
            self._write(f"{stage.name} finished with exit code {exit_code}")
            if exit_code != 0:
                return stage.failure(exit_code)
        if self._termination is not None:
            self._write(f"Terminated: {self._termination.errors[0]['code']}")
            return self._termination
        return JobResult(exit_code=0)

    def _spawn(self, stage: Stage, launches: Sequence[Launch]) -> list[_Running] | JobResult:
        processes: list[_Running] = []
        with self._lock:
            if self._terminate_requested.is_set():
                return processes
            for launch in launches:
                self._write(f"{stage.name}: starting {launch.label}: {describe(launch.argv)}", launch.node_id)
                try:
                    process = _popen(self._recorded(launch))
                except OSError as exc:
                    self._write(f"{stage.name}: cannot start {launch.label}: {exc.strerror}", launch.node_id)
                    for _, started in processes:
                        _signal_group(started.pid, signal.SIGKILL)
                    _stop([started for _, started in processes])
                    return JobResult.failure(
                        PROCESS_START_FAILED,
                        f"Cannot start {launch.label} ({launch.argv[0]}): {exc.strerror}",
                    )
                processes.append((launch, process))
                self._running.append(process)
                self._track(stage, [(launch, process)], started=True)
            if processes:
                self._pid = processes[0][1].pid
        self._started.set()
        return processes

    def _wait(self, processes: list[_Running]) -> list[int | None]:
        """Wait until every primary process exits, one fails, or termination is asked for.

        Sleeps in ``select`` on the processes' pidfds and a wake-up pipe that ``terminate``
        writes to; without pidfds (not Linux, or a kernel before 5.3) it polls every ``_TICK``.
        """
        pidfds = _pidfds([process for _, process in processes])  # before any poll() reaps a pid
        if pidfds is None:
            return self._poll_until_done(processes)
        wake_read, wake_write = os.pipe()
        with self._lock:
            self._wake_fd = wake_write
        try:
            while True:
                codes = [process.poll() for _, process in processes]
                if _stage_done(processes, codes) or self._terminate_requested.is_set():
                    return codes
                # an exited process's pidfd stays readable: watch only those still running
                running = [fd for fd, code in zip(pidfds, codes) if code is None]
                select.select([*running, wake_read], [], [])
        finally:
            with self._lock:
                self._wake_fd = None
            for fd in (*pidfds, wake_read, wake_write):
                os.close(fd)

    def _poll_until_done(self, processes: list[_Running]) -> list[int | None]:
        while True:
            codes = [process.poll() for _, process in processes]
            if _stage_done(processes, codes) or self._terminate_requested.wait(_TICK):
                return codes

    def _recorded(self, launch: Launch) -> Launch:
        """*launch* under a shell that writes the exit code where a restart finds it, when tracked."""
        if self._tracker is None or self._tracker.directory is None:
            return launch
        self._tracker.directory.mkdir(parents=True, exist_ok=True)
        exit_file = self._tracker.directory / f"{uuid.uuid4().hex}.exit"
        self._exit_files[id(launch)] = exit_file
        argv = recording_exit_code(launch.argv, exit_file, launch.cwd, launch.env.get("PATH"))
        return attrs.evolve(launch, argv=argv)

    def _track(self, stage: Stage, processes: list[_Running], started: bool = False) -> None:
        """Record the stage's process groups (and, once they ended, their exit codes) where a
        restart after a crash finds them."""
        if self._tracker is None:
            return
        for launch, process in processes:
            code = None if started or process.returncode is None else _shell_code(process.returncode)
            if started:
                found = identity(process.pid)
                self._start_ticks[process.pid] = found.start_ticks if found is not None else -1
            exit_file = self._exit_files.get(id(launch))
            if code is not None and exit_file is not None:  # the store has the code now
                exit_file.unlink(missing_ok=True)
            try:
                self._tracker.record(TrackedProcess(
                    self._owner, process.pid, self._start_ticks.get(process.pid, -1), boot_id(), launch.label,
                    stage.name, launch.primary, code, str(exit_file or "")))
            except Exception:  # noqa: BLE001 - tracking must never stop a run; say so and go on
                logger.exception("Cannot record process %s of %s", process.pid, self.name)

    def _finish(self, result: JobResult) -> None:
        with self._lock:
            self._running.clear()
            if self._result is None:
                self._result = result
            callbacks, self._finished_callbacks = self._finished_callbacks, []
        if result.succeeded:
            logger.info("%s succeeded", self.name)
        else:
            codes = ", ".join(e["code"] for e in result.errors)
            logger.info("%s failed (exit code %s; %s)", self.name, result.exit_code, codes)
        if self._log is not None:
            self._log.write(f"Result: exit code {result.exit_code}; " + (
                "succeeded" if result.succeeded else "; ".join(f"{e['code']}: {e['message']}" for e in result.errors)
            ))
        for callback in callbacks:
            try:
                callback()
            except Exception:  # noqa: BLE001 - a watcher's bug must not lose the result; logged
                logger.exception("A callback of %s failed", self.name)

    def _write(self, message: str, node_id: str | None = None) -> None:
        logger.debug("%s: %s", self.name, self._redact(message))
        if self._log is not None:
            self._log.write(message, node_id)


def _popen(launch: Launch) -> subprocess.Popen:
    launch.stdout.parent.mkdir(parents=True, exist_ok=True)
    launch.stderr.parent.mkdir(parents=True, exist_ok=True)
    launch.cwd.mkdir(parents=True, exist_ok=True)
    # The child writes straight into the files, so readers see lines as they are printed.
    with open(launch.stdout, "ab") as out, open(launch.stderr, "ab") as err, interrupts_unblocked():
        process = subprocess.Popen(
            list(launch.argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            cwd=launch.cwd,
            env=dict(launch.env),
            start_new_session=True,
            close_fds=True,
        )
    return process


def _stage_done(processes: list[_Running], codes: list[int | None]) -> bool:
    """Every primary process has exited, or one has failed."""
    primary_codes = [code for (launch, _), code in zip(processes, codes) if launch.primary]
    return all(c is not None for c in primary_codes) or any(c not in (None, 0) for c in primary_codes)


def _pidfds(processes: list[subprocess.Popen]) -> list[int] | None:
    """A pidfd per process (readable once it has exited), or None where the kernel has none."""
    opened: list[int] = []
    try:
        for process in processes:
            opened.append(os.pidfd_open(process.pid))
    except (AttributeError, OSError):  # no os.pidfd_open (not Linux), ENOSYS (old kernel), ...
        for fd in opened:
            os.close(fd)
        return None
    return opened


def _stage_exit_code(processes: list[_Running], codes: list[int | None]) -> int:
    """The first (master) process's failure, else any other primary's, else 0."""
    for (launch, _), code in zip(processes, codes):
        if launch.primary and code not in (None, 0):
            return _shell_code(code)
    return 0


def _shell_code(code: int) -> int:
    return 128 - code if code < 0 else code  # killed by signal N -> 128+N, as a shell reports


def _signal_group(pgid: int, sig: int) -> bool:
    """Signal a process group; False when nothing is left in it."""
    try:
        os.killpg(pgid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def _stop(processes: list[subprocess.Popen]) -> None:
    """End every process group of the stage (stragglers a finished leader left behind, or the
    whole tree on termination): SIGTERM, then SIGKILL after the grace period."""
    alive = [p for p in processes if _signal_group(p.pid, signal.SIGTERM) or p.poll() is None]
    deadline = time.monotonic() + TERMINATE_GRACE_SECONDS
    while alive and time.monotonic() < deadline:
        for p in alive:
            p.poll()  # reap the leader so an empty group reads as empty
        alive = [p for p in alive if _group_alive(p.pid)]
        if alive:
            time.sleep(_TICK)
    for p in alive:
        _signal_group(p.pid, signal.SIGKILL)
    for p in processes:
        try:
            p.wait(TERMINATE_GRACE_SECONDS)
        except subprocess.TimeoutExpired:  # unkillable (D state); nothing more we can do
            logger.warning("Process %s did not exit after SIGKILL", p.pid)


def _group_alive(pgid: int) -> bool:
    """Whether the process group has a member that is not a zombie. Members orphaned by a dead
    leader are reaped by PID 1, which in some containers does so only about once a second: a
    group of zombies is over, though ``killpg(pgid, 0)`` still finds it."""
    return _signal_group(pgid, 0) and group_has_live_member(pgid)
