"""The emulator as one object: data directory, TLS, HTTPS server, control plane, ticker, tokens.

Start it in process with :func:`emulator` (a context manager) or from the command line with
``batchai-kit emulator``; both expose the same facts (:class:`EmulatorInfo`), which the
command writes to a JSON ready file.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit, urlunsplit

import attrs
from azure.core.credentials import AccessToken

from ._faults import FaultInjector, FaultPlan
from ._private import open_private, private_directory
from ._proxy import ConnectProxy, files_host_to_path, proxied_hosts
from ._server import PortInUse, RunningServer, serve_https
from ._threads import background_thread
from ._tls import generate_self_signed
from .aad import Authority, AuthorityApp, is_authority_path, open_authority
from .arm.account import StorageAccount
from .arm.app import ArmApp
from .arm.control import ControlPlane
from .arm.store import Store
from .arm.timing import Timings
from .files import FilesService, generate_account_key
from .nodes import ProcessTracker
from .runner import LocalNodeRunner

log = logging.getLogger("batchai_kit.local")

READY_TOKEN_LIFETIME = 7 * 24 * 3600  # the ready file's token; clients that run longer sign in
DEFAULT_RESOURCE = "https://management.core.windows.net/"  # the audience Azure CLI asks ARM tokens for
# The ticker's longest sleep while the state is at rest (requests and ended runs wake it sooner).
IDLE_TICK = 1.0
STORAGE_ACCOUNT = "batchaikitlocal"  # never devstoreaccount1: azure-storage-file treats that as Azurite


@attrs.frozen
class EmulatorInfo:
    """Where a running emulator is and how to talk to it. ``token``, ``storage_key`` and
    ``client_secret`` are secrets: not in repr.

    ``authority`` is the Azure AD-compatible authority host (the emulator's own URL): a client
    signs in at ``{authority}/{tenant_id}`` with ``client_id`` and ``client_secret`` (a service
    principal of the emulator's directory). ``token`` is an access token for ARM issued at
    start, valid for a week.
    """

    arm_endpoint: str
    subscription_id: str
    ca_cert: Path
    data_dir: Path
    files_endpoint: str
    storage_account: str
    token: str = attrs.field(repr=False)
    storage_key: str = attrs.field(repr=False)
    authority: str = ""
    tenant_id: str = ""
    client_id: str = ""
    client_secret: str = attrs.field(default="", repr=False)
    proxy_url: str = ""  # with Emulator(proxy=True): HTTPS_PROXY for code using Azure's hostnames

    @property
    def storage_connection_string(self) -> str:
        """For ``azure.storage.file.FileService(connection_string=...)``."""
        return (f"DefaultEndpointsProtocol=https;AccountName={self.storage_account};"
                f"AccountKey={self.storage_key};FileEndpoint={self.files_endpoint};")

    def ready_file_content(self) -> dict:
        return {"arm_endpoint": self.arm_endpoint, "subscription_id": self.subscription_id,
                "ca_cert": str(self.ca_cert), "data_dir": str(self.data_dir), "token": self.token,
                "files_endpoint": self.files_endpoint, "storage_account": self.storage_account,
                "storage_key": self.storage_key, "location": "eastus", "pid": os.getpid(),
                "authority": self.authority, "tenant_id": self.tenant_id, "client_id": self.client_id,
                "client_secret": self.client_secret, "proxy_url": self.proxy_url}


class LocalCredential:
    """An azure-core TokenCredential that gets its tokens from an in-process emulator's authority
    (the same signed tokens its token endpoint hands out, without the HTTP round trip)."""

    def __init__(self, authority: Authority, base_url: str):
        self._authority = authority
        self._base_url = base_url
        self._tokens: dict[str, AccessToken] = {}
        self._lock = threading.Lock()

    def get_token(self, *scopes, **kwargs) -> AccessToken:
        scope = scopes[0] if scopes else DEFAULT_RESOURCE + "/.default"
        resource = scope[: -len("/.default")] if scope.endswith("/.default") else scope
        with self._lock:
            token = self._tokens.get(resource)
            if token is None or token.expires_on - time.time() < 300:
                issued = self._authority.issue(self._base_url, resource)
                token = self._tokens[resource] = AccessToken(issued.token, issued.expires_on)
            return token

    def close(self) -> None:
        pass

    def __repr__(self) -> str:
        return "LocalCredential()"


class Emulator:
    """A running emulator; use :func:`emulator` or :meth:`start` / :meth:`stop`."""

    def __init__(self, data_dir: Path, *, host: str = "127.0.0.1", port: int | None = None,
                 timings: Timings | None = None, tick: float = 0.05, run_nodes: bool = True,
                 faults: Any = None, proxy: bool = False):
        self.data_dir = Path(data_dir).resolve()
        self.host = host
        self.port = port
        self.timings = timings or Timings()
        self.tick = tick
        self.run_nodes = run_nodes
        # Injected faults (``--faults``), applied to every request of every plane; None: none.
        self.fault_plan = FaultPlan.of(faults)
        self.fault_injector: FaultInjector | None = None
        self.files: FilesService | None = None
        self.store: Store | None = None
        self.control: ControlPlane | None = None
        self.authority: Authority | None = None
        self.server: RunningServer | None = None
        self._ticker: threading.Thread | None = None
        self._stopping = threading.Event()
        self.info: EmulatorInfo | None = None
        self.proxy_enabled = proxy
        self.proxy: ConnectProxy | None = None

    def start(self) -> EmulatorInfo:
        private_directory(self.data_dir)  # 0700, also when it exists: it holds keys and secrets
        self.store = Store(self.data_dir / "state.sqlite3")
        subscription = self.store.meta("subscription_id")
        if subscription is None:
            subscription = str(uuid.uuid4())
            self.store.set_meta("subscription_id", subscription)
        self.authority = open_authority(self.data_dir / "aad", self.store)
        storage_key = self.store.meta("storage_key")
        if storage_key is None:
            storage_key = generate_account_key()
            self.store.set_meta("storage_key", storage_key)
        names = ("localhost", *proxied_hosts(STORAGE_ACCOUNT)) if self.proxy_enabled else ("localhost",)
        certificate = generate_self_signed(self.data_dir / "tls", hostnames=names)
        self.files = FilesService(self.data_dir / "files", STORAGE_ACCOUNT, storage_key)
        self.control = ControlPlane(self.store, subscription, timings=self.timings)
        arm = ArmApp(self.control, self.authority, StorageAccount(STORAGE_ACCOUNT, storage_key))
        app = self._dispatch(arm, AuthorityApp(self.authority))
        if isinstance(self.fault_plan, FaultPlan):
            app = self.fault_injector = FaultInjector(app, self.fault_plan, files_prefix=f"/{STORAGE_ACCOUNT}")
            log.info("Injecting faults: %s", self.fault_plan.describe())
        elif self.fault_plan is not None:  # a scripted choose(method, path)
            app = self.fault_injector = FaultInjector(app, choose=self.fault_plan, files_prefix=f"/{STORAGE_ACCOUNT}")
        if self.proxy_enabled:  # outermost: the layers below see every files request path-style
            app = files_host_to_path(app, STORAGE_ACCOUNT)
        self.server = self._serve(app, certificate)
        files_endpoint = f"{self.server.base_url}/{STORAGE_ACCOUNT}"
        _rebase_share_urls(self.store, files_endpoint)
        if self.proxy_enabled:
            self.proxy = ConnectProxy((self.server.host, self.server.port), proxied_hosts(STORAGE_ACCOUNT),
                                      host=self.host)
        if self.run_nodes:
            tracker = ProcessTracker(self.control.record_process, self.data_dir / "nodes" / "exit-codes")
            self.control.runner = LocalNodeRunner(self.data_dir / "nodes", self.files, files_endpoint,
                                                  self.control.clock, tracker)
        self.control.recover()
        self._ticker = background_thread(self._tick_loop, "batchai-kit-ticker")
        self._ticker.start()
        self.info = EmulatorInfo(arm_endpoint=self.server.base_url, subscription_id=subscription,
                                 ca_cert=certificate.cert_path, data_dir=self.data_dir,
                                 files_endpoint=files_endpoint, storage_account=STORAGE_ACCOUNT,
                                 token=self.authority.issue(self.server.base_url, DEFAULT_RESOURCE,
                                                            lifetime=READY_TOKEN_LIFETIME).token,
                                 storage_key=storage_key, authority=self.server.base_url,
                                 tenant_id=self.authority.tenant_id,
                                 client_id=self.authority.principal.client_id,
                                 client_secret=self.authority.principal.secret,
                                 proxy_url=self.proxy.url if self.proxy else "")
        log.info("Emulator ready at %s (data in %s)", self.server.base_url, self.data_dir)
        return self.info

    @property
    def _started(self) -> EmulatorInfo:
        if self.info is None:
            raise RuntimeError("the emulator is not started: call start() first")
        return self.info

    def _serve(self, app: Any, certificate: Any) -> RunningServer:
        """On the port asked for; else on the port of the last run on this data directory (so
        ready files, configurations and URLs stay valid), or a free one if that is taken."""
        assert self.store is not None
        kept = self.store.meta("port")
        if self.port is None and kept is not None:
            try:
                server = serve_https(app, certificate, self.host, int(kept))
            except PortInUse:
                log.warning("This data directory's emulator listened on port %s last time, but port %s is "
                            "in use by another program: starting on a free port (configurations naming "
                            "the old port need the new one)", kept, kept)
                server = serve_https(app, certificate, self.host, 0)
        else:
            server = serve_https(app, certificate, self.host, self.port or 0)
        self.store.set_meta("port", str(server.port))
        return server

    def _dispatch(self, arm: ArmApp, authority: AuthorityApp):
        """One port for everything: ``/{account}/...`` is Azure Files, ``/{tenant}/oauth2/...`` and
        the other Azure AD paths are the authority, the rest is ARM."""
        files = self.files
        assert files is not None  # set by start() before it serves
        prefix = f"/{STORAGE_ACCOUNT}"

        def app(environ, start_response):
            path = environ.get("PATH_INFO", "")
            if path == prefix or path.startswith(prefix + "/"):
                return files(environ, start_response)
            if is_authority_path(path):
                return authority(environ, start_response)
            return arm(environ, start_response)

        return app

    def _tick_loop(self) -> None:
        """Advance the state machines every ``tick`` while something is in transition; at rest
        (only running jobs, steady clusters) sleep until a request or an ended run wakes the
        control plane, a running job reaches its wall-clock limit, or ``IDLE_TICK`` passed."""
        control = self.control
        assert control is not None  # set by start() before the ticker starts
        while not self._stopping.is_set():
            control.wakeup.clear()  # before advancing: a wake-up during the advance is kept
            pause: float | None = None
            try:
                control.advance()
                pause = control.idle_for()
            except Exception:  # keep ticking; the error is logged and the next tick retries
                log.exception("Control plane tick failed")
            control.wakeup.wait(self.tick if pause is None else max(self.tick, min(pause, IDLE_TICK)))

    def credential(self) -> LocalCredential:
        if self.authority is None:
            raise RuntimeError("the emulator is not started: call start() first")
        return LocalCredential(self.authority, self._started.arm_endpoint)

    def write_ready_file(self, path: Path) -> None:
        """Write the ready file atomically with mode 0600 (it holds a bearer token)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name + ".tmp")
        with open_private(temporary) as fh:
            json.dump(self._started.ready_file_content(), fh, indent=2)
        os.replace(temporary, path)

    def batchai_client(self, **kwargs):
        """A real ``azure.mgmt.batchai.BatchAI`` client for this emulator."""
        from azure.mgmt.batchai import BatchAI

        info = self._started
        return BatchAI(self.credential(), info.subscription_id, base_url=info.arm_endpoint,
                       connection_verify=str(info.ca_cert), polling_interval=kwargs.pop("polling_interval", 0.05),
                       **kwargs)

    def resource_client(self, **kwargs):
        """A real ``ResourceManagementClient`` for this emulator."""
        from azure.mgmt.resource.resources import ResourceManagementClient

        return ResourceManagementClient(self.credential(), self._started.subscription_id,
                                        base_url=self._started.arm_endpoint,
                                        connection_verify=str(self._started.ca_cert),
                                        polling_interval=kwargs.pop("polling_interval", 0.05), **kwargs)

    def file_service(self, **kwargs):
        """A real ``azure.storage.file.FileService`` for this emulator's storage account."""
        import requests
        from azure.storage.file import FileService

        session = requests.Session()
        session.trust_env = False  # else REQUESTS_CA_BUNDLE overrides session.verify
        session.verify = str(self._started.ca_cert)
        return FileService(connection_string=self._started.storage_connection_string, request_session=session,
                           **kwargs)

    def stop(self) -> None:
        self._stopping.set()
        if self.control is not None:
            self.control.wake()
        if self._ticker is not None:
            self._ticker.join(timeout=10)
        if self.proxy is not None:
            self.proxy.stop()
        if self.server is not None:
            self.server.stop()
        if self.control is not None:
            self.control.close()
        if self.store is not None:
            self.store.close()
        log.info("Emulator stopped")


@contextlib.contextmanager
def emulator(data_dir: Path | str | None = None, **kwargs) -> Iterator[Emulator]:
    """Run an emulator on a background thread for the duration of the block.

    Without *data_dir*, state lives in a temporary directory removed afterwards.
    """
    import tempfile

    with contextlib.ExitStack() as stack:
        if data_dir is None:
            data_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="batchai-kit-"))
        instance = Emulator(Path(data_dir), **kwargs)
        instance.start()
        stack.callback(instance.stop)
        yield instance


_LOOPBACK = ("localhost", "::1")


def _rebase_share_urls(store: Store, files_endpoint: str) -> None:
    """Share URLs this emulator stored (cluster and job mounts) name it at the address of the run
    that stored them; after a restart on another port, point them at this run's address, so that
    what clients read back (and compare with their own share URLs) is still valid."""
    current = urlsplit(files_endpoint)
    account = current.path.strip("/")

    def rebased(url: str) -> str:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        loopback = host in _LOOPBACK or host.startswith("127.")
        segments = parts.path.lstrip("/").split("/", 1)
        if not loopback or segments[0] != account or parts.netloc == current.netloc:
            return url
        return urlunsplit((current.scheme, current.netloc, parts.path, parts.query, parts.fragment))

    def walk(value: Any) -> bool:
        changed = False
        if isinstance(value, dict):
            for key, item in value.items():
                if key == "azureFileUrl" and isinstance(item, str):
                    new = rebased(item)
                    changed |= new != item
                    value[key] = new
                else:
                    changed |= walk(item)
        elif isinstance(value, list):
            for item in value:
                changed |= walk(item)
        return changed

    for doc in store:
        if walk(doc):
            store.put(doc)
