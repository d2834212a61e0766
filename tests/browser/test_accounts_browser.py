"""Browser tests in a real Chromium: the people side, end to end."""

import time

import pytest
from allauth.mfa.models import Authenticator

from portal.accounts.models import Membership
from tests.browser.helpers import fresh_totp, last_link, submit
from tests.conftest import PASSWORD, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_up(page, email: str) -> None:
    page.fill("input[name=email]", email)
    page.fill("input[name=password1]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    submit(page)


def test_signup_confirm_create_team_invite_and_accept(page, browser, live_server):
    # Ann signs up; email verification is mandatory, so she confirms from the outbox.
    page.goto("/accounts/signup/")
    sign_up(page, "ann@example.com")
    page.wait_for_url("**/accounts/confirm-email/")
    assert "Verify Your Email Address" in page.content() or "verification" in page.content().lower()
    page.goto(last_link("/accounts/confirm-email/"))
    submit(page, "Confirm")

    # Logged in with no team yet: she creates one and is its owner.
    page.wait_for_url("**/teams/")
    page.fill("#id_name", "Rocket Science")
    page.click("#create-team")
    page.wait_for_url("**/teams/*/")
    assert "Team “Rocket Science” created" in page.content()

    # She invites Ben as a member.
    page.locator("nav").get_by_role("link", name="Members").click()
    page.fill("#id_email", "ben@example.com")
    page.select_option("#id_role", "member")
    page.click("#send-invitation")
    assert "Invitation sent to ben@example.com" in page.content()
    invitation_path = last_link("/invitations/")

    # Ben, in his own browser, opens the link, creates an account and accepts.
    ben_context = browser.new_context(base_url=live_server.url)
    ben = ben_context.new_page()
    ben.goto(invitation_path)
    assert "Join Rocket Science" in ben.content()
    ben.click("#invitation-signup")
    sign_up(ben, "ben@example.com")
    ben.wait_for_url(f"**{invitation_path}")
    ben.click("#accept-invitation")
    ben.wait_for_url("**/teams/*/")
    assert "Welcome to Rocket Science!" in ben.content()
    ben_context.close()

    # Ann sees both members with their roles, and the audit log shows what happened.
    page.reload()
    rows = page.locator("#members tbody tr")
    assert rows.count() == 2
    assert page.locator('tr[data-email="ann@example.com"] .role').inner_text() == "Owner"
    assert page.locator('tr[data-email="ben@example.com"] .role').inner_text() == "Member"
    page.click("#team-menu")
    page.locator("nav").get_by_role("link", name="Audit log").click()
    audit = page.locator("#audit").inner_text()
    for text in ("Team created", "Invitation sent", "Invitation accepted", "ben@example.com"):
        assert text in audit
    assert Membership.objects.filter(team__name="Rocket Science").count() == 2


def test_enrol_totp_then_log_in_with_a_code(page, settings):
    settings.MFA_TOTP_PERIOD = 5  # keep the wait for a fresh code short; the flow is the same
    make_user("tom@example.com")
    page.goto("/accounts/login/")
    page.fill("input[name=login]", "tom@example.com")
    page.fill("input[name=password]", PASSWORD)
    submit(page)
    page.wait_for_url("**/teams/")

    page.goto("/accounts/2fa/totp/activate/")
    if "/accounts/reauthenticate/" in page.url:  # allauth asks for the password again before MFA changes
        page.fill("input[name=password]", PASSWORD)
        submit(page, "Confirm")
        page.wait_for_url("**/accounts/2fa/totp/activate/")
    secret = page.input_value("#authenticator_secret")
    page.fill("input[name=code]", fresh_totp(secret, period=5))
    submit(page, "Activate")
    # Leave the activation page (a rejected code would render it again, and "**/2fa/**" matches it too).
    page.wait_for_url(lambda url: "/2fa/" in url and not url.endswith("/totp/activate/"))
    enrolled_at = time.time()
    assert Authenticator.objects.filter(user__email="tom@example.com", type=Authenticator.Type.TOTP).exists()

    page.goto("/")
    page.click("#user-menu")
    page.click("#logout")
    page.wait_for_url("**/accounts/login/")
    page.goto("/accounts/login/")
    page.fill("input[name=login]", "tom@example.com")
    page.fill("input[name=password]", PASSWORD)
    submit(page)
    page.wait_for_url("**/accounts/2fa/authenticate/")
    # A code is single use: wait for the next period before logging in with a fresh one.
    time.sleep(max(0.0, 5 - (enrolled_at % 5)) + 0.2)
    page.fill("input[name=code]", fresh_totp(secret, period=5))
    submit(page)
    page.wait_for_url("**/teams/")
    assert page.locator("#user-menu").inner_text() == "tom@example.com"
