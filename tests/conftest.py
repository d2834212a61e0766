"""Shared fixtures: people and a team with every role, service availability, and a real Chromium."""

import os
from dataclasses import dataclass

import pytest
from django.conf import settings

PASSWORD = "correct-horse-battery-9"


def pytest_report_header(config):
    return (
        f"services: postgres={'yes' if settings.TEST_POSTGRES_URL else 'NO (sqlite)'} "
        f"redis={'yes' if settings.TEST_REDIS_URL else 'NO'} chromium={settings.TEST_CHROMIUM or 'NO'} "
        f"CI={settings.CI}"
    )


def pytest_collection_modifyitems(config, items):
    missing = {
        "postgres": settings.TEST_POSTGRES_URL is None,
        "redis": settings.TEST_REDIS_URL is None,
        "browser": settings.TEST_CHROMIUM is None,
    }
    for item in items:
        for marker, is_missing in missing.items():
            if is_missing and item.get_closest_marker(marker):
                # Under CI this cannot happen: tests/settings.py already stopped the run.
                item.add_marker(pytest.mark.skip(reason=f"{marker} unavailable outside CI (see NOTICE above)"))


def record_login(client, user, *, seconds_ago: float = 0) -> None:
    """Record in the client's session what a real login records (allauth's authentication records), `seconds_ago`."""
    from allauth.account.internal.flows.login import AUTHENTICATION_METHODS_SESSION_KEY, record_authentication
    from django.http import HttpRequest

    request = HttpRequest()
    request.session, request.user = client.session, user
    record_authentication(request, user, method="password", email=user.email)
    request.session[AUTHENTICATION_METHODS_SESSION_KEY][-1]["at"] -= seconds_ago
    request.session.save()


@pytest.fixture(autouse=True)
def _force_login_records_an_authentication(monkeypatch):
    """A real login records its method and time in the session; Client.force_login does not. Make it record one, as
    a password login just now would, so the recent-authentication rule (portal/accounts/reauth.py) sees an ordinary
    fresh session. tests/accounts/test_reauthentication.py ages the record to prove the rule."""
    from django.test import Client

    original = Client.force_login

    def force_login(self, user, backend=None):
        original(self, user, backend)
        record_login(self, user)

    monkeypatch.setattr(Client, "force_login", force_login)


@pytest.fixture(autouse=True)
def _clean_cache():
    from django.core.cache import cache

    cache.clear()
    yield


def make_user(email: str, *, password: str = PASSWORD, verified: bool = True, **extra):
    from allauth.account.models import EmailAddress

    from portal.accounts.models import User

    user = User.objects.create_user(email=email, password=password, **extra)
    EmailAddress.objects.create(user=user, email=email, verified=verified, primary=True)
    return user


@dataclass
class TeamWorld:
    team: object
    owner: object
    admin: object
    member: object
    outsider: object
    other_team: object

    def user(self, role: str):
        return getattr(self, role)


@pytest.fixture
def world(db):
    """alice owns Acme, bob is an admin, carol a member; dave is in another team only (hc-style)."""
    from portal.accounts.models import Membership
    from portal.accounts.services import team_create

    owner = make_user("alice@example.com", first_name="Alice")
    admin = make_user("bob@example.com", first_name="Bob")
    member = make_user("carol@example.com", first_name="Carol")
    outsider = make_user("dave@example.com", first_name="Dave")
    team = team_create(user=owner, name="Acme")
    Membership.objects.create(team=team, user=admin, role=Membership.Role.ADMIN)
    Membership.objects.create(team=team, user=member, role=Membership.Role.MEMBER)
    other_team = team_create(user=outsider, name="Globex")
    return TeamWorld(team=team, owner=owner, admin=admin, member=member, outsider=outsider, other_team=other_team)


@pytest.fixture
def login(client):
    def _login(user):
        client.force_login(user)
        return client

    return _login


# -- the Salesforce simulator ---

DEMO_APP_KEY = "OrgPortalDemo"
DEMO_APP_SECRET = "sfsim-demo-secret"


@pytest.fixture(scope="session")
def simulator():
    from sfsim.testing import start_simulator

    sim = start_simulator()
    yield sim
    sim.stop()


@pytest.fixture
def sim(simulator, settings):
    """A fresh simulator world, trusted by the portal, whose demo app calls back to this portal."""
    simulator.reset()
    settings.PORTAL_SALESFORCE_ALLOWED_HOSTS = simulator.base_url
    from orgs.services.apps import callback_url

    simulator.update_app(DEMO_APP_KEY, callback_urls=[callback_url()])
    return simulator


@pytest.fixture
def sim_app(world, sim):
    """The team's connected app for the simulator's demo app (confidential client, PKCE)."""
    from orgs.services.apps import connected_app_create
    from portal.accounts.models import Membership

    owner = Membership.objects.get(team=world.team, user=world.owner)
    return connected_app_create(actor=owner, name="Simulator", consumer_key=DEMO_APP_KEY,
                                consumer_secret=DEMO_APP_SECRET, login_url=sim.base_url,
                                scopes="api refresh_token web", require_pkce=True)


# -- browser ---------------------------------------------------------------------------------------------------------

CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]


@pytest.fixture(scope="session")
def browser():
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=settings.TEST_CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, live_server, settings):
    settings.PORTAL_BASE_URL = live_server.url
    context = browser.new_context(base_url=live_server.url)
    context.set_default_timeout(15_000)
    pg = context.new_page()
    yield pg
    context.close()
