"""What every live resource shares: SDK error mapping, the context-manager protocol with its
cleanup policy, SIGTERM and second-Ctrl-C handling, and the journal.

Cleanup rules (the same for every resource):

- a block cleans up only what it created; a resource that existed before is never deleted;
- the policy is per resource (``cleanup=``): clusters default to ``"delete"``, jobs to
  ``"terminate"`` (a still-running job is terminated), everything else to ``"keep"``;
- on an exception, KeyboardInterrupt or SIGTERM inside a block the same cleanup runs before the
  error propagates; SIGTERM is turned into :class:`Terminated` (a SystemExit with status 143)
  while a block is open, so ``except Exception`` in user code cannot swallow it;
- a second Ctrl-C (or SIGTERM) during that cleanup exits at once, logging what may be left
  (``batchai-kit gc`` finds it from the journal);
- a single Ctrl-C or SIGTERM is never lost: while a block is open, one that something inside
  catches and drops (``except BaseException``, a library's retry loop...) is raised again when
  the block ends, after the same cleanup. (Code that catches KeyboardInterrupt inside a block to
  carry on therefore gets it again at the block's end.)
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterator, NoReturn

if TYPE_CHECKING:  # pragma: no cover
    from typing_extensions import Self

from ._journal import Journal, clean_endpoint
from .errors import BatchAIKitError, ValidationError, from_azure_error

log = logging.getLogger("batchai_kit")


class Terminated(SystemExit):
    """SIGTERM arrived while a batchai_kit block was open: the blocks clean up, then the
    process exits with status 143 (128 + SIGTERM), as if SIGTERM had ended it."""

    def __init__(self) -> None:
        super().__init__(128 + signal.SIGTERM)


@contextlib.contextmanager
def azure_errors(action: str) -> Iterator[None]:
    """Turn an Azure SDK exception raised inside into the library's error for *action*; after
    a call that returned normally, raise a Ctrl-C/SIGTERM that arrived during it and was dropped."""
    try:
        yield
    except BatchAIKitError:
        raise
    except Exception as exc:
        try:
            error = from_azure_error(exc, action=action)
        except TypeError:
            raise exc from None
        raise error from exc
    _GUARD.raise_if_pending()


def check_choice(field: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValidationError(field, value, f"must be one of {', '.join(repr(c) for c in choices)}")
    return value


# -- signals ------------------------------------------------------------------------------------


class _Guard:
    """Counts open blocks in the main thread; owns the SIGTERM handler (and SIGINT's, when it is
    Python's default) while any is open, and remembers an interrupt until a block has seen it
    propagate (``pending``): one that something swallowed on its way is raised again when the
    block it arrived in ends, so a single Ctrl-C can never be lost."""

    def __init__(self) -> None:
        self.depth = 0
        self.previous: Any = None
        self.previous_sigint: Any = None
        self.pending: int | None = None
        self.lock = threading.Lock()

    def enter(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        with self.lock:
            self.depth += 1
            if self.depth == 1:
                self.pending = None
                self.previous = signal.signal(signal.SIGTERM, _raise_terminated)
                if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
                    self.previous_sigint = signal.signal(signal.SIGINT, _raise_interrupted)

    def exit(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        with self.lock:
            self.depth -= 1
            if self.depth == 0:
                if self.previous is not None:
                    signal.signal(signal.SIGTERM, self.previous)
                    self.previous = None
                if self.previous_sigint is not None:
                    signal.signal(signal.SIGINT, self.previous_sigint)
                    self.previous_sigint = None
                self.pending = None

    def raise_if_pending(self) -> None:
        """Raise the interrupt that arrived and was dropped before reaching here (in the main
        thread, while a block is open): an SDK call returning normally after a Ctrl-C means
        something inside it caught the KeyboardInterrupt (a ``__del__``, a retry loop)."""
        pending = self.pending
        if pending is None or threading.current_thread() is not threading.main_thread():
            return
        log.warning("An interrupt (%s) was caught and dropped inside an Azure SDK call: acting on it now",
                    signal.Signals(pending).name)
        if pending == signal.SIGTERM:
            raise Terminated()
        raise KeyboardInterrupt

    def take_unseen(self, seen: bool) -> int | None:
        """The signal of an interrupt no block saw propagate (None if none), forgetting it; with
        ``seen`` the interrupt is the one propagating now."""
        if threading.current_thread() is not threading.main_thread():
            return None
        pending, self.pending = self.pending, None
        return None if seen else pending


_GUARD = _Guard()


def _raise_terminated(signum: int, frame: FrameType | None) -> NoReturn:
    _GUARD.pending = signum
    raise Terminated()


def _raise_interrupted(signum: int, frame: FrameType | None) -> NoReturn:
    _GUARD.pending = signum
    raise KeyboardInterrupt


def block_interrupts_in_this_thread() -> None:
    """For worker threads: leave SIGINT and SIGTERM to the main thread. The kernel hands a
    process's signal to any thread that does not block it, and a main thread waiting for workers
    would see a Ctrl-C taken by one of them only when it next wakes."""
    if threading.current_thread() is not threading.main_thread() and hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})


@contextlib.contextmanager
def _exit_at_once_on_interrupt(left: Callable[[], list[str]], *,
                               deferred: list[int] | None = None) -> Iterator[None]:
    """While cleaning up after an interrupt: a second one exits at once, saying what may be left.

    With ``deferred`` (a cleanup that no interrupt started), the first interrupt does not stop
    the cleanup half-way (a deleted resource the journal would still list): it is appended to
    ``deferred`` for the caller to raise once the cleanup is done; a second one exits at once.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def now(signum: int, frame: FrameType | None) -> None:
        if deferred is not None and not deferred:
            deferred.append(signum)
            log.warning("Interrupted during cleanup: finishing it first (interrupt again to exit at once)")
            return
        remains = left()
        log.critical("Interrupted again during cleanup: exiting now. These may still exist: %s. "
                     "`batchai-kit gc` lists and deletes what batchai_kit created.",
                     ", ".join(remains) or "nothing recorded")
        os._exit(128 + signum)

    previous = {s: signal.signal(s, now) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


# -- the base of live resources ------------------------------------------------------------------


class LiveResource:
    """A context manager that creates or attaches on enter and applies its cleanup on exit.

    Subclasses implement ``_open()`` (create or attach; set ``created_here``), ``_cleanup()``
    (what the policy says for a resource created here) and ``describe()``.
    """

    kind: ClassVar[str] = "resource"
    created_here: bool = False
    _entered: bool = False

    def _open(self) -> None:
        raise NotImplementedError

    def _cleanup(self, failed: bool) -> None:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    @property
    def id(self) -> str:
        """The resource's id (what the journal records)."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        _GUARD.enter()
        try:
            self._open()
        except BaseException as error:
            # Entering failed after creating something (an interrupt, a failed wait) or while a
            # create was in flight (its intent journaled, its answer never seen: ours, by the
            # journal's intent record): apply the cleanup policy now, as no __exit__ will run.
            try:
                if self._claim_unconfirmed() or self._created_anything():
                    self._cleanup_after_failed_entry(error)
            finally:
                _GUARD.exit()
            raise
        self._entered = True
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        interrupted = exc_type is not None and issubclass(exc_type, (KeyboardInterrupt, Terminated))
        # An interrupt that arrived in this block and never reached here (caught and dropped on its
        # way, e.g. by code catching BaseException) is not lost: clean up as for it, then raise it.
        swallowed = _GUARD.take_unseen(seen=interrupted) if exc_type is None or interrupted else None
        if swallowed is not None:
            log.warning("An interrupt (%s) was caught inside the block of %s and never reached it: acting on it "
                        "now", signal.Signals(swallowed).name, self.describe())
            interrupted = True
        deferred: list[int] = []
        try:
            if interrupted:
                cause = "Terminated by SIGTERM" if isinstance(exc, Terminated) or swallowed == signal.SIGTERM \
                    else "Interrupted"
                log.warning("%s: cleaning up %s (interrupt again to exit at once)", cause, self.describe())
                with _exit_at_once_on_interrupt(self._leftovers):
                    self._cleanup(failed=True)
            else:
                with _exit_at_once_on_interrupt(self._leftovers, deferred=deferred):
                    self._cleanup(failed=exc_type is not None)
        except BaseException as cleanup_error:
            if exc is None:
                raise
            log.error("Cleaning up %s after an error failed too: %s", self.describe(), cleanup_error)
        finally:
            self._entered = False
            _GUARD.exit()
        late = swallowed if swallowed is not None else (deferred[0] if deferred else None)
        if late == signal.SIGTERM:
            raise Terminated()
        if late is not None:
            raise KeyboardInterrupt

    def _created_anything(self) -> bool:
        """Whether this block created something its cleanup policy may have to delete."""
        return self.created_here

    def _claim_unconfirmed(self) -> bool:
        """After a failed entry: count as created here what this block asked to create and never
        heard back about (``creating`` is set before the create is sent, cleared after). The
        cleanup's deletes are idempotent: a create that never happened is deleted as "gone"."""
        if not getattr(self, "creating", False):
            return False
        self.creating = False
        self.created_here = True
        return True

    def _cleanup_after_failed_entry(self, error: BaseException) -> None:
        interrupted = isinstance(error, (KeyboardInterrupt, Terminated))
        if interrupted:
            _GUARD.take_unseen(seen=True)  # this is the interrupt: the cleanup's calls must not raise it again
        try:
            if interrupted:
                with _exit_at_once_on_interrupt(self._leftovers):
                    self._cleanup(failed=True)
            else:
                self._cleanup(failed=True)
        except BaseException as cleanup_error:  # noqa: BLE001 - the entry's error is what propagates
            log.error("Cleaning up %s after it failed to open failed too: %s", self.describe(), cleanup_error)

    def _leftovers(self) -> list[str]:
        """What this block created that may still exist (named when exiting at once)."""
        return [f"{self.kind} {self.id}"] if self.created_here else []

    journal: Journal | None = None


class EnsuredResource(LiveResource):
    """A resource that is ensured (created where missing) on enter; on exit it is kept, or,
    with ``cleanup="delete"``, deleted if this block created it. Subclasses give ``ensure()``
    and ``delete()``."""

    cleanup = "keep"

    def ensure(self) -> Self:
        raise NotImplementedError

    def delete(self) -> None:
        raise NotImplementedError

    def _open(self) -> None:
        self.ensure()

    def _cleanup(self, failed: bool) -> None:
        if self.cleanup == "delete" and self.created_here:
            self.delete()
        elif self.cleanup == "delete":
            log.info("Keeping %s: it existed before this block", self.describe())


def journal_for(journal: Journal | bool | None) -> Journal | None:
    """The journal to use: the given one, the default one (None), or none at all (False)."""
    if journal is False:
        return None
    return journal if isinstance(journal, Journal) else Journal()


@contextlib.contextmanager
def journaled(journal: Journal | None, kind: str, resource_id: str, endpoint: str) -> Iterator[None]:
    """Record the intent before a create is sent and the confirmation after it succeeded."""
    if journal is None:
        yield
        return
    endpoint = clean_endpoint(endpoint)
    journal.intent(kind, resource_id, endpoint)
    yield
    journal.created(kind, resource_id, endpoint)


def journal_deleted(journal: Journal | None, kind: str, resource_id: str, endpoint: str) -> None:
    if journal is not None:
        journal.deleted(kind, resource_id, clean_endpoint(endpoint))
