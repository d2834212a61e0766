"""The Sandboxes tab: who sees and manages it, the form, live status JSON, refresh/delete/retry, and a query-count
pin for a production org with 200 sandboxes."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from orgs.models import Grant, Sandbox
from tests.querycount import count_queries
from tests.sandboxes.conftest import PROD_ORG, drive
from tests.sharing.conftest import make_connection


def url(name, world, *args):
    return reverse(f"orgs:{name}", args=[world.team.code, *args])


def test_every_sandbox_is_listed_with_license_status_refresh_dates_and_who_connected(world, client, production,
                                                                                     sim, sim_app):
    row = Sandbox.objects.create(team=world.team, production=production, sandbox_info_id="0GQ5g0000000001AAA",
                                 name="uat", license_type="PARTIAL", status="Completed", copy_progress=100,
                                 last_refreshed_at=timezone.now() - timedelta(days=2), description="UAT")
    connection = make_connection(world.team, world.member, sim_app, username="carol@acme.example.uat")
    Sandbox.objects.filter(pk=row.pk).update(connection=connection)
    Grant.objects.create(team=world.team, connection=production, subject_type="member", member=world.member, level=1)
    client.force_login(world.member)
    page = client.get(url("sandboxes", world, production.code)).content.decode()
    assert "uat" in page and "Partial Copy" in page and "Completed" in page and "UAT" in page
    refreshable = (row.last_refreshed_at + timedelta(days=5)).strftime("%Y-%m-%d")
    assert refreshable in page
    assert "by carol@example.com" in page  # carol sees her own connection
    assert 'id="new-sandbox"' not in page  # view level: no create
    client.force_login(world.admin)
    page = client.get(url("sandboxes", world, production.code)).content.decode()
    assert 'id="new-sandbox"' in page and "by carol@example.com" in page


def test_who_connected_is_hidden_from_those_who_cannot_see_that_connection(world, client, production, sim_app):
    connection = make_connection(world.team, world.admin, sim_app, username="bob@acme.example.qa")
    Sandbox.objects.create(team=world.team, production=production, sandbox_info_id="0GQ5g0000000002AAA",
                           name="qa", license_type="DEVELOPER", connection=connection)
    Grant.objects.create(team=world.team, connection=production, subject_type="member", member=world.member, level=1)
    client.force_login(world.member)
    page = client.get(url("sandboxes", world, production.code)).content.decode()
    assert "connected" in page and "bob@example.com" not in page


def test_outsiders_get_404_viewers_403_on_manage_and_non_production_404(world, client, production, sim_app):
    sandbox = Sandbox.objects.create(team=world.team, production=production, sandbox_info_id="0GQ5g0000000003AAA",
                                     name="x", license_type="DEVELOPER")
    client.force_login(world.outsider)
    assert client.get(url("sandboxes", world, production.code)).status_code == 404
    assert client.get(url("sandbox_row", world, sandbox.code), HTTP_HX_REQUEST="true").status_code == 404
    client.force_login(world.member)  # no grant: can't see the production org
    assert client.get(url("sandboxes", world, production.code)).status_code == 404
    Grant.objects.create(team=world.team, connection=production, subject_type="member", member=world.member, level=2)
    assert client.get(url("sandboxes", world, production.code)).status_code == 200
    assert client.get(url("sandbox_create", world, production.code)).status_code == 403
    assert client.post(url("sandbox_refresh", world, sandbox.code)).status_code == 403
    assert client.post(url("sandbox_delete", world, sandbox.code), {"confirm": "x"}).status_code == 403
    other = make_connection(world.team, world.owner, sim_app, kind="sandbox")
    client.force_login(world.owner)
    assert client.get(url("sandboxes", world, other.code)).status_code == 404


def test_a_manager_by_grant_may_create(world, client, production):
    Grant.objects.create(team=world.team, connection=production, subject_type="member", member=world.member, level=3)
    client.force_login(world.member)
    assert client.get(url("sandbox_create", world, production.code)).status_code == 200


def test_create_through_the_page_then_the_row_partial_shows_progress_and_stops_polling_at_the_end(
        world, client, sim, production, django_capture_on_commit_callbacks):
    client.force_login(world.owner)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url("sandbox_create", world, production.code), {
            "name": "feat1", "license_type": "DEVELOPER", "description": "x", "share": "nobody",
            "auto_activate": "on", "alias": "feat1"})
    assert response.status_code == 302, response.content.decode()[-2000:]
    sandbox = Sandbox.objects.get(name="feat1")
    page = client.get(url("sandboxes", world, production.code)).content.decode()
    row_url = url("sandbox_row", world, sandbox.code)
    assert f'hx-get="{row_url}" hx-trigger="every 2s"' in page and "js/sandboxes.js" not in page
    assert 'id="job-announcer" class="mb-3" role="status" aria-live="polite"' in page
    sim.advance_sandbox("feat1", "Processing", copy_progress=55)
    drive(sandbox)
    row = client.get(row_url, HTTP_HX_REQUEST="true")
    assert row.status_code == 200 and row["Cache-Control"] == "no-store"
    body = row.content.decode()
    assert "Processing (55 %)" in body and "Create: Copying" in body and 'hx-trigger="every 2s"' in body
    assert "job-announcer" not in body
    sim.advance_sandbox("feat1", "Completed")
    drive(sandbox, times=5)
    assert sandbox.state == "done"
    row = client.get(row_url, HTTP_HX_REQUEST="true")
    body = row.content.decode()
    assert row.status_code == 286  # htmx stops polling
    assert "hx-trigger" not in body and "Create: Done" in body and "connected" in body
    assert 'hx-swap-oob="innerHTML"' in body and "Sandbox feat1 was created and is connected." in body
    # without htmx the partial's URL is the Sandboxes tab
    plain = client.get(row_url)
    assert plain.status_code == 302 and plain["Location"] == url("sandboxes", world, production.code)


@pytest.mark.parametrize(("data", "message"), [
    ({"name": "bad-name"}, "1 to 10 letters or digits"),
    ({"name": "elevenchars"}, "at most 10 characters"),
    ({"alias": "bad alias"}, "1–80 letters"),
])
def test_bad_input_is_a_form_error_and_records_nothing(world, client, production, sim, data, message):
    client.force_login(world.owner)
    response = client.post(url("sandbox_create", world, production.code), {
        "name": "ok", "license_type": "DEVELOPER", "share": "nobody", **data})
    assert response.status_code == 400 and message in response.content.decode()
    assert not Sandbox.objects.exists()


def test_create_needs_recent_authentication(world, client, production):
    from tests.api.test_reauthentication import login_long_ago

    login_long_ago(client, world.owner)
    sandbox = Sandbox.objects.create(team=world.team, production=production, sandbox_info_id="0GQ5g0000000009AAA",
                                     name="old", license_type="DEVELOPER", status="Completed")
    for path, data in ((url("sandbox_create", world, production.code), {"name": "late", "license_type": "DEVELOPER",
                                                                          "share": "nobody"}),
                       (url("sandbox_refresh", world, sandbox.code), {}),
                       (url("sandbox_delete", world, sandbox.code), {"confirm": "old"})):
        response = client.post(path, data)
        assert response.status_code == 302 and response["Location"].startswith(reverse("account_reauthenticate"))
    assert list(Sandbox.objects.values_list("name", "state", "deleted_at")) == [("old", "", None)]


def test_refresh_too_early_is_refused_with_the_date(world, client, production):
    sandbox = Sandbox.objects.create(team=world.team, production=production, sandbox_info_id="0GQ5g0000000004AAA",
                                     name="full1", license_type="FULL", status="Completed",
                                     last_refreshed_at=timezone.now() - timedelta(days=3))
    client.force_login(world.owner)
    response = client.post(url("sandbox_refresh", world, sandbox.code), follow=True)
    page = response.content.decode()
    assert "every 29 days" in page and (sandbox.last_refreshed_at + timedelta(days=29)).strftime("%Y-%m-%d") in page
    sandbox.refresh_from_db()
    assert sandbox.state == ""


def test_delete_needs_the_typed_name(world, client, production, sim):
    seeded = sim.seed_sandboxes(PROD_ORG, names=["del1"])[0]
    sandbox = Sandbox.objects.create(team=world.team, production=production, name="del1", license_type="DEVELOPER",
                                     sandbox_info_id=seeded["SandboxInfoId"])
    client.force_login(world.owner)
    assert client.get(url("sandbox_delete", world, sandbox.code)).status_code == 200
    wrong = client.post(url("sandbox_delete", world, sandbox.code), {"confirm": "DEL1"})
    assert wrong.status_code == 400 and "Type the sandbox" in wrong.content.decode()
    assert client.post(url("sandbox_delete", world, sandbox.code), {"confirm": "del1"}).status_code == 302
    sandbox.refresh_from_db()
    assert sandbox.deleted_at is not None


def test_the_tab_for_200_sandboxes_runs_a_bounded_number_of_queries(world, client, production, sim_app):
    def fill(n):
        Sandbox.objects.bulk_create([
            Sandbox(team=world.team, production=production, sandbox_info_id=f"0GQ5g{len(existing) + i:010d}AAA",
                    name=f"s{len(existing) + i}", license_type="DEVELOPER", status="Completed",
                    connection=make_connection(world.team, world.owner, sim_app) if i % 10 == 0 else None,
                    last_refreshed_at=timezone.now())
            for i in range(n)])

    existing: list = []
    fill(10)
    client.force_login(world.admin)  # sees every connection, so every "connected by" is shown
    with count_queries() as few:
        assert client.get(url("sandboxes", world, production.code)).status_code == 200
    existing = list(range(10))
    fill(190)
    assert Sandbox.objects.count() == 200
    with count_queries() as many:
        response = client.get(url("sandboxes", world, production.code))
    page = response.content.decode()
    assert response.status_code == 200 and page.count("data-name=") == 200 and page.count("by alice@") == 20
    assert many["n"] == few["n"] <= 20


def test_a_linked_sandbox_shows_its_production_org_in_the_orgs_list(world, client, sim, sim_app, production):
    from orgs.models import OrgConnection
    from orgs.services.sandboxes import sandbox_sync
    from tests.sandboxes.conftest import connect_production

    seeded = sim.seed_sandboxes(PROD_ORG, names=["old"])[0]
    existing = connect_production(world, sim, sim_app, username="ci@acme.example.old", owner=world.owner)
    OrgConnection.objects.filter(pk=existing.pk).update(org_id=seeded["org_id"], kind="sandbox")
    sandbox_sync(connection_id=production.pk)  # recognised by SandboxOrganization
    client.force_login(world.owner)
    listing = client.get(reverse("orgs:org_list", args=[world.team.code])).content.decode()
    assert f"sandbox old of {production.username}" in listing
    tab = client.get(url("sandboxes", world, production.code)).content.decode()
    assert "by alice@example.com" in tab
