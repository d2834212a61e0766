"""Issue 14 item 2: when access to a connection is reduced, every access token the portal handed out for it stops
working at Salesforce (the simulator, real HTTP), and the next hand-out mints a new one.

The revocation runs in `connection_tokens_revoke_task`, enqueued on commit (eager in tests; the on-commit callbacks
are executed with `django_capture_on_commit_callbacks(execute=True)`)."""

import pytest
import requests
from django.urls import reverse

from orgs.models import Grant, OrgConnection, PendingRevocation
from portal.accounts.models import AuditEvent, Membership
from tests.api.conftest import SANDBOX_USER, grant
from tests.conftest import make_user

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

TOKEN_URL = "/api/v1/orgs/{}/access-token"
KIND = "token.revoked_after_access_change"


def works(connection, token: str) -> bool:
    """Does Salesforce accept this access token? (a REST call straight to the simulator)"""
    response = requests.get(f"{connection.instance_url}/services/data/v68.0/query",
                            params={"q": "SELECT Id FROM Organization"},
                            headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert response.status_code in (200, 401), response.text
    return response.status_code == 200


def hand_out(client, issued, ident=SANDBOX_USER) -> str:
    response = client.post(TOKEN_URL.format(ident), **issued.auth)
    assert response.status_code == 200, response.content
    return response.json()["access_token"]


@pytest.fixture
def erin(world):
    user = make_user("erin@example.com")
    Membership.objects.create(team=world.team, user=user, role=Membership.Role.MEMBER)
    return user


def _events():
    return list(AuditEvent.objects.filter(kind=KIND).order_by("pk"))


def test_a_removed_members_token_stops_working_and_others_get_a_new_one(
        client, world, orgs, erin, make_token, django_capture_on_commit_callbacks):
    grant(orgs.sandbox, level=Grant.Level.TARGET, member=erin)
    erins_token = hand_out(client, make_token(erin))
    bobs = make_token(world.admin)
    assert hand_out(client, bobs) == erins_token  # one cached token for everyone
    assert works(orgs.sandbox, erins_token)

    client.force_login(world.owner)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("orgs:member_remove", args=[world.team.code,
                                                                   Membership.objects.get(user=erin).code]))
    assert response.status_code == 302
    assert not Membership.objects.filter(user=erin).exists()

    assert not works(orgs.sandbox, erins_token)  # dead at Salesforce
    event = _events()[-1]
    assert event.subject == SANDBOX_USER and event.data["outcome"] == "revoked"
    assert erins_token not in str(event.data)
    assert not PendingRevocation.objects.exists()
    new = hand_out(client, bobs)  # one slower call: a fresh token
    assert new != erins_token and works(orgs.sandbox, new)
    # the refresh token was not touched: the connection keeps working
    assert OrgConnection.objects.get(pk=orgs.sandbox.pk).status == "connected"


def test_a_token_replaced_by_a_refresh_is_revoked_too(client, world, orgs, erin, make_token,
                                                      django_capture_on_commit_callbacks):
    from orgs.services.refresh import connection_refresh
    from orgs.services.sharing import offboard

    grant(orgs.sandbox, level=Grant.Level.TARGET, member=erin)
    erins = make_token(erin)
    old = hand_out(client, erins)
    connection_refresh(connection_id=orgs.sandbox.pk, force=True)
    new = hand_out(client, erins)
    assert new != old and works(orgs.sandbox, old) and works(orgs.sandbox, new)
    with django_capture_on_commit_callbacks(execute=True):
        offboard(actor=world.owner, membership=Membership.objects.get(user=erin), decisions={})
    assert not works(orgs.sandbox, old) and not works(orgs.sandbox, new)


def test_removing_a_grant_revokes(client, world, orgs, erin, make_token, django_capture_on_commit_callbacks):
    from orgs.services.sharing import grant_remove

    given = grant(orgs.sandbox, level=Grant.Level.TARGET, member=erin)
    token = hand_out(client, make_token(erin))
    with django_capture_on_commit_callbacks(execute=True):
        grant_remove(actor=Membership.objects.get(user=world.owner), grant=given)
    assert not works(orgs.sandbox, token)
    assert _events()[-1].data["reason"] == "sharing removed"


def test_lowering_a_grant_below_target_revokes_but_raising_does_not(
        client, world, orgs, erin, make_token, django_capture_on_commit_callbacks):
    from orgs.access import Access
    from orgs.services.sharing import grant_change

    owner = Membership.objects.get(user=world.owner)
    given = grant(orgs.sandbox, level=Grant.Level.TARGET, member=erin)
    token = hand_out(client, make_token(erin))
    with django_capture_on_commit_callbacks(execute=True):
        grant_change(actor=owner, actor_access=Access(Grant.Level.MANAGE, "owner"), grant=given,
                     level=Grant.Level.MANAGE)
    assert works(orgs.sandbox, token) and not _events()  # more access: nothing to revoke
    with django_capture_on_commit_callbacks(execute=True):
        grant_change(actor=owner, actor_access=Access(Grant.Level.MANAGE, "owner"), grant=given,
                     level=Grant.Level.VIEW)
    assert not works(orgs.sandbox, token)


def test_a_grant_removal_that_leaves_access_intact_revokes_nothing(
        client, world, orgs, erin, make_token, django_capture_on_commit_callbacks):
    """Members who keep access notice nothing: erin still reaches the org through her group."""
    from orgs.services.sharing import grant_remove, group_create, group_member_add

    owner = Membership.objects.get(user=world.owner)
    group = group_create(actor=owner, name="devs")
    group_member_add(actor=owner, group=group, member=Membership.objects.get(user=erin))
    Grant.objects.create(team=world.team, connection=orgs.sandbox, level=Grant.Level.TARGET, subject_type="group",
                         group=group)
    direct = grant(orgs.sandbox, level=Grant.Level.TARGET, member=erin)
    token = hand_out(client, make_token(erin))
    with django_capture_on_commit_callbacks(execute=True):
        grant_remove(actor=owner, grant=direct)
    assert works(orgs.sandbox, token) and not _events()


def test_removal_from_a_group_revokes(client, world, orgs, erin, make_token, django_capture_on_commit_callbacks):
    from orgs.services.sharing import group_create, group_member_add, group_member_remove

    owner = Membership.objects.get(user=world.owner)
    group = group_create(actor=owner, name="devs")
    erin_membership = Membership.objects.get(user=erin)
    group_member_add(actor=owner, group=group, member=erin_membership)
    Grant.objects.create(team=world.team, connection=orgs.sandbox, level=Grant.Level.TARGET, subject_type="group",
                         group=group)
    token = hand_out(client, make_token(erin))
    with django_capture_on_commit_callbacks(execute=True):
        group_member_remove(actor=owner, group=group, member=erin_membership)
    assert not works(orgs.sandbox, token)


def test_lowering_a_role_revokes(client, world, orgs, make_token, django_capture_on_commit_callbacks):
    """The people side signals (portal.accounts.signals.access_reducing); bob loses the team-admin reach."""
    token = hand_out(client, make_token(world.admin))
    client.force_login(world.owner)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("accounts:member_role", args=[world.team.code,
                                                          Membership.objects.get(user=world.admin).code]),
                    {"role": "member"})
    assert Membership.objects.get(user=world.admin).role == "member"
    assert not works(orgs.sandbox, token)
    assert _events()[-1].data["reason"] == "role lowered"


def test_revoking_a_service_token_revokes_what_it_was_handed(client, world, orgs, make_token,
                                                             django_capture_on_commit_callbacks):
    from portal.accounts.tokens import api_token_revoke

    ci = make_token(world.owner, kind="service")
    grant(orgs.sandbox, level=Grant.Level.TARGET, service_token=ci.token)
    token = hand_out(client, ci)
    with django_capture_on_commit_callbacks(execute=True):
        api_token_revoke(actor=world.owner, token=ci.token)
    assert not works(orgs.sandbox, token)


def test_the_task_message_holds_ids_only(client, world, orgs, erin, make_token, monkeypatch,
                                         django_capture_on_commit_callbacks):
    from orgs import tasks
    from orgs.services.sharing import grant_remove

    sent = []
    monkeypatch.setattr(tasks.connection_tokens_revoke_task, "delay", lambda *args: sent.append(args))
    given = grant(orgs.sandbox, level=Grant.Level.TARGET, member=erin)
    token = hand_out(client, make_token(erin))
    with django_capture_on_commit_callbacks(execute=True):
        grant_remove(actor=Membership.objects.get(user=world.owner), grant=given)
    assert len(sent) == 1 and sent[0][:2] == (orgs.sandbox.pk, "sharing removed")
    assert token not in repr(sent)
    assert works(orgs.sandbox, token)  # nothing happens before the task runs


def test_salesforce_down_the_revocation_is_pending_then_succeeds(
        client, world, orgs, erin, make_token, sim, django_capture_on_commit_callbacks):
    from orgs.services.revocation import RevocationPendingError, connection_tokens_revoke
    from orgs.tasks import connection_tokens_revoke_task

    grant(orgs.sandbox, level=Grant.Level.TARGET, member=erin)
    token = hand_out(client, make_token(erin))
    sim.configure(fail_rate=1.0, fail_mode="503", fail_paths=["/services/oauth2/revoke"])
    with pytest.raises(RevocationPendingError):  # what makes the task retry
        connection_tokens_revoke(connection_id=orgs.sandbox.pk, reason="member removed")
    assert _events()[-1].data["outcome"] == "pending-retry"
    row = PendingRevocation.objects.get()
    assert token not in (row.token or "") and row.reveal("token") == token  # sealed, never plaintext
    assert works(orgs.sandbox, token)  # still alive at Salesforce …
    assert hand_out(client, make_token(world.admin)) != token  # … but no longer handed out

    sim.configure(fail_rate=0.0)
    connection_tokens_revoke_task.apply(args=(orgs.sandbox.pk, "member removed", None))
    assert _events()[-1].data["outcome"] == "revoked"
    assert not works(orgs.sandbox, token) and not PendingRevocation.objects.exists()


def test_the_task_retries_while_salesforce_is_down_and_records_failure_at_the_end(
        client, world, orgs, erin, make_token, sim):
    from celery.exceptions import Retry

    from orgs.tasks import connection_tokens_revoke_task as revoke_task

    grant(orgs.sandbox, level=Grant.Level.TARGET, member=erin)
    token = hand_out(client, make_token(erin))
    sim.configure(fail_rate=1.0, fail_mode="503", fail_paths=["/services/oauth2/revoke"])
    with pytest.raises(Retry):  # a transient failure asks Celery for a retry (with backoff)
        revoke_task.apply(args=(orgs.sandbox.pk, "member removed", None))
    assert _events()[-1].data["outcome"] == "pending-retry" and PendingRevocation.objects.count() == 1
    assert revoke_task.max_retries >= 3 and revoke_task.retry_backoff
    revoke_task.apply(args=(orgs.sandbox.pk, "member removed", None), retries=revoke_task.max_retries)
    last = _events()[-1]
    assert last.data["outcome"] == "failed" and "unavailable" in last.data["why"].lower()
    assert not PendingRevocation.objects.exists() and token not in str(last.data)


def test_deleting_a_group_revokes(client, world, orgs, erin, make_token, django_capture_on_commit_callbacks):
    from orgs.services.sharing import group_create, group_delete, group_member_add

    owner = Membership.objects.get(user=world.owner)
    group = group_create(actor=owner, name="devs")
    group_member_add(actor=owner, group=group, member=Membership.objects.get(user=erin))
    Grant.objects.create(team=world.team, connection=orgs.sandbox, level=Grant.Level.TARGET, subject_type="group",
                         group=group)
    token = hand_out(client, make_token(erin))
    with django_capture_on_commit_callbacks(execute=True):
        group_delete(actor=owner, group=group)
    assert not works(orgs.sandbox, token)


def test_an_org_transferred_away_from_a_leaving_owner_revokes(client, world, orgs, make_token,
                                                              django_capture_on_commit_callbacks):
    from orgs.services.sharing import offboard

    token = hand_out(client, make_token(world.member), ident="hub")  # carol owns the hub
    with django_capture_on_commit_callbacks(execute=True):
        offboard(actor=world.owner, membership=Membership.objects.get(user=world.member),
                 decisions={orgs.hub.pk: world.owner})
    assert OrgConnection.objects.get(pk=orgs.hub.pk).owner == world.owner
    assert not works(orgs.hub, token)


def test_a_duplicate_task_leaves_a_token_minted_after_the_change_alone(client, world, orgs, erin, make_token):
    import time

    from orgs.tasks import connection_tokens_revoke_task

    grant(orgs.sandbox, level=Grant.Level.TARGET, member=erin)
    old = hand_out(client, make_token(erin))
    since = time.time()
    connection_tokens_revoke_task.apply(args=(orgs.sandbox.pk, "member removed", since))
    new = hand_out(client, make_token(world.admin))
    connection_tokens_revoke_task.apply(args=(orgs.sandbox.pk, "member removed", since))  # redelivered
    assert not works(orgs.sandbox, old) and works(orgs.sandbox, new)


def test_without_a_broker_the_revocation_runs_in_the_request(client, world, orgs, erin, make_token, monkeypatch,
                                                             django_capture_on_commit_callbacks):
    from orgs import tasks
    from orgs.services.sharing import grant_remove

    def broker_down(*args):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(tasks.connection_tokens_revoke_task, "delay", broker_down)
    given = grant(orgs.sandbox, level=Grant.Level.TARGET, member=erin)
    token = hand_out(client, make_token(erin))
    with django_capture_on_commit_callbacks(execute=True):
        grant_remove(actor=Membership.objects.get(user=world.owner), grant=given)
    assert not works(orgs.sandbox, token)


def _age(seconds: int) -> None:
    from datetime import timedelta

    from django.utils import timezone
    PendingRevocation.objects.update(created_at=timezone.now() - timedelta(seconds=seconds))


def test_a_revocation_whose_task_was_lost_is_swept_up(client, world, orgs, erin, make_token, sim, settings):
    """The first attempt found Salesforce down and its retry message was lost (broker down, worker killed): the
    sealed token waits in a row nobody retries. The beat sweep retries rows older than the retry window."""
    from orgs.services.revocation import RevocationPendingError, connection_tokens_revoke
    from orgs.tasks import pending_revocations_sweep_task

    assert settings.CELERY_BEAT_SCHEDULE["pending-revocations-sweep"]["task"] == pending_revocations_sweep_task.name
    grant(orgs.sandbox, level=Grant.Level.TARGET, member=erin)
    token = hand_out(client, make_token(erin))
    sim.configure(fail_rate=1.0, fail_mode="503", fail_paths=["/services/oauth2/revoke"])
    with pytest.raises(RevocationPendingError):
        connection_tokens_revoke(connection_id=orgs.sandbox.pk, reason="member removed")
    sim.configure(fail_rate=0.0)

    assert pending_revocations_sweep_task.apply().get() == 0  # young rows belong to their task's retries
    assert PendingRevocation.objects.count() == 1 and works(orgs.sandbox, token)

    _age(settings.PORTAL_REVOCATION_SWEEP_AFTER + 60)
    assert pending_revocations_sweep_task.apply().get() == 1
    assert not PendingRevocation.objects.exists() and not works(orgs.sandbox, token)
    assert _events()[-1].data["outcome"] == "revoked" and token not in str(_events()[-1].data)


def test_an_access_change_revocation_outlives_a_disconnect(client, world, orgs, erin, make_token, sim,
                                                            django_capture_on_commit_callbacks):
    """The connection's task finds no connection after a disconnect and stops; the sweep still revokes the access
    token stashed for the access change (it no longer needs the connection)."""
    from orgs.services.revocation import RevocationPendingError, connection_tokens_revoke, pending_revocations_sweep
    from orgs.tasks import connection_tokens_revoke_task

    grant(orgs.sandbox, level=Grant.Level.TARGET, member=erin)
    token = hand_out(client, make_token(erin))
    sim.configure(fail_rate=1.0, fail_mode="503", fail_paths=["/services/oauth2/revoke"])
    with pytest.raises(RevocationPendingError):
        connection_tokens_revoke(connection_id=orgs.sandbox.pk, reason="member removed")
    row = PendingRevocation.objects.get()
    OrgConnection.objects.filter(pk=orgs.sandbox.pk).delete()  # gone (as after a disconnect) before the retry
    sim.configure(fail_rate=0.0)
    connection_tokens_revoke_task.apply(args=(orgs.sandbox.pk, "member removed", None))
    assert PendingRevocation.objects.filter(pk=row.pk).exists()  # the connection's task can't reach it any more

    _age(3 * 3600)
    assert pending_revocations_sweep() == 1
    assert not PendingRevocation.objects.exists() and not works(orgs.sandbox, token)


def test_the_sweep_gives_up_after_the_maximum_age(client, world, orgs, erin, make_token, sim, settings):
    from orgs.services.revocation import RevocationPendingError, connection_tokens_revoke, pending_revocations_sweep

    grant(orgs.sandbox, level=Grant.Level.TARGET, member=erin)
    token = hand_out(client, make_token(erin))
    sim.configure(fail_rate=1.0, fail_mode="503", fail_paths=["/services/oauth2/revoke"])
    with pytest.raises(RevocationPendingError):
        connection_tokens_revoke(connection_id=orgs.sandbox.pk, reason="member removed")

    _age(settings.PORTAL_REVOCATION_SWEEP_AFTER + 60)
    assert pending_revocations_sweep() == 1  # still down: pending, tried again next time
    assert PendingRevocation.objects.get().attempts == 2 and _events()[-1].data["outcome"] == "pending-retry"

    _age(settings.PORTAL_REVOCATION_MAX_AGE + 60)
    assert pending_revocations_sweep() == 1
    last = _events()[-1]
    assert last.data["outcome"] == "failed" and not PendingRevocation.objects.exists()
    assert token not in str(last.data)
