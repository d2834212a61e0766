"""The member's orgs page: aliases (unique per member), default org and Dev Hub, and who may act on what."""

import pytest
from django.urls import reverse

from orgs.models import OrgAlias, OrgConnection
from portal.accounts.models import AuditEvent
from tests.connect.helpers import HUB_USER, SANDBOX_USER, connect


@pytest.fixture
def two_orgs(world, client, sim, sim_app):
    client.force_login(world.member)
    connect(client, world, sim_app, sim, SANDBOX_USER, alias="uat")
    connect(client, world, sim_app, sim, HUB_USER, alias="hub")
    return {a.alias: a for a in OrgAlias.objects.select_related("connection")}


def url(world, name, alias):
    return reverse(f"orgs:{name}", args=[world.team.code, alias.connection.code])


def test_page_lists_every_column(world, client, two_orgs):
    html = client.get(reverse("orgs:org_list", args=[world.team.code])).content.decode()
    hub = two_orgs["hub"].connection
    for text in ("uat", "hub", SANDBOX_USER, HUB_USER, hub.org_id, "Dev Hub", "Sandbox", hub.instance_url, "68.0",
                 "Connected"):
        assert text in html, text


def test_rename_alias(world, client, two_orgs):
    response = client.post(url(world, "org_rename", two_orgs["uat"]), {"alias": "qa-sandbox"})
    assert response.status_code == 302
    assert OrgAlias.objects.filter(alias="qa-sandbox").exists()
    assert AuditEvent.objects.get(kind="org.renamed").data == {"from": "uat", "to": "qa-sandbox",
                                                               "username": SANDBOX_USER}


@pytest.mark.parametrize(("alias", "message"), [("hub", "already use the alias"), ("has space", "1–80 letters"),
                                                ("", "Enter an alias"), ("-x", "1–80 letters")])
def test_bad_aliases_are_refused(world, client, two_orgs, alias, message):
    before = sorted(OrgAlias.objects.values_list("alias", flat=True))
    response = client.post(url(world, "org_rename", two_orgs["uat"]), {"alias": alias}, follow=True)
    assert message in response.content.decode()
    assert sorted(OrgAlias.objects.values_list("alias", flat=True)) == before


def test_default_org_and_default_dev_hub(world, client, two_orgs):
    client.post(url(world, "org_default", two_orgs["uat"]), {"which": "org"})
    client.post(url(world, "org_default", two_orgs["hub"]), {"which": "devhub"})
    assert OrgAlias.objects.get(is_default_org=True).alias == "uat"
    assert OrgAlias.objects.get(is_default_devhub=True).alias == "hub"
    client.post(url(world, "org_default", two_orgs["hub"]), {"which": "org"})
    assert OrgAlias.objects.get(is_default_org=True).alias == "hub"  # only one default org
    response = client.post(url(world, "org_default", two_orgs["uat"]), {"which": "devhub"}, follow=True)
    assert "is not a Dev Hub" in response.content.decode()
    assert OrgAlias.objects.get(is_default_devhub=True).alias == "hub"


@pytest.mark.parametrize("role", ["admin", "owner"])
def test_team_admins_can_disconnect_a_members_org(world, client, two_orgs, role):
    client.force_login(world.user(role))
    assert client.post(url(world, "org_disconnect", two_orgs["uat"])).status_code == 302
    assert not OrgConnection.objects.filter(pk=two_orgs["uat"].connection.pk).exists()


@pytest.mark.parametrize(("role", "status"), [("outsider", 404)])
@pytest.mark.parametrize("action", ["org_rename", "org_default", "org_reconnect", "org_disconnect"])
def test_outsiders_cannot_touch_orgs(world, client, two_orgs, role, status, action):
    client.force_login(world.user(role))
    before = list(OrgConnection.objects.values_list("pk", "status"))
    assert client.post(url(world, action, two_orgs["uat"]), {"alias": "x", "which": "org"}).status_code == status
    assert list(OrgConnection.objects.values_list("pk", "status")) == before


def test_other_members_cannot_see_an_unshared_org(world, client, two_orgs, django_user_model):
    from portal.accounts.models import Membership
    from tests.conftest import make_user

    erin = make_user("erin@example.com")
    Membership.objects.create(team=world.team, user=erin, role="member")
    client.force_login(erin)
    for action in ("org_rename", "org_default", "org_reconnect", "org_disconnect"):
        assert client.post(url(world, action, two_orgs["uat"]), {"alias": "x"}).status_code == 404
    assert SANDBOX_USER not in client.get(reverse("orgs:org_list", args=[world.team.code])).content.decode()
