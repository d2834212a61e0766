"""Issue 15 item 4 (disconnect tells what really happened at Salesforce) and issue 14 item 9 (Reconnect updates the
connection it was started from), through the portal's pages and the simulator's login shortcut."""

import pytest
import requests
from django.urls import reverse

from orgs.models import Grant, OrgAlias, OrgConnection, PendingRevocation
from portal.accounts.models import AuditEvent
from tests.conftest import DEMO_APP_KEY, DEMO_APP_SECRET
from tests.connect.helpers import HUB_USER, SANDBOX_USER, callback_path, connect, login_and_allow

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def refresh_works(sim, refresh_token: str) -> bool:
    response = requests.post(f"{sim.base_url}/services/oauth2/token", timeout=10, data={
        "grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": DEMO_APP_KEY,
        "client_secret": DEMO_APP_SECRET})
    return response.status_code == 200


def _disconnect(client, world, connection):
    return client.post(reverse("orgs:org_disconnect", args=[world.team.code, connection.code]), follow=True)


def _outcomes():
    return [e.data["outcome"] for e in AuditEvent.objects.filter(kind="org.token_revoked").order_by("pk")]


# -- disconnect --------------------------------------------------------------------------------------------------------

def test_disconnect_says_revoked_only_when_salesforce_revoked(world, client, sim, sim_app):
    client.force_login(world.member)
    connect(client, world, sim_app, sim, SANDBOX_USER)
    connection = OrgConnection.objects.get()
    refresh_token = connection.reveal("refresh_token")
    page = _disconnect(client, world, connection).content.decode()
    assert "its token was revoked at Salesforce" in page
    assert not refresh_works(sim, refresh_token)
    assert _outcomes() == ["revoked"] and not PendingRevocation.objects.exists()
    client.force_login(world.owner)
    audit = client.get(reverse("accounts:audit_log", args=[world.team.code])).content.decode()
    assert "outcome: revoked" in audit and refresh_token not in audit


def test_disconnect_while_salesforce_is_down_is_pending_then_retried(world, client, sim, sim_app, monkeypatch):
    from orgs import tasks

    queued = []
    monkeypatch.setattr(tasks.pending_revocation_task, "apply_async", lambda args, **kw: queued.append(args))
    client.force_login(world.member)
    connect(client, world, sim_app, sim, SANDBOX_USER)
    connection = OrgConnection.objects.get()
    refresh_token = connection.reveal("refresh_token")
    sim.configure(fail_rate=1.0, fail_mode="503", fail_paths=["/services/oauth2/revoke"])
    page = _disconnect(client, world, connection).content.decode()
    assert OrgConnection.objects.count() == 0  # gone from the portal at once
    assert "revoked at Salesforce" not in page and "revoking its token is pending and being retried" in page
    row = PendingRevocation.objects.get()
    assert queued == [(row.pk,)] and refresh_token not in repr(queued)  # the broker sees an id only
    assert refresh_token not in (row.token or "") and row.token_kind == "refresh"
    assert _outcomes() == ["pending-retry"] and refresh_works(sim, refresh_token)

    sim.configure(fail_rate=0.0)
    tasks.pending_revocation_task.apply(args=(row.pk,))
    assert _outcomes() == ["pending-retry", "revoked"]
    assert not refresh_works(sim, refresh_token) and not PendingRevocation.objects.exists()
    client.force_login(world.owner)
    audit = client.get(reverse("accounts:audit_log", args=[world.team.code])).content.decode()
    assert "outcome: pending-retry" in audit and "outcome: revoked" in audit


def test_disconnect_that_cannot_revoke_says_so_and_how_to_fix_it(world, client, sim, sim_app):
    client.force_login(world.member)
    connect(client, world, sim_app, sim, SANDBOX_USER)
    connection = OrgConnection.objects.get()
    sim.configure(fail_rate=1.0, fail_mode="redirect", fail_paths=["/services/oauth2/revoke"])  # permanent
    page = _disconnect(client, world, connection).content.decode()
    assert "could not be revoked at Salesforce" in page and "Connected Apps OAuth Usage" in page
    assert OrgConnection.objects.count() == 0 and not PendingRevocation.objects.exists()
    event = AuditEvent.objects.get(kind="org.token_revoked")
    assert event.data["outcome"] == "failed" and "Connected Apps OAuth Usage" in event.data["advice"]


def test_the_last_retry_records_failed(world, client, sim, sim_app, monkeypatch):
    from orgs import tasks

    monkeypatch.setattr(tasks.pending_revocation_task, "apply_async", lambda args, **kw: None)
    client.force_login(world.member)
    connect(client, world, sim_app, sim, SANDBOX_USER)
    sim.configure(fail_rate=1.0, fail_mode="503", fail_paths=["/services/oauth2/revoke"])
    _disconnect(client, world, OrgConnection.objects.get())
    row = PendingRevocation.objects.get()
    tasks.pending_revocation_task.apply(args=(row.pk,), retries=tasks.pending_revocation_task.max_retries)
    assert _outcomes() == ["pending-retry", "failed"] and not PendingRevocation.objects.exists()


# -- reconnect ---------------------------------------------------------------------------------------------------------

def _reconnect(client, world, sim, connection, username):
    response = client.post(reverse("orgs:org_reconnect", args=[world.team.code, connection.code]))
    assert response.status_code == 302, response.content.decode()[-500:]
    return client.get(callback_path(login_and_allow(sim, response["Location"], username)), follow=True)


@pytest.mark.parametrize("username", [HUB_USER, "ci@acme.example"])
def test_a_managers_reconnect_updates_the_connection_it_started_from(world, client, sim, sim_app, username):
    """bob (a team admin) reconnects carol's org, as the same Salesforce user or another user of the same org."""
    client.force_login(world.member)
    connect(client, world, sim_app, sim, HUB_USER)
    connection = OrgConnection.objects.get()
    old_refresh = connection.reveal("refresh_token")
    Grant.objects.create(team=world.team, connection=connection, level=Grant.Level.VIEW, subject_type="role",
                         role="member")
    alias = OrgAlias.objects.get(user=world.member, connection=connection)

    client.force_login(world.admin)
    page = _reconnect(client, world, sim, connection, username).content.decode()
    assert "reconnected" in page
    after = OrgConnection.objects.get()  # still exactly one
    assert after.pk == connection.pk and after.code == connection.code and after.owner == world.member
    assert after.username == username and after.reveal("refresh_token") != old_refresh
    assert Grant.objects.filter(connection=after).count() == 1
    assert OrgAlias.objects.get(user=world.member, connection=after).alias == alias.alias
    event = AuditEvent.objects.get(kind="org.reconnected")
    assert event.actor == world.admin
    assert not refresh_works(sim, old_refresh)  # the superseded token was revoked
    if username != HUB_USER:
        assert event.data["previous_username"] == HUB_USER


def test_reconnect_to_a_different_org_is_refused(world, client, sim, sim_app):
    client.force_login(world.member)
    connect(client, world, sim_app, sim, HUB_USER)
    connection = OrgConnection.objects.get()
    before = connection.reveal("refresh_token")
    sim.clear_log()
    page = _reconnect(client, world, sim, connection, SANDBOX_USER).content.decode()
    assert "different Salesforce org" in page and "nothing was changed" in page
    after = OrgConnection.objects.get()
    assert after.username == HUB_USER and after.reveal("refresh_token") == before
    revokes = [e for e in sim.log() if e["path"] == "/services/oauth2/revoke"]
    assert len(revokes) == 1 and revokes[0]["status"] == 200  # the stray approval is not left behind
    assert not AuditEvent.objects.filter(kind="org.reconnected").exists()
