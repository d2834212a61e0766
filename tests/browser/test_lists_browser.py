"""Browser tests in Chromium: with JavaScript off, the org list's filters and page links work as a plain GET form
and the time-zone preference changes how times are shown; at laptop width, the org list fits in both colour modes."""

import pytest

from portal.accounts.models import User
from tests.browser.helpers import submit
from tests.conftest import PASSWORD
from tests.lists.conftest import app, team_orgs  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_filter_search_and_page_without_javascript(browser, live_server, world, team_orgs, settings):  # noqa: F811
    settings.PORTAL_PAGE_SIZE = 2
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    page = context.new_page()
    page.goto("/accounts/login/")
    page.fill("input[name=login]", world.owner.email)
    page.fill("input[name=password]", PASSWORD)
    submit(page)
    page.wait_for_url("**/teams/**")

    page.goto(f"/teams/{world.team.code}/orgs/")
    assert page.locator("#orgs tbody tr[data-alias]").count() == 2
    page.locator("nav[aria-label='Pagination']").get_by_role("link", name="Next").click()
    assert page.locator("#orgs tbody tr[data-alias]").count() == 2

    page.select_option("#id_status", "connected")
    page.fill("#id_q", "acme")
    page.click("#apply-filters")
    aliases = sorted(page.locator("#orgs tbody tr[data-alias]").evaluate_all("rows => rows.map(r => r.dataset.alias)"))
    assert aliases == ["hub-alias", "uat-alias"]
    assert "status=connected" in page.url and "q=acme" in page.url

    page.select_option("#id_type", "scratch")
    page.click("#apply-filters")
    assert page.locator("#no-match").is_visible()
    page.locator("#no-match").get_by_role("link", name="Clear the filters").click()
    assert page.locator("#orgs tbody tr[data-alias]").count() == 2 and "?" not in page.url

    # Preferences: Berlin.
    page.goto("/preferences/")
    page.select_option("#id_time_zone", "Europe/Berlin")
    page.click("#save-preferences")
    assert "Times are now shown in Europe/Berlin." in page.content()
    assert User.objects.get(pk=world.owner.pk).time_zone == "Europe/Berlin"
    context.close()


def test_the_org_list_fits_a_laptop_screen_in_both_colour_modes(browser, live_server, world, team_orgs):  # noqa: F811
    """At 1280 px the whole navigation is on screen (the user menu was pushed past the edge), the alias field keeps
    a usable width (it had collapsed to a few pixels in the table), and in dark mode the Dev Hub badge stands out
    from the page (text-bg-dark on a dark page was invisible)."""
    from allauth.account.models import EmailAddress

    User.objects.filter(pk=world.owner.pk).update(email="owner@demo.example")  # as long as the demo's address
    EmailAddress.objects.filter(user=world.owner).update(email="owner@demo.example")
    for scheme in ("light", "dark"):
        context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 800},
                                      color_scheme=scheme)
        page = context.new_page()
        page.goto("/accounts/login/")
        page.fill("input[name=login]", "owner@demo.example")
        page.fill("input[name=password]", PASSWORD)
        submit(page)
        page.wait_for_url("**/teams/**")
        page.goto(f"/teams/{world.team.code}/orgs/")
        menu = page.locator("#user-menu").bounding_box()
        assert menu["x"] + menu["width"] <= 1280, (scheme, menu)
        assert page.locator("tr[data-alias='hub-alias'] .alias-input").bounding_box()["width"] >= 100
        badge, body = page.evaluate("""() => [
            getComputedStyle(document.querySelector("tr[data-alias='hub-alias'] .org-type")).backgroundColor,
            getComputedStyle(document.querySelector("tr[data-alias='hub-alias']").closest(".card")).backgroundColor]""")
        assert badge != body, (scheme, badge, body)
        context.close()
