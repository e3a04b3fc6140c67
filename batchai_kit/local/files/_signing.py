"""The strings Azure Storage signs, and the signing itself (HMAC-SHA256 with the account key).

Pure functions shared by the verifier (``_auth``) and by :meth:`FilesService.file_sas_url`,
so what the emulator hands out and what it accepts can never drift apart.
"""

from __future__ import annotations

import base64
import datetime
import functools
import hmac
import re
from typing import Iterable, Mapping
from urllib.parse import quote

SAS_VERSION = "2019-02-02"

# Standard headers in the order SharedKey signs them (x-ms-version 2015-02-21 and later).
SHARED_KEY_HEADERS = (
    "content-encoding", "content-language", "content-length", "content-md5", "content-type",
    "date", "if-modified-since", "if-match", "if-none-match", "if-unmodified-since", "range",
)

# The service-SAS fields of the File service, in string-to-sign order around the resource.
SAS_FIELDS_BEFORE_RESOURCE = ("sp", "st", "se")
SAS_FIELDS_AFTER_RESOURCE = ("si", "sip", "spr", "sv", "rscc", "rscd", "rsce", "rscl", "rsct")
# Query order the azure-storage SDK uses when it writes a token.
_SAS_TOKEN_ORDER = ("st", "se", "sp", "sip", "spr", "sv", "si", "sr",
                    "rscc", "rscd", "rsce", "rscl", "rsct", "sig")

_SAS_TIME = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,7})?)?Z)?")


def sign(account_key: str, string_to_sign: str) -> str:
    """base64(HMAC-SHA256(base64decode(account_key), utf-8 string_to_sign))."""
    digest = hmac.digest(_key_bytes(account_key), string_to_sign.encode("utf-8"), "sha256")
    return base64.b64encode(digest).decode("ascii")


@functools.lru_cache(maxsize=8)
def _key_bytes(account_key: str) -> bytes:
    return base64.b64decode(account_key)


def signatures_match(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8", "surrogateescape"))


def shared_key_string_to_sign(method: str, headers: Mapping[str, str], account: str, raw_path: str,
                              query: Iterable[tuple[str, str]]) -> str:
    """The SharedKey string-to-sign, as Azure builds it from the request.

    *headers* maps lower-case names to values. *raw_path* is the URL path as sent
    (still percent-encoded); with a path-style endpoint it starts with ``/{account}``, and the
    canonicalized resource is ``/{account}{raw_path}`` -- exactly what the SDK signs.
    """
    standard = {name: headers.get(name, "") for name in SHARED_KEY_HEADERS}
    if standard["content-length"] == "0":
        standard["content-length"] = ""
    if "x-ms-date" in headers:
        standard["date"] = ""
    lines = [method.upper(), *standard.values()]
    # runs of whitespace as one space, none at the ends (str.split's whitespace is regex \s's)
    canonical_headers = "".join(
        f"{name}:{' '.join(value.split())}\n"
        for name, value in sorted(headers.items()) if name.startswith("x-ms-")
    )
    return "\n".join(lines) + "\n" + canonical_headers + f"/{account}{raw_path}" + _canonical_query(query)


def _canonical_query(query: Iterable[tuple[str, str]]) -> str:
    values: dict[str, list[str]] = {}
    for name, value in query:
        values.setdefault(name.lower(), []).append(value)
    return "".join(f"\n{name}:{','.join(sorted(vals))}" for name, vals in sorted(values.items()))


def sas_string_to_sign(fields: Mapping[str, str], account: str, resource_path: str) -> str:
    """The File service SAS string-to-sign (signed versions 2015-04-05 onwards).

    *resource_path* is ``share`` for ``sr=s`` or ``share/dir/file`` for ``sr=f``, unencoded.
    """
    canonical_resource = f"/file/{account}/{resource_path.lstrip('/')}"
    parts = [fields.get(name, "") for name in SAS_FIELDS_BEFORE_RESOURCE]
    parts.append(canonical_resource)
    parts += [fields.get(name, "") for name in SAS_FIELDS_AFTER_RESOURCE]
    return "\n".join(parts)


def make_sas_token(account: str, account_key: str, resource_path: str, fields: Mapping[str, str]) -> str:
    """A query string (no leading ``?``) carrying *fields* and their signature."""
    signed = {name: value for name, value in fields.items() if value}
    signed["sig"] = sign(account_key, sas_string_to_sign(signed, account, resource_path))
    order = {name: index for index, name in enumerate(_SAS_TOKEN_ORDER)}
    return "&".join(f"{name}={quote(signed[name], safe='')}"
                    for name in sorted(signed, key=lambda n: order.get(n, len(order))))


def format_sas_time(moment: datetime.datetime) -> str:
    if moment.tzinfo is not None:
        moment = moment.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_sas_time(text: str) -> datetime.datetime | None:
    """Parse ``st``/``se`` (ISO 8601 in UTC, date or date-time); None when malformed."""
    match = _SAS_TIME.fullmatch(text)
    if not match:
        return None
    year, month, day, hour, minute, second = (int(group) if group else 0 for group in match.groups())
    try:
        return datetime.datetime(year, month, day, hour, minute, second, tzinfo=datetime.timezone.utc)
    except ValueError:
        return None
