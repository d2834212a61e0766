"""Browser test in Chromium: a member creates a scratch org and watches it become Active and connected on the same
page (htmx polls the row; no reload: a marker set on the window survives), then deletes it there and sees
"Deleting…" turn into Deleted. A thread stands in for the Celery worker, and only works when the test lets it, so
each intermediate state is seen for certain."""

import threading

import pytest

from orgs.models import Grant, ScratchOrg
from orgs.services.scratch import scratch_org_delete_run, scratch_org_poll
from tests.browser.test_sharing_browser import log_in
from tests.inventory.test_inventory import HUB_USER, connect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


class ScratchWorker:
    """Polls requested scratch orgs and runs requested deletions, like orgs.tasks would, once `go` is set."""

    def __init__(self):
        self.go, self.stop = threading.Event(), threading.Event()
        self.errors: list[str] = []
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        from django.db import connection

        try:
            while not self.stop.is_set():
                if self.go.is_set():
                    for pk in ScratchOrg.objects.filter(status__in=("New", "Creating")).values_list("pk", flat=True):
                        self.step(scratch_org_poll, scratch_id=pk)
                    for pk in ScratchOrg.objects.filter(delete_state="deleting").values_list("pk", flat=True):
                        self.step(scratch_org_delete_run, scratch_id=pk)
                self.stop.wait(0.3)
        finally:
            connection.close()

    def step(self, work, **kwargs):
        try:
            work(**kwargs)
        except Exception as exc:  # noqa: BLE001 - reported by the test
            self.errors.append(repr(exc))

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=10)


def test_create_then_delete_live_without_reloading(page, world, sim, sim_app, live_server, monkeypatch, mailoutbox):
    from orgs.services.apps import callback_url

    sim.update_app("OrgPortalDemo", callback_urls=[callback_url()])
    sim.configure(scratch_create_seconds=0)
    hub = connect(world, sim, sim_app, HUB_USER, kind="production", is_devhub=True)
    Grant.objects.create(team=world.team, connection=hub, subject_type="member", member=world.member, level=2)
    # The worker thread below does the tasks' work; nothing is published to a broker in this test.
    monkeypatch.setattr("orgs.tasks.scratch_org_poll_task.apply_async", lambda *a, **k: None)
    monkeypatch.setattr("orgs.tasks.scratch_org_delete_task.delay", lambda *a, **k: None)

    log_in(page, world.member.email)
    with ScratchWorker() as worker:
        page.goto(f"/teams/{world.team.code}/orgs/{hub.code}/scratch-orgs/")
        page.click("#new-scratch")
        page.select_option("#id_edition", "Developer")
        page.fill("#id_org_name", "Feature Z")
        page.fill("#id_duration_days", "2")
        page.fill("#id_alias", "fz")
        page.click("#create-scratch")
        page.wait_for_url("**/scratch-orgs/*/")
        scratch = ScratchOrg.objects.get(requested_by=world.member)
        row = page.locator(f"#scratch-{scratch.code}")
        assert row.get_attribute("data-state") == "new" and "Salesforce is creating it" in row.inner_text()
        assert row.get_attribute("hx-trigger") == "every 2s"
        page.evaluate("window.__stillHere = 'yes'")  # lost if the page reloaded or navigated

        worker.go.set()
        page.wait_for_function("() => document.querySelector('tr[data-state=\"active\"] .connection-link')",
                               timeout=30_000)
        row = page.locator(f"#scratch-{scratch.code}")
        assert row.get_attribute("hx-trigger") is None  # the final row does not poll
        announcer = page.locator("#job-announcer")
        assert announcer.get_attribute("aria-live") == "polite"
        assert "Scratch org fz is ready and connected as" in announcer.inner_text()
        assert page.evaluate("window.__stillHere") == "yes"

        worker.go.clear()  # hold the deletion so "Deleting…" is on screen for certain
        page.once("dialog", lambda dialog: dialog.accept())
        row.locator(".delete-scratch").click()
        page.locator(f"#scratch-{scratch.code}[data-state=\"deleting\"]").wait_for()
        assert "Deleting…" in page.locator(f"#scratch-{scratch.code}").inner_text()
        worker.go.set()
        page.locator(f"#scratch-{scratch.code}[data-state=\"deleted\"]").wait_for(timeout=30_000)
        assert "Scratch org fz was deleted." in page.locator("#job-announcer").inner_text()
        assert page.evaluate("window.__stillHere") == "yes"
        assert not worker.errors, worker.errors

    scratch.refresh_from_db()
    assert scratch.status == "Deleted" and scratch.connection_id is None
    subjects = sorted(m.subject for m in mailoutbox if "Scratch org" in m.subject)
    assert subjects == ["[Org Portal] Scratch org fz is ready", "[Org Portal] Scratch org fz was deleted"]
