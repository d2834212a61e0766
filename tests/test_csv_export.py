"""CSV exports neutralise spreadsheet formulas in every column: the helper, and every CSV the portal writes (the
audit log and the who-can-target-what matrix), each downloaded through its real page."""

import csv
import io

import pytest
from django.urls import reverse

from orgs.models import Grant
from portal.accounts.models import AuditEvent, Membership
from portal.lib.csv_export import csv_download, csv_safe
from tests.conftest import make_user

# OWASP's CSV-injection starters: a spreadsheet reads a formula behind a leading TAB or CR too.
DANGEROUS = ["=HYPERLINK(1)", "+1", "-2", "@SUM(A1)", "\t=cmd|' /C calc'!A0", "\r=1+1"]


def rows_of(response) -> list[list[str]]:
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(response.content.decode(), newline="")))


def assert_no_formula(rows):
    for row in rows:
        for cell in row:
            assert cell[:1] not in ("=", "+", "-", "@", "\t", "\r"), (cell, row)


def test_formula_cells_are_quoted_in_every_column():
    response, writer = csv_download("x.csv", ["a", "b"])
    writer.writerow([*DANGEROUS, "plain", 3, None, "a=b", " tab\tinside"])
    rows = rows_of(response)
    assert response["Content-Disposition"] == 'attachment; filename="x.csv"'
    assert rows == [["a", "b"], ["'=HYPERLINK(1)", "'+1", "'-2", "'@SUM(A1)", "'\t=cmd|' /C calc'!A0", "'\r=1+1",
                                 "plain", "3", "", "a=b", " tab\tinside"]]


@pytest.mark.parametrize("value", DANGEROUS)
def test_every_dangerous_start_is_neutralised(value):
    assert csv_safe(value) == "'" + value


@pytest.mark.django_db
def test_the_audit_log_csv_page_neutralises_every_column(world, client):
    for value in DANGEROUS:
        AuditEvent.objects.create(team=world.team, actor_label=value, kind=value, subject=value,
                                  data={value: value})
    client.force_login(world.owner)
    rows = rows_of(client.get(reverse("accounts:audit_log", args=[world.team.code]), {"format": "csv"}))
    written = [r for r in rows[1:] if r[4].startswith("'")]
    assert len(written) == len(DANGEROUS)
    assert {r[1] for r in written} == {"'" + v for v in DANGEROUS}  # actor
    assert {r[4] for r in written} == {"'" + v for v in DANGEROUS}  # subject
    assert {r[5] for r in written} == {"'" + f"{v}={v}" for v in DANGEROUS}  # details
    assert_no_formula(rows)


@pytest.mark.django_db
def test_the_matrix_csv_page_neutralises_every_column(world, client, sim_app):
    from tests.sharing.conftest import make_connection

    emails = []
    for n, value in enumerate(DANGEROUS):
        # "+1@example.com" and "-2@example.com" are valid addresses; the others stand for whatever reaches a cell.
        user = make_user(f"{value}{n}@example.com")
        emails.append(user.email)  # as stored (lower case, stripped)
        Membership.objects.create(team=world.team, user=user, role="member")
        connection = make_connection(world.team, world.owner, sim_app, username=f"{value}{n}")
        Grant.objects.create(team=world.team, connection=connection, subject_type="member", member=user,
                             level=Grant.Level.TARGET)
    client.force_login(world.admin)
    rows = rows_of(client.get(reverse("orgs:matrix", args=[world.team.code]), {"format": "csv"}))
    assert rows[0] == ["org username", "org id", "type", "status", "member", "level", "why"]
    usernames = {r[0] for r in rows[1:]}
    members = {r[4] for r in rows[1:]}
    for n, value in enumerate(DANGEROUS):
        assert f"'{value}{n}" in usernames
    assert {"'" + e for e in emails} <= members
    assert_no_formula(rows)
