"""Control API and fault injection: 503/500/429, timeouts, resets, latency, the request log."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import pytest
import requests

from sfsim.testing import SimulatorError
from tests.sfsim.conftest import ADMIN, DEMO_KEY, refresh


def _versions(http, sim) -> requests.Response:
    return http.get(f"{sim.base_url}/services/data/", timeout=5)


def test_fault_503_is_an_html_maintenance_page(sim, http):
    sim.configure(fail_rate=1, fail_mode="503")
    response = _versions(http, sim)
    assert response.status_code == 503 and response.headers["Content-Type"].startswith("text/html")
    assert sim.log()[-1]["outcome"] == "fault:503"


@pytest.mark.parametrize(("mode", "code"), [("500", "UNKNOWN_EXCEPTION"), ("429", "REQUEST_LIMIT_EXCEEDED")])
def test_fault_json_errors(sim, http, mode, code):
    sim.configure(fail_rate=1, fail_mode=mode)
    response = _versions(http, sim)
    assert response.status_code == int(mode) and response.json()[0]["errorCode"] == code


def test_fault_paths_limit_where_faults_apply(sim, http):
    sim.configure(fail_rate=1, fail_mode="503", fail_paths=["/services/oauth2/"])
    assert _versions(http, sim).status_code == 200
    assert refresh(http, sim.base_url, "x").status_code == 503


def test_timeout_fault_holds_the_request(sim, http):
    sim.configure(fail_rate=1, fail_mode="timeout", timeout_seconds=0.5)
    started = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        http.get(f"{sim.base_url}/services/data/", timeout=0.2)
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"{sim.base_url}/services/data/", timeout=2)
    assert time.monotonic() - started >= 0.5


def test_reset_fault_drops_the_connection(sim):
    sim.configure(fail_rate=1, fail_mode="reset")
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"{sim.base_url}/services/data/", timeout=2)


def test_fault_after_processing_loses_the_rotated_token(sim):
    """fail_when=after: Salesforce rotated the token but the client never saw the answer."""
    sim.update_app(DEMO_KEY, rotation=True)
    tokens = sim.mint_tokens(ADMIN, DEMO_KEY)
    sim.configure(fail_rate=1, fail_mode="reset", fail_when="after")
    with pytest.raises(requests.exceptions.ConnectionError):
        refresh(requests, sim.base_url, tokens["refresh_token"])
    sim.configure(fail_rate=0)
    assert refresh(requests, sim.base_url, tokens["refresh_token"]).json()["error"] == "invalid_grant"
    log = sim.log()
    assert [e["outcome"] for e in log][-2:] == ["rotated", "reused"]
    assert (log[-2]["fault"], log[-2]["status"]) == ("reset", 0)


def test_latency_is_added_to_every_request(sim, http):
    sim.configure(latency_ms=150)
    started = time.monotonic()
    assert _versions(http, sim).status_code == 200
    assert time.monotonic() - started >= 0.15


def test_reset_clears_config_tokens_and_log(sim, http):
    tokens = sim.mint_tokens(ADMIN, DEMO_KEY)
    sim.configure(latency_ms=5, page_size=10)
    _versions(http, sim)
    sim.reset()
    assert sim.log() == []
    assert sim.state()["config"]["latency_ms"] == 0 and sim.state()["access_tokens_active"] == 0
    assert refresh(http, sim.base_url, tokens["refresh_token"]).status_code == 400


def test_log_never_contains_raw_tokens_or_secrets(sim, http):
    tokens = sim.mint_tokens(ADMIN, DEMO_KEY)
    refresh(http, sim.base_url, tokens["refresh_token"])
    http.get(f"{sim.base_url}/services/oauth2/revoke", params={"token": tokens["access_token"]})
    text = repr(sim.log())
    for secret in (tokens["refresh_token"], tokens["access_token"], "sfsim-demo-secret"):
        assert secret not in text
    sim.clear_log()
    assert sim.log() == []


def test_log_entry_shape(sim, http):
    tokens = sim.mint_tokens(ADMIN, DEMO_KEY)
    refresh(http, sim.base_url, tokens["refresh_token"])
    entry = sim.log()[-1]
    assert set(entry) == {
        "ts",
        "method",
        "path",
        "status",
        "grant_type",
        "client_id",
        "username",
        "outcome",
        "token_sha256",
    }
    assert (entry["grant_type"], entry["client_id"], entry["username"]) == ("refresh_token", DEMO_KEY, ADMIN)


def test_bad_control_input_is_rejected(sim):
    with pytest.raises(SimulatorError, match="400"):
        sim.configure(fail_mode="sometimes")
    with pytest.raises(SimulatorError, match="400"):
        sim.configure(nonsense=1)
    with pytest.raises(SimulatorError, match="404"):
        sim.update_app("NoSuchApp", rotation=True)
    with pytest.raises(SimulatorError, match="400"):
        sim.update_app(DEMO_KEY, certificate="not a certificate")


def test_load_adds_thousands_of_users_quickly(sim):
    from sfsim.ids import make_id

    org_id = make_id("00D", 777)
    users = [
        {"id": make_id("005", 500_000 + i), "org": org_id, "username": f"load{i}@bench.example"}
        for i in range(2000)
    ]
    started = time.monotonic()
    result = sim.load({"orgs": [{"id": org_id, "name": "Bench", "kind": "production"}], "users": users})
    assert result["loaded"]["users"] == 2000
    minted = sim.mint_tokens("load1999@bench.example", DEMO_KEY)
    assert minted["access_token"].startswith(org_id[:15])
    assert time.monotonic() - started < 5


def test_control_authorize_reports_page_errors(sim):
    with pytest.raises(SimulatorError, match="redirect_uri_mismatch"):
        sim.authorize(ADMIN, DEMO_KEY, "https://evil.example/cb", code_challenge="x" * 43)


def test_redirect_fault_points_somewhere_else(sim, http):
    sim.configure(fail_rate=1, fail_mode="redirect", fail_paths=["/services/oauth2/token"])
    response = http.post(
        f"{sim.base_url}/services/oauth2/token", data={"grant_type": "x"}, allow_redirects=False
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "https://evil.example/sfsim-redirect"


def test_corrupt_signature_makes_the_signature_wrong(sim, http):
    sim.configure(corrupt_signature=True)
    body = refresh(http, sim.base_url, sim.mint_tokens(ADMIN, DEMO_KEY)["refresh_token"]).json()
    mac = hmac.new(b"sfsim-demo-secret", (body["id"] + body["issued_at"]).encode(), hashlib.sha256).digest()
    assert base64.b64encode(mac).decode() != body["signature"]
