"""The authority's token-signing key: RSA 2048 with a self-signed certificate, kept in the data dir.

Azure AD publishes each signing key as a JWK with its certificate (``x5c``) and the
certificate's SHA-1 thumbprint as ``kid`` and ``x5t``; the emulator does the same, so clients
that validate tokens find what they expect. The key is generated once and reused on every
start with the same data directory (tokens stay valid across restarts); the key file is 0600.
"""

from __future__ import annotations

import base64
import datetime
import os
from pathlib import Path

import attrs
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from .._private import open_private

KEY_FILE = "signing-key.pem"
CERT_FILE = "signing-cert.pem"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_uint(value: int) -> str:
    return _b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


@attrs.frozen
class SigningKey:
    """The private key (never in a repr), its certificate and the key id derived from it."""

    private_key: rsa.RSAPrivateKey = attrs.field(repr=False)
    certificate: x509.Certificate = attrs.field(repr=False)

    @property
    def kid(self) -> str:
        """The certificate's SHA-1 thumbprint, base64url: Azure AD's ``kid`` and ``x5t``."""
        return _b64url(self.certificate.fingerprint(hashes.SHA1()))  # noqa: S303 - AAD's x5t is SHA-1

    @property
    def public_key(self) -> rsa.RSAPublicKey:
        return self.private_key.public_key()

    def jwk(self) -> dict:
        """The public key as Azure AD's JWKS lists it."""
        numbers = self.public_key.public_numbers()
        der = self.certificate.public_bytes(serialization.Encoding.DER)
        return {"kty": "RSA", "use": "sig", "kid": self.kid, "x5t": self.kid,
                "n": _b64url_uint(numbers.n), "e": _b64url_uint(numbers.e),
                "x5c": [base64.b64encode(der).decode("ascii")]}


def load_or_create(directory: Path) -> SigningKey:
    """The signing key in *directory*, generated (mode 0600) on first use."""
    key_path, cert_path = directory / KEY_FILE, directory / CERT_FILE
    if key_path.exists() and cert_path.exists():
        os.chmod(key_path, 0o600)  # also when an older emulator or a umask left it readable
        private_key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if not isinstance(private_key, rsa.RSAPrivateKey):
            raise ValueError(f"{key_path} does not hold an RSA key")
        return SigningKey(private_key, x509.load_pem_x509_certificate(cert_path.read_bytes()))
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "batchai_kit local authority token signing")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=5 * 365))
        .sign(private_key, hashes.SHA256())
    )
    temporary = key_path.with_name(KEY_FILE + ".tmp")
    with open_private(temporary, "wb") as fh:
        fh.write(private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    os.replace(temporary, key_path)
    return SigningKey(private_key, certificate)
