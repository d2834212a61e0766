"""JWT signing keys: load and validate uploads, or generate an RSA key with a self-signed certificate.

Pure functions over `cryptography`; no Django. Every refusal is a `KeyMaterialError` whose message is fit for a
form, and none of them echoes key material.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from django.views.decorators.debug import sensitive_variables

MAX_FILE_BYTES = 64 * 1024
MIN_RSA_BITS = 2048
GENERATE_SIZES = (2048, 3072, 4096)


class KeyMaterialError(ValueError):
    """Why an uploaded key or certificate cannot be used."""


@dataclass(frozen=True)
class KeyMaterial:
    private_key_pem: str = field(repr=False)
    certificate_pem: str
    subject: str
    not_before: dt.datetime
    not_after: dt.datetime
    fingerprint_sha256: str
    key_size: int


def _check_size(data: bytes, what: str) -> None:
    if len(data) > MAX_FILE_BYTES:
        raise KeyMaterialError(f"The {what} file is larger than 64 KB; upload just the PEM or DER file.")
    if not data.strip():
        raise KeyMaterialError(f"The {what} file is empty.")


def _load_private_key(data: bytes, passphrase: str | None):
    password = passphrase.encode() if passphrase else None
    try:
        return serialization.load_pem_private_key(data, password=password)
    except TypeError as exc:
        if "not encrypted" in str(exc):  # a passphrase given for a plain key: just ignore it
            return serialization.load_pem_private_key(data, password=None)
        raise KeyMaterialError("This private key is protected by a passphrase. Enter the passphrase.") from None
    except ValueError:
        if b"ENCRYPTED" in data and password:
            raise KeyMaterialError("The passphrase is wrong: the private key could not be decrypted.") from None
        raise KeyMaterialError(
            "The private key could not be read. Upload an unmodified PEM file (-----BEGIN PRIVATE KEY-----)."
        ) from None
    except Exception:  # noqa: BLE001 - cryptography raises several types for damaged input
        raise KeyMaterialError("The private key could not be read.") from None


def _load_certificate(data: bytes) -> x509.Certificate:
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except Exception:  # noqa: BLE001
        raise KeyMaterialError("The certificate could not be read. Upload an X.509 certificate (PEM or DER).") \
            from None


def _fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


def _material(private_key: rsa.RSAPrivateKey, cert: x509.Certificate) -> KeyMaterial:
    pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return KeyMaterial(
        private_key_pem=pem,
        certificate_pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
        subject=cert.subject.rfc4514_string(),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        fingerprint_sha256=_fingerprint(cert),
        key_size=private_key.key_size,
    )


@sensitive_variables()
def load_uploaded(*, private_key: bytes, certificate: bytes, passphrase: str | None = None,
                  now: dt.datetime | None = None) -> KeyMaterial:
    _check_size(private_key, "private key")
    _check_size(certificate, "certificate")
    key = _load_private_key(private_key, passphrase)
    if not isinstance(key, rsa.RSAPrivateKey):
        kind = type(key).__name__.replace("_", "").replace("PrivateKey", "") or "non-RSA"
        raise KeyMaterialError(f"Salesforce JWT needs an RSA key (RS256); this is an {kind} key.")
    if key.key_size < MIN_RSA_BITS:
        raise KeyMaterialError(f"This RSA key has {key.key_size} bits; use at least {MIN_RSA_BITS}.")
    cert = _load_certificate(certificate)
    if cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) \
            != key.public_key().public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo):
        raise KeyMaterialError("The certificate does not belong to this private key (their public keys differ).")
    now = now or dt.datetime.now(dt.UTC)
    if cert.not_valid_after_utc <= now:
        raise KeyMaterialError(f"The certificate expired on {cert.not_valid_after_utc:%Y-%m-%d}.")
    return _material(key, cert)


@sensitive_variables()
def generate(*, common_name: str, key_size: int = 2048, validity_days: int = 365) -> KeyMaterial:
    if key_size not in GENERATE_SIZES:
        raise KeyMaterialError("Choose a key size of 2048, 3072 or 4096 bits.")
    if not 1 <= validity_days <= 3650:
        raise KeyMaterialError("Validity must be between 1 and 3650 days.")
    common_name = common_name.strip()
    if not common_name or len(common_name) > 64:
        raise KeyMaterialError("The common name must be 1 to 64 characters.")
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=validity_days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return _material(key, cert)
