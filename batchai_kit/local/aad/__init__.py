"""The emulator's Azure AD-compatible authority: one tenant, one service principal, signed tokens.

Clients sign in as they do with Azure AD (MSAL, azure-identity, ``az login --service-principal``,
ADAL, msrestazure) with the emulator's URL as the authority host; ARM then checks the tokens
(:meth:`Authority.verify`). State: the signing key under ``{data dir}/aad/`` (0600), the
tenant id and the service principal in the emulator's store, so they survive restarts.
"""

from __future__ import annotations

import secrets
import uuid
from pathlib import Path
from typing import Protocol

from ._app import AuthorityApp, OAuthError, is_authority_path
from ._keys import SigningKey, load_or_create
from ._tokens import (
    ARM_AUDIENCES,
    TOKEN_LIFETIME,
    Authority,
    IssuedToken,
    ServicePrincipal,
    TokenRejected,
    arm_audiences,
)

__all__ = ["ARM_AUDIENCES", "TOKEN_LIFETIME", "Authority", "AuthorityApp", "IssuedToken", "OAuthError",
           "ServicePrincipal", "SigningKey", "TokenRejected", "arm_audiences", "is_authority_path",
           "open_authority"]


class _Meta(Protocol):
    def meta(self, key: str) -> str | None: ...

    def set_meta(self, key: str, value: str) -> None: ...


def _remembered(store: _Meta, key: str, make) -> str:
    value = store.meta(key)
    if value is None:
        value = make()
        store.set_meta(key, value)
    return value


def open_authority(directory: Path, store: _Meta) -> Authority:
    """The authority whose key lives in *directory* and whose tenant and principal are in *store*
    (each made on first use)."""
    tenant = _remembered(store, "aad_tenant_id", lambda: str(uuid.uuid4()))
    principal = ServicePrincipal(
        client_id=_remembered(store, "aad_client_id", lambda: str(uuid.uuid4())),
        object_id=_remembered(store, "aad_object_id", lambda: str(uuid.uuid4())),
        secret=_remembered(store, "aad_client_secret", lambda: secrets.token_urlsafe(30)),
    )
    return Authority(load_or_create(directory), tenant, principal)
