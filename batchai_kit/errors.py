"""The error hierarchy: every error batchai_kit raises is a ``BatchAIKitError``.

::

    BatchAIKitError
    ├── ValidationError          a value breaks a rule; nothing was sent (also a ValueError)
    │   └── UnsupportedSetting   a Batch AI JSON setting batchai_kit cannot honour
    ├── RuntimeUnavailable       a toolkit runtime is missing or broken (and its subclasses)
    ├── ServiceError             Azure answered with an error: .code .message .status .retry_after
    │   ├── NotFound
    │   ├── Conflict
    │   ├── QuotaExceeded
    │   ├── AuthenticationFailed
    │   └── ProvisioningFailed   Azure accepted a create and then reported it failed
    ├── ConnectionFailed         no usable answer from Azure (DNS, TLS, refused, reset)
    ├── NodesUnusable            a cluster's nodes cannot run jobs
    ├── JobFailed                a job ended failed: .exit_code .error_codes .stderr_tail
    └── Timeout                  a wait passed its deadline: .what .waited .deadline .last_state

``from_azure_error`` turns the exceptions of azure-core, azure-identity and azure-storage-file
into this hierarchy. No message carries a secret: see ``scrub_secrets``.
"""

from __future__ import annotations

import email.utils
import re
import threading
import time
from typing import Any, Iterable, Sequence

import attrs

_REDACTED = "REDACTED"

# Each pattern keeps its first group (the name) and replaces the secret after it.
_SECRET_PATTERNS = [
    # SAS signature in a URL or query string (sig=...), up to the next separator.
    re.compile(r"(?i)([?&;]sig=)[^&\s;\"'<>]+"),
    # Storage connection strings: AccountKey=...; SharedAccessSignature=...
    re.compile(r"(?i)(AccountKey=)[^;\s\"'<>]+"),
    re.compile(r"(?i)(SharedAccessSignature=)[^;\s\"'<>]+"),
    # Authorization headers in any rendering: "Authorization: Bearer x", {'Authorization': 'x'}.
    re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)[^'\"\r\n,}]+"),
    re.compile(r"(?i)(\bBearer\s+)[A-Za-z0-9\-_.~+/=]+"),
    re.compile(r"(?i)(\bSharedKey(?:Lite)?\s+[^:\s]+:)[A-Za-z0-9+/=]+"),
    # key=value / "key": "value" forms of passwords, client secrets and tokens.
    re.compile(
        r"(?i)(\b(?:client_secret|password|adminUserPassword|access_token|refresh_token|"
        r"account_key|storage_key|aad_secret|secret)['\"]?\s*[:=]\s*['\"]?)[^&\s'\",;}]+"
    ),
    # Bare JSON Web Tokens (access tokens) wherever they appear.
    re.compile(r"()\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"),
]


# Secret values the library was given (storage keys, passwords, job secrets, tokens): wherever
# one appears in a message it is replaced too, whatever surrounds it. Shorter values would mask
# ordinary words.
MIN_KNOWN_SECRET_LENGTH = 6
_known_secrets: set[str] = set()
_known_lock = threading.Lock()


def register_secret(value: object) -> None:
    """Remember ``value`` as a secret: ``scrub_secrets`` (error messages, the logging filter)
    replaces it wherever it appears. Values shorter than 6 characters, and non-strings, are ignored."""
    if isinstance(value, str) and len(value.strip()) >= MIN_KNOWN_SECRET_LENGTH:
        with _known_lock:
            _known_secrets.add(value.strip())


def _replace_known(text: str, extra: Iterable[str] = ()) -> str:
    with _known_lock:
        values = set(_known_secrets)
    values.update(v.strip() for v in extra if isinstance(v, str) and len(v.strip()) >= MIN_KNOWN_SECRET_LENGTH)
    for value in sorted(values, key=len, reverse=True):  # a secret containing another goes first
        if value in text:
            text = text.replace(value, _REDACTED)
    return text


def scrub_secrets(text: str, known: Iterable[str] = ()) -> str:
    """``text`` with SAS signatures, account keys, tokens and passwords replaced by REDACTED, and
    every registered secret value (``register_secret``) and value in ``known`` too."""
    text = _replace_known(text, known)
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + _REDACTED, text)
    return text


class BatchAIKitError(Exception):
    """Base of every error raised by batchai_kit."""


class ValidationError(BatchAIKitError, ValueError):
    """A value breaks a rule; raised before anything is sent or changed.

    ``field`` names what was checked, ``value`` what was given, ``rule`` the rule broken.
    With ``secret=True`` the value is never stored nor shown (``value`` is ``"<redacted>"``).
    """

    def __init__(self, field: str, value: object, rule: str, *, secret: bool = False):
        self.field = field
        self.secret = secret
        self.value = "<redacted>" if secret else value
        self.rule = rule
        shown = "<redacted>" if secret else repr(value)
        super().__init__(f"{field}={shown}: {rule}")


class UnsupportedSetting(ValidationError):
    """A setting of a Batch AI JSON spec that batchai_kit cannot honour (a blob or NFS mount, a
    private registry...): refused, naming its JSON path, rather than silently dropped."""


class RuntimeUnavailable(BatchAIKitError):
    """A toolkit runtime (e.g. the CNTK Python 3.6 environment) is missing or broken.

    The message says exactly how to get it.
    """


class Python36NotFound(RuntimeUnavailable):
    """No CPython 3.6 interpreter was found for the CNTK runtime.

    ``looked_at`` lists the places searched, in order.
    """

    def __init__(self, message: str, looked_at: list[str]):
        self.looked_at = looked_at
        super().__init__(message)


class SystemLibraryMissing(RuntimeUnavailable):
    """A shared library a runtime needs is not on this machine.

    ``libraries`` names the missing sonames, ``package`` the Debian package that ships them and
    ``install_command`` the command that installs it.
    """

    def __init__(self, message: str, libraries: list[str], package: str, install_command: str):
        self.libraries = libraries
        self.package = package
        self.install_command = install_command
        super().__init__(message)


class RuntimeNotReady(RuntimeUnavailable):
    """A runtime is not installed or does not work; ``install_command`` installs or repairs it."""

    def __init__(self, runtime: str, detail: str, install_command: str):
        self.runtime = runtime
        self.detail = detail
        self.install_command = install_command
        super().__init__(detail)


@attrs.frozen
class ErrorDetail:
    """One ``{code, message}`` pair as Azure reports it (job ``executionInfo.errors``, cluster
    ``errors``, an operation's ``error``)."""

    code: str | None
    message: str | None

    def __str__(self) -> str:
        return f"{self.code}: {self.message}" if self.message else str(self.code)


class ServiceError(BatchAIKitError):
    """Azure answered with an error.

    ``code`` is the service's error code (``ClusterNotFound``, ``ShareNotFound``...), ``message``
    its message (secrets scrubbed), ``status`` the HTTP status (``None`` when the error came from
    a resource's state rather than an HTTP answer) and ``retry_after`` the seconds the service
    asked to wait before trying again (``Retry-After``), if it said.
    """

    hint = ""

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
        action: str | None = None,
    ):
        self.message = scrub_secrets(message or "").strip()
        self.code = code
        self.status = status
        self.retry_after = retry_after
        self.action = action
        super().__init__(self._describe())

    def _describe(self) -> str:
        # A 2xx status carrying an error is an operation's status report: the HTTP part is noise.
        http = f"HTTP {self.status}" if self.status and self.status >= 300 else None
        tags = [t for t in (self.code, http) if t]
        text = self.message or "the service gave no message"
        if self.action:
            text = f"{self.action} failed: {text}"
        if tags:
            text += f" [{', '.join(tags)}]"
        return f"{text}. {self.hint}" if self.hint else text


class NotFound(ServiceError):
    """The resource does not exist (404, ``*NotFound``)."""

    hint = "Check the name, the resource group and the subscription, or create it first."


class Conflict(ServiceError):
    """The resource exists already, differs, or another operation on it is in progress (409)."""

    hint = (
        "Another operation on it may still be running, or it exists with other settings: "
        "wait and retry, or delete it first."
    )


class QuotaExceeded(ServiceError):
    """The subscription's quota (cores, clusters, workspaces...) does not allow the request."""

    hint = (
        "Ask for a higher quota (portal: Subscriptions > Usage + quotas, or "
        "`az batchai list-usages --location <location>`), or use fewer nodes or a smaller vm_size."
    )


class AuthenticationFailed(ServiceError):
    """Azure refused the credentials or their permissions (401/403, no token obtainable)."""

    hint = (
        "Check AZURE_CLIENT_ID / AZURE_CLIENT_SECRET / AZURE_TENANT_ID (or `az login`), that the "
        "service principal has the Contributor role on the subscription, and the storage key."
    )


class ProvisioningFailed(ServiceError):
    """Azure accepted a create (or resize, delete) and then reported that it failed.

    ``resource`` names the resource when known; ``errors`` lists what Azure reported.
    """

    hint = "Look at the errors above; fix the settings, delete the failed resource and create it again."

    def __init__(
        self,
        message: str,
        *,
        resource: str | None = None,
        errors: Sequence[ErrorDetail] = (),
        **kwargs: Any,
    ):
        self.resource = resource
        self.errors = list(errors)
        if resource and resource not in message:
            message = f"{resource}: {message}"
        super().__init__(message, **kwargs)


class ConnectionFailed(BatchAIKitError):
    """No usable answer from Azure: DNS, TLS, connection refused or reset, timeouts of a request."""


class NodesUnusable(BatchAIKitError):
    """A cluster's nodes are unusable (setup task failed, image or mount problem...).

    ``cluster`` names it, ``unusable`` counts the unusable nodes, ``errors`` is what Azure said.
    """

    def __init__(self, cluster: str, unusable: int, errors: Sequence[ErrorDetail] = ()):
        self.cluster = cluster
        self.unusable = unusable
        self.errors = list(errors)
        said = "; ".join(scrub_secrets(str(e)) for e in self.errors) or "no error reported"
        super().__init__(
            f"Cluster {cluster}: {unusable} node(s) unusable ({said}). Jobs cannot run on them: "
            "check the setup task's logs and the mounts, then delete and recreate the cluster."
        )


class JobFailed(BatchAIKitError):
    """A job ended in the failed state.

    ``job`` names it, ``exit_code`` is its exit code (``None`` if none is known: it never ran, was
    terminated, or its processes were lost), ``errors`` what
    Azure reported (``error_codes`` their codes, e.g. ``JobFailed``, ``JobPreparationFailed``)
    and ``stderr_tail`` the last lines of its stderr.txt when they could be read, with the values
    in ``secrets`` (and every registered secret) masked.
    """

    def __init__(
        self,
        job: str,
        *,
        exit_code: int | None = None,
        errors: Sequence[ErrorDetail] = (),
        stderr_tail: str = "",
        secrets: Iterable[str] = (),
    ):
        self.job = job
        self.exit_code = exit_code
        self.errors = list(errors)
        self.error_codes = [e.code for e in self.errors if e.code]
        # What a job prints may include the secrets it was given: ``secrets`` (its secret
        # environment values, the storage key...) are masked along with the usual patterns.
        known = list(secrets)
        self.stderr_tail = scrub_secrets(stderr_tail or "", known)
        # no exit code does not mean it never ran (terminated, lost by a crashed emulator): the
        # errors the service reported say what happened
        how = "without an exit code" if exit_code is None else f"with exit code {exit_code}"
        text = f"Job {job} failed {how}"
        if self.errors:
            text += " (" + "; ".join(scrub_secrets(str(e), known) for e in self.errors) + ")"
        if self.stderr_tail.strip():
            text += ".\nLast lines of stderr.txt:\n" + self.stderr_tail.rstrip()
        else:
            text += ". Its stdout.txt and stderr.txt are in the job's output directory."
        super().__init__(text)


class Timeout(BatchAIKitError):
    """A wait reached its deadline.

    ``what`` says what was waited for, ``waited`` how long (seconds), ``deadline`` the deadline
    (seconds) and ``last_state`` the last state seen (``None`` if nothing was seen).
    """

    def __init__(self, what: str, *, waited: float, deadline: float, last_state: object = None):
        self.what = what
        self.waited = waited
        self.deadline = deadline
        self.last_state = last_state
        seen = "nothing was observed" if last_state is None else f"last state: {last_state}"
        super().__init__(
            f"Gave up waiting for {what} after {waited:.1f} s (deadline {deadline:g} s); "
            f"{scrub_secrets(seen)}. Give it a longer deadline or look at it in the Azure portal."
        )


# --- mapping the SDKs' exceptions -------------------------------------------------------------

_AUTH_CODES = {
    "authenticationfailed",
    "authorizationfailed",
    "authorizationpermissionmismatch",
    "insufficientaccountpermissions",
    "invalidauthenticationtoken",
    "invalidauthenticationtokentenant",
    "expiredauthenticationtoken",
    "invalidclienttokenid",
    "linkedauthorizationfailed",
}


def _error_class(status: int | None, code: str | None, message: str) -> type[ServiceError]:
    lowered = (code or "").lower()
    if "quota" in lowered or (lowered == "operationnotallowed" and "quota" in message.lower()):
        return QuotaExceeded
    if status in (401, 403) or lowered in _AUTH_CODES:
        return AuthenticationFailed
    if status == 404 or lowered.endswith("notfound"):
        return NotFound
    if status in (409, 412) or lowered.endswith(("alreadyexists", "conflict", "beingdeleted")):
        return Conflict
    if status is not None and 200 <= status < 300:
        # An error carried by a 2xx answer is a long-running operation's status: Failed.
        return ProvisioningFailed
    return ServiceError


def _parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _scrub_exception_chain(exc: BaseException | None) -> None:
    """Rewrite, in place, the text of SDK exceptions that carry secrets (requests puts whole SAS
    URLs into connection errors), so that a traceback of the cause shows no secret either."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        try:
            text = str(exc)
        except Exception:  # noqa: BLE001 - a broken __str__ is not ours to fix
            text = ""
        clean = scrub_secrets(text)
        if clean != text:
            exc.args = (clean,)
            for attr in ("message", "exc_msg"):
                if isinstance(getattr(exc, attr, None), str):
                    setattr(exc, attr, scrub_secrets(getattr(exc, attr)))
        exc = exc.__cause__ or exc.__context__


_XML_CODE = re.compile(r"<Code>(.*?)</Code>", re.S)
_XML_MESSAGE = re.compile(r"<Message>(.*?)</Message>", re.S)


def _from_storage_http_error(exc: Any) -> tuple[int | None, str | None, str]:
    """status, code and message of azure.common's AzureHttpError as azure-storage raises it:
    ``"<reason> ErrorCode: <code>\\n<?xml ...><Error><Code>..</Code><Message>..</Message>"``."""
    text = str(exc)
    code = getattr(exc, "error_code", None)
    if not code:
        found = _XML_CODE.search(text)
        code = found.group(1).strip() if found else None
    found = _XML_MESSAGE.search(text)
    if found:
        message = found.group(1).strip().splitlines()[0]
    else:
        message = text.splitlines()[0] if text else ""
        message = message.split(" ErrorCode:")[0]
    return getattr(exc, "status_code", None), code, message


def from_azure_error(exc: BaseException, *, action: str | None = None) -> BatchAIKitError:
    """The ``BatchAIKitError`` that says what ``exc`` (raised by an Azure SDK) means.

    ``action`` ("Creating cluster mycluster") prefixes the message. The original exception becomes
    ``__cause__``; its text is scrubbed of secrets in place. Use as
    ``raise from_azure_error(exc, action=...)`` inside ``except``.
    """
    if isinstance(exc, BatchAIKitError):
        return exc
    _scrub_exception_chain(exc)
    error = _map(exc, action)
    error.__cause__ = exc
    error.__suppress_context__ = True
    return error


def _map(exc: BaseException, action: str | None) -> BatchAIKitError:
    from azure.core import exceptions as core

    if isinstance(exc, core.HttpResponseError):
        return _from_core_http_error(exc, action)
    if isinstance(exc, (core.ServiceRequestError, core.ServiceResponseError)):
        return ConnectionFailed(_prefixed(action, f"no answer from Azure: {scrub_secrets(str(exc))}"))
    if isinstance(exc, core.AzureError):
        return ServiceError(str(exc), action=action)

    from azure.common import AzureException, AzureHttpError

    if isinstance(exc, AzureHttpError):
        status, code, message = _from_storage_http_error(exc)
        return _error_class(status, code, message)(message, code=code, status=status, action=action)
    try:
        from azure.storage.common import AzureSigningError
    except ImportError:  # pragma: no cover - azure-storage-common ships with azure-storage-file
        AzureSigningError = ()
    if isinstance(exc, AzureSigningError):
        return AuthenticationFailed(
            "could not sign the request with the storage account key (is it the base64 key "
            "shown under the account's Access keys?)",
            action=action,
        )
    if isinstance(exc, AzureException):
        # azure-storage wraps transport failures (requests' ConnectionError...) in AzureException.
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, OSError) or type(cause).__module__.startswith(("requests", "urllib3")):
            return ConnectionFailed(_prefixed(action, f"no answer from Azure Files: {exc}"))
        return ServiceError(str(exc), action=action)
    raise TypeError(f"not an Azure SDK error: {type(exc).__name__}")


def _prefixed(action: str | None, text: str) -> str:
    return f"{action} failed: {text}" if action else text


def _from_core_http_error(exc: Any, action: str | None) -> ServiceError:
    from azure.core import exceptions as core

    status = exc.status_code
    response = exc.response
    headers = getattr(response, "headers", None) or {}
    odata = exc.error
    code = getattr(odata, "code", None) or headers.get("x-ms-error-code")
    message = getattr(odata, "message", None) or exc.message or exc.reason or ""
    cls: type[ServiceError] = _error_class(status, code, message)
    if cls is QuotaExceeded:
        pass  # the SDK's error map calls a quota refusal (409) ResourceExistsError
    elif isinstance(exc, core.ClientAuthenticationError):
        cls = AuthenticationFailed
    elif isinstance(exc, core.ResourceNotFoundError):
        cls = NotFound
    elif isinstance(exc, (core.ResourceExistsError, core.ResourceModifiedError)):
        cls = Conflict
    kwargs: dict[str, Any] = dict(
        code=code, status=status, retry_after=_parse_retry_after(headers.get("Retry-After")), action=action
    )
    if cls is ProvisioningFailed:
        details = [ErrorDetail(d.code, d.message) for d in getattr(odata, "details", None) or []]
        kwargs["errors"] = [ErrorDetail(code, message), *details]
    return cls(message, **kwargs)


def error_details(raw: Iterable[Any] | None) -> list[ErrorDetail]:
    """``ErrorDetail``s from the SDK's error models (``BatchAIError``) or ``{code, message}`` dicts."""
    details = []
    for item in raw or ():
        if isinstance(item, dict):
            details.append(ErrorDetail(item.get("code"), item.get("message")))
        else:
            details.append(ErrorDetail(getattr(item, "code", None), getattr(item, "message", None)))
    return details
