"""An HTTPS proxy that sends Azure's own hostnames to the emulator, for code that cannot be told
another endpoint.

Code written for the live service, such as Microsoft's 2017 quickstart, builds its clients with
Azure's hostnames (``BatchAIManagementClient(credentials, subscription_id)`` talks to
``management.azure.com``; ``FileService(account, key)`` to ``{account}.file.core.windows.net``).
``requests`` honours ``HTTPS_PROXY``: with it pointing here and ``REQUESTS_CA_BUNDLE`` at the
emulator's certificate, that code reaches the emulator unchanged. The proxy only tunnels
(``CONNECT host:443``): TLS runs end to end between the client and the emulator, whose
certificate then names these hosts too, and the emulator routes by the ``Host`` header. Any other
host is refused with 403: nothing ever leaves the machine.
"""

from __future__ import annotations

import logging
import selectors
import socket
import socketserver
import threading
from typing import Callable

log = logging.getLogger("batchai_kit.local.proxy")

ARM_HOST = "management.azure.com"
LOGIN_HOST = "login.microsoftonline.com"
FILES_SUFFIX = ".file.core.windows.net"

_HEAD_LIMIT = 16 * 1024
_TIMEOUT = 30.0


def proxied_hosts(storage_account: str) -> tuple[str, ...]:
    """The hostnames the proxy sends to the emulator (and its certificate names, with the proxy on)."""
    return (ARM_HOST, LOGIN_HOST, f"{storage_account}{FILES_SUFFIX}")


def files_host_to_path(app: Callable, account: str) -> Callable:
    """*app* taking requests to ``{account}.file.core.windows.net`` (``/{share}/...``, as they come
    through the proxy) as the emulator's path-style ``/{account}/{share}/...``. The raw path the
    client sent (``RAW_URI``) stays as it was: SharedKey signs ``/{account}`` + that path in both
    styles."""
    host_name = f"{account}{FILES_SUFFIX}"

    def host_style(environ, start_response):
        if environ.get("HTTP_HOST", "").rsplit(":", 1)[0].lower() == host_name:
            environ["PATH_INFO"] = f"/{account}{environ.get('PATH_INFO', '')}"
        return app(environ, start_response)

    return host_style


class _Tunnel(socketserver.BaseRequestHandler):
    server: _ProxyServer

    def handle(self) -> None:
        client = self.request
        client.settimeout(_TIMEOUT)
        try:
            head = self._read_head(client)
        except (OSError, ValueError):
            return
        request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = request_line.split()
        if len(parts) != 3 or parts[0] != "CONNECT":
            self._answer(client, 405, "Method Not Allowed", "this proxy only tunnels HTTPS (CONNECT host:443)")
            return
        host, _, port = parts[1].rpartition(":")
        if host.lower() not in self.server.hosts or port != "443":
            log.info("Proxy refused CONNECT %s", parts[1])
            self._answer(client, 403, "Forbidden", f"{parts[1]} is not an Azure host this emulator serves")
            return
        try:
            upstream = socket.create_connection(self.server.target, timeout=_TIMEOUT)
        except OSError as exc:
            self._answer(client, 502, "Bad Gateway", f"the emulator does not answer: {exc}")
            return
        with upstream:
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            self._splice(client, upstream)

    @staticmethod
    def _read_head(client: socket.socket) -> bytes:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = client.recv(4096)
            if not chunk:
                raise ValueError("connection closed before the request head ended")
            data += chunk
            if len(data) > _HEAD_LIMIT:
                raise ValueError("request head too long")
        return data

    @staticmethod
    def _answer(client: socket.socket, status: int, reason: str, message: str) -> None:
        body = message.encode()
        head = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n")
        client.sendall(head.encode() + body)

    def _splice(self, client: socket.socket, upstream: socket.socket) -> None:
        peers = {client: upstream, upstream: client}
        with selectors.DefaultSelector() as selector:
            for sock in peers:
                selector.register(sock, selectors.EVENT_READ)
            while not self.server.stopping.is_set():
                for key, _ in selector.select(timeout=1.0):
                    source: socket.socket = key.fileobj  # type: ignore[assignment]  # registered above
                    try:
                        data = source.recv(65536)
                        if data:
                            peers[source].sendall(data)
                    except OSError:
                        data = b""
                    if not data:
                        return


class _ProxyServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, target: tuple[str, int], hosts: tuple[str, ...]):
        super().__init__(address, _Tunnel)
        self.target = target
        self.hosts = frozenset(h.lower() for h in hosts)
        self.stopping = threading.Event()


class ConnectProxy:
    """A running proxy on ``127.0.0.1``; :attr:`url` is what ``HTTPS_PROXY`` takes."""

    def __init__(self, target: tuple[str, int], hosts: tuple[str, ...], host: str = "127.0.0.1", port: int = 0):
        self._server = _ProxyServer((host, port), target, hosts)
        self.host, self.port = host, int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name="batchai-kit-proxy", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        self._server.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
