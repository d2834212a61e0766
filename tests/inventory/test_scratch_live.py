"""Scratch-org jobs followed live (htmx): the row partial for every state, polling that stops at the end (HTTP 286),
who may read it, deletion as a background job (success, transient retry, permanent failure) and the requester's
notice email (once; not when they opted out)."""

import pytest
from django.urls import reverse
from django.utils import timezone

from orgs import salesforce
from orgs.models import Grant, OrgConnection, ScratchOrg
from portal.accounts.models import AuditEvent, Membership, Notice, NoticeOptOut
from tests.inventory.test_scratch_create_delete import create, hub  # noqa: F401 - the Dev Hub fixture
from tests.sharing.conftest import make_connection

HX = {"HTTP_HX_REQUEST": "true"}


def status_url(world, scratch):
    return reverse("orgs:scratch_org_status", args=[world.team.code, scratch.code])


def page_url(world, scratch):
    return reverse("orgs:scratch_org", args=[world.team.code, scratch.code])


def delete_url(world, scratch):
    return reverse("orgs:scratch_delete", args=[world.team.code, scratch.code])


def scratch_notices(mailoutbox):
    return [m for m in mailoutbox if "Scratch org" in m.subject]


@pytest.fixture
def row(world, sim_app):
    """A scratch org alice asked for on a Dev Hub connection (no simulator needed to render its states)."""
    devhub = make_connection(world.team, world.owner, sim_app, username="hub@acme.example", kind="production")
    OrgConnection.objects.filter(pk=devhub.pk).update(is_devhub=True)
    return ScratchOrg.objects.create(team=world.team, dev_hub=devhub, scratch_org_info_id="2SR000000000001",
                                     status="New", requested_by=world.owner, requested_alias="fx",
                                     org_name="Feature X", edition="Developer", created_date=timezone.now())


def set_state(row, **fields):
    ScratchOrg.objects.filter(pk=row.pk).update(**fields)
    row.refresh_from_db()
    return row


@pytest.mark.parametrize(("fields", "code", "shown", "polls"), [
    ({"status": "New"}, 200, ["New", "Salesforce is creating it…"], True),
    ({"status": "Creating"}, 200, ["Creating"], True),
    ({"status": "Active", "signup_username": "fx@example.com"}, 200, ["Active", "connecting…"], True),
    ({"status": "Error", "error_code": "C-1033"}, 286,
     ["Error", "C-1033", "Salesforce reported error code C-1033", "could not be created: C-1033"], False),
    ({"status": "Error", "error_code": "TIMEOUT"}, 286, ["did not finish creating it in time"], False),
    ({"delete_state": "deleting", "status": "Active"}, 200, ["Deleting…"], True),
    ({"delete_state": "failed", "status": "Active", "delete_error": "The Dev Hub refused to delete it: nope"}, 286,
     ["Could not delete: The Dev Hub refused to delete it: nope", "Try deleting again",
      "Scratch org fx could not be deleted"], False),
    ({"status": "Deleted", "deleted_at": timezone.now()}, 286, ["Deleted", "Scratch org fx was deleted."], False),
])
def test_the_partial_shows_each_state_and_stops_polling_at_the_end(world, client, row, fields, code, shown, polls):
    set_state(row, **fields)
    client.force_login(world.owner)
    response = client.get(status_url(world, row), **HX)
    body = response.content.decode()
    assert response.status_code == code and response["Cache-Control"] == "no-store"
    assert body.lstrip().startswith(("{#", "<tr")) or "<tr" in body
    for text in shown:
        assert text in body, text
    assert ('hx-trigger="every 2s"' in body) is polls
    # the end state is announced once, out of band, into the page's aria-live region
    assert ('hx-swap-oob="innerHTML"' in body) is (not polls)


def test_an_active_connected_org_links_to_its_connection_and_ends_polling(world, client, row, sim_app):
    connection = make_connection(world.team, world.owner, sim_app, username="fx@example.com", kind="scratch")
    set_state(row, status="Active", signup_username="fx@example.com", connection=connection)
    client.force_login(world.owner)
    response = client.get(status_url(world, row), **HX)
    body = response.content.decode()
    assert response.status_code == 286 and "hx-trigger" not in body
    assert reverse("orgs:org_access", args=[world.team.code, connection.code]) in body
    assert "Scratch org fx is ready and connected as fx@example.com." in body


def test_a_plain_get_of_the_partial_is_the_full_page(world, client, row):
    client.force_login(world.owner)
    response = client.get(status_url(world, row))
    body = response.content.decode()
    assert response.status_code == 200 and "<html" in body and "<tr" in body
    assert 'id="job-announcer" class="mb-3" role="status" aria-live="polite"' in body
    assert f'hx-get="{status_url(world, row)}?in=hub" hx-trigger="every 2s"' in body


def test_outsiders_and_members_who_cannot_see_the_hub_get_404(world, client, row):
    client.force_login(world.outsider)
    assert client.get(status_url(world, row), **HX).status_code == 404
    assert client.get(page_url(world, row)).status_code == 404
    client.force_login(world.member)  # in the team, no grant on the Dev Hub
    assert client.get(status_url(world, row), **HX).status_code == 404
    Grant.objects.create(team=world.team, connection=row.dev_hub, subject_type="member", member=world.member, level=1)
    assert client.get(status_url(world, row), **HX).status_code == 200  # a viewer follows the job
    # but deleting someone else's scratch org needs manage level on the hub: 403, with or without htmx
    assert client.post(delete_url(world, row), **HX).status_code == 403
    assert client.post(delete_url(world, row)).status_code == 403
    assert ScratchOrg.objects.get(pk=row.pk).delete_state == ""


def test_create_lands_on_the_live_page_then_active_and_one_notice(world, client, hub, mailoutbox,  # noqa: F811
                                                                   django_capture_on_commit_callbacks):
    client.force_login(world.owner)
    with django_capture_on_commit_callbacks(execute=False) as pending:  # the poll task has not run yet
        response = create(client, world, hub)
    scratch = ScratchOrg.objects.get()
    assert response.status_code == 302 and response["Location"] == page_url(world, scratch)
    page = client.get(response["Location"]).content.decode()
    assert f'hx-get="{status_url(world, scratch)}?in=hub" hx-trigger="every 2s"' in page and ">New<" in page
    assert client.get(status_url(world, scratch), **HX).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        for callback in pending:
            callback()  # the worker polls: Active, authorized, connected
    scratch.refresh_from_db()
    assert scratch.status == "Active" and scratch.connection_id
    final = client.get(status_url(world, scratch) + "?in=hub", **HX)
    assert final.status_code == 286 and "connection-link" in final.content.decode()
    notices = scratch_notices(mailoutbox)
    assert len(notices) == 1 and notices[0].to == [world.owner.email]
    assert notices[0].subject == "[Org Portal] Scratch org fx is ready"
    assert scratch.connection.username in notices[0].body and page_url(world, scratch) in notices[0].body
    assert notices[0].alternatives[0][1] == "text/html"
    # a later poll (inventory, duplicate task) finds nothing to do and sends nothing more
    from orgs.services.scratch import scratch_org_poll

    with django_capture_on_commit_callbacks(execute=True):
        scratch_org_poll(scratch_id=scratch.pk)
    assert len(scratch_notices(mailoutbox)) == 1


def test_a_failed_creation_is_shown_and_emailed_unless_opted_out(world, client, hub, mailoutbox,  # noqa: F811
                                                                 django_capture_on_commit_callbacks):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(world.owner)
    with django_capture_on_commit_callbacks(execute=True):
        create(client, world, hub, edition="", definition=SimpleUploadedFile("d.json", b'{"edition": "Invalid"}'))
    scratch = ScratchOrg.objects.get()
    body = client.get(status_url(world, scratch), **HX).content.decode()
    assert "C-1033" in body and "could not be created" in body
    [notice] = scratch_notices(mailoutbox)
    assert notice.subject == "[Org Portal] Scratch org fx could not be created" and "C-1033" in notice.body
    # opted out of this notice: the next failure sends nothing
    NoticeOptOut.objects.create(membership=Membership.objects.get(team=world.team, user=world.owner),
                                kind=Notice.SCRATCH_FINISHED)
    with django_capture_on_commit_callbacks(execute=True):
        create(client, world, hub, alias="fy", edition="",
               definition=SimpleUploadedFile("d.json", b'{"edition": "Invalid"}'))
    assert ScratchOrg.objects.filter(status="Error").count() == 2
    assert len(scratch_notices(mailoutbox)) == 1


def test_the_notice_kind_is_on_the_preferences_page(world, client):
    client.force_login(world.member)
    page = client.get(reverse("accounts:notices", args=[world.team.code])).content.decode()
    assert Notice.SCRATCH_FINISHED.label in page and 'value="scratch_finished"' in page


# -- deletion as a background job ------------------------------------------------------------------------------------

@pytest.fixture
def active(world, client, hub, django_capture_on_commit_callbacks):  # noqa: F811
    client.force_login(world.owner)
    with django_capture_on_commit_callbacks(execute=True):
        create(client, world, hub)
    scratch = ScratchOrg.objects.get()
    assert scratch.status == "Active" and scratch.connection_id
    return scratch


def test_delete_shows_deleting_then_deleted_and_tells_the_requester(world, client, active, sim, mailoutbox,
                                                                    django_capture_on_commit_callbacks):
    mailoutbox.clear()
    with django_capture_on_commit_callbacks(execute=False) as pending:
        response = client.post(delete_url(world, active) + "?in=hub", **HX)
    body = response.content.decode()
    assert response.status_code == 200 and "Deleting…" in body and 'hx-trigger="every 2s"' in body
    assert "delete-scratch" not in body  # no second delete button while it runs
    assert ScratchOrg.objects.get(pk=active.pk).delete_state == "deleting"
    assert client.get(status_url(world, active), **HX).status_code == 200  # still polling
    # pressing it again meanwhile starts nothing new
    assert client.post(delete_url(world, active), **HX).status_code == 200
    assert AuditEvent.objects.filter(kind="scratch.delete_requested").count() == 1
    with django_capture_on_commit_callbacks(execute=True):
        for callback in pending:
            callback()
    active.refresh_from_db()
    assert (active.status, active.delete_state) == ("Deleted", "") and active.deleted_at
    assert not OrgConnection.objects.filter(kind="scratch").exists()
    assert [e["status"] for e in sim.log() if e["method"] == "DELETE" and "ActiveScratchOrg" in e["path"]] == [204]
    final = client.get(status_url(world, active), **HX)
    assert final.status_code == 286 and "Scratch org fx was deleted." in final.content.decode()
    [notice] = scratch_notices(mailoutbox)
    assert notice.subject == "[Org Portal] Scratch org fx was deleted" and notice.to == [world.owner.email]
    assert AuditEvent.objects.filter(kind="scratch.deleted", actor=world.owner).count() == 1


def test_delete_without_htmx_redirects_to_the_list_where_the_row_polls(world, client, active,
                                                                       django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(delete_url(world, active))
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    assert "Deleting…" in page and f'hx-get="{status_url(world, active)}?in=hub"' in page


def run_delete_task_like_a_worker(scratch):
    """The published task and its retries, one after another as a worker runs them (countdowns skipped). Eager tasks
    in tests raise Retry to the caller instead of retrying, so the loop plays the broker."""
    from celery.exceptions import Retry

    from orgs.tasks import scratch_org_delete_task

    for retries in range(scratch_org_delete_task.max_retries + 1):
        try:
            return scratch_org_delete_task.apply((scratch.pk,), retries=retries, throw=True).get()
        except Retry:
            continue
    raise AssertionError("retried past max_retries")


def test_the_delete_task_retries_only_transient_errors_with_capped_jittered_backoff():
    from orgs.services.scratch import DeleteRetry
    from orgs.tasks import scratch_org_delete_task as t

    assert DeleteRetry in t.autoretry_for and (t.retry_backoff, t.retry_backoff_max, t.retry_jitter) == (10, 600, True)
    assert t.max_retries == 6 and t.acks_late


def test_a_transient_failure_is_retried_with_backoff(world, client, active, monkeypatch, mailoutbox,
                                                     django_capture_on_commit_callbacks):
    from orgs.salesforce.client import SalesforceClient

    real, calls = SalesforceClient.delete_active_scratch_org, []

    def flaky(self, **kwargs):
        calls.append(1)
        if len(calls) < 3:
            raise salesforce.TransientSalesforceError("503 from the Dev Hub")
        return real(self, **kwargs)

    monkeypatch.setattr(SalesforceClient, "delete_active_scratch_org", flaky)
    mailoutbox.clear()
    with django_capture_on_commit_callbacks(execute=False):
        client.post(delete_url(world, active), **HX)
    with django_capture_on_commit_callbacks(execute=True):
        run_delete_task_like_a_worker(active)
    active.refresh_from_db()
    assert len(calls) == 3 and active.status == "Deleted" and active.delete_state == ""
    assert [m.subject for m in scratch_notices(mailoutbox)] == ["[Org Portal] Scratch org fx was deleted"]


def test_salesforce_unavailable_to_the_last_retry_is_recorded(world, client, active, monkeypatch, settings,
                                                              django_capture_on_commit_callbacks):
    from orgs.salesforce.client import SalesforceClient

    calls = []

    def down(self, **kwargs):
        calls.append(1)
        raise salesforce.TransientSalesforceError("503 from the Dev Hub")

    monkeypatch.setattr(SalesforceClient, "delete_active_scratch_org", down)
    with django_capture_on_commit_callbacks(execute=False):
        client.post(delete_url(world, active), **HX)
    with django_capture_on_commit_callbacks(execute=True):
        run_delete_task_like_a_worker(active)
    active.refresh_from_db()
    from orgs.tasks import scratch_org_delete_task

    assert len(calls) == scratch_org_delete_task.max_retries + 1
    assert active.delete_state == "failed" and "stayed unavailable" in active.delete_error
    assert active.status == "Active" and active.connection_id


def test_a_permanent_refusal_is_recorded_on_the_row_and_emailed(world, client, active, monkeypatch, mailoutbox,
                                                                django_capture_on_commit_callbacks):
    from orgs.salesforce.client import SalesforceClient

    calls = []

    def refuse(self, **kwargs):
        calls.append(1)
        raise salesforce.ApiError(403, "INSUFFICIENT_ACCESS", "insufficient access rights on object id")

    monkeypatch.setattr(SalesforceClient, "delete_active_scratch_org", refuse)
    mailoutbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(delete_url(world, active), **HX)
    active.refresh_from_db()
    assert len(calls) == 1  # not retried
    assert active.delete_state == "failed" and "INSUFFICIENT_ACCESS" in active.delete_error
    assert active.status == "Active" and active.deleted_at is None and active.connection_id
    body = client.get(status_url(world, active), **HX).content.decode()
    assert "Could not delete: The Dev Hub refused to delete it" in body and "Try deleting again" in body
    assert AuditEvent.objects.filter(kind="scratch.delete_failed").count() == 1
    [notice] = scratch_notices(mailoutbox)
    assert notice.subject == "[Org Portal] Scratch org fx could not be deleted"
    assert "INSUFFICIENT_ACCESS" in notice.body
    # the requester turned the notice off: a second failed attempt sends nothing
    NoticeOptOut.objects.create(membership=Membership.objects.get(team=world.team, user=world.owner),
                                kind=Notice.SCRATCH_FINISHED)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(delete_url(world, active), **HX)
    assert len(calls) == 2 and len(scratch_notices(mailoutbox)) == 1


def test_a_redelivered_delete_task_does_nothing(world, active, django_capture_on_commit_callbacks):
    from orgs.services.scratch import scratch_org_delete_run

    assert scratch_org_delete_run(scratch_id=active.pk) == ""  # not marked "deleting": nothing to do
    assert scratch_org_delete_run(scratch_id=999999) == ""


def test_htmx_is_vendored_loaded_and_configured_for_a_strict_csp(world, client, row):
    """htmx 2.0.x is served from static/vendor (no CDN), with its licence; every page loads it with eval, inline
    indicator styles and script tags in swapped content turned off; the API shortcut runs before django-htmx."""
    import json
    import re
    from pathlib import Path

    from django.conf import settings

    vendor = Path(settings.BASE_DIR) / "static" / "vendor" / "htmx"
    assert re.search(r'version:"2\.0\.\d+"', (vendor / "htmx.min.js").read_text())
    assert "Zero-Clause BSD" in (vendor / "LICENSE").read_text()
    client.force_login(world.owner)
    page = client.get(page_url(world, row)).content.decode()
    assert re.search(r'<script src="[^"]*/vendor/htmx/htmx\.min[^"]*\.js"></script>', page)
    config = json.loads(re.search(r"<meta name=\"htmx-config\" content='([^']+)'>", page).group(1))
    assert config["allowEval"] is False and config["includeIndicatorStyles"] is False
    assert config["allowScriptTags"] is False
    assert " style=" not in page.split("<body", 1)[1].split("</main>")[0].split('id="job-announcer"', 1)[1]
    assert "hx-on" not in page
    middleware = settings.MIDDLEWARE
    assert middleware.index("django_htmx.middleware.HtmxMiddleware") > middleware.index(
        "orgs.api.middleware.ApiShortcutMiddleware")
