"""The only module that touches encryption keys: envelope encryption of secrets at rest.

Scheme (docs/security.md, "Secrets at rest"): every value gets a fresh random 256-bit data key (DEK) and is
encrypted with AES-256-GCM; the DEK is wrapped with AES-256-GCM under a key-encryption key (KEK) from the keyring.
Both use the same associated data, `<context>|<kid>|v1`, where the context names the table, column and row
(e.g. `orgs.connectedapp.consumer_secret.<uuid>`), so a ciphertext copied to another row or column fails.

Stored form (ASCII, base64url without padding): `v1.<kid>.<nonce_w + wrapped_dek>.<nonce>.<ciphertext>`.

Keyring: `PORTAL_ENCRYPTION_KEYS` (or `PORTAL_ENCRYPTION_KEYS_FILE`) is an ordered, comma-separated list of
`kid:base64url(32 random bytes)`. The first key encrypts; every listed key decrypts. Keys are never derived from
SECRET_KEY. There is no plaintext fallback: anything that cannot be decrypted raises `DecryptionError`.

This module imports no Django at module level; `get_keyring()` reads the setting lazily.
"""

from __future__ import annotations

import base64
import os
import re
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from portal.lib import keygen

VERSION = "v1"
_KID_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


class CryptoError(Exception):
    """Base class. Messages never contain key material or plaintext."""


class KeyringError(CryptoError):
    """The keyring setting is missing or malformed."""


class DecryptionError(CryptoError):
    """A value cannot be decrypted: key missing or data damaged."""

    user_message = "cannot decrypt: key missing or data damaged"


def _b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Keyring:
    primary_kid: str
    keys: dict[str, bytes] = field(repr=False)

    def __repr__(self) -> str:
        return f"Keyring(primary={self.primary_kid!r}, kids={list(self.keys)!r})"

    @classmethod
    def parse(cls, value: str | None) -> Keyring:
        entries = [e.strip() for e in (value or "").replace("\n", ",").split(",") if e.strip()]
        if not entries:
            raise KeyringError("PORTAL_ENCRYPTION_KEYS is not set: it needs at least one kid:key entry")
        keys: dict[str, bytes] = {}
        for position, entry in enumerate(entries, start=1):
            kid, sep, encoded = entry.partition(":")
            if not sep or not _KID_RE.match(kid):
                raise KeyringError(
                    f"PORTAL_ENCRYPTION_KEYS entry {position} is malformed: expected kid:key with a kid of "
                    "letters, digits, - or _"
                )
            try:
                key = _b64d(encoded.strip())
            except (ValueError, TypeError):
                key = b""
            if len(key) != 32:
                raise KeyringError(
                    f"PORTAL_ENCRYPTION_KEYS key {kid!r} must be 32 random bytes, base64url-encoded "
                    "(generate one with: python manage.py generate_encryption_key)"
                )
            if kid in keys:
                raise KeyringError(f"PORTAL_ENCRYPTION_KEYS lists key {kid!r} twice")
            keys[kid] = key
        return cls(primary_kid=next(iter(keys)), keys=keys)


def new_key_entry(kid: str | None = None) -> str:
    """A fresh keyring entry `kid:key` for PORTAL_ENCRYPTION_KEYS (portal/lib/keygen.py, standard library only)."""
    try:
        return keygen.new_key_entry(kid)
    except ValueError as exc:
        raise KeyringError(str(exc)) from None


def _aad(context: str, kid: str) -> bytes:
    return f"{context}|{kid}|{VERSION}".encode()


def encrypt(plaintext: str, *, context: str, keyring: Keyring | None = None) -> str:
    keyring = keyring or get_keyring()
    kid = keyring.primary_kid
    aad = _aad(context, kid)
    dek = AESGCM.generate_key(bit_length=256)
    wrap_nonce, nonce = os.urandom(12), os.urandom(12)
    wrapped = AESGCM(keyring.keys[kid]).encrypt(wrap_nonce, dek, aad)
    ciphertext = AESGCM(dek).encrypt(nonce, plaintext.encode("utf-8"), aad)
    return ".".join([VERSION, kid, _b64e(wrap_nonce + wrapped), _b64e(nonce), _b64e(ciphertext)])


def key_id(token: str) -> str:
    """The key id a stored value was encrypted with (no decryption)."""
    parts = token.split(".")
    if len(parts) != 5 or parts[0] != VERSION:
        raise DecryptionError(DecryptionError.user_message)
    return parts[1]


def decrypt(token: str, *, context: str, keyring: Keyring | None = None) -> str:
    keyring = keyring or get_keyring()
    try:
        version, kid, wrapped_b64, nonce_b64, ct_b64 = token.split(".")
        if version != VERSION:
            raise ValueError("unknown version")
        kek = keyring.keys[kid]
        wrapped, nonce, ciphertext = _b64d(wrapped_b64), _b64d(nonce_b64), _b64d(ct_b64)
        aad = _aad(context, kid)
        dek = AESGCM(kek).decrypt(wrapped[:12], wrapped[12:], aad)
        return AESGCM(dek).decrypt(nonce, ciphertext, aad).decode("utf-8")
    except (ValueError, KeyError, InvalidTag, UnicodeDecodeError, AttributeError):
        # Deliberately vague: which of the causes it was is not the user's business, and no data leaks.
        raise DecryptionError(DecryptionError.user_message) from None


def reencrypt(token: str, *, context: str, keyring: Keyring | None = None) -> str:
    """The same secret under the primary key (a no-op copy when it is already there)."""
    keyring = keyring or get_keyring()
    if key_id(token) == keyring.primary_kid:
        return token
    return encrypt(decrypt(token, context=context, keyring=keyring), context=context, keyring=keyring)


_cached: tuple[str, Keyring] | None = None


def get_keyring() -> Keyring:
    """The configured keyring (parsed once per distinct setting value)."""
    global _cached
    from django.conf import settings

    value = getattr(settings, "PORTAL_ENCRYPTION_KEYS", "") or ""
    if _cached is None or _cached[0] != value:
        _cached = (value, Keyring.parse(value))
    return _cached[1]
