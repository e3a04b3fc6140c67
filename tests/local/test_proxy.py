"""The emulator's HTTPS proxy for Azure's own host names (batchai_kit/local/_proxy.py)."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import requests
from azure.storage.file import FileService

from batchai_kit.local._proxy import proxied_hosts


def proxied_session(info) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # the test's own settings only
    session.proxies = {"https": info.proxy_url}
    session.verify = str(info.ca_cert)
    return session


def raw_request(info, head: bytes) -> bytes:
    parts = urlsplit(info.proxy_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(head)
        return sock.recv(4096)


def test_arm_answers_at_management_azure_com_through_the_proxy(emulator_factory):
    info = emulator_factory(proxy=True).info
    response = proxied_session(info).get(
        f"https://management.azure.com/subscriptions/{info.subscription_id}/resourcegroups",
        params={"api-version": "2017-05-10"}, headers={"Authorization": f"Bearer {info.token}"}, timeout=30)
    assert response.status_code == 200 and response.json() == {"value": []}


def test_a_file_service_built_from_account_and_key_reaches_the_emulators_share(emulator_factory):
    emu = emulator_factory(proxy=True)
    info = emu.info
    service = FileService(info.storage_account, info.storage_key, request_session=proxied_session(info))
    service.create_share("seedshare")
    service.create_directory("seedshare", "dir")
    service.create_file_from_text("seedshare", "dir", "a.txt", "hello")
    assert emu.file_service().get_file_to_text("seedshare", "dir", "a.txt").content == "hello"


def test_other_hosts_are_refused_and_nothing_leaves_the_machine(emulator_factory):
    info = emulator_factory(proxy=True).info
    answer = raw_request(info, b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 403 ")
    answer = raw_request(info, b"CONNECT management.azure.com:80 HTTP/1.1\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 403 ")


def test_plain_http_requests_are_not_proxied(emulator_factory):
    info = emulator_factory(proxy=True).info
    answer = raw_request(info, b"GET http://management.azure.com/ HTTP/1.1\r\nHost: management.azure.com\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 405 ")


def test_without_the_proxy_the_certificate_names_no_azure_host(emulator_factory):
    from cryptography import x509

    emu = emulator_factory()
    assert emu.info.proxy_url == ""
    certificate = x509.load_pem_x509_certificate(emu.info.ca_cert.read_bytes())
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert not set(proxied_hosts(emu.info.storage_account)) & set(names.get_values_for_type(x509.DNSName))
