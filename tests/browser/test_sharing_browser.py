"""Browser test in Chromium: an admin shares a sandbox with group QA; a QA member sees it, then loses it."""

import pytest

from portal.accounts.models import Membership, TeamGroup
from tests.browser.helpers import submit
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def log_in(page, email):
    page.goto("/accounts/login/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", PASSWORD)
    submit(page)
    page.wait_for_url("**/teams/**")


def test_share_with_group_qa_then_unshare(page, browser, world, sim, sim_app, live_server):
    from orgs.services.apps import callback_url

    sim.update_app("OrgPortalDemo", callback_urls=[callback_url()])
    qa = TeamGroup.objects.create(team=world.team, name="QA")
    qa.members.add(Membership.objects.get(team=world.team, user=world.member))

    # The admin connects a sandbox through Salesforce's (the simulator's) pages.
    log_in(page, world.admin.email)
    page.goto(f"/teams/{world.team.code}/orgs/connect/")
    page.fill("#id_alias", "uat")
    page.click("#start-connect")
    page.fill("input[name=username]", "dev@acme.example.uat")
    page.fill("input[name=password]", "sfsim-demo-password")
    page.click("#Login")
    page.click("#allow")
    page.wait_for_url("**/orgs/")

    # …and shares it with group QA at target level.
    row = page.locator('tr[data-alias="uat"]')
    row.get_by_role("button", name="Actions").click()
    row.get_by_role("link", name="Share…").click()
    page.select_option("#share-subject", label="Group QA")
    page.select_option("#share-level", label="target")
    page.click("#share-submit")
    assert page.locator('#grants tr[data-subject="group QA"]').count() == 1

    # Carol, in QA, sees it in her orgs and in the matrix as "target (via group QA)".
    carol_context = browser.new_context(base_url=live_server.url)
    carol = carol_context.new_page()
    log_in(carol, world.member.email)
    carol.goto(f"/teams/{world.team.code}/orgs/")
    mine = carol.locator('tr[data-username="dev@acme.example.uat"]')
    assert mine.count() == 1
    assert mine.locator(".access-level").inner_text().split() == ["target", "via", "group", "QA"]
    carol.locator("nav").get_by_role("link", name="Who can target what").click()
    cells = carol.locator('#matrix tr[data-org="dev@acme.example.uat"]').inner_text()
    assert "target (via group QA)" in cells

    # The admin removes the grant; Carol no longer sees the org.
    page.locator('#grants tr[data-subject="group QA"] .remove-grant').click()
    assert page.locator('#grants tr[data-subject="group QA"]').count() == 0
    carol.goto(f"/teams/{world.team.code}/orgs/")
    assert carol.locator('tr[data-username="dev@acme.example.uat"]').count() == 0
    carol.goto(f"/teams/{world.team.code}/access/")
    assert carol.locator('#matrix tr[data-org="dev@acme.example.uat"]').count() == 0
    carol_context.close()
