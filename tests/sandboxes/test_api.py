"""/api/v1 sandbox endpoints: list, create, status, refresh, delete; the same permissions and audit as the pages;
answers validate against the OpenAPI schema."""

from datetime import timedelta

import pytest
from django.utils import timezone

from orgs.models import Grant, OrgAlias, Sandbox
from portal.accounts.models import AuditEvent
from tests.api.test_api import validate
from tests.sandboxes.conftest import drive


@pytest.fixture
def owner_token(make_token, world):
    return make_token(world.owner)


def test_create_status_refresh_delete_through_the_api(world, client, sim, production, owner_token,
                                                      django_capture_on_commit_callbacks):
    prod = production.username
    with django_capture_on_commit_callbacks(execute=True):
        created = client.post(f"/api/v1/orgs/{prod}/sandboxes", {"name": "api1", "license_type": "DEVELOPER",
                                                                  "alias": "api1"},
                              content_type="application/json", **owner_token.auth)
    assert created.status_code == 202, created.content
    validate(created.json(), "Sandbox")
    assert created.json()["state"] == "requested" and Sandbox.objects.get(name="api1").state == "copying"
    sim.advance_sandbox("api1")
    drive(Sandbox.objects.get(name="api1"))
    status = client.get(f"/api/v1/orgs/{prod}/sandboxes/api1", **owner_token.auth)
    assert status.status_code == 200 and status.json()["state"] == "done" and status.json()["connected"]
    validate(status.json(), "Sandbox")
    listed = client.get(f"/api/v1/orgs/{prod}/sandboxes", **owner_token.auth).json()["sandboxes"]
    assert [s["name"] for s in listed] == ["api1"]
    early = client.post(f"/api/v1/orgs/{prod}/sandboxes/api1/refresh", content_type="application/json",
                        **owner_token.auth)
    assert early.status_code == 409 and "can be refreshed from" in early.json()["message"]
    sim.set_sandbox_last_refresh("api1", 2, org=production.org_id)
    Sandbox.objects.filter(name="api1").update(last_refreshed_at=timezone.now() - timedelta(days=2))
    with django_capture_on_commit_callbacks(execute=True):
        refreshed = client.post(f"/api/v1/orgs/{prod}/sandboxes/api1/refresh", content_type="application/json",
                                **owner_token.auth)
    assert refreshed.status_code == 202 and refreshed.json()["operation"] == "refresh"
    unconfirmed = client.delete(f"/api/v1/orgs/{prod}/sandboxes/api1", **owner_token.auth)
    assert unconfirmed.status_code == 400
    sandbox = Sandbox.objects.get(name="api1")
    sim.advance_sandbox("api1")
    drive(sandbox, times=3)
    deleted = client.delete(f"/api/v1/orgs/{prod}/sandboxes/api1?confirm=api1", **owner_token.auth)
    assert deleted.status_code == 200 and deleted.json()["deleted"] is True
    assert not OrgAlias.objects.filter(alias="api1").exists()
    kinds = set(AuditEvent.objects.values_list("kind", flat=True))
    assert {"sandbox.create_requested", "sandbox.created", "sandbox.refresh_requested", "sandbox.refreshed",
            "sandbox.deleted"} <= kinds


def test_api_permissions(world, client, production, make_token):
    Sandbox.objects.create(team=world.team, production=production, sandbox_info_id="0GQ5g0000000001AAA",
                           name="x", license_type="DEVELOPER")
    member = make_token(world.member)
    prod = production.username
    assert client.get(f"/api/v1/orgs/{prod}/sandboxes", **member.auth).status_code == 404  # can't see it
    Grant.objects.create(team=world.team, connection=production, subject_type="member", member=world.member, level=2)
    assert client.get(f"/api/v1/orgs/{prod}/sandboxes", **member.auth).status_code == 200
    refused = client.post(f"/api/v1/orgs/{prod}/sandboxes", {"name": "y", "license_type": "DEVELOPER"},
                          content_type="application/json", **member.auth)
    assert refused.status_code == 403
    assert client.delete(f"/api/v1/orgs/{prod}/sandboxes/x?confirm=x", **member.auth).status_code == 403
    outsider = make_token(world.outsider, team=world.other_team)
    assert client.get(f"/api/v1/orgs/{prod}/sandboxes", **outsider.auth).status_code == 404
    assert client.get(f"/api/v1/orgs/{prod}/sandboxes").status_code == 401


def test_bad_input_is_a_400(world, client, production, owner_token, sim):
    prod = production.username
    for body in ({"name": "bad-name", "license_type": "DEVELOPER"}, {"name": "ok", "license_type": "HUGE"}):
        response = client.post(f"/api/v1/orgs/{prod}/sandboxes", body, content_type="application/json",
                               **owner_token.auth)
        assert response.status_code == 400 and response.json()["error"] == "bad_request"
    junk = client.post(f"/api/v1/orgs/{prod}/sandboxes", "[1]", content_type="application/json", **owner_token.auth)
    assert junk.status_code == 400
    assert not Sandbox.objects.exists()
