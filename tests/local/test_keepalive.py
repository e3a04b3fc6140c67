"""The emulator's HTTPS server keeps HTTP/1.1 connections open between requests, and frames
every response so the next request on the connection starts where it should."""

from __future__ import annotations

import http.client
import socket
import ssl

import pytest

from batchai_kit.local._server import serve_https
from batchai_kit.local._tls import generate_self_signed


def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/echo":
        body = environ["wsgi.input"].read()
        start_response("200 OK", [("Content-Length", str(len(body)))])
        return [body]
    if path == "/ignore-body":  # answers without reading what was sent
        start_response("201 Created", [("Content-Length", "2")])
        return [b"ok"]
    if path == "/chunked":  # no Content-Length: the server must frame it
        start_response("200 OK", [])
        return [b"one,", b"two,", b"three"]
    if path == "/short":  # promises 10 bytes, sends 4 (a file truncated while read)
        start_response("200 OK", [("Content-Length", "10")])
        return [b"four"]
    if path == "/boom":
        raise RuntimeError("a bug in the application")
    start_response("200 OK", [("Content-Length", "5")])
    return [b"hello"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    certificate = generate_self_signed(tmp_path_factory.mktemp("tls"))
    running = serve_https(app, certificate)
    context = ssl.create_default_context(cafile=str(certificate.cert_path))
    yield running, context
    running.stop()


def connect(server) -> http.client.HTTPSConnection:
    running, context = server
    return http.client.HTTPSConnection(running.host, running.port, context=context, timeout=10)


def ask(connection: http.client.HTTPSConnection, method: str, path: str, body: bytes | None = None,
        headers: dict | None = None) -> tuple[int, bytes, http.client.HTTPResponse]:
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    return response.status, response.read(), response


def test_requests_share_one_connection(server):
    connection = connect(server)
    assert ask(connection, "GET", "/")[:2] == (200, b"hello")
    first = connection.sock
    assert ask(connection, "POST", "/echo", b"payload")[:2] == (200, b"payload")
    assert ask(connection, "GET", "/")[:2] == (200, b"hello")
    assert connection.sock is first
    connection.close()


def test_an_unread_request_body_does_not_spill_into_the_next_request(server):
    connection = connect(server)
    assert ask(connection, "PUT", "/ignore-body", b"x" * 100_000)[:2] == (201, b"ok")
    first = connection.sock
    assert ask(connection, "GET", "/")[:2] == (200, b"hello")
    assert connection.sock is first
    connection.close()


def test_a_response_without_length_is_chunked_and_the_connection_stays(server):
    connection = connect(server)
    status, body, response = ask(connection, "GET", "/chunked")
    assert (status, body) == (200, b"one,two,three")
    assert response.getheader("Transfer-Encoding") == "chunked"
    first = connection.sock
    assert ask(connection, "GET", "/")[:2] == (200, b"hello")
    assert connection.sock is first
    connection.close()


def test_a_client_asking_to_close_gets_its_connection_closed(server):
    connection = connect(server)
    status, _, response = ask(connection, "GET", "/", headers={"Connection": "close"})
    assert status == 200 and response.getheader("Connection") == "close"
    assert connection.sock is None  # http.client closed it, as the server said it would
    connection.close()


def test_a_body_shorter_than_announced_ends_the_connection_instead_of_hanging(server):
    connection = connect(server)
    connection.request("GET", "/short")
    response = connection.getresponse()
    with pytest.raises(http.client.IncompleteRead):
        response.read()
    connection.close()


def test_an_application_error_is_a_500_and_closes_the_connection(server):
    connection = connect(server)
    status, _, response = ask(connection, "GET", "/boom")
    assert status == 500 and response.getheader("Connection") == "close"
    connection.close()


def test_a_client_expecting_100_continue_gets_one_interim_answer_then_the_answer(server):
    running, context = server
    raw = context.wrap_socket(socket.create_connection((running.host, running.port), timeout=10),
                              server_hostname=running.host)
    with raw:
        raw.sendall(b"PUT /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
        interim = b""
        while not interim.endswith(b"\r\n\r\n"):
            interim += raw.recv(1)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        raw.sendall(b"body")
        answer = b""
        while not answer.endswith(b"body"):
            answer += raw.recv(4096)
    assert answer.startswith(b"HTTP/1.1 200 ") and b"100 Continue" not in answer
