"""The health page, the needs-re-authorization notice (once per episode), the refresh task's failure split, and
scratch-org polling when the inventory saw the org first."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from orgs.models import OrgConnection, ScratchOrg
from orgs.services import refresh
from orgs.services.client import sf_client
from orgs.services.inventory import dev_hub_sync
from orgs.services.refresh import ReauthorizationRequiredError, SalesforceUnavailableError
from orgs.services.scratch import scratch_definition, scratch_org_create, scratch_org_poll
from orgs.tasks import connection_refresh_task
from portal.accounts.models import AuditEvent, Membership
from tests.workers.conftest import HUB_USER, SANDBOX_USER, connect

OTHER_USER = "pkg@acme.example"


def stale(connection):
    OrgConnection.objects.filter(pk=connection.pk).update(access_token_issued_at=timezone.now() - timedelta(hours=3))


def test_health_page_counts_lists_and_offers_reconnect(world, client, sim, sim_app, hub):
    from orgs.services.apps import signing_key_generate

    dev_hub_sync(connection_id=hub.pk)
    broken = connect(world, sim, sim_app, SANDBOX_USER, owner=world.owner)
    OrgConnection.objects.filter(pk=broken.pk).update(status="needs_reauth", status_reason="expired access/refresh")
    slow = connect(world, sim, sim_app, "dev@acme-de.example", owner=world.owner)
    OrgConnection.objects.filter(pk=slow.pk).update(status="degraded", status_reason="Salesforce answered 503",
                                                    last_error_at=timezone.now())
    signing_key_generate(actor=Membership.objects.get(team=world.team, user=world.owner), name="ci-key",
                         common_name="ci", key_size=2048, validity_days=10)
    client.force_login(world.owner)
    response = client.get(reverse("orgs:health", args=[world.team.code]))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="count-connected">1<' in html and 'id="count-degraded">1<' in html
    assert 'id="count-needs-reauth">1<' in html
    assert reverse("orgs:org_reconnect", args=[world.team.code, broken.code]) in html
    assert "expired access/refresh" in html and "Salesforce answered 503" in html
    assert "ci-key" in html and ("expires in 9 day" in html or "expires in 10 day" in html)
    assert "test-hotfix1@example.com" in html  # the fixture's scratch org that expires in 5 days


@pytest.mark.parametrize(("role", "status"), [("outsider", 404), ("member", 200)])
def test_health_page_shows_only_what_the_member_may_see(world, client, sim, sim_app, hub, role, status):
    broken = connect(world, sim, sim_app, SANDBOX_USER, owner=world.owner)
    OrgConnection.objects.filter(pk=broken.pk).update(status="needs_reauth", status_reason="revoked")
    client.force_login(world.user(role))
    response = client.get(reverse("orgs:health", args=[world.team.code]))
    assert response.status_code == status
    if status == 200:  # carol sees neither alice's org nor a Reconnect button for it
        html = response.content.decode()
        assert 'id="count-needs-reauth">0<' in html and broken.code.hex not in html


def test_needs_reauth_emails_owner_and_managers_once_per_episode(world, sim, sim_app, mailoutbox,
                                                                 django_capture_on_commit_callbacks):
    conn = connect(world, sim, sim_app, SANDBOX_USER)  # owned by carol (member); alice and bob manage it
    stale(conn)
    sim.revoke_user(SANDBOX_USER)
    for _ in range(3):  # three sweeps' worth of attempts: one email, one audit record
        with django_capture_on_commit_callbacks(execute=True), pytest.raises(ReauthorizationRequiredError):
            refresh.connection_access_token(connection_id=conn.pk)
    conn.refresh_from_db()
    assert conn.status == "needs_reauth" and conn.reauth_notified_at is not None and conn.status_reason
    # One message per recipient (the mail pipeline), each with a text and an HTML part.
    assert sorted(m.to[0] for m in mailoutbox) == ["alice@example.com", "bob@example.com", "carol@example.com"]
    assert all(len(m.to) == 1 and m.alternatives[0][1] == "text/html" for m in mailoutbox)
    body = mailoutbox[0].body
    assert SANDBOX_USER in body and reverse("orgs:health", args=[world.team.code]) in body
    assert conn.reveal("refresh_token") not in body
    assert AuditEvent.objects.filter(kind="org.needs_reauth").count() == 1
    # A new episode after a reconnect (which clears reauth_notified_at) emails again.
    tokens = sim.mint_tokens(SANDBOX_USER, "OrgPortalDemo")
    conn.seal("refresh_token", tokens["refresh_token"])
    conn.status, conn.reauth_notified_at = "connected", None
    conn.save()
    stale(conn)
    sim.revoke_user(SANDBOX_USER)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ReauthorizationRequiredError):
        refresh.connection_access_token(connection_id=conn.pk)
    assert len(mailoutbox) == 6


def test_refresh_task_raises_transient_failures_for_retry_and_swallows_permanent_ones(world, sim, sim_app):
    conn = connect(world, sim, sim_app, SANDBOX_USER)
    stale(conn)
    assert SalesforceUnavailableError in connection_refresh_task.autoretry_for
    sim.configure(fail_rate=1.0, fail_mode="503")
    with pytest.raises(SalesforceUnavailableError):
        connection_refresh_task.run(conn.pk)  # Celery's autoretry schedules the backoff on this exception
    conn.refresh_from_db()
    assert conn.status == "degraded" and conn.refresh_failures == 1 and conn.last_error_at is not None
    sim.configure(fail_rate=0.0)
    connection_refresh_task.run(conn.pk)  # the next attempt recovers by itself
    conn.refresh_from_db()
    assert conn.status == "connected" and conn.refresh_failures == 0 and conn.status_reason == ""
    assert AuditEvent.objects.filter(kind="org.recovered").count() == 1
    stale(conn)
    sim.revoke_user(SANDBOX_USER)
    assert connection_refresh_task.run(conn.pk) is None  # permanent: recorded, no retry
    conn.refresh_from_db()
    assert conn.status == "needs_reauth"
    calls = len(sim.log())
    assert connection_refresh_task.run(conn.pk) is None and len(sim.log()) == calls  # no call to Salesforce


def test_a_refresh_batch_goes_on_past_permanent_failures_and_stops_at_a_transient_one(world, sim, sim_app,
                                                                                      monkeypatch):
    from orgs import tasks
    from orgs.services.refresh import connections_refresh_batch

    ok, revoked, later = (connect(world, sim, sim_app, user) for user in (SANDBOX_USER, HUB_USER, OTHER_USER))
    for conn in (ok, revoked, later):
        stale(conn)
    sim.revoke_user(HUB_USER)
    assert connections_refresh_batch([ok.pk, revoked.pk, later.pk]) == (None, [])
    statuses = dict(OrgConnection.objects.filter(pk__in=[ok.pk, revoked.pk, later.pk]).values_list("pk", "status"))
    assert statuses == {ok.pk: "connected", revoked.pk: "needs_reauth", later.pk: "connected"}

    for conn in (ok, later):
        stale(conn)
    calls = len(sim.log())
    sim.configure(fail_rate=1.0, fail_mode="503")
    assert connections_refresh_batch([ok.pk, later.pk]) == (ok.pk, [later.pk])  # stops at the first
    assert len(sim.log()) == calls + 1  # `later` was not tried
    assert OrgConnection.objects.get(pk=ok.pk).status == "degraded"
    assert connections_refresh_batch([later.pk], budget_seconds=-1) == (None, [later.pk])  # out of time

    handed = []  # the task hands both to connection_refresh_task (its retries), the failed one after a backoff
    monkeypatch.setattr(tasks.connection_refresh_task, "apply_async",
                        lambda args, countdown: handed.append((args[0], countdown)))
    monkeypatch.setattr(tasks.connection_refresh_task, "delay", lambda pk: handed.append((pk, 0)))
    tasks.connections_refresh_batch_task.run([ok.pk, later.pk])
    assert [pk for pk, _ in handed] == [ok.pk, later.pk]
    assert 0 <= handed[0][1] <= tasks.RETRY["retry_backoff"] and handed[1][1] == 0


def test_scratch_org_seen_active_by_the_inventory_first_is_still_authorized(world, sim, hub):
    sim.configure(scratch_create_seconds=0)
    membership = Membership.objects.get(team=world.team, user=world.member)
    fields = scratch_definition(edition="Developer", org_name="Race", duration_days=3)
    scratch = scratch_org_create(membership=membership, hub=hub, fields=fields, alias="race")
    dev_hub_sync(connection_id=hub.pk)  # the periodic sync gets there before the poll task
    scratch.refresh_from_db()
    assert scratch.status == "Active" and scratch.connection_id is None
    assert scratch_org_poll(scratch_id=scratch.pk) == "Active"
    scratch.refresh_from_db()
    connection = scratch.connection
    assert connection is not None and connection.owner == world.member and connection.dev_hub_id == hub.pk
    assert connection.kind == OrgConnection.Kind.SCRATCH
    assert scratch_org_poll(scratch_id=scratch.pk) == "Active"  # idempotent: a redelivered poll changes nothing
    assert OrgConnection.objects.filter(dev_hub=hub).count() == 1
    assert ScratchOrg.objects.get(pk=scratch.pk).connection_id == connection.pk


def test_inventory_resync_writes_only_what_changed_and_follows_pages(world, sim, hub):
    sim.configure(page_size=1)  # every record on its own page: nextRecordsUrl all the way
    first = dev_hub_sync(connection_id=hub.pk)
    assert first.created == first.seen == 3 and first.pages == 3 + 2  # 3 ScratchOrgInfo + 2 ActiveScratchOrg rows
    again = dev_hub_sync(connection_id=hub.pk)
    assert (again.created, again.updated, again.changed, again.vanished) == (0, 3, 0, 0)
    row = ScratchOrg.objects.get(dev_hub=hub, signup_username="test-hotfix1@example.com")
    seen_before = row.last_seen_at
    token = refresh.connection_access_token(connection_id=hub.pk)
    sf_client().delete_active_scratch_org(instance_url=token.instance_url, access_token=token.access_token,
                                          api_version="68.0", id=row.active_scratch_org_id)  # deleted with `sf`
    after = dev_hub_sync(connection_id=hub.pk)
    assert (after.changed, after.vanished) == (1, 0)
    row.refresh_from_db()
    assert row.status == "Deleted" and row.deleted_at is not None and row.last_seen_at > seen_before
