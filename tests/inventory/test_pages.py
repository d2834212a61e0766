"""The health dashboard and the scratch-org pages."""

import pytest
from django.urls import reverse

from orgs.models import OrgConnection
from orgs.services.inventory import dev_hub_sync
from tests.inventory.test_inventory import HUB_USER, connect


@pytest.fixture
def hub(world, sim, sim_app):
    hub = connect(world, sim, sim_app, HUB_USER, kind="production", is_devhub=True)
    dev_hub_sync(connection_id=hub.pk)
    return hub


def test_dashboard_counts_and_lists_needs_reauth_with_a_reconnect_button(world, client, hub, sim, sim_app):
    broken = connect(world, sim, sim_app, "dev@acme.example.uat", kind="sandbox")
    OrgConnection.objects.filter(pk=broken.pk).update(status="needs_reauth", status_reason="revoked")
    client.force_login(world.owner)
    html = client.get(reverse("team_dashboard", args=[world.team.code])).content.decode()
    assert 'id="count-connected">1<' in html and 'id="count-needs-reauth">1<' in html
    assert reverse("orgs:org_reconnect", args=[world.team.code, broken.code]) in html
    assert "test-hotfix1@example.com" in html  # expires in 5 days


def test_scratch_org_pages_filter_and_sort(world, client, hub):
    client.force_login(world.owner)
    url = reverse("orgs:scratch_orgs", args=[world.team.code])
    html = client.get(url).content.decode()
    assert "test-feature1@example.com" in html and "test-hotfix1@example.com" in html
    assert html.index("test-hotfix1@example.com") < html.index("test-feature1@example.com")  # soonest first
    html = client.get(url, {"sort": "-expires"}).content.decode()
    assert html.index("test-feature1@example.com") < html.index("test-hotfix1@example.com")
    assert "test-hotfix1" not in client.get(url, {"creator": "nobody"}).content.decode()
    assert "Deleted" in client.get(url, {"status": "Deleted"}).content.decode()
    per_hub = client.get(reverse("orgs:hub_scratch_orgs", args=[world.team.code, hub.code]))
    assert per_hub.status_code == 200 and "test-feature1@example.com" in per_hub.content.decode()


@pytest.mark.parametrize(("role", "status"), [("member", 404), ("outsider", 404)])
def test_hub_inventory_needs_view_access(world, client, hub, role, status):
    client.force_login(world.user(role))
    assert client.get(reverse("orgs:hub_scratch_orgs", args=[world.team.code, hub.code])).status_code == status
    if role == "member":
        html = client.get(reverse("orgs:scratch_orgs", args=[world.team.code])).content.decode()
        assert "test-feature1@example.com" not in html


def test_the_all_hubs_page_offers_create_on_the_hubs_the_member_may_target(world, client, hub):
    from orgs.models import Grant
    from tests.api.conftest import grant

    create_url = reverse("orgs:scratch_create", args=[world.team.code, hub.code])
    url = reverse("orgs:scratch_orgs", args=[world.team.code])
    client.force_login(world.owner)
    assert create_url in client.get(url).content.decode()
    client.force_login(world.user("member"))  # no grant: the hub is not theirs to see
    assert create_url not in client.get(url).content.decode()
    grant(hub, level=Grant.Level.VIEW, member=world.user("member"))  # view only: they may look, not create
    assert create_url not in client.get(url).content.decode()
    Grant.objects.filter(connection=hub, member=world.user("member")).update(level=Grant.Level.TARGET)
    assert create_url in client.get(url).content.decode()
