"""Refresh tokens: plain and rotating, reuse detection, revoke, the five-approvals limit, concurrency."""

from __future__ import annotations

import threading

import requests

from sfsim.ids import token_hash
from tests.sfsim.conftest import (
    ADMIN,
    CALLBACK,
    DEMO_KEY,
    PUBLIC_KEY,
    bearer,
    callback_params,
    exchange,
    make_pkce,
    refresh,
)

EXPIRED = {"error": "invalid_grant", "error_description": "expired access/refresh token"}


def _rest_status(http, base_url: str, access_token: str) -> int:
    return http.get(
        f"{base_url}/services/data/v68.0/query",
        params={"q": "SELECT Id FROM Organization"},
        headers=bearer(access_token),
    ).status_code


def test_refresh_without_rotation_returns_no_refresh_token(sim, http):
    tokens = sim.mint_tokens(ADMIN, DEMO_KEY)

    first = refresh(http, sim.base_url, tokens["refresh_token"])
    second = refresh(http, sim.base_url, tokens["refresh_token"])

    assert first.status_code == second.status_code == 200
    assert "refresh_token" not in first.json()
    assert {"access_token", "signature", "scope", "instance_url", "id", "token_type", "issued_at"} == set(
        first.json()
    )
    assert _rest_status(http, sim.base_url, first.json()["access_token"]) == 200
    assert sim.log()[-1]["outcome"] == "ok"


def test_rotation_issues_a_new_refresh_token_and_invalidates_the_old(sim, http):
    sim.update_app(DEMO_KEY, rotation=True)
    tokens = sim.mint_tokens(ADMIN, DEMO_KEY)

    rotated = refresh(http, sim.base_url, tokens["refresh_token"])

    assert rotated.status_code == 200
    new_refresh = rotated.json()["refresh_token"]
    assert new_refresh != tokens["refresh_token"]
    assert refresh(http, sim.base_url, new_refresh).status_code == 200
    assert sim.log()[-2]["outcome"] == "rotated"


def test_reusing_a_rotated_out_token_revokes_the_whole_family(sim, http):
    sim.update_app(DEMO_KEY, rotation=True)
    tokens = sim.mint_tokens(ADMIN, DEMO_KEY)
    current = refresh(http, sim.base_url, tokens["refresh_token"]).json()

    reuse = refresh(http, sim.base_url, tokens["refresh_token"])

    assert reuse.status_code == 400 and reuse.json() == EXPIRED
    assert refresh(http, sim.base_url, current["refresh_token"]).json() == EXPIRED
    assert _rest_status(http, sim.base_url, current["access_token"]) == 401
    assert _rest_status(http, sim.base_url, tokens["access_token"]) == 401
    entry = [e for e in sim.log() if e["grant_type"] == "refresh_token"][1]
    assert entry["outcome"] == "reused" and entry["token_sha256"] == token_hash(tokens["refresh_token"])


def test_rotation_override_per_minted_family(sim, http):
    tokens = sim.mint_tokens(ADMIN, PUBLIC_KEY, rotation=True)
    response = refresh(http, sim.base_url, tokens["refresh_token"], client_id=PUBLIC_KEY, client_secret=None)
    assert "refresh_token" in response.json()


def test_refresh_with_a_wrong_secret_is_invalid_client(sim, http):
    tokens = sim.mint_tokens(ADMIN, DEMO_KEY)
    response = refresh(http, sim.base_url, tokens["refresh_token"], client_secret="wrong")
    assert response.json() == {"error": "invalid_client", "error_description": "invalid client credentials"}


def test_unknown_refresh_token_is_invalid_grant(sim, http):
    response = refresh(http, sim.base_url, "5Aep861NotARealToken")
    assert response.status_code == 400 and response.json() == EXPIRED
    assert sim.log()[-1]["outcome"] == "invalid"


def test_revoking_a_refresh_token_revokes_its_access_tokens(sim, http):
    tokens = sim.mint_tokens(ADMIN, DEMO_KEY)
    later = refresh(http, sim.base_url, tokens["refresh_token"]).json()

    response = http.post(f"{sim.base_url}/services/oauth2/revoke", data={"token": tokens["refresh_token"]})

    assert response.status_code == 200
    assert refresh(http, sim.base_url, tokens["refresh_token"]).json() == EXPIRED
    assert _rest_status(http, sim.base_url, tokens["access_token"]) == 401
    assert _rest_status(http, sim.base_url, later["access_token"]) == 401
    entry = [e for e in sim.log() if e["path"] == "/services/oauth2/revoke"][0]
    assert entry["outcome"] == "ok" and entry["token_sha256"] == token_hash(tokens["refresh_token"])


def test_revoking_an_access_token_revokes_only_that_token(sim, http):
    tokens = sim.mint_tokens(ADMIN, DEMO_KEY)

    response = http.get(f"{sim.base_url}/services/oauth2/revoke", params={"token": tokens["access_token"]})

    assert response.status_code == 200
    assert _rest_status(http, sim.base_url, tokens["access_token"]) == 401
    assert refresh(http, sim.base_url, tokens["refresh_token"]).status_code == 200
    assert "?" not in sim.log()[-2]["path"], "the log must not keep the token from the query string"


def test_revoking_an_unknown_token_is_invalid_token(sim, http):
    response = http.post(f"{sim.base_url}/services/oauth2/revoke", data={"token": "nope"})
    assert response.status_code == 400 and response.json()["error"] == "invalid_token"


def _web_flow_tokens(sim, http) -> dict:
    pkce = make_pkce()
    location = sim.authorize(
        ADMIN, DEMO_KEY, CALLBACK, code_challenge=pkce.challenge, scope="api refresh_token"
    )
    response = exchange(http, sim.base_url, callback_params(location)["code"], pkce)
    assert response.status_code == 200
    return response.json()


def test_the_sixth_approval_revokes_the_oldest(sim, http):
    grants = [_web_flow_tokens(sim, http) for _ in range(6)]

    assert refresh(http, sim.base_url, grants[0]["refresh_token"]).json() == EXPIRED
    assert _rest_status(http, sim.base_url, grants[0]["access_token"]) == 401
    for grant in grants[1:]:
        assert refresh(http, sim.base_url, grant["refresh_token"]).status_code == 200


def test_approvals_are_counted_per_app(sim, http):
    oldest = sim.mint_tokens(ADMIN, DEMO_KEY)
    for _ in range(5):
        sim.mint_tokens(ADMIN, PUBLIC_KEY)
    assert refresh(http, sim.base_url, oldest["refresh_token"]).status_code == 200


def test_control_revoke_user_kills_every_token(sim, http):
    tokens = sim.mint_tokens(ADMIN, DEMO_KEY)
    sim.revoke_user(ADMIN)
    assert refresh(http, sim.base_url, tokens["refresh_token"]).json() == EXPIRED
    assert _rest_status(http, sim.base_url, tokens["access_token"]) == 401


def test_concurrent_refresh_of_a_rotating_token_revokes_the_family(sim):
    """What real Salesforce does; the portal must serialise refreshes per credential to avoid it."""
    sim.update_app(DEMO_KEY, rotation=True)
    tokens = sim.mint_tokens(ADMIN, DEMO_KEY)
    barrier = threading.Barrier(20)
    results: list[requests.Response] = []
    lock = threading.Lock()

    def worker() -> None:
        with requests.Session() as session:
            session.get(f"{sim.base_url}/services/data/")  # open the connection before the race
            barrier.wait()
            response = refresh(session, sim.base_url, tokens["refresh_token"])
        with lock:
            results.append(response)

    threads = [threading.Thread(target=worker) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    winners = [r for r in results if r.status_code == 200]
    assert len(results) == 20 and len(winners) == 1
    assert all(r.json() == EXPIRED for r in results if r.status_code != 200)
    with requests.Session() as http:
        assert refresh(http, sim.base_url, winners[0].json()["refresh_token"]).json() == EXPIRED
        assert _rest_status(http, sim.base_url, winners[0].json()["access_token"]) == 401
    outcomes = [e["outcome"] for e in sim.log() if e["grant_type"] == "refresh_token"]
    assert sorted(outcomes[:20]) == ["reused"] * 19 + ["rotated"]
    assert outcomes[20] == "invalid"  # the winner's new token died with the family
