"""Issuing and verifying the authority's access tokens (RS256 JWTs, made and checked by PyJWT).

Tokens look like the ones Azure AD issues to a service principal for Azure Resource Manager
(version 1.0 access tokens, whichever endpoint asked): ``aud`` the resource, ``iss``
``{authority}/{tenant}/``, ``tid``, ``oid`` and ``sub`` the principal's object id, ``appid``
the client id, ``idtyp`` "app", ``iat``/``nbf``/``exp``. ARM's checks and error codes are in
:meth:`Authority.verify`: a bad token is ``InvalidAuthenticationToken``, an expired one
``ExpiredAuthenticationToken``, one for another resource ``InvalidAuthenticationTokenAudience``,
one from another tenant ``InvalidAuthenticationTokenTenant``.
"""

from __future__ import annotations

import datetime
import hmac
import logging
import time
import uuid
from typing import Callable, Collection

import attrs
import jwt

from ._keys import SigningKey

log = logging.getLogger("batchai_kit.local.aad")

TOKEN_LIFETIME = 3599  # what Azure AD gives a client-credentials token (about an hour)
CLOCK_SKEW = 300  # ARM tolerates five minutes either way
# The audiences ARM accepts in Azure's public cloud; the emulator also accepts its own URL.
ARM_AUDIENCES = ("https://management.core.windows.net/", "https://management.core.windows.net",
                 "https://management.azure.com/", "https://management.azure.com")


@attrs.frozen
class ServicePrincipal:
    """The one application the emulator's directory knows: its id, object id and secret."""

    client_id: str
    object_id: str
    secret: str = attrs.field(repr=False)

    def secret_matches(self, secret: str) -> bool:
        return hmac.compare_digest(secret.encode(), self.secret.encode())


@attrs.frozen
class IssuedToken:
    token: str = attrs.field(repr=False)
    resource: str
    issued_at: int
    expires_on: int


class TokenRejected(Exception):
    """Why ARM refuses a bearer token, in ARM's words."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


_SIGNED_KEPT = 256  # tokens whose signature is remembered (a few clients' tokens; bounded)


def _dotnet_time(epoch: float) -> str:
    """A UTC time as ARM's messages print it: ``11/29/2026 9:05:00 AM``."""
    moment = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc)
    hour = moment.hour % 12 or 12
    return (f"{moment.month}/{moment.day}/{moment.year} {hour}:{moment.minute:02d}:{moment.second:02d} "
            f"{'AM' if moment.hour < 12 else 'PM'}")


class Authority:
    """The emulator's directory: one tenant, one service principal, one signing key."""

    def __init__(self, key: SigningKey, tenant_id: str, principal: ServicePrincipal,
                 clock: Callable[[], float] = time.time):
        self.key = key
        self.tenant_id = tenant_id
        self.principal = principal
        self.clock = clock
        # Tokens whose signature checked out, by (key id, token): a client sends the same token with
        # every request, and decoding and checking it was two thirds of the CPU of an ARM GET. The
        # claims are still checked (expiry, tenant, audience) on every use.
        self._signed: dict[tuple[str, str], tuple[dict, dict]] = {}

    def issuer(self, base_url: str) -> str:
        """The ``iss`` of this tenant's tokens when the authority is reached at *base_url*."""
        return f"{base_url.rstrip('/')}/{self.tenant_id}/"

    def knows_tenant(self, tenant: str) -> bool:
        return tenant.lower() == self.tenant_id.lower()

    def issue(self, base_url: str, resource: str, *, lifetime: int = TOKEN_LIFETIME,
              issued_at: float | None = None) -> IssuedToken:
        """A signed access token for *resource* (an audience such as ARM's URL)."""
        now = int(self.clock() if issued_at is None else issued_at)
        issuer = self.issuer(base_url)
        claims = {
            "aud": resource, "iss": issuer, "iat": now, "nbf": now, "exp": now + lifetime,
            "appid": self.principal.client_id, "appidacr": "1", "idp": issuer, "idtyp": "app",
            "oid": self.principal.object_id, "sub": self.principal.object_id, "tid": self.tenant_id,
            "uti": uuid.uuid4().hex, "ver": "1.0",
        }
        token = jwt.encode(claims, self.key.private_key, algorithm="RS256",
                           headers={"kid": self.key.kid, "x5t": self.key.kid, "typ": "JWT"})
        log.debug("Issued a token to %s for %s", self.principal.client_id, resource)
        return IssuedToken(token, resource, now, now + lifetime)

    def verify(self, token: str, audiences: Collection[str]) -> dict:
        """The token's claims if ARM would accept it for one of *audiences*; else TokenRejected."""
        signed = self._signed.get((self.key.kid, token))
        if signed is None:
            try:
                header = jwt.get_unverified_header(token)
                claims = jwt.decode(token, self.key.public_key, algorithms=["RS256"],
                                    options={"verify_aud": False, "verify_exp": False, "verify_nbf": False,
                                             "verify_iat": False, "require": ["aud", "iss", "exp", "nbf", "tid"]})
            except jwt.PyJWTError:
                raise TokenRejected("InvalidAuthenticationToken", "The access token is invalid.") from None
            if len(self._signed) >= _SIGNED_KEPT:
                self._signed.clear()
            self._signed[(self.key.kid, token)] = (header, claims)
        else:
            header, claims = signed
        if header.get("kid") not in (None, self.key.kid):
            raise TokenRejected("InvalidAuthenticationToken", "The access token is invalid.")
        issuer = str(claims["iss"])
        if str(claims["tid"]).lower() != self.tenant_id.lower() or not issuer.endswith(f"/{self.tenant_id}/"):
            raise TokenRejected(
                "InvalidAuthenticationTokenTenant",
                f"The access token is from the wrong issuer '{issuer}'. It must match the tenant "
                f"'{self.tenant_id}' associated with this subscription. Please use the authority (URL) "
                f"of that tenant to get the token.")
        now = self.clock()
        if not isinstance(claims["exp"], (int, float)) or not isinstance(claims["nbf"], (int, float)):
            raise TokenRejected("InvalidAuthenticationToken", "The access token is invalid.")
        if claims["exp"] + CLOCK_SKEW <= now:
            raise TokenRejected(
                "ExpiredAuthenticationToken",
                f"The access token expiry UTC time '{_dotnet_time(claims['exp'])}' is earlier than current UTC "
                f"time '{_dotnet_time(now)}'.")
        if claims["nbf"] - CLOCK_SKEW > now:
            raise TokenRejected("InvalidAuthenticationToken",
                                f"The access token is not yet valid: it becomes valid at UTC time "
                                f"'{_dotnet_time(claims['nbf'])}'.")
        if claims["aud"] not in audiences:
            allowed = ",".join(f"'{a}'" for a in audiences)
            raise TokenRejected(
                "InvalidAuthenticationTokenAudience",
                f"The access token has been obtained for wrong audience or resource '{claims['aud']}'. "
                f"It should exactly match with one of the allowed audiences {allowed}.")
        return dict(claims)  # the remembered claims stay as signed


def arm_audiences(*base_urls: str) -> tuple[str, ...]:
    """What ARM accepts as ``aud``: the public cloud's ARM resource ids and the emulator's URLs."""
    own = []
    for given in base_urls:
        base = given.rstrip("/")
        own += [base + "/", base]
    return tuple(dict.fromkeys([*ARM_AUDIENCES, *own]))
