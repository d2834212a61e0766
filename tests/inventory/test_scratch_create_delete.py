"""Creating and deleting scratch orgs from the portal, against the simulator's Dev Hub."""


import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from orgs.models import Grant, OrgAlias, OrgConnection, ScratchOrg
from portal.accounts.models import AuditEvent
from tests.inventory.test_inventory import HUB_USER, connect


@pytest.fixture
def hub(world, sim, sim_app):
    sim.configure(scratch_create_seconds=0)  # Active on the first poll (tasks run eagerly in tests)
    return connect(world, sim, sim_app, HUB_USER, kind="production", is_devhub=True)


def create(client, world, hub, **data):
    return client.post(reverse("orgs:scratch_create", args=[world.team.code, hub.code]),
                       {"edition": "Developer", "org_name": "Feature X", "duration_days": 3, "alias": "fx",
                        "features": "", "namespace": "", **data})


def test_create_polls_authorizes_and_adds_it_to_the_creators_orgs(world, client, hub, sim,
                                                                     django_capture_on_commit_callbacks):
    Grant.objects.create(team=world.team, connection=hub, subject_type="member", member=world.member, level=2)
    client.force_login(world.member)
    with django_capture_on_commit_callbacks(execute=True):
        response = create(client, world, hub)
    assert response.status_code == 302, response.content.decode()[-1500:]
    scratch = ScratchOrg.objects.get(requested_by=world.member)
    assert scratch.status == "Active" and scratch.connection is not None
    connection = scratch.connection
    assert connection.kind == "scratch" and connection.dev_hub == hub and connection.owner == world.member
    assert connection.reveal("access_token")
    assert OrgAlias.objects.get(connection=connection, user=world.member).alias == "fx"
    kinds = set(AuditEvent.objects.values_list("kind", flat=True))
    assert {"scratch.create_requested", "scratch.created"} <= kinds
    posted = [e for e in sim.log() if e["method"] == "POST" and "sobjects/ScratchOrgInfo" in e["path"]]
    assert len(posted) == 1


def test_definition_file_upload(world, client, hub, django_capture_on_commit_callbacks):
    client.force_login(world.owner)
    definition = b'{"edition": "Enterprise", "orgName": "From file", "features": ["Communities"], "durationDays": 2}'
    with django_capture_on_commit_callbacks(execute=True):
        response = create(client, world, hub, edition="", org_name="", duration_days="",
                          definition=SimpleUploadedFile("project-scratch-def.json", definition))
    assert response.status_code == 302
    scratch = ScratchOrg.objects.get()
    assert (scratch.edition, scratch.org_name) == ("Enterprise", "From file")


@pytest.mark.parametrize(("data", "message"), [
    ({"edition": "", "org_name": ""}, "Choose an edition"),
    ({"duration_days": 45}, "Ensure this value is less than or equal to 30"),
    ({"definition": SimpleUploadedFile("d.json", b"{not json")}, "not valid JSON"),
    ({"alias": "bad alias"}, "1–80 letters"),
])
def test_bad_input_is_a_form_error_and_creates_nothing(world, client, hub, sim, data, message):
    client.force_login(world.owner)
    response = create(client, world, hub, **data)
    assert response.status_code == 400 and message in response.content.decode()
    assert not ScratchOrg.objects.exists()
    assert not [e for e in sim.log() if e["method"] == "POST" and "ScratchOrgInfo" in e["path"]]


def test_error_status_is_recorded(world, client, hub, django_capture_on_commit_callbacks):
    client.force_login(world.owner)
    with django_capture_on_commit_callbacks(execute=True):
        create(client, world, hub, edition="", org_name="x",
               definition=SimpleUploadedFile("d.json", b'{"edition": "Invalid"}'))
    scratch = ScratchOrg.objects.get()
    assert scratch.status == "Error" and scratch.error_code and scratch.connection is None
    assert AuditEvent.objects.filter(kind="scratch.create_failed").exists()


def test_viewers_cannot_create_and_outsiders_get_404(world, client, hub):
    Grant.objects.create(team=world.team, connection=hub, subject_type="member", member=world.member, level=1)
    client.force_login(world.member)
    assert create(client, world, hub).status_code == 403
    client.force_login(world.outsider)
    assert create(client, world, hub).status_code == 404
    assert not ScratchOrg.objects.exists()


def test_delete_by_the_creator_and_refused_for_others(world, client, hub, sim, django_capture_on_commit_callbacks):
    Grant.objects.create(team=world.team, connection=hub, subject_type="role", role="member", level=2)
    client.force_login(world.member)
    with django_capture_on_commit_callbacks(execute=True):
        create(client, world, hub)
    scratch = ScratchOrg.objects.get()
    from portal.accounts.models import Membership
    from tests.conftest import make_user

    other = make_user("erin@example.com")
    Membership.objects.create(team=world.team, user=other, role="member")
    url = reverse("orgs:scratch_delete", args=[world.team.code, scratch.code])
    client.force_login(other)
    assert client.post(url).status_code == 403
    client.force_login(world.member)
    with django_capture_on_commit_callbacks(execute=True):  # the deletion runs as a task after the commit
        assert client.post(url).status_code == 302
    scratch.refresh_from_db()
    assert scratch.status == "Deleted" and scratch.deleted_at is not None
    assert not OrgConnection.objects.filter(kind="scratch").exists()
    assert any(e["method"] == "DELETE" and "ActiveScratchOrg" in e["path"] and e["status"] == 204 for e in sim.log())
    assert AuditEvent.objects.filter(kind="scratch.deleted", actor=world.member).exists()
    assert AuditEvent.objects.filter(kind="scratch.delete_requested", actor=world.member).exists()




def test_required_field_missing_is_explained(world, client, hub):
    from orgs.models import ConnectedApp

    ConnectedApp.objects.filter(pk=hub.app_id).update(consumer_key="")
    client.force_login(world.owner)
    response = create(client, world, hub)
    assert response.status_code == 400
    assert "Salesforce needs more in the definition: ConnectedAppConsumerKey" in response.content.decode()
    assert not ScratchOrg.objects.exists()


def test_a_scratch_org_that_never_becomes_active_times_out(world, client, hub, sim, settings,
                                                            django_capture_on_commit_callbacks):
    sim.configure(scratch_create_seconds=3600)
    settings.PORTAL_SCRATCH_CREATE_TIMEOUT = 0
    client.force_login(world.owner)
    with django_capture_on_commit_callbacks(execute=True):
        create(client, world, hub)
    scratch = ScratchOrg.objects.get()
    assert (scratch.status, scratch.error_code) == ("Error", "TIMEOUT")
    assert AuditEvent.objects.get(kind="scratch.create_failed").data == {"error_code": "TIMEOUT"}


def test_a_failure_seen_first_by_the_inventory_still_reaches_the_requester(world, client, hub, mailoutbox,
                                                                            django_capture_on_commit_callbacks):
    """The inventory sync may see the hub's Error before the requester's poll does: it leaves the status to the poll,
    which records the failure (audit entry) and sends the requester's email."""
    from orgs.services.inventory import dev_hub_sync
    from orgs.services.scratch import scratch_org_poll

    client.force_login(world.owner)
    create(client, world, hub, edition="", org_name="x",
           definition=SimpleUploadedFile("d.json", b'{"edition": "Invalid"}'))  # its poll never ran (no commit)
    scratch = ScratchOrg.objects.get()
    assert scratch.status == "New"
    dev_hub_sync(connection_id=hub.pk)
    scratch.refresh_from_db()
    assert scratch.status == "New"  # the poll's to record
    with django_capture_on_commit_callbacks(execute=True):
        assert scratch_org_poll(scratch_id=scratch.pk) == "Error"
    assert AuditEvent.objects.filter(kind="scratch.create_failed").count() == 1
    assert [m.to for m in mailoutbox if "Scratch org" in m.subject] == [[world.owner.email]]
    dev_hub_sync(connection_id=hub.pk)  # afterwards the sync agrees
    scratch.refresh_from_db()
    assert scratch.status == "Error" and scratch.error_code
