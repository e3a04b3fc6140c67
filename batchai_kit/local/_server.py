"""A threaded HTTPS server (werkzeug) running a WSGI app on a background thread.

The accept thread only accepts: each connection's TLS handshake and requests run on that
connection's own thread, under a handshake timeout and an idle/read timeout, and the number of
open connections is bounded. A client that connects and sends nothing (or half a ClientHello)
therefore holds one slot for a while and blocks nobody; stopping the server closes every
connection it still holds.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import selectors
import socket
import ssl
import threading
from typing import Callable, cast

import attrs
from werkzeug.serving import ThreadedWSGIServer

from ._keepalive import KeepAliveHandler
from ._threads import background_thread, block_interrupts_in_this_thread
from ._tls import CertificatePair

log = logging.getLogger("batchai_kit.local.server")


@attrs.frozen
class ConnectionLimits:
    """How long a client may take to finish its TLS handshake, how long a connection may sit
    idle (or stall mid-request) before it is closed, and how many may be open at once."""

    handshake_timeout: float = 10.0
    idle_timeout: float = 120.0
    max_connections: int = 256


class PortInUse(Exception):
    """The port asked for is taken (werkzeug would print and exit instead)."""

    def __init__(self, host: str, port: int):
        super().__init__(f"port {port} is in use on {host}")
        self.port = port


class _QuietHandler(KeepAliveHandler):
    """Request lines go to our logger at DEBUG, never to stderr; URLs may carry SAS tokens.

    Nagle's algorithm off (TCP_NODELAY): with it, each small response waited ~12 ms for the
    client's delayed ACK, three times the cost of handling the request.
    """

    disable_nagle_algorithm = True

    def log_request(self, code="-", size="-"):
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s %s -> %s", self.command, self.path.split("?", 1)[0], code)

    def log(self, type, message, *args):
        if type != "error":
            return
        # An idle keep-alive connection reaching the idle timeout is routine (clients keep pooled
        # connections open); say it at DEBUG so it never shows in a user's console.
        level = logging.DEBUG if message.startswith("Request timed out") else logging.WARNING
        log.log(level, message.rstrip(), *args)

    def setup(self) -> None:
        # a keep-alive connection that stays silent, or a request that stops mid-body, ends
        # after the idle timeout
        server = cast(_HardenedServer, self.server)
        self.request.settimeout(server.limits.idle_timeout)
        super().setup()


class _HardenedServer(ThreadedWSGIServer):
    """werkzeug's threaded server with the TLS handshake moved off the accept thread."""

    daemon_threads = True

    def __init__(self, host: str, port: int, app: Callable, tls: ssl.SSLContext, limits: ConnectionLimits):
        super().__init__(host, port, app, handler=_QuietHandler)  # a plain listening socket
        # werkzeug reads ``ssl_context`` to say https in the WSGI environ and to log TLS errors
        self.ssl_context = tls
        self.tls = tls
        self.limits = limits
        self._slots = threading.BoundedSemaphore(limits.max_connections)
        self._open: dict[socket.socket, threading.Thread] = {}
        self._open_lock = threading.Lock()
        self._closing = False
        self._stop_asked = False
        self._stopped = threading.Event()
        self._stopped.set()  # nothing to wait for until serve_forever runs
        self._wake_read, self._wake_write = os.pipe()
        self._wake_fds: tuple[int, ...] = (self._wake_read, self._wake_write)

    def serve_forever(self, poll_interval: float | None = None) -> None:
        """Accept connections until ``shutdown()``. The thread sleeps in ``select`` until a client
        connects or ``shutdown`` writes to a wake-up pipe: no periodic wake-ups (socketserver's
        loop wakes every ``poll_interval`` to look for a shutdown request, taking CPU from the
        jobs the emulator runs beside it)."""
        self._stopped.clear()
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(self.socket, selectors.EVENT_READ)
                selector.register(self._wake_read, selectors.EVENT_READ)
                while not self._stop_asked:
                    ready = selector.select()
                    if self._stop_asked:
                        break
                    if any(key.fileobj is self.socket for key, _ in ready):
                        self._handle_request_noblock()  # type: ignore[attr-defined]  # socketserver's, untyped
        finally:
            self._stop_asked = False
            self._stopped.set()
            self.server_close()

    def shutdown(self) -> None:
        """Stop ``serve_forever`` (running in another thread) and wait until it has."""
        self._stop_asked = True
        with self._open_lock:
            if self._wake_fds:  # else the loop has ended and closed the pipe
                os.write(self._wake_write, b"x")
        self._stopped.wait()

    def server_close(self) -> None:
        super().server_close()
        if not hasattr(self, "_wake_fds"):  # the socket failed to bind: no pipe yet
            return
        with self._open_lock:
            fds, self._wake_fds = self._wake_fds, ()
        for fd in fds:
            os.close(fd)

    def server_bind(self) -> None:
        try:
            super().server_bind()
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise PortInUse(str(self.server_address[0]), int(self.server_address[1])) from None
            raise

    def get_request(self):
        # no handshake here: that would let one silent client block every other one
        return self.socket.accept()

    def verify_request(self, request, client_address) -> bool:
        if self._closing or not self._slots.acquire(blocking=False):
            log.warning("Refusing a connection from %s: %d connections are open already",
                        client_address[0], self.limits.max_connections)
            return False
        return True

    def process_request(self, request, client_address) -> None:
        # the accept thread's child: it inherits the blocked SIGINT/SIGTERM (see _threads)
        thread = threading.Thread(target=self.process_request_thread, args=(request, client_address),
                                  name=f"batchai-kit-connection-{client_address[1]}", daemon=True)
        thread.start()

    def process_request_thread(self, request, client_address) -> None:
        connection = request
        block_interrupts_in_this_thread()
        try:
            with self._open_lock:
                self._open[request] = threading.current_thread()
            request.settimeout(self.limits.handshake_timeout)
            connection = self.tls.wrap_socket(request, server_side=True, do_handshake_on_connect=False)
            with self._open_lock:
                self._open.pop(request, None)
                self._open[connection] = threading.current_thread()
            if self._closing:
                return
            connection.do_handshake()
            self.finish_request(connection, client_address)
        except (OSError, ssl.SSLError) as error:  # timeouts, resets, bad or abandoned handshakes
            log.debug("Connection from %s ended: %s", client_address[0], error)
        except Exception:  # noqa: BLE001 - a bug in one request must not end the server; logged
            self.handle_error(connection, client_address)
        finally:
            self.shutdown_request(connection)
            self._slots.release()  # before it leaves the count: a count below the bound has a free slot
            with self._open_lock:
                self._open.pop(connection, None)
                self._open.pop(request, None)

    def close_connections(self, timeout: float) -> None:
        """Shut every open connection down (waking threads blocked on it) and wait for them."""
        self._closing = True
        with self._open_lock:
            held = dict(self._open)
        for sock in held:
            # the plain socket's shutdown: an SSLSocket's would touch TLS state in use elsewhere
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
        for thread in held.values():
            thread.join(timeout)


@attrs.define
class RunningServer:
    server: _HardenedServer
    thread: threading.Thread
    host: str
    port: int

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}"

    @property
    def open_connections(self) -> int:
        """Connections being served now (handshaking, in a request, or idle between requests)."""
        with self.server._open_lock:
            return len(self.server._open)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)
        self.server.close_connections(timeout=10)


def serve_https(app: Callable, certificate: CertificatePair, host: str = "127.0.0.1",
                port: int = 0, limits: ConnectionLimits | None = None) -> RunningServer:
    """Start *app* on ``https://host:port`` (port 0 picks a free one) in a daemon thread."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(certificate.cert_path), str(certificate.key_path))
    server = _HardenedServer(host, port, app, context, limits or ConnectionLimits())
    actual_port = server.socket.getsockname()[1]
    # connection threads are started by this one and inherit its blocked SIGINT/SIGTERM
    thread = background_thread(server.serve_forever, f"batchai-kit-https-{actual_port}")
    thread.start()
    log.info("Serving on https://%s:%d", host, actual_port)
    return RunningServer(server, thread, host, actual_port)
