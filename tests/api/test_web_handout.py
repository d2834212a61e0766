"""The web UI's "Get access token" (shown once) and "Open in Salesforce" (a single-use frontdoor URL)."""

import pytest
from django.urls import reverse

from orgs.models import Grant
from portal.accounts.models import AuditEvent
from tests.api.conftest import grant

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def test_get_access_token_shows_it_once_with_a_copy_button(client, world, orgs):
    client.force_login(world.member)
    response = client.post(reverse("orgs:token", args=[world.team.code, orgs.hub.code]))
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"] and response["Referrer-Policy"] == "same-origin"
    page = response.content.decode()
    token = orgs.hub.reveal("access_token")
    assert f'value="{token}"' in page and 'id="copy-access-token"' in page
    event = AuditEvent.objects.get(kind="token.issued")
    assert event.actor == world.member and event.data["purpose"] == "web" and token not in str(event.data)


def _frontdoor(url):
    import requests

    return requests.get(url, allow_redirects=False, timeout=10)


def test_open_in_salesforce_redirects_to_a_single_use_frontdoor_url(client, world, orgs, sim):
    """Issue 14 item 11: the browser gets a one-time URL (303), never the reusable access token."""
    client.force_login(world.owner)
    response = client.post(reverse("orgs:open", args=[world.team.code, orgs.sandbox.code]))
    assert response.status_code == 303
    assert "no-store" in response["Cache-Control"] and response["Referrer-Policy"] == "same-origin"
    location = response["Location"]
    token = orgs.sandbox.reveal("access_token")
    assert location.startswith(f"{sim.base_url}/secur/frontdoor.jsp?otp=")
    assert token not in location and token not in response.content.decode()
    assert not any(token in value for _, value in response.items())
    first = _frontdoor(location)
    assert first.status_code == 302 and first.headers["Location"].endswith("/lightning/page/home")
    again = _frontdoor(location)  # single use: the second visit is refused
    assert again.status_code == 302 and "ec=302" in again.headers["Location"]
    singles = [e for e in sim.log() if e["path"] == "/services/oauth2/singleaccess"]
    assert len(singles) == 1 and singles[0]["outcome"] == "ok"
    assert AuditEvent.objects.get(kind="token.issued").data["purpose"] == "open"


def test_open_in_salesforce_without_fallback_shows_an_error_and_no_token(client, world, orgs, sim, settings):
    settings.PORTAL_FRONTDOOR_FORM_FALLBACK = False
    sim.configure(fail_rate=1.0, fail_mode="503", fail_paths=["/services/oauth2/singleaccess"])
    client.force_login(world.owner)
    response = client.post(reverse("orgs:open", args=[world.team.code, orgs.sandbox.code]))
    assert response.status_code == 502 and response["Referrer-Policy"] == "same-origin"
    page = response.content.decode()
    assert 'id="open-error"' in page and "single-use sign-in link" in page
    assert orgs.sandbox.reveal("access_token") not in page and 'name="sid"' not in page


def test_open_in_salesforce_falls_back_to_the_form_only_when_allowed(client, world, orgs, sim, settings):
    settings.PORTAL_FRONTDOOR_FORM_FALLBACK = True
    sim.configure(fail_rate=1.0, fail_mode="503", fail_paths=["/services/oauth2/singleaccess"])
    client.force_login(world.owner)
    response = client.post(reverse("orgs:open", args=[world.team.code, orgs.sandbox.code]))
    assert response.status_code == 200 and response["Referrer-Policy"] == "same-origin"
    page = response.content.decode()
    assert f'<form method="post" action="{sim.base_url}/secur/frontdoor.jsp"' in page
    assert f'name="sid" value="{orgs.sandbox.reveal("access_token")}"' in page
    assert "frontdoor.jsp?" not in page  # never in a URL


def test_get_is_refused(client, world, orgs):
    client.force_login(world.owner)
    assert client.get(reverse("orgs:token", args=[world.team.code, orgs.hub.code])).status_code == 405


@pytest.mark.parametrize(("level", "status"), [(None, 404), (Grant.Level.VIEW, 403)])
def test_viewers_and_strangers_get_nothing(client, world, orgs, level, status):
    if level:
        grant(orgs.sandbox, level=level, member=world.member)
    client.force_login(world.member)
    for name in ("orgs:token", "orgs:open"):
        assert client.post(reverse(name, args=[world.team.code, orgs.sandbox.code])).status_code == status
    client.force_login(world.outsider)
    assert client.post(reverse("orgs:token", args=[world.team.code, orgs.sandbox.code])).status_code == 404
    assert not AuditEvent.objects.filter(kind="token.issued").exists()
