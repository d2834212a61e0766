"""The REST API over HTTP: listing, details, access-token hand-outs, every error shape, audit, rate limit, schema."""

import hashlib

import jsonschema
import pytest
from django.utils import timezone

from orgs.api import schema as openapi
from orgs.models import Grant
from portal.accounts.models import AuditEvent
from tests.api.conftest import HUB_ORG, HUB_USER, SANDBOX_USER, grant

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

TOKEN_URL = "/api/v1/orgs/{}/access-token"


def _schema(name):
    return {**openapi.schema()["components"]["schemas"][name], "$defs": openapi.schema()["components"]["schemas"]}


def validate(body, name):
    resolver_schema = {"$ref": f"#/components/schemas/{name}", "components": openapi.schema()["components"]}
    jsonschema.validate(body, resolver_schema)


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    validate(body, "Error")
    assert body["error"] == code and body["message"]
    return body


def test_list_the_orgs_the_caller_can_target(client, world, orgs, make_token):
    issued = make_token(world.owner)
    response = client.get("/api/v1/orgs", **issued.auth)
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    body = response.json()
    validate(body["orgs"][0], "Org")
    assert [o["username"] for o in body["orgs"]] == [SANDBOX_USER, HUB_USER]  # the owner's alias first, then by user
    uat = body["orgs"][0]
    assert uat["alias"] == "uat" and uat["type"] == "Sandbox" and uat["access"] == "manage"
    assert body["orgs"][1]["type"] == "Dev Hub" and body["orgs"][1]["alias"] is None  # alice has no alias for it
    assert "access_token" not in response.content.decode()


def test_default_flags_are_the_callers(client, world, orgs, make_token):
    from orgs.models import OrgAlias

    OrgAlias.objects.filter(user=world.member, connection=orgs.hub).update(is_default_org=True, is_default_devhub=True)
    body = client.get("/api/v1/orgs/hub", **make_token(world.member).auth).json()
    assert body["is_default_org"] is True and body["is_default_devhub"] is True
    assert body["org_id"] == HUB_ORG and body["is_devhub"] is True and body["instance_url"]


def test_detail_by_alias_username_and_org_id(client, world, orgs, make_token):
    auth = make_token(world.member).auth
    for ident in ("hub", HUB_USER, HUB_ORG, HUB_ORG[:15]):
        response = client.get(f"/api/v1/orgs/{ident}", **auth)
        assert response.status_code == 200, ident
        assert response.json()["username"] == HUB_USER


def test_access_token_is_served_from_the_cache_and_audited(client, world, orgs, make_token, sim):
    issued = make_token(world.member, name="laptop")
    sim.clear_log()
    response = client.post(TOKEN_URL.format("hub"), **issued.auth, REMOTE_ADDR="10.1.2.3")
    assert response.status_code == 200, response.content
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    validate(body, "AccessToken")
    assert body["access_token"] == orgs.hub.reveal("access_token")
    assert (body["instance_url"], body["username"], body["org_id"], body["api_version"]) == (
        sim.base_url, HUB_USER, HUB_ORG, "68.0")
    assert not [e for e in sim.log() if e["path"] == "/services/oauth2/token"]  # warm: no Salesforce call
    event = AuditEvent.objects.get(kind="token.issued")
    assert event.actor == world.member and event.subject == "hub" and event.ip == "10.1.2.3"
    assert event.data["org_id"] == HUB_ORG and event.data["api_token"]["name"] == "laptop"
    assert event.data["token_sha256"] == hashlib.sha256(body["access_token"].encode()).hexdigest()[:16]
    assert body["access_token"] not in str(event.data) and issued.raw not in str(event.data)


def test_the_token_works_at_salesforce(client, world, orgs, make_token, sim):
    import requests

    body = client.post(TOKEN_URL.format("uat"), **make_token(world.owner).auth).json()
    answer = requests.get(f"{body['instance_url']}/services/data/v{body['api_version']}/query",
                          params={"q": "SELECT Id FROM Organization"},
                          headers={"Authorization": f"Bearer {body['access_token']}"}, timeout=10)
    assert answer.status_code == 200 and answer.json()["totalSize"] == 1


# -- errors ---

def test_401_without_or_with_a_bad_token(client, world, orgs, make_token):
    assert_error(client.get("/api/v1/orgs"), 401, "unauthorized")
    assert client.get("/api/v1/orgs")["WWW-Authenticate"] == "Bearer"
    assert_error(client.get("/api/v1/orgs", HTTP_AUTHORIZATION="Bearer op_nope"), 401, "unauthorized")
    assert_error(client.get("/api/v1/orgs", HTTP_AUTHORIZATION="Basic abc"), 401, "unauthorized")
    issued = make_token(world.owner)
    assert_error(client.get("/api/v1/orgs", HTTP_AUTHORIZATION=f"Bearer {issued.raw}x"), 401, "unauthorized")
    assert not AuditEvent.objects.filter(kind="token.issued").exists()


def test_401_for_revoked_and_expired_tokens_and_deactivated_owners(client, world, orgs, make_token):
    from portal.accounts.tokens import api_token_revoke

    revoked = make_token(world.owner)
    api_token_revoke(actor=world.owner, token=revoked.token)
    assert_error(client.post(TOKEN_URL.format("uat"), **revoked.auth), 401, "unauthorized")
    expired = make_token(world.owner, expires_at=timezone.now() + timezone.timedelta(seconds=1))
    type(expired.token).objects.filter(pk=expired.token.pk).update(expires_at=timezone.now())
    assert_error(client.post(TOKEN_URL.format("uat"), **expired.auth), 401, "unauthorized")
    member = make_token(world.member)
    world.member.is_active = False
    world.member.save()
    assert_error(client.get("/api/v1/orgs", **member.auth), 401, "unauthorized")


def test_404_unknown_and_invisible_look_the_same(client, world, orgs, make_token):
    auth = make_token(world.member).auth  # carol cannot see alice's sandbox
    unknown = assert_error(client.post(TOKEN_URL.format("nope"), **auth), 404, "not_found")
    invisible = assert_error(client.post(TOKEN_URL.format(SANDBOX_USER), **auth), 404, "not_found")
    assert unknown["message"].replace("nope", "X") == invisible["message"].replace(SANDBOX_USER, "X")
    assert_error(client.get("/api/v1/orgs/uat", **auth), 404, "not_found")
    assert_error(client.get("/api/v1/nothing-here", **auth), 404, "not_found")


def test_403_when_visible_but_not_targetable(client, world, orgs, make_token):
    grant(orgs.sandbox, level=Grant.Level.VIEW, member=world.member)
    auth = make_token(world.member).auth
    assert client.get(f"/api/v1/orgs/{SANDBOX_USER}", **auth).json()["access"] == "view"
    assert SANDBOX_USER not in [o["username"] for o in client.get("/api/v1/orgs", **auth).json()["orgs"]]
    assert_error(client.post(TOKEN_URL.format(SANDBOX_USER), **auth), 403, "forbidden")
    assert not AuditEvent.objects.filter(kind="token.issued").exists()


def test_405_for_the_wrong_method(client, world, orgs, make_token):
    auth = make_token(world.owner).auth
    response = client.get(TOKEN_URL.format("uat"), **auth)
    assert_error(response, 405, "method_not_allowed")
    assert response["Allow"] == "POST"
    assert_error(client.post("/api/v1/orgs", **auth), 405, "method_not_allowed")


def test_409_when_the_connection_needs_reauthorization(client, world, orgs, make_token, sim):
    orgs.sandbox.seal("access_token", None)
    orgs.sandbox.save()
    sim.revoke_user(SANDBOX_USER)  # the refresh token is dead at Salesforce
    body = assert_error(client.post(TOKEN_URL.format("uat"), **make_token(world.owner).auth), 409, "needs_reauth")
    assert "Reconnect" in body["message"]
    assert not AuditEvent.objects.filter(kind="token.issued").exists()


def test_503_when_salesforce_is_unreachable(client, world, jwt_connection, make_token, sim):
    jwt_connection.seal("access_token", None)  # nothing cached: a JWT must be minted
    jwt_connection.save()
    sim.configure(fail_rate=1, fail_mode="503")
    body = assert_error(client.post(TOKEN_URL.format("ci"), **make_token(world.admin).auth), 503,
                        "salesforce_unavailable")
    assert "unreachable" in body["message"]
    assert not AuditEvent.objects.filter(kind="token.issued").exists()


def test_429_with_retry_after_per_member(client, world, orgs, make_token, settings):
    settings.PORTAL_HANDOUT_RATE_PER_MINUTE = 3
    first, second = make_token(world.owner), make_token(world.owner)
    for _ in range(3):
        assert client.post(TOKEN_URL.format("uat"), **first.auth).status_code == 200
    limited = client.post(TOKEN_URL.format("uat"), **first.auth)
    assert_error(limited, 429, "rate_limited")
    assert 1 <= int(limited["Retry-After"]) <= 61
    assert_error(client.post(TOKEN_URL.format("uat"), **second.auth), 429, "rate_limited")  # per member, not token
    assert client.post(TOKEN_URL.format("hub"), **make_token(world.member).auth).status_code == 200  # not global
    assert AuditEvent.objects.filter(kind="token.issued").count() == 4


def test_last_used_is_recorded(client, world, orgs, make_token):
    issued = make_token(world.owner)
    client.get("/api/v1/orgs", **issued.auth, REMOTE_ADDR="10.9.8.7")
    issued.token.refresh_from_db()
    assert issued.token.last_used_at is not None and issued.token.last_used_ip == "10.9.8.7"


def test_schema_is_served_and_describes_every_route(client):
    response = client.get("/api/v1/schema")
    assert response.status_code == 200
    doc = response.json()
    assert doc["openapi"].startswith("3.1")
    assert set(doc["paths"]) == {"/orgs", "/orgs/{ident}", "/orgs/{ident}/access-token", "/schema",
                                 "/orgs/{ident}/sandboxes", "/orgs/{ident}/sandboxes/{name}",
                                 "/orgs/{ident}/sandboxes/{name}/refresh", "/oauth/token", "/trust-policies",
                                 "/me", "/orgs/{ident}/open", "/orgs/{ident}/scratch-orgs",
                                 "/orgs/{ident}/scratch-orgs/{code}",
                                 "/trust-policies/{code}", "/access-requests", "/access-requests/{code}",
                                 "/access-requests/{code}/{action}"}
    token_responses = doc["paths"]["/orgs/{ident}/access-token"]["post"]["responses"]
    assert set(token_responses) == {"200", "401", "403", "404", "409", "429", "503"}
    jsonschema.Draft202012Validator.check_schema(doc["components"]["schemas"]["Org"])
