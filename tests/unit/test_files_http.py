"""The urllib3 client under FileService sends what the SDK's requests client sends, and hands the
SDK the same answers (batchai_kit/_files_http.py)."""

from __future__ import annotations

import http.server
import threading
from typing import ClassVar

import pytest
from azure.storage.file import FileService
from azure.storage.file.models import ContentSettings

from batchai_kit._files_http import Urllib3StorageClient, use_urllib3

ACCOUNT, KEY = "wirecheck", "a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U="
# Values that differ between any two requests (clock, fresh ids) and the signature over them.
VARYING = {"x-ms-date", "x-ms-client-request-id", "authorization", "x-ms-file-creation-time",
           "x-ms-file-last-write-time"}


class _Capture(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: ClassVar[list[tuple[str, str, list[tuple[str, str]], bytes]]] = []

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.seen.append((self.command, self.path, list(self.headers.items()), body))
        if self.command == "GET":
            content = b"0123456789"
            self.send_response(206)
            self.send_header("Content-Length", str(len(content)))
            self.send_header("Content-Range", f"bytes 0-9/{len(content)}")
            self.send_header("x-ms-meta-CaseKept", "yes")
            self.send_header("ETag", '"0x1"')
            self.end_headers()
            self.wfile.write(content)
            return
        self.send_response(201)
        self.send_header("Content-Length", "0")
        self.send_header("ETag", '"0x1"')
        self.end_headers()

    do_GET = do_PUT = do_HEAD = _answer

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Capture)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    _Capture.seen = []
    yield f"http://127.0.0.1:{httpd.server_address[1]}/{ACCOUNT}"
    httpd.shutdown()
    httpd.server_close()


def _service(endpoint: str, lean: bool) -> FileService:
    import requests

    session = requests.Session()
    session.trust_env = False
    connection_string = (f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};"
                         f"FileEndpoint={endpoint};")
    service = FileService(connection_string=connection_string, request_session=session)
    if lean:
        use_urllib3(service, endpoint, False, session)
        assert isinstance(service._httpclient, Urllib3StorageClient)
    return service


def _exercise(service: FileService) -> list:
    answers = []
    service.response_callback = lambda response: answers.append(
        (response.status, response.message, response.headers, response.body))
    service.create_share("wire", metadata={"maker": "me"}, fail_on_exist=False)
    service.create_file("wire", "dir name", "a+b.txt", 10,
                        content_settings=ContentSettings(content_md5="eB5eJF1ptWaXm4bijSPyxw=="))
    service.update_range("wire", "dir name", "a+b.txt", b"0123456789", 0, 9)
    data = service.get_file_to_bytes("wire", "dir name", "a+b.txt")
    return [answers, data.content, data.metadata]


def _comparable(seen):
    return [(method, path, sorted((name.lower(), "*" if name.lower() in VARYING else value)
                                  for name, value in headers), body)
            for method, path, headers, body in seen]


def test_the_lean_client_sends_the_requests_the_sdk_sends_through_requests(server):
    _exercise(_service(server, lean=False))
    by_requests = _comparable(_Capture.seen)
    _Capture.seen = []
    _exercise(_service(server, lean=True))
    assert _comparable(_Capture.seen) == by_requests
    assert [request[0] for request in by_requests] == ["PUT", "PUT", "PUT", "GET"]
    assert by_requests[1][1] == f"/{ACCOUNT}/wire/dir%20name/a%2Bb.txt"


def test_the_lean_client_hands_the_sdk_the_answers_requests_would(server):
    by_requests = _exercise(_service(server, lean=False))
    lean = _exercise(_service(server, lean=True))

    def stable(answers):
        return [(status, message, {k: v for k, v in headers.items() if k not in ("date", "server")}, body)
                for status, message, headers, body in answers]

    assert stable(lean[0]) == stable(by_requests[0])
    assert lean[1:] == by_requests[1:] == [b"0123456789", {"CaseKept": "yes"}]


def test_the_lean_client_keeps_its_connection_between_requests(server):
    service = _service(server, lean=True)
    for _ in range(3):
        service.create_directory("wire", "again", fail_on_exist=False)
    pool = next(iter(service._httpclient._pools.values()))
    assert pool.num_connections == 1
    assert pool.num_requests == 3


def test_a_proxy_in_the_environment_keeps_the_sdk_s_requests_session(server, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    service = FileService(account_name=ACCOUNT, account_key=KEY)
    before = service._httpclient
    use_urllib3(service, f"https://{ACCOUNT}.file.core.windows.net", True, None)
    assert service._httpclient is before


def test_without_a_proxy_the_lean_client_trusts_what_requests_would(monkeypatch, tmp_path):
    bundle = tmp_path / "ca.pem"
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    service = FileService(account_name=ACCOUNT, account_key=KEY)
    use_urllib3(service, f"https://{ACCOUNT}.file.core.windows.net", True, None)
    pool = next(iter(service._httpclient._pools.values()))
    assert (pool.host, pool.port, pool.ca_certs, pool.cert_reqs) == (
        f"{ACCOUNT}.file.core.windows.net", 443, str(bundle), "CERT_REQUIRED")


def test_a_proxy_set_on_the_file_service_sends_through_the_sdk_s_requests_client(server):
    service = _service(server, lean=True)
    service.set_proxy("127.0.0.1", int(server.split(":")[2].split("/")[0]), None, None)
    assert service._httpclient.proxies == {"http": f"http://127.0.0.1:{server.split(':')[2].split('/')[0]}",
                                           "https": f"https://127.0.0.1:{server.split(':')[2].split('/')[0]}"}
    service.create_directory("wire", "proxied", fail_on_exist=False)
    # a proxy is asked for the absolute URL: the capture server saw requests' proxied request line
    assert _Capture.seen[-1][1] == f"{server}/wire/proxied?restype=directory"
