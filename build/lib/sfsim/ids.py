"""Salesforce-shaped identifiers and opaque token strings."""

from __future__ import annotations

import base64
import hashlib
import secrets

_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

ORG_PREFIX = "00D"
USER_PREFIX = "005"
SCRATCH_ORG_INFO_PREFIX = "2SR"
ACTIVE_SCRATCH_ORG_PREFIX = "2AS"
SANDBOX_INFO_PREFIX = "0GQ"
SANDBOX_PROCESS_PREFIX = "0GR"


def to18(record_id: str) -> str:
    """Return the 18-character, case-safe form of a 15- or 18-character Salesforce id."""
    if len(record_id) == 18:
        return record_id
    if len(record_id) != 15:
        raise ValueError(f"not a Salesforce id: {record_id!r}")
    suffix = ""
    for chunk in range(3):
        bits = 0
        for pos, char in enumerate(record_id[chunk * 5 : chunk * 5 + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << pos
        suffix += _SUFFIX_ALPHABET[bits]
    return record_id + suffix


def to15(record_id: str) -> str:
    """Return the 15-character (case-sensitive) form of an id."""
    return record_id[:15]


def normalize_id(value: str) -> str | None:
    """Return the 18-char form of a 15/18-char id-looking string, or None when it is not one."""
    if len(value) in (15, 18) and value.isalnum():
        return to18(value[:15])
    return None


def make_id(prefix: str, number: int) -> str:
    """Build a deterministic 18-char id: prefix + 'SIM' + base62(number), padded to 15, plus suffix."""
    digits = ""
    while True:
        number, rest = divmod(number, 62)
        digits = _BASE62[rest] + digits
        if number == 0:
            break
    body = prefix + "SIM" + digits.rjust(9, "0")
    return to18(body)


def _urlsafe(nbytes: int) -> str:
    return secrets.token_urlsafe(nbytes).replace("-", ".")


def new_access_token(org_id: str) -> str:
    """An opaque session id shaped like Salesforce's: ``<15-char org id>!<random>``."""
    return f"{to15(org_id)}!AQ{_urlsafe(72)}"


def new_refresh_token() -> str:
    return "5Aep861" + _urlsafe(63).replace("_", "")


def new_auth_code() -> str:
    """Base64 with '+', '/' and '==' padding, so clients must URL-decode exactly once (as real codes)."""
    return "aPrx" + base64.b64encode(secrets.token_bytes(49)).decode()


def new_opaque_id(nbytes: int = 24) -> str:
    return secrets.token_urlsafe(nbytes)


def token_hash(token: str) -> str:
    """The first 16 hex chars of sha256(token): what logs and audits may keep instead of a token."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]
