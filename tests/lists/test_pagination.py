"""Members, API tokens and scratch orgs page through every row (PORTAL_PAGE_SIZE), with filters kept in the links
and bad page numbers answered with the first or last page, never a 500."""

import re
from datetime import date

import pytest
from django.urls import reverse

from orgs.models import ScratchOrg
from portal.accounts.models import Membership
from portal.accounts.tokens import api_token_create
from tests.conftest import make_user

pytestmark = [pytest.mark.postgres]


def test_the_page_size_defaults_to_50():
    from django.conf import settings

    from portal.lib.pagination import page_size

    assert settings.PORTAL_PAGE_SIZE == 50 == page_size()


# -- members ---------------------------------------------------------------------------------------------------------

def member_rows(html):
    return re.findall(r'<tr data-email="([^"]+)"', html)


def test_members_page_through_every_member(client, world, settings):
    settings.PORTAL_PAGE_SIZE = 2
    for n in range(3):
        Membership.objects.create(team=world.team, user=make_user(f"zed{n}@example.com"), role="member")
    client.force_login(world.owner)
    url = reverse("accounts:team_members", args=[world.team.code])
    pages = [member_rows(client.get(url, {"page": n}).content.decode()) for n in (1, 2, 3)]
    assert [len(p) for p in pages] == [2, 2, 2]
    seen = [email for page in pages for email in page]
    assert seen == sorted(seen) and len(set(seen)) == 6  # alice, bob, carol, zed0-2, each once
    html = client.get(url, {"page": "3"}).content.decode()
    assert 'aria-label="Pagination"' in html and '<span class="page-link" aria-current="page">3</span>' in html
    assert member_rows(client.get(url, {"page": "99"}).content.decode()) == pages[2]
    assert member_rows(client.get(url, {"page": "x"}).content.decode()) == pages[0]


def test_a_failed_invitation_keeps_the_page(client, world, settings):
    settings.PORTAL_PAGE_SIZE = 2
    client.force_login(world.owner)
    response = client.post(reverse("accounts:member_invite", args=[world.team.code]) + "?page=2",
                           {"email": "not-an-email", "role": "member"})
    assert response.status_code == 400
    assert member_rows(response.content.decode()) == ["carol@example.com"]


def test_the_role_form_is_offered_only_on_the_rows_shown(client, world, settings):
    settings.PORTAL_PAGE_SIZE = 1
    client.force_login(world.owner)
    url = reverse("accounts:team_members", args=[world.team.code])
    html = client.get(url, {"page": 2}).content.decode()  # bob
    assert member_rows(html) == ["bob@example.com"]
    assert html.count('name="role" aria-label="Role for') == 1


# -- API tokens ------------------------------------------------------------------------------------------------------

def token_names(html, table):
    body = html.split(f'id="{table}"')[1].split("</table>")[0]
    return re.findall(r'data-name="([^"]+)"', body)


def test_personal_and_service_tokens_page_separately(client, world, settings):
    settings.PORTAL_PAGE_SIZE = 2
    owner = Membership.objects.get(team=world.team, user=world.owner)
    for n in range(3):
        api_token_create(actor=owner, kind="personal", name=f"laptop-{n}")
        api_token_create(actor=owner, kind="service", name=f"ci-{n}")
    client.force_login(world.owner)
    url = reverse("accounts:token_list", args=[world.team.code])
    html = client.get(url).content.decode()
    assert token_names(html, "personal-tokens") == ["laptop-2", "laptop-1"]  # newest first
    assert token_names(html, "service-tokens") == ["ci-2", "ci-1"]
    html = client.get(url, {"page": 2}).content.decode()
    assert token_names(html, "personal-tokens") == ["laptop-0"]
    assert token_names(html, "service-tokens") == ["ci-2", "ci-1"]
    assert 'href="?page=2&amp;service_page=2"' in html  # the other list's page is kept
    html = client.get(url, {"page": 2, "service_page": "2"}).content.decode()
    assert token_names(html, "personal-tokens") == ["laptop-0"] and token_names(html, "service-tokens") == ["ci-0"]
    html = client.get(url, {"page": "junk", "service_page": "-5"}).content.decode()
    assert token_names(html, "personal-tokens") == ["laptop-2", "laptop-1"]
    assert token_names(html, "service-tokens") == ["ci-0"]
    assert 'aria-label="Personal token pages"' in html and 'aria-label="Service token pages"' in html


# -- scratch orgs: past the old silent 1,000-row cut ------------------------------------------------------------------

@pytest.fixture
def many_scratch_orgs(world, team_orgs):
    hub = team_orgs["hub"]
    ScratchOrg.objects.bulk_create([
        ScratchOrg(team=world.team, dev_hub=hub, scratch_org_info_id=f"2SR{n:015d}", status="Active",
                   signup_username=f"test-{n:04d}@example.com", expiration_date=date(2031, 1, 1))
        for n in range(1, 1051)])
    return hub


def scratch_rows(html):
    return re.findall(r'<tr data-username="([^"]+)"', html)


def test_the_scratch_list_reaches_every_row_past_1000(client, world, many_scratch_orgs):
    client.force_login(world.owner)
    url = reverse("orgs:scratch_orgs", args=[world.team.code])
    first = client.get(url).content.decode()
    assert scratch_rows(first)[:2] == ["test-0001@example.com", "test-0002@example.com"]
    assert len(scratch_rows(first)) == 50 and "1–50 of 1050" in first
    last = client.get(url, {"page": 21}).content.decode()
    assert scratch_rows(last) == [f"test-{n:04d}@example.com" for n in range(1001, 1051)]
    assert "1001–1050 of 1050" in last and 'aria-current="page">21<' in last
    assert scratch_rows(client.get(url, {"page": "1000"}).content.decode()) == scratch_rows(last)
    assert scratch_rows(client.get(url, {"page": "%"}).content.decode()) == scratch_rows(first)


def test_scratch_filters_are_kept_in_the_page_links(client, world, many_scratch_orgs):
    client.force_login(world.owner)
    url = reverse("orgs:hub_scratch_orgs", args=[world.team.code, many_scratch_orgs.code])
    html = client.get(url, {"creator": "", "sort": "-expires", "status": "Active"}).content.decode()
    assert 'href="?creator=&amp;sort=-expires&amp;status=Active&amp;page=2"' in html
    assert 'aria-label="Pagination"' in html
