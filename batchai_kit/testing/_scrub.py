"""What a cassette must not hold, and what would make two recordings differ.

Two stages:

- ``Scrubber`` runs on every interaction as it is recorded (vcrpy's ``before_record_request`` /
  ``before_record_response``). It knows the live values of this recording (the emulator's port,
  the subscription, the storage key, the bearer token...) and maps them to fixed ones:
  ``https://127.0.0.1:PORT`` -> ``https://batchai-kit.emulator``, the subscription id -> zeros,
  every secret -> ``REDACTED``. The same hook runs on each replayed request before it is matched,
  so it must be idempotent: on an already fixed request it changes nothing.
- ``normalise_interactions`` runs on the whole cassette when it is saved (the serializer): GUIDs
  become placeholders numbered by first appearance, timestamps and ETags become fixed values,
  runs of identical polls collapse into one, and Content-Length follows the body.
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any, Iterable
from urllib.parse import quote, quote_plus, urlsplit

from ..errors import scrub_secrets

FAKE_ENDPOINT = "https://batchai-kit.emulator"
FAKE_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
FAKE_STORAGE_ACCOUNT = "batchaikitlocal"
FAKE_FILES_ENDPOINT = f"{FAKE_ENDPOINT}/{FAKE_STORAGE_ACCOUNT}"
REDACTED = "REDACTED"

FIXED_DATE = "2018-05-01T00:00:00"
FIXED_HTTP_DATE = "Tue, 01 May 2018 00:00:00 GMT"
FIXED_ETAG = '"0x8D5AF0000000000"'
FIXED_SAS_TIME = "2018-05-01T00:00:00Z"

# Hosts that hand out tokens: never recorded (replay uses a static token).
TOKEN_HOSTS = ("login.microsoftonline.com", "login.windows.net", "login.chinacloudapi.cn",
               "login.microsoftonline.us", "169.254.169.254")

# Request headers that are secret, or differ on every run or machine (and are never matched).
DROPPED_REQUEST_HEADERS = ("authorization", "x-ms-client-request-id", "x-ms-date", "date", "user-agent",
                           "x-ms-return-client-request-id", "accept-encoding", "connection")
# Response headers that differ on every run and tell a reviewer nothing.
DROPPED_RESPONSE_HEADERS = ("date", "server", "x-ms-request-id", "x-ms-correlation-request-id",
                            "x-ms-routing-request-id", "x-ms-client-request-id", "strict-transport-security",
                            "x-ms-ratelimit-remaining-subscription-reads",
                            "x-ms-ratelimit-remaining-subscription-writes",
                            "x-ms-ratelimit-remaining-subscription-deletes",
                            # Azure Files' file ids: inode numbers of the emulator's files
                            "x-ms-file-id", "x-ms-file-parent-id")

# JSON members whose values are secrets wherever they appear (compared ignoring case).
SECRET_MEMBERS = {"accountkey", "adminuserpassword", "password", "access_token", "refresh_token",
                  "client_secret", "clientsecret", "storage_key"}
# Containers whose items' "value" is a secret (EnvironmentVariableWithSecretValue).
SECRET_VALUE_LISTS = {"secrets"}

_PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S)
_SAS_SIGNATURE = re.compile(r"(?i)([?&]sig=)[^&\s\"'<>]+")
_SAS_TIME = re.compile(r"(?i)([?&](?:se|st)=)[^&\s\"'<>]+")


class Scrubber:
    """The live values of one recording and what they become in the cassette.

    ``replace(live, fixed)`` maps a value wherever it appears; ``secret(value)`` redacts one.
    One process-wide instance (``SCRUBBER``) serves vcrpy's hooks, which cannot take arguments;
    the recording fixture fills it in and clears the replacements afterwards. Secret values are
    kept for the whole session: the serializer refuses to write any of them (``leaked``).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._replacements: list[tuple[str, str]] = []
        self._secrets: set[str] = set()
        self._kept_secrets: set[str] = set()

    def replace(self, live: str | None, fixed: str) -> None:
        if not live or live == fixed:
            return
        with self._lock:
            self._replacements.append((live, fixed))
            # Longest first: an endpoint before the host it contains.
            self._replacements.sort(key=lambda pair: -len(pair[0]))

    def secret(self, value: str | None) -> None:
        """Redact ``value`` (and its URL-encoded forms) wherever it appears."""
        if not value or len(value) < 6:  # too short to redact without mangling other text
            return
        with self._lock:
            for form in {value, quote(value, safe=""), quote_plus(value)}:
                self._secrets.add(form)
                self._kept_secrets.add(form)

    def clear(self) -> None:
        """Forget the replacements and the secrets to redact (not those ``leaked`` looks for)."""
        with self._lock:
            self._replacements.clear()
            self._secrets.clear()

    def leaked(self, text: str) -> bool:
        """Whether ``text`` holds a secret value seen in this session."""
        with self._lock:
            secrets = list(self._kept_secrets)
        return any(secret in text for secret in secrets)

    # -- text -----------------------------------------------------------------------------------

    def text(self, text: str) -> str:
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
            replacements = list(self._replacements)
        for secret in secrets:
            text = text.replace(secret, REDACTED)
        for live, fixed in replacements:
            text = text.replace(live, fixed)
        text = _PRIVATE_KEY.sub(REDACTED, text)
        text = _SAS_SIGNATURE.sub(lambda m: m.group(1) + REDACTED, text)
        text = _SAS_TIME.sub(lambda m: m.group(1) + quote(FIXED_SAS_TIME, safe=""), text)
        return scrub_secrets(text)

    def uri(self, uri: str) -> str:
        return self.text(uri)

    def body(self, body: bytes | str | None) -> bytes | str | None:
        if body is None or body == b"" or body == "":
            return body
        if isinstance(body, str):
            return self.json_or_text(body)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return body  # binary content: nothing of ours is in it
        return self.json_or_text(text).encode("utf-8")

    def json_or_text(self, text: str) -> str:
        try:
            document = json.loads(text)
        except ValueError:
            return self.text(text)
        if not isinstance(document, (dict, list)):
            return self.text(text)
        redacted = _redact_members(document)
        # Re-serialised only when a member changed: compact JSON stays as the SDK sent it.
        if redacted != document:
            text = json.dumps(redacted, separators=(",", ":"))
        return self.text(text)


def _redact_members(value: Any, parent: str = "") -> Any:
    if isinstance(value, dict):
        result = {}
        for key, item in value.items():
            lowered = key.lower()
            secret_member = lowered in SECRET_MEMBERS and isinstance(item, str) and item
            secret_value = lowered == "value" and parent in SECRET_VALUE_LISTS and isinstance(item, str)
            if secret_member or secret_value:
                result[key] = REDACTED
            else:
                result[key] = _redact_members(item, lowered if isinstance(item, list) else parent)
        return result
    if isinstance(value, list):
        return [_redact_members(item, parent) for item in value]
    return value


SCRUBBER = Scrubber()


# --- vcrpy hooks ---------------------------------------------------------------------------------


def before_record_request(request: Any) -> Any:
    """vcrpy hook: a recorded (or replayed, before matching) request, scrubbed and fixed."""
    host = (urlsplit(request.uri).hostname or "").lower()
    if host in TOKEN_HOSTS:
        return None
    request.uri = SCRUBBER.uri(request.uri)
    for name in DROPPED_REQUEST_HEADERS:
        if name in request.headers:
            del request.headers[name]
    for name in list(request.headers):
        request.headers[name] = SCRUBBER.text(str(request.headers[name]))
    request.body = SCRUBBER.body(request.body)
    return request


def before_record_response(response: dict[str, Any]) -> dict[str, Any]:
    """vcrpy hook: a recorded response, scrubbed and fixed (runs once, as it is recorded)."""
    headers = response.get("headers") or {}
    for name in list(headers):
        if name.lower() in DROPPED_RESPONSE_HEADERS:
            del headers[name]
            continue
        headers[name] = [SCRUBBER.text(str(v)) for v in _as_list(headers[name])]
    body = response.get("body") or {}
    if "string" in body:
        body["string"] = SCRUBBER.body(body["string"])
    return response


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


# --- the whole cassette --------------------------------------------------------------------------

_GUID = re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b")
_PLACEHOLDER = re.compile(r"^00000000-0000-0000-0000-\d{12}$")
_ISO_TIME = re.compile(r"\b\d{4}-\d{2}-\d{2}T\d{2}(?::|%3A)\d{2}(?::|%3A)\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?")
_HTTP_DATE = re.compile(r"\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT")
# Batch AI node ids: tvm-{random}_{n}-{creation time}
_NODE_ID = re.compile(r"\btvm-\d+_(\d+)-\d{8}t\d{6}z")
_ETAG = re.compile(r'(?:W/)?(?:\\?")(?:0x[0-9A-F]{8,}|[0-9a-f]{32})(?:\\?")')


class _Guids:
    """GUIDs -> ``00000000-0000-0000-0000-{n:012d}``, numbered by first appearance."""

    def __init__(self) -> None:
        self.seen: dict[str, str] = {}

    def __call__(self, match: re.Match[str]) -> str:
        guid = match.group(0).lower()
        if _PLACEHOLDER.match(guid):
            return guid
        if guid not in self.seen:
            self.seen[guid] = f"00000000-0000-0000-0000-{len(self.seen) + 1:012d}"
        return self.seen[guid]


def _fixed_time(match: re.Match[str]) -> str:
    text = match.group(0)
    colon = "%3A" if "%3A" in text else ":"
    fraction = match.group(1) or ""
    zone = match.group(2) or ""
    fixed = FIXED_DATE.replace(":", colon)
    if fraction:
        fixed += "." + "0" * (len(fraction) - 1)
    if zone:
        fixed += "Z" if zone == "Z" else ("+00:00" if ":" in zone else "+0000")
    return fixed


def normalise_text(text: str, guids: _Guids) -> str:
    text = _GUID.sub(guids, text)
    text = _ISO_TIME.sub(_fixed_time, text)
    text = _HTTP_DATE.sub(FIXED_HTTP_DATE, text)
    text = _NODE_ID.sub(lambda m: f"tvm-1000000000_{m.group(1)}-20180501t000000z", text)
    return _ETAG.sub(lambda m: FIXED_ETAG.replace('"', '\\"') if '\\"' in m.group(0) else FIXED_ETAG, text)


def mask_volatile(text: str) -> str:
    """``text`` with every GUID, timestamp and ETag replaced by one token: for loose matching."""
    text = _GUID.sub("<guid>", text)
    text = _ISO_TIME.sub("<time>", text)
    text = _HTTP_DATE.sub("<time>", text)
    return _ETAG.sub("<etag>", text)


# Output files whose size differs from one recording to the next: the emulator's own log of a
# job (timestamps, random node ids). Their sizes in listings are recorded as 0.
UNSTABLE_SIZE_FILES = {"execution.log"}
_UNSTABLE_NAMES = "|".join(re.escape(name) for name in sorted(UNSTABLE_SIZE_FILES))
_UNSTABLE_SIZE = re.compile(r'("name":\s*"(?:' + _UNSTABLE_NAMES + r')"[^{}]*?\{[^{}]*?"contentLength":\s*)\d+')


def _normalise_strings(value: Any, guids: _Guids) -> Any:
    if isinstance(value, str):
        return _UNSTABLE_SIZE.sub(r"\g<1>0", normalise_text(value, guids))
    if isinstance(value, list):
        return [_normalise_strings(item, guids) for item in value]
    if isinstance(value, dict):
        return {key: _normalise_strings(item, guids) for key, item in value.items()}
    return value


def _key(interaction: dict[str, Any]) -> str:
    request = interaction["request"]
    headers = {k.lower(): v for k, v in (request.get("headers") or {}).items()}
    ranges = (headers.get("range"), headers.get("x-ms-range"))
    return json.dumps([request.get("method"), request.get("uri"), request.get("body"), ranges], default=str)


def fix_content_length(response: dict[str, Any]) -> None:
    headers = response.get("headers") or {}
    body = (response.get("body") or {}).get("string")
    for name in list(headers):
        if name.lower() == "content-length" and body is not None:
            size = len(body.encode("utf-8") if isinstance(body, str) else body)
            headers[name] = [str(size)]


# The mark of an answer the recording got more often than the cassette keeps (a poll cut short).
REPEATED = "repeated"

# The status of a long-running operation (Azure-AsyncOperation and Location headers point here).
_OPERATION_STATUS = re.compile(r"/(?:operationresults|operationstatuses)/", re.IGNORECASE)


def normalise_interactions(interactions: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The cassette's interactions (vcrpy's serialised dicts) as they are saved: volatile values
    fixed, and polls cut short where their number depends on the recording machine's speed.

    - A long-running operation's status keeps only its last answer: its poller asks until the
      operation ends, and how often it heard "InProgress" first says nothing.
    - A run of successful (2xx) answers to the same request, identical after fixing, keeps its
      first two: two still show a reader (and a replay) that the state held, also when two
      callers asked in turn (a create's final read, then a wait's first poll). The second is
      marked ``repeated: true`` when more were cut: strict replay may play it again, and only it.
    - Errors are kept as they came: how many 429s a retry policy saw is behaviour.
    """
    guids = _Guids()
    kept: list[dict[str, Any]] = []
    previous: dict[str, list[str]] = {}
    last_kept: dict[str, dict[str, Any]] = {}
    for interaction in interactions:
        fixed = _normalise_strings(interaction, guids)
        marked = fixed["response"].pop(REPEATED, False)  # a saved cassette's mark (saving it again keeps it)
        fix_content_length(fixed["response"])
        key = _key(fixed)
        response = json.dumps(fixed["response"], sort_keys=True, default=str)
        status = int((fixed["response"].get("status") or {}).get("code") or 0)
        seen = previous.get(key, [])
        if 200 <= status < 300 and seen[-2:] == [response, response]:
            last_kept[key]["response"][REPEATED] = True
            continue
        previous[key] = ([*seen, response])[-2:]
        if marked:
            fixed["response"][REPEATED] = True
        last_kept[key] = fixed
        kept.append(fixed)
    last_of_operation = {}
    for index, interaction in enumerate(kept):
        if _OPERATION_STATUS.search(interaction["request"].get("uri") or ""):
            last_of_operation[_key(interaction)] = index
    return [interaction for index, interaction in enumerate(kept)
            if not _OPERATION_STATUS.search(interaction["request"].get("uri") or "")
            or last_of_operation[_key(interaction)] == index]
