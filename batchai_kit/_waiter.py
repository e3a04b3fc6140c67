"""The one waiter: every wait in batchai_kit goes through ``Waiter.wait_until``.

It polls with exponential backoff, jitter and a cap, honours the service's Retry-After, reports
state changes, stops with ``Timeout`` at a deadline and never sleeps in playback (replayed
cassettes): ``playback_mode()`` turns every wait, SDK poll and SDK retry into zero delay.

The retry helpers configure the SDKs' own retries the same way: ``arm_retry_kwargs()`` for
azure-core clients, ``file_service_retry()`` for azure-storage-file's FileService.
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


def sleep_unless_playback(seconds: float) -> None:
    """``time.sleep(seconds)``, except in playback where it returns at once."""
    if seconds > 0 and not is_playback():
        time.sleep(seconds)


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
    sleep: Callable[[float], None] = attrs.field(default=time.sleep, repr=False)
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


# --- the SDKs' own retries ---------------------------------------------------------------------

RETRY_STATUS_CODES = (408, 429, 500, 502, 503, 504)


def arm_retry_kwargs(
    *, total: int = 5, backoff_factor: float = 0.8, backoff_max: float = 60.0
) -> dict[str, Any]:
    """Keyword arguments for an azure-core (azure-mgmt-*) client's RetryPolicy.

    It retries connection errors, and 408/429/5xx answers, with exponential backoff and honours
    Retry-After by itself. Retrying a PUT cannot create a second resource: ARM's PUT is
    idempotent (the name in the URL is the identity and the body the desired state), so a repeat
    lands on the same resource, at worst answered 409 while the first is still provisioning,
    which the caller sees as ``Conflict``. POST retries (azure-core retries POST on 500/503/504
    only) hit Batch AI's listOutputFiles / terminate, which are safe to repeat. Sleeps go
    through the transport, which ``_connection`` makes skip them in playback.
    """
    return {
        "retry_total": total,
        "retry_connect": 3,
        "retry_read": 3,
        "retry_status": 3,
        "retry_backoff_factor": backoff_factor,
        "retry_backoff_max": backoff_max,
        "retry_on_status_codes": list(RETRY_STATUS_CODES),
    }


def file_service_retry(
    *, max_attempts: int = 3, initial_backoff: float = 2.0, increment_base: float = 2.0, jitter: float = 1.0
) -> Callable[[Any], float | None]:
    """A ``FileService.retry`` callable: azure-storage's ExponentialRetry, never to a secondary
    region, with zero delays in playback.

    It retries connection errors, 408 and 5xx (not 501/505). Repeating a create does not duplicate
    it: Create Share / Create Directory are keyed by name and answer 409 *AlreadyExists on a
    repeat (the library creates with ``fail_on_exist=False``); Create File and Put Range are PUTs
    that overwrite the same file / byte range with the same content.
    """
    from azure.storage.common.retry import ExponentialRetry

    policy = ExponentialRetry(
        initial_backoff=initial_backoff,
        increment_base=increment_base,
        max_attempts=max_attempts,
        retry_to_secondary=False,
        random_jitter_range=jitter,
    )

    def retry(context: Any) -> float | None:
        interval: float | None = policy.retry(context)
        if interval is not None and is_playback():
            return 0
        return interval

    return retry
