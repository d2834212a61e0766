"""JWT bearer flow: success and each documented error; high-assurance users."""

from __future__ import annotations

from pathlib import Path

import jwt
import pytest

import sfsim
from tests.sfsim.conftest import (
    ADMIN,
    CALLBACK,
    DE_USER,
    DEMO_KEY,
    JWT_GRANT,
    PROD_ORG,
    bearer,
    callback_params,
    exchange,
    make_pkce,
    make_signer,
    query,
)

DEMO_KEY_FILE = Path(sfsim.__file__).parent / "fixtures" / "demo-jwt-key.pem"


def _jwt(http, base_url: str, assertion: str):
    return http.post(
        f"{base_url}/services/oauth2/token", data={"grant_type": JWT_GRANT, "assertion": assertion}
    )


def _error(response) -> tuple[str, str]:
    assert response.status_code == 400, response.text
    return response.json()["error"], response.json()["error_description"]


def test_jwt_bearer_returns_an_access_token_only(sim, http, jwt_app):
    response = _jwt(http, sim.base_url, jwt_app.assertion())

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "scope", "instance_url", "id", "token_type"}
    assert body["access_token"].startswith(PROD_ORG[:15] + "!")
    assert "refresh_token" not in body["scope"].split()
    assert query(http, sim.base_url, body["access_token"], "SELECT Id FROM Organization").status_code == 200
    assert sim.log()[-2]["outcome"] == "ok"


def test_the_demo_key_matches_the_fixture_certificate(sim, http):
    key = DEMO_KEY_FILE.read_bytes()
    assertion = jwt.encode(
        {"iss": DEMO_KEY, "sub": ADMIN, "aud": "https://login.salesforce.com", "exp": 4_102_444_800},
        key,
        algorithm="RS256",
    )
    assert _jwt(http, sim.base_url, assertion).status_code == 200


@pytest.mark.parametrize("aud", ["https://test.salesforce.com", "BASE_URL"])
def test_other_accepted_audiences(sim, http, jwt_app, aud):
    assertion = jwt_app.assertion(aud=sim.base_url if aud == "BASE_URL" else aud)
    assert _jwt(http, sim.base_url, assertion).status_code == 200


def test_bad_signature_is_invalid_assertion(sim, http, jwt_app):
    assertion = jwt_app.assertion(key=make_signer().private_key)
    assert _error(_jwt(http, sim.base_url, assertion)) == ("invalid_grant", "invalid assertion")


def test_malformed_jwt_is_invalid_assertion(sim, http, jwt_app):
    assert _error(_jwt(http, sim.base_url, "not.a.jwt")) == ("invalid_grant", "invalid assertion")


def test_non_rs256_is_invalid_assertion(sim, http, jwt_app):
    assertion = jwt_app.assertion(alg="HS256", key="a-shared-secret-that-is-long-enough-for-hs256")
    assert _error(_jwt(http, sim.base_url, assertion)) == ("invalid_grant", "invalid assertion")


def test_app_without_certificate_is_invalid_assertion(sim, http, jwt_app):
    sim.update_app(DEMO_KEY, certificate=None)
    assert _error(_jwt(http, sim.base_url, jwt_app.assertion())) == ("invalid_grant", "invalid assertion")


def test_unknown_issuer_is_invalid_client_id(sim, http, jwt_app):
    assertion = jwt_app.assertion(iss="NoSuchApp")
    assert _error(_jwt(http, sim.base_url, assertion)) == ("invalid_client_id", "client identifier invalid")


def test_wrong_audience_fails(sim, http, jwt_app):
    assertion = jwt_app.assertion(aud="https://evil.example")
    assert _error(_jwt(http, sim.base_url, assertion)) == ("invalid_grant", "Audience validation failed")


def test_expired_jwt_is_expired_authorization_code(sim, http, jwt_app):
    assertion = jwt_app.assertion(exp_in=-60)
    assert _error(_jwt(http, sim.base_url, assertion)) == ("invalid_grant", "expired authorization code")


def test_unknown_subject_is_authentication_failure(sim, http, jwt_app):
    assertion = jwt_app.assertion(sub="nobody@acme.example")
    assert _error(_jwt(http, sim.base_url, assertion)) == ("invalid_grant", "authentication failure")


def test_user_without_approval_is_rejected_until_approved(sim, http, jwt_app):
    assertion = jwt_app.assertion(sub=DE_USER)
    assert _error(_jwt(http, sim.base_url, assertion)) == (
        "invalid_grant",
        "user hasn't approved this consumer",
    )

    pkce = make_pkce()
    location = sim.authorize(
        DE_USER, DEMO_KEY, CALLBACK, code_challenge=pkce.challenge, scope="api refresh_token"
    )
    assert exchange(http, sim.base_url, callback_params(location)["code"], pkce).status_code == 200

    assert _jwt(http, sim.base_url, jwt_app.assertion(sub=DE_USER)).status_code == 200


def test_preauthorizing_a_user_through_the_control_api(sim, http, jwt_app):
    sim.update_app(DEMO_KEY, preauthorized_users=[DE_USER])
    assert _jwt(http, sim.base_url, jwt_app.assertion(sub=DE_USER)).status_code == 200


def test_high_assurance_user_gets_a_token_that_rest_refuses(sim, http, jwt_app):
    response = _jwt(http, sim.base_url, jwt_app.assertion(sub="secure@acme.example"))
    assert response.status_code == 200
    token = response.json()["access_token"]
    expected = [
        {"message": "This session is not valid for use with the REST API", "errorCode": "INVALID_SESSION_ID"}
    ]

    rest = query(http, sim.base_url, token, "SELECT Id FROM Organization")
    userinfo = http.get(f"{sim.base_url}/services/oauth2/userinfo", headers=bearer(token))
    identity = http.get(response.json()["id"], headers=bearer(token))

    for answer in (rest, userinfo, identity):
        assert answer.status_code == 401 and answer.json() == expected
