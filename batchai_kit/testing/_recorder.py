"""``Recorder``: where a recorded test's ``Azure`` points, in each of the three modes.

- playback: an ``Azure`` for the fixed endpoint ``https://batchai-kit.emulator`` (which never
  resolves: vcrpy answers every request from the cassette), a static token, the zero
  subscription; ``playback_mode()`` is on, so no wait, SDK poll or retry sleeps; and an SDK
  long-running operation polls when the code waits on it (``deferred_lro_polling``);
- emulator (recording): an in-process emulator on a temporary directory with instant phase
  timings, whose port, subscription, token and storage key the scrubber maps to the fixed values
  above, so that the cassette replays against the playback ``Azure``;
- azure (recording, ``BATCHAI_KIT_RECORD_AGAINST=azure``): ``Azure.from_env()``, normalised
  the same way (endpoints, storage account, subscription).

Every mode uses the same admin account (``RECORDING_ADMIN_USER`` / ``RECORDING_ADMIN_PASSWORD``,
fixed and fake, redacted from cassettes), so requests are byte-for-byte what replay sends.
"""

from __future__ import annotations

import base64
import json
import os
import re
import threading
import time
from pathlib import Path
from typing import Any

import attrs

from .._connection import AdminUser, Azure, StaticTokenCredential
from .._waiter import playback_mode
from ..errors import ValidationError
from ._scrub import FAKE_ENDPOINT, FAKE_FILES_ENDPOINT, FAKE_STORAGE_ACCOUNT, FAKE_SUBSCRIPTION, SCRUBBER

RECORD_AGAINST_ENV = "BATCHAI_KIT_RECORD_AGAINST"
MODES = ("playback", "emulator", "azure")

RECORDING_LOCATION = "eastus"
RECORDING_ADMIN_USER = "batchai"
# Fixed and fake, so that recordings do not differ; redacted from cassettes all the same. It meets
# Azure's password rules for when cassettes are recorded against Azure.
RECORDING_ADMIN_PASSWORD = "Rec0rded-Fake-Passw0rd!"
PLAYBACK_TOKEN = "playback-token"
PLAYBACK_STORAGE_KEY = base64.b64encode(b"batchai-kit playback fake key!!!").decode("ascii")
EMULATOR_DATA_DIR = "/batchai-kit-emulator"

THROTTLED_MESSAGE = ("The request is being throttled as the limit has been reached for operation type - "
                     "Read_ObservationWindow_00:05:00. For more information, see - https://aka.ms/srpthrottlinglimits")


@attrs.define
class Fault:
    """Answer the next ``times`` requests whose method is ``method`` and whose path matches the
    regular expression ``path`` with ``status`` (by default ARM's throttling answer: 429,
    TooManyRequests, Retry-After)."""

    path: str
    method: str = "GET"
    status: int = 429
    code: str = "TooManyRequests"
    message: str = THROTTLED_MESSAGE
    retry_after: int | None = 1
    times: int = 1

    def matches(self, method: str, path: str) -> bool:
        """Whether this fault still has answers left for a request of ``method`` to ``path``."""
        return self.times > 0 and method.upper() == self.method.upper() and re.search(self.path, path) is not None


class _Faults:
    """A WSGI middleware in front of the emulator that answers with the queued faults first."""

    def __init__(self) -> None:
        self.pending: list[Fault] = []
        self.lock = threading.Lock()

    def wrap(self, app: Any) -> Any:
        def faulty(environ: dict[str, Any], start_response: Any) -> Any:
            method, path = environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", "")
            with self.lock:
                fault = next((f for f in self.pending if f.matches(method, path)), None)
                if fault is not None:
                    fault.times -= 1
            if fault is None:
                return app(environ, start_response)
            body = json.dumps({"error": {"code": fault.code, "message": fault.message}}).encode()
            headers = [("Content-Type", "application/json; charset=utf-8"), ("Content-Length", str(len(body)))]
            if fault.retry_after is not None:
                headers.append(("Retry-After", str(fault.retry_after)))
            start_response(f"{fault.status} Fault", headers)
            return [body]

        return faulty


def _recording_emulator_class() -> Any:
    from ..local.emulator import Emulator

    class RecordingEmulator(Emulator):
        """The emulator with a fault-injecting middleware in front of both planes."""

        def __init__(self, *args: Any, faults: _Faults, **kwargs: Any):
            super().__init__(*args, **kwargs)
            self.faults = faults

        def _dispatch(self, *planes: Any) -> Any:
            return self.faults.wrap(super()._dispatch(*planes))

    return RecordingEmulator


class _DeferredThread(threading.Thread):
    """A thread that runs its target in the thread that first waits on it (``join``,
    ``is_alive``), not when it is started."""

    _deferred = False

    def start(self) -> None:
        self._deferred = True

    def _run_deferred(self) -> None:
        if self._deferred:
            self._deferred = False
            self.run()

    def join(self, timeout: float | None = None) -> None:
        self._run_deferred()

    def is_alive(self) -> bool:
        self._run_deferred()
        return False


class _ThreadingWithDeferredThreads:
    """The ``threading`` module as azure-core's poller sees it in replay."""

    Thread = _DeferredThread

    def __getattr__(self, name: str) -> Any:
        return getattr(threading, name)


class deferred_lro_polling:
    """In replay, an azure-core ``LROPoller`` polls when the code waits on it (``result()``,
    ``wait()``, ``done()``), in the waiting thread, instead of in a thread of its own from the
    moment it is made. Replay then sends the polls exactly where the code waits for them, and an
    operation the code never waits on leaves its recorded status unplayed (strict replay fails),
    instead of a background thread playing it at a time no test controls."""

    def __enter__(self) -> deferred_lro_polling:
        from azure.core.polling import _poller

        self._module = _poller
        self._previous = _poller.threading
        _poller.threading = _ThreadingWithDeferredThreads()  # type: ignore[assignment]
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._module.threading = self._previous


def _admin() -> AdminUser:
    return AdminUser(RECORDING_ADMIN_USER, password=RECORDING_ADMIN_PASSWORD)


def playback_azure() -> Azure:
    """The ``Azure`` replayed cassettes answer: nothing listens at its endpoint."""
    return Azure(
        StaticTokenCredential(PLAYBACK_TOKEN),
        FAKE_SUBSCRIPTION,
        arm_endpoint=FAKE_ENDPOINT,
        storage_account=FAKE_STORAGE_ACCOUNT,
        storage_key=PLAYBACK_STORAGE_KEY,
        files_endpoint=FAKE_FILES_ENDPOINT,
        location=RECORDING_LOCATION,
        admin=_admin(),
        poll_interval=0.1,
    )


class Recorder:
    """The ``Azure`` of one recorded test and the controls that only matter while recording.

    Use it as a context manager (the pytest fixture ``batchai_recorder`` does).
    """

    def __init__(self, mode: str, work_dir: Path):
        if mode not in MODES:
            raise ValidationError("mode", mode, f"must be one of {', '.join(MODES)}")
        self.mode = mode
        self.work_dir = Path(work_dir)
        self.azure: Azure | None = None
        self.emulator: Any = None
        self._faults = _Faults()
        self._playback: Any = None
        self._polling: Any = None

    @property
    def playback(self) -> bool:
        """True when answers come from the cassette (nothing is sent, nothing sleeps)."""
        return self.mode == "playback"

    @property
    def recording(self) -> bool:
        """True when requests reach the emulator or Azure (the cassette is being written)."""
        return not self.playback

    def __enter__(self) -> Recorder:
        if self.mode == "playback":
            self._playback = playback_mode()
            self._playback.__enter__()
            self._polling = deferred_lro_polling().__enter__()
            self.azure = playback_azure()
        elif self.mode == "emulator":
            self.azure = self._start_emulator()
        else:
            self.azure = self._connect_azure()
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            if self.emulator is not None:
                self.emulator.stop()
                self.emulator = None
        finally:
            SCRUBBER.clear()
            if self._polling is not None:
                self._polling.__exit__(*exc_info)
                self._polling = None
            if self._playback is not None:
                self._playback.__exit__(*exc_info)
                self._playback = None

    # -- recording -----------------------------------------------------------------------------

    def _start_emulator(self) -> Azure:
        from ..local.arm.timing import Timings

        emulator = _recording_emulator_class()(self.work_dir / "emulator", timings=Timings.instant(),
                                               faults=self._faults)
        info = emulator.start()
        self.emulator = emulator
        host = info.arm_endpoint.split("://", 1)[1]
        SCRUBBER.replace(info.arm_endpoint, FAKE_ENDPOINT)
        SCRUBBER.replace(host, FAKE_ENDPOINT.split("://", 1)[1])
        SCRUBBER.replace(info.subscription_id, FAKE_SUBSCRIPTION)
        SCRUBBER.replace(str(info.data_dir), EMULATOR_DATA_DIR)
        SCRUBBER.replace(str(self.work_dir), EMULATOR_DATA_DIR)
        for secret in (info.token, info.storage_key, RECORDING_ADMIN_PASSWORD):
            SCRUBBER.secret(secret)
        return Azure.for_emulator(info, emulator=emulator, location=RECORDING_LOCATION, admin=_admin(),
                                  poll_interval=0.1)

    def _connect_azure(self) -> Azure:
        azure = Azure.from_env()
        azure = attrs.evolve(azure, admin=_admin(), location=azure.location or RECORDING_LOCATION)
        SCRUBBER.replace(azure.arm_endpoint.rstrip("/"), FAKE_ENDPOINT)
        if azure.storage_account:
            SCRUBBER.replace(azure.file_endpoint, FAKE_FILES_ENDPOINT)
            SCRUBBER.replace(azure.storage_account, FAKE_STORAGE_ACCOUNT)
        SCRUBBER.replace(azure.subscription_id, FAKE_SUBSCRIPTION)
        for secret in (azure.storage_key, RECORDING_ADMIN_PASSWORD, os.environ.get("AZURE_CLIENT_SECRET")):
            SCRUBBER.secret(secret)
        return azure

    def inject_fault(self, path: str, **fault: Any) -> None:
        """While recording against the emulator: answer the next matching request(s) with an
        error (by default 429 with Retry-After: 1); see :class:`Fault`. Replay has the answer
        in the cassette, and Azure cannot be told to fail: both ignore this."""
        if self.mode == "emulator":
            with self._faults.lock:
                self._faults.pending.append(Fault(path, **fault))

    def settle(self, timeout: float = 60.0) -> None:
        """While recording against the emulator: wait, without a request, until no job is queued,
        running or terminating, no cluster is resizing and no operation is in progress.

        Call it before a step whose requests would otherwise depend on how fast the emulator's
        processes ran (reading the logs of a job that is still writing them): the recording then
        sees the settled state, every time. Replay and recordings against Azure return at once.
        """
        if self.mode != "emulator":
            return
        control = self.emulator.control
        deadline = time.monotonic() + timeout
        while True:
            control.advance()
            with control.lock:
                busy = _busy(control.store)
            if not busy:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"the emulator did not settle within {timeout:g} s: {', '.join(busy)}")
            time.sleep(0.02)

    def secret(self, value: str) -> None:
        """A value of the test's own (a job secret, a key) to redact from the cassette and to
        refuse to write."""
        SCRUBBER.secret(value)


def _busy(store: Any) -> list[str]:
    busy = [f"job {j['name']} {j['properties']['executionState']}" for j in store.of_kind("job")
            if j["properties"]["executionState"] in ("queued", "running", "terminating")]
    busy += [f"cluster {c['name']} {c['properties']['allocationState']}" for c in store.of_kind("cluster")
             if c["properties"].get("allocationState") != "steady"]
    busy += [f"operation {o['name']}" for o in store.of_kind("operation") if o.get("status") == "InProgress"]
    return busy


def mode_from_environment() -> str:
    """The recording target named by $BATCHAI_KIT_RECORD_AGAINST: emulator (default) or azure."""
    target = (os.environ.get(RECORD_AGAINST_ENV) or "emulator").strip().lower()
    if target not in ("emulator", "azure"):
        raise ValidationError(RECORD_AGAINST_ENV, target, "must be emulator or azure")
    return target
