"""Lists people search and page through: a team with orgs of every type, made without Salesforce."""

import pytest

from portal.accounts.models import Membership


@pytest.fixture
def app(world):
    from orgs.services.apps import connected_app_create

    owner = Membership.objects.get(team=world.team, user=world.owner)
    return connected_app_create(actor=owner, name="Lists", consumer_key="lists-consumer-key",
                                consumer_secret="lists-consumer-secret-0000", login_url="https://login.salesforce.com",
                                scopes="api refresh_token web", require_pkce=True)


@pytest.fixture
def team_orgs(world, app):
    """alice (owner) owns a sandbox, a Dev Hub (production) and a scratch org that needs re-authorization; bob
    (admin) owns a Developer Edition org. Team owners and admins can see all four; carol (member) none."""
    from orgs.models import OrgAlias, OrgConnection
    from tests.sharing.conftest import make_connection

    orgs = {
        "uat": make_connection(world.team, world.owner, app, username="dev@acme.example.uat", kind="sandbox"),
        "hub": make_connection(world.team, world.owner, app, username="admin@acme.example", kind="production",
                               is_devhub=True),
        "scr": make_connection(world.team, world.owner, app, username="test-abc@example.com", kind="scratch"),
        "dev": make_connection(world.team, world.admin, app, username="bob@dev-ed.example", kind="developer"),
    }
    names = {"uat": "Acme UAT", "hub": "Acme Production", "scr": "Feature Scratch", "dev": "Bob's playground"}
    for key, connection in orgs.items():
        OrgConnection.objects.filter(pk=connection.pk).update(org_name=names[key])
        OrgAlias.objects.filter(connection=connection, user=world.owner).update(alias=f"{key}-alias")
    OrgConnection.objects.filter(pk=orgs["scr"].pk).update(status=OrgConnection.Status.NEEDS_REAUTH)
    return orgs
