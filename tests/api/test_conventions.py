"""API conventions (issue 19 item 7): RFC 9457 problem+json errors (the old `error`/`message` members kept), a JSON
500 for unhandled exceptions under /api/, RateLimit headers on 429, X-Request-ID, cursor pages, /me, open."""

import json

import pytest
from django.test import Client

from orgs.models import Grant
from tests.api.conftest import HUB_USER, SANDBOX_USER, grant

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def _problem(response, status, code):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = json.loads(response.content)
    assert body["status"] == status and body["error"] == code and body["type"] == f"urn:orgportal:problem:{code}"
    assert body["title"] and body["detail"] == body["message"]
    return body


def test_errors_are_problem_details_keeping_error_and_message(client, world, orgs, make_token):
    _problem(client.get("/api/v1/orgs"), 401, "unauthorized")
    issued = make_token(world.member)
    _problem(client.get("/api/v1/orgs/nope", **issued.auth), 404, "not_found")
    _problem(client.get("/api/v1/no-such-endpoint", **issued.auth), 404, "not_found")
    _problem(client.delete("/api/v1/orgs", **issued.auth), 405, "method_not_allowed")


def test_an_unhandled_exception_under_api_is_a_json_500_with_the_request_id(world, orgs, make_token, monkeypatch):
    from orgs import access

    def boom(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(access, "api_connections", boom)
    client = Client(raise_request_exception=False)
    response = client.get("/api/v1/orgs", HTTP_X_REQUEST_ID="req-42", **make_token(world.owner).auth)
    body = _problem(response, 500, "server_error")
    assert response["X-Request-ID"] == "req-42" and "req-42" in body["detail"] and "a bug" not in body["detail"]


def test_request_ids_are_echoed_or_generated(client, world):
    echoed = client.get("/api/v1/schema", HTTP_X_REQUEST_ID="abc-123")
    assert echoed["X-Request-ID"] == "abc-123"
    fresh = client.get("/api/v1/schema", HTTP_X_REQUEST_ID="bad value\r\nX: y")
    assert len(fresh["X-Request-ID"]) == 32 and fresh["X-Request-ID"] != client.get("/api/v1/schema")["X-Request-ID"]
    assert client.get("/accounts/login/")["X-Request-ID"]  # pages too


def test_429_carries_ratelimit_headers(client, world, orgs, make_token, settings):
    settings.PORTAL_HANDOUT_RATE_PER_MINUTE = 0
    response = client.post("/api/v1/orgs/uat/access-token", **make_token(world.owner).auth)
    _problem(response, 429, "rate_limited")
    wait = int(response["Retry-After"])
    assert 0 < wait <= 60
    assert response["RateLimit-Policy"] == '"handout";q=0;w=60'
    assert response["RateLimit"] == f'"handout";r=0;t={wait}'


def test_orgs_come_in_cursor_pages(client, world, orgs, make_token, settings):
    settings.PORTAL_API_PAGE_SIZE = 1
    auth = make_token(world.owner).auth
    first = client.get("/api/v1/orgs", **auth)
    body = json.loads(first.content)
    assert [o["username"] for o in body["orgs"]] == [SANDBOX_USER] and body["next_cursor"]  # by alias
    assert first["Link"] == f'<{body["next"]}>; rel="next"' and "cursor=" in body["next"]
    second = json.loads(client.get("/api/v1/orgs", {"cursor": body["next_cursor"]}, **auth).content)
    assert [o["username"] for o in second["orgs"]] == [HUB_USER] and second["next_cursor"] is None
    both = json.loads(client.get("/api/v1/orgs", {"limit": 5}, **auth).content)
    assert len(both["orgs"]) == 2 and both["next"] is None
    _problem(client.get("/api/v1/orgs", {"cursor": "not-a-cursor"}, **auth), 400, "bad_cursor")
    _problem(client.get("/api/v1/orgs", {"limit": 0}, **auth), 400, "bad_request")


def test_me_says_who_the_token_acts_as(client, world, make_token):
    personal = make_token(world.member)
    me = json.loads(client.get("/api/v1/me", **personal.auth).content)
    assert me["user"] == {"email": world.member.email, "role": "member"}
    assert me["team"] == {"id": str(world.team.code), "name": world.team.name}
    assert me["token"]["kind"] == "personal" and me["token"]["name"] == personal.token.name
    service = make_token(world.owner, kind="service", name="CI")
    me = json.loads(client.get("/api/v1/me", **service.auth).content)
    assert me["user"] is None and me["token"]["kind"] == "service" and me["token"]["name"] == "CI"


def test_open_gives_a_single_use_url_to_targeters_only(client, world, orgs, make_token, sim):
    owner = make_token(world.owner)
    opened = client.post("/api/v1/orgs/uat/open", **owner.auth)
    assert opened.status_code == 200, opened.content
    body = json.loads(opened.content)
    assert "/secur/frontdoor.jsp" in body["url"] and body["username"] == SANDBOX_USER
    member = make_token(world.member)
    _problem(client.post(f"/api/v1/orgs/{SANDBOX_USER}/open", **member.auth), 404, "not_found")
    grant(orgs.sandbox, level=Grant.Level.VIEW, member=world.member)
    _problem(client.post(f"/api/v1/orgs/{SANDBOX_USER}/open", **member.auth), 403, "forbidden")
    outsider = make_token(world.outsider, team=world.other_team)
    _problem(client.post(f"/api/v1/orgs/{SANDBOX_USER}/open", **outsider.auth), 404, "not_found")
