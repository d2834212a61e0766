"""Small helpers for browser tests: read the test outbox, compute TOTP codes independently of allauth."""

import base64
import hashlib
import hmac
import re
import struct
import time

from django.core import mail


def last_link(pattern: str) -> str:
    """The path of the last link in the test outbox matching `pattern` (host stripped)."""
    for message in reversed(mail.outbox):
        match = re.search(r"https?://[^/\s]+(\S*" + re.escape(pattern) + r"\S*)", message.body)
        if match:
            return match.group(1)
    raise AssertionError(f"no email with a link matching {pattern!r}: {[m.subject for m in mail.outbox]}")


def totp(secret: str, *, at: float | None = None, period: int = 30, digits: int = 6) -> str:
    """RFC 6238 TOTP, written out here so the test does not trust the code it checks."""
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    counter = int((time.time() if at is None else at) // period)
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = (struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF) % 10**digits
    return str(value).zfill(digits)


def fresh_totp(secret: str, *, period: int = 30, margin: float = 2.0) -> str:
    """A code that stays valid for at least `margin` seconds: near the end of a period, wait for the next one, so
    the code the browser submits is not already stale when the server checks it (allauth allows no clock skew)."""
    left = period - (time.time() % period)
    if left < margin:
        time.sleep(left + 0.05)
    return totp(secret, period=period)


def submit(page, label: str | None = None) -> None:
    """Click the main form's submit button (the navigation bar has forms too)."""
    if label:
        page.locator("main").get_by_role("button", name=label).click()
    else:
        page.locator("main button[type=submit]").first.click()
