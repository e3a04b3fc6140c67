"""Unit tests: no network, no emulator, no sleeping.

``CannedTransport`` stands in for azure-core's HTTP transport so that the real SDK clients build
their real requests, responses and exceptions from canned answers.
"""

from __future__ import annotations

import io
import json

import requests
from azure.core.pipeline._tools import is_rest
from azure.core.pipeline.transport import HttpTransport, RequestsTransportResponse
from azure.core.rest._requests_basic import RestRequestsTransportResponse


def canned_response(request, status: int, body: object = b"", headers: dict | None = None, reason: str = ""):
    """An azure-core response to ``request``, as the requests transport builds it from the wire."""
    raw = requests.Response()
    raw.status_code = status
    raw.reason = reason or requests.status_codes._codes.get(status, ("",))[0].upper()
    raw.raw = io.BytesIO(body if isinstance(body, bytes) else json.dumps(body).encode())
    raw.headers.update({"Content-Type": "application/json; charset=utf-8", **(headers or {})})
    raw.url = request.url
    if is_rest(request):  # newer generated clients (azure-mgmt-resource) speak azure.core.rest
        response = RestRequestsTransportResponse(request=request, internal_response=raw)
        response.read()
        return response
    return RequestsTransportResponse(request, raw)


class FakeTransport(HttpTransport):
    """A transport that sends nothing: subclasses answer ``send``; sleeps are recorded, not slept."""

    def __init__(self) -> None:
        self.slept: list[float] = []

    def send(self, request, **kwargs):
        raise NotImplementedError

    def sleep(self, duration):
        self.slept.append(duration)

    def open(self):
        pass

    def close(self):
        pass

    def __exit__(self, *exc):
        pass


class CannedTransport(FakeTransport):
    """Answers each request with the next canned (status, body, headers); records the requests."""

    def __init__(self, *answers: tuple):
        super().__init__()
        self.answers = list(answers)
        self.requests = []

    def send(self, request, **kwargs):
        self.requests.append(request)
        status, body, *rest = self.answers.pop(0)
        return canned_response(request, status, body, rest[0] if rest else None)


class FakeCredential:
    """A TokenCredential that records the scopes it is asked for."""

    def __init__(self, token: str = "fake-token"):
        self.token = token
        self.scopes = []

    def get_token(self, *scopes, **kwargs):
        from azure.core.credentials import AccessToken

        self.scopes.append(scopes)
        return AccessToken(self.token, 4102444800)


class FakeClock:
    """A clock that only moves when slept on (``sleeps`` records each sleep)."""

    def __init__(self, now: float = 1000.0):
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
