"""Process groups the emulator started, as facts that outlive it.

Every process a node starts leads its own process group (its own session). The emulator records
each group's id with the leader's start time (``/proc/<pid>/stat``, in clock ticks since boot)
and the boot id, so that after a crash the next start can tell the job's processes from a program
that merely got a recycled pid, end the ones still running, and say what it found.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path

import attrs

_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
_TICK = 0.02


@attrs.frozen
class TrackedProcess:
    """One process group a run started; ``exit_code`` once the emulator saw it end."""

    owner: str        # the store key of the job (or setup task) it belongs to
    pid: int          # the leader's pid = the group's id
    start_ticks: int
    boot_id: str
    label: str
    stage: str
    primary: bool
    exit_code: int | None = None
    exit_file: str = ""  # where the group's leader writes its exit code (see ``recording_exit_code``)

    def to_doc(self) -> dict:
        return attrs.asdict(self)

    @classmethod
    def from_doc(cls, doc: dict) -> TrackedProcess:
        fields = {f.name for f in attrs.fields(cls)}
        return cls(**{k: v for k, v in doc.items() if k in fields})


@attrs.frozen
class ProcessTracker:
    """Where a run records the processes it starts and what became of them (the emulator backs
    ``record`` with its persisted state)."""

    record: Callable[[TrackedProcess], None]
    directory: Path | None = None  # for exit-code files; None: none are written


# The leader of a tracked group is this shell: it runs the command and writes its exit code to a
# file, so a job that ends while the emulator is down (crashed) still leaves its result behind.
_RECORDER = 'f=$1; shift; "$@"; c=$?; echo "$c" > "$f.tmp" && mv "$f.tmp" "$f"; exit "$c"'


def recording_exit_code(argv: tuple[str, ...], exit_file: Path, cwd: Path, path: str | None) -> tuple[str, ...]:
    """*argv* run by a shell that writes its exit code to *exit_file*. A command that cannot be
    run raises OSError now, as starting it directly would."""
    program = argv[0]
    if "/" in program:
        candidate = cwd / program
        if not candidate.exists():
            raise OSError(errno.ENOENT, os.strerror(errno.ENOENT), program)
        if not candidate.is_file() or not os.access(candidate, os.X_OK):
            raise OSError(errno.EACCES, os.strerror(errno.EACCES), program)
    elif shutil.which(program, path=path) is None:
        raise OSError(errno.ENOENT, os.strerror(errno.ENOENT), program)
    return ("/bin/sh", "-c", _RECORDER, "batchai-kit-exit-code", str(exit_file), *argv)


def read_exit_code(tracked: TrackedProcess) -> int | None:
    """The exit code the group's leader wrote, if it did."""
    if not tracked.exit_file:
        return None
    try:
        return int(Path(tracked.exit_file).read_text().strip())
    except (OSError, ValueError):
        return None


def identity(pid: int) -> TrackedProcess | None:
    """The start time and boot id of a running (not zombie) *pid*, as a partial record."""
    stat = _stat(pid)
    if stat is None or stat[0] == "Z":
        return None
    return TrackedProcess("", pid, stat[3], boot_id(), "", "", True)


def boot_id() -> str:
    try:
        return _BOOT_ID.read_text().strip()
    except OSError:
        return ""


def _stat(pid: int) -> tuple[str, int, int, int] | None:
    """(state, process group, session, start time in ticks) of *pid*, or None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = text.rsplit(")", 1)[1].split()  # after "pid (comm)", which may hold spaces
    return fields[0], int(fields[2]), int(fields[3]), int(fields[19])


def still_running(tracked: TrackedProcess) -> bool:
    """Whether the process group *tracked* names still has a live member that is ours.

    A live leader must have the recorded start time (a pid reused by another program has a later
    one). With the leader dead (a zombie) or gone, the group's id cannot have been reused while
    members remain, so any live member of that group and session, started no earlier than the
    leader, is ours.
    """
    if tracked.boot_id and tracked.boot_id != boot_id():
        return False  # the machine rebooted: nothing of that run survives
    leader = _stat(tracked.pid)
    if leader is not None and leader[0] != "Z":
        return leader[3] == tracked.start_ticks
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            member = _stat(int(entry.name))
            if member is not None and member[0] != "Z" and member[1] == tracked.pid \
                    and member[2] == tracked.pid and member[3] >= tracked.start_ticks:
                return True
    return False


def group_has_live_member(pgid: int) -> bool:
    """Whether a process of group *pgid* runs (zombies, ended but not yet reaped, do not count)."""
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            member = _stat(int(entry.name))
            if member is not None and member[1] == pgid and member[0] != "Z":
                return True
    return False


def end_group(tracked: TrackedProcess, grace: float) -> None:
    """SIGTERM the group, SIGKILL what is left after *grace* seconds; only while it is ours."""
    if not still_running(tracked):
        return
    _killpg(tracked.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while still_running(tracked) and time.monotonic() < deadline:
        time.sleep(_TICK)
    if still_running(tracked):
        _killpg(tracked.pid, signal.SIGKILL)
        deadline = time.monotonic() + grace
        while still_running(tracked) and time.monotonic() < deadline:
            time.sleep(_TICK)


def _killpg(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
