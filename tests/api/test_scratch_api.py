"""Scratch orgs through the API (issue 19 item 7): list, create (with `wait`: 201 when Active, else 202 and a
status URL), status, delete, on a Dev Hub the token can target, through the org funnel's rules."""

import json

import pytest

from orgs.models import Grant, OrgConnection, ScratchOrg
from tests.inventory.test_inventory import HUB_USER, connect

pytestmark = [pytest.mark.postgres, pytest.mark.redis]
BASE = f"/api/v1/orgs/{HUB_USER}/scratch-orgs"


@pytest.fixture
def hub(world, sim, sim_app, settings):
    sim.configure(scratch_create_seconds=0)  # Active on the first poll
    settings.PORTAL_API_SCRATCH_POLL_SECONDS = 0
    return connect(world, sim, sim_app, HUB_USER, kind="production", is_devhub=True)


def _post(client, auth, query="", **body):
    return client.post(BASE + query, json.dumps({"edition": "Developer", **body}), content_type="application/json",
                       **auth)


def test_create_wait_list_status_delete(client, world, hub, make_token):
    auth = make_token(world.owner).auth
    created = _post(client, auth, "?wait=30", alias="ci1", duration_days=1)
    assert created.status_code == 201, created.content
    body = json.loads(created.content)
    assert body["state"] == "done" and body["status"] == "Active" and body["alias"] == "ci1"
    assert body["username"] and body["instance_url"] and created["Location"] == body["status_url"]
    assert OrgConnection.objects.get(username=body["username"]).kind == "scratch"

    listing = json.loads(client.get(BASE, **auth).content)
    assert [s["id"] for s in listing["scratch_orgs"]] == [body["id"]] and listing["next_cursor"] is None
    status = json.loads(client.get(f"{BASE}/{body['id']}", **auth).content)
    assert status["state"] == "done"

    deleted = client.delete(f"{BASE}/{body['id']}", **auth)
    assert deleted.status_code == 200 and json.loads(deleted.content)["state"] == "deleted"
    assert json.loads(client.get(BASE, **auth).content)["scratch_orgs"] == []
    assert not OrgConnection.objects.filter(username=body["username"]).exists()


def test_without_wait_it_is_202_with_a_status_url(client, world, hub, make_token):
    auth = make_token(world.owner).auth
    accepted = _post(client, auth)
    assert accepted.status_code == 202, accepted.content
    body = json.loads(accepted.content)
    assert body["state"] == "pending" and accepted["Location"].endswith(f"/scratch-orgs/{body['id']}")
    assert json.loads(client.get(accepted["Location"], **auth).content)["id"] == body["id"]
    bad = _post(client, auth, edition="", duration_days=45)
    assert bad.status_code == 400 and bad["Content-Type"] == "application/problem+json"
    assert client.get(f"{BASE}/not-a-uuid", **auth).status_code == 404


def test_scratch_api_permissions(client, world, hub, make_token, sim):
    member = make_token(world.member).auth
    assert client.get(BASE, **member).status_code == 404  # cannot see the hub
    assert _post(client, member).status_code == 404
    Grant.objects.create(team=world.team, connection=hub, subject_type="member", member=world.member, level=1)
    assert client.get(BASE, **member).status_code == 200  # view level lists
    assert _post(client, member).status_code == 403  # but target level creates
    Grant.objects.filter(member=world.member).update(level=2)
    mine = _post(client, member, "?wait=30")
    assert mine.status_code == 201, mine.content

    owner = make_token(world.owner).auth
    theirs = json.loads(_post(client, owner, "?wait=30").content)
    refused = client.delete(f"{BASE}/{theirs['id']}", **member)  # neither its creator nor a hub manager
    assert refused.status_code == 403
    assert client.delete(f"{BASE}/{json.loads(mine.content)['id']}", **member).status_code == 200

    service = make_token(world.owner, kind="service", name="CI")
    Grant.objects.create(team=world.team, connection=hub, subject_type="service", service_token=service.token,
                         level=2)
    assert _post(client, service.auth).status_code == 403  # a scratch org gets an owner: personal tokens only
    outsider = make_token(world.outsider, team=world.other_team).auth
    assert client.get(f"{BASE}/{theirs['id']}", **outsider).status_code == 404
    assert ScratchOrg.objects.filter(deleted_at__isnull=True).count() == 1
