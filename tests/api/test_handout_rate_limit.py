"""One hand-out budget per principal across every channel: the web's "Get access token" and "Open in Salesforce"
and the REST API share a member's budget (however many personal tokens they hold); each service token has its own.
Over it: 429 with Retry-After, on the web a page saying so."""

import pytest
from django.urls import reverse

from orgs.models import Grant
from portal.accounts.models import AuditEvent
from tests.api.conftest import grant

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

TOKEN_URL = "/api/v1/orgs/{}/access-token"


def web_token(client, world, connection):
    return client.post(reverse("orgs:token", args=[world.team.code, connection.code]))


def web_open(client, world, connection):
    return client.post(reverse("orgs:open", args=[world.team.code, connection.code]))


def assert_api_429(response):
    assert response.status_code == 429 and response.json()["error"] == "rate_limited"
    assert 1 <= int(response["Retry-After"]) <= 61
    assert "Retry in" in response.json()["message"]


def test_web_and_api_share_one_budget_per_member(client, world, orgs, make_token, settings):
    settings.PORTAL_HANDOUT_RATE_PER_MINUTE = 3
    issued = make_token(world.owner)
    client.force_login(world.owner)
    assert web_token(client, world, orgs.sandbox).status_code == 200
    assert web_open(client, world, orgs.sandbox).status_code == 303  # to a single-use frontdoor URL
    assert client.post(TOKEN_URL.format("uat"), **issued.auth).status_code == 200
    assert_api_429(client.post(TOKEN_URL.format("uat"), **issued.auth))  # the 4th, through the API
    page = web_token(client, world, orgs.sandbox)  # and the web is spent too
    assert page.status_code == 429 and 1 <= int(page["Retry-After"]) <= 61
    assert "Too many access-token requests" in page.content.decode() and page["Cache-Control"]
    assert orgs.sandbox.reveal("access_token") not in page.content.decode()
    opened = web_open(client, world, orgs.sandbox)
    assert opened.status_code == 429 and "Retry-After" in opened
    assert AuditEvent.objects.filter(kind="token.issued").count() == 3  # refused hand-outs issue nothing


def test_a_second_personal_token_does_not_add_budget(client, world, orgs, make_token, settings):
    settings.PORTAL_HANDOUT_RATE_PER_MINUTE = 2
    first, second = make_token(world.owner), make_token(world.owner)
    assert client.post(TOKEN_URL.format("uat"), **first.auth).status_code == 200
    assert client.post(TOKEN_URL.format("uat"), **second.auth).status_code == 200
    assert_api_429(client.post(TOKEN_URL.format("uat"), **make_token(world.owner).auth))
    # another member's budget is their own
    grant(orgs.sandbox, level=Grant.Level.TARGET, member=world.member)
    assert client.post(TOKEN_URL.format(orgs.sandbox.username), **make_token(world.member).auth).status_code == 200


def test_each_service_token_has_its_own_budget(client, world, orgs, make_token, settings):
    settings.PORTAL_HANDOUT_RATE_PER_MINUTE = 2
    ci, other = make_token(world.admin, kind="service"), make_token(world.admin, kind="service")
    for token in (ci, other):
        grant(orgs.sandbox, level=Grant.Level.TARGET, service_token=token.token)
    url = TOKEN_URL.format(orgs.sandbox.username)
    assert [client.post(url, **ci.auth).status_code for _ in range(2)] == [200, 200]
    assert_api_429(client.post(url, **ci.auth))
    assert client.post(url, **other.auth).status_code == 200  # its own budget
    client.force_login(world.admin)  # the admin who created them is a different principal
    assert web_token(client, world, orgs.sandbox).status_code == 200


def test_a_member_over_budget_is_refused_before_salesforce_is_asked(client, world, orgs, make_token, settings, sim):
    settings.PORTAL_HANDOUT_RATE_PER_MINUTE = 0
    orgs.sandbox.seal("access_token", None)  # a hand-out would have to refresh at Salesforce
    orgs.sandbox.save()
    issued = make_token(world.owner)
    sim.clear_log()
    assert_api_429(client.post(TOKEN_URL.format("uat"), **issued.auth))
    assert sim.log() == []
    orgs.sandbox.refresh_from_db()
    assert orgs.sandbox.reveal("access_token") is None
