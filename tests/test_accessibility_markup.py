"""The accessible markup the pages share (issue 19 item 10), checked on the server's HTML: form fields linked to
their help text and errors, radio groups in fieldsets, a skip link to <main>, aria-current in the navigation, a
live region for messages and copy buttons, a caption on every table, and the colour mode set before the first
paint. tests/browser/test_accessibility.py runs axe-core over the rendered pages."""

import re
from pathlib import Path

import pytest
from django.urls import reverse

pytestmark = [pytest.mark.postgres]

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def test_a_field_with_an_error_is_invalid_and_described_by_its_help_text_and_error(client, world):
    client.force_login(world.owner)
    page = client.post(reverse("accounts:token_list", args=[world.team.code]),
                       {"name": "", "kind": "personal", "expires": "30"}).content.decode()
    name = re.search(r"<input[^>]*name=\"name\"[^>]*>", page).group(0)
    assert 'aria-invalid="true"' in name and 'aria-describedby="id_name_helptext id_name_error"' in name
    assert 'id="id_name_helptext"' in page and 'id="id_name_error"' in page
    expires = re.search(r"<select[^>]*name=\"expires\"[^>]*>", page).group(0)
    assert 'aria-invalid' not in expires and 'aria-describedby="id_expires_helptext"' in expires


def test_a_radio_group_is_a_fieldset_with_a_legend(client, world):
    client.force_login(world.owner)
    page = client.get(reverse("accounts:token_list", args=[world.team.code])).content.decode()
    group = re.search(r'<fieldset[^>]*id="field-kind"[^>]*>\s*<legend[^>]*>Kind</legend>(.*?)</fieldset>', page, re.S)
    assert group and group.group(1).count('type="radio"') == 2


def test_form_errors_not_tied_to_a_field_are_an_alert(client, db):
    from tests.conftest import make_user

    make_user("erin@example.com")
    page = client.post(reverse("account_login"), {"login": "erin@example.com", "password": "wrong-password-1"})
    assert re.search(r'<div class="alert alert-danger[^"]*" role="alert" id="form-errors">', page.content.decode())


def test_the_skip_link_main_landmark_live_regions_and_current_page(client, world):
    client.force_login(world.owner)
    page = client.get(reverse("orgs:org_list", args=[world.team.code])).content.decode()
    assert re.search(r'<a class="visually-hidden-focusable[^"]*" href="#main">Skip to main content</a>', page)
    assert '<main class="container-xxl py-4 flex-grow-1" id="main"' in page
    assert '<div class="messages" aria-live="polite">' in page
    assert '<div class="visually-hidden" id="live-status" role="status" aria-live="polite"></div>' in page
    current = re.findall(r'<a class="[^"]*active" aria-current="page" href="([^"]+)"', page)
    assert current == [reverse("orgs:org_list", args=[world.team.code])]
    members = client.get(reverse("accounts:team_members", args=[world.team.code])).content.decode()
    assert re.findall(r'aria-current="page" href="([^"]+)"', members) == [
        reverse("accounts:team_members", args=[world.team.code])]


def test_the_colour_mode_follows_the_system_before_the_first_paint(client, db):
    page = client.get(reverse("account_login")).content.decode()
    head = page.split("</head>")[0]
    assert "data-bs-theme" not in page.split("<head>")[0]  # not fixed in <html>: static/js/theme.js sets it
    assert head.index("js/theme.js") < head.index("bootstrap.min.css")
    assert '<meta name="color-scheme" content="light dark">' in head
    script = (Path(__file__).resolve().parent.parent / "static/js/theme.js").read_text()
    assert "prefers-color-scheme: dark" in script and "data-bs-theme" in script


def test_every_table_has_a_caption():
    missing = []
    for path in sorted(TEMPLATES.rglob("*.html")):
        if "emails" in path.relative_to(TEMPLATES).parts:
            continue
        text = path.read_text()
        for match in re.finditer(r"<table[^>]*>", text):
            if not text[match.end():].lstrip().startswith("<caption"):
                missing.append(f"{path.relative_to(TEMPLATES)}: {match.group(0)}")
    assert not missing, "\n".join(missing)


def test_every_hand_written_radio_or_checkbox_group_is_in_a_fieldset():
    """A group is several inputs sharing a name (a loop); one alone (a yes/no checkbox) needs only its label."""
    missing = []
    for path in sorted(TEMPLATES.rglob("*.html")):
        if "emails" in path.relative_to(TEMPLATES).parts:
            continue
        text = path.read_text()
        for match in re.finditer(r'\{% for [^%]*%\}(?:(?!\{% endfor).)*?type="(?:radio|checkbox)"', text, re.S):
            before = text[:match.start()]
            if before.rfind("<fieldset") <= before.rfind("</fieldset>"):
                missing.append(f"{path.relative_to(TEMPLATES)}: {match.group(0)[:80]}")
    assert not missing, "\n".join(missing)
