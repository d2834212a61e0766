"""orgs.services.refresh against the simulator: cache, rotation, the row lock under concurrency, failures."""

from datetime import timedelta

import pytest
from django.utils import timezone

from orgs import salesforce
from orgs.models import OrgConnection
from orgs.services import refresh
from portal.accounts.models import AuditEvent
from tests.concurrency import at_once
from tests.sharing.conftest import make_connection

USER = "dev@acme.example.uat"


@pytest.fixture
def conn(world, sim, sim_app):
    tokens = sim.mint_tokens(USER, "OrgPortalDemo")
    c = make_connection(world.team, world.member, sim_app, username=USER, instance_url=sim.base_url)
    c.seal("refresh_token", tokens["refresh_token"])
    c.seal("access_token", tokens["access_token"])
    c.access_token_issued_at = timezone.now()
    c.save()
    sim.clear_log()
    return c


def refreshes(sim):
    return [e for e in sim.log() if e.get("grant_type") == "refresh_token"]


def make_stale(c):
    OrgConnection.objects.filter(pk=c.pk).update(access_token_issued_at=timezone.now() - timedelta(hours=3))


def test_a_fresh_cached_token_is_served_without_calling_salesforce(conn, sim):
    issued = refresh.connection_access_token(connection_id=conn.pk)
    assert issued.access_token == conn.reveal("access_token") and refreshes(sim) == []
    assert "access_token" not in repr(issued) or conn.reveal("access_token") not in repr(issued)


def test_a_stale_token_is_refreshed_and_a_rotated_refresh_token_is_stored(conn, sim):
    sim.update_app("OrgPortalDemo", rotation=True)
    make_stale(conn)
    old_refresh = conn.reveal("refresh_token")
    issued = refresh.connection_access_token(connection_id=conn.pk)
    conn.refresh_from_db()
    assert issued.access_token == conn.reveal("access_token")
    assert conn.reveal("refresh_token") != old_refresh and conn.last_refresh_at is not None
    assert [e["outcome"] for e in refreshes(sim)] == ["rotated"]
    # The new refresh token works; the old one was never presented again.
    make_stale(conn)
    refresh.connection_access_token(connection_id=conn.pk)
    assert [e["outcome"] for e in refreshes(sim)] == ["rotated", "rotated"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_callers_cause_exactly_one_refresh(world, sim, sim_app):
    sim.update_app("OrgPortalDemo", rotation=True)
    tokens = sim.mint_tokens(USER, "OrgPortalDemo")
    c = make_connection(world.team, world.member, sim_app, username=USER, instance_url=sim.base_url)
    c.seal("refresh_token", tokens["refresh_token"])
    c.save()
    sim.configure(latency_ms=100)  # widen the window in which callers overlap
    sim.clear_log()
    results, errors = at_once(20, lambda: refresh.connection_access_token(connection_id=c.pk).access_token)
    assert errors == []
    assert len(set(results)) == 1  # everyone got the same new token
    assert [e["outcome"] for e in refreshes(sim)] == ["rotated"]
    c.refresh_from_db()
    assert c.status == "connected" and c.reveal("access_token") == results[0]


def test_a_revoked_token_needs_reauthorization_audited_and_emailed_once(conn, sim, mailoutbox,
                                                                          django_capture_on_commit_callbacks):
    sim.revoke_user(USER)
    make_stale(conn)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(refresh.ReauthorizationRequiredError):
        refresh.connection_access_token(connection_id=conn.pk)
    conn.refresh_from_db()
    assert conn.status == "needs_reauth" and "revoked or has expired" in conn.status_reason
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(refresh.ReauthorizationRequiredError):
        refresh.connection_access_token(connection_id=conn.pk)
    reauth = [m.to[0] for m in mailoutbox if "needs re-authorization" in m.subject]
    assert len(reauth) == len(set(reauth)) and "carol@example.com" in reauth  # once per recipient
    assert AuditEvent.objects.filter(kind="org.needs_reauth").count() == 1
    assert len(refreshes(sim)) == 1  # no retry loop against Salesforce


def test_an_outage_degrades_serves_a_young_cached_token_and_recovers(conn, sim):
    sim.configure(fail_rate=1.0, fail_mode="503", fail_paths=["/services/oauth2/token"])
    OrgConnection.objects.filter(pk=conn.pk).update(access_token_issued_at=timezone.now() - timedelta(minutes=90))
    issued = refresh.connection_access_token(connection_id=conn.pk)  # 90 min old: still inside a 2 h session
    assert issued.access_token == conn.reveal("access_token")
    conn.refresh_from_db()
    assert conn.status == "degraded" and conn.refresh_failures == 1
    make_stale(conn)
    with pytest.raises(refresh.SalesforceUnavailableError):
        refresh.connection_access_token(connection_id=conn.pk)
    conn.refresh_from_db()
    assert conn.status == "degraded" and conn.status != "needs_reauth"
    sim.configure(fail_rate=0.0)
    refresh.connection_access_token(connection_id=conn.pk)
    conn.refresh_from_db()
    assert conn.status == "connected" and conn.refresh_failures == 0
    assert AuditEvent.objects.filter(kind="org.recovered").exists()


def test_session_expired_refreshes_once_and_retries_once(conn, sim):
    sim.expire_sessions()
    client = salesforce.SalesforceClient(allowed=__import__("orgs.services.client").services.client.allowed_hosts())
    calls = []

    def query(issued):
        calls.append(issued.access_token)
        return client.latest_api_version(instance_url=issued.instance_url) and client.organization(
            instance_url=issued.instance_url, access_token=issued.access_token, api_version="68.0")

    org = refresh.with_fresh_token(connection_id=conn.pk, call=query)
    assert org.name == "Acme UAT" and len(calls) == 2 and calls[0] != calls[1]
    assert len(refreshes(sim)) == 1
