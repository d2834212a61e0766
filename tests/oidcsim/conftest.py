"""Fixtures for oidcsim's black-box tests: one oidcsim subprocess per session, reset per test. No database."""

from __future__ import annotations

import base64
import json

import pytest
import requests

from oidcsim.testing import IssuerSimulator, start_issuer

AUDIENCE = "https://portal.example.com"


@pytest.fixture(scope="session")
def _issuer_process():
    with start_issuer() as simulator:
        yield simulator


@pytest.fixture
def oidc(_issuer_process: IssuerSimulator) -> IssuerSimulator:
    _issuer_process.reset()
    return _issuer_process


@pytest.fixture
def http():
    with requests.Session() as session:
        yield session


def segments(token: str) -> tuple[dict, dict, bytes]:
    """Header, payload and raw signature of a compact JWS, decoded without any verification."""
    header, payload, signature = token.split(".")
    return _json(header), _json(payload), _b64(signature)


def _b64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _json(segment: str) -> dict:
    return json.loads(_b64(segment))
