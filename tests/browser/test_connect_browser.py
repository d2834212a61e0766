"""Browser test in Chromium: connect a sandbox through the simulator's login and Allow pages, then manage it."""

import pytest

from orgs.models import OrgConnection
from tests.browser.helpers import submit
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_connect_set_default_and_disconnect_a_sandbox(page, world, sim, sim_app, live_server):
    from orgs.services.apps import callback_url

    sim.update_app("OrgPortalDemo", callback_urls=[callback_url()])  # this live server's callback
    page.goto("/accounts/login/")
    page.fill("input[name=login]", world.member.email)
    page.fill("input[name=password]", PASSWORD)
    submit(page)
    page.wait_for_url("**/teams/**")

    page.locator("nav").get_by_role("link", name="Orgs", exact=True).click()
    page.click("#connect-org")
    page.fill("#id_alias", "qa-sandbox")
    page.click("#start-connect")

    # Salesforce's (the simulator's) own pages: log in, then Allow.
    page.wait_for_url(f"{sim.base_url}/**")
    page.fill("input[name=username]", "dev@acme.example.uat")
    page.fill("input[name=password]", "sfsim-demo-password")
    page.click("#Login")
    page.click("#allow")

    page.wait_for_url("**/orgs/")
    assert "Sandbox “qa-sandbox” connected as dev@acme.example.uat." in page.content()
    assert "code=" not in page.url and "state=" not in page.url
    row = page.locator('tr[data-alias="qa-sandbox"]')
    assert row.locator(".org-type").inner_text() == "Sandbox"
    assert row.locator(".org-status").inner_text().strip() == "Connected"

    row.get_by_role("button", name="Actions").click()
    row.locator(".set-default-org").click()
    page.wait_for_url("**/orgs/")
    assert page.locator('tr[data-alias="qa-sandbox"] .default-org').inner_text() == "default org"

    page.locator('tr[data-alias="qa-sandbox"]').get_by_role("button", name="Actions").click()
    page.locator('tr[data-alias="qa-sandbox"] .disconnect').click()
    page.click("#confirm-disconnect")
    page.wait_for_url("**/orgs/")
    assert "disconnected; its token was revoked at Salesforce" in page.content()
    assert page.locator('tr[data-alias="qa-sandbox"]').count() == 0
    assert not OrgConnection.objects.exists()
    assert any(e["path"] == "/services/oauth2/revoke" and e["status"] == 200 for e in sim.log())
