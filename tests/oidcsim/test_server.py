"""The process and the server: concurrency, the control API's errors, reset, SIGTERM, no portal imports."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jwt
import pytest
import requests

from oidcsim.testing import IssuerError, start_issuer

from .conftest import AUDIENCE

ROOT = Path(__file__).resolve().parents[2]


def test_concurrent_fetches_and_mints_are_all_answered_and_counted(oidc):
    jwks_uri = oidc.jwks_uri("github")

    def fetch(_: int) -> int:
        with requests.Session() as session:
            return len(session.get(jwks_uri, timeout=10).json()["keys"])

    def mint(_: int) -> str:
        return oidc.mint("gitlab", audience=AUDIENCE)

    with ThreadPoolExecutor(max_workers=32) as pool:
        fetched = list(pool.map(fetch, range(100)))
        tokens = list(pool.map(mint, range(100)))
    assert fetched == [1] * 100
    assert oidc.jwks_fetches("github") == 100
    keys = jwt.PyJWKClient(oidc.jwks_uri("gitlab"))
    jtis = {jwt.decode(t, keys.get_signing_key_from_jwt(t), ["RS256"], audience=AUDIENCE)["jti"] for t in tokens}
    assert len(jtis) == 100


def test_reset_restores_the_builtin_issuers_with_fresh_keys(oidc, http):
    old = oidc.signing_kid("github")
    oidc.create_issuer("extra")
    oidc.rotate_key("gitlab")
    http.get(oidc.jwks_uri("github"))
    assert oidc.reset() == {"ok": True, "issuers": ["github", "gitlab"]}
    assert [issuer["name"] for issuer in oidc.call("GET", "issuers")] == ["github", "gitlab"]
    assert oidc.signing_kid("github") != old
    assert len(oidc.issuer("gitlab")["keys"]) == 1
    assert oidc.jwks_fetches("github") == 0


def test_control_api_errors(oidc, http):
    for method, path, status in [
        ("GET", "nope/counters", 404),
        ("GET", "github/unknown", 404),
        ("PUT", "reset", 405),
        ("POST", "github/keys", 400),
    ]:
        with pytest.raises(IssuerError) as failed:
            oidc.call(method, path, {"alg": "HS256"} if path.endswith("keys") else None)
        assert failed.value.status == status, path
    assert http.get(oidc.base_url + "/nothing-here").status_code == 404
    assert http.post(oidc.jwks_uri("github")).status_code == 405
    assert http.get(oidc.base_url + "/__control/health").json() == {"ok": True, "base_url": oidc.base_url}


def test_sigterm_stops_the_server_cleanly():
    simulator = start_issuer()
    assert simulator.call("GET", "health")["ok"]
    simulator.process.terminate()
    assert simulator.process.wait(timeout=5) == 0
    simulator.stop()


def test_a_bad_option_exits_with_2():
    result = subprocess.run(
        [sys.executable, "-m", "oidcsim", "--port", "0", "--issuer-path", "nope=/x"],
        cwd=ROOT, capture_output=True, text=True, timeout=20,
    )  # fmt: skip
    assert result.returncode == 2 and "cannot start" in result.stderr


def test_the_package_imports_nothing_from_the_portal():
    code = (
        "import sys, oidcsim.__main__, oidcsim.testing\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'portal', 'orgs', 'sfsim', 'django'}))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=20)
    assert result.stdout.strip() == "[]", result.stderr
