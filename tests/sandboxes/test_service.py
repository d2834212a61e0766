"""The sandbox services against the simulator: inventory sync, create → copy → connected, refresh in place,
failures kept visible, delete, linking existing connections."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from orgs.models import Grant, OrgAlias, OrgConnection, Sandbox, SandboxSync
from orgs.services import sandboxes
from orgs.services.refresh import connection_access_token
from portal.accounts.models import AuditEvent, TeamGroup
from portal.accounts.services import ServiceError
from tests.sandboxes.conftest import PROD_ORG, connect_production, drive


def test_sync_lists_every_sandbox_with_status_refresh_date_and_links(world, sim, sim_app, production):
    seeded = sim.seed_sandboxes(PROD_ORG, names=["uat", "qa"], last_refresh_days_ago=0.5)
    sim.configure(page_size=1)
    result = sandboxes.sandbox_sync(connection_id=production.pk)
    assert result.seen == 2 and result.created == 2 and result.pages >= 4  # paged (nextRecordsUrl followed)
    uat = Sandbox.objects.get(production=production, name="uat")
    assert uat.license_type == "DEVELOPER" and uat.status == "Completed" and uat.copy_progress == 100
    assert uat.sandbox_org_id == seeded[0]["org_id"][:15] and uat.last_refreshed_at is not None
    assert uat.refreshable_at > timezone.now()  # refreshed 12 h ago; Developer: every day
    assert SandboxSync.objects.get(production=production).error == ""
    again = sandboxes.sandbox_sync(connection_id=production.pk)
    assert again.created == 0 and again.changed == 0


def test_sync_links_an_existing_connection_of_the_sandbox_org(world, sim, sim_app, production):
    seeded = sim.seed_sandboxes(PROD_ORG, names=["linked"])[0]
    existing = connect_production(world, sim, sim_app, username="ci@acme.example.linked", owner=world.member)
    OrgConnection.objects.filter(pk=existing.pk).update(org_id=seeded["org_id"], kind="sandbox")
    sandboxes.sandbox_sync(connection_id=production.pk)
    assert Sandbox.objects.get(name="linked").connection_id == existing.pk


def test_sync_records_that_the_user_cannot_manage_sandboxes(world, sim, sim_app):
    sandbox_org_user = connect_production(world, sim, sim_app, username="dev@acme.example.uat")
    result = sandboxes.sandbox_sync(connection_id=sandbox_org_user.pk)  # not a production org in Salesforce
    assert result.seen == 0
    assert "Manage Sandboxes" in SandboxSync.objects.get(production=sandbox_org_user).error


def test_create_copies_then_connects_the_sandbox_for_the_requester(world, sim, production, owner_membership,
                                                                    django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        sandbox = sandboxes.sandbox_create(membership=owner_membership, production=production, name="dev1",
                                           license_type="Developer", description="feature work", alias="dev1")
    sandbox.refresh_from_db()
    assert sandbox.state == "copying" and sandbox.sandbox_info_id.startswith("0GQ") and sandbox.status == "Pending"
    sim.advance_sandbox("dev1", "Processing", copy_progress=40)
    sandbox = drive(sandbox)
    assert sandbox.state == "copying" and sandbox.copy_progress == 40 and sandbox.status == "Processing"
    sim.advance_sandbox("dev1")
    with django_capture_on_commit_callbacks(execute=True):
        sandbox = drive(sandbox)
    assert sandbox.state == "done", sandbox.state_message
    connection = sandbox.connection
    assert connection.kind == "sandbox" and connection.owner == world.owner
    assert connection.username == "admin@acme.example.dev1" and connection.org_id[:15] == sandbox.sandbox_org_id
    assert OrgAlias.objects.get(connection=connection, user=world.owner).alias == "dev1"
    assert connection_access_token(connection_id=connection.pk).access_token
    kinds = set(AuditEvent.objects.values_list("kind", flat=True))
    assert {"sandbox.create_requested", "sandbox.created", "org.connected"} <= kinds
    assert len(mail.outbox) == 1 and "dev1 created" in mail.outbox[0].subject
    posted = [e for e in sim.log() if e["method"] == "POST" and e["path"].endswith("tooling/sobjects/SandboxInfo")]
    assert len(posted) == 1


@pytest.mark.parametrize(("name", "message"), [("", "1 to 10"), ("way-too-long-name", "1 to 10"),
                                               ("has space", "1 to 10"), ("elevenchars", "1 to 10")])
def test_names_are_validated_as_salesforce_does(world, production, owner_membership, name, message):
    with pytest.raises(ServiceError, match=message):
        sandboxes.sandbox_create(membership=owner_membership, production=production, name=name,
                                 license_type="DEVELOPER")
    assert not Sandbox.objects.exists()


def test_a_salesforce_refusal_leaves_a_visible_failed_record_with_advice(world, sim, production, owner_membership,
                                                                         django_capture_on_commit_callbacks):
    sim.set_sandbox_licenses(PROD_ORG, FULL=0)
    with django_capture_on_commit_callbacks(execute=True):
        sandbox = sandboxes.sandbox_create(membership=owner_membership, production=production, name="big",
                                           license_type="FULL")
    sandbox.refresh_from_db()
    assert sandbox.state == "failed" and "LIMIT_EXCEEDED" in sandbox.state_message
    assert "Delete a sandbox of this license type" in sandbox.state_message
    assert "could not be created" in mail.outbox[-1].subject
    sim.set_sandbox_licenses(PROD_ORG, FULL=1)
    with django_capture_on_commit_callbacks(execute=True):
        sandboxes.sandbox_retry(membership=owner_membership, sandbox=sandbox)
    sandbox.refresh_from_db()
    assert sandbox.state == "copying"


def test_dismissing_a_failed_create_removes_it(world, sim, production, owner_membership,
                                               django_capture_on_commit_callbacks):
    sim.seed_sandboxes(PROD_ORG, names=["taken"])
    with django_capture_on_commit_callbacks(execute=True):
        sandbox = sandboxes.sandbox_create(membership=owner_membership, production=production, name="taken",
                                           license_type="DEVELOPER")
    sandbox.refresh_from_db()
    assert sandbox.state == "failed" and "DUPLICATE_VALUE" in sandbox.state_message
    sandboxes.sandbox_dismiss(membership=owner_membership, sandbox=sandbox)
    assert not Sandbox.objects.filter(pk=sandbox.pk).exists()


def test_copy_failure_shows_salesforces_reason(world, sim, production, owner_membership,
                                               django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        sandbox = sandboxes.sandbox_create(membership=owner_membership, production=production, name="boom",
                                           license_type="DEVELOPER")
    sim.advance_sandbox("boom", "Processing")
    sim.fail_sandbox("boom", "Storage limit exceeded")
    sandbox = drive(sandbox)
    assert sandbox.state == "failed" and "Storage limit exceeded" in sandbox.state_message


def two_days_ago(sim, sandbox):
    """The last copy ended two days ago, in Salesforce and in the portal's inventory."""
    sim.set_sandbox_last_refresh(sandbox.name, 2, org=PROD_ORG)
    Sandbox.objects.filter(pk=sandbox.pk).update(last_refreshed_at=timezone.now() - timedelta(days=2))
    sandbox.refresh_from_db()


def _created(sim, production, owner_membership, capture, name="uat2", **kwargs):
    with capture(execute=True):
        sandbox = sandboxes.sandbox_create(membership=owner_membership, production=production, name=name,
                                           license_type="DEVELOPER", alias=name, **kwargs)
    sim.advance_sandbox(name)
    with capture(execute=True):
        return drive(sandbox)


def test_refresh_reauthorizes_the_same_connection_in_place(world, sim, production, owner_membership,
                                                           django_capture_on_commit_callbacks):
    sandbox = _created(sim, production, owner_membership, django_capture_on_commit_callbacks)
    connection = sandbox.connection
    Grant.objects.create(team=world.team, connection=connection, subject_type="member", member=world.member,
                         level=2)
    old_org, old_token = connection.org_id, connection_access_token(connection_id=connection.pk).access_token
    with pytest.raises(ServiceError, match="can be refreshed from"):
        sandboxes.sandbox_refresh(membership=owner_membership, sandbox=sandbox)  # Developer: once a day
    two_days_ago(sim, sandbox)
    with django_capture_on_commit_callbacks(execute=True):
        sandboxes.sandbox_refresh(membership=owner_membership, sandbox=sandbox)
    sandbox.refresh_from_db()
    assert sandbox.state == "copying" and sandbox.operation == "refresh"
    connection.refresh_from_db()
    assert connection.org_id == old_org  # untouched while copying
    sim.advance_sandbox("uat2")
    with django_capture_on_commit_callbacks(execute=True):
        sandbox = drive(sandbox, times=3)
    assert sandbox.state == "done", sandbox.state_message
    connection.refresh_from_db()
    assert connection.pk == sandbox.connection_id and connection.org_id != old_org
    assert connection.org_id[:15] == sandbox.sandbox_org_id
    assert OrgAlias.objects.get(connection=connection, user=world.owner).alias == "uat2"
    assert Grant.objects.filter(connection=connection, member=world.member).exists()
    new_token = connection_access_token(connection_id=connection.pk).access_token
    assert new_token != old_token
    event = AuditEvent.objects.get(kind="sandbox.refreshed")
    assert event.data["old_org_id"] == old_org and event.data["new_org_id"] == connection.org_id


def test_a_failed_refresh_keeps_the_old_connection(world, sim, production, owner_membership,
                                                   django_capture_on_commit_callbacks):
    sandbox = _created(sim, production, owner_membership, django_capture_on_commit_callbacks, name="keep")
    connection = sandbox.connection
    before = (connection.org_id, connection.access_token, connection.refresh_token)
    two_days_ago(sim, sandbox)
    with django_capture_on_commit_callbacks(execute=True):
        sandboxes.sandbox_refresh(membership=owner_membership, sandbox=sandbox)
    sim.fail_sandbox("keep", "Copy engine error")
    sandbox = drive(sandbox)
    assert sandbox.state == "failed" and "Copy engine error" in sandbox.state_message
    connection.refresh_from_db()
    assert (connection.org_id, connection.access_token, connection.refresh_token) == before


def test_sharing_choices_at_creation(world, sim, production, owner_membership, django_capture_on_commit_callbacks):
    Grant.objects.create(team=world.team, connection=production, subject_type="role", role="member", level=1)
    sandbox = _created(sim, production, owner_membership, django_capture_on_commit_callbacks, name="same",
                       share="production")
    assert list(Grant.objects.filter(connection=sandbox.connection).values_list("subject_type", "role", "level")) \
        == [("role", "member", 1)]
    group = TeamGroup.objects.create(team=world.team, name="QA")
    named = _created(sim, production, owner_membership, django_capture_on_commit_callbacks, name="named",
                     share="named", share_member_ids=[world.member.pk], share_group_ids=[group.pk])
    subjects = set(Grant.objects.filter(connection=named.connection).values_list("subject_type", "level"))
    assert subjects == {("member", 2), ("group", 2)}
    nobody = _created(sim, production, owner_membership, django_capture_on_commit_callbacks, name="alone")
    assert not Grant.objects.filter(connection=nobody.connection).exists()


def test_delete_removes_the_sandbox_and_its_connection(world, sim, production, owner_membership,
                                                       django_capture_on_commit_callbacks):
    sandbox = _created(sim, production, owner_membership, django_capture_on_commit_callbacks, name="gone")
    with pytest.raises(ServiceError, match="Type the sandbox"):
        sandboxes.sandbox_delete(actor=world.owner, sandbox=sandbox, confirm_name="nope")
    sandboxes.sandbox_delete(actor=world.owner, sandbox=sandbox, confirm_name="gone")
    sandbox.refresh_from_db()
    assert sandbox.deleted_at is not None and sandbox.connection is None
    assert not OrgConnection.objects.filter(username="admin@acme.example.gone").exists()
    assert AuditEvent.objects.filter(kind="sandbox.deleted").exists()
    assert [e for e in sim.log() if e["method"] == "DELETE" and "SandboxInfo" in e["path"]]


def test_unreachable_new_org_is_retried_for_a_bounded_time(world, sim, production, owner_membership, settings,
                                                           django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        sandbox = sandboxes.sandbox_create(membership=owner_membership, production=production, name="dns",
                                           license_type="DEVELOPER")
    sim.advance_sandbox("dns")
    sim.configure(fail_paths=["/services/oauth2/token"], fail_rate=1.0, fail_mode="reset")
    sandbox = drive(sandbox)
    assert sandbox.state == "authorizing" and "not reachable yet" in sandbox.state_message
    assert "Retrying until" in sandbox.state_message
    Sandbox.objects.filter(pk=sandbox.pk).update(auth_deadline=timezone.now() - timedelta(seconds=1))
    sandbox = drive(sandbox)
    assert sandbox.state == "failed" and "retry" in sandbox.state_message
    sim.configure(fail_rate=0.0, fail_paths=[])
    with django_capture_on_commit_callbacks(execute=True):
        sandboxes.sandbox_retry(membership=owner_membership, sandbox=sandbox)
    sandbox.refresh_from_db()
    assert sandbox.state == "done", sandbox.state_message


def test_resume_sweep_reenqueues_overdue_requests(world, sim, production, owner_membership, monkeypatch,
                                                  django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        sandbox = sandboxes.sandbox_create(membership=owner_membership, production=production, name="resume",
                                           license_type="DEVELOPER")
    Sandbox.objects.filter(pk=sandbox.pk).update(next_poll_at=timezone.now() - timedelta(hours=1))
    sim.advance_sandbox("resume")
    with django_capture_on_commit_callbacks(execute=True):
        assert sandboxes.sandbox_requests_resume() == 1
    sandbox.refresh_from_db()
    assert sandbox.state == "done"
    with django_capture_on_commit_callbacks(execute=True):
        assert sandboxes.sandbox_requests_resume() == 0


def test_a_duplicate_poll_is_dropped(world, sim, production, owner_membership, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        sandbox = sandboxes.sandbox_create(membership=owner_membership, production=production, name="dup",
                                           license_type="DEVELOPER")
    sandbox.refresh_from_db()
    assert sandbox.next_poll_at > timezone.now()
    assert sandboxes.sandbox_poll(sandbox_id=sandbox.pk) is None  # early: another poll is scheduled


def test_a_permanent_error_while_polling_fails_the_request_visibly(world, sim, production, owner_membership,
                                                                   django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        sandbox = sandboxes.sandbox_create(membership=owner_membership, production=production, name="odd",
                                           license_type="DEVELOPER")
    sim.configure(fail_rate=1.0, fail_mode="redirect", fail_paths=["/services/data/v68.0/tooling/query"])
    sandbox = drive(sandbox)
    assert sandbox.state == "failed" and "redirect" in sandbox.state_message
    assert sandboxes.sandbox_poll(sandbox_id=sandbox.pk, force=True) is None  # no endless retries
