"""Request/response value objects (no I/O here)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    body: bytes = b""

    def json_object(self) -> dict[str, Any]:
        from oidcsim.errors import Problem

        if not self.body:
            return {}
        try:
            data = json.loads(self.body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise Problem("body must be JSON") from exc
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise Problem("body must be a JSON object")
        return data


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str | None = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)


def json_response(status: int, payload: Any, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(status, json.dumps(payload).encode(), headers=headers or [])


def error(status: int, message: str) -> Response:
    return json_response(status, {"error": message})


def redirect(location: str) -> Response:
    return Response(302, b"", None, [("Location", location)])
