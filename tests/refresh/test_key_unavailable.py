"""A missing or wrong encryption key at run time: status Key unavailable (never Needs re-authorization), one email
to the team's admins per episode, 503 `key_unavailable` on hand-outs, and recovery by itself once the key is back."""

from datetime import timedelta

import pytest
from django.utils import timezone

from orgs.models import OrgConnection
from orgs.services import refresh, sweeps
from orgs.services.handout import HandOutError, connection_token_hand_out
from portal.lib import crypto
from tests.api import conftest as api_fixtures
from tests.api.conftest import HUB_USER, SANDBOX_USER, connect_sim_org

jwt_app, jwt_connection, make_token = api_fixtures.jwt_app, api_fixtures.jwt_connection, api_fixtures.make_token

Status = OrgConnection.Status
TOKEN_URL = "/api/v1/orgs/{}/access-token"


@pytest.fixture
def two(world, sim, sim_app):
    return (connect_sim_org(world.team, world.owner, sim_app, sim, SANDBOX_USER, alias="uat"),
            connect_sim_org(world.team, world.member, sim_app, sim, HUB_USER, alias="hub"))


def _stale(*connections):
    OrgConnection.objects.filter(pk__in=[c.pk for c in connections]).update(
        access_token_issued_at=timezone.now() - timedelta(hours=3))


def _wrong_key(settings):
    """The same key ids with other key bytes (a mistyped or replaced key)."""
    good = settings.PORTAL_ENCRYPTION_KEYS
    settings.PORTAL_ENCRYPTION_KEYS = ",".join(crypto.new_key_entry(kid) for kid in crypto.get_keyring().keys)
    return good


def test_a_wrong_key_makes_key_unavailable_not_needs_reauth_and_recovers_when_restored(
        world, two, settings, sim, mailoutbox, django_capture_on_commit_callbacks):
    uat, hub = two
    _stale(uat, hub)
    good = _wrong_key(settings)
    for connection in (uat, hub):
        with django_capture_on_commit_callbacks(execute=True), pytest.raises(refresh.KeyUnavailableError):
            refresh.connection_access_token(connection_id=connection.pk)
    for connection in (uat, hub):
        connection.refresh_from_db()
        assert connection.status == Status.KEY_UNAVAILABLE and connection.reauth_notified_at is None
    # One email for the episode, to the team's owners and admins, naming the setting's problem, no secret.
    assert sorted(m.to[0] for m in mailoutbox) == ["alice@example.com", "bob@example.com"]  # one message each
    assert "PORTAL_ENCRYPTION_KEYS" in mailoutbox[0].body and SANDBOX_USER in mailoutbox[0].body
    # A retry while the key is still wrong: still Key unavailable, no second email.
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(refresh.KeyUnavailableError):
        refresh.connection_access_token(connection_id=uat.pk)
    assert len(mailoutbox) == 2

    # The key is back: the sweep picks the connections up (even with young tokens) and they recover.
    settings.PORTAL_ENCRYPTION_KEYS = good
    OrgConnection.objects.filter(pk__in=[uat.pk, hub.pk]).update(access_token_issued_at=timezone.now())
    assert set(sweeps.due_connections().values_list("pk", flat=True)) == {uat.pk, hub.pk}
    assert refresh.connections_refresh_batch([uat.pk, hub.pk]) == (None, [])
    for connection in (uat, hub):
        connection.refresh_from_db()
        assert connection.status == Status.CONNECTED and connection.status_reason == ""
    assert list(sweeps.due_connections()) == []


def test_a_missing_key_on_hand_out_is_a_503_and_the_next_hand_out_recovers(world, two, settings, sim):
    uat, _ = two
    _stale(uat)
    good = settings.PORTAL_ENCRYPTION_KEYS
    settings.PORTAL_ENCRYPTION_KEYS = crypto.new_key_entry("other")  # the connection's key id is not listed
    with pytest.raises(HandOutError) as caught:
        connection_token_hand_out(team=world.team, connection=uat, user=world.owner, alias="uat")
    assert caught.value.status == 503 and caught.value.code == "key_unavailable"
    assert "encryption key" in str(caught.value)
    uat.refresh_from_db()
    assert uat.status == Status.KEY_UNAVAILABLE

    settings.PORTAL_ENCRYPTION_KEYS = good
    OrgConnection.objects.filter(pk=uat.pk).update(access_token_issued_at=timezone.now())  # a fresh cached token
    uat.refresh_from_db()
    handed = connection_token_hand_out(team=world.team, connection=uat, user=world.owner, alias="uat")
    assert handed.access_token
    uat.refresh_from_db()
    assert uat.status == Status.CONNECTED


def test_the_api_answers_503_key_unavailable_not_409(client, world, two, settings, sim, make_token):
    uat, _ = two
    _stale(uat)
    issued = make_token(world.owner)
    _wrong_key(settings)
    response = client.post(TOKEN_URL.format("uat"), **issued.auth)
    assert response.status_code == 503, response.content
    assert response.json()["error"] == "key_unavailable"
    uat.refresh_from_db()
    assert uat.status == Status.KEY_UNAVAILABLE


def test_a_jwt_connection_with_an_undecryptable_signing_key_is_key_unavailable(world, jwt_connection, settings, sim):
    _stale(jwt_connection)
    _wrong_key(settings)
    with pytest.raises(refresh.KeyUnavailableError):
        refresh.connection_refresh(connection_id=jwt_connection.pk)
    jwt_connection.refresh_from_db()
    assert jwt_connection.status == Status.KEY_UNAVAILABLE
