"""API tokens' lifecycle: caps on live tokens, the tokens page (expiry, last use, address), one expiry warning
email, and revocation of personal tokens when the user's credentials change (password change or reset, a removed
two-factor authenticator). Service tokens belong to the team and stay."""

import pytest
import time_machine
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from portal.accounts import tokens
from portal.accounts.models import ApiToken, AuditEvent, Membership
from portal.accounts.services import team_create
from tests.api.test_reauthentication import add_record
from tests.browser.helpers import last_link
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

DAY = timezone.timedelta(days=1)


def tokens_url(world):
    return reverse("accounts:token_list", args=[world.team.code])


def live(**filters):
    return ApiToken.objects.filter(revoked_at__isnull=True, **filters)


# -- caps ------------------------------------------------------------------------------------------------------------

def test_the_11th_live_personal_token_is_refused_with_a_form_message(client, world, make_token, settings):
    assert settings.PORTAL_MAX_API_TOKENS_PER_USER == 10
    other_team = team_create(user=world.outsider, name="Initech")
    Membership.objects.create(team=other_team, user=world.member, role=Membership.Role.MEMBER)
    for _ in range(9):
        make_token(world.member)
    make_token(world.member, team=other_team)  # the cap is per user, across teams
    client.force_login(world.member)
    response = client.post(tokens_url(world), {"name": "eleventh", "kind": "personal", "expires": "30"})
    assert response.status_code == 400
    assert "already have 10 live personal API tokens" in response.content.decode()
    assert live(user=world.member).count() == 10
    # revoked and expired ones do not count
    first = ApiToken.objects.filter(user=world.member).order_by("created_at").first()
    tokens.api_token_revoke(actor=world.member, token=first)
    ApiToken.objects.filter(pk=live(user=world.member).first().pk).update(expires_at=timezone.now() - DAY)
    assert client.post(tokens_url(world), {"name": "eleventh", "kind": "personal", "expires": "30"}).status_code == 200
    assert client.post(tokens_url(world), {"name": "twelfth", "kind": "personal", "expires": "30"}).status_code == 200
    assert client.post(tokens_url(world), {"name": "x", "kind": "personal", "expires": "30"}).status_code == 400
    # other people are not affected, and neither are service tokens
    assert make_token(world.owner).token.pk and make_token(world.admin, kind="service").token.pk


def test_service_tokens_are_capped_per_team(client, world, make_token, settings):
    settings.PORTAL_MAX_SERVICE_TOKENS_PER_TEAM = 2
    make_token(world.admin, kind="service")
    make_token(world.owner, kind="service")
    client.force_login(world.admin)
    response = client.post(tokens_url(world), {"name": "third", "kind": "service", "expires": "30"})
    assert response.status_code == 400 and "already has 2 live service tokens" in response.content.decode()
    assert live(kind="service").count() == 2
    assert make_token(world.outsider, kind="service", team=world.other_team).token.pk  # per team


# -- the page --------------------------------------------------------------------------------------------------------

def test_the_page_shows_expiry_last_use_and_address(client, world, make_token):
    issued = make_token(world.member)
    soon = make_token(world.member, expires_at=timezone.now() + 3 * DAY)
    client.get("/api/v1/orgs", **issued.auth, REMOTE_ADDR="10.9.8.7")
    issued.token.refresh_from_db()
    client.force_login(world.member)
    page = client.get(tokens_url(world)).content.decode()
    row = page.split(f'data-token="{issued.token.code}"')[1].split("</tr>")[0]
    assert timezone.localtime(issued.token.expires_at).strftime("%Y-%m-%d %H:%M") in row
    assert f"{timezone.localtime(issued.token.last_used_at):%Y-%m-%d %H:%M}</time> from 10.9.8.7" in row
    soon_row = page.split(f'data-token="{soon.token.code}"')[1].split("</tr>")[0]
    assert "expires soon" in soon_row and "never" in soon_row  # never used


# -- the expiry warning ----------------------------------------------------------------------------------------------

def test_one_warning_email_a_week_before_expiry(world, make_token, settings, django_capture_on_commit_callbacks):
    now = timezone.now()
    personal = make_token(world.member, name="laptop", expires_at=now + 30 * DAY)
    service = make_token(world.admin, kind="service", name="GitHub Actions", expires_at=now + 30 * DAY)
    later = make_token(world.owner, name="later", expires_at=now + 90 * DAY)
    revoked = make_token(world.owner, name="gone", expires_at=now + 30 * DAY)
    tokens.api_token_revoke(actor=world.owner, token=revoked.token)
    assert tokens.api_tokens_warn_expiring() == 0 and mail.outbox == []
    with (time_machine.travel(now + 23 * DAY + timezone.timedelta(hours=1)),  # 6 days 23 h before
          django_capture_on_commit_callbacks(execute=True)):
        assert tokens.api_tokens_warn_expiring() == 2
        assert tokens.api_tokens_warn_expiring() == 0  # once per token
    with time_machine.travel(now + 29 * DAY):
        assert tokens.api_tokens_warn_expiring() == 0
    assert len(mail.outbox) == 3  # one message per recipient
    laptop = next(m for m in mail.outbox if "laptop" in m.subject)
    assert laptop.to == [world.member.email] and "6 days left" in laptop.body
    assert reverse("accounts:token_list", args=[world.team.code]) in laptop.body
    ci = [m.to[0] for m in mail.outbox if "GitHub Actions" in m.subject]
    assert sorted(ci) == sorted([world.owner.email, world.admin.email])  # those who manage service tokens
    for message in mail.outbox:
        assert personal.raw not in message.body and service.raw not in message.body
    assert ApiToken.objects.get(pk=personal.token.pk).expiry_warned_at is not None
    assert ApiToken.objects.get(pk=later.token.pk).expiry_warned_at is None


def test_a_failed_send_is_retried_by_the_mail_task(world, make_token, settings, django_capture_on_commit_callbacks):
    from tests.accounts.test_mail import FlakyBackend

    make_token(world.member, expires_at=timezone.now() + 2 * DAY)
    settings.EMAIL_BACKEND = "tests.accounts.test_mail.FlakyBackend"
    FlakyBackend.failures_left, FlakyBackend.calls = 2, 0
    with django_capture_on_commit_callbacks(execute=True):
        assert tokens.api_tokens_warn_expiring() == 1  # the sweep does not wait for SMTP
    from portal.accounts.mail import mail_deliver
    from portal.accounts.models import OutboundMail

    row = OutboundMail.objects.get()  # the first attempt failed; the task's retries call the same service
    assert row.status == "queued" and mail.outbox == []
    FlakyBackend.failures_left = 0
    assert mail_deliver(mail_id=row.pk) is True
    assert FlakyBackend.calls == 2 and len(mail.outbox) == 1


def test_the_warning_runs_on_beat(settings):
    from portal.accounts.tasks import api_tokens_warn_expiring_task

    entries = {e["task"] for e in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "portal.accounts.tasks.api_tokens_warn_expiring_task" in entries
    assert api_tokens_warn_expiring_task.name == "portal.accounts.tasks.api_tokens_warn_expiring_task"


# -- revocation when credentials change ------------------------------------------------------------------------------

@pytest.fixture
def carols_tokens(world, make_token):
    """carol (a member) has two personal tokens in Acme and one in another team; Acme has a service token."""
    other_team = team_create(user=world.outsider, name="Initech")
    Membership.objects.create(team=other_team, user=world.member, role=Membership.Role.MEMBER)
    personal = [make_token(world.member), make_token(world.member), make_token(world.member, team=other_team)]
    service = make_token(world.admin, kind="service")
    alices = make_token(world.owner)
    return personal, service, alices


def assert_revoked(carols_tokens, reason):
    personal, service, alices = carols_tokens
    assert all(ApiToken.objects.get(pk=i.token.pk).revoked_at for i in personal)
    assert ApiToken.objects.get(pk=service.token.pk).revoked_at is None  # the team's, not carol's
    assert ApiToken.objects.get(pk=alices.token.pk).revoked_at is None
    events = AuditEvent.objects.filter(kind="api_token.revoked")
    assert events.count() == 3 and {e.data["reason"] for e in events} == {reason}
    assert {e.team_id for e in events} == {i.token.team_id for i in personal}  # audited in each team


def test_a_password_change_revokes_personal_tokens_only(client, world, carols_tokens):
    client.force_login(world.member)
    response = client.post(reverse("account_change_password"), {
        "oldpassword": PASSWORD, "password1": "a-brand-new-pass-77", "password2": "a-brand-new-pass-77"})
    assert response.status_code == 302
    assert_revoked(carols_tokens, "password changed")
    assert client.get("/api/v1/orgs", **carols_tokens[0][0].auth).status_code == 401
    assert client.get("/api/v1/orgs", **carols_tokens[1].auth).status_code == 200


def test_a_password_reset_revokes_personal_tokens(client, world, carols_tokens):
    assert client.post(reverse("account_reset_password"), {"email": world.member.email}).status_code == 302
    response = client.get(last_link("/accounts/password/reset/key/"), follow=True)
    form_url = response.redirect_chain[-1][0] if response.redirect_chain else response.request["PATH_INFO"]
    response = client.post(form_url, {"password1": "a-brand-new-pass-77", "password2": "a-brand-new-pass-77"})
    assert response.status_code == 302
    assert_revoked(carols_tokens, "password reset")


def test_removing_totp_revokes_personal_tokens(client, world, carols_tokens):
    TOTP.activate(world.member, generate_totp_secret())
    client.force_login(world.member)
    add_record(client, world.member, method="mfa", type="totp", reauthenticated=True)  # a fresh TOTP re-authentication
    response = client.post(reverse("mfa_deactivate_totp"))
    assert response.status_code == 302 and not Authenticator.objects.filter(user=world.member).exists()
    assert_revoked(carols_tokens, "two-factor authentication removed (totp)")


def test_a_revocation_without_tokens_is_quiet(client, world):
    client.force_login(world.owner)
    response = client.post(reverse("account_change_password"), {
        "oldpassword": PASSWORD, "password1": "a-brand-new-pass-77", "password2": "a-brand-new-pass-77"})
    assert response.status_code == 302 and not AuditEvent.objects.filter(kind="api_token.revoked").exists()
