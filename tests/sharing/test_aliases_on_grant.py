"""Aliases exist from the moment access is granted: a member who never opened a page sees `alias` in GET
/api/v1/orgs and can hand out by alias right away, after (a) a direct grant, (b) joining a group with a grant,
(c) becoming an admin, (d) a new connection shared to the member role; and joining the team by invitation."""

import pytest
from django.apps import apps as django_apps

from orgs.access import Access
from orgs.models import Grant, OrgAlias
from orgs.services import sharing
from portal.accounts.models import Invitation, Membership
from portal.accounts.services import invitation_accept, membership_change_role
from tests.api import conftest as api_fixtures
from tests.api.conftest import SANDBOX_USER, connect_sim_org
from tests.conftest import make_user

jwt_app, jwt_connection, make_token = api_fixtures.jwt_app, api_fixtures.jwt_connection, api_fixtures.make_token
Level = Grant.Level
OWNER_ACCESS = Access(Level.MANAGE, "owner")
pytestmark = pytest.mark.usefixtures("sim")


@pytest.fixture
def uat(world, sim, sim_app):
    return connect_sim_org(world.team, world.owner, sim_app, sim, SANDBOX_USER, alias="uat")


def _owner(world):
    return Membership.objects.get(team=world.team, user=world.owner)


def _api_alias_and_handout(client, issued, username) -> str:
    """The alias GET /api/v1/orgs shows for `username`, after checking a hand-out by that alias works."""
    listed = {o["username"]: o for o in client.get("/api/v1/orgs", **issued.auth).json()["orgs"]}
    alias = listed[username]["alias"]
    assert alias, listed
    assert client.get(f"/api/v1/orgs/{alias}", **issued.auth).status_code == 200
    response = client.post(f"/api/v1/orgs/{alias}/access-token", **issued.auth)
    assert response.status_code == 200, response.content
    assert response.json()["alias"] == alias
    return alias


def test_a_direct_grant_gives_the_member_an_alias_at_once(client, world, uat, make_token):
    issued = make_token(world.member)
    sharing.grant_add(actor=_owner(world), actor_access=OWNER_ACCESS, connection=uat, subject_type="member",
                      level=Level.TARGET, member=world.member)
    assert _api_alias_and_handout(client, issued, SANDBOX_USER) == "uat"  # suggested from the owner's alias


def test_joining_a_group_with_a_grant_gives_an_alias_at_once(client, world, uat, make_token):
    issued = make_token(world.member)
    owner = _owner(world)
    group = sharing.group_create(actor=owner, name="QA")
    sharing.grant_add(actor=owner, actor_access=OWNER_ACCESS, connection=uat, subject_type="group",
                      level=Level.TARGET, group=group)
    assert not OrgAlias.objects.filter(user=world.member).exists()
    sharing.group_member_add(actor=owner, group=group, member=Membership.objects.get(team=world.team,
                                                                                     user=world.member))
    _api_alias_and_handout(client, issued, SANDBOX_USER)


def test_becoming_an_admin_gives_an_alias_for_every_org_at_once(client, world, uat, make_token):
    issued = make_token(world.member)
    assert client.get("/api/v1/orgs", **issued.auth).json()["orgs"] == []
    membership_change_role(actor=_owner(world), target=Membership.objects.get(team=world.team, user=world.member),
                           role=Membership.Role.ADMIN)
    _api_alias_and_handout(client, issued, SANDBOX_USER)


def test_a_new_connection_reaches_admins_and_once_shared_to_the_member_role_every_member(
        client, world, jwt_connection, make_token):
    # Created by bob (admin) through the one upsert: alice (owner, a team admin too) has an alias at once.
    assert OrgAlias.objects.filter(user=world.owner, connection=jwt_connection).exists()
    issued = make_token(world.member)
    assert client.get("/api/v1/orgs", **issued.auth).json()["orgs"] == []
    bob = Membership.objects.get(team=world.team, user=world.admin)
    sharing.grant_add(actor=bob, actor_access=OWNER_ACCESS, connection=jwt_connection, subject_type="role",
                      level=Level.TARGET, role=Membership.Role.MEMBER)
    assert _api_alias_and_handout(client, issued, jwt_connection.username) == "ci"


def test_joining_by_invitation_gives_aliases_for_orgs_shared_with_the_member_role(client, world, uat, make_token):
    sharing.grant_add(actor=_owner(world), actor_access=OWNER_ACCESS, connection=uat, subject_type="role",
                      level=Level.TARGET, role=Membership.Role.MEMBER)
    erin = make_user("erin@example.com")
    invitation = Invitation.objects.create(team=world.team, email=erin.email, role=Membership.Role.MEMBER,
                                           invited_by=world.owner)
    invitation_accept(invitation=invitation, user=erin)
    _api_alias_and_handout(client, make_token(erin), SANDBOX_USER)


def test_aliases_are_numbered_when_the_member_already_uses_the_name(world, uat, sim, sim_app):
    connect_sim_org(world.team, world.member, sim_app, sim, "admin@acme.example", alias="uat")
    sharing.grant_add(actor=_owner(world), actor_access=OWNER_ACCESS, connection=uat, subject_type="member",
                      level=Level.VIEW, member=world.member)
    assert OrgAlias.objects.get(user=world.member, connection=uat).alias == "uat-2"


def test_the_migration_backfills_aliases_for_access_granted_before(world, uat):
    Grant.objects.create(team=world.team, connection=uat, level=Level.TARGET, subject_type="member",
                         member=world.member)  # as before this change: no alias made
    assert not OrgAlias.objects.filter(user=world.member, connection=uat).exists()
    backfill = __import__("orgs.migrations.0009_alias_backfill", fromlist=["backfill"]).backfill
    backfill(django_apps, None)
    assert OrgAlias.objects.get(user=world.member, connection=uat).alias == "uat"
    assert set(OrgAlias.objects.filter(connection=uat).values_list("user__email", flat=True)) == {
        "alice@example.com", "bob@example.com", "carol@example.com"}
