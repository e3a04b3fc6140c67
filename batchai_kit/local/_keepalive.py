"""werkzeug's WSGI request handler with HTTP/1.1 persistent connections.

werkzeug's development handler ends every response with ``Connection: close`` and then waits
10 ms for stray input: each request of a client costs a new TCP connection and a new TLS
handshake, which was most of the CPU of a small request (and of a small-file upload) on the
emulator. This handler keeps the connection open when the client speaks HTTP/1.1 and does not
ask to close it, and reads whatever the application left of the request body, so the next
request on the connection starts where it should. Parsing stays http.server's and werkzeug's;
only the framing around the application changes.
"""

from __future__ import annotations

import socket
from typing import IO, Any, Callable, cast

from werkzeug.serving import WSGIRequestHandler
from werkzeug.wsgi import LimitedStream

# An application that leaves more than this unread closes the connection rather than reading
# it all (a refused 4 MiB upload, say): the client then sees the answer and a closed socket.
MAX_UNREAD_BODY = 1 << 20

_NO_BODY_STATUSES = {204, 304}


class KeepAliveHandler(WSGIRequestHandler):
    """A WSGIRequestHandler whose connections persist (HTTP/1.1), one request after another."""

    protocol_version = "HTTP/1.1"

    def make_environ(self) -> dict[str, Any]:
        environ = super().make_environ()
        if not environ.get("wsgi.input_terminated"):
            # Bound the body ourselves, so what the application left unread is known afterwards.
            length = environ.get("CONTENT_LENGTH", "")
            environ["wsgi.input"] = LimitedStream(cast(IO[bytes], self.rfile), int(length) if length.isdigit() else 0)
            environ["wsgi.input_terminated"] = True
        return environ

    def run_wsgi(self) -> None:
        # No 100 Continue here (werkzeug's handler sends one): http.server's parse_request has
        # answered an HTTP/1.1 client's "Expect: 100-continue" already, and an HTTP/1.0 client
        # must get none. Connection is read from the environ: one header look-up fewer.
        self.environ = environ = self.make_environ()
        if self.request_version != "HTTP/1.1" or "close" in environ.get("HTTP_CONNECTION", "").lower():
            self.close_connection = True
        response = _Response(self)
        try:
            body = self.server.app(environ, response.start)
            try:
                for data in body:
                    response.write(data)
                response.finish()
            finally:
                if hasattr(body, "close"):
                    body.close()
        except (ConnectionError, socket.timeout) as error:
            self.close_connection = True
            self.connection_dropped(error, environ)
            return
        except Exception:  # noqa: BLE001 - a bug in one request ends its connection, not the server
            self.close_connection = True
            if response.started:  # half a response went out: only closing the connection is left
                self.server.log("error", "Error while sending a response to %s", self.path.split("?", 1)[0])
                return
            self.server.log("error", "Error on request %s %s", self.command, self.path.split("?", 1)[0])
            self.send_response(500, "Internal Server Error")
            self.send_header("Content-Length", "0")
            self.send_header("Connection", "close")
            self.end_headers()
            return
        self._drain(environ["wsgi.input"])

    def _drain(self, stream: Any) -> None:
        """Read what the application left of the body, or give up on the connection."""
        if isinstance(stream, LimitedStream):
            if stream.limit - stream.tell() > MAX_UNREAD_BODY:
                self.close_connection = True
                return
            stream.exhaust()
        else:  # chunked request body (werkzeug's DechunkedInput): unknown length, do not guess
            self.close_connection = True


class _Response:
    """The WSGI ``start_response``/``write`` pair of one request, framing the body."""

    def __init__(self, handler: KeepAliveHandler):
        self._handler = handler
        self._status: str | None = None
        self._headers: list[tuple[str, str]] = []
        self.started = False
        self._chunked = False
        self._declared: int | None = None  # Content-Length, when the application gave one
        self._sent = 0

    def start(self, status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
        if exc_info:
            try:
                if self.started:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self._status is not None:
            raise AssertionError("Headers already set")
        self._status, self._headers = status, list(headers)
        return self.write

    def _send_head(self, first: bytes) -> None:
        handler = self._handler
        assert self._status is not None, "write() before start_response"
        code_text, _, message = self._status.partition(" ")
        code = int(code_text)
        handler.log_request(code)
        handler.send_response_only(code, message)
        names = set()
        lines = handler._headers_buffer
        for name, value in self._headers:
            lower = name.lower()
            names.add(lower)
            if lower == "connection":  # http.server's send_header reads it (close, keep-alive)
                handler.send_header(name, value)
                continue
            lines.append(f"{name}: {value}\r\n".encode("latin-1", "strict"))  # as send_header writes it
            if lower == "content-length" and value.strip().isdigit():
                self._declared = int(value)
        # http.server's own Server and Date, unless the application sent its own (Azure Files'
        # answers carry one of each, as the service's do)
        if "server" not in names:
            handler.send_header("Server", handler.version_string())
        if "date" not in names:
            handler.send_header("Date", handler.date_time_string())
        has_body = handler.command != "HEAD" and code >= 200 and code not in _NO_BODY_STATUSES
        if has_body and "content-length" not in names:
            if handler.request_version == "HTTP/1.1":
                self._chunked = True
                handler.send_header("Transfer-Encoding", "chunked")
            else:
                handler.close_connection = True
        if handler.close_connection:
            handler.send_header("Connection", "close")
        # Headers and the first piece of the body in one write: one TLS record, one segment.
        handler._headers_buffer.append(b"\r\n")
        handler._headers_buffer.append(self._frame(first))
        handler.flush_headers()
        self.started = True

    def _frame(self, data: bytes) -> bytes:
        if self._chunked and data:
            return b"%x\r\n%s\r\n" % (len(data), data)
        return data

    def write(self, data: bytes) -> None:
        assert isinstance(data, bytes), "applications must write bytes"
        self._sent += len(data)
        if not self.started:
            self._send_head(data)
        elif data:
            self._handler.wfile.write(self._frame(data))

    def finish(self) -> None:
        if not self.started:
            self._send_head(b"")
        if self._chunked:
            self._handler.wfile.write(b"0\r\n\r\n")
        elif self._declared is not None and self._handler.command != "HEAD" and self._sent != self._declared:
            # A body shorter (a file truncated while read) or longer than announced: only closing
            # tells the client, which would otherwise wait for the missing bytes.
            self._handler.close_connection = True

