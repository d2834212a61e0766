"""Fixtures for the simulator's black-box tests: one sfsim subprocess per session, reset per test."""

from __future__ import annotations

import base64
import datetime
import hashlib
import re
import secrets
import time
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from sfsim.testing import Simulator, start_simulator

DEMO_KEY = "OrgPortalDemo"
DEMO_SECRET = "sfsim-demo-secret"
PUBLIC_KEY = "OrgPortalPublic"
CALLBACK = "http://127.0.0.1:8000/orgs/oauth/callback/"
PASSWORD = "sfsim-demo-password"
ADMIN = "admin@acme.example"
PROD_ORG = "00D5g00000AcPRDEA3"
UAT_USER = "dev@acme.example.uat"
DE_USER = "dev@acme-de.example"
SCRATCH_USER = "test-feature1@example.com"
UAT_ORG = "00D5g00000AcUATEA3"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@pytest.fixture(scope="session")
def _simulator():
    with start_simulator() as simulator:
        yield simulator


@pytest.fixture
def sim(_simulator: Simulator) -> Simulator:
    _simulator.reset()
    return _simulator


@pytest.fixture
def http():
    with requests.Session() as session:
        yield session


@dataclass
class Pkce:
    verifier: str
    challenge: str


def make_pkce() -> Pkce:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return Pkce(verifier, challenge)


@pytest.fixture
def pkce() -> Pkce:
    return make_pkce()


def callback_params(location: str) -> dict[str, str]:
    """Query parameters of a callback URL, decoded exactly once (as a web framework would)."""
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def hidden_txn(page_html: str) -> str:
    match = re.search(r'name="txn" value="([^"]+)"', page_html)
    assert match, page_html
    return match.group(1)


def browser_login(
    http: requests.Session,
    base_url: str,
    params: dict[str, str],
    *,
    username: str = ADMIN,
    password: str = PASSWORD,
    button: str = "allow",
) -> requests.Response:
    """Drive the HTML flow like a browser: authorize page, login form, Allow/Deny. Returns the 302."""
    page = http.get(f"{base_url}/services/oauth2/authorize", params=params, allow_redirects=False)
    assert page.status_code == 200, page.text
    assert 'id="Login"' in page.text
    allow_page = http.post(
        f"{base_url}/services/oauth2/authorize",
        data={"txn": hidden_txn(page.text), "username": username, "password": password, "Login": "Log In"},
        allow_redirects=False,
    )
    assert allow_page.status_code == 200 and 'id="allow"' in allow_page.text, allow_page.text
    return http.post(
        f"{base_url}/services/oauth2/authorize",
        data={"txn": hidden_txn(allow_page.text), button: "1"},
        allow_redirects=False,
    )


def authorize_params(
    pkce: Pkce | None,
    *,
    client_id: str = DEMO_KEY,
    state: str = "st-1",
    scope: str = "refresh_token api web id",
) -> dict[str, str]:
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": CALLBACK,
        "state": state,
        "scope": scope,
        "prompt": "login",
    }
    if pkce is not None:
        params.update(code_challenge=pkce.challenge, code_challenge_method="S256")
    return params


def exchange(
    http: requests.Session, base_url: str, code: str, pkce: Pkce | None, **overrides: str
) -> requests.Response:
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": DEMO_KEY,
        "client_secret": DEMO_SECRET,
        "redirect_uri": CALLBACK,
    }
    if pkce is not None:
        data["code_verifier"] = pkce.verifier
    data.update(overrides)
    return http.post(
        f"{base_url}/services/oauth2/token", data={k: v for k, v in data.items() if v is not None}
    )


def refresh(
    http: requests.Session,
    base_url: str,
    refresh_token: str,
    *,
    client_id: str = DEMO_KEY,
    client_secret: str | None = DEMO_SECRET,
) -> requests.Response:
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id}
    if client_secret is not None:
        data["client_secret"] = client_secret
    return http.post(f"{base_url}/services/oauth2/token", data=data)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def query(http: requests.Session, base_url: str, token: str, soql: str, **params: str) -> requests.Response:
    return http.get(
        f"{base_url}/services/data/v68.0/query", params={"q": soql, **params}, headers=bearer(token)
    )


@dataclass
class JwtSigner:
    private_key: rsa.RSAPrivateKey
    certificate_pem: str

    def assertion(
        self,
        *,
        sub: str = ADMIN,
        iss: str = DEMO_KEY,
        aud: str | list[str] = "https://login.salesforce.com",
        exp_in: float = 180,
        alg: str = "RS256",
        key: object | None = None,
    ) -> str:
        claims = {"iss": iss, "sub": sub, "aud": aud, "exp": int(time.time() + exp_in)}
        return jwt.encode(claims, key or self.private_key, algorithm=alg)


def make_signer() -> JwtSigner:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sfsim test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return JwtSigner(key, cert.public_bytes(serialization.Encoding.PEM).decode())


@pytest.fixture(scope="session")
def signer() -> JwtSigner:
    return make_signer()


@pytest.fixture
def jwt_app(sim: Simulator, signer: JwtSigner) -> JwtSigner:
    """OrgPortalDemo with the test certificate installed through the control API."""
    sim.update_app(DEMO_KEY, certificate=signer.certificate_pem)
    return signer
