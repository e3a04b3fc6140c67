"""Who is calling, and may they do this? SharedKey and service SAS, checked as Azure checks them.

:func:`authenticate` turns a request into a :class:`Grant` (or raises 401/403);
:func:`authorize` checks a grant against what one operation needs. Nothing here logs or
echoes a key or a signature.
"""

from __future__ import annotations

import datetime
import email.utils
import functools
import ipaddress
import logging
from typing import Callable

import attrs

from ._errors import FilesError, authentication_failed
from ._signing import parse_sas_time, sas_string_to_sign, shared_key_string_to_sign, sign, signatures_match

log = logging.getLogger("batchai_kit.local.files")

SAS_PERMISSIONS = "rcwdl"
MAX_CLOCK_SKEW = datetime.timedelta(minutes=15)
# Response headers a SAS may override (rscc, rscd, ...), by query name.
SAS_RESPONSE_OVERRIDES = {"rscc": "Cache-Control", "rscd": "Content-Disposition",
                          "rsce": "Content-Encoding", "rscl": "Content-Language",
                          "rsct": "Content-Type"}


@attrs.frozen
class WireRequest:
    """What authentication needs to know about one HTTP request."""

    method: str
    headers: dict[str, str]          # lower-case names
    raw_path: str                    # percent-encoded, as sent
    query: list[tuple[str, str]]     # decoded, in order, blanks kept
    remote_addr: str
    scheme: str
    share: str | None
    segments: tuple[str, ...]

    def query_value(self, name: str) -> str | None:
        return next((value for key, value in self.query if key == name), None)


@attrs.frozen
class Grant:
    """An authenticated caller: the account key holder, or a SAS bearer with its limits."""

    kind: str                                    # "shared_key" or "sas"
    permissions: str = SAS_PERMISSIONS
    resource: str | None = None                  # SAS only: "s" (share) or "f" (file)
    response_overrides: dict[str, str] = attrs.field(factory=dict)


def authenticate(request: WireRequest, account: str, account_key: str,
                 now: Callable[[], float]) -> Grant:
    authorization = request.headers.get("authorization")
    if authorization is not None:
        return _authenticate_shared_key(request, authorization, account, account_key, now)
    if request.query_value("sig") is not None:
        return _authenticate_sas(request, account, account_key, now)
    raise FilesError("NoAuthenticationInformation")


def authorize(grant: Grant, level: str, sas_permissions: str | None) -> None:
    """Refuse with 403 unless *grant* may run an operation on a *level* resource.

    *sas_permissions* lists the SAS letters any one of which allows the operation;
    None means a service SAS can never do it (account and share management).
    """
    if grant.kind == "shared_key":
        return
    if sas_permissions is None:
        raise FilesError("AuthorizationFailure")
    if grant.resource == "f" and level != "file":
        raise FilesError("AuthorizationResourceTypeMismatch")
    if not any(letter in grant.permissions for letter in sas_permissions):
        raise FilesError("AuthorizationPermissionMismatch")


def _authenticate_shared_key(request: WireRequest, authorization: str, account: str,
                             account_key: str, now: Callable[[], float]) -> Grant:
    scheme, _, credentials = authorization.partition(" ")
    name, _, given = credentials.strip().partition(":")
    if scheme != "SharedKey" or not given:
        raise authentication_failed("The authorization header is not a SharedKey signature "
                                    "(SharedKey account:signature).")
    if name != account:
        raise authentication_failed(f"The account {name!r} in the authorization header does not "
                                    f"match this account.")
    _check_request_date(request.headers, now)
    string_to_sign = shared_key_string_to_sign(request.method, request.headers, account,
                                               request.raw_path, request.query)
    if not signatures_match(sign(account_key, string_to_sign), given):
        log.info("SharedKey signature mismatch for %s %s", request.method, request.raw_path)
        raise authentication_failed("The MAC signature found in the HTTP request is not the same as "
                                    f"any computed signature. Server used following string to sign: "
                                    f"'{string_to_sign}'.")
    return Grant("shared_key")


def _check_request_date(headers: dict[str, str], now: Callable[[], float]) -> None:
    text = headers.get("x-ms-date") or headers.get("date")
    if not text:
        raise authentication_failed("Request date header not specified (x-ms-date or Date).")
    sent = _request_date(text)
    if sent is None:
        raise authentication_failed(f"Request date header {text!r} is not an RFC 1123 date.")
    current = datetime.datetime.fromtimestamp(now(), datetime.timezone.utc)
    if abs(current - sent) > MAX_CLOCK_SKEW:
        raise authentication_failed(f"Request date header too old or too far in the future: "
                                    f"'{text}' (now {email.utils.format_datetime(current, True)}).")


@functools.lru_cache(maxsize=256)
def _request_date(text: str) -> datetime.datetime | None:
    """The moment a Date / x-ms-date header names (None if it is no date); parallel requests
    mostly carry the same few, so each is parsed once."""
    try:
        sent = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return sent.replace(tzinfo=datetime.timezone.utc) if sent.tzinfo is None else sent


def _authenticate_sas(request: WireRequest, account: str, account_key: str,
                      now: Callable[[], float]) -> Grant:
    fields = dict(request.query)
    if "ss" in fields or "srt" in fields:
        raise authentication_failed("Account SAS tokens are not supported by the local emulator; "
                                    "use a service SAS (sr=s or sr=f).")
    for required in ("sv", "sr"):
        if not fields.get(required):
            raise authentication_failed(f"{required} is mandatory. Cannot be empty")
    if fields.get("si"):
        raise authentication_failed("Stored access policies (si) are not supported by the local "
                                    "emulator.")
    for required in ("sp", "se"):
        if not fields.get(required):
            raise authentication_failed(f"{required} is mandatory. Cannot be empty")
    resource_path = _sas_resource_path(fields["sr"], request)
    string_to_sign = sas_string_to_sign(fields, account, resource_path)
    if not signatures_match(sign(account_key, string_to_sign), fields["sig"]):  # present: authenticate checked
        log.info("SAS signature mismatch for %s %s", request.method, request.raw_path)
        raise authentication_failed(f"Signature did not match. String to sign used was "
                                    f"{string_to_sign!r}")
    _check_sas_validity(fields, now)
    _check_sas_network(fields, request)
    permissions = fields["sp"]
    if any(letter not in SAS_PERMISSIONS for letter in permissions):
        raise authentication_failed(f"Invalid permission {permissions!r}: the File service "
                                    f"accepts letters from {SAS_PERMISSIONS!r}.")
    overrides = {header: fields[name] for name, header in SAS_RESPONSE_OVERRIDES.items()
                 if fields.get(name)}
    return Grant("sas", permissions, fields["sr"], overrides)


def _sas_resource_path(signed_resource: str, request: WireRequest) -> str:
    if request.share is None:
        raise FilesError("AuthorizationResourceTypeMismatch")
    if signed_resource == "s":
        return request.share
    if signed_resource == "f":
        return "/".join((request.share, *request.segments))
    raise authentication_failed(f"Invalid signed resource sr={signed_resource!r}: "
                                f"the File service accepts 's' or 'f'.")


def _check_sas_validity(fields: dict[str, str], now: Callable[[], float]) -> None:
    start = parse_sas_time(fields["st"]) if fields.get("st") else None
    expiry = parse_sas_time(fields["se"])
    if expiry is None or (fields.get("st") and start is None):
        raise authentication_failed("st and se must be ISO 8601 UTC times (YYYY-MM-DDThh:mm:ssZ).")
    current = datetime.datetime.fromtimestamp(now(), datetime.timezone.utc)
    if (start is not None and current < start) or current > expiry:
        raise authentication_failed(f"Signature not valid in the specified time frame: "
                                    f"Start [{fields.get('st', '')}] - Expiry [{fields['se']}] - "
                                    f"Current [{current.strftime('%a, %d %b %Y %H:%M:%S GMT')}]")


def _check_sas_network(fields: dict[str, str], request: WireRequest) -> None:
    protocols = fields.get("spr")
    if protocols and request.scheme not in protocols.split(","):
        raise FilesError("AuthorizationProtocolMismatch")
    allowed = fields.get("sip")
    if allowed and not _address_in(request.remote_addr, allowed):
        raise FilesError("AuthorizationSourceIPMismatch")


def _address_in(address: str, allowed: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
        low, _, high = allowed.partition("-")
        first = ipaddress.ip_address(low)
        last = ipaddress.ip_address(high) if high else first
        same_version = first.version == ip.version == last.version
        return same_version and int(first) <= int(ip) <= int(last)
    except ValueError:
        return False
