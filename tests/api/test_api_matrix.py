"""The API role matrix: the same visibility and target rules as the pages, for personal and service tokens.

Orgs: `uat` (owned by alice, the team owner) and `hub` (owned by carol, a member). Grants flip one condition each.
Expected: list = does GET /orgs include it; detail = GET /orgs/<id>; token = POST /orgs/<id>/access-token.
"""

import pytest

from orgs.models import Grant
from portal.accounts.models import AuditEvent, Membership
from tests.api.conftest import HUB_USER, SANDBOX_USER, grant

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

ORG_USER = {"uat": SANDBOX_USER, "hub": HUB_USER}

# (principal, org, grant level for the principal or None) -> (in list, detail status, token status)
CASES = [
    ("owner", "uat", None, (True, 200, 200)),  # owns it
    ("owner", "hub", None, (True, 200, 200)),  # team owner: manage on everything
    ("admin", "uat", None, (True, 200, 200)),  # team admin
    ("admin", "hub", None, (True, 200, 200)),
    ("member", "hub", None, (True, 200, 200)),  # owns it
    ("member", "uat", None, (False, 404, 404)),  # not shared: invisible
    ("member", "uat", Grant.Level.VIEW, (False, 200, 403)),  # visible, not targetable
    ("member", "uat", Grant.Level.TARGET, (True, 200, 200)),
    ("member", "uat", Grant.Level.MANAGE, (True, 200, 200)),
    ("outsider", "uat", None, (False, 404, 404)),  # another team's token
    ("outsider", "hub", None, (False, 404, 404)),
    ("service", "uat", None, (False, 404, 404)),  # a service token reaches only what is shared with it
    ("service", "uat", Grant.Level.VIEW, (False, 200, 403)),
    ("service", "uat", Grant.Level.TARGET, (True, 200, 200)),
    ("service", "hub", None, (False, 404, 404)),
]


@pytest.mark.parametrize(("principal", "org", "level", "expected"), CASES,
                         ids=[f"{p}-{o}-{lv.label if lv else 'nogrant'}" for p, o, lv, _ in CASES])
def test_api_matrix(client, world, orgs, make_token, principal, org, level, expected):
    if principal == "service":
        issued = make_token(world.admin, kind="service", name="ci")
    elif principal == "outsider":
        issued = make_token(world.outsider, team=world.other_team)
    else:
        issued = make_token(world.user(principal))
    connection = getattr(orgs, "sandbox" if org == "uat" else "hub")
    if level is not None:
        if principal == "service":
            grant(connection, level=level, service_token=issued.token)
        else:
            grant(connection, level=level, member=world.user(principal))
    ident = ORG_USER[org]
    in_list, detail_status, token_status = expected

    listed = [o["username"] for o in client.get("/api/v1/orgs", **issued.auth).json()["orgs"]]
    detail = client.get(f"/api/v1/orgs/{ident}", **issued.auth)
    token = client.post(f"/api/v1/orgs/{ident}/access-token", **issued.auth)

    assert (ident in listed, detail.status_code, token.status_code) == (in_list, detail_status, token_status)
    assert AuditEvent.objects.filter(kind="token.issued").count() == (1 if token_status == 200 else 0)
    if token_status == 200:
        assert token.json()["access_token"] == connection.reveal("access_token")


def test_demotion_takes_effect_on_the_next_call(client, world, orgs, make_token):
    """A personal token acts with the member's current role: demote bob and his token loses alice's org."""
    issued = make_token(world.admin)
    assert client.post(f"/api/v1/orgs/{SANDBOX_USER}/access-token", **issued.auth).status_code == 200
    Membership.objects.filter(team=world.team, user=world.admin).update(role="member")
    assert client.post(f"/api/v1/orgs/{SANDBOX_USER}/access-token", **issued.auth).status_code == 404


def test_leaving_the_team_ends_a_personal_token(client, world, orgs, make_token):
    issued = make_token(world.member)
    Membership.objects.filter(team=world.team, user=world.member).delete()
    assert client.get("/api/v1/orgs", **issued.auth).json()["orgs"] == []
    assert client.post("/api/v1/orgs/hub/access-token", **issued.auth).status_code == 404
