"""In replay an SDK long-running operation polls when the code waits on it, in the waiting thread."""

from __future__ import annotations

import threading

from azure.core.polling import LROPoller, PollingMethod, _poller

from batchai_kit.testing._recorder import deferred_lro_polling


class CountingPolling(PollingMethod):
    """A polling method that is not finished until it runs, and notes which thread ran it."""

    def __init__(self):
        self.ran_in: list[str] = []

    def initialize(self, client, initial_response, deserialization_callback):
        pass

    def run(self):
        self.ran_in.append(threading.current_thread().name)

    def status(self):
        return "Succeeded" if self.ran_in else "InProgress"

    def finished(self):
        return bool(self.ran_in)

    def resource(self):
        return len(self.ran_in)


def test_a_poller_nobody_waits_on_never_polls():
    polling = CountingPolling()
    with deferred_lro_polling():
        LROPoller(None, None, lambda response: response, polling)
    assert polling.ran_in == []


def test_a_poller_polls_once_in_the_thread_that_waits_on_it():
    polling = CountingPolling()
    with deferred_lro_polling():
        poller = LROPoller(None, None, lambda response: response, polling)
        assert polling.ran_in == []
        assert poller.result() == 1
        poller.wait()
        assert poller.result() == 1
    assert polling.ran_in == [threading.current_thread().name]


def test_asking_whether_a_poller_is_done_polls_it():
    polling = CountingPolling()
    with deferred_lro_polling():
        poller = LROPoller(None, None, lambda response: response, polling)
        assert poller.done()
    assert polling.ran_in == [threading.current_thread().name]


def test_outside_replay_a_poller_polls_in_its_own_thread_at_once():
    polling = CountingPolling()
    with deferred_lro_polling():
        pass
    poller = LROPoller(None, None, lambda response: response, polling)
    poller.wait()
    assert polling.ran_in and polling.ran_in[0].startswith("LROPoller(")
    assert _poller.threading is threading
