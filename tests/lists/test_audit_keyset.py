"""The audit log pages by key ((created_at, id), "Older" / "Newer"), never counts the table, and visits every event
exactly once, ties on created_at included; its filters and the CSV export keep working."""

import html as htmllib
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.urls import reverse

from portal.accounts.models import AuditEvent

pytestmark = [pytest.mark.postgres]

START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def events(world):
    """120 events in Acme, three per timestamp (ties), plus Globex's events that must never show."""
    AuditEvent.objects.bulk_create(
        [AuditEvent(team=world.team, kind="org.renamed" if n % 2 else "team.created", subject=f"event-{n:03d}",
                    created_at=START + timedelta(minutes=n // 3)) for n in range(120)]
        + [AuditEvent(team=world.other_team, kind="team.created", subject=f"globex-{n}", created_at=START)
           for n in range(5)])
    return AuditEvent.objects.filter(team=world.team, subject__startswith="event-")


class Statements:
    def __init__(self):
        self.sql = []

    def __call__(self, execute, sql, params, many, context):
        self.sql.append(sql)
        return execute(sql, params, many, context)


def subjects(html):
    return re.findall(r"<td>(event-\d{3}|globex-\d+)</td>", html)


def link(html, css):
    match = re.search(rf'class="page-link {css}"[^>]*href="([^"]+)"', html)
    return htmllib.unescape(match[1]) if match else None


def walk(client, url, start_query="", direction="page-older"):
    pages, href = [], "?" + start_query
    while href:
        html = client.get(url + href).content.decode()
        pages.append(subjects(html))
        href = link(html, direction)
    return pages, html


def test_paging_visits_every_event_once_and_never_counts(client, world, events, settings):
    settings.PORTAL_PAGE_SIZE = 50
    client.force_login(world.owner)
    url = reverse("accounts:audit_log", args=[world.team.code])
    statements = Statements()
    with connection.execute_wrapper(statements):
        pages, last = walk(client, url, "kind=")
    # 121 events: the 120 and the team's own "Team created" (the newest), 50 a page.
    assert [len(p) for p in pages] == [49, 50, 21] and last.count('<time datetime="') == 21
    seen = [s for page in pages for s in page]
    assert len(seen) == 120 and set(seen) == {f"event-{n:03d}" for n in range(120)}
    assert seen == [f"event-{n:03d}" for n in reversed(range(120))]  # newest first; ties by id
    audit_sql = [sql for sql in statements.sql if "accounts_auditevent" in sql]
    assert audit_sql and not [sql for sql in statements.sql if "COUNT(" in sql.upper()]
    assert not [sql for sql in audit_sql if "OFFSET" in sql.upper()]
    # And back: "Newer" from the oldest page visits the same pages in reverse.
    with connection.execute_wrapper(statements):
        back, _ = walk(client, url, link(last, "page-newer").lstrip("?"), "page-newer")
    assert back == pages[1::-1]
    assert not [sql for sql in statements.sql if "COUNT(" in sql.upper()]


def test_filters_are_kept_while_paging(client, world, events, settings):
    settings.PORTAL_PAGE_SIZE = 25
    client.force_login(world.owner)
    url = reverse("accounts:audit_log", args=[world.team.code])
    pages, _ = walk(client, url, "kind=org.renamed")
    seen = [s for page in pages for s in page]
    assert [len(p) for p in pages] == [25, 25, 10]
    assert set(seen) == {f"event-{n:03d}" for n in range(1, 120, 2)}


def test_the_first_and_last_pages_offer_the_right_links(client, world, events, settings):
    settings.PORTAL_PAGE_SIZE = 50
    client.force_login(world.owner)
    html = client.get(reverse("accounts:audit_log", args=[world.team.code])).content.decode()
    assert 'aria-label="Pagination"' in html and 'aria-current="page">Newest<' in html
    assert link(html, "page-newer") is None and link(html, "page-older")
    settings.PORTAL_PAGE_SIZE = 500
    html = client.get(reverse("accounts:audit_log", args=[world.team.code])).content.decode()
    assert 'aria-label="Pagination"' not in html  # everything fits: no pagination at all


@pytest.mark.parametrize("query", ["before=garbage", "after=1-", "before=99999999999999999999-1",
                                   "before=9999999999999999999-1", "after=-5-3", "before=&after="])
def test_garbage_cursors_show_a_page_not_a_500(client, world, events, settings, query):
    settings.PORTAL_PAGE_SIZE = 50
    client.force_login(world.owner)
    response = client.get(reverse("accounts:audit_log", args=[world.team.code]) + "?" + query)
    assert response.status_code == 200
    assert len(subjects(response.content.decode())) <= 50


def test_the_csv_export_ignores_the_cursor_and_keeps_the_filters(client, world, events, settings):
    settings.PORTAL_PAGE_SIZE = 10
    client.force_login(world.owner)
    url = reverse("accounts:audit_log", args=[world.team.code])
    html = client.get(url, {"kind": "org.renamed"}).content.decode()
    older = link(html, "page-older")
    csv_href = htmllib.unescape(re.search(r'id="audit-csv" href="([^"]+)"', client.get(url + older).content
                                          .decode())[1])
    assert "before=" not in csv_href and "kind=org.renamed" in csv_href
    response = client.get(url + csv_href)
    body = (b"".join(response.streaming_content) if response.streaming else response.content).decode()
    assert body.count("org.renamed") == 60 and "globex" not in body
