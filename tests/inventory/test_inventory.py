"""The Dev Hub scratch-org inventory against the simulator: paging, upserts, deletions, links, expiry emails."""

from datetime import timedelta

import pytest
from django.utils import timezone

from orgs.models import OrgConnection, ScratchOrg
from orgs.services.inventory import dev_hub_sync, scratch_expiry_notify
from tests.querycount import count_queries
from tests.sharing.conftest import make_connection

HUB_USER = "admin@acme.example"


def connect(world, sim, sim_app, username, **kwargs):
    tokens = sim.mint_tokens(username, "OrgPortalDemo")
    c = make_connection(world.team, world.owner, sim_app, username=username, instance_url=sim.base_url, **kwargs)
    c.seal("refresh_token", tokens["refresh_token"])
    c.seal("access_token", tokens["access_token"])
    c.access_token_issued_at = timezone.now()
    c.save()
    return c


@pytest.fixture
def hub(world, sim, sim_app):
    return connect(world, sim, sim_app, HUB_USER, kind="production", is_devhub=True)


def test_sync_follows_paging_and_stores_every_field(hub, sim):
    sim.configure(page_size=1)
    result = dev_hub_sync(connection_id=hub.pk)
    assert result.seen == 3 and result.created == 3 and result.pages >= 3 + 2
    paged = [e for e in sim.log() if e["path"].startswith("/services/data/v68.0/query/")]
    assert len(paged) >= 2  # nextRecordsUrl was followed
    feature = ScratchOrg.objects.get(signup_username="test-feature1@example.com")
    assert (feature.status, feature.org_name, feature.edition, feature.org_id) == (
        "Active", "Acme Feature Scratch", "Developer", "00D1F00000ScFTR")
    assert feature.created_by_username == "admin@acme.example"
    assert feature.expiration_date == (timezone.now() + timedelta(days=21)).date()
    assert feature.active_scratch_org_id and feature.created_date is not None
    assert ScratchOrg.objects.filter(status="Deleted").count() == 1


def test_deletions_are_marked_and_resync_is_idempotent(hub, sim):
    dev_hub_sync(connection_id=hub.pk)
    ghost = ScratchOrg.objects.create(team=hub.team, dev_hub=hub, scratch_org_info_id="2SR000000000GoNEAA",
                                      status="Active", signup_username="gone@example.com")
    again = dev_hub_sync(connection_id=hub.pk)
    assert again.created == 0 and again.updated == 3 and again.vanished == 1
    ghost.refresh_from_db()
    assert ghost.status == "Deleted" and ghost.deleted_at is not None
    assert ScratchOrg.objects.filter(dev_hub=hub).count() == 4


@pytest.mark.postgres  # SQLite's variable limit splits bulk writes into more batches; production is PostgreSQL
def test_database_work_does_not_grow_with_the_number_of_scratch_orgs(hub, sim):
    dev_hub_sync(connection_id=hub.pk)
    with count_queries() as few:
        dev_hub_sync(connection_id=hub.pk)
    many = [{"devhub": "00D5g00000AcPRDEA3", "Id": f"2SR5g0000{i:06d}AAA", "OrgName": f"Bulk {i}",
             "Edition": "Developer", "Status": "Active", "ScratchOrg": f"00D1F0000{i:06d}",
             "SignupUsername": f"bulk{i}@example.com", "ExpirationDate": "+10d", "CreatedDate": "-1d",
             "CreatedBy": HUB_USER} for i in range(300)]
    sim.load({"scratch_orgs": many})
    dev_hub_sync(connection_id=hub.pk)
    with count_queries() as lots:
        result = dev_hub_sync(connection_id=hub.pk)
    assert result.seen == 303
    assert lots["n"] == few["n"], (few["n"], lots["n"])


def test_scratch_orgs_are_linked_to_portal_connections(hub, world, sim, sim_app):
    scratch = connect(world, sim, sim_app, "test-feature1@example.com", kind="scratch")
    dev_hub_sync(connection_id=hub.pk)
    assert ScratchOrg.objects.get(signup_username="test-feature1@example.com").connection_id == scratch.pk
    assert ScratchOrg.objects.get(signup_username="test-hotfix1@example.com").connection_id is None


def test_expiry_email_goes_to_the_creator_once(hub, world, sim, mailoutbox, settings,
                                               django_capture_on_commit_callbacks):
    settings.PORTAL_SCRATCH_EXPIRY_NOTICE_DAYS = 7
    dev_hub_sync(connection_id=hub.pk)
    ScratchOrg.objects.filter(signup_username="test-hotfix1@example.com").update(requested_by=world.member)
    with django_capture_on_commit_callbacks(execute=True):
        assert scratch_expiry_notify() == 1  # the hotfix org expires in 5 days; the feature org in 21
    assert mailoutbox[0].to == ["carol@example.com"] and "expires in 5 day" in mailoutbox[0].subject
    with django_capture_on_commit_callbacks(execute=True):
        assert scratch_expiry_notify() == 0
    assert len(mailoutbox) == 1


def test_a_revoked_hub_needs_reauthorization(hub, sim):
    from orgs.services.refresh import ReauthorizationRequiredError

    sim.revoke_user(HUB_USER)
    with pytest.raises(ReauthorizationRequiredError):
        dev_hub_sync(connection_id=hub.pk)
    assert OrgConnection.objects.get(pk=hub.pk).status == "needs_reauth"
