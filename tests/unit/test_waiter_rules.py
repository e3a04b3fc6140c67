"""The waiter's and the retries' smaller rules, one per test: what is retried after a Retry-After of
0 or of a fraction of a second, what a throttled probe hands to ``on_change``, the last probe just
before the deadline, what the retries log, and the playback sleep switch. (test_waiter.py and
test_retry.py hold the main behaviour.)"""

from __future__ import annotations

import io
import logging
import threading
import time

import pytest
from azure.core.exceptions import ServiceRequestError
from azure.core.pipeline import Pipeline
from azure.core.pipeline.transport import HttpRequest
from azure.storage.common._http import HTTPRequest, HTTPResponse
from azure.storage.common.models import LocationMode, RetryContext

from batchai_kit import _waiter
from batchai_kit._waiter import (
    RetryAfter,
    TransientRetry,
    Waiter,
    arm_retry_policy,
    current_deadline,
    file_service_retry,
    operation_deadline,
    playback_mode,
    retry_after_seconds,
    retry_for,
    sleep_unless_playback,
)
from batchai_kit.errors import Timeout

from . import FakeClock, FakeTransport, canned_response


def waiter(clock: FakeClock, **kwargs) -> Waiter:
    settings = dict(deadline_s=1000.0, initial=1.0, factor=2.0, cap=100.0, jitter=0.0)
    settings.update(kwargs)
    return Waiter(clock=clock, sleep=clock.sleep, **settings)


class Throttled(Exception):
    def __init__(self, retry_after):
        super().__init__("throttled")
        self.retry_after = retry_after


def answers(*items):
    """A probe giving each item in turn; an exception is raised instead of returned."""
    queue = list(items)

    def probe():
        item = queue.pop(0)
        if isinstance(item, BaseException):
            raise item
        return item

    return probe


# --- the waiter ------------------------------------------------------------------------------------

@pytest.mark.parametrize("seconds", [0, 0.5])
def test_a_probe_throttled_with_a_short_retry_after_is_probed_again(seconds):
    clock = FakeClock()
    value = waiter(clock, initial=2.0).wait_until(answers(Throttled(seconds), "done"), lambda v: v == "done",
                                                  describe="it")
    assert value == "done"
    assert clock.sleeps == [2.0]  # the backoff, which a shorter Retry-After does not shorten


def test_a_probe_error_without_retry_after_propagates_as_it_is():
    with pytest.raises(ValueError, match="broken"):
        waiter(FakeClock()).wait_until(answers(ValueError("broken")), bool, describe="it")


@pytest.mark.parametrize("bad", [-1, True, "5", None])
def test_a_retry_after_that_is_no_number_of_seconds_is_no_retry(bad):
    with pytest.raises(Throttled):
        waiter(FakeClock()).wait_until(answers(Throttled(bad)), bool, describe="it")


def test_a_throttled_probe_is_logged_with_what_is_awaited_and_the_wait(caplog):
    with caplog.at_level(logging.DEBUG, logger="batchai_kit._waiter"):
        waiter(FakeClock()).wait_until(answers(Throttled(2), "done"), bool, describe="cluster c1 to be ready")
    assert "cluster c1 to be ready: the service asked to retry after 2.0 s (throttled)" in caplog.messages


def test_a_throttled_probe_is_no_observation():
    seen = []
    waiter(FakeClock()).wait_until(answers(Throttled(1), "done"), lambda v: v == "done", describe="it",
                                   on_change=lambda value, previous: seen.append((value, previous)))
    assert seen == [("done", None)]


def test_a_retry_after_with_a_value_is_an_observation():
    seen = []
    clock = FakeClock()
    waiter(clock, initial=1.0).wait_until(answers(RetryAfter(5, "resizing"), "steady"), lambda v: v == "steady",
                                          describe="it", on_change=lambda value, previous: seen.append(value))
    assert seen == ["resizing", "steady"]
    assert clock.sleeps == [5.0]


def test_the_last_probe_comes_at_the_deadline_even_with_less_than_a_second_left():
    clock = FakeClock()
    probe = answers("no", "no", "yes")
    value = waiter(clock, deadline_s=2.0, initial=1.5, factor=1.0).wait_until(probe, lambda v: v == "yes",
                                                                            describe="it")
    assert value == "yes"
    assert clock.sleeps == [1.5, 0.5]


def test_a_wait_that_never_observed_anything_times_out_with_no_last_state():
    clock = FakeClock()
    with pytest.raises(Timeout) as raised:
        waiter(clock, deadline_s=3.0).wait_until(lambda: RetryAfter(1), bool, describe="it")
    assert raised.value.last_state is None


def test_a_probe_near_the_deadline_retries_only_until_that_deadline():
    left = []

    def probe():
        left.append(current_deadline() - time.monotonic())
        return "done"

    Waiter(deadline_s=0.25).wait_until(probe, bool, describe="it")
    assert 0 < left[0] <= 0.25  # the probe's requests may retry for the wait's 0.25 s, not more


# --- operation deadlines and Retry-After -------------------------------------------------------------

def test_a_new_thread_starts_with_no_deadline_and_can_set_one():
    seen = []

    def run():
        seen.append(current_deadline())
        with operation_deadline(5, clock=lambda: 10.0) as at:
            seen.append((at, current_deadline()))
        seen.append(current_deadline())

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert seen == [None, (15.0, 15.0), None]


def test_a_blank_retry_after_falls_back_to_the_milliseconds_header():
    assert retry_after_seconds({"Retry-After": " ", "retry-after-ms": "1500"}) == 1.5
    assert retry_after_seconds({"Retry-After": "", "x-ms-retry-after-ms": "250"}) == 0.25
    assert retry_after_seconds({"retry-after-ms": "", "x-ms-retry-after-ms": "250"}) == 0.25


def test_the_remote_retry_pacing_keeps_the_budget_it_is_given():
    retry = retry_for(False, budget_s=60.0)
    assert (retry.budget_s, retry.initial, retry.cap) == (60.0, 1.0, 30.0)


# --- what the retries log ----------------------------------------------------------------------------

class OneFailure(FakeTransport):
    def __init__(self, failure):
        super().__init__()
        self.failure = failure

    def send(self, request, **kwargs):
        failure, self.failure = self.failure, None
        if isinstance(failure, BaseException):
            raise failure
        if failure is not None:
            return canned_response(request, failure, {})
        return canned_response(request, 200, {})


def run_once(failure, url="https://example.test/thing?sig=secret&next=a?b"):
    retry = TransientRetry(initial=0.5, jitter=0.0, clock=FakeClock(), sleep=FakeClock().sleep)
    transport = OneFailure(failure)
    with Pipeline(transport, policies=[arm_retry_policy(retry)]) as pipeline:
        return pipeline.run(HttpRequest("PUT", url)).http_response.status_code


@pytest.mark.parametrize("failure, reason", [(ServiceRequestError("refused"), "ServiceRequestError"),
                                             (503, "HTTP 503")])
def test_an_arm_retry_is_logged_with_method_path_reason_and_delay_but_no_query(caplog, failure, reason):
    with caplog.at_level(logging.DEBUG, logger="batchai_kit._waiter"):
        assert run_once(failure) == 200
    assert f"PUT https://example.test/thing: {reason}; retry 1 in 0.50 s" in caplog.messages
    assert "secret" not in caplog.text


def test_a_stream_that_cannot_be_rewound_is_not_resent():
    class Unseekable(io.RawIOBase):
        def readable(self):
            return True

        def read(self, n=-1):
            return b""

        def tell(self):
            raise OSError("no position")

    retry = TransientRetry(initial=0.5, jitter=0.0, clock=FakeClock(), sleep=FakeClock().sleep)
    request = HttpRequest("PUT", "https://example.test/x")
    request.set_streamed_data_body(Unseekable())
    with Pipeline(OneFailure(503), policies=[arm_retry_policy(retry)]) as pipeline:
        with pytest.raises(RuntimeError) as raised:
            pipeline.run(request)
    assert str(raised.value) == "cannot retry a request whose body stream cannot be rewound"


def storage_context(status):
    context = RetryContext()
    context.request = HTTPRequest()
    context.request.host_locations = {LocationMode.PRIMARY: "a.file.core.windows.net"}
    context.request.host = "a.file.core.windows.net"
    context.location_mode = LocationMode.PRIMARY
    context.response = HTTPResponse(status, "", {}, b"") if status else None
    return context


@pytest.mark.parametrize("status, reason", [(503, "HTTP 503"), (None, "no answer")])
def test_a_files_retry_is_logged_with_its_reason_count_and_delay(caplog, status, reason):
    retry = file_service_retry(TransientRetry(initial=0.5, jitter=0.0, clock=FakeClock()))
    with caplog.at_level(logging.DEBUG, logger="batchai_kit._waiter"):
        assert retry(storage_context(status)) == 0.5
    assert caplog.messages == [f"Azure Files: {reason}; retry 1 in 0.50 s"]


# --- the playback sleep switch and the "nothing" marker -------------------------------------------------

def test_sleep_unless_playback_sleeps_a_positive_time_outside_playback(monkeypatch):
    slept = []
    monkeypatch.setattr(_waiter, "sliced_sleep", slept.append)
    sleep_unless_playback(0.25)
    sleep_unless_playback(0)
    sleep_unless_playback(-1)
    with playback_mode():
        sleep_unless_playback(5)
    assert slept == [0.25]


def test_a_sleep_is_cut_into_slices_that_add_up_to_it():
    slept = []
    _waiter.sliced_sleep(0.6, slice_s=0.25, sleep=slept.append)
    assert slept == pytest.approx([0.25, 0.25, 0.1])
    _waiter.sliced_sleep(0, sleep=slept.append)
    assert len(slept) == 3


def test_a_missing_value_shows_as_nothing():
    assert repr(_waiter._NOTHING) == "<nothing>"
