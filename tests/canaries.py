"""Canary secrets and every form they could leak in (docs/security.md, "Secrets at rest")."""

import base64
import json
import secrets
import urllib.parse


def new_canary(prefix: str) -> str:
    return f"CANARY{prefix}{secrets.token_hex(8)}"


def encodings(canary: str) -> dict[str, str]:
    """Plain, base64 in all three alignments, hex, URL-encoded and JSON-escaped forms of `canary`."""
    raw = canary.encode()
    forms = {"plain": canary, "hex": raw.hex(), "HEX": raw.hex().upper(),
             "url": urllib.parse.quote(canary, safe=""), "json": json.dumps(canary)[1:-1]}
    for pad in range(3):
        for name, encoder in (("base64", base64.b64encode), ("base64url", base64.urlsafe_b64encode)):
            encoded = encoder(b"\0" * pad + raw).decode().rstrip("=")
            # Drop the characters that depend on the bytes before and after the canary.
            forms[f"{name}{pad}"] = encoded[(pad * 4 + 2) // 3 + 1: -2]
    return forms


def find_leaks(text: str, canaries: dict[str, str]) -> list[str]:
    return [f"{label}:{form}" for label, canary in canaries.items()
            for form, value in encodings(canary).items() if value and value in text]
