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
    SCRATCH_USER,
    UAT_ORG,
    UAT_USER,
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


LOGIN = "https://login.salesforce.com"
TEST = "https://test.salesforce.com"
UAT_MY_DOMAIN = "https://acme--uat.sandbox.my.salesforce.com"
NOT_APPROVED = ("invalid_grant", "user hasn't approved this consumer")
UAT_ORG_FIXTURE = {
    "id": UAT_ORG,
    "name": "Acme UAT",
    "kind": "sandbox",
    "edition": "Enterprise Edition",
    "instance_name": "CS201",
}


@pytest.fixture
def all_preauthorized(sim, jwt_app):
    """Every user of each org type may use the JWT flow, so only the audience decides."""
    sim.update_app(DEMO_KEY, preauthorized_users=[ADMIN, DE_USER, UAT_USER, SCRATCH_USER])
    return jwt_app


@pytest.mark.parametrize(
    ("sub", "aud"),
    [
        (ADMIN, LOGIN),  # production
        (ADMIN, "BASE_URL"),
        (DE_USER, LOGIN),  # Developer Edition
        (DE_USER, "BASE_URL"),
        (UAT_USER, TEST),  # sandbox
        (UAT_USER, "BASE_URL"),
        (UAT_USER, TEST + "/"),
        (SCRATCH_USER, TEST),  # scratch
        (SCRATCH_USER, "BASE_URL"),
        (UAT_USER, ["https://evil.example", TEST]),  # any listed audience may match
    ],
)
def test_accepted_audiences_per_org_type(sim, http, all_preauthorized, sub, aud):
    assertion = all_preauthorized.assertion(sub=sub, aud=sim.base_url if aud == "BASE_URL" else aud)
    response = _jwt(http, sim.base_url, assertion)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("sub", "aud"),
    [(ADMIN, TEST), (DE_USER, TEST), (UAT_USER, LOGIN), (SCRATCH_USER, LOGIN)],
)
def test_login_host_of_the_other_org_type_is_not_approved(sim, http, all_preauthorized, sub, aud):
    """SALESFORCE.md section 3: wrong host type (prod vs sandbox) -> user hasn't approved this consumer."""
    response = _jwt(http, sim.base_url, all_preauthorized.assertion(sub=sub, aud=aud))
    assert _error(response) == NOT_APPROVED
    assert sim.log()[-1]["outcome"] == "wrong_host_type"


def test_my_domain_is_an_audience_for_its_own_org_only(sim, http, all_preauthorized):
    sim.load({"orgs": [{**UAT_ORG_FIXTURE, "instance_url": UAT_MY_DOMAIN}]})

    assert _jwt(http, sim.base_url, all_preauthorized.assertion(sub=UAT_USER, aud=UAT_MY_DOMAIN)).status_code == 200
    other_org = _jwt(http, sim.base_url, all_preauthorized.assertion(sub=ADMIN, aud=UAT_MY_DOMAIN))
    assert _error(other_org) == ("invalid_grant", "Audience validation failed")


def test_unknown_audience_for_a_sandbox_user_fails_audience_validation(sim, http, all_preauthorized):
    assertion = all_preauthorized.assertion(sub=UAT_USER, aud="https://evil.example")
    assert _error(_jwt(http, sim.base_url, assertion)) == ("invalid_grant", "Audience validation failed")


def test_wrong_host_type_still_needs_an_active_user_first(sim, http, all_preauthorized):
    assertion = all_preauthorized.assertion(sub="former@acme.example", aud=TEST)
    assert _error(_jwt(http, sim.base_url, assertion)) == ("invalid_grant", "authentication failure")


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
