"""Request/response value objects shared by the endpoint modules (no I/O here)."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import parse_qs, quote, urlencode


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    body: bytes = b""
    log: dict[str, Any] = field(default_factory=dict)

    @property
    def form(self) -> dict[str, str]:
        """Form fields of an application/x-www-form-urlencoded body (first value wins)."""
        if not hasattr(self, "_form"):
            content_type = self.headers.get("content-type", "")
            parsed: dict[str, str] = {}
            if "application/x-www-form-urlencoded" in content_type or not content_type:
                text = self.body.decode("utf-8", errors="replace")
                parsed = {k: v[0] for k, v in parse_qs(text, keep_blank_values=True).items()}
            self._form = parsed
        return self._form

    def json_body(self) -> Any:
        return json.loads(self.body.decode("utf-8")) if self.body else None

    def bearer_token(self) -> str | None:
        auth = self.headers.get("authorization", "")
        scheme, _, value = auth.partition(" ")
        if scheme.lower() in ("bearer", "oauth") and value.strip():
            return value.strip()
        return None

    def basic_credentials(self) -> tuple[str, str] | None:
        auth = self.headers.get("authorization", "")
        scheme, _, value = auth.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, sep, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return (user, password) if sep else None

    def cookie(self, name: str) -> str | None:
        raw = self.headers.get("cookie")
        if not raw:
            return None
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(raw)
        except CookieError:
            return None
        morsel = jar.get(name)
        return morsel.value if morsel is not None else None


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str | None = "application/json;charset=UTF-8"
    headers: list[tuple[str, str]] = field(default_factory=list)


def json_response(status: int, payload: Any, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(status, json.dumps(payload).encode(), headers=headers or [])


def rest_error(status: int, error_code: str, message: str, fields: list[str] | None = None) -> Response:
    """The REST error shape: a JSON array of {message, errorCode[, fields]}."""
    item: dict[str, Any] = {"message": message, "errorCode": error_code}
    if fields is not None:
        item["fields"] = fields
    return json_response(status, [item])


def oauth_error(error: str, description: str, status: int = 400) -> Response:
    return json_response(
        status, {"error": error, "error_description": description}, [("Cache-Control", "no-store")]
    )


def html(status: int, text: str, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(status, text.encode(), "text/html;charset=UTF-8", headers or [])


def redirect(location: str, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(302, b"", None, [("Location", location), *(headers or [])])


def add_query(url: str, params: list[tuple[str, str]]) -> str:
    """Append query parameters (percent-encoded, spaces as %20) to a URL that may already have some."""
    query = urlencode(params, quote_via=quote)
    if not query:
        return url
    return url + ("&" if "?" in url else "?") + query


NOT_FOUND = ("NOT_FOUND", "The requested resource does not exist")


def not_found() -> Response:
    return rest_error(404, *NOT_FOUND)
