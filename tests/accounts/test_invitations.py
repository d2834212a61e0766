"""Invitation flows: new and existing users; expired, reused, withdrawn, tampered and someone else's links."""

import re
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from portal.accounts.models import AuditEvent, Invitation, Membership
from portal.accounts.services import invitation_token
from tests.conftest import PASSWORD, make_user


def invite(client, world, email="erin@example.com", role="member"):
    client.force_login(world.admin)
    response = client.post(reverse("accounts:member_invite", args=[world.team.code]), {"email": email, "role": role})
    assert response.status_code == 302
    client.logout()
    return Invitation.objects.get(team=world.team, email=email, revoked_at=None)


def link_from_outbox() -> str:
    body = mail.outbox[-1].body
    return re.search(r"https?://\S+/invitations/\S+/", body).group(0)


def state(world):
    return (sorted(Membership.objects.filter(team=world.team).values_list("user__email", "role")),
            list(Invitation.objects.filter(team=world.team).values_list("email", "accepted_at", "revoked_at")),
            AuditEvent.objects.filter(team=world.team).count())


def test_invitation_email_has_a_working_link(world, client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        invitation = invite(client, world)
    assert mail.outbox[-1].to == ["erin@example.com"]
    assert "Acme" in mail.outbox[-1].subject
    path = link_from_outbox().split("localhost:8000", 1)[1]
    assert path == reverse("accounts:invitation", args=[invitation_token(invitation)])
    event = AuditEvent.objects.get(team=world.team, kind="invitation.sent")
    assert event.actor_label == "bob@example.com" and event.subject == "erin@example.com"


def test_existing_user_accepts(world, client):
    invitation = invite(client, world, email="dave@example.com", role="admin")
    client.force_login(world.outsider)
    url = reverse("accounts:invitation", args=[invitation_token(invitation)])
    page = client.get(url)
    assert page.status_code == 200 and "Accept and join" in page.content.decode()
    response = client.post(url)
    assert response.status_code == 302
    assert Membership.objects.get(team=world.team, user=world.outsider).role == "admin"
    invitation.refresh_from_db()
    assert invitation.accepted_by == world.outsider
    assert AuditEvent.objects.filter(team=world.team, kind="invitation.accepted", actor=world.outsider).exists()


@pytest.mark.parametrize("open_signup", [True, False])
def test_new_user_signs_up_through_the_link(world, client, settings, open_signup):
    settings.PORTAL_OPEN_SIGNUP = open_signup
    invitation = invite(client, world)
    url = reverse("accounts:invitation", args=[invitation_token(invitation)])
    assert "Create an account" in client.get(url).content.decode()
    response = client.post(reverse("account_signup") + f"?next={url}",
                           {"email": "erin@example.com", "password1": PASSWORD, "password2": PASSWORD})
    assert response.status_code == 302, response.content.decode()[:2000]
    # The invited address counts as verified: no confirmation round-trip, straight back to the invitation.
    assert response["Location"] == url
    response = client.post(url)
    assert response.status_code == 302
    assert Membership.objects.get(team=world.team, user__email="erin@example.com").role == "member"


def test_closed_signup_refuses_people_without_an_invitation(db, client, settings):
    settings.PORTAL_OPEN_SIGNUP = False
    response = client.post(reverse("account_signup"),
                           {"email": "zed@example.com", "password1": PASSWORD, "password2": PASSWORD})
    assert "Sign Up Closed" in response.content.decode() or "signup is currently closed" in \
        response.content.decode().lower()
    from portal.accounts.models import User

    assert not User.objects.filter(email="zed@example.com").exists()


def test_reused_link_is_refused(world, client):
    invitation = invite(client, world, email="dave@example.com")
    url = reverse("accounts:invitation", args=[invitation_token(invitation)])
    client.force_login(world.outsider)
    assert client.post(url).status_code == 302
    before = state(world)
    page = client.get(url)
    assert "already been used" in page.content.decode()
    response = client.post(url)
    assert response.status_code == 400 and "already been used" in response.content.decode()
    assert state(world) == before


def test_expired_link_is_refused(world, client):
    invitation = invite(client, world, email="dave@example.com")
    url = reverse("accounts:invitation", args=[invitation_token(invitation)])
    client.force_login(world.outsider)
    before = state(world)
    with time_machine.travel(timezone.now() + timedelta(days=8)):
        response = client.post(url)
    assert response.status_code == 400
    assert "expired" in response.content.decode()
    assert state(world) == before


def test_expired_in_database_but_signature_fresh_is_refused(world, client):
    invitation = invite(client, world, email="dave@example.com")
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    client.force_login(world.outsider)
    before = state(world)
    response = client.post(reverse("accounts:invitation", args=[invitation_token(invitation)]))
    assert response.status_code == 400 and "expired" in response.content.decode()
    assert state(world) == before


def test_someone_elses_link_is_refused(world, client):
    invitation = invite(client, world, email="erin@example.com")
    client.force_login(world.outsider)  # dave, not erin
    url = reverse("accounts:invitation", args=[invitation_token(invitation)])
    before = state(world)
    response = client.post(url)
    assert response.status_code == 400
    assert "was sent to erin@example.com" in response.content.decode()
    assert state(world) == before


def test_unverified_matching_address_is_not_enough(world, client):
    make_user("erin@example.com", verified=False)
    invitation = invite(client, world, email="erin@example.com")
    from portal.accounts.models import User

    client.force_login(User.objects.get(email="erin@example.com"))
    before = state(world)
    response = client.post(reverse("accounts:invitation", args=[invitation_token(invitation)]))
    assert response.status_code == 400 and "verify it" in response.content.decode()
    assert state(world) == before


def test_withdrawn_link_is_refused(world, client):
    invitation = invite(client, world, email="dave@example.com")
    client.force_login(world.admin)
    client.post(reverse("accounts:invitation_revoke", args=[world.team.code, invitation.code]))
    client.force_login(world.outsider)
    before = state(world)
    response = client.post(reverse("accounts:invitation", args=[invitation_token(invitation)]))
    assert response.status_code == 400 and "withdrawn" in response.content.decode()
    assert state(world) == before


@pytest.mark.parametrize("token", ["garbage", "x" * 300, "Ii4uIg:1tZ:abc"])
def test_tampered_link_is_refused(world, client, token):
    client.force_login(world.outsider)
    before = state(world)
    response = client.post(reverse("accounts:invitation", args=[token]))
    assert response.status_code == 400 and "not valid" in response.content.decode()
    assert state(world) == before


def test_reinviting_replaces_the_pending_link(world, client):
    first = invite(client, world, email="erin@example.com")
    second = invite(client, world, email="erin@example.com")
    first.refresh_from_db()
    assert first.revoked_at is not None and second.revoked_at is None


def test_inviting_a_member_is_a_form_error(world, client):
    client.force_login(world.admin)
    before = state(world)
    response = client.post(reverse("accounts:member_invite", args=[world.team.code]),
                           {"email": "Carol@Example.com", "role": "member"})
    assert response.status_code == 400 and "already a member" in response.content.decode()
    assert state(world) == before


@pytest.mark.parametrize("data", [{"email": "not-an-email", "role": "member"}, {"email": "", "role": "member"},
                                  {"email": "x@example.com", "role": "emperor"}, {}])
def test_malformed_invitation_rerenders_the_form(world, client, data):
    client.force_login(world.admin)
    before = state(world)
    response = client.post(reverse("accounts:member_invite", args=[world.team.code]), data)
    assert response.status_code == 400
    assert "errorlist" in response.content.decode()
    assert state(world) == before


def test_purge_task_removes_long_expired_invitations(world):
    from portal.accounts.tasks import invitations_purge_expired_task

    old = Invitation.objects.create(team=world.team, email="old@example.com",
                                    expires_at=timezone.now() - timedelta(days=31))
    recent = Invitation.objects.create(team=world.team, email="new@example.com")
    assert invitations_purge_expired_task.delay().get() == 1
    assert not Invitation.objects.filter(pk=old.pk).exists()
    assert Invitation.objects.filter(pk=recent.pk).exists()
