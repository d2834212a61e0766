"""Recent authentication before sensitive actions (docs/security.md; portal/accounts/reauth.py).

After PORTAL_REAUTHENTICATION_SECONDS without an authentication, handing out a token, opening an org, creating an API
token, connecting or reconnecting an org, creating a JWT connection and changing a role first send the member to
allauth's re-authentication page, with nothing done; after re-authenticating, the refused POST is replayed once.
"""

from urllib.parse import quote

import pytest
from django.conf import settings
from django.urls import reverse

from orgs.models import OrgConnection
from portal.accounts.models import ApiToken, AuditEvent, Membership
from tests.conftest import PASSWORD, record_login

STALE = settings.PORTAL_REAUTHENTICATION_SECONDS + 5


def login_long_ago(client, user):
    client.force_login(user)
    session = client.session
    session["account_authentication_methods"] = []  # forget the fresh record force_login wrote
    session.save()
    record_login(client, user, seconds_ago=STALE)


def assert_sent_to_reauthenticate(response, path):
    assert response.status_code == 302, response.status_code
    assert response["Location"].startswith(reverse("account_reauthenticate")), response["Location"]
    assert f"next={quote(path, safe='')}" in response["Location"]


@pytest.fixture
def actions(world, orgs, sim_app):
    team = world.team.code
    carol = Membership.objects.get(team=world.team, user=world.member)
    return {
        "get access token": (reverse("orgs:token", args=[team, orgs.sandbox.code]), {}),
        "open in salesforce": (reverse("orgs:open", args=[team, orgs.sandbox.code]), {}),
        "create api token": (reverse("accounts:token_list", args=[team]),
                             {"name": "laptop", "kind": "personal", "expiry": "30"}),
        "connect an org": (reverse("orgs:connect", args=[team]),
                           {"app": sim_app.pk, "environment": "production", "alias": "x"}),
        "reconnect an org": (reverse("orgs:org_reconnect", args=[team, orgs.sandbox.code]), {}),
        "create a jwt connection": (reverse("orgs:jwt_connect", args=[team]), {"username": "ci@acme.example"}),
        "change a role": (reverse("accounts:member_role", args=[team, carol.code]), {"role": "admin"}),
    }


@pytest.mark.postgres
@pytest.mark.redis
def test_every_sensitive_post_needs_a_recent_authentication_and_does_nothing_before(client, world, orgs, actions):
    login_long_ago(client, world.owner)
    connections_before = OrgConnection.objects.count()
    for name, (path, data) in actions.items():
        response = client.post(path, data)
        assert response.status_code == 302, name
        assert_sent_to_reauthenticate(response, path)
    assert not AuditEvent.objects.filter(kind="token.issued").exists()
    assert not ApiToken.objects.exists()
    assert Membership.objects.get(team=world.team, user=world.member).role == "member"
    assert OrgConnection.objects.count() == connections_before
    # The pages themselves still open.
    assert client.get(reverse("accounts:token_list", args=[world.team.code])).status_code == 200
    assert client.get(reverse("orgs:connect", args=[world.team.code])).status_code == 200


@pytest.mark.postgres
@pytest.mark.redis
def test_after_re_authenticating_the_refused_hand_out_is_replayed_once(client, world, orgs):
    login_long_ago(client, world.owner)
    path = reverse("orgs:token", args=[world.team.code, orgs.sandbox.code])
    refused = client.post(path)
    assert_sent_to_reauthenticate(refused, path)
    wrong = client.post(refused["Location"], {"password": "not-my-password"})
    assert wrong.status_code == 200 and not AuditEvent.objects.filter(kind="token.issued").exists()
    replayed = client.post(refused["Location"], {"password": PASSWORD})
    assert replayed.status_code == 200, replayed.status_code
    assert f'value="{orgs.sandbox.reveal("access_token")}"' in replayed.content.decode()
    assert AuditEvent.objects.filter(kind="token.issued").count() == 1
    # Now recent: the next hand-out goes straight through.
    assert client.post(path).status_code == 200
    assert AuditEvent.objects.filter(kind="token.issued").count() == 2


@pytest.mark.postgres
@pytest.mark.redis
def test_a_fresh_login_needs_no_second_password(client, world, orgs):
    client.force_login(world.member)  # records a login now, as the real login page does
    response = client.post(reverse("orgs:token", args=[world.team.code, orgs.hub.code]))
    assert response.status_code == 200


def test_the_window_follows_the_setting(rf, world, settings):
    from django.contrib.sessions.backends.db import SessionStore

    from portal.accounts.reauth import recently_authenticated

    class FakeClient:
        session = SessionStore()

    record_login(FakeClient, world.owner, seconds_ago=100)
    request = rf.post("/")
    request.session, request.user = FakeClient.session, world.owner
    settings.PORTAL_REAUTHENTICATION_SECONDS = 300
    assert recently_authenticated(request)
    settings.PORTAL_REAUTHENTICATION_SECONDS = 60
    assert not recently_authenticated(request)
