"""Browser test in Chromium: a production org's Sandboxes tab, create → live progress (htmx, no reload) → connected →
refresh → the alias still hands out a token (for the new org) → delete. A thread stands in for the Celery worker."""

from datetime import timedelta

import pytest
from django.utils import timezone

from orgs.models import OrgConnection, Sandbox
from tests.browser.helpers import submit
from tests.conftest import PASSWORD
from tests.sandboxes.conftest import Worker, connect_production

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def production(world, sim, sim_app):
    return connect_production(world, sim, sim_app)


def api_token(world) -> str:
    from portal.accounts.models import Membership
    from portal.accounts.tokens import api_token_create

    _, raw = api_token_create(actor=Membership.objects.get(team=world.team, user=world.owner), kind="personal",
                              name="browser-test")
    return raw


def test_create_progress_connected_refresh_alias_delete(page, world, sim, production, live_server, client):
    from orgs.services.apps import callback_url

    sim.update_app("OrgPortalDemo", callback_urls=[callback_url()])
    sim.configure(sandbox_copy_seconds=4)
    page.goto("/accounts/login/")
    page.fill("input[name=login]", world.owner.email)
    page.fill("input[name=password]", PASSWORD)
    submit(page)
    page.wait_for_url("**/teams/**")
    page.locator("nav").get_by_role("link", name="Orgs", exact=True).click()
    row = page.locator("tr", has_text=production.username).first
    row.get_by_role("button", name="Actions").click()
    row.locator(".sandboxes-link").click()
    page.wait_for_url("**/sandboxes/")

    with Worker(interval=0.5) as worker:
        page.click("#new-sandbox")
        page.fill("#id_name", "web1")
        page.select_option("#id_license_type", "DEVELOPER")
        page.fill("#id_description", "made in the browser")
        page.fill("#id_alias", "web1")
        page.click("#create-sandbox")
        page.wait_for_url("**/sandboxes/")
        line = page.locator('tr[data-name="web1"]')
        page.evaluate("window.__stillHere = 'yes'")  # lost if the page reloaded
        # live progress without a reload: htmx swaps the row in as the copy moves through its stages
        page.wait_for_function(
            "() => /Processing|Pending|Completed/.test(document.querySelector('tr[data-name=\"web1\"] .sb-status')"
            ".textContent)")
        line.locator(".connected .badge").wait_for(timeout=30_000)  # the finished row, swapped in
        assert "Create: Done" in line.inner_text() and line.get_attribute("hx-trigger") is None
        announcer = page.locator("#job-announcer")
        assert announcer.get_attribute("aria-live") == "polite"
        assert "Sandbox web1 was created and is connected." in announcer.inner_text()
        assert page.evaluate("window.__stillHere") == "yes"
        connection = OrgConnection.objects.get(username="admin@acme.example.web1")
        first_org = connection.org_id

        sim.set_sandbox_last_refresh("web1", 2, org=production.org_id)
        Sandbox.objects.filter(name="web1").update(last_refreshed_at=timezone.now() - timedelta(days=2))
        page.reload()
        page.locator('tr[data-name="web1"] .refresh-sandbox').click()
        page.wait_for_url("**/sandboxes/")
        assert "Refresh of web1 requested" in page.content()
        page.wait_for_function(
            "() => /Refresh: Done/.test(document.querySelector('tr[data-name=\"web1\"]').textContent)",
            timeout=30_000)
        assert not worker.errors, worker.errors

    moved = OrgConnection.objects.get(pk=connection.pk)
    assert moved.org_id != first_org
    handed = client.post("/api/v1/orgs/web1/access-token", HTTP_AUTHORIZATION=f"Bearer {api_token(world)}")
    assert handed.status_code == 200 and handed.json()["org_id"] == moved.org_id
    import requests

    who = requests.get(f"{sim.base_url}/services/oauth2/userinfo",
                       headers={"Authorization": f"Bearer {handed.json()['access_token']}"}, timeout=10)
    assert who.status_code == 200 and who.json()["organization_id"] == moved.org_id

    page.locator('tr[data-name="web1"] .delete-sandbox').click()
    page.fill("#confirm", "web1")
    page.click("#confirm-delete")
    page.wait_for_url("**/sandboxes/")
    assert "Sandbox web1 deleted" in page.content()
    assert page.locator('tr[data-name="web1"]').count() == 0
    assert not OrgConnection.objects.filter(pk=connection.pk).exists()
