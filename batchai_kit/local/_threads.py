"""The emulator's background threads never take the process's SIGINT or SIGTERM.

The kernel delivers a process-directed signal to any thread that does not block it. When an
emulator runs inside the user's process (``bk.Azure.local()``) and one of its threads takes the
Ctrl-C, Python runs the handler only when the main thread next wakes: a main thread sleeping in
``time.sleep`` or waiting on a socket sees the Ctrl-C late, or not at all. So every thread the
emulator starts blocks both signals, and child processes get the mask unblocked again.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Any, Callable, Iterator

INTERRUPTS = frozenset({signal.SIGINT, signal.SIGTERM})


def block_interrupts_in_this_thread() -> None:
    """Leave SIGINT and SIGTERM to the threads that want them (the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        signal.pthread_sigmask(signal.SIG_BLOCK, INTERRUPTS)


def background_thread(target: Callable[..., Any], name: str, **kwargs: Any) -> threading.Thread:
    """A daemon thread (not started) that blocks SIGINT and SIGTERM before it runs *target*."""

    def run(*args: Any, **kw: Any) -> None:
        block_interrupts_in_this_thread()
        target(*args, **kw)

    return threading.Thread(target=run, name=name, daemon=True, **kwargs)


@contextlib.contextmanager
def interrupts_unblocked() -> Iterator[None]:
    """Around a fork: a child inherits its parent thread's signal mask across exec, and a job
    process that blocks SIGTERM could not be stopped gently."""
    if threading.current_thread() is threading.main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_UNBLOCK, INTERRUPTS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
