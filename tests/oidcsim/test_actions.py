"""The GitHub Actions token request endpoint (ACTIONS_ID_TOKEN_REQUEST_URL / _TOKEN)."""

from __future__ import annotations

import jwt
import pytest

from oidcsim.testing import IssuerError

from .conftest import AUDIENCE, segments


def verify(token: str, jwks_uri: str, audience: str) -> dict:
    key = jwt.PyJWKClient(jwks_uri, cache_jwk_set=False).get_signing_key_from_jwt(token)
    return jwt.decode(token, key, algorithms=["RS256"], audience=audience)


def test_request_token_gets_a_signed_id_token_for_the_audience(oidc, http):
    env = oidc.actions_env(claims={"environment": "prod", "repository": "acme/api"})
    url, request_token = env["ACTIONS_ID_TOKEN_REQUEST_URL"], env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"]
    assert url == oidc.issuer_url("github") + "/_actions/token?api-version=2.0"
    response = http.get(f"{url}&audience={AUDIENCE}", headers={"Authorization": f"bearer {request_token}"})
    assert response.status_code == 200
    assert list(response.json()) == ["value"]
    claims = verify(response.json()["value"], oidc.jwks_uri("github"), AUDIENCE)
    assert claims["iss"] == oidc.issuer_url("github")
    assert claims["sub"] == "repo:acme/api:environment:prod"
    assert claims["exp"] - claims["iat"] == 300
    second = http.get(f"{url}&audience={AUDIENCE}", headers={"Authorization": f"Bearer {request_token}"})
    assert segments(second.json()["value"])[1]["jti"] != claims["jti"]  # a fresh token each time
    assert oidc.counters("github")["actions_token"] == 2


def test_default_audience_is_the_owner_url(oidc, http):
    job = oidc.set_actions_job(request_token="fixed-request-token", claims={"repository": "octo-org/app"})
    assert job["request_token"] == "fixed-request-token"
    response = http.get(job["request_url"], headers={"Authorization": "bearer fixed-request-token"})
    assert segments(response.json()["value"])[1]["aud"] == "https://github.com/octo-org"


@pytest.mark.parametrize(
    "authorization", [None, "bearer wrong", "Basic Zm9vOmJhcg==", "bearer", "fixed-request-token"]
)
def test_wrong_or_missing_request_token_is_401(oidc, http, authorization):
    job = oidc.set_actions_job(request_token="fixed-request-token")
    headers = {"Authorization": authorization} if authorization else {}
    response = http.get(f"{job['request_url']}&audience=x", headers=headers)
    assert response.status_code == 401
    assert "value" not in response.json()


def test_no_job_means_401_and_the_endpoint_is_github_only(oidc, http):
    job = oidc.set_actions_job()
    oidc.clear_actions_job()
    assert http.get(job["request_url"], headers={"Authorization": f"bearer {job['request_token']}"}).status_code == 401
    assert http.get(oidc.issuer_url("gitlab") + "/_actions/token").status_code == 404
    with pytest.raises(IssuerError) as refused:
        oidc.set_actions_job("gitlab")
    assert refused.value.status == 400
    oidc.set_actions_job(request_token="t")
    assert http.post(job["request_url"], headers={"Authorization": "bearer t"}).status_code == 405
    oidc.reset()
    assert http.get(job["request_url"], headers={"Authorization": "bearer t"}).status_code == 401


def test_tokens_follow_a_rotation(oidc, http):
    job = oidc.set_actions_job()
    new = oidc.rotate_key("github")
    token = http.get(job["request_url"], headers={"Authorization": f"bearer {job['request_token']}"}).json()["value"]
    assert segments(token)[0]["kid"] == new
