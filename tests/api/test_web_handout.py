"""The web UI's "Get access token" (shown once) and "Open in Salesforce" (a POST to frontdoor, sid in the body)."""

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
    assert "no-store" in response["Cache-Control"] and response["Referrer-Policy"] == "no-referrer"
    page = response.content.decode()
    token = orgs.hub.reveal("access_token")
    assert f'value="{token}"' in page and 'id="copy-access-token"' in page
    event = AuditEvent.objects.get(kind="token.issued")
    assert event.actor == world.member and event.data["purpose"] == "web" and token not in str(event.data)


def test_open_in_salesforce_posts_the_token_to_frontdoor(client, world, orgs, sim):
    client.force_login(world.owner)
    response = client.post(reverse("orgs:open", args=[world.team.code, orgs.sandbox.code]))
    assert response.status_code == 200 and response["Referrer-Policy"] == "no-referrer"
    page = response.content.decode()
    assert f'<form method="post" action="{sim.base_url}/secur/frontdoor.jsp"' in page
    assert f'name="sid" value="{orgs.sandbox.reveal("access_token")}"' in page
    assert "frontdoor.jsp?" not in page  # never in a URL
    assert AuditEvent.objects.get(kind="token.issued").data["purpose"] == "open"


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
