"""Web-server flow: authorize pages, login, Allow/Deny, code exchange with PKCE, and its failures."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from tests.sfsim.conftest import (
    ADMIN,
    CALLBACK,
    DEMO_KEY,
    DEMO_SECRET,
    PROD_ORG,
    PUBLIC_KEY,
    authorize_params,
    bearer,
    browser_login,
    callback_params,
    exchange,
    hidden_txn,
    make_pkce,
)


def test_browser_flow_with_pkce_issues_tokens(sim, http, pkce):
    response = browser_login(http, sim.base_url, authorize_params(pkce))
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith(CALLBACK + "?code=")
    params = callback_params(location)
    assert params["state"] == "st-1"

    tokens = exchange(http, sim.base_url, params["code"], pkce)

    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    assert list(body) == [
        "access_token",
        "refresh_token",
        "signature",
        "scope",
        "instance_url",
        "id",
        "token_type",
        "issued_at",
    ]
    assert body["access_token"].startswith(PROD_ORG[:15] + "!")
    assert body["scope"] == "refresh_token api web id"
    assert body["instance_url"] == sim.base_url
    assert re.fullmatch(rf"{sim.base_url}/id/{PROD_ORG}/005\w{{15}}", body["id"])
    assert body["token_type"] == "Bearer"
    assert re.fullmatch(r"\d{13}", body["issued_at"])
    assert "expires_in" not in body
    userinfo = http.get(f"{sim.base_url}/services/oauth2/userinfo", headers=bearer(body["access_token"]))
    assert userinfo.json()["preferred_username"] == ADMIN


def test_signature_is_hmac_of_id_and_issued_at(sim, http, pkce):
    location = sim.authorize(
        ADMIN, DEMO_KEY, CALLBACK, code_challenge=pkce.challenge, scope="api refresh_token"
    )
    body = exchange(http, sim.base_url, callback_params(location)["code"], pkce).json()

    digest = hmac.new(
        DEMO_SECRET.encode(), (body["id"] + body["issued_at"]).encode(), hashlib.sha256
    ).digest()

    assert hmac.compare_digest(base64.b64encode(digest).decode(), body["signature"])


def test_code_arrives_url_encoded_exactly_once(sim, http, pkce):
    location = browser_login(http, sim.base_url, authorize_params(pkce)).headers["Location"]
    raw_code = re.search(r"[?&]code=([^&]+)", location).group(1)
    code = callback_params(location)["code"]

    assert raw_code.endswith("%3D%3D") and code.endswith("==")
    assert exchange(http, sim.base_url, code, pkce).status_code == 200


def _code(sim, pkce, **kw) -> str:
    location = sim.authorize(
        ADMIN,
        kw.pop("client_id", DEMO_KEY),
        CALLBACK,
        code_challenge=pkce.challenge,
        scope="api refresh_token",
        **kw,
    )
    return callback_params(location)["code"]


def _error(response) -> tuple[int, str, str]:
    body = response.json()
    return response.status_code, body["error"], body["error_description"]


def test_wrong_verifier_is_invalid_grant(sim, http, pkce):
    response = exchange(http, sim.base_url, _code(sim, pkce), pkce, code_verifier=make_pkce().verifier)
    assert _error(response)[:2] == (400, "invalid_grant")


def test_missing_verifier_is_invalid_grant(sim, http, pkce):
    response = exchange(http, sim.base_url, _code(sim, pkce), pkce, code_verifier=None)
    assert _error(response)[:2] == (400, "invalid_grant")


def test_code_is_single_use(sim, http, pkce):
    code = _code(sim, pkce)
    assert exchange(http, sim.base_url, code, pkce).status_code == 200

    assert _error(exchange(http, sim.base_url, code, pkce)) == (
        400,
        "invalid_grant",
        "expired authorization code",
    )


def test_code_expires_after_fifteen_minutes(sim, http, pkce):
    code = _code(sim, pkce)
    sim.configure(clock_offset_seconds=15 * 60 + 1)

    assert _error(exchange(http, sim.base_url, code, pkce)) == (
        400,
        "invalid_grant",
        "expired authorization code",
    )


def test_redirect_uri_must_equal_the_authorize_one(sim, http, pkce):
    response = exchange(
        http, sim.base_url, _code(sim, pkce), pkce, redirect_uri="http://127.0.0.1:8000/other/"
    )
    assert _error(response) == (400, "redirect_uri_mismatch", "redirect_uri must match configuration")


def test_wrong_secret_is_invalid_client(sim, http, pkce):
    response = exchange(http, sim.base_url, _code(sim, pkce), pkce, client_secret="nope")
    assert _error(response) == (400, "invalid_client", "invalid client credentials")


def test_missing_secret_is_invalid_client_when_required(sim, http, pkce):
    response = exchange(http, sim.base_url, _code(sim, pkce), pkce, client_secret=None)
    assert _error(response) == (400, "invalid_client", "invalid client credentials")


def test_unknown_client_is_invalid_client_id(sim, http, pkce):
    response = exchange(http, sim.base_url, _code(sim, pkce), pkce, client_id="NoSuchApp")
    assert _error(response) == (400, "invalid_client_id", "client identifier invalid")


def test_basic_auth_client_credentials_work(sim, http, pkce):
    data = {
        "grant_type": "authorization_code",
        "code": _code(sim, pkce),
        "redirect_uri": CALLBACK,
        "code_verifier": pkce.verifier,
    }
    response = http.post(f"{sim.base_url}/services/oauth2/token", data=data, auth=(DEMO_KEY, DEMO_SECRET))
    assert response.status_code == 200, response.text


def test_public_client_needs_no_secret_and_gets_no_signature(sim, http, pkce):
    code = _code(sim, pkce, client_id=PUBLIC_KEY)
    response = exchange(http, sim.base_url, code, pkce, client_id=PUBLIC_KEY, client_secret=None)
    assert response.status_code == 200, response.text
    assert "signature" not in response.json()
    assert "refresh_token" in response.json()


def test_public_client_must_not_send_a_secret(sim, http, pkce):
    code = _code(sim, pkce, client_id=PUBLIC_KEY)
    response = exchange(http, sim.base_url, code, pkce, client_id=PUBLIC_KEY, client_secret="anything")
    assert _error(response)[:2] == (400, "invalid_client")


def test_no_refresh_token_without_the_refresh_scope(sim, http, pkce):
    location = sim.authorize(ADMIN, DEMO_KEY, CALLBACK, code_challenge=pkce.challenge, scope="api web")
    body = exchange(http, sim.base_url, callback_params(location)["code"], pkce).json()
    assert "refresh_token" not in body and body["scope"] == "api web"


def test_deny_redirects_with_access_denied(sim, http, pkce):
    response = browser_login(http, sim.base_url, authorize_params(pkce, state="s t/+"), button="deny")
    location = response.headers["Location"]
    assert location.startswith(
        CALLBACK + "?error=access_denied&error_description=end-user%20denied%20authorization"
    )
    assert callback_params(location) == {
        "error": "access_denied",
        "error_description": "end-user denied authorization",
        "state": "s t/+",
    }


def test_redirect_uri_mismatch_shows_the_salesforce_error_page(sim, http, pkce):
    params = {**authorize_params(pkce), "redirect_uri": "https://evil.example/callback"}
    response = http.get(f"{sim.base_url}/services/oauth2/authorize", params=params, allow_redirects=False)

    location = response.headers["Location"]
    assert response.status_code == 302 and location.startswith("/setup/secur/RemoteAccessErrorPage.apexp?")
    assert "evil.example" not in location
    assert (
        "error=redirect_uri_mismatch&error_description=redirect_uri%20must%20match%20configuration"
        in location
    )
    page = http.get(sim.base_url + location)
    assert page.status_code == 400 and "redirect_uri must match configuration" in page.text


def test_unknown_client_on_authorize_shows_the_error_page(sim, http, pkce):
    response = http.get(
        f"{sim.base_url}/services/oauth2/authorize",
        params=authorize_params(pkce, client_id="NoSuchApp"),
        allow_redirects=False,
    )
    assert "error=invalid_client_id" in response.headers["Location"]
    assert response.headers["Location"].startswith("/setup/secur/")


def test_pkce_is_required_when_the_app_requires_it(sim, http):
    response = http.get(
        f"{sim.base_url}/services/oauth2/authorize", params=authorize_params(None), allow_redirects=False
    )
    params = callback_params(response.headers["Location"])
    assert params == {
        "error": "invalid_request",
        "error_description": "missing required code challenge",
        "state": "st-1",
    }


def test_scope_not_allowed_on_the_app_is_invalid_scope(sim, http, pkce):
    response = http.get(
        f"{sim.base_url}/services/oauth2/authorize",
        params=authorize_params(pkce, scope="api full"),
        allow_redirects=False,
    )
    assert callback_params(response.headers["Location"])["error"] == "invalid_scope"


def test_wrong_password_shows_the_login_page_again(sim, http, pkce):
    page = http.get(f"{sim.base_url}/services/oauth2/authorize", params=authorize_params(pkce))
    response = http.post(
        f"{sim.base_url}/services/oauth2/authorize",
        data={"txn": hidden_txn(page.text), "username": ADMIN, "password": "wrong"},
    )
    assert response.status_code == 200
    assert 'id="Login"' in response.text and "check your username and password" in response.text


def test_session_cookie_skips_login_unless_prompt_login(sim, http, pkce):
    browser_login(http, sim.base_url, authorize_params(pkce))
    params = authorize_params(make_pkce())

    with_prompt = http.get(f"{sim.base_url}/services/oauth2/authorize", params=params)
    del params["prompt"]
    without_prompt = http.get(f"{sim.base_url}/services/oauth2/authorize", params=params)

    assert 'id="Login"' in with_prompt.text
    assert 'id="allow"' in without_prompt.text and 'id="Login"' not in without_prompt.text
    assert "sfsim_sid" in http.cookies


def test_state_is_omitted_when_not_sent(sim, pkce):
    location = sim.authorize(ADMIN, DEMO_KEY, CALLBACK, code_challenge=pkce.challenge)
    assert set(callback_params(location)) == {"code"}
