"""Each misbehaviour set through configure(): status codes, redirects, wrong issuer, empty sets, latency."""

from __future__ import annotations

import threading
import time

import jwt
import pytest
import requests

from oidcsim.testing import IssuerError

from .conftest import AUDIENCE, segments


def test_jwks_can_answer_500(oidc, http):
    assert oidc.configure("github", jwks_status=500)["jwks_status"] == 500
    response = http.get(oidc.jwks_uri("github"))
    assert response.status_code == 500
    assert "keys" not in response.json()
    with pytest.raises(jwt.PyJWKClientError):
        jwt.PyJWKClient(oidc.jwks_uri("github")).get_signing_key_from_jwt(oidc.mint("github", audience=AUDIENCE))
    assert http.get(oidc.jwks_uri("gitlab")).status_code == 200  # per issuer
    oidc.configure("github", jwks_status=None)
    assert http.get(oidc.jwks_uri("github")).status_code == 200


def test_jwks_can_redirect_to_the_attacker_keys(oidc, http):
    attacker = oidc.attacker()
    assert oidc.configure("github", jwks_redirect=True)["jwks_redirect"] == attacker["jwks_url"]
    response = http.get(oidc.jwks_uri("github"), allow_redirects=False)
    assert response.status_code == 302 and response.headers["Location"] == attacker["jwks_url"]
    followed = http.get(oidc.jwks_uri("github"))  # a verifier that follows redirects gets the attacker's key
    assert [key["kid"] for key in followed.json()["keys"]] == [attacker["kid"]]
    assert oidc.attacker()["counters"]["jwks"] == 1
    oidc.configure("github", jwks_redirect="https://elsewhere.example/jwks")
    assert http.get(oidc.jwks_uri("github"), allow_redirects=False).headers["Location"] == (
        "https://elsewhere.example/jwks"
    )


def test_discovery_can_name_another_issuer_or_jwks_uri(oidc, http):
    url = oidc.issuer_url("github") + "/.well-known/openid-configuration"
    oidc.configure("github", discovery_issuer="https://token.actions.githubusercontent.com")
    document = http.get(url).json()
    assert document["issuer"] == "https://token.actions.githubusercontent.com"
    assert document["jwks_uri"] == oidc.jwks_uri("github")
    oidc.configure("github", discovery_jwks_uri="http://169.254.169.254/latest/meta-data/")
    assert http.get(url).json()["jwks_uri"] == "http://169.254.169.254/latest/meta-data/"
    # Tokens keep the real issuer URL: the mismatch is in the discovery document only.
    assert segments(oidc.mint("github", audience=AUDIENCE))[1]["iss"] == oidc.issuer_url("github")
    oidc.configure("github", discovery_status=503)
    assert http.get(url).status_code == 503


def test_jwks_can_be_empty(oidc, http):
    oidc.configure("gitlab", jwks_empty=True)
    assert http.get(oidc.jwks_uri("gitlab")).json() == {"keys": []}


def test_latency_slows_only_that_issuer(oidc, http):
    oidc.configure("github", latency_ms=800)
    slow: dict[str, float] = {}

    def fetch_slow() -> None:
        start = time.monotonic()
        http.get(oidc.jwks_uri("github"))
        slow["seconds"] = time.monotonic() - start

    thread = threading.Thread(target=fetch_slow)
    thread.start()
    time.sleep(0.05)
    start = time.monotonic()
    with requests.Session() as other:  # the slow request does not block the server
        assert other.get(oidc.jwks_uri("gitlab")).status_code == 200
        assert other.get(oidc.issuer_url("github").replace("/github", "/__control/health")).ok
    fast = time.monotonic() - start
    thread.join()
    assert slow["seconds"] >= 0.8
    assert fast < 0.5
    start = time.monotonic()
    http.get(oidc.issuer_url("github") + "/.well-known/openid-configuration")
    assert time.monotonic() - start >= 0.8  # discovery is slowed too


def test_bad_settings_are_refused_and_change_nothing(oidc):
    before = oidc.configure("github")
    for bad in ({"nope": 1}, {"jwks_status": "500"}, {"latency_ms": -1}, {"jwks_empty": "yes"},
                {"jwks_status": 500, "discovery_issuer": 3}):  # fmt: skip
        with pytest.raises(IssuerError) as refused:
            oidc.configure("github", **bad)
        assert refused.value.status == 400
    assert oidc.configure("github") == before
    oidc.configure("github", jwks_status=500, latency_ms=1)
    assert oidc.call("DELETE", "github/config") == before
    oidc.configure("github", jwks_status=500)
    oidc.reset()
    assert oidc.configure("github") == before
