"""The HTTP layer under azure-storage-file's ``FileService``: urllib3, without requests.

The SDK builds, signs and retries every request itself and hands the finished request to its
``_httpclient``, which by default sends it through a ``requests.Session``. For a 10 KB file that
Session was a third of the client's CPU (merging settings, preparing the request, adapters, the
response wrapper), and a small file costs two requests (Create File, Put Range). This client sends
the same request — same method, URL, headers and body; requests' ``Connection: keep-alive`` too —
through a urllib3 connection pool with persistent connections, and hands the SDK the same
``HTTPResponse`` it would have made from requests' answer. Everything above it is unchanged:
signing, the library's retry policy (``FileService.retry``), the SDK's errors and so the
library's typed errors, progress callbacks.

It is used where requests would ignore the environment anyway (a session with ``trust_env``
off, as the library makes for the emulator and for a custom CA), and for Azure when no proxy
applies to the endpoint; behind a proxy the SDK keeps its requests Session.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlencode, urlsplit

_POOL_SIZE = 16  # a FileService sends a big file's ranges on up to max_connections threads


class Urllib3StorageClient:
    """A drop-in for ``azure.storage.common._http.httpclient._HTTPClient``."""

    def __init__(self, protocol: str, host: str, *, verify: bool | str, timeout: Any, session: Any = None):
        import urllib3

        self.protocol = protocol
        # The requests Session this client stands in for, for code that reads ``FileService.request_session``
        # (it sends nothing).
        self.session = session
        self.timeout = timeout
        self.proxies = None
        self._pools: dict[tuple[str, str], Any] = {}
        self._urllib3 = urllib3
        self._verify = verify
        self._through_proxy: Any = None  # the SDK's requests client, once set_proxy asked for one
        self._pool(host)  # the account's host, made now: it is the only one a FileService talks to

    def _pool(self, host: str) -> Any:
        scheme = self.protocol.lower()
        pool = self._pools.get((scheme, host))
        if pool is None:
            urllib3 = self._urllib3
            name, _, port = host.rpartition(":") if host.rsplit(":", 1)[-1].isdigit() else (host, "", "")
            options: dict[str, Any] = {"maxsize": _POOL_SIZE, "block": False, "retries": False}
            if scheme == "https":
                pool_class = urllib3.HTTPSConnectionPool
                if self._verify is False:
                    options["cert_reqs"] = "CERT_NONE"
                else:
                    options["cert_reqs"] = "CERT_REQUIRED"
                    options["ca_certs"] = self._verify if isinstance(self._verify, str) else _default_ca_bundle()
            else:
                pool_class = urllib3.HTTPConnectionPool
            number = int(port) if port else urllib3.connectionpool.port_by_scheme[scheme]
            pool = self._pools[(scheme, host)] = pool_class(name.strip("[]"), number, **options)
        return pool

    def set_proxy(self, host: str, port: int, user: str | None, password: str | None) -> None:
        """``FileService.set_proxy``: from now on the SDK's own requests client sends, through
        the proxy, as it would have without this client."""
        import requests
        from azure.storage.common._http.httpclient import _HTTPClient

        session = self.session
        if session is None:
            session = requests.Session()
            if self._verify is not True:
                session.trust_env, session.verify = False, self._verify
        client = _HTTPClient(protocol=self.protocol, session=session, timeout=self.timeout)
        client.set_proxy(host, port, user, password)
        self.proxies = client.proxies
        self._through_proxy = client

    def perform_request(self, request: Any) -> Any:
        """Send the SDK's ``HTTPRequest``; return its ``HTTPResponse`` (any status: the SDK
        decides what an error is)."""
        from azure.storage.common._http import HTTPResponse
        from azure.storage.common._serialization import _get_data_bytes_or_stream_only
        from requests.utils import requote_uri

        if self._through_proxy is not None:
            self._through_proxy.protocol, self._through_proxy.timeout = self.protocol, self.timeout
            return self._through_proxy.perform_request(request)
        body = request.body or None
        if body is not None:
            body = _get_data_bytes_or_stream_only("request.body", body)
        query = urlencode([(name, value) for name, value in request.query.items() if value is not None])
        # what requests' PreparedRequest makes of the SDK's already quoted path and its parameters
        target = requote_uri(f"{request.path}?{query}" if query else request.path)
        # requests leaves out the headers the SDK set to None (x-ms-share-quota of a share without one...)
        headers = {"Connection": "keep-alive"}
        headers.update((name, value) for name, value in request.headers.items() if value is not None)
        if body is None and request.method not in ("GET", "HEAD") and \
                not any(name.lower() == "content-length" for name in headers):
            headers["Content-Length"] = "0"  # as requests sends a PUT without a body
        timeout = self.timeout
        connect, read = timeout if isinstance(timeout, tuple) else (timeout, timeout)
        response = self._pool(request.host).urlopen(
            request.method, target, body=body, headers=headers, redirect=False, assert_same_host=False,
            timeout=self._urllib3.Timeout(connect=connect, read=read), preload_content=True,
        )
        answer = response.headers
        # as the SDK's requests client: names lower-cased but for metadata, repeated headers joined
        response_headers = {
            (name if name.lower().startswith("x-ms-meta-") else name.lower()): answer[name] for name in answer
        }
        return HTTPResponse(response.status, response.reason, response_headers, response.data)


def _default_ca_bundle() -> str:
    """What requests trusts when the environment is honoured: REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE,
    else requests' own (certifi's) bundle."""
    from requests.utils import DEFAULT_CA_BUNDLE_PATH

    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or DEFAULT_CA_BUNDLE_PATH


def use_urllib3(service: Any, endpoint: str, verify: bool | str, session: Any) -> None:
    """Give ``service`` (a FileService) the urllib3 client, unless ``session`` (the requests Session
    it was made with, None for requests' defaults) would send through a proxy."""
    if session is None or session.trust_env:
        from requests.utils import get_environ_proxies

        if get_environ_proxies(endpoint):
            return
    current = service._httpclient
    host = urlsplit(endpoint).netloc
    service._httpclient = Urllib3StorageClient(current.protocol, host, verify=verify, timeout=current.timeout,
                                               session=current.session)


def get_small_file(files: Any, share: str, directory: str | None, name: str) -> bytes | None:
    """The content of a file in the one GET that ``FileService.get_file_to_path`` starts with
    (a range of ``MAX_SINGLE_GET_SIZE`` bytes from 0; without a range for an empty file, which
    answers that range with 416), or None when the file turns out bigger than that range.

    The same request through the same ``_perform_request`` (signing, retries, errors), but the
    answer is not turned into the SDK's ``File``: parsing its four dates with dateutil cost a
    quarter of the client's CPU per small file downloaded.
    """
    from azure.common import AzureHttpError
    from azure.storage.common._http import HTTPRequest
    from azure.storage.common.models import _OperationContext
    from azure.storage.file._serialization import _get_path

    context = _OperationContext(location_lock=True)  # as the SDK's: every retry to the same location

    def get(last_byte: int | None) -> Any:
        request = HTTPRequest()
        request.method = "GET"
        request.host_locations = files._get_host_locations()
        request.path = _get_path(share, directory, name)
        request.query = {"timeout": None, "sharesnapshot": None}
        if last_byte is not None:
            request.headers = {"x-ms-range": f"bytes=0-{last_byte}"}
        return files._perform_request(request, lambda response: response, operation_context=context)

    try:
        response = get(files.MAX_SINGLE_GET_SIZE - 1)
    except AzureHttpError as error:
        if error.status_code != 416:
            raise
        return bytes(get(None).body or b"")
    body = bytes(response.body or b"")
    content_range = response.headers.get("content-range")
    if content_range and int(content_range.rsplit("/", 1)[1]) > len(body):
        return None
    return body
