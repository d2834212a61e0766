"""Opening an org in the browser (SALESFORCE.md 4.5) and revoking an access token (4.1)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from tests.sfsim.conftest import ADMIN, DEMO_KEY, UAT_USER, bearer, query


def single_access(sim, http, token: str | None, **form: str):
    headers = bearer(token) if token else {}
    return http.post(f"{sim.base_url}/services/oauth2/singleaccess", data=form, headers=headers)


def test_single_use_frontdoor_url_logs_in_once(sim, http):
    token = sim.mint_tokens(ADMIN, DEMO_KEY)["access_token"]
    response = single_access(sim, http, token, redirect_uri="/lightning/r/Account/001/view")
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"frontdoor_uri"}
    uri = response.json()["frontdoor_uri"]
    parts = urlsplit(uri)
    assert uri.startswith(f"{sim.base_url}/secur/frontdoor.jsp?") and token not in uri
    assert parse_qs(parts.query)["startURL"] == ["/lightning/r/Account/001/view"]

    first = http.get(uri, allow_redirects=False)
    assert first.status_code == 302 and first.headers["Location"] == "/lightning/r/Account/001/view"
    assert "sfsim_sid=" in first.headers["Set-Cookie"]
    page = http.get(f"{sim.base_url}/lightning/r/Account/001/view")
    assert page.status_code == 200 and f'<span id="current_user">{ADMIN}</span>' in page.text

    with type(http)() as other_browser:
        second = other_browser.get(uri, allow_redirects=False)
        assert second.status_code == 302 and second.headers["Location"] == "/?ec=302"
        assert "Set-Cookie" not in second.headers
        home = other_browser.get(f"{sim.base_url}/lightning/page/home", allow_redirects=False)
        assert home.status_code == 302 and home.headers["Location"].startswith("/?ec=302")


def test_frontdoor_url_is_short_lived(sim, http):
    token = sim.mint_tokens(ADMIN, DEMO_KEY)["access_token"]
    uri = single_access(sim, http, token).json()["frontdoor_uri"]
    assert "startURL" not in uri
    sim.configure(clock_offset_seconds=61)
    expired = http.get(uri, allow_redirects=False)
    assert expired.status_code == 302 and expired.headers["Location"] == "/?ec=302"


def test_single_access_accepts_the_token_as_a_form_field_and_defaults_to_home(sim, http):
    token = sim.mint_tokens(ADMIN, DEMO_KEY)["access_token"]
    uri = single_access(sim, http, None, access_token=token).json()["frontdoor_uri"]
    landed = http.get(uri, allow_redirects=False)
    assert landed.headers["Location"] == "/lightning/page/home"
    assert http.get(f"{sim.base_url}/lightning/page/home").status_code == 200


def test_single_access_failures(sim, http):
    missing = single_access(sim, http, None)
    assert missing.status_code == 401 and missing.json()[0]["errorCode"] == "INVALID_SESSION_ID"
    assert single_access(sim, http, "00Dbogus!AQxyz").status_code == 401
    api_only = sim.mint_tokens(ADMIN, DEMO_KEY, scope="api refresh_token")["access_token"]
    refused = single_access(sim, http, api_only)
    assert refused.status_code == 403 and refused.json()[0]["errorCode"] == "INSUFFICIENT_ACCESS"
    token = sim.mint_tokens(ADMIN, DEMO_KEY)["access_token"]
    absolute = single_access(sim, http, token, redirect_uri="https://evil.example/")
    assert absolute.status_code == 400 and absolute.json()["error"] == "invalid_request"
    assert http.get(f"{sim.base_url}/services/oauth2/singleaccess").status_code == 405


def test_frontdoor_sid_form_post_still_works(sim, http):
    token = sim.mint_tokens(UAT_USER, DEMO_KEY)["access_token"]
    posted = http.post(f"{sim.base_url}/secur/frontdoor.jsp", data={"sid": token}, allow_redirects=False)
    assert posted.status_code == 302 and posted.headers["Location"] == "/lightning/page/home"
    page = http.get(f"{sim.base_url}/lightning/page/home")
    assert f'<span id="current_user">{UAT_USER}</span>' in page.text
    again = http.post(
        f"{sim.base_url}/secur/frontdoor.jsp",
        data={"sid": token, "retURL": "/lightning/o/Case/list"},
        allow_redirects=False,
    )
    assert again.headers["Location"] == "/lightning/o/Case/list"  # a session id is reusable
    bad = http.post(f"{sim.base_url}/secur/frontdoor.jsp", data={"sid": "nope"}, allow_redirects=False)
    assert bad.status_code == 302 and bad.headers["Location"] == "/?ec=302"
    assert "not logged in" in http.get(f"{sim.base_url}/?ec=302").text


def test_revoking_an_access_token_kills_only_that_token(sim, http):
    tokens = sim.mint_tokens(ADMIN, DEMO_KEY)
    access, refresh_token = tokens["access_token"], tokens["refresh_token"]
    assert query(http, sim.base_url, access, "SELECT Id FROM Organization").status_code == 200
    revoked = http.post(f"{sim.base_url}/services/oauth2/revoke", data={"token": access})
    assert revoked.status_code == 200 and revoked.content == b""
    dead = query(http, sim.base_url, access, "SELECT Id FROM Organization")
    assert dead.status_code == 401
    assert dead.json() == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
    assert single_access(sim, http, access).status_code == 401
    again = http.post(f"{sim.base_url}/services/oauth2/revoke", data={"token": access})
    assert again.status_code == 400 and again.json()["error"] == "invalid_token"
    renewed = http.post(
        f"{sim.base_url}/services/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": DEMO_KEY,
            "client_secret": "sfsim-demo-secret",
        },
    )
    assert renewed.status_code == 200  # the refresh token survives


def test_revoking_an_access_token_with_get(sim, http):
    access = sim.mint_tokens(ADMIN, DEMO_KEY)["access_token"]
    assert http.get(f"{sim.base_url}/services/oauth2/revoke", params={"token": access}).status_code == 200
    assert query(http, sim.base_url, access, "SELECT Id FROM Organization").status_code == 401
