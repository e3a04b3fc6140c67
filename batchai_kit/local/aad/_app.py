"""The authority's wire: Azure AD's discovery documents, keys and client-credentials token endpoints.

Paths, as on ``login.microsoftonline.com`` (the emulator serves them on its own port)::

    GET  /{tenant}/v2.0/.well-known/openid-configuration    OpenID discovery (v2.0 endpoints)
    GET  /{tenant}/.well-known/openid-configuration         OpenID discovery (v1 endpoints)
    GET  /common/discovery/instance?authorization_endpoint=  instance discovery (MSAL, ADAL)
    GET  /{tenant}/discovery/v2.0/keys, /common/discovery/keys   the signing keys (JWKS)
    POST /{tenant}/oauth2/v2.0/token   grant_type=client_credentials, scope={resource}/.default
    POST /{tenant}/oauth2/token        grant_type=client_credentials, resource={resource} (v1: ADAL,
                                       msrestazure's ServicePrincipalCredentials)

The client authenticates with its secret in the form (``client_secret``) or with HTTP Basic
(requests-oauthlib's default). Errors are Azure AD's: ``{"error", "error_description":
"AADSTS...: ...", "error_codes", "timestamp", "trace_id", "correlation_id", "error_uri"}``.
Interactive flows are not offered: the emulator's directory has one service principal.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
import re
import uuid
from urllib.parse import unquote, urlsplit

from werkzeug.wrappers import Request, Response

from ._tokens import Authority

_NOT_A_TENANT = ("common", "organizations", "consumers")
# /{tenant}/{rest}: which of the authority's paths this is
_ROUTES = [
    (re.compile(r"^/([^/]+)/v2\.0/\.well-known/openid-configuration/?$"), "openid_v2"),
    (re.compile(r"^/([^/]+)/\.well-known/openid-configuration/?$"), "openid_v1"),
    (re.compile(r"^/([^/]+)/discovery/instance/?$"), "instance_discovery"),
    (re.compile(r"^/([^/]+)/discovery/(?:v2\.0/)?keys/?$"), "keys"),
    (re.compile(r"^/([^/]+)/oauth2/v2\.0/token/?$"), "token_v2"),
    (re.compile(r"^/([^/]+)/oauth2/token/?$"), "token_v1"),
    (re.compile(r"^/([^/]+)/oauth2/(?:v2\.0/)?(?:authorize|devicecode|logout)/?$"), "interactive"),
]
_SERVED = re.compile(r"^/[^/]+/(?:v2\.0/\.well-known/|\.well-known/|discovery/|oauth2/)")


def is_authority_path(path: str) -> bool:
    """Whether *path* is one of the authority's (the emulator routes it here, not to ARM)."""
    return bool(_SERVED.match(path))


class OAuthError(Exception):
    """An Azure AD error answer (OAuth 2.0 error + AADSTS code)."""

    def __init__(self, status: int, error: str, aadsts: int, description: str):
        super().__init__(description)
        self.status = status
        self.error = error
        self.aadsts = aadsts
        self.description = description


def _json(body: dict, status: int = 200) -> Response:
    response = Response(json.dumps(body), status=status, content_type="application/json; charset=utf-8")
    response.headers["Cache-Control"] = "no-store, no-cache"
    response.headers["Pragma"] = "no-cache"
    return response


class AuthorityApp:
    """A WSGI app serving the :class:`Authority` to MSAL, azure-identity, az, ADAL, msrestazure."""

    def __init__(self, authority: Authority):
        self.authority = authority

    def __call__(self, environ, start_response):
        return self.dispatch(Request(environ))(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        base = request.host_url.rstrip("/")
        correlation = request.headers.get("client-request-id") or str(uuid.uuid4())
        try:
            for pattern, endpoint in _ROUTES:
                match = pattern.match(request.path)
                if match:
                    return getattr(self, endpoint)(request, base, unquote(match[1]))
            raise OAuthError(404, "not_found", 90027, f"The endpoint '{request.path}' does not exist.")
        except OAuthError as exc:
            now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
            trace = str(uuid.uuid4())
            description = (f"AADSTS{exc.aadsts}: {exc.description} Trace ID: {trace} Correlation ID: "
                           f"{correlation} Timestamp: {now}")
            return _json({"error": exc.error, "error_description": description, "error_codes": [exc.aadsts],
                          "timestamp": now, "trace_id": trace, "correlation_id": correlation,
                          "error_uri": f"{base}/error?code={exc.aadsts}"}, exc.status)

    # -- discovery ---------------------------------------------------------------------------------

    def _tenant_in_documents(self, tenant: str) -> str:
        """The tenant a discovery document is about: ours, or ``{tenantid}`` for the multi-tenant
        aliases (as Azure AD templates them)."""
        if tenant.lower() in _NOT_A_TENANT:
            return "{tenantid}"
        if not self.authority.knows_tenant(tenant):
            raise OAuthError(400, "invalid_tenant", 90002,
                             f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID "
                             "and are signing into the correct cloud.")
        return self.authority.tenant_id

    def _openid(self, base: str, path_tenant: str, tenant: str, v2: bool) -> dict:
        oauth = f"{base}/{path_tenant}/oauth2/v2.0" if v2 else f"{base}/{path_tenant}/oauth2"
        issuer = f"{base}/{tenant}/v2.0" if v2 else f"{base}/{tenant}/"
        return {
            "token_endpoint": f"{oauth}/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "jwks_uri": f"{base}/{path_tenant}/discovery/v2.0/keys" if v2 else f"{base}/common/discovery/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "token id_token", "token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"] if v2 else ["openid"],
            "issuer": issuer,
            "request_uri_parameter_supported": False,
            "authorization_endpoint": f"{oauth}/authorize",
            "device_authorization_endpoint": f"{oauth}/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{oauth}/logout",
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "tid", "oid", "appid", "ver"],
            "tenant_region_scope": "NA",
            "cloud_instance_name": urlsplit(base).hostname,
        }

    def openid_v2(self, request: Request, base: str, tenant: str) -> Response:
        return _json(self._openid(base, tenant, self._tenant_in_documents(tenant), v2=True))

    def openid_v1(self, request: Request, base: str, tenant: str) -> Response:
        return _json(self._openid(base, tenant, self._tenant_in_documents(tenant), v2=False))

    def keys(self, request: Request, base: str, tenant: str) -> Response:
        self._tenant_in_documents(tenant)
        return _json({"keys": [self.authority.key.jwk()]})

    def instance_discovery(self, request: Request, base: str, tenant: str) -> Response:
        """Azure AD's answer to "is this authorization endpoint one of yours?" (api-version 1.0/1.1)."""
        endpoint = request.args.get("authorization_endpoint", "")
        parts = urlsplit(endpoint)
        ours = urlsplit(base)
        # MSAL drops the port from the endpoint it asks about (it sends the authority's host name)
        if parts.scheme != "https" or parts.hostname != ours.hostname or parts.port not in (None, ours.port):
            raise OAuthError(400, "invalid_instance", 50049, "Unknown or invalid instance.")
        segments = [s for s in parts.path.split("/") if s]
        path_tenant = segments[0] if segments else "common"
        v2 = "v2.0" in segments
        well_known = "v2.0/.well-known/openid-configuration" if v2 else ".well-known/openid-configuration"
        host = ours.netloc
        return _json({"tenant_discovery_endpoint": f"{base}/{path_tenant}/{well_known}",
                      "api-version": request.args.get("api-version", "1.1"),
                      "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}]})

    def interactive(self, request: Request, base: str, tenant: str) -> Response:
        raise OAuthError(400, "unsupported_response_type", 70000,
                         "The emulator's directory signs in service principals only (grant_type="
                         "client_credentials); use the client id and secret in its ready file.")

    # -- the token endpoints ---------------------------------------------------------------------------

    def token_v2(self, request: Request, base: str, tenant: str) -> Response:
        self._authenticate(request, tenant)
        scope = request.form.get("scope")
        if not scope:
            raise OAuthError(400, "invalid_request", 900144,
                             "The request body must contain the following parameter: 'scope'.")
        resources = [s[: -len("/.default")] for s in scope.split() if s.endswith("/.default")]
        others = [s for s in scope.split() if not s.endswith("/.default")
                  and s not in ("openid", "profile", "offline_access")]
        if len(resources) != 1 or others:
            raise OAuthError(400, "invalid_scope", 1002012,
                             f"The provided value for scope {scope} is not valid. Client credential flows must "
                             "have a scope value with /.default suffixed to the resource identifier "
                             "(application ID URI).")
        issued = self.authority.issue(base, resources[0])
        lifetime = issued.expires_on - issued.issued_at
        return _json({"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime,
                      "access_token": issued.token})

    def token_v1(self, request: Request, base: str, tenant: str) -> Response:
        self._authenticate(request, tenant)
        resource = request.form.get("resource")
        if not resource:
            raise OAuthError(400, "invalid_resource", 500011,
                             "The resource principal was not named: the request body must contain the "
                             "following parameter: 'resource'.")
        issued = self.authority.issue(base, resource)
        lifetime = str(issued.expires_on - issued.issued_at)
        return _json({"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime,
                      "expires_on": str(issued.expires_on), "not_before": str(issued.issued_at),
                      "resource": resource, "access_token": issued.token})

    def _authenticate(self, request: Request, tenant: str) -> None:
        """Check the tenant, the grant type and the client's id and secret (form or HTTP Basic)."""
        if request.method != "POST":
            raise OAuthError(405, "invalid_request", 900561,
                             "The endpoint only accepts POST requests. Received a GET request.")
        if tenant.lower() in _NOT_A_TENANT:
            raise OAuthError(400, "invalid_request", 50059,
                             "No tenant-identifying information found in either the request or implied by any "
                             "provided credentials.")
        if not self.authority.knows_tenant(tenant):
            raise OAuthError(400, "invalid_request", 90002,
                             f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID "
                             "and are signing into the correct cloud.")
        grant = request.form.get("grant_type")
        if not grant:
            raise OAuthError(400, "invalid_request", 900144,
                             "The request body must contain the following parameter: 'grant_type'.")
        if grant != "client_credentials":
            raise OAuthError(400, "unsupported_grant_type", 70003,
                             f"The app requested an unsupported grant type '{grant}': the emulator's directory "
                             "offers client_credentials only.")
        client_id, secret = request.form.get("client_id"), request.form.get("client_secret")
        basic = _basic_credentials(request.headers.get("Authorization", ""))
        if basic is not None:
            if client_id and client_id != basic[0]:
                raise OAuthError(401, "invalid_client", 7000216,
                                 "The client id in the request body does not match the one in the "
                                 "Authorization header.")
            client_id, secret = basic
        if not client_id:
            raise OAuthError(400, "invalid_request", 900144,
                             "The request body must contain the following parameter: 'client_id'.")
        principal = self.authority.principal
        if client_id.lower() != principal.client_id.lower():
            raise OAuthError(400, "unauthorized_client", 700016,
                             f"Application with identifier '{client_id}' was not found in the directory "
                             f"'{self.authority.tenant_id}'. This can happen if the application has not been "
                             "installed by the administrator of the tenant or consented to by any user in the "
                             "tenant. You may have sent your authentication request to the wrong tenant.")
        if not secret:
            raise OAuthError(401, "invalid_client", 7000218,
                             "The request body must contain the following parameter: 'client_assertion' or "
                             "'client_secret'.")
        if not principal.secret_matches(secret):
            raise OAuthError(401, "invalid_client", 7000215,
                             "Invalid client secret provided. Ensure the secret being sent in the request is the "
                             f"client secret value, not the client secret ID, for a secret added to app "
                             f"'{principal.client_id}'.")


def _basic_credentials(header: str) -> tuple[str, str] | None:
    if not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise OAuthError(401, "invalid_client", 7000215, "The Authorization header is not valid HTTP Basic.") \
            from None
    client_id, _, secret = decoded.partition(":")
    # RFC 6749 2.3.1: both parts are form-urlencoded before Basic encoding
    return unquote(client_id.replace("+", " ")), unquote(secret.replace("+", " "))
