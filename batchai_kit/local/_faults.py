"""Fault injection: the emulator answers some requests the way a bad day on Azure does.

``batchai-kit emulator --faults "429=0.1,500=0.05,503=0.05,reset=0.02,lost=0.02,slow=0.05,seed=1"``
or ``bk.Azure.local(faults=...)``: each request, whatever the plane (ARM, Azure Files, tokens),
draws one fault with the given probabilities, or none:

- ``429``   throttled: 429 with ``Retry-After: <retry_after>`` (default 0), nothing done;
- ``500``   an internal error: 500, nothing done;
- ``503``   server busy: 503, nothing done;
- ``reset`` the connection is dropped before the request is handled: no answer, nothing done;
- ``lost``  the request is handled, then the connection is dropped: the change happened, but the
            client never hears of it (what makes retried creates interesting);
- ``slow``  the answer comes ``delay`` seconds (default 1) late, otherwise normal.

Other keys: ``seed`` (an integer: the same seed draws the same sequence of faults), ``delay``,
``retry_after``, and ``all=<rate>``, which spreads one rate evenly over 429, 500, 503, reset and
lost. Rates are probabilities from 0 to 1 and add up to at most 1. Error bodies are what each
plane sends: ARM's JSON ``{"error": {"code", "message"}}``, Azure Files' XML ``<Error>``.
"""

from __future__ import annotations

import json
import logging
import random
import socket
import struct
import threading
import time
from typing import Any, Callable, Iterable, Mapping

import attrs

from ..errors import ValidationError

log = logging.getLogger("batchai_kit.local.faults")

KINDS = ("429", "500", "503", "reset", "lost", "slow")
FAILING = ("429", "500", "503", "reset", "lost")
_OPTIONS = ("seed", "delay", "retry_after", "all")

# What each plane says for each status: (code, message).
_ARM_ERRORS = {
    429: ("TooManyRequests", "The request was throttled (injected fault). Retry after the time given."),
    500: ("InternalServerError", "The server encountered an internal error (injected fault)."),
    503: ("ServiceUnavailable", "The service is temporarily unavailable (injected fault)."),
}
_FILES_ERRORS = {
    429: ("ServerBusy", "The server is busy (injected fault)."),
    500: ("InternalError", "The server encountered an internal error (injected fault)."),
    503: ("ServerBusy", "The server is currently unable to receive requests (injected fault)."),
}
_REASONS = {429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}


def _rate(key: str, text: str, source: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValidationError("faults", source, f"{key}={text!r}: a rate must be a number from 0 to 1") from None
    if not 0.0 <= value <= 1.0:
        raise ValidationError("faults", source, f"{key}={text!r}: a rate must be a number from 0 to 1")
    return value


def _seconds(key: str, text: str, source: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 600.0:
        raise ValidationError("faults", source, f"{key}={text!r}: must be a number of seconds from 0 to 600")
    return value


@attrs.frozen
class FaultPlan:
    """Which faults, how often: ``rates`` maps a kind (see the module docstring) to a probability."""

    rates: Mapping[str, float] = attrs.field(factory=dict, converter=lambda r: dict(sorted(dict(r).items())))
    seed: int | None = None
    delay: float = 1.0
    retry_after: float = 0.0

    def __attrs_post_init__(self) -> None:
        for kind, rate in self.rates.items():
            if kind not in KINDS:
                raise ValidationError("faults", kind, f"is no fault kind: use {', '.join(KINDS)}")
            if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0.0 <= rate <= 1.0:
                raise ValidationError("faults", f"{kind}={rate!r}", "a rate must be a number from 0 to 1")
        if sum(self.rates.values()) > 1.0 + 1e-9:
            raise ValidationError("faults", self.describe(), "the rates add up to more than 1")

    @classmethod
    def parse(cls, text: str) -> FaultPlan:
        """A plan from ``"429=0.1,500=0.05,reset=0.02,seed=1"`` (see the module docstring)."""
        if not isinstance(text, str):
            raise ValidationError("faults", text, f"must be a string like '429=0.1,seed=1', not {type(text).__name__}")
        rates: dict[str, float] = {}
        options: dict[str, Any] = {}
        for item in (part.strip() for part in text.split(",")):
            if not item:
                continue
            key, sep, value = (s.strip() for s in item.partition("="))
            key = key.lower()
            if not sep or not value:
                raise ValidationError("faults", text, f"{item!r} must be key=value, e.g. 429=0.1")
            if key in rates or key in options:
                raise ValidationError("faults", text, f"{key!r} is given twice")
            if key in KINDS:
                rates[key] = _rate(key, value, text)
            elif key == "all":
                options["all"] = _rate(key, value, text)
            elif key == "seed":
                try:
                    options["seed"] = int(value)
                except ValueError:
                    raise ValidationError("faults", text, f"seed={value!r} must be a whole number") from None
            elif key in ("delay", "retry_after"):
                options[key] = _seconds(key, value, text)
            else:
                raise ValidationError("faults", text, f"{key!r} is unknown: use {', '.join(KINDS + _OPTIONS)}")
        spread = options.pop("all", None)
        if spread is not None:
            for kind in FAILING:
                rates[kind] = rates.get(kind, 0.0) + spread / len(FAILING)
        return cls(rates, **options)

    @classmethod
    def of(cls, value: Any) -> Any:
        """A plan from what a user may give: a plan, its text, a ``{kind: rate}`` mapping, None;
        or a function ``choose(method, path) -> kind or None`` (scripted faults, for tests),
        returned as it is."""
        if value is None or isinstance(value, FaultPlan):
            return value
        if callable(value):
            return value
        if isinstance(value, str):
            return cls.parse(value)
        if isinstance(value, Mapping):
            return cls(value)
        raise ValidationError("faults", value, "must be a FaultPlan, a string like '429=0.1,seed=1' or a mapping")

    @property
    def total(self) -> float:
        """The probability that a request meets a fault that fails it (slow answers excluded)."""
        return sum(rate for kind, rate in self.rates.items() if kind in FAILING)

    def describe(self) -> str:
        parts = [f"{kind}={rate:g}" for kind, rate in self.rates.items()]
        if self.seed is not None:
            parts.append(f"seed={self.seed}")
        return ",".join(parts)

    def chooser(self) -> Callable[[str, str], str | None]:
        """A thread-safe ``choose(method, path) -> kind or None`` drawing from this plan."""
        rng = random.Random(self.seed)
        lock = threading.Lock()
        table = list(self.rates.items())

        def choose(method: str, path: str) -> str | None:
            with lock:
                draw = rng.random()
            for kind, rate in table:
                if draw < rate:
                    return kind
                draw -= rate
            return None

        return choose


# The connection thread that dropped its connection on purpose: the server's complaint about the
# broken TLS stream that follows ("SSL error occurred: EOF ...") is expected there, not news.
_dropped_here = threading.local()


class _QuietAfterDrop(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(_dropped_here, "active", False)


_SERVER_LOGGER = logging.getLogger("batchai_kit.local.server")
if not any(isinstance(f, _QuietAfterDrop) for f in _SERVER_LOGGER.filters):
    _SERVER_LOGGER.addFilter(_QuietAfterDrop())


def _drop_connection(environ: Mapping[str, Any]) -> None:
    """Close the client's connection at once, without an answer (RST where the system allows)."""
    _dropped_here.active = True
    sock = environ.get("werkzeug.socket")
    if sock is None:
        return
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        # The plain socket's shutdown: ssl.SSLSocket.shutdown would also drop the TLS state, and the
        # server would then read the client's encrypted bytes as a plain-text request.
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass


class FaultInjector:
    """WSGI middleware: answers per ``choose(method, path)`` with a fault, or passes the request to
    ``app``. ``files_prefix`` (``/{account}``) tells Azure Files requests from ARM's, for the
    error bodies. ``counts`` tallies the faults injected, by kind."""

    def __init__(self, app: Callable, plan: FaultPlan | None = None, *, files_prefix: str = "",
                 choose: Callable[[str, str], str | None] | None = None):
        if plan is None and choose is None:
            raise ValueError("FaultInjector needs a plan or a choose function")
        self.app = app
        self.plan = plan or FaultPlan()
        self.files_prefix = files_prefix
        self.choose = choose or self.plan.chooser()
        self.counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def _is_files(self, path: str) -> bool:
        prefix = self.files_prefix
        return bool(prefix) and (path == prefix or path.startswith(prefix + "/"))

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        _dropped_here.active = False
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "")
        kind = self.choose(method, path)
        if kind is None:
            return self.app(environ, start_response)
        with self._lock:
            self.counts[kind] = self.counts.get(kind, 0) + 1
        log.debug("Injecting fault %s into %s %s", kind, method, path)
        if kind == "slow":
            time.sleep(self.plan.delay)
            return self.app(environ, start_response)
        if kind == "reset":
            _drop_connection(environ)
            raise ConnectionResetError("injected fault: connection reset")
        if kind == "lost":
            body = self.app(environ, lambda status, headers, exc_info=None: (lambda data: None))
            try:
                for _ in body:  # the work is done; the answer is thrown away
                    pass
            finally:
                if hasattr(body, "close"):
                    body.close()
            _drop_connection(environ)
            raise ConnectionResetError("injected fault: answer lost")
        return self._error(int(kind), path, start_response)

    def _error(self, status: int, path: str, start_response: Callable) -> list[bytes]:
        headers = []
        if status == 429:
            headers.append(("Retry-After", f"{self.plan.retry_after:g}"))
        if self._is_files(path):
            code, message = _FILES_ERRORS[status]
            body = (f'<?xml version="1.0" encoding="utf-8"?><Error><Code>{code}</Code>'
                    f"<Message>{message}</Message></Error>").encode()
            headers += [("Content-Type", "application/xml"), ("x-ms-error-code", code),
                        ("x-ms-version", "2019-02-02")]
        else:
            code, message = _ARM_ERRORS[status]
            body = json.dumps({"error": {"code": code, "message": message}}).encode()
            headers += [("Content-Type", "application/json; charset=utf-8"), ("x-ms-failure-cause", "service")]
        headers.append(("Content-Length", str(len(body))))
        start_response(f"{status} {_REASONS[status]}", headers)
        return [body]
