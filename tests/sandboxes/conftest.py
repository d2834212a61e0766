"""Sandboxes of a production org against the simulator: a connected production org and helpers to drive requests."""

import pytest
from django.utils import timezone

from orgs.models import OrgConnection, Sandbox
from orgs.services.sandboxes import sandbox_poll
from portal.accounts.models import Membership
from tests.api.conftest import make_token  # noqa: F401 - the API tests' token fixture
from tests.sharing.conftest import make_connection

ADMIN = "admin@acme.example"
PROD_ORG = "00D5g00000AcPRDEA3"


def connect_production(world, sim, app, *, owner=None, username=ADMIN):
    tokens = sim.mint_tokens(username, "OrgPortalDemo")
    c = make_connection(world.team, owner or world.owner, app, username=username, kind="production",
                        instance_url=sim.base_url)
    c.org_id = PROD_ORG
    c.login_url = sim.base_url
    c.seal("refresh_token", tokens["refresh_token"])
    c.seal("access_token", tokens["access_token"])
    c.access_token_issued_at = timezone.now()
    c.save()
    return c


@pytest.fixture
def production(world, sim, sim_app) -> OrgConnection:
    sim.configure(sandbox_copy_seconds=1000)  # copies wait for sim.advance_sandbox
    return connect_production(world, sim, sim_app)


@pytest.fixture
def owner_membership(world) -> Membership:
    return Membership.objects.select_related("team", "user").get(team=world.team, user=world.owner)


def drive(sandbox: Sandbox, *, times: int = 1) -> Sandbox:
    """Run the poll step as the worker would (forced: tests don't wait for the countdown)."""
    for _ in range(times):
        if sandbox_poll(sandbox_id=sandbox.pk, force=True) is None:
            break
    sandbox.refresh_from_db()
    return sandbox


class Worker:
    """Stands in for the Celery worker in live-server tests: polls every running request (forced) in a thread."""

    def __init__(self, interval: float = 0.3):
        import threading

        self.interval, self.stop_event = interval, threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.errors: list[str] = []

    def run(self):
        from django.db import connection

        try:
            while not self.stop_event.is_set():
                for pk in list(Sandbox.objects.filter(state__in=Sandbox.ACTIVE_STATES).values_list("pk", flat=True)):
                    try:
                        sandbox_poll(sandbox_id=pk, force=True)
                    except Exception as exc:  # noqa: BLE001 - reported by the test
                        self.errors.append(repr(exc))
                self.stop_event.wait(self.interval)
        finally:
            connection.close()

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop_event.set()
        self.thread.join(timeout=10)


@pytest.fixture
def worker():
    with Worker() as running:
        yield running
    assert not running.errors, running.errors
