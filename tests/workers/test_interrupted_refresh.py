"""Issue 15, item 1 in-process: a refresh interrupted when Salesforce will not say whether the stored refresh token
survived ends in "Refresh interrupted, check needed" — one email, hand-outs from the cached access token while it is
valid, no refresh token presented, visible on the Health page and in the API — until a manager's Check or Reconnect.
(The real-process SIGKILL cases are in test_reliability.py.)"""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from orgs.models import OrgConnection
from orgs.services import refresh
from orgs.services.client import sf_client
from orgs.services.sweeps import due_connections
from portal.accounts.models import Membership
from portal.accounts.tokens import api_token_create
from tests.workers.conftest import SANDBOX_USER, connect

INTROSPECT_PATH = "/services/oauth2/introspect"


def presented(sim) -> list[str]:
    return [e["outcome"] for e in sim.log() if e.get("grant_type") == "refresh_token"]


def interrupted(world, sim, sim_app, *, token_age: timedelta) -> OrgConnection:
    """A rotating connection whose last refresh attempt never finished (its mark is set), and Salesforce's
    introspection endpoint refusing to answer (a redirect: a permanent, not a transient, failure)."""
    sim.update_app("OrgPortalDemo", rotation=True)
    c = connect(world, sim, sim_app, SANDBOX_USER, owner=world.owner)
    OrgConnection.objects.filter(pk=c.pk).update(access_token_issued_at=timezone.now() - token_age,
                                                 refresh_started_at=timezone.now() - timedelta(minutes=5))
    sim.configure(fail_rate=1.0, fail_mode="redirect", fail_paths=[INTROSPECT_PATH])
    sim.clear_log()
    return c


@pytest.mark.django_db(transaction=True)
def test_an_interrupted_refresh_salesforce_will_not_vet_is_check_needed_until_a_manager_checks(
        world, sim, sim_app, client, mailoutbox):
    c = interrupted(world, sim, sim_app, token_age=timedelta(minutes=90))
    cached = c.reveal("access_token")

    # Hand-outs: the cached token (still inside Salesforce's 2-hour session), never the refresh token.
    assert refresh.connection_access_token(connection_id=c.pk).access_token == cached
    row = OrgConnection.objects.get(pk=c.pk)
    assert row.status == "check_needed" and row.get_status_display() == "Refresh interrupted, check needed"
    assert "did not say whether the stored refresh token is still valid" in row.status_reason
    assert row.refresh_started_at is not None
    assert refresh.connection_access_token(connection_id=c.pk).access_token == cached  # again: no new attempt
    assert presented(sim) == []
    assert len([e for e in sim.log() if e["path"] == INTROSPECT_PATH]) == 1
    assert len({m.subject for m in mailoutbox}) == 1 and "refresh interrupted, check needed" in mailoutbox[0].subject
    assert len({m.to[0] for m in mailoutbox}) == len(mailoutbox)  # one message per recipient, once
    assert not due_connections().filter(pk=c.pk).exists()  # the sweep leaves it to a person

    # The API shows the status; the Health page lists it with Check for its managers.
    _, raw = api_token_create(actor=Membership.objects.get(team=world.team, user=world.owner), kind="personal",
                              name="ci")
    detail = client.get(f"/api/v1/orgs/{SANDBOX_USER}", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert detail.status_code == 200 and detail.json()["status"] == "check_needed"
    client.force_login(world.owner)
    page = client.get(reverse("orgs:health", args=[world.team.code])).content.decode()
    check_url = reverse("orgs:org_check", args=[world.team.code, c.code])
    assert 'id="check-needed"' in page and check_url in page and SANDBOX_USER in page

    # Once the cached token is too old, hand-outs say what is wrong (409), still without presenting anything.
    OrgConnection.objects.filter(pk=c.pk).update(access_token_issued_at=timezone.now() - timedelta(hours=3))
    with pytest.raises(refresh.CheckNeededError):
        refresh.connection_access_token(connection_id=c.pk)
    response = client.post(f"/api/v1/orgs/{SANDBOX_USER}/access-token", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 409 and response.json()["error"] == "check_needed", response.content
    assert presented(sim) == [] and len({m.subject for m in mailoutbox}) == 1

    # Check: a confirmation page, then the token is presented once, deliberately. It had not been rotated here.
    assert client.get(check_url).status_code == 200
    assert client.post(check_url).status_code == 302
    row = OrgConnection.objects.get(pk=c.pk)
    assert row.status == "connected" and row.refresh_started_at is None and row.reauth_notified_at is None
    assert presented(sim) == ["rotated"]


@pytest.mark.django_db(transaction=True)
def test_a_check_of_a_token_that_was_rotated_out_ends_in_needs_reauthorization(world, sim, sim_app, client,
                                                                                 mailoutbox):
    c = interrupted(world, sim, sim_app, token_age=timedelta(hours=3))
    # What the interrupted attempt did: Salesforce rotated the stored token, and the answer was lost.
    app = c.app
    sf_client().refresh(base_url=sim.base_url, client_id=app.consumer_key, client_secret=app.reveal("consumer_secret"),
                        refresh_token=c.reveal("refresh_token"))
    with pytest.raises(refresh.CheckNeededError):
        refresh.connection_access_token(connection_id=c.pk)
    assert presented(sim) == ["rotated"]  # only the lost attempt's

    client.force_login(world.admin)  # an admin manages the team's orgs
    assert client.post(reverse("orgs:org_check", args=[world.team.code, c.code])).status_code == 302
    row = OrgConnection.objects.get(pk=c.pk)
    assert row.status == "needs_reauth" and row.refresh_started_at is None
    assert presented(sim) == ["rotated", "reused"]  # the deliberate, confirmed risk
    # one email (per recipient) for the whole episode
    assert len({m.subject for m in mailoutbox}) == 1 and len({m.to[0] for m in mailoutbox}) == len(mailoutbox)


@pytest.mark.django_db
def test_check_needs_manage_level(world, sim, sim_app, client):
    c = interrupted(world, sim, sim_app, token_age=timedelta(hours=3))
    client.force_login(world.member)
    assert client.post(reverse("orgs:org_check", args=[world.team.code, c.code])).status_code in (403, 404)
    client.force_login(world.outsider)
    assert client.post(reverse("orgs:org_check", args=[world.team.code, c.code])).status_code == 404
    assert presented(sim) == []
