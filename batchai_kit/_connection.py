"""``Azure``: where Azure is, with which credentials, and the SDK clients built from that.

    azure = Azure.from_env()                      # AZURE_* environment variables
    azure = Azure.from_config("configuration.json")   # the Batch AI recipes' configuration file
    azure = Azure.from_ready_file(path)           # attach to a running emulator
    client = azure.batchai()                      # azure.mgmt.batchai.BatchAI
    rg = azure.resources()                        # ResourceManagementClient
    files = azure.file_service()                  # azure.storage.file.FileService

No secret (client secret, storage key, admin password, token) appears in a repr, a str, a log
line or an error message.

``Azure.local()`` starts the embedded emulator in this process (stopped at exit) and returns
an ``Azure`` for it, built the same way as ``from_ready_file``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import json
import logging
import os
import re
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping
from urllib.parse import urlsplit

import attrs

if TYPE_CHECKING:  # pragma: no cover - the SDKs load with the first client, not with batchai_kit
    import requests
    from azure.core.credentials import AccessToken, TokenCredential
    from azure.mgmt.batchai import BatchAI
    from azure.mgmt.resource.resources import ResourceManagementClient
    from azure.storage.file import FileService

from . import _names
from ._waiter import (
    DEFAULT_RETRY_BUDGET,
    DEFAULT_SDK_POLLING_INTERVAL,
    TransientRetry,
    Waiter,
    arm_retry_policy,
    file_service_retry,
    is_playback,
    retry_for,
    sdk_polling_interval,
    sliced_sleep,
)
from .errors import ValidationError, register_secret

log = logging.getLogger(__name__)

PUBLIC_ARM_ENDPOINT = "https://management.azure.com"

# ARM endpoints of the national clouds and the token scope each expects (as azure-mgmt-core's
# get_arm_endpoints knows them). Any other endpoint (Azure Stack, the emulator) gets
# "<endpoint>/.default".
_KNOWN_ARM_SCOPES = {
    "management.azure.com": "https://management.azure.com/.default",
    "management.chinacloudapi.cn": "https://management.chinacloudapi.cn/.default",
    "management.usgovcloudapi.net": "https://management.core.usgovcloudapi.net/.default",
}


def arm_credential_scopes(arm_endpoint: str) -> list[str]:
    """The token scopes for the ARM endpoint ``arm_endpoint``."""
    parts = urlsplit(arm_endpoint)
    host = (parts.hostname or "").lower()
    if host in _KNOWN_ARM_SCOPES:
        return [_KNOWN_ARM_SCOPES[host]]
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    return [f"{parts.scheme}://{netloc}/.default"]


class StaticTokenCredential:
    """An azure-core ``TokenCredential`` that always returns one given bearer token (the
    emulator's). The token never appears in its repr."""

    def __init__(self, token: str, *, lifetime_s: int = 3600):
        if not token or not isinstance(token, str):
            raise ValidationError("token", token, "must be a non-empty bearer token", secret=True)
        register_secret(token)
        self._token = token
        self._lifetime_s = lifetime_s

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        """The token, whatever the scopes (azure-core's ``TokenCredential`` protocol)."""
        from azure.core.credentials import AccessToken

        # A static token does not expire; a fresh expiry keeps azure-core from refreshing early.
        return AccessToken(self._token, int(time.time()) + self._lifetime_s)

    def close(self) -> None:
        """Nothing to release (the ``TokenCredential`` protocol asks for it)."""

    def __repr__(self) -> str:
        return "StaticTokenCredential(token=<redacted>)"


@attrs.frozen
class AdminUser:
    """The administrator account of cluster and file server nodes (Batch AI's
    ``UserAccountSettings``): a name and a password or an SSH public key, or both."""

    name: str
    password: str | None = attrs.field(default=None, repr=False)
    ssh_public_key: str | None = attrs.field(default=None, validator=_names.validator(
        lambda value: _names.check_ssh_public_key(value, field="admin ssh_public_key")))

    def __attrs_post_init__(self) -> None:
        if not self.name:
            raise ValidationError("admin user name", self.name, "must not be empty")
        if not self.password and not self.ssh_public_key:
            raise ValidationError("admin user", self.name, "needs a password or an SSH public key (or both)")
        register_secret(self.password)


def _ready_file_credential(ready: Mapping[str, Any], value: Any) -> Any:
    """The ready file's token while it is valid; then, where the ready file names the emulator's
    service principal, a sign-in with it (the token lasts a week, an emulator may run longer)."""
    token = value("token")
    principal = ("authority", "tenant_id", "client_id", "client_secret")
    if not all(ready.get(name) for name in principal):
        return StaticTokenCredential(token)
    return _EmulatorCredential(token, {name: value(name) for name in (*principal, "ca_cert")})


class _EmulatorCredential:
    """An azure-core ``TokenCredential`` for an emulator attached through its ready file: the
    file's token (a JWT) until five minutes before it expires, no request needed; then
    azure-identity's ``ClientSecretCredential`` at the emulator's own authority."""

    def __init__(self, token: str, principal: dict[str, str]):
        self._token = token
        self._expires_on = _jwt_expiry(token)
        self._principal = principal
        self._signed_in: Any = None

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        if self._expires_on is not None and self._expires_on - time.time() > 300:
            return AccessToken(self._token, self._expires_on)
        if self._signed_in is None:
            from azure.identity import ClientSecretCredential

            p = self._principal
            # MSAL would ask login.microsoftonline.com whether the emulator is a genuine authority
            self._signed_in = ClientSecretCredential(p["tenant_id"], p["client_id"], p["client_secret"],
                                                     authority=p["authority"], disable_instance_discovery=True,
                                                     connection_verify=p["ca_cert"])
        return self._signed_in.get_token(*scopes, **kwargs)

    def close(self) -> None:
        if self._signed_in is not None:
            self._signed_in.close()

    def __repr__(self) -> str:
        return "_EmulatorCredential(token=<redacted>)"


def _jwt_expiry(token: str) -> int | None:
    """The ``exp`` claim of a JWT, unverified (the emulator checks it); None for another token."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return int(claims["exp"])
    except (IndexError, ValueError, KeyError, TypeError):
        return None


def _credential_repr(credential: object) -> str:
    # Only the type: a credential's own repr is not ours to trust with secrets.
    return type(credential).__name__


def _check_https_url(field: str, value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname:
        raise ValidationError(
            field, value, "must be an https:// URL (azure-core refuses to send bearer tokens over http)"
        )
    return value


def _check_storage_key(value: str) -> None:
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError(
            "storage_key",
            value,
            "must be the base64 account key shown under the storage account's Access keys",
            secret=True,
        ) from None


@attrs.frozen
class Azure:
    """Where Azure is and how to talk to it; builds the SDK clients.

    ``credential`` is an azure-core ``TokenCredential``. ``connection_verify`` (True, False or a
    CA bundle path) and ``ca_cert`` (a CA certificate to trust, e.g. the emulator's) decide TLS
    verification: ``connection_verify=False`` turns it off, otherwise ``ca_cert`` wins when set.
    ``files_endpoint`` defaults to ``https://{storage_account}.file.core.windows.net``.
    """

    credential: TokenCredential = attrs.field(repr=_credential_repr)
    subscription_id: str = attrs.field(validator=_names.validator(_names.check_subscription_id))
    arm_endpoint: str = attrs.field(default=PUBLIC_ARM_ENDPOINT)
    connection_verify: bool | str = True
    storage_account: str | None = attrs.field(
        default=None, validator=_names.validator(_names.check_storage_account_name)
    )
    storage_key: str | None = attrs.field(default=None, repr=False)
    files_endpoint: str | None = None
    ca_cert: str | None = None
    # An Azure region; a display name ("East US") becomes ARM's form ("eastus").
    location: str | None = attrs.field(default=None, converter=attrs.converters.optional(_names.check_location))
    admin: AdminUser | None = None
    credential_scopes: tuple[str, ...] | None = attrs.field(
        default=None, converter=attrs.converters.optional(tuple)
    )
    # How often to poll long-running operations, in seconds: None is the real service's pace.
    poll_interval: float | None = attrs.field(default=None, validator=_names.validator(
        lambda value: _names.check_seconds(value, field="poll_interval")))
    # How long one request keeps retrying transient failures when no operation deadline encloses
    # it (an operation's own deadline, e.g. a wait's timeout, wins when there is one), seconds.
    retry_budget: float = attrs.field(default=DEFAULT_RETRY_BUDGET, validator=_names.validator(
        lambda value: _names.check_seconds(value, field="retry_budget")))
    # What keeps an in-process emulator alive (Azure.local()); never compared or shown.
    emulator: Any = attrs.field(default=None, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        if self.credential is None:
            raise ValidationError("credential", None, "an azure-core TokenCredential is required")
        _check_https_url("arm_endpoint", self.arm_endpoint)
        if bool(self.storage_account) != bool(self.storage_key):
            missing = "storage_key" if self.storage_account else "storage_account"
            raise ValidationError(
                missing, None, "storage_account and storage_key go together: give both or neither"
            )
        if self.storage_key:
            _check_storage_key(self.storage_key)
            register_secret(self.storage_key)
        if self.files_endpoint is not None:
            parts = urlsplit(self.files_endpoint)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValidationError("files_endpoint", self.files_endpoint, "must be an http(s):// URL")
        if self.ca_cert is not None and not Path(self.ca_cert).is_file():
            raise ValidationError("ca_cert", self.ca_cert, "must be an existing CA certificate file (PEM)")

    # --- constructors ----------------------------------------------------------------------

    @classmethod
    def from_credentials(
        cls,
        *,
        client_id: str,
        secret: str,
        subscription_id: str,
        tenant: str | None = None,
        token_uri: str | None = None,
        storage_account: str | None = None,
        storage_key: str | None = None,
        admin_user: str | None = None,
        admin_password: str | None = None,
        admin_ssh_public_key: str | None = None,
        location: str | None = None,
        arm_endpoint: str = PUBLIC_ARM_ENDPOINT,
    ) -> Azure:
        """A service principal (``client_id`` and ``secret``) of ``tenant``, or of the tenant named
        in ``token_uri`` (``https://login.microsoftonline.com/{tenant}/oauth2/token``, the older
        SDKs' form)."""
        from azure.identity import ClientSecretCredential

        if not client_id:
            raise ValidationError("client_id", client_id, "must be the service principal's application id")
        if not secret:
            raise ValidationError("secret", secret, "must be the service principal's secret", secret=True)
        register_secret(secret)
        authority: str | None = None
        if tenant is None and token_uri is None:
            raise ValidationError("tenant", None, "give the tenant (directory) id or the token_uri")
        if tenant is None:
            authority, tenant = _parse_token_uri(str(token_uri))
        _names.check_subscription_id(subscription_id)
        kwargs = {"authority": authority} if authority else {}
        credential = ClientSecretCredential(tenant, client_id, secret, **kwargs)
        return cls(
            credential,
            subscription_id,
            arm_endpoint=arm_endpoint,
            storage_account=storage_account,
            storage_key=storage_key,
            location=location,
            admin=_admin(admin_user, admin_password, admin_ssh_public_key),
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Azure:
        """From the environment: AZURE_SUBSCRIPTION_ID; a service principal from AZURE_CLIENT_ID,
        AZURE_CLIENT_SECRET and AZURE_TENANT_ID, or else azure-identity's DefaultAzureCredential
        (managed identity, `az login`...); AZURE_STORAGE_ACCOUNT and AZURE_STORAGE_KEY; optional
        BATCHAI_KIT_ADMIN_USER, BATCHAI_KIT_ADMIN_PASSWORD, BATCHAI_KIT_ADMIN_SSH_KEY (the key or a
        path to a .pub file) and BATCHAI_KIT_LOCATION."""
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            return env.get(name) or None  # empty counts as unset

        subscription = get("AZURE_SUBSCRIPTION_ID")
        if subscription is None:
            raise ValidationError(
                "AZURE_SUBSCRIPTION_ID", None, "is not set: export it (`az account show --query id -o tsv`)"
            )
        sp_names = ("AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_TENANT_ID")
        if get("AZURE_CLIENT_SECRET"):
            missing = [name for name in sp_names if not get(name)]
            if missing:
                raise ValidationError(
                    missing[0], None, "is not set: a service principal needs " + ", ".join(sp_names)
                )
            from azure.identity import ClientSecretCredential

            credential: Any = ClientSecretCredential(
                env["AZURE_TENANT_ID"], env["AZURE_CLIENT_ID"], env["AZURE_CLIENT_SECRET"]
            )
        else:
            from azure.identity import DefaultAzureCredential

            credential = DefaultAzureCredential()
        return cls(
            credential,
            subscription,
            storage_account=get("AZURE_STORAGE_ACCOUNT"),
            storage_key=get("AZURE_STORAGE_KEY"),
            location=get("BATCHAI_KIT_LOCATION"),
            admin=_admin(
                get("BATCHAI_KIT_ADMIN_USER"),
                get("BATCHAI_KIT_ADMIN_PASSWORD"),
                _ssh_key(get("BATCHAI_KIT_ADMIN_SSH_KEY")),
            ),
        )

    @classmethod
    def from_config(cls, path: str | os.PathLike[str]) -> Azure:
        """From a JSON file in the Batch AI recipes' format (configuration.json)::

            {"subscription_id": "...", "aad_client_id": "...", "aad_secret": "...",
             "aad_tenant": "<tenant id>",   (or "aad_token_uri":
                                            "https://login.microsoftonline.com/<tenant>/oauth2/token")
             "location": "eastus", "base_url": "https://management.azure.com" (optional),
             "storage_account": {"name": "...", "key": "..."},
             "admin_user": {"name": "...", "password": "...", "ssh_public_key": "..."}}

        ``storage_account`` and ``admin_user`` may be left out; other keys (``resource_group``,
        ``container_registry``...) are ignored.
        """
        source = Path(path)
        conf = _read_json(source, what="configuration file")
        storage = _optional_section(conf, "storage_account", source)
        admin = _optional_section(conf, "admin_user", source)
        tenant = conf.get("aad_tenant") or None
        token_uri = conf.get("aad_token_uri") or None
        if not tenant and not token_uri:
            raise ValidationError(
                "aad_tenant",
                None,
                f'missing from {source}: add "aad_tenant" (the directory id) or "aad_token_uri"',
            )
        with _naming_the_file(source):
            return cls.from_credentials(
                client_id=_config_value(conf, "aad_client_id", source),
                secret=_config_value(conf, "aad_secret", source),
                subscription_id=_config_value(conf, "subscription_id", source),
                tenant=tenant,
                token_uri=None if tenant else token_uri,
                storage_account=(
                    _config_value(storage, "name", source, "storage_account") if storage else None
                ),
                storage_key=_config_value(storage, "key", source, "storage_account") if storage else None,
                admin_user=_config_value(admin, "name", source, "admin_user") if admin else None,
                admin_password=admin.get("password") if admin else None,
                admin_ssh_public_key=admin.get("ssh_public_key") if admin else None,
                location=conf.get("location"),
                arm_endpoint=conf.get("base_url") or PUBLIC_ARM_ENDPOINT,
            )

    @classmethod
    def local(
        cls,
        data_dir: str | os.PathLike[str] | None = None,
        *,
        timings: Any = None,
        poll_interval: float = 0.1,
        location: str = "eastus",
        faults: Any = None,
    ) -> Azure:
        """The embedded emulator, started in this process and stopped at interpreter exit.

        Without ``data_dir`` its state lives in a temporary directory removed at exit. Clusters
        get a generated admin account (nothing listens for SSH locally). ``faults`` injects
        faults into its answers, e.g. ``"429=0.1,500=0.05,reset=0.02,seed=1"`` (see
        docs/emulator.md, "Fault injection").
        """
        _names.check_seconds(poll_interval, field="poll_interval")  # refused before an emulator starts
        _names.check_location(location)
        import atexit
        import tempfile

        from .local.emulator import Emulator

        cleanup: list[Callable[[], None]] = []
        if data_dir is None:
            holder = tempfile.TemporaryDirectory(prefix="batchai-kit-")
            cleanup.append(holder.cleanup)
            data_dir = holder.name
        from .local._faults import FaultPlan

        plan = FaultPlan.of(faults)  # a ValidationError now, before anything starts
        emulator = Emulator(Path(data_dir), faults=plan, **({"timings": timings} if timings is not None else {}))
        info = emulator.start()

        def stop() -> None:
            emulator.stop()
            for clean in cleanup:
                clean()

        atexit.register(stop)
        return cls.for_emulator(info, emulator=emulator, location=location, poll_interval=poll_interval)

    @classmethod
    def for_emulator(
        cls,
        info: Any,
        *,
        emulator: Any = None,
        location: str = "eastus",
        admin: AdminUser | None = None,
        poll_interval: float = 0.1,
    ) -> Azure:
        """An ``Azure`` for a running emulator, given its ``EmulatorInfo`` (what the ready file
        holds). Clusters get ``admin`` or a generated account: nothing listens for SSH locally."""
        return cls(
            StaticTokenCredential(info.token),
            info.subscription_id,
            arm_endpoint=info.arm_endpoint,
            storage_account=info.storage_account,
            storage_key=info.storage_key,
            files_endpoint=info.files_endpoint,
            ca_cert=str(info.ca_cert),
            location=location,
            admin=admin or AdminUser("batchai", password=secrets.token_urlsafe(18)),
            poll_interval=poll_interval,
            emulator=emulator,
        )

    @classmethod
    def from_ready_file(cls, path: str | os.PathLike[str]) -> Azure:
        """Attach to a running emulator through its ready file: JSON with ``arm_endpoint``,
        ``subscription_id``, ``ca_cert``, ``token``, ``files_endpoint``, ``storage_account`` and
        ``storage_key``. Where it names the emulator's service principal (``authority``,
        ``tenant_id``, ``client_id``, ``client_secret``) the library signs in with it, as with
        Azure AD, and so outlives the ready file's token; else it uses ``token``."""
        source = Path(path)
        _check_private(source, what="ready file")
        ready = _read_json(source, what="ready file")

        def value(name: str) -> Any:
            return _config_value(ready, name, source)

        with _naming_the_file(source):
            return cls(
                _ready_file_credential(ready, value),
                value("subscription_id"),
                arm_endpoint=value("arm_endpoint"),
                storage_account=value("storage_account"),
                storage_key=value("storage_key"),
                files_endpoint=value("files_endpoint"),
                ca_cert=value("ca_cert"),
                location=ready.get("location"),
                # the emulator runs no SSH server: a generated admin account satisfies the API
                admin=_admin("batchai", secrets.token_urlsafe(18), None),
                poll_interval=0.1,
            )

    # --- clients ---------------------------------------------------------------------------

    @property
    def is_emulator(self) -> bool:
        """Whether this is batchai_kit's local emulator (in process, or on this machine)."""
        host = (urlsplit(self.arm_endpoint).hostname or "").lower()
        return self.emulator is not None or host in ("127.0.0.1", "localhost", "::1")

    @property
    def verify(self) -> bool | str:
        """What TLS verification trusts: False, True (the system's CAs) or a CA file path."""
        if self.connection_verify is False:
            return False
        return self.ca_cert or self.connection_verify

    @property
    def scopes(self) -> list[str]:
        """The OAuth scopes tokens are asked for: ``credential_scopes``, else the ARM endpoint's."""
        return (
            list(self.credential_scopes)
            if self.credential_scopes
            else arm_credential_scopes(self.arm_endpoint)
        )

    def _arm_kwargs(self) -> dict[str, Any]:
        return {
            "base_url": self.arm_endpoint,
            "credential_scopes": self.scopes,
            "transport": _transport(self.verify, loopback=self.is_emulator),
            "polling_interval": sdk_polling_interval(self.poll_interval or DEFAULT_SDK_POLLING_INTERVAL),
            "retry_policy": arm_retry_policy(self.retry()),
        }

    def batchai(self) -> BatchAI:
        """An ``azure.mgmt.batchai.BatchAI`` client (API 2018-05-01) for this subscription."""
        from azure.mgmt.batchai import BatchAI

        return BatchAI(self.credential, self.subscription_id, **self._arm_kwargs())

    def resources(self) -> ResourceManagementClient:
        """An ``azure.mgmt.resource.ResourceManagementClient`` (resource groups)."""
        from azure.mgmt.resource.resources import ResourceManagementClient

        return ResourceManagementClient(self.credential, self.subscription_id, **self._arm_kwargs())

    @property
    def file_endpoint(self) -> str:
        """The storage account's Azure Files endpoint; ``ValidationError`` without an account."""
        if not self.storage_account:
            raise ValidationError(
                "storage_account",
                None,
                "no storage account is configured: set AZURE_STORAGE_ACCOUNT and AZURE_STORAGE_KEY "
                "(or storage_account in the configuration file)",
            )
        return (self.files_endpoint or f"https://{self.storage_account}.file.core.windows.net").rstrip("/")

    def retry(self) -> TransientRetry:
        """How this endpoint's requests retry transient failures (the emulator's pace is faster)."""
        return retry_for(self.poll_interval is not None, self.retry_budget)

    def waiter(self, deadline_s: float) -> Waiter:
        """The waiter for this endpoint: the real service's pace, or the emulator's."""
        if self.poll_interval is None:
            return Waiter(deadline_s=deadline_s, initial=1.0, cap=30.0)
        return Waiter(deadline_s=deadline_s, initial=self.poll_interval / 2, cap=self.poll_interval * 5)

    def http_session(self) -> requests.Session:
        """A requests Session for SAS download URLs, trusting what the clients trust."""
        import requests

        return _file_session(self.verify) or requests.Session()

    def file_service(self) -> FileService:
        """An ``azure.storage.file.FileService`` for the storage account, with the library's retry."""
        from azure.storage.file import FileService

        from ._files_http import use_urllib3
        from ._logging import quiet_expected_storage_errors

        quiet_expected_storage_errors()  # its ERROR lines for a 404 look-up or a 409 create are not errors
        endpoint = self.file_endpoint
        connection_string = (
            f"DefaultEndpointsProtocol={urlsplit(endpoint).scheme};AccountName={self.storage_account};"
            f"AccountKey={self.storage_key};FileEndpoint={endpoint};"
        )
        session = _file_session(self.verify)
        service = FileService(connection_string=connection_string, request_session=session)
        service.retry = file_service_retry(self.retry())
        use_urllib3(service, endpoint, self.verify, session)
        return service


# --- helpers -----------------------------------------------------------------------------------


@functools.cache
def _transport_class() -> type:
    """Built on first use: azure-core is imported when a client is made, not with batchai_kit."""
    from azure.core.pipeline.transport import RequestsTransport

    class _Transport(RequestsTransport):  # type: ignore[misc]  # azure-core exports it lazily: Any to mypy
        """azure-core's requests transport whose sleeps (retry backoff, LRO polling, Retry-After),
        which azure-core all routes through ``transport.sleep``, are skipped in playback."""

        def sleep(self, duration: float) -> None:
            if not is_playback():
                sliced_sleep(duration)  # in slices: a Ctrl-C another thread took is seen within one

    return _Transport


def _transport(verify: bool | str, *, loopback: bool = False) -> Any:
    """azure-core's transport. On loopback (the emulator) its requests Session ignores the
    environment: no proxy applies there, and looking up proxies, .netrc and CA bundles in the
    environment on every request was a tenth of a request's CPU."""
    if not loopback:
        return _transport_class()(connection_verify=verify)
    import requests

    session = requests.Session()
    session.trust_env = False
    return _transport_class()(connection_verify=verify, session=session, session_owner=True)


def _file_session(verify: bool | str) -> Any:
    """The requests Session for FileService, or None for requests' defaults.

    FileService never passes ``verify`` per request, and requests lets REQUESTS_CA_BUNDLE /
    CURL_CA_BUNDLE override ``Session.verify`` when ``trust_env`` is on: a session that must
    trust a given CA (or none) turns ``trust_env`` off.
    """
    if verify is True:
        return None
    import requests

    session = requests.Session()
    session.trust_env = False
    session.verify = verify
    return session


_TOKEN_URI = re.compile(r"^(https://[^/]+)/([^/]+)/oauth2(?:/v2\.0)?/token/?$")


def _parse_token_uri(token_uri: str) -> tuple[str, str]:
    found = _TOKEN_URI.match(token_uri)
    if not found:
        raise ValidationError(
            "token_uri", token_uri, "must look like https://login.microsoftonline.com/<tenant>/oauth2/token"
        )
    return found.group(1), found.group(2)


def _admin(name: str | None, password: str | None, ssh_public_key: str | None) -> AdminUser | None:
    if name is None:
        if password or ssh_public_key:
            raise ValidationError(
                "admin user name", None, "a password or SSH key was given without a user name"
            )
        return None
    return AdminUser(name, password, ssh_public_key)


def _ssh_key(value: str | None) -> str | None:
    """An SSH public key given as the key itself or as the path of a .pub file."""
    if value is None or value.lstrip().startswith(("ssh-", "ecdsa-")):
        return value
    candidate = Path(value).expanduser()
    if candidate.is_file():
        return candidate.read_text().strip()
    raise ValidationError(
        "BATCHAI_KIT_ADMIN_SSH_KEY", value, "must be an SSH public key or the path of a .pub file"
    )


def _check_private(path: Path, *, what: str) -> None:
    """A file holding secrets must be readable by its owner only (the emulator writes it 0600)."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ValidationError(what, str(path), "does not exist") from None
    except OSError as exc:
        raise ValidationError(what, str(path), f"cannot be read ({exc.strerror})") from None
    if os.name == "posix" and mode & 0o077:
        raise ValidationError(what, str(path), f"is readable by others (mode {mode & 0o777:04o}) and holds a bearer "
                                               f"token and the storage key: `chmod 600 {path}`")


def _read_json(path: Path, *, what: str) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValidationError(what, str(path), "does not exist") from None
    except OSError as exc:
        raise ValidationError(what, str(path), f"cannot be read ({exc.strerror})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        # Not chained: the decode error holds the whole document, secrets included.
        raise ValidationError(
            what, str(path), f"is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
        ) from None
    if not isinstance(data, dict):
        raise ValidationError(what, str(path), "must hold a JSON object")
    return data


@contextlib.contextmanager
def _naming_the_file(source: Path) -> Iterator[None]:
    """Re-raise a ValidationError about a value read from ``source`` with the file's name in it."""
    try:
        yield
    except ValidationError as exc:
        if str(source) in exc.rule:
            raise
        raise ValidationError(exc.field, exc.value, f"{exc.rule} (in {source})", secret=exc.secret) from None


def _optional_section(conf: Mapping[str, Any], name: str, source: Path) -> dict[str, Any] | None:
    section = conf.get(name)
    if section is None:
        return None
    if not isinstance(section, dict):
        raise ValidationError(name, "<not an object>", f"in {source} must be a JSON object")
    return section


_SECRET_KEYS = {"aad_secret", "key", "password", "token", "storage_key"}


def _config_value(conf: Mapping[str, Any], name: str, source: Path, within: str | None = None) -> Any:
    where = f"{within}.{name}" if within else name
    if name not in conf or conf[name] in (None, ""):
        raise ValidationError(
            where, None, f'missing from {source}: add "{name}"' + (f' to "{within}"' if within else "")
        )
    value = conf[name]
    if not isinstance(value, str):
        raise ValidationError(where, value, f"in {source} must be a string", secret=name in _SECRET_KEYS)
    return value
