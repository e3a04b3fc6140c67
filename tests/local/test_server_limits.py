"""The emulator's HTTPS server bounds what one client can hold: a handshake that never finishes
and a connection that stays silent are closed after their timeouts, connections beyond the bound
are closed at once, and none of them keeps another client from being served."""

from __future__ import annotations

import contextlib
import socket
import ssl
import struct
import time

import pytest
import requests

from batchai_kit.local._server import ConnectionLimits, serve_https
from batchai_kit.local._tls import generate_self_signed

WAIT = 30.0  # how long a test waits for the server to close a connection (a hang detector)


def hello_app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
    return [b"hello"]


@pytest.fixture
def serve(tmp_path):
    started = []

    def start(limits: ConnectionLimits):
        server = serve_https(hello_app, generate_self_signed(tmp_path / "tls"), limits=limits)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def wait_until(probe, *, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not probe():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting {WAIT:g} s for {what}")
        time.sleep(0.01)


def closed_by_server(sock: socket.socket) -> bool:
    """Whether the server ends the connection (end of file or reset) within WAIT seconds."""
    sock.settimeout(WAIT)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def get(server, tmp_path) -> str:
    response = requests.get(f"{server.base_url}/", verify=str(tmp_path / "tls" / "emulator-cert.pem"), timeout=WAIT)
    return response.text


def test_a_handshake_that_never_finishes_is_closed_after_the_handshake_timeout(serve, tmp_path):
    server = serve(ConnectionLimits(handshake_timeout=0.5, idle_timeout=60, max_connections=10))
    with socket.create_connection(("127.0.0.1", server.port)) as stalled:
        stalled.sendall(struct.pack("!BHH", 22, 0x0301, 512) + b"\x01\x00")  # half a ClientHello
        assert get(server, tmp_path) == "hello"
        assert closed_by_server(stalled)


def test_a_silent_tls_connection_is_closed_after_the_idle_timeout(serve, tmp_path):
    server = serve(ConnectionLimits(handshake_timeout=10, idle_timeout=0.5, max_connections=10))
    context = ssl.create_default_context(cafile=str(tmp_path / "tls" / "emulator-cert.pem"))
    with socket.create_connection(("127.0.0.1", server.port)) as raw, \
            context.wrap_socket(raw, server_hostname="127.0.0.1") as silent:
        assert get(server, tmp_path) == "hello"
        silent.settimeout(WAIT)
        with contextlib.suppress(ConnectionResetError, ssl.SSLError):  # a close, told rudely
            assert silent.recv(1) == b""


def test_connections_beyond_the_bound_are_closed_at_once_and_a_freed_slot_serves_again(serve, tmp_path):
    server = serve(ConnectionLimits(handshake_timeout=60, idle_timeout=60, max_connections=3))
    held = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(3)]
    try:
        with socket.create_connection(("127.0.0.1", server.port)) as extra:
            assert closed_by_server(extra)
        held.pop().close()
        wait_until(lambda: server.open_connections < 3, what="the server to free the closed connection's slot")
        assert get(server, tmp_path) == "hello"
    finally:
        for sock in held:
            sock.close()
