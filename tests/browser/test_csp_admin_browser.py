"""The Django admin under the site's Content-Security-Policy (no exception for /admin/): signed in through allauth
as a superuser, its index, a change list with search and filters, a read-only detail page and the editable user page
load in Chromium with no CSP violation and no script error, and its own scripts run (the sidebar filter)."""

import pytest
from django.urls import reverse

from tests.accounts.test_admin_login import admin_urls  # noqa: F401 - the fixture mounting the admin
from tests.conftest import PASSWORD, make_user

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_the_admin_works_under_the_site_policy(page, world, admin_urls):  # noqa: F811
    root = make_user("root@example.com", is_staff=True, is_superuser=True)
    reports = []
    page.on("console", lambda m: reports.append(m.text) if "Content Security Policy" in m.text
            or "Refused to" in m.text else None)
    page.on("pageerror", lambda exc: reports.append(f"script error: {exc}"))
    page.goto(f"{reverse('account_login')}?next=/admin/")
    page.fill("input[name=login]", root.email)
    page.fill("input[name=password]", PASSWORD)
    page.locator("main button[type=submit]").first.click()
    page.wait_for_url("**/admin/")
    response = page.goto("/admin/")
    assert "default-src 'self'" in response.headers["content-security-policy"]
    for url in (reverse("admin:accounts_team_changelist") + "?q=Acme",
                reverse("admin:accounts_team_change", args=[world.team.pk]),
                reverse("admin:accounts_user_change", args=[world.owner.pk])):
        assert page.goto(url).status == 200
        page.wait_for_load_state("load")
    page.goto(reverse("admin:accounts_team_changelist"))
    rows = page.locator("#nav-sidebar tbody tr")
    assert rows.first.is_visible()
    page.fill("#nav-filter", "zzz-no-such-model")  # admin/js/nav_sidebar.js hides the models that don't match
    page.wait_for_function("() => [...document.querySelectorAll('#nav-sidebar tbody tr')]"
                           ".every(row => row.offsetParent === null)")
    assert not reports, "\n".join(reports)
