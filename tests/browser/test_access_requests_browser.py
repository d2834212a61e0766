"""Browser test in Chromium (issue 18): a member requests time-boxed access to an "access on request" org, an admin
approves it in another browser, the member's page turns to approved by itself, the token handed out works at
Salesforce; after the expiry the access is gone and the token is refused by Salesforce."""

from datetime import timedelta

import pytest
import time_machine

from orgs.models import AccessRequest
from orgs.services import access_requests as service
from portal.accounts.models import Membership
from tests.api.test_token_revocation import works
from tests.browser.helpers import last_link
from tests.browser.test_sharing_browser import log_in
from tests.sharing.conftest import shared  # noqa: F401 - the fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_request_approve_use_expire(page, browser, world, shared, live_server, mailoutbox):  # noqa: F811
    connection, tara = shared["connection"], shared["people"]["tara"]
    service.access_policy_set(actor=Membership.objects.get(team=world.team, user=world.admin), connection=connection,
                              on_request=True, break_glass=False, approvals_required=1, approver_group=None)

    # Tara, eligible for target, sees the org but cannot get a token; she requests 15 minutes.
    log_in(page, tara.email)
    page.goto(f"/teams/{world.team.code}/orgs/{connection.code}/access/")
    assert "eligible for target" in page.locator("#on-request").inner_text()
    page.locator("#on-request a").click()
    page.select_option("#req-level", label="target")
    page.fill("#req-minutes", "15")
    page.fill("#req-reason", "Hotfix for INC-7")
    page.fill("#req-ticket", "INC-7")
    page.click("#req-submit")
    page.wait_for_url("**/access-requests/*/")
    assert page.locator("#request-state").get_attribute("data-state") == "pending"
    assert page.locator("#approve").count() == 0  # nobody approves their own request
    page.evaluate("window.__noReload = true")  # survives only if the page is never reloaded

    # Bob (a team admin) follows the email and approves in his own browser.
    bob_context = browser.new_context(base_url=live_server.url)
    bob = bob_context.new_page()
    log_in(bob, world.admin.email)
    bob.goto(last_link("/access-requests/"))
    bob.click("#approve")
    assert bob.locator("#request-state").get_attribute("data-state") == "approved"
    bob_context.close()

    # Tara's page turns to approved by itself; the token she gets works at Salesforce.
    page.wait_for_selector('#request-state[data-state="approved"]', timeout=15_000)
    assert page.evaluate("window.__noReload === true")  # updated in place by htmx, no reload
    page.wait_for_function("document.getElementById('request-announcer').textContent.includes('approved')")
    page.goto(f"/teams/{world.team.code}/orgs/")
    row = page.locator(f'tr[data-username="{connection.username}"]')
    row.get_by_role("button", name="Actions").click()
    row.locator(".get-token").click()
    token = page.locator("#access-token").input_value()
    assert works(connection, token)

    # After the expiry: no access (nothing ran for that), and the sweep has the token revoked at Salesforce.
    request = AccessRequest.objects.get(requester=tara)
    with time_machine.travel(request.expires_at + timedelta(minutes=1), tick=True):
        page.goto(f"/teams/{world.team.code}/orgs/")
        assert page.locator(f'tr[data-username="{connection.username}"] .get-token').count() == 0
        service.access_requests_sweep()
        assert not works(connection, token)
        page.goto(f"/teams/{world.team.code}/access-requests/{request.code}/")
        assert page.locator("#request-state").get_attribute("data-state") == "expired"
