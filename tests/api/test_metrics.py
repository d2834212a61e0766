"""/metrics (portal/health.py): Prometheus text for internal hosts only; hand-outs counted by channel and outcome,
connections by status read at scrape time."""

import re

import pytest

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

TOKEN_URL = "/api/v1/orgs/{}/access-token"


def scrape(client) -> str:
    response = client.get("/metrics", HTTP_HOST="localhost:8000")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain")
    return response.content.decode()


def value(text: str, name: str, **labels) -> float:
    wanted = ",".join(f'{key}="{val}"' for key, val in labels.items())
    match = re.search(rf"^{name}{{{re.escape(wanted)}}} (\S+)$" if labels else rf"^{name} (\S+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


def test_metrics_are_not_served_on_a_public_host_or_through_a_proxy(client, settings):
    settings.ALLOWED_HOSTS = ["portal.example.com", "localhost"]
    settings.PORTAL_TRUSTED_PROXIES = ()
    assert client.get("/metrics", HTTP_HOST="portal.example.com").status_code == 404
    assert client.get("/metrics", HTTP_HOST="evil.example.net").status_code == 400  # the host check
    assert client.get("/metrics", HTTP_HOST="localhost", HTTP_X_FORWARDED_FOR="203.0.113.9").status_code == 404
    import ipaddress

    settings.PORTAL_TRUSTED_PROXIES = (ipaddress.ip_network("127.0.0.0/8"),)
    assert client.get("/metrics", HTTP_HOST="localhost").status_code == 404  # a proxy's request is public
    settings.PORTAL_TRUSTED_PROXIES = ()
    assert client.get("/metrics", HTTP_HOST="localhost").status_code == 200
    assert client.get("/metrics", HTTP_HOST="[::1]:8000").status_code == 200


def test_hand_outs_move_the_counters_by_channel_and_outcome(client, world, orgs, make_token, settings):
    settings.PORTAL_HANDOUT_RATE_PER_MINUTE = 2
    before = scrape(client)
    issued = make_token(world.owner)
    assert client.post(TOKEN_URL.format("uat"), **issued.auth).status_code == 200
    assert client.post(TOKEN_URL.format("uat"), **issued.auth).status_code == 200
    assert client.post(TOKEN_URL.format("uat"), **issued.auth).status_code == 429
    after = scrape(client)
    ok = ("portal_handouts_total", {"channel": "api", "outcome": "ok"})
    limited = ("portal_handouts_total", {"channel": "api", "outcome": "rate_limited"})
    assert value(after, ok[0], **ok[1]) - value(before, ok[0], **ok[1]) == 2
    assert value(after, limited[0], **limited[1]) - value(before, limited[0], **limited[1]) == 1
    # The web's "Get access token" is its own channel (its budget is the member's, spent above).
    from django.urls import reverse

    client.force_login(world.owner)
    assert client.post(reverse("orgs:token", args=[world.team.code, orgs.sandbox.code])).status_code == 429
    assert value(scrape(client), "portal_handouts_total", channel="web", outcome="rate_limited") - value(
        before, "portal_handouts_total", channel="web", outcome="rate_limited") == 1
    # Scrape-time values: connections by status, from the database.
    from orgs.models import OrgConnection

    connected = OrgConnection.objects.filter(status="connected").count()
    assert connected and value(after, "portal_connections", status="connected") == connected
    assert "# TYPE portal_refresh_seconds histogram" in after


def test_refresh_outcomes_and_the_sweep_age_are_exported(client, world, orgs, settings):
    from orgs.services import refresh, sweeps

    before = scrape(client)
    refresh.connection_refresh(connection_id=orgs.sandbox.pk, force=True)
    sweeps.connections_refresh_sweep()
    after = scrape(client)
    assert value(after, "portal_refreshes_total", outcome="ok") - value(before, "portal_refreshes_total",
                                                                        outcome="ok") == 1
    assert value(after, "portal_refresh_seconds_count") - value(before, "portal_refresh_seconds_count") == 1
    assert 0 <= value(after, "portal_refresh_sweep_age_seconds") < 60
