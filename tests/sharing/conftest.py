import itertools

import pytest

from orgs.models import Grant, OrgAlias, OrgConnection
from orgs.services.connections import aliases_ensure
from portal.accounts.models import Membership, TeamGroup
from tests.conftest import make_user

_ids = itertools.count(1)


def make_connection(team, owner, app, *, username=None, kind="sandbox", is_devhub=False, instance_url=None):
    n = next(_ids)
    connection = OrgConnection.objects.create(
        team=team, owner=owner, app=app, org_id=f"00D5g{n:010d}AAA", user_id=f"0055g{n:010d}AAA",
        username=username or f"user{n}@org{n}.example", kind=kind, is_devhub=is_devhub,
        edition="Enterprise Edition", login_url=instance_url or "https://test.salesforce.com",
        instance_url=instance_url or f"https://org{n}.my.salesforce.com", api_version="68.0")
    OrgAlias.objects.create(team=team, user=owner, connection=connection, alias=f"org{n}")
    aliases_ensure(team=team, connection_ids=[connection.pk])  # as connection_upsert: the team's admins reach it
    return connection


@pytest.fixture
def shared(world, sim, sim_app):
    """A sandbox owned by erin (a plain member), reached by everyone through every kind of grant."""
    team = world.team
    people = {}
    for name in ("erin", "vic", "tara", "manny", "rolf", "grace", "henry"):
        user = make_user(f"{name}@example.com")
        Membership.objects.create(team=team, user=user, role="member")
        people[name] = user
    token = sim.mint_tokens("dev@acme.example.uat", "OrgPortalDemo")
    sandbox = make_connection(team, people["erin"], sim_app, username="dev@acme.example.uat",
                              instance_url=sim.base_url)
    sandbox.seal("refresh_token", token["refresh_token"])
    sandbox.seal("access_token", token["access_token"])
    sandbox.save()
    qa = TeamGroup.objects.create(team=team, name="QA")
    qa.members.add(Membership.objects.get(team=team, user=people["grace"]))
    for user, level in ((people["vic"], Grant.Level.VIEW), (people["tara"], Grant.Level.TARGET),
                        (people["manny"], Grant.Level.MANAGE)):
        Grant.objects.create(team=team, connection=sandbox, subject_type="member", member=user, level=level)
    Grant.objects.create(team=team, connection=sandbox, subject_type="group", group=qa, level=Grant.Level.TARGET)
    aliases_ensure(team=team)  # what the sharing services do with each of the writes above
    people.update({"admin": world.admin, "owner_of_team": world.owner, "outsider": world.outsider})
    return {"connection": sandbox, "people": people, "qa": qa}
