"""The org list: filters by type, status, owner and alias and a search over name/username/alias, combined, kept in
the page links; filters only narrow what the access funnel allows."""

import re

import pytest
from django.urls import reverse

from orgs.models import OrgAlias

pytestmark = [pytest.mark.postgres]


def shown(client, world, **params):
    response = client.get(reverse("orgs:org_list", args=[world.team.code]), params)
    assert response.status_code == 200
    html = response.content.decode()
    return re.findall(r'<tr data-alias="([^"]+)"', html), html


@pytest.fixture
def alice(client, world, team_orgs):
    client.force_login(world.owner)
    return client


def test_without_filters_every_visible_org_is_listed(alice, world):
    rows, html = shown(alice, world)
    assert sorted(rows) == ["dev-alias", "hub-alias", "scr-alias", "uat-alias"]
    assert 'id="no-match"' not in html and "clear-filters" not in html


@pytest.mark.parametrize(("params", "expected"), [
    ({"type": "sandbox"}, ["uat-alias"]),
    ({"type": "devhub"}, ["hub-alias"]),
    ({"type": "production"}, []),  # the production org is a Dev Hub, shown (and filtered) as one
    ({"type": "scratch"}, ["scr-alias"]),
    ({"type": "developer"}, ["dev-alias"]),
    ({"status": "needs_reauth"}, ["scr-alias"]),
    ({"status": "connected"}, ["dev-alias", "hub-alias", "uat-alias"]),
    ({"alias": "HUB"}, ["hub-alias"]),
    ({"q": "acme"}, ["hub-alias", "uat-alias"]),  # org name and username
    ({"q": "playground"}, ["dev-alias"]),  # org name
    ({"q": "test-abc@"}, ["scr-alias"]),  # username
    ({"q": "uat-al"}, ["uat-alias"]),  # alias
])
def test_each_filter(alice, world, params, expected):
    assert sorted(shown(alice, world, **params)[0]) == expected


def test_owner_filter(alice, world):
    assert shown(alice, world, owner=str(world.admin.code))[0] == ["dev-alias"]
    assert sorted(shown(alice, world, owner=str(world.owner.code))[0]) == ["hub-alias", "scr-alias", "uat-alias"]


def test_filters_combine(alice, world):
    assert shown(alice, world, q="acme", type="sandbox")[0] == ["uat-alias"]
    assert shown(alice, world, q="acme", status="connected", owner=str(world.owner.code), alias="hub")[0] == [
        "hub-alias"]
    rows, html = shown(alice, world, type="sandbox", status="needs_reauth")
    assert rows == []
    assert "No orgs match these filters" in html
    clear = reverse("orgs:org_list", args=[world.team.code])
    assert f'class="clear-filters" href="{clear}"' in html


def test_the_form_shows_the_filters_it_applied(alice, world):
    _, html = shown(alice, world, q="acme", type="sandbox", status="connected")
    assert 'name="q" value="acme"' in html
    assert '<option value="sandbox" selected>' in html and '<option value="connected" selected>' in html


@pytest.mark.parametrize("params", [{"type": "galaxy"}, {"status": "<script>"}, {"owner": "not-a-user"},
                                    {"q": "x" * 300}])
def test_bad_filter_values_show_an_error_not_a_500(alice, world, params):
    rows, html = shown(alice, world, **params)
    assert rows == [] and 'id="filter-errors"' in html and "No orgs match" in html
    assert "<script>" not in html


def test_a_filter_never_reveals_an_org_the_member_cannot_see(client, world, team_orgs):
    """carol (member) has no grant. Even with a leftover alias on the Dev Hub, no search or filter shows it."""
    OrgAlias.objects.create(team=world.team, user=world.member, connection=team_orgs["hub"], alias="old-hub")
    client.force_login(world.member)
    for params in ({}, {"q": "admin@acme"}, {"alias": "old-hub"}, {"type": "devhub"},
                   {"owner": str(world.owner.code)}, {"status": "connected"}, {"q": "Acme Production"}):
        rows, html = shown(client, world, **params)
        table = html.split('id="orgs"')[1]
        assert rows == [], params
        assert "admin@acme.example" not in table and "Acme Production" not in table, params
    # Nor does the owner list name the owners of orgs the member cannot see.
    _, html = shown(client, world)
    assert world.owner.email not in html.split('id="org-filters"')[1].split("</form>")[0]


def test_a_viewer_sees_only_their_granted_org_whatever_the_filter(client, world, team_orgs):
    from orgs.models import Grant
    from orgs.services.connections import aliases_ensure

    Grant.objects.create(team=world.team, connection=team_orgs["uat"], subject_type="member", member=world.member,
                         level=Grant.Level.VIEW)
    aliases_ensure(team=world.team)
    client.force_login(world.member)
    assert len(shown(client, world)[0]) == 1
    assert shown(client, world, q="acme")[0] == shown(client, world, type="sandbox")[0]
    assert shown(client, world, type="devhub")[0] == [] and shown(client, world, q="admin@acme")[0] == []


def test_filters_are_kept_in_the_page_links(alice, world, settings):
    settings.PORTAL_PAGE_SIZE = 1
    rows, html = shown(alice, world, status="connected")
    assert len(rows) == 1
    assert 'aria-label="Pagination"' in html and 'aria-current="page"' in html
    assert 'href="?status=connected&amp;page=2"' in html
    second, _ = shown(alice, world, status="connected", page="2")
    third, _ = shown(alice, world, status="connected", page="3")
    assert len({*rows, *second, *third}) == 3 and "scr-alias" not in {*rows, *second, *third}


@pytest.mark.parametrize(("page", "expected_page"), [("abc", 1), ("", 1), ("0", 4), ("-3", 4), ("999", 4),
                                                     ("4", 4), ("9" * 40, 4), ("1.5", 1)])
def test_garbage_or_out_of_range_page_numbers(alice, world, settings, page, expected_page):
    settings.PORTAL_PAGE_SIZE = 1
    rows, html = shown(alice, world, page=page)
    assert len(rows) == 1
    assert f'<span class="page-link" aria-current="page">{expected_page}</span>' in html
