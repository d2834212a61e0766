"""The one error type of the control API: a message and the HTTP status to answer with."""

from __future__ import annotations


class Problem(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status
