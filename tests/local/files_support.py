"""Fixtures and helpers for the Azure Files emulator tests (imported by tests/local/test_files_*).

The real ``azure.storage.file.FileService`` talks to ``FilesService`` over real HTTPS.
Kept out of conftest.py so it cannot collide with other suites' fixtures.
"""

from __future__ import annotations

import email.utils
import http.client
import ssl
from pathlib import Path
from urllib.parse import urlencode

import attrs
import pytest
import requests
from azure.common import AzureHttpError
from azure.storage.common._auth import _StorageSharedKeyAuthentication
from azure.storage.common._http import HTTPRequest
from azure.storage.common.retry import no_retry
from azure.storage.file import FileService

from batchai_kit.local._server import RunningServer, serve_https
from batchai_kit.local._tls import CertificatePair, generate_self_signed
from batchai_kit.local.files import FilesService, generate_account_key

ACCOUNT = "batchaikitlocal"
SHARE = "data"


@attrs.frozen
class RawResponse:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    @property
    def error_code(self) -> str | None:
        return self.headers.get("x-ms-error-code")


@attrs.define
class FilesEmulator:
    service: FilesService
    server: RunningServer
    key: str = attrs.field(repr=False)
    certificate: CertificatePair

    @property
    def endpoint(self) -> str:
        return f"{self.server.base_url}/{ACCOUNT}"

    def session(self) -> requests.Session:
        session = requests.Session()
        session.trust_env = False
        session.verify = str(self.certificate.cert_path)
        return session

    def client(self, key: str | None = None, sas_token: str | None = None) -> FileService:
        credential = (f"SharedAccessSignature={sas_token}" if sas_token is not None
                      else f"AccountKey={key or self.key}")
        connection_string = (f"DefaultEndpointsProtocol=https;AccountName={ACCOUNT};{credential};"
                             f"FileEndpoint={self.endpoint};")
        client = FileService(connection_string=connection_string, request_session=self.session())
        client.retry = no_retry  # fail fast: the SDK would otherwise back off 15 s on errors
        return client

    def raw(self, method: str, path: str, query: dict | None = None, headers: dict | None = None,
            body: bytes = b"", sign: bool = True) -> RawResponse:
        """Send *path* exactly as given (no client-side normalisation), SharedKey-signed."""
        headers = {"x-ms-version": "2019-02-02",
                   "x-ms-date": email.utils.formatdate(usegmt=True), **(headers or {})}
        if body:
            headers["Content-Length"] = str(len(body))
        if sign:
            request = HTTPRequest()
            request.method, request.path, request.query = method, path, dict(query or {})
            request.headers = headers
            _StorageSharedKeyAuthentication(ACCOUNT, self.key).sign_request(request)
        context = ssl.create_default_context(cafile=str(self.certificate.cert_path))
        connection = http.client.HTTPSConnection(self.server.host, self.server.port, context=context)
        try:
            target = path + (f"?{urlencode(query)}" if query else "")
            connection.request(method, target, body=body or None, headers=headers)
            response = connection.getresponse()
            return RawResponse(response.status, response.headers, response.read())
        finally:
            connection.close()


class _SwitchableApp:
    """One HTTPS server for the whole session; each test plugs in a fresh FilesService
    (stopping a werkzeug server costs half a second, starting a service nothing)."""

    def __init__(self):
        self.app = None

    def __call__(self, environ, start_response):
        return self.app(environ, start_response)


@pytest.fixture(scope="session")
def files_certificate(tmp_path_factory) -> CertificatePair:
    return generate_self_signed(tmp_path_factory.mktemp("files-tls"))


@pytest.fixture(scope="session")
def files_server(files_certificate):
    switch = _SwitchableApp()
    server = serve_https(switch, files_certificate)
    yield switch, server
    server.stop()


def start_emulator(root: Path, files_server, certificate: CertificatePair, clock=None) -> FilesEmulator:
    switch, server = files_server
    key = generate_account_key()
    service = FilesService(root, ACCOUNT, key, **({"clock": clock} if clock else {}))
    switch.app = service
    return FilesEmulator(service, server, key, certificate)


@pytest.fixture
def files_emulator(tmp_path, files_server, files_certificate) -> FilesEmulator:
    return start_emulator(tmp_path / "files-root", files_server, files_certificate)


@pytest.fixture
def file_service(files_emulator) -> FileService:
    return files_emulator.client()


@pytest.fixture
def share(file_service) -> str:
    file_service.create_share(SHARE, fail_on_exist=True)
    return SHARE


def azure_error(call, *args, **kwargs) -> AzureHttpError:
    """Run an SDK call that must fail; return the AzureHttpError it raised."""
    with pytest.raises(AzureHttpError) as caught:
        call(*args, **kwargs)
    return caught.value
