"""Signing keys, their public JWKs, and compact JWS assembly. ``cryptography`` + ``pyjwt``'s algorithms."""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from jwt.algorithms import get_default_algorithms

from oidcsim.errors import Problem

RSA_ALGS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
EC_ALGS = ("ES256",)
KEY_ALGS = ("RS256", "ES256")  # what a new key can be created as


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _int_bytes(value: int, length: int | None = None) -> bytes:
    return value.to_bytes(length or max(1, (value.bit_length() + 7) // 8), "big")


@dataclass
class SigningKey:
    alg: str  # the key's default algorithm: RS256 or ES256
    private_key: Any
    kid: str = ""
    published: bool = True
    created: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.kid:
            self.kid = thumbprint(self.public_jwk(with_kid=False))

    def public_jwk(self, with_kid: bool = True) -> dict[str, Any]:
        public = self.private_key.public_key()
        if isinstance(public, rsa.RSAPublicKey):
            numbers = public.public_numbers()
            jwk: dict[str, Any] = {"kty": "RSA", "n": b64url(_int_bytes(numbers.n)), "e": b64url(_int_bytes(numbers.e))}
        else:
            numbers = public.public_numbers()
            jwk = {
                "kty": "EC",
                "crv": "P-256",
                "x": b64url(_int_bytes(numbers.x, 32)),
                "y": b64url(_int_bytes(numbers.y, 32)),
            }
        if with_kid:
            jwk.update({"use": "sig", "alg": self.alg, "kid": self.kid})
        return jwk

    def public_pem(self) -> bytes:
        """SubjectPublicKeyInfo PEM: the text a confused verifier would use as an HMAC secret."""
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def supports(self, alg: str) -> bool:
        return alg in (RSA_ALGS if isinstance(self.private_key, rsa.RSAPrivateKey) else EC_ALGS)

    def sign(self, header: dict[str, Any], claims: dict[str, Any], alg: str | None = None) -> str:
        alg = alg or self.alg
        if not self.supports(alg):
            raise Problem(f"key {self.kid} ({self.alg}) cannot sign {alg}")
        header = {**header, "alg": alg}
        signing_input = _signing_input(header, claims)
        signature = get_default_algorithms()[alg].sign(signing_input, self.private_key)
        return f"{signing_input.decode('ascii')}.{b64url(signature)}"


def new_key(alg: str = "RS256", *, published: bool = True, created: float = 0.0) -> SigningKey:
    if alg == "RS256":
        private: Any = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif alg == "ES256":
        private = ec.generate_private_key(ec.SECP256R1())
    else:
        raise Problem(f"alg must be one of {KEY_ALGS}")
    return SigningKey(alg, private, published=published, created=created)


def thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url)."""
    members = ("e", "kty", "n") if jwk["kty"] == "RSA" else ("crv", "kty", "x", "y")
    canonical = json.dumps({k: jwk[k] for k in members}, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canonical.encode()).digest())


def _segment(value: dict[str, Any]) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def _signing_input(header: dict[str, Any], claims: dict[str, Any]) -> bytes:
    return f"{_segment(header)}.{_segment(claims)}".encode("ascii")


def unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    """``alg: none`` with an empty signature segment (``header.payload.``)."""
    return _signing_input({**header, "alg": "none"}, claims).decode("ascii") + "."


def hmac_signed(header: dict[str, Any], claims: dict[str, Any], secret: bytes) -> str:
    """HS256 keyed with ``secret`` (the algorithm-confusion attack passes the issuer's public key PEM)."""
    signing_input = _signing_input({**header, "alg": "HS256"}, claims)
    signature = hmac.new(secret, signing_input, hashlib.sha256).digest()
    return f"{signing_input.decode('ascii')}.{b64url(signature)}"


def self_signed_pem(key: SigningKey, common_name: str = "oidcsim attacker") -> bytes:
    """A self-signed certificate for ``key`` in PEM (what an ``x5u`` URL points at)."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key.private_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)
