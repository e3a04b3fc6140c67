"""A threaded HTTPS server (werkzeug) running a WSGI app on a background thread."""

from __future__ import annotations

import logging
import ssl
import threading
from typing import Callable

import attrs
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from ._tls import CertificatePair

log = logging.getLogger("batchai_kit.local.server")


class _QuietHandler(WSGIRequestHandler):
    """Request lines go to our logger at DEBUG, never to stderr; URLs may carry SAS tokens.

    Nagle's algorithm off (TCP_NODELAY): with it, each small response waited ~12 ms for the
    client's delayed ACK, three times the cost of handling the request.
    """

    disable_nagle_algorithm = True

    def log_request(self, code="-", size="-"):
        log.debug("%s %s -> %s", self.command, self.path.split("?", 1)[0], code)

    def log(self, type, message, *args):
        if type == "error":
            log.warning(message.rstrip(), *args)


@attrs.define
class RunningServer:
    server: BaseWSGIServer
    thread: threading.Thread
    host: str
    port: int

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


def serve_https(app: Callable, certificate: CertificatePair, host: str = "127.0.0.1",
                port: int = 0) -> RunningServer:
    """Start *app* on ``https://host:port`` (port 0 picks a free one) in a daemon thread."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(certificate.cert_path), str(certificate.key_path))
    server = make_server(host, port, app, threaded=True, ssl_context=context,
                         request_handler=_QuietHandler)
    actual_port = server.socket.getsockname()[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name=f"batchai-kit-https-{actual_port}", daemon=True)
    thread.start()
    log.info("Serving on https://%s:%d", host, actual_port)
    return RunningServer(server, thread, host, actual_port)
