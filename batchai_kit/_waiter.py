"""The one waiter: every wait in batchai_kit goes through ``Waiter.wait_until``.

It polls with exponential backoff, jitter and a cap, honours the service's Retry-After, reports
state changes, stops with ``Timeout`` at a deadline and never sleeps in playback (replayed
cassettes): ``playback_mode()`` turns every wait, SDK poll and SDK retry into zero delay.

Requests retry transient failures (connection failures, 408, 429, 5xx) the same way, until their
operation's deadline (``operation_deadline``; a wait's probes get the wait's deadline) or a
budget: ``arm_retry_policy()`` for azure-core clients, ``file_service_retry()`` for
azure-storage-file's FileService, both built on ``TransientRetry``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import threading
import time
from typing import Any, Callable, Iterator, TypeVar, cast

import attrs

from .errors import BatchAIKitError, Timeout

log = logging.getLogger(__name__)

T = TypeVar("T")

PLAYBACK_ENV = "BATCHAI_KIT_PLAYBACK"

# A process-wide switch, not a context variable: waits also happen in threads (log streaming,
# SDK pollers), which would not inherit a context variable set by a test fixture.
_playback_lock = threading.Lock()
_playback_depth = 0


def is_playback() -> bool:
    """True inside ``playback_mode()`` or when $BATCHAI_KIT_PLAYBACK is 1: waits take no time."""
    return _playback_depth > 0 or os.environ.get(PLAYBACK_ENV, "") == "1"


@contextlib.contextmanager
def playback_mode() -> Iterator[None]:
    """Within this block (all threads), waits never sleep: for replaying recorded HTTP cassettes.

    Deadlines still hold: the waiter counts the sleeps it skipped as time that passed, so a
    replay that never reaches its state ends in ``Timeout`` instead of looping forever.
    """
    global _playback_depth
    with _playback_lock:
        _playback_depth += 1
    try:
        yield
    finally:
        with _playback_lock:
            _playback_depth -= 1


# Sleeps are cut into slices this long, so that the main thread runs Python code (and with it a
# Ctrl-C's handler) at least this often even when another thread took the signal from the kernel.
SLEEP_SLICE = 0.25


def sliced_sleep(seconds: float, *, slice_s: float = SLEEP_SLICE, sleep: Callable[[float], None] = time.sleep) -> None:
    """``time.sleep(seconds)`` in slices of at most ``slice_s``: an interrupt is acted on within
    a slice, also when the kernel handed the signal to another thread."""
    remaining = seconds
    while remaining > 0:
        step = min(slice_s, remaining)
        sleep(step)
        remaining -= step


def sleep_unless_playback(seconds: float) -> None:
    """``time.sleep(seconds)`` (in slices), except in playback where it returns at once."""
    if seconds > 0 and not is_playback():
        sliced_sleep(seconds)


DEFAULT_SDK_POLLING_INTERVAL = 5.0


def sdk_polling_interval(seconds: float = DEFAULT_SDK_POLLING_INTERVAL) -> float:
    """``polling_interval`` for azure-mgmt ``begin_*`` pollers (whose own default is 30 s); 0 in
    playback. A Retry-After sent by the service still wins over it in azure-core's poller."""
    return 0.0 if is_playback() else seconds


class _Nothing:
    """Marks "no value" where ``None`` is a value a probe may return."""

    def __repr__(self) -> str:
        return "<nothing>"


_NOTHING: Any = _Nothing()


@attrs.frozen
class RetryAfter:
    """What a probe returns to say "wait at least ``seconds`` before asking again".

    ``value``, when given, is an observation like any other probe result (checked by ``done``,
    ``fail``, ``on_change``); without it the probe has nothing to report yet.
    """

    seconds: float
    value: Any = _NOTHING

    @property
    def has_value(self) -> bool:
        return self.value is not _NOTHING


def _retry_after_of(exc: BaseException) -> float | None:
    """The Retry-After an exception carries (e.g. a ``ServiceError`` from a 429 or 503)."""
    seconds = getattr(exc, "retry_after", None)
    if isinstance(seconds, (int, float)) and not isinstance(seconds, bool) and seconds >= 0:
        return float(seconds)
    return None


def _probe_once(probe: Callable[[], Any], describe: str) -> tuple[bool, Any, float | None]:
    """(whether a value was observed, the value, the Retry-After hint) of one call of ``probe``."""
    try:
        result = probe()
    except Exception as exc:
        hint = _retry_after_of(exc)
        if hint is None:
            raise
        log.debug("%s: the service asked to retry after %.1f s (%s)", describe, hint, exc)
        return False, None, hint
    if isinstance(result, RetryAfter):
        return result.has_value, result.value if result.has_value else None, result.seconds
    return True, result, None


def _identity(value: Any) -> Any:
    return value


@attrs.frozen
class Waiter:
    """Polls until something is done, with backoff, a cap and a deadline.

    Delays grow ``initial, initial*factor, ...`` up to ``cap``; each is shortened by a random
    fraction up to ``jitter`` (so it lies in ``[(1 - jitter) * d, d]``: never above the cap) and
    lengthened to any Retry-After. ``clock``, ``sleep`` and ``rng`` are injectable for tests.
    """

    deadline_s: float = attrs.field(default=1800.0, validator=attrs.validators.gt(0))
    initial: float = attrs.field(default=1.0, validator=attrs.validators.ge(0))
    factor: float = attrs.field(default=2.0, validator=attrs.validators.ge(1))
    cap: float = attrs.field(default=30.0, validator=attrs.validators.ge(0))
    jitter: float = attrs.field(default=0.2, validator=[attrs.validators.ge(0), attrs.validators.le(1)])
    clock: Callable[[], float] = attrs.field(default=time.monotonic, repr=False)
    sleep: Callable[[float], None] = attrs.field(default=sliced_sleep, repr=False)
    rng: random.Random = attrs.field(factory=random.Random, repr=False)

    def delays(self) -> Iterator[float]:
        """The backoff delays, before Retry-After and the deadline shorten or lengthen them."""
        base = self.initial
        while True:
            capped = min(base, self.cap)
            yield capped * (1.0 - self.jitter * self.rng.random())
            base *= self.factor

    def _timekeeping(self) -> tuple[Callable[[], float], Callable[[float], None]]:
        """The clock and sleep of one wait. In playback, sleeps are skipped and counted as time
        that passed, so the deadline still ends a replay that never reaches its state."""
        if not is_playback():
            return self.clock, self.sleep
        skipped = [0.0]
        real_clock = self.clock

        def clock() -> float:
            return real_clock() + skipped[0]

        def sleep(seconds: float) -> None:
            skipped[0] += seconds

        return clock, sleep

    def wait_until(
        self,
        probe: Callable[[], T],
        done: Callable[[T], bool],
        *,
        describe: str,
        on_change: Callable[[T, T | None], None] | None = None,
        state_of: Callable[[T], Any] = _identity,
        fail: Callable[[T], BatchAIKitError | None] | None = None,
    ) -> T:
        """Call ``probe`` until ``done(value)``; return that value.

        - ``fail(value)`` returning an error raises it at once (checked before ``done``);
        - ``on_change(value, previous)`` runs when ``state_of(value)`` differs from the previous
          observation's (and for the first observation, with ``previous=None``);
        - a probe may return ``RetryAfter(seconds[, value])``, or raise an exception with a
          numeric ``retry_after`` (a ``ServiceError`` from a 429/503): the next probe comes no
          sooner than that. Other exceptions propagate;
        - at the deadline: ``Timeout`` naming ``describe``, the time waited and the last state.
        """
        clock, sleep = self._timekeeping()
        start = clock()
        deadline = start + self.deadline_s
        delays = self.delays()
        last: Any = _NOTHING
        while True:
            # The probe's requests retry transient failures until this wait's own deadline.
            with operation_deadline(max(deadline - clock(), 0.0)):
                observed, value, hint = _probe_once(probe, describe)
            if observed:
                if last is _NOTHING or state_of(value) != state_of(last):
                    previous = None if last is _NOTHING else last
                    if on_change is not None:
                        on_change(value, previous)
                last = value
                error = fail(value) if fail is not None else None
                if error is not None:
                    raise error
                if done(value):
                    return cast(T, value)
            now = clock()
            remaining = deadline - now
            if remaining <= 0:
                raise Timeout(
                    describe,
                    waited=now - start,
                    deadline=self.deadline_s,
                    last_state=None if last is _NOTHING else state_of(last),
                )
            delay = next(delays)
            if hint is not None:
                delay = max(delay, hint)
            # Sleep at most to the deadline, then probe one last time before giving up.
            sleep(min(delay, remaining))


# --- transient failures: every request retried until its operation's deadline ----------------------

# What a retry can cure: a timeout, throttling, a server error that is not "not implemented" /
# "version not supported". Connection failures (refused, reset, an answer lost on the way) too.
RETRY_STATUS_CODES = frozenset({408, 429, 500, 502, 503, 504})
# How long one request keeps retrying when no operation deadline encloses it (seconds).
DEFAULT_RETRY_BUDGET = 300.0

_operation = threading.local()


def _deadline_stack() -> list[float]:
    stack = getattr(_operation, "deadlines", None)
    if stack is None:
        stack = _operation.deadlines = []
    return stack


@contextlib.contextmanager
def operation_deadline(seconds: float, *, clock: Callable[[], float] = time.monotonic) -> Iterator[float]:
    """Within this block (in this thread), requests retry transient failures until ``seconds``
    from now, or until an enclosing block's earlier deadline. Yields the deadline (``clock`` time)."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds != seconds:
        raise TypeError(f"operation_deadline needs a number of seconds, not {seconds!r}")
    stack = _deadline_stack()
    at = clock() + max(0.0, float(seconds))
    if stack:
        at = min(at, stack[-1])
    stack.append(at)
    try:
        yield at
    finally:
        stack.pop()


def current_deadline() -> float | None:
    """The innermost ``operation_deadline`` of this thread (``time.monotonic`` time), or None."""
    stack = _deadline_stack()
    return stack[-1] if stack else None


def retry_after_seconds(headers: Any) -> float | None:
    """The wait an answer asks for: ``Retry-After`` (seconds or an HTTP date), else
    ``retry-after-ms`` / ``x-ms-retry-after-ms`` (milliseconds); None when it asks for none.
    ``Retry-After: 0`` is 0.0, not None: the service said "no extra wait"."""
    from .errors import _parse_retry_after

    if not headers:
        return None
    lowered = {str(k).lower(): v for k, v in dict(headers).items()}
    value = lowered.get("retry-after")
    if value is not None and str(value).strip() != "":
        return _parse_retry_after(str(value).strip())
    for name in ("retry-after-ms", "x-ms-retry-after-ms"):
        value = lowered.get(name)
        if value is not None and str(value).strip() != "":
            try:
                return max(0.0, float(str(value).strip()) / 1000.0)
            except ValueError:
                return None
    return None


@attrs.frozen
class TransientRetry:
    """How requests retry transient failures: exponential backoff with jitter and a cap, each
    delay lengthened to the service's Retry-After, for as long as the operation's deadline
    allows (``operation_deadline``), or ``budget_s`` seconds when no deadline encloses the request.

    Sleeps are skipped in playback and counted as time that passed, so a replay that keeps
    failing still ends at the deadline. ``clock``, ``sleep`` and ``rng`` are injectable for tests.
    """

    budget_s: float = attrs.field(default=DEFAULT_RETRY_BUDGET, validator=attrs.validators.gt(0))
    initial: float = attrs.field(default=1.0, validator=attrs.validators.ge(0))
    factor: float = attrs.field(default=2.0, validator=attrs.validators.ge(1))
    cap: float = attrs.field(default=30.0, validator=attrs.validators.ge(0))
    jitter: float = attrs.field(default=0.5, validator=[attrs.validators.ge(0), attrs.validators.le(1)])
    clock: Callable[[], float] = attrs.field(default=time.monotonic, repr=False)
    sleep: Callable[[float], None] = attrs.field(default=sliced_sleep, repr=False)
    rng: random.Random = attrs.field(factory=random.Random, repr=False)

    def begin(self) -> Attempts:
        """The retry bookkeeping of one request, starting now."""
        start = self.clock()
        deadline = start + self.budget_s
        enclosing = current_deadline()
        if enclosing is not None:
            deadline = min(deadline, enclosing)
        return Attempts(self, start, deadline)


class Attempts:
    """One request's retries: how long to wait before the next attempt, and whether there is one."""

    def __init__(self, policy: TransientRetry, start: float, deadline: float):
        self.policy = policy
        self.start = start
        self.deadline = deadline
        self.count = 0  # retries so far
        self.skipped = 0.0  # sleeps skipped in playback, counted as time that passed
        self._base = policy.initial

    def now(self) -> float:
        return self.policy.clock() + self.skipped

    def next_delay(self, retry_after: float | None = None) -> float | None:
        """The wait before the next attempt, or None when the deadline leaves no time for one.

        The backoff delay (``initial * factor**n`` capped, shortened by up to ``jitter``) is
        lengthened to ``retry_after``. A service asking for more time than is left ends the
        retries at once; a backoff longer than what is left is shortened to it, for one last try.
        """
        remaining = self.deadline - self.now()
        if remaining <= 0:
            return None
        capped = min(self._base, self.policy.cap)
        delay = capped * (1.0 - self.policy.jitter * self.policy.rng.random())
        self._base *= self.policy.factor
        if retry_after is not None:
            if retry_after > remaining:
                return None
            delay = max(delay, retry_after)
        self.count += 1
        return min(delay, remaining)

    def wait(self, seconds: float, sleep: Callable[[float], None] | None = None) -> None:
        """Sleep ``seconds`` (with ``sleep``, default the policy's); in playback only count them."""
        if is_playback():
            self.skipped += seconds
        elif seconds > 0:
            (sleep or self.policy.sleep)(seconds)


def _rewind(body: Any, position: int | None) -> bool:
    """Put a stream body back where it started; False when it cannot be (no retry then)."""
    if not hasattr(body, "read"):
        return True
    if position is None:
        return False
    try:
        body.seek(position)
    except (AttributeError, OSError, ValueError):
        return False
    return True


def _tell(body: Any) -> int | None:
    if not hasattr(body, "read"):
        return None
    try:
        position: int = body.tell()
    except (AttributeError, OSError, ValueError):
        return None
    return position


def arm_retry_policy(retry: TransientRetry | None = None) -> Any:
    """An azure-core pipeline policy (``retry_policy=`` of azure-mgmt clients) retrying connection
    failures and 408/429/5xx answers per ``retry`` (default ``TransientRetry()``).

    Every method is retried, POST too: a repeated request cannot duplicate anything here. ARM's
    PUT is idempotent (the name in the URL is the identity, the body the desired state: a repeat
    lands on the same resource, and the emulator, like Batch AI, answers a repeated job PUT with the
    job already made, never a second one); DELETE of a resource already deleting or gone changes
    nothing; Batch AI's POSTs (listOutputFiles, terminate, listRemoteLoginInformation, usages)
    are reads or idempotent. Sleeps go through the transport, which skips them in playback.
    """
    from azure.core.exceptions import ServiceRequestError, ServiceResponseError
    from azure.core.pipeline.policies import HTTPPolicy

    policy_retry = retry or TransientRetry()

    class DeadlineRetryPolicy(HTTPPolicy[Any, Any]):
        retry = policy_retry

        def send(self, request: Any) -> Any:
            attempts = self.retry.begin()
            http_request = request.http_request
            position = _tell(http_request.body)
            transport = getattr(request.context, "transport", None)
            while True:
                try:
                    response = self.next.send(request)
                except (ServiceRequestError, ServiceResponseError) as exc:
                    delay = attempts.next_delay(None)
                    if delay is None:
                        raise
                    reason = f"{type(exc).__name__}"
                else:
                    status = response.http_response.status_code
                    if status not in RETRY_STATUS_CODES:
                        return response
                    delay = attempts.next_delay(retry_after_seconds(response.http_response.headers))
                    if delay is None:
                        return response
                    reason = f"HTTP {status}"
                if not _rewind(http_request.body, position):
                    raise RuntimeError("cannot retry a request whose body stream cannot be rewound")
                log.debug("%s %s: %s; retry %d in %.2f s", http_request.method,
                          http_request.url.split("?", 1)[0], reason, attempts.count, delay)
                attempts.wait(delay, getattr(transport, "sleep", None))

    return DeadlineRetryPolicy()


def _storage_status_is_transient(status: int | None) -> bool:
    """azure-storage's view of one failed attempt: no answer, a 2xx whose body failed to parse,
    408, 429, and 5xx but 501/505 are worth another try."""
    if status is None or 200 <= status < 300:
        return True
    if status in (501, 505):
        return False
    return status in RETRY_STATUS_CODES or status >= 500


def file_service_retry(retry: TransientRetry | None = None) -> Callable[[Any], float | None]:
    """A ``FileService.retry`` callable: connection failures, 408, 429 and 5xx are retried per
    ``retry`` (default ``TransientRetry()``), never to a secondary region; 0 s in playback.

    Repeating a create does not duplicate it: Create Share / Create Directory are keyed by name
    and answer 409 *AlreadyExists on a repeat (the library creates with ``fail_on_exist=False``
    and decides whose share it is from the share's metadata); Create File and Put Range are PUTs
    that overwrite the same file / byte range with the same content; deletes are asked with
    ``fail_not_exist=False``.
    """
    policy = retry or TransientRetry()

    def decide(context: Any) -> float | None:
        attempts = getattr(context, "batchai_kit_attempts", None)
        if attempts is None:
            attempts = context.batchai_kit_attempts = policy.begin()
        response = getattr(context, "response", None)
        status = getattr(response, "status", None) or None
        if not _storage_status_is_transient(status):
            return None
        headers = getattr(response, "headers", None) if status else None
        delay = attempts.next_delay(retry_after_seconds(headers))
        if delay is None:
            return None
        request = getattr(context, "request", None)
        if request is not None and not _rewind(getattr(request, "body", None), getattr(context, "body_position", None)):
            return None
        context.count = getattr(context, "count", 0) + 1
        log.debug("Azure Files: %s; retry %d in %.2f s", f"HTTP {status}" if status else "no answer",
                  attempts.count, delay)
        if is_playback():
            attempts.wait(delay)
            return 0
        # the SDK sleeps this long itself; the attempts' clock sees it pass
        return delay

    return decide


def retry_for(azure_is_local: bool, budget_s: float = DEFAULT_RETRY_BUDGET) -> TransientRetry:
    """The retry pacing of an endpoint: the real service's (1 s doubling to 30 s) or the local
    emulator's (50 ms doubling to 1 s)."""
    if azure_is_local:
        return TransientRetry(budget_s=budget_s, initial=0.05, cap=1.0)
    return TransientRetry(budget_s=budget_s, initial=1.0, cap=30.0)
