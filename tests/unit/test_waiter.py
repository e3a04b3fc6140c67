"""The waiter: backoff, cap, jitter, deadline, Retry-After, state changes, playback; the SDK retries."""

from __future__ import annotations

import random

import pytest

from batchai_kit._waiter import (
    DEFAULT_SDK_POLLING_INTERVAL,
    PLAYBACK_ENV,
    RetryAfter,
    Waiter,
    is_playback,
    playback_mode,
    sdk_polling_interval,
)
from batchai_kit.errors import JobFailed, NotFound, ServiceError, Timeout

from . import FakeClock


def waiter(clock: FakeClock, **kwargs) -> Waiter:
    settings = dict(deadline_s=1000.0, initial=1.0, factor=2.0, cap=100.0, jitter=0.0)
    settings.update(kwargs)
    return Waiter(clock=clock, sleep=clock.sleep, **settings)


def replay(*values):
    """A probe returning ``values`` one after the other (raising those that are exceptions)."""
    remaining = list(values)

    def probe():
        value = remaining.pop(0)
        if isinstance(value, BaseException):
            raise value
        return value

    return probe


def test_returns_the_first_value_that_is_done_without_sleeping():
    clock = FakeClock()
    assert waiter(clock).wait_until(replay("steady"), lambda s: s == "steady", describe="x") == "steady"
    assert clock.sleeps == []


def test_delays_grow_by_the_factor():
    clock = FakeClock()
    waiter(clock).wait_until(replay(1, 2, 3, 4, 5), lambda n: n == 5, describe="x")
    assert clock.sleeps == [1.0, 2.0, 4.0, 8.0]


def test_delays_stop_growing_at_the_cap():
    clock = FakeClock()
    waiter(clock, factor=10.0, cap=5.0).wait_until(replay(1, 2, 3, 4), lambda n: n == 4, describe="x")
    assert clock.sleeps == [1.0, 5.0, 5.0]


def test_jitter_shortens_each_delay_by_at_most_its_fraction():
    clock = FakeClock()
    w = waiter(clock, initial=4.0, factor=1.0, cap=4.0, jitter=0.25, rng=random.Random(7))
    w.wait_until(replay(*range(200)), lambda n: n == 199, describe="x")
    assert all(3.0 <= s <= 4.0 for s in clock.sleeps)
    assert len(set(clock.sleeps)) > 100


def test_deadline_raises_timeout_with_what_how_long_and_last_state():
    clock = FakeClock()
    with pytest.raises(Timeout) as caught:
        waiter(clock, deadline_s=10.0).wait_until(
            lambda: "resizing", lambda s: False, describe="cluster c to be steady"
        )
    assert (caught.value.what, caught.value.waited, caught.value.deadline, caught.value.last_state) == (
        "cluster c to be steady",
        10.0,
        10.0,
        "resizing",
    )


def test_last_sleep_is_shortened_to_end_at_the_deadline():
    clock = FakeClock()
    with pytest.raises(Timeout):
        waiter(clock, deadline_s=10.0).wait_until(lambda: 0, lambda s: False, describe="x")
    assert clock.sleeps == [1.0, 2.0, 4.0, 3.0]


def test_a_probe_at_the_deadline_still_counts():
    clock = FakeClock()
    probe = lambda: clock.now - 1000.0  # noqa: E731 - the value is the time elapsed
    assert waiter(clock, deadline_s=10.0).wait_until(probe, lambda t: t >= 10.0, describe="x") == 10.0


def test_returned_retry_after_lengthens_the_next_delay():
    clock = FakeClock()
    waiter(clock).wait_until(replay(RetryAfter(30.0, "queued"), "done"), lambda s: s == "done", describe="x")
    assert clock.sleeps == [30.0]


def test_retry_after_without_value_is_not_an_observation():
    clock = FakeClock()
    seen = []
    waiter(clock).wait_until(
        replay(RetryAfter(5.0), "done"),
        lambda s: s == "done",
        describe="x",
        on_change=lambda v, p: seen.append(v),
    )
    assert seen == ["done"]


def test_retry_after_carried_by_an_exception_is_honoured():
    clock = FakeClock()
    throttled = ServiceError("Too many requests", code="TooManyRequests", status=429, retry_after=7.0)
    waiter(clock).wait_until(replay(throttled, "done"), lambda s: s == "done", describe="x")
    assert clock.sleeps == [7.0]


def test_exception_without_retry_after_propagates():
    with pytest.raises(NotFound):
        waiter(FakeClock()).wait_until(replay(NotFound("gone")), lambda s: True, describe="x")


def test_on_change_is_called_on_transitions_only():
    calls = []
    waiter(FakeClock()).wait_until(
        replay("queued", "queued", "running", "running", "succeeded"),
        lambda s: s == "succeeded",
        describe="x",
        on_change=lambda value, previous: calls.append((value, previous)),
    )
    assert calls == [("queued", None), ("running", "queued"), ("succeeded", "running")]


def test_state_of_decides_what_counts_as_a_change():
    calls = []
    waiter(FakeClock()).wait_until(
        replay({"state": "a", "n": 1}, {"state": "a", "n": 2}, {"state": "b", "n": 3}),
        lambda v: v["state"] == "b",
        describe="x",
        state_of=lambda v: v["state"],
        on_change=lambda value, previous: calls.append(value["n"]),
    )
    assert calls == [1, 3]


def test_fail_raises_its_error_at_once():
    clock = FakeClock()
    error = JobFailed("myjob", exit_code=1)
    with pytest.raises(JobFailed) as caught:
        waiter(clock).wait_until(
            replay("running", "failed"),
            lambda s: s in ("succeeded", "failed"),
            describe="x",
            fail=lambda s: error if s == "failed" else None,
        )
    assert caught.value is error and clock.sleeps == [1.0]


def forbidden_sleep(seconds):
    raise AssertionError(f"slept {seconds} s in playback")


def test_playback_mode_never_calls_sleep():
    clock = FakeClock()
    w = Waiter(initial=60.0, cap=600.0, clock=clock, sleep=forbidden_sleep)
    with playback_mode():
        assert w.wait_until(replay(1, 2, 3, 4), lambda n: n == 4, describe="x") == 4


def test_playback_mode_still_times_out_at_the_deadline():
    w = Waiter(deadline_s=100.0, initial=10.0, clock=FakeClock(), sleep=forbidden_sleep)
    with playback_mode(), pytest.raises(Timeout):
        w.wait_until(lambda: "InProgress", lambda s: False, describe="x")


def test_playback_mode_ends_with_its_block():
    with playback_mode():
        pass
    assert not is_playback()


def test_playback_env_var_turns_playback_on(monkeypatch):
    monkeypatch.setenv(PLAYBACK_ENV, "1")
    assert is_playback()


def test_sdk_polling_interval_is_zero_in_playback():
    with playback_mode():
        assert sdk_polling_interval() == 0.0
    assert sdk_polling_interval() == DEFAULT_SDK_POLLING_INTERVAL


# --- sleeping in slices --------------------------------------------------------------------------


def test_sliced_sleep_cuts_a_long_sleep_into_slices_adding_up_to_it():
    from batchai_kit._waiter import sliced_sleep

    slept: list[float] = []
    sliced_sleep(1.1, slice_s=0.25, sleep=slept.append)
    assert slept[:4] == [0.25, 0.25, 0.25, 0.25]
    assert len(slept) == 5 and sum(slept) == pytest.approx(1.1)
    assert slept[4] == pytest.approx(0.1)


@pytest.mark.parametrize("seconds", [0, -1])
def test_sliced_sleep_of_nothing_does_not_sleep(seconds):
    from batchai_kit._waiter import sliced_sleep

    slept: list[float] = []
    sliced_sleep(seconds, sleep=slept.append)
    assert slept == []


def test_sliced_sleep_shorter_than_a_slice_is_one_sleep():
    from batchai_kit._waiter import SLEEP_SLICE, sliced_sleep

    slept: list[float] = []
    sliced_sleep(0.1, sleep=slept.append)
    assert slept == [0.1]
    assert SLEEP_SLICE == 0.25


def test_waits_and_retries_sleep_in_slices_by_default():
    from batchai_kit._waiter import TransientRetry, sliced_sleep

    assert Waiter().sleep is sliced_sleep
    assert TransientRetry().sleep is sliced_sleep
