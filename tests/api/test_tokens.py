"""API tokens in the UI and the services: shown once, stored hashed, expiry, last used, revoke, audit."""

import hashlib

import pytest
from django.urls import reverse
from django.utils import timezone

from orgs.api.authentication import authenticate
from portal.accounts import tokens
from portal.accounts.models import ApiToken, AuditEvent, Membership

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def tokens_url(world):
    return reverse("accounts:token_list", args=[world.team.code])


def test_a_member_creates_a_personal_token_shown_once(client, world):
    client.force_login(world.member)
    response = client.post(tokens_url(world), {"name": "laptop", "kind": "personal", "expires": "30"})
    assert response.status_code == 200
    assert response["Cache-Control"].startswith("max-age=0") or "no-store" in response["Cache-Control"]
    page = response.content.decode()
    token = ApiToken.objects.get()
    raw = page.split('id="token-value" value="')[1].split('"')[0]
    assert raw.startswith("op_") and len(raw) >= 40 and 'id="copy-token"' in page
    assert token.token_hash == hashlib.sha256(raw.encode()).hexdigest() and raw[:11] == token.hint
    assert token.kind == "personal" and token.user == world.member and token.name == "laptop"
    assert abs((token.expires_at - timezone.now()).days - 30) <= 1
    listing = client.get(tokens_url(world)).content.decode()
    assert raw not in listing and token.hint in listing and "laptop" in listing
    event = AuditEvent.objects.get(kind="api_token.created")
    assert event.actor == world.member and event.data["hint"] == token.hint and raw not in str(event.data)
    assert raw not in str(ApiToken.objects.values().get())  # only the hash is stored


def test_every_token_expires_90_days_by_default(client, world):
    client.force_login(world.owner)
    page = client.get(tokens_url(world)).content.decode()
    assert '<option value="90" selected>90 days</option>' in page and 'value="never"' not in page
    assert [o.split('"')[1] for o in page.split('<option value=')[1:]] == ["7", "30", "90", "180", "365"]
    never = client.post(tokens_url(world), {"name": "forever", "kind": "personal", "expires": "never"})
    assert never.status_code == 400
    assert client.post(tokens_url(world), {"name": "no choice", "kind": "personal"}).status_code == 400
    assert not ApiToken.objects.exists()
    client.post(tokens_url(world), {"name": "default", "kind": "personal", "expires": "90"})
    assert abs((ApiToken.objects.get().expires_at - timezone.now()) - timezone.timedelta(days=90)).total_seconds() < 60
    member = Membership.objects.get(team=world.team, user=world.owner)
    token, _ = tokens.api_token_create(actor=member, kind="personal", name="service call without expiry")
    assert abs((token.expires_at - timezone.now()) - timezone.timedelta(days=90)).total_seconds() < 60


def test_more_than_the_maximum_lifetime_is_refused(client, world, settings):
    member = Membership.objects.get(team=world.team, user=world.owner)
    with pytest.raises(tokens.ServiceError, match="at most 365 days"):
        tokens.api_token_create(actor=member, kind="personal", name="x",
                                expires_at=timezone.now() + timezone.timedelta(days=366))
    settings.PORTAL_API_TOKEN_MAX_DAYS = settings.PORTAL_API_TOKEN_DEFAULT_DAYS = 30
    client.force_login(world.owner)
    page = client.get(tokens_url(world)).content.decode()
    assert 'value="90"' not in page and '<option value="30" selected>' in page
    assert client.post(tokens_url(world), {"name": "x", "kind": "personal", "expires": "180"}).status_code == 400
    assert not ApiToken.objects.exists()


def test_admins_create_service_tokens(client, world):
    client.force_login(world.admin)
    response = client.post(tokens_url(world), {"name": "GitHub Actions", "kind": "service", "expires": "90"})
    assert response.status_code == 200
    token = ApiToken.objects.get()
    assert token.kind == "service" and token.user is None and token.created_by == world.admin
    assert "GitHub Actions" in client.get(tokens_url(world)).content.decode()


def test_members_cannot_create_service_tokens(client, world):
    client.force_login(world.member)
    page = client.get(tokens_url(world)).content.decode()
    assert 'value="service"' not in page
    response = client.post(tokens_url(world), {"name": "sneaky", "kind": "service", "expires": "30"})
    assert response.status_code == 400 and not ApiToken.objects.exists()


@pytest.mark.parametrize("data", [{"name": "", "kind": "personal", "expires": "30"},
                                  {"name": "x", "kind": "personal", "expires": "5000"},
                                  {"name": "x" * 101, "kind": "personal", "expires": "30"}])
def test_bad_input_is_a_form_error(client, world, data):
    client.force_login(world.member)
    assert client.post(tokens_url(world), data).status_code == 400
    assert not ApiToken.objects.exists()


def test_outsiders_get_404(client, world):
    client.force_login(world.outsider)
    assert client.get(tokens_url(world)).status_code == 404
    assert client.post(tokens_url(world), {"name": "x", "kind": "personal", "expires": "30"}).status_code == 404


def test_revoke_from_the_page(client, world, make_token):
    issued = make_token(world.member)
    client.force_login(world.member)
    response = client.post(reverse("accounts:token_revoke", args=[world.team.code, issued.token.code]))
    assert response.status_code == 302
    issued.token.refresh_from_db()
    assert issued.token.revoked_at is not None and not issued.token.is_active
    assert AuditEvent.objects.filter(kind="api_token.revoked", actor=world.member).count() == 1
    assert client.get("/api/v1/orgs", **issued.auth).status_code == 401
    assert "revoked" in client.get(tokens_url(world)).content.decode()


def test_others_personal_tokens_are_invisible_and_service_tokens_need_an_admin(client, world, make_token):
    alices = make_token(world.owner)
    service = make_token(world.admin, kind="service")
    client.force_login(world.member)
    assert client.post(reverse("accounts:token_revoke", args=[world.team.code, alices.token.code])).status_code == 404
    assert client.post(reverse("accounts:token_revoke", args=[world.team.code, service.token.code])).status_code == 403
    client.force_login(world.admin)
    assert client.post(reverse("accounts:token_revoke", args=[world.team.code, service.token.code])).status_code == 302
    assert ApiToken.objects.get(pk=alices.token.pk).revoked_at is None
    assert ApiToken.objects.get(pk=service.token.pk).revoked_at is not None


def test_expiry_is_enforced(world, make_token):
    issued = make_token(world.owner, expires_at=timezone.now() + timezone.timedelta(days=1))
    assert authenticate(raw=issued.raw) is not None
    ApiToken.objects.filter(pk=issued.token.pk).update(expires_at=timezone.now() - timezone.timedelta(seconds=1))
    assert authenticate(raw=issued.raw) is None


def test_last_used_is_written_at_most_once_a_minute(world, make_token, django_assert_num_queries):
    issued = make_token(world.owner)
    assert authenticate(raw=issued.raw, ip="10.0.0.1").last_used_ip == "10.0.0.1"
    with django_assert_num_queries(1):  # the lookup only: no write within the minute
        authenticate(raw=issued.raw, ip="10.0.0.1")
    with django_assert_num_queries(2):  # a new address is recorded
        assert authenticate(raw=issued.raw, ip="10.0.0.2").last_used_ip == "10.0.0.2"


def test_offboarding_revokes_the_members_personal_tokens_only(world, make_token):
    carols = [make_token(world.member), make_token(world.member)]
    service = make_token(world.admin, kind="service")
    membership = Membership.objects.get(team=world.team, user=world.member)
    assert tokens.api_tokens_revoke_for_member(membership=membership, actor=world.owner) == 2
    assert all(ApiToken.objects.get(pk=i.token.pk).revoked_at for i in carols)
    assert ApiToken.objects.get(pk=service.token.pk).revoked_at is None
    assert AuditEvent.objects.filter(kind="api_token.revoked").count() == 2
    assert tokens.api_tokens_revoke_for_member(membership=membership) == 0
