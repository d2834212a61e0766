"""Times in the person's own time zone (a preference from the user menu), UTC on hover; emails stay in UTC."""

from datetime import UTC, datetime

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from orgs.models import OrgConnection
from portal.accounts.models import AuditEvent, User

pytestmark = [pytest.mark.postgres]

WINTER = datetime(2026, 1, 15, 12, 0, 5, tzinfo=UTC)  # Berlin: 13:00 (CET)
SUMMER = datetime(2026, 7, 15, 12, 0, 5, tzinfo=UTC)  # Berlin: 14:00 (CEST)


def set_zone(user, name):
    User.objects.filter(pk=user.pk).update(time_zone=name)


@pytest.fixture
def berlin(world, client):
    set_zone(world.owner, "Europe/Berlin")
    client.force_login(world.owner)
    return client


def test_the_default_zone_is_utc(world):
    assert User.objects.get(pk=world.member.pk).time_zone == "UTC"


def test_a_user_in_berlin_sees_local_times_with_utc_on_hover(berlin, world):
    AuditEvent.objects.bulk_create([AuditEvent(team=world.team, kind="team.created", subject="winter",
                                               created_at=WINTER),
                                    AuditEvent(team=world.team, kind="team.created", subject="summer",
                                               created_at=SUMMER)])
    html = berlin.get(reverse("accounts:audit_log", args=[world.team.code])).content.decode()
    assert ('<time datetime="2026-01-15T12:00:05Z" title="2026-01-15 12:00:05 UTC">2026-01-15 13:00:05</time>'
            in html)
    assert ('<time datetime="2026-07-15T12:00:05Z" title="2026-07-15 12:00:05 UTC">2026-07-15 14:00:05</time>'
            in html)


def test_the_same_page_in_utc_for_someone_else(client, world):
    AuditEvent.objects.create(team=world.team, kind="team.created", subject="winter", created_at=WINTER)
    client.force_login(world.admin)
    html = client.get(reverse("accounts:audit_log", args=[world.team.code])).content.decode()
    assert '<time datetime="2026-01-15T12:00:05Z" title="2026-01-15 12:00:05 UTC">2026-01-15 12:00:05</time>' in html


def test_the_org_list_shows_the_last_refresh_in_local_time(berlin, world, team_orgs):
    OrgConnection.objects.filter(pk=team_orgs["uat"].pk).update(last_refresh_at=SUMMER)
    html = berlin.get(reverse("orgs:org_list", args=[world.team.code])).content.decode()
    assert '<time datetime="2026-07-15T12:00:05Z" title="2026-07-15 12:00 UTC">2026-07-15 14:00</time>' in html


def test_a_date_near_midnight_moves_to_the_local_day(client, world):
    from portal.accounts.models import Membership

    Membership.objects.filter(team=world.team, user=world.member).update(
        created_at=datetime(2026, 3, 1, 23, 30, tzinfo=UTC))
    set_zone(world.owner, "Asia/Tokyo")
    client.force_login(world.owner)
    html = client.get(reverse("accounts:team_members", args=[world.team.code])).content.decode()
    assert 'title="2026-03-01 23:30 UTC">2026-03-02</time>' in html


def test_an_unknown_stored_zone_falls_back_to_utc(client, world):
    set_zone(world.owner, "Atlantis/Capital")  # e.g. a name a newer tzdata dropped
    AuditEvent.objects.create(team=world.team, kind="team.created", subject="winter", created_at=WINTER)
    client.force_login(world.owner)
    response = client.get(reverse("accounts:audit_log", args=[world.team.code]))
    assert response.status_code == 200
    assert 'title="2026-01-15 12:00:05 UTC">2026-01-15 12:00:05</time>' in response.content.decode()


def test_the_zone_does_not_leak_into_the_next_request(berlin, world):
    berlin.get(reverse("accounts:audit_log", args=[world.team.code]))
    assert timezone.get_current_timezone_name() == "UTC"


# -- the preference ----------------------------------------------------------------------------------------------------

def test_preferences_are_in_the_user_menu(client, world):
    client.force_login(world.member)
    html = client.get(reverse("accounts:team_list")).content.decode()
    assert f'href="{reverse("accounts:preferences")}" id="preferences-link"' in html


def test_choosing_a_zone(client, world):
    client.force_login(world.member)
    url = reverse("accounts:preferences")
    page = client.get(url).content.decode()
    assert '<option value="Europe/Berlin">Europe/Berlin</option>' in page
    assert '<option value="UTC" selected>UTC</option>' in page
    response = client.post(url, {"time_zone": "Europe/Berlin"}, follow=True)
    assert response.redirect_chain == [(url, 302)]
    assert User.objects.get(pk=world.member.pk).time_zone == "Europe/Berlin"
    html = response.content.decode()
    assert "Times are now shown in Europe/Berlin." in html
    assert '<option value="Europe/Berlin" selected>Europe/Berlin</option>' in html


@pytest.mark.parametrize("value", ["Mars/Olympus_Mons", "", "europe/berlin", "<script>", "Factory"])
def test_a_bad_zone_is_refused_with_a_clear_message(client, world, value):
    client.force_login(world.member)
    response = client.post(reverse("accounts:preferences"), {"time_zone": value})
    assert response.status_code == 400
    html = response.content.decode()
    assert ("is not a time zone we know" in html) or ("This field is required" in html)
    assert "<script>" not in html.split("<main")[1]
    assert User.objects.get(pk=world.member.pk).time_zone == "UTC"


def test_the_model_and_the_service_check_the_name_too(world):
    from portal.accounts.services import ServiceError, user_preferences_set

    world.member.time_zone = "Nowhere/Special"
    with pytest.raises(ValidationError):
        world.member.full_clean()
    with pytest.raises(ServiceError):
        user_preferences_set(user=world.member, time_zone="Nowhere/Special")
    user_preferences_set(user=world.owner, time_zone="America/New_York")
    assert User.objects.get(pk=world.owner.pk).time_zone == "America/New_York"


def test_preferences_need_a_sign_in(client):
    response = client.get(reverse("accounts:preferences"))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_the_zone_list_comes_from_the_system_zoneinfo():
    import zoneinfo

    from portal.lib.timezones import available

    names = available()
    assert names[0] == "UTC" and "Europe/Berlin" in names and "America/Sao_Paulo" in names
    assert set(names) <= zoneinfo.available_timezones()


# -- emails stay in UTC --------------------------------------------------------------------------------------------

def test_emails_render_in_utc_whatever_zone_the_request_activated(world, monkeypatch):
    import zoneinfo

    from portal.accounts import mail

    zones = []

    def render(name, context):
        zones.append(timezone.get_current_timezone_name())
        return "body"

    monkeypatch.setattr(mail, "render_to_string", render)
    with timezone.override(zoneinfo.ZoneInfo("Europe/Berlin")):
        mail.mail_send(template="invitation", context={}, recipients=[world.member.email], kind="invitation",
                       subject="Hello")
        assert timezone.get_current_timezone_name() == "Europe/Berlin"
    assert zones == ["UTC", "UTC"]


def test_the_time_element_escapes_and_handles_none():
    from portal.lib.timezones import time_html

    assert time_html(None) == ""
    assert str(time_html(datetime(2026, 1, 1, 0, 0, tzinfo=UTC))) == (
        '<time datetime="2026-01-01T00:00:00Z" title="2026-01-01 00:00 UTC">2026-01-01 00:00</time>')


def test_the_zone_middleware_runs_after_authentication_and_never_for_the_api(settings):
    order = settings.MIDDLEWARE
    mine = order.index("portal.accounts.middleware.UserTimezoneMiddleware")
    assert mine > order.index("django.contrib.auth.middleware.AuthenticationMiddleware")
    assert mine > order.index("orgs.api.middleware.ApiShortcutMiddleware")  # /api/v1/ is answered before it


def test_audit_date_filters_use_the_viewers_days_and_the_csv_stays_in_utc(client, world):
    late = datetime(2026, 1, 15, 23, 30, tzinfo=UTC)  # already 16 January in Berlin
    AuditEvent.objects.create(team=world.team, kind="org.renamed", subject="late-night", created_at=late)
    url = reverse("accounts:audit_log", args=[world.team.code])
    query = {"date_from": "2026-01-16", "date_to": "2026-01-16"}
    client.force_login(world.admin)  # UTC
    assert "late-night" not in client.get(url, query).content.decode()
    set_zone(world.owner, "Europe/Berlin")
    client.force_login(world.owner)
    assert "late-night" in client.get(url, query).content.decode()
    response = client.get(url, {**query, "format": "csv"})
    body = (b"".join(response.streaming_content) if response.streaming else response.content).decode()
    assert "2026-01-15 23:30:00" in body and "late-night" in body
