"""A new PORTAL_ENCRYPTION_KEYS entry, `kid:base64url(32 random bytes)`, with the standard library only.

No settings, no Django, no third-party package: `python3 manage.py generate_encryption_key` answers from here before
Django loads (manage.py), so it works on an empty machine before anything is configured, and also under production
settings that would refuse to load without a key. `portal.lib.crypto.new_key_entry` uses the same function.
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import secrets
import sys

KID_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


def new_key_entry(kid: str | None = None) -> str:
    """A fresh keyring entry `kid:key`; the default kid is `k` + 8 random hex digits. ValueError for a bad kid."""
    kid = kid or "k" + secrets.token_hex(4)
    if not KID_RE.match(kid):
        raise ValueError("a key id may only contain letters, digits, - and _ (at most 32)")
    return f"{kid}:{base64.urlsafe_b64encode(os.urandom(32)).rstrip(b'=').decode('ascii')}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="manage.py generate_encryption_key",
                                     description="Print a new encryption keyring entry for PORTAL_ENCRYPTION_KEYS.")
    parser.add_argument("--kid", help="key id (letters, digits, - and _); default: random")
    args = parser.parse_args(argv)
    try:
        print(new_key_entry(args.kid))
    except ValueError as exc:
        print(f"generate_encryption_key: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
