"""Transient failures: every request retries until its operation's deadline (``_waiter``'s retry
half): the deadline scopes, Retry-After parsing, the backoff, the azure-core policy and the
azure-storage retry callable, driven by a fake clock so nothing sleeps."""

from __future__ import annotations

import io
import random
import threading

import pytest
from azure.core.exceptions import ServiceRequestError, ServiceResponseError
from azure.core.pipeline import Pipeline
from azure.core.pipeline.transport import HttpRequest
from azure.storage.common._http import HTTPRequest, HTTPResponse
from azure.storage.common.models import LocationMode, RetryContext

from batchai_kit._waiter import (
    DEFAULT_RETRY_BUDGET,
    RETRY_STATUS_CODES,
    Attempts,
    TransientRetry,
    Waiter,
    _rewind,
    _storage_status_is_transient,
    _tell,
    arm_retry_policy,
    current_deadline,
    file_service_retry,
    operation_deadline,
    playback_mode,
    retry_after_seconds,
    retry_for,
)

from . import FakeClock, FakeTransport, canned_response


def policy(clock: FakeClock, **kwargs) -> TransientRetry:
    settings = dict(budget_s=60.0, initial=1.0, factor=2.0, cap=8.0, jitter=0.0)
    settings.update(kwargs)
    return TransientRetry(clock=clock, sleep=clock.sleep, **settings)


# --- operation deadlines -------------------------------------------------------------------------


def test_no_deadline_outside_a_block():
    assert current_deadline() is None


def test_a_block_sets_the_deadline_seconds_from_now_and_removes_it_after():
    clock = FakeClock(50.0)
    with operation_deadline(10, clock=clock) as at:
        assert at == 60.0
        assert current_deadline() == 60.0
    assert current_deadline() is None


def test_an_inner_block_cannot_outlast_the_outer_one():
    clock = FakeClock(0.0)
    with operation_deadline(10, clock=clock):
        with operation_deadline(100, clock=clock) as inner:
            assert inner == 10.0
        with operation_deadline(3, clock=clock) as shorter:
            assert shorter == 3.0
            assert current_deadline() == 3.0
        assert current_deadline() == 10.0


def test_a_negative_deadline_is_now():
    clock = FakeClock(5.0)
    with operation_deadline(-4, clock=clock) as at:
        assert at == 5.0


def test_the_deadline_is_removed_after_an_exception():
    with pytest.raises(KeyError):
        with operation_deadline(10):
            raise KeyError("x")
    assert current_deadline() is None


@pytest.mark.parametrize("bad", ["10", None, True, float("nan")])
def test_a_deadline_must_be_a_number(bad):
    with pytest.raises(TypeError):
        with operation_deadline(bad):
            pass


def test_deadlines_belong_to_their_thread():
    seen = []
    with operation_deadline(10):
        worker = threading.Thread(target=lambda: seen.append(current_deadline()))
        worker.start()
        worker.join()
    assert seen == [None]


def test_a_waits_probes_run_under_the_waits_deadline():
    clock = FakeClock(0.0)
    seen = []
    waiter = Waiter(deadline_s=30.0, initial=1.0, factor=1.0, cap=1.0, jitter=0.0, clock=clock, sleep=clock.sleep)

    def probe():
        seen.append(current_deadline())
        return len(seen)

    import time

    before = time.monotonic()
    waiter.wait_until(probe, lambda n: n == 3, describe="three probes")
    after = time.monotonic()
    # the remaining time of the wait (30, 29, 28 s on its clock) from the real monotonic clock's now
    assert next(round(d - before) for d in seen) == 30
    assert all(before + 27 <= d <= after + 30 for d in seen)
    assert seen[0] - seen[2] == pytest.approx(2.0, abs=0.5)
    assert current_deadline() is None


# --- Retry-After ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers, expected",
    [
        ({"Retry-After": "7"}, 7.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"Retry-After": "0"}, 0.0),
        ({"Retry-After": " 3 "}, 3.0),
        ({"Retry-After": "-2"}, 0.0),
        ({"retry-after-ms": "250"}, 0.25),
        ({"x-ms-retry-after-ms": "1000"}, 1.0),
        ({"Retry-After": "2", "retry-after-ms": "9000"}, 2.0),
        ({"Retry-After": "", "retry-after-ms": "500"}, 0.5),
        ({"retry-after-ms": "soon"}, None),
        ({"retry-after-ms": "-5"}, 0.0),
        ({}, None),
        (None, None),
        ({"Retry-After": "soon"}, None),
        ({"Content-Type": "text/plain"}, None),
    ],
)
def test_retry_after_seconds(headers, expected):
    assert retry_after_seconds(headers) == expected


def test_retry_after_as_an_http_date_in_the_past_is_zero():
    assert retry_after_seconds({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0


def test_retry_after_as_an_http_date_in_the_future_is_the_seconds_until_then():
    import email.utils
    import time

    when = email.utils.formatdate(time.time() + 120, usegmt=True)
    assert 100 < retry_after_seconds({"Retry-After": when}) <= 120


# --- the backoff -----------------------------------------------------------------------------------


def test_delays_double_up_to_the_cap():
    clock = FakeClock()
    attempts = policy(clock).begin()
    assert [attempts.next_delay() for _ in range(6)] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert attempts.count == 6


def test_jitter_shortens_each_delay_by_at_most_its_fraction():
    clock = FakeClock()
    attempts = policy(clock, jitter=0.5, rng=random.Random(7), cap=100.0, budget_s=10_000).begin()
    delays = [attempts.next_delay() for _ in range(8)]
    for n, delay in enumerate(delays):
        assert 0.5 * 2**n <= delay <= 2**n
    assert len({round(d / 2**n, 6) for n, d in enumerate(delays)}) > 1  # really random


def test_retry_after_lengthens_a_shorter_delay():
    attempts = policy(FakeClock()).begin()
    assert attempts.next_delay(5.0) == 5.0


def test_retry_after_never_shortens_the_backoff_and_zero_means_no_extra_wait():
    attempts = policy(FakeClock()).begin()
    assert attempts.next_delay(0.0) == 1.0
    assert attempts.next_delay(0.5) == 2.0
    assert attempts.count == 2


def test_no_retry_once_the_budget_is_spent():
    clock = FakeClock(0.0)
    attempts = policy(clock, budget_s=10.0).begin()
    clock.now = 10.0
    assert attempts.next_delay() is None
    assert attempts.count == 0


def test_the_last_delay_is_shortened_to_end_at_the_deadline():
    clock = FakeClock(0.0)
    attempts = policy(clock, budget_s=10.0, initial=4.0, cap=100.0).begin()
    clock.now = 7.0
    assert attempts.next_delay() == 3.0


def test_a_retry_after_beyond_the_deadline_ends_the_retries():
    clock = FakeClock(0.0)
    attempts = policy(clock, budget_s=10.0).begin()
    assert attempts.next_delay(10.5) is None
    assert attempts.next_delay(10.0) == 10.0


def test_an_enclosing_operation_deadline_shortens_the_budget():
    clock = FakeClock(0.0)
    with operation_deadline(3.0, clock=clock):
        attempts = policy(clock, budget_s=60.0).begin()
    assert (attempts.start, attempts.deadline) == (0.0, 3.0)


def test_the_budget_wins_over_a_later_operation_deadline():
    clock = FakeClock(0.0)
    with operation_deadline(600.0, clock=clock):
        attempts = policy(clock, budget_s=60.0).begin()
    assert attempts.deadline == 60.0


def test_wait_sleeps_with_the_policys_sleep_or_the_one_given():
    clock = FakeClock(0.0)
    attempts = policy(clock).begin()
    attempts.wait(2.0)
    other: list[float] = []
    attempts.wait(3.0, other.append)
    attempts.wait(0.0, other.append)
    assert (clock.sleeps, other) == ([2.0], [3.0])


def test_in_playback_waits_are_counted_not_slept_and_still_end_at_the_deadline():
    clock = FakeClock(0.0)
    attempts = policy(clock, budget_s=10.0, initial=4.0, cap=4.0).begin()
    delays = []
    with playback_mode():
        while (delay := attempts.next_delay()) is not None:
            delays.append(delay)
            attempts.wait(delay)
    assert clock.sleeps == []
    assert delays == [4.0, 4.0, 2.0]
    assert attempts.skipped == 10.0
    assert attempts.now() == 10.0


@pytest.mark.parametrize("field, value", [("budget_s", 0), ("initial", -1), ("factor", 0.5), ("cap", -1),
                                          ("jitter", 1.5), ("jitter", -0.1)])
def test_transient_retry_refuses_nonsense(field, value):
    with pytest.raises(ValueError):
        TransientRetry(**{field: value})


def test_the_default_budget_is_five_minutes():
    assert TransientRetry().budget_s == DEFAULT_RETRY_BUDGET == 300.0


def test_retry_for_the_emulator_is_quicker_than_for_azure():
    local, remote = retry_for(True, 12.0), retry_for(False)
    assert (local.budget_s, local.initial, local.cap) == (12.0, 0.05, 1.0)
    assert (remote.budget_s, remote.initial, remote.cap) == (DEFAULT_RETRY_BUDGET, 1.0, 30.0)


def test_attempts_start_counting_at_zero():
    attempts = Attempts(TransientRetry(), 0.0, 1.0)
    assert (attempts.count, attempts.skipped) == (0, 0.0)


# --- rewinding bodies ------------------------------------------------------------------------------


def test_bodies_without_read_need_no_rewind():
    assert _tell(b"abc") is None
    assert _rewind(b"abc", None) is True


def test_a_stream_is_put_back_where_it_started():
    body = io.BytesIO(b"0123456789")
    body.seek(3)
    position = _tell(body)
    body.read()
    assert (position, _rewind(body, position), body.read()) == (3, True, b"3456789")


def test_a_stream_without_a_known_position_cannot_be_rewound():
    assert _rewind(io.BytesIO(b"x"), None) is False


class Unseekable(io.RawIOBase):
    def readable(self):
        return True

    def read(self, n=-1):
        return b""

    def tell(self):
        raise OSError("no")

    def seek(self, *args):
        raise OSError("no")


def test_an_unseekable_stream_cannot_be_rewound():
    assert _tell(Unseekable()) is None
    assert _rewind(Unseekable(), 0) is False


# --- the azure-core policy -------------------------------------------------------------------------


class ScriptedTransport(FakeTransport):
    """Answers each request with the next item: (status, headers) or an exception to raise."""

    def __init__(self, *script):
        super().__init__()
        self.script = list(script)
        self.sent = []

    def send(self, request, **kwargs):
        self.sent.append((request.method, request.body))
        item = self.script.pop(0)
        if isinstance(item, BaseException):
            raise item
        status, headers = item
        return canned_response(request, status, {"status": status}, headers)


def run_pipeline(retry: TransientRetry, *script, method="GET", body=None):
    transport = ScriptedTransport(*script)
    request = HttpRequest(method, "https://example.test/thing?sig=secret")
    if body is not None:
        request.data = body
    with Pipeline(transport, policies=[arm_retry_policy(retry)]) as pipeline:
        try:
            response = pipeline.run(request)
        except Exception as exc:  # noqa: BLE001 - returned for the test to look at
            return transport, exc
    return transport, response.http_response.status_code


def test_the_policy_returns_a_success_at_once():
    transport, status = run_pipeline(policy(FakeClock()), (200, {}))
    assert (status, len(transport.sent), transport.slept) == (200, 1, [])


@pytest.mark.parametrize("status", sorted(RETRY_STATUS_CODES))
def test_the_policy_retries_transient_statuses(status):
    transport, final = run_pipeline(policy(FakeClock()), (status, {}), (200, {}))
    assert (final, len(transport.sent), transport.slept) == (200, 2, [1.0])


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 412, 501, 505])
def test_the_policy_passes_other_errors_through(status):
    transport, final = run_pipeline(policy(FakeClock()), (status, {}))
    assert (final, len(transport.sent)) == (status, 1)


@pytest.mark.parametrize("error", [ServiceRequestError("refused"), ServiceResponseError("reset")])
def test_the_policy_retries_connection_failures(error):
    transport, final = run_pipeline(policy(FakeClock()), error, (200, {}))
    assert (final, len(transport.sent)) == (200, 2)


@pytest.mark.parametrize("method", ["PUT", "POST", "DELETE", "PATCH", "HEAD"])
def test_the_policy_retries_every_method(method):
    transport, final = run_pipeline(policy(FakeClock()), ServiceResponseError("lost"), (503, {}), (201, {}),
                                    method=method)
    assert (final, [m for m, _ in transport.sent]) == (201, [method] * 3)


def test_the_policy_honours_retry_after_through_the_transports_sleep():
    transport, final = run_pipeline(policy(FakeClock()), (429, {"Retry-After": "6"}), (429, {"Retry-After": "0"}),
                                    (200, {}))
    assert (final, transport.slept) == (200, [6.0, 2.0])


def test_the_policy_gives_up_with_the_last_answer_at_the_deadline():
    clock = FakeClock(0.0)
    retry = policy(clock, budget_s=5.0)

    class Ticking(ScriptedTransport):
        def sleep(self, duration):
            super().sleep(duration)
            clock.now += duration

    transport = Ticking(*[(503, {})] * 10)
    with Pipeline(transport, policies=[arm_retry_policy(retry)]) as pipeline:
        status = pipeline.run(HttpRequest("GET", "https://example.test/x")).http_response.status_code
    assert status == 503
    assert transport.slept == [1.0, 2.0, 2.0]  # 1 + 2 + the 2 s left
    assert len(transport.sent) == 4


def test_the_policy_raises_the_connection_failure_at_the_deadline():
    clock = FakeClock(0.0)
    retry = policy(clock, budget_s=1.0)

    class Ticking(ScriptedTransport):
        def sleep(self, duration):
            clock.now += duration

    transport = Ticking(ServiceRequestError("a"), ServiceRequestError("b"), (200, {}))
    with Pipeline(transport, policies=[arm_retry_policy(retry)]) as pipeline:
        with pytest.raises(ServiceRequestError, match="b"):
            pipeline.run(HttpRequest("GET", "https://example.test/x"))


def test_the_policy_resends_the_same_body():
    transport, _final = run_pipeline(policy(FakeClock()), (500, {}), (200, {}), method="PUT", body=b'{"a": 1}')
    assert [body for _, body in transport.sent] == [b'{"a": 1}', b'{"a": 1}']


def test_the_policy_rewinds_a_stream_body():
    seen = []

    class Reading(ScriptedTransport):
        def send(self, request, **kwargs):
            seen.append(request.body.read())
            return super().send(request, **kwargs)

    transport = Reading((500, {}), (200, {}))
    request = HttpRequest("PUT", "https://example.test/x")
    request.set_streamed_data_body(io.BytesIO(b"payload"))
    with Pipeline(transport, policies=[arm_retry_policy(policy(FakeClock()))]) as pipeline:
        assert pipeline.run(request).http_response.status_code == 200
    assert seen == [b"payload", b"payload"]


def test_the_policy_refuses_to_resend_a_stream_it_cannot_rewind():
    class Reading(ScriptedTransport):
        def send(self, request, **kwargs):
            request.body.read()
            return super().send(request, **kwargs)

    transport = Reading((500, {}), (200, {}))
    request = HttpRequest("PUT", "https://example.test/x")
    request.set_streamed_data_body(Unseekable())
    with Pipeline(transport, policies=[arm_retry_policy(policy(FakeClock()))]) as pipeline:
        with pytest.raises(RuntimeError, match="rewound"):
            pipeline.run(request)
    assert len(transport.sent) == 1


def test_the_policy_default_is_the_default_transient_retry():
    retry = arm_retry_policy().retry
    assert (retry.budget_s, retry.initial, retry.cap, retry.factor, retry.jitter) == (300.0, 1.0, 30.0, 2.0, 0.5)


# --- the azure-storage retry ----------------------------------------------------------------------


def storage_context(status, headers=None, body=None):
    context = RetryContext()
    context.request = HTTPRequest()
    context.request.host_locations = {
        LocationMode.PRIMARY: "a.file.core.windows.net",
        LocationMode.SECONDARY: "a-secondary.file.core.windows.net",
    }
    context.request.host = "a.file.core.windows.net"
    context.request.body = body
    context.location_mode = LocationMode.PRIMARY
    context.response = HTTPResponse(status, "", headers or {}, b"") if status else None
    return context


@pytest.mark.parametrize("status, transient", [
    (None, True), (200, True), (206, True), (299, True), (300, False), (400, False), (403, False), (404, False),
    (408, True), (409, False), (412, False), (416, False), (429, True), (499, False), (500, True), (501, False),
    (502, True), (503, True), (504, True), (505, False), (507, True), (599, True),
])
def test_which_storage_answers_are_transient(status, transient):
    assert _storage_status_is_transient(status) is transient


@pytest.mark.parametrize("status", [None, 408, 429, 500, 503])
def test_file_service_retry_retries_transient_answers(status):
    assert file_service_retry(policy(FakeClock()))(storage_context(status)) == 1.0


@pytest.mark.parametrize("status", [400, 403, 404, 409, 412])
def test_file_service_retry_does_not_retry_client_errors(status):
    assert file_service_retry(policy(FakeClock()))(storage_context(status)) is None


def test_file_service_retry_backs_off_and_counts_on_one_context():
    retry, context = file_service_retry(policy(FakeClock())), storage_context(500)
    assert [retry(context) for _ in range(4)] == [1.0, 2.0, 4.0, 8.0]
    assert context.count == 4


def test_file_service_retry_honours_retry_after_for_429():
    retry = file_service_retry(policy(FakeClock()))
    assert retry(storage_context(429, {"retry-after": "5"})) == 5.0
    assert retry(storage_context(429, {"retry-after": "0"})) == 1.0


def test_file_service_retry_stops_at_the_deadline():
    clock = FakeClock(0.0)
    retry, context = file_service_retry(policy(clock, budget_s=4.0)), storage_context(None)
    delays = []
    while (delay := retry(context)) is not None:
        delays.append(delay)
        clock.now += delay  # the SDK sleeps the interval itself
    assert delays == [1.0, 2.0, 1.0]


def test_file_service_retry_stays_on_the_primary_location():
    context = storage_context(500)
    file_service_retry(policy(FakeClock()))(context)
    assert (context.location_mode, context.request.host) == (LocationMode.PRIMARY, "a.file.core.windows.net")


def test_file_service_retry_rewinds_a_stream_body():
    body = io.BytesIO(b"range bytes")
    context = storage_context(503, body=body)
    context.body_position = 0
    body.read()
    assert file_service_retry(policy(FakeClock()))(context) == 1.0
    assert body.read() == b"range bytes"


def test_file_service_retry_gives_up_on_a_stream_it_cannot_rewind():
    context = storage_context(503, body=io.BytesIO(b"x"))
    context.body_position = None
    assert file_service_retry(policy(FakeClock()))(context) is None


def test_file_service_retry_waits_zero_in_playback_yet_ends_at_the_deadline():
    clock = FakeClock(0.0)
    retry, context = file_service_retry(policy(clock, budget_s=4.0)), storage_context(503)
    with playback_mode():
        answers = []
        while (delay := retry(context)) is not None:
            answers.append(delay)
    assert answers == [0, 0, 0]
    assert clock.sleeps == []
