"""Waiting in tests: poll until done, with a deadline (never a blind sleep)."""

import time


def wait_for(probe, done, timeout=30.0, interval=0.02):
    """Call *probe* until ``done(value)``; return that value, or fail naming the last one."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if done(value):
            return value
        assert time.monotonic() < deadline, f"timed out; last value {value!r}"
        time.sleep(interval)
