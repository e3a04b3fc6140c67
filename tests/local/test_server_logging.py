"""The emulator's HTTPS server keeps routine connection ends out of a user's console."""

from __future__ import annotations

import logging
import socket
import ssl

from batchai_kit.local._server import ConnectionLimits, serve_https
from batchai_kit.local._tls import generate_self_signed


def hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"hi"]


def test_an_idle_keep_alive_connection_closed_at_the_idle_timeout_is_not_a_warning(tmp_path, caplog):
    pair = generate_self_signed(tmp_path)
    server = serve_https(hello, pair, limits=ConnectionLimits(idle_timeout=0.2))
    context = ssl.create_default_context(cafile=str(pair.cert_path))
    caplog.set_level(logging.DEBUG, logger="batchai_kit.local.server")
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as raw:
            with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                tls.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n")
                received = b""
                while True:  # the answer, then nothing until the server ends the idle connection
                    chunk = tls.recv(4096)
                    if not chunk:
                        break
                    received += chunk
    finally:
        server.stop()
    assert received.startswith(b"HTTP/1.1 200") and received.endswith(b"hi")
    timed_out = [r for r in caplog.records if "timed out" in r.getMessage()]
    assert timed_out and all(r.levelno == logging.DEBUG for r in timed_out)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
