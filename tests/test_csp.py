"""The Content-Security-Policy (django-csp): the site policy on ordinary pages, the strict one on the pages that show
a secret, none on the REST API, and no template that would need 'unsafe-inline'."""

import re
from pathlib import Path

import pytest
from django.urls import reverse

from tests.api.conftest import orgs  # noqa: F401 - fixture

pytestmark = [pytest.mark.postgres]

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
SITE = {
    "default-src": ["'self'"], "script-src": ["'self'"], "style-src": ["'self'"], "img-src": ["'self'", "data:"],
    "connect-src": ["'self'"], "object-src": ["'none'"], "base-uri": ["'none'"], "frame-ancestors": ["'none'"],
}
STRICT = {
    "default-src": ["'none'"], "script-src": ["'self'"], "style-src": ["'self'"], "img-src": ["'self'", "data:"],
    "font-src": ["'self'"], "connect-src": ["'none'"], "form-action": ["'self'"], "base-uri": ["'none'"],
    "frame-ancestors": ["'none'"], "object-src": ["'none'"],
}
SALESFORCE = ["https://login.salesforce.com", "https://test.salesforce.com", "https://*.my.salesforce.com",
              "https://*.my.site.com"]


def policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {name: values for name, *values in (part.split() for part in header.split(";") if part.strip())}


def assert_private(response):
    """Never cached; no referrer outside the portal (`same-origin`, not `no-referrer`: see portal/lib/csp.py)."""
    assert "no-store" in response["Cache-Control"] and response["Referrer-Policy"] == "same-origin"


def test_an_ordinary_page_has_the_site_policy_with_salesforce_hosts_in_form_action(client, settings, db):
    settings.PORTAL_SALESFORCE_ALLOWED_HOSTS = "http://127.0.0.1:8765, sf-proxy.example.org"
    got = policy(client.get("/accounts/login/"))
    form_action = got.pop("form-action")
    assert got == SITE
    assert form_action == ["'self'", *SALESFORCE, "http://127.0.0.1:8765", "https://sf-proxy.example.org:443"]


def test_team_pages_have_the_site_policy(client, world):
    client.force_login(world.owner)
    response = client.get(reverse("orgs:org_list", args=[world.team.code]))
    assert response.status_code == 200
    got = policy(response)
    assert got.pop("form-action")[:5] == ["'self'", *SALESFORCE] and got == SITE


def test_the_rest_api_pays_for_no_policy(client):
    """The API shortcut answers before the CSP middleware (its hot path builds no policy)."""
    response = client.get("/api/v1/orgs/nothing", HTTP_AUTHORIZATION="Bearer nope")
    assert response.status_code in (401, 404) and "Content-Security-Policy" not in response


@pytest.mark.redis
def test_an_org_access_token_page_is_strict(client, world, orgs):  # noqa: F811
    client.force_login(world.owner)
    response = client.post(reverse("orgs:token", args=[world.team.code, orgs.hub.code]))
    assert response.status_code == 200 and policy(response) == STRICT
    assert_private(response)


@pytest.mark.redis
def test_the_frontdoor_form_fallback_is_strict_and_may_post_only_to_the_frontdoor(client, world, orgs, sim,  # noqa: F811
                                                                                  settings):
    settings.PORTAL_FRONTDOOR_FORM_FALLBACK = True
    sim.configure(fail_rate=1.0, fail_mode="503", fail_paths=["/services/oauth2/singleaccess"])
    client.force_login(world.owner)
    response = client.post(reverse("orgs:open", args=[world.team.code, orgs.sandbox.code]))
    assert response.status_code == 200 and 'name="sid"' in response.content.decode()
    assert policy(response) == dict(STRICT, **{"form-action": ["'self'", sim.base_url]})
    assert_private(response)


def test_a_new_api_token_page_is_strict(client, world):
    client.force_login(world.owner)
    url = reverse("accounts:token_list", args=[world.team.code])
    form_page = client.get(url)
    assert policy(form_page) == STRICT
    assert_private(form_page)
    response = client.post(url, {"name": "laptop", "kind": "personal", "expires": "30"})
    assert response.status_code == 200 and 'id="token-value"' in response.content.decode()
    assert policy(response) == STRICT
    assert_private(response)


def test_the_alert_channels_page_which_shows_a_signing_secret_once_is_strict(client, world):
    client.force_login(world.owner)
    response = client.get(reverse("orgs:alert_channels", args=[world.team.code]))
    assert response.status_code == 200 and policy(response) == STRICT
    assert_private(response)


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I)
HANDLER = re.compile(r"\son[a-z]+\s*=", re.I)
STYLE = re.compile(r"\sstyle\s*=", re.I)


def test_no_template_needs_unsafe_inline():
    """script-src/style-src 'self': an inline <script>, an on*= handler or a style= attribute would be blocked.
    (Email templates are not served to browsers and keep their inline styles.)"""
    found = []
    for path in sorted(TEMPLATES.rglob("*.html")):
        if "emails" in path.relative_to(TEMPLATES).parts:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for label, pattern in (("inline <script>", INLINE_SCRIPT), ("event handler", HANDLER),
                                   ("style attribute", STYLE)):
                if pattern.search(line):
                    found.append(f"{path.relative_to(TEMPLATES)}:{number}: {label}: {line.strip()[:100]}")
    assert not found, "\n".join(found)
