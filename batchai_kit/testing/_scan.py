"""Finding secrets in cassettes: exact values, and strings shaped like secrets."""

from __future__ import annotations

import re
from typing import Iterable

# What a secret looks like, whoever's it is. REDACTED (8 letters) matches none of them.
SECRET_SHAPES = {
    "SAS signature": re.compile(r"sig=[A-Za-z0-9%+/=]{20,}"),
    "storage connection string key": re.compile(r"AccountKey=[A-Za-z0-9+/=]{20,}"),
    "SharedKey signature": re.compile(r"SharedKey(?:Lite)? [^:\s]+:[A-Za-z0-9+/=]{20,}"),
    "bearer token": re.compile(r"Bearer [A-Za-z0-9._-]{20,}"),
    "JSON web token": re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\."),
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    # base64 of 64 bytes or more: a storage account key is 64 random bytes (88 characters).
    "base64 of 64 bytes or more": re.compile(r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{86}[A-Za-z0-9+/=]{2,}"),
}


def find_secrets(text: str, values: Iterable[str] = ()) -> list[str]:
    """What in ``text`` is one of the secret ``values`` or looks like a secret: one line each,
    naming the kind and where (never the value itself)."""
    found = []
    for value in values:
        if value and value in text:
            found.append(f"a secret value used while recording, at offset {text.index(value)}")
    for kind, pattern in SECRET_SHAPES.items():
        for match in pattern.finditer(text):
            found.append(f"a {kind}, at offset {match.start()}")
    return found
