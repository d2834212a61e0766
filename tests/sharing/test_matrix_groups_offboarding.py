"""The "who can target what" matrix and its CSV, groups, member profiles, and offboarding."""

import csv
import io

import pytest
from django.urls import reverse

from orgs.models import Grant, OrgAlias, OrgConnection
from portal.accounts.models import ApiToken, AuditEvent, Membership, TeamGroup


def matrix(client, world, **params):
    return client.get(reverse("orgs:matrix", args=[world.team.code]), params)


def table(response) -> str:
    html = response.content.decode()
    return html[html.index('id="matrix"'):html.index("</table>", html.index('id="matrix"'))]


def test_matrix_cells_show_level_and_why(shared, world, client):
    client.force_login(world.admin)
    html = matrix(client, world).content.decode()
    assert "target <span class=\"text-body-secondary\">(via group QA)" in html
    assert "manage <span class=\"text-body-secondary\">(owner)" in html


def test_members_see_only_rows_of_orgs_visible_to_them(shared, world, client, sim_app):
    from tests.sharing.conftest import make_connection

    hidden = make_connection(world.team, world.admin, sim_app, username="secret@prod.example", kind="production")
    client.force_login(shared["people"]["grace"])
    html = matrix(client, world).content.decode()
    assert "dev@acme.example.uat" in html and hidden.username not in html
    client.force_login(shared["people"]["henry"])
    assert "dev@acme.example.uat" not in matrix(client, world).content.decode()
    client.force_login(world.admin)
    assert hidden.username in matrix(client, world).content.decode()


def test_matrix_filters(shared, world, client, sim_app):
    from tests.sharing.conftest import make_connection

    make_connection(world.team, world.admin, sim_app, username="hub@prod.example", kind="production", is_devhub=True)
    client.force_login(world.admin)
    html = matrix(client, world, type="devhub").content.decode()
    assert "hub@prod.example" in html and "dev@acme.example.uat" not in html
    html = matrix(client, world, type="sandbox").content.decode()
    assert "hub@prod.example" not in html and "dev@acme.example.uat" in html
    OrgConnection.objects.filter(username="hub@prod.example").update(status="needs_reauth")
    html = matrix(client, world, status="needs_reauth").content.decode()
    assert "hub@prod.example" in html and "dev@acme.example.uat" not in html
    html = table(matrix(client, world, group=str(shared["qa"].code)))
    assert "grace@example.com" in html and "tara@example.com" not in html
    grace = Membership.objects.get(team=world.team, user=shared["people"]["grace"])
    html = table(matrix(client, world, member=str(grace.code)))
    assert "grace@example.com" in html and "tara@example.com" not in html
    assert matrix(client, world, member="not-a-uuid").status_code == 200


def test_matrix_csv_export(shared, world, client):
    client.force_login(world.admin)
    response = matrix(client, world, format="csv")
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["org username", "org id", "type", "status", "member", "level", "why"]
    assert ["dev@acme.example.uat", shared["connection"].org_id, "Sandbox", "Connected", "grace@example.com",
            "target", "via group QA"] in rows
    assert not any(r[4] == "henry@example.com" for r in rows[1:])


def test_member_profile_lists_the_orgs_they_can_target(shared, world, client):
    grace = Membership.objects.get(team=world.team, user=shared["people"]["grace"])
    vic = Membership.objects.get(team=world.team, user=shared["people"]["vic"])
    client.force_login(world.admin)
    assert "dev@acme.example.uat" in client.get(
        reverse("orgs:member_profile", args=[world.team.code, grace.code])).content.decode()
    assert "dev@acme.example.uat" not in client.get(  # vic can only view it
        reverse("orgs:member_profile", args=[world.team.code, vic.code])).content.decode()
    client.force_login(world.outsider)
    assert client.get(reverse("orgs:member_profile", args=[world.team.code, grace.code])).status_code == 404


def test_shared_org_gets_an_alias_per_member_suggested_from_the_owners(shared, world, client):
    client.force_login(shared["people"]["grace"])
    client.get(reverse("orgs:org_list", args=[world.team.code]))
    owner_alias = OrgAlias.objects.get(user=shared["people"]["erin"]).alias
    assert OrgAlias.objects.get(user=shared["people"]["grace"]).alias == owner_alias
    client.post(reverse("orgs:org_default", args=[world.team.code, shared["connection"].code]), {"which": "org"})
    assert OrgAlias.objects.get(user=shared["people"]["grace"]).is_default_org
    assert not OrgAlias.objects.get(user=shared["people"]["erin"]).is_default_org


# -- groups ------------------------------------------------------------------------------------------------------------

def test_admins_manage_groups_and_membership_changes_are_audited(world, client):
    client.force_login(world.admin)
    url = reverse("orgs:groups", args=[world.team.code])
    client.post(url, {"action": "create", "name": "Release managers"})
    group = TeamGroup.objects.get(name="Release managers")
    carol = Membership.objects.get(team=world.team, user=world.member)
    client.post(url, {"action": "add", "group": str(group.code), "member": str(carol.code)})
    assert list(group.members.all()) == [carol]
    client.post(url, {"action": "remove", "group": str(group.code), "member": str(carol.code)})
    assert not group.members.exists()
    kinds = set(AuditEvent.objects.filter(team=world.team).values_list("kind", flat=True))
    assert {"group.created", "group.member_added", "group.member_removed"} <= kinds
    response = client.post(url, {"action": "create", "name": "Release managers"}, follow=True)
    assert "already a group called" in response.content.decode()
    foreign = Membership.objects.get(team=world.other_team)
    response = client.post(url, {"action": "add", "group": str(group.code), "member": str(foreign.code)},
                           follow=True)
    assert "not in this team" in response.content.decode() and not group.members.exists()


@pytest.mark.parametrize(("role", "status"), [("member", 403), ("outsider", 404)])
def test_groups_page_is_for_admins(world, client, role, status):
    client.force_login(world.user(role))
    assert client.get(reverse("orgs:groups", args=[world.team.code])).status_code == status
    assert client.post(reverse("orgs:groups", args=[world.team.code]),
                       {"action": "create", "name": "X"}).status_code == status
    assert not TeamGroup.objects.filter(name="X").exists()


# -- offboarding -------------------------------------------------------------------------------------------------------

def remove(client, world, user, **decisions):
    member = Membership.objects.get(team=world.team, user=user)
    return client.post(reverse("orgs:member_remove", args=[world.team.code, member.code]), decisions)


def test_removal_dialog_lists_the_people_who_use_the_leavers_orgs(shared, world, client):
    client.force_login(world.admin)
    erin = Membership.objects.get(team=world.team, user=shared["people"]["erin"])
    html = client.get(reverse("orgs:member_remove", args=[world.team.code, erin.code])).content.decode()
    import re

    affected = re.search(r'<span class="text-danger">([^<]*)</span>', html).group(1)
    assert affected.split(", ") == ["grace@example.com", "manny@example.com", "tara@example.com", "vic@example.com"]


def test_removal_needs_a_decision_for_each_owned_org(shared, world, client):
    client.force_login(world.admin)
    response = remove(client, world, shared["people"]["erin"])
    assert response.status_code == 400 and "Choose what happens to dev@acme.example.uat" in response.content.decode()
    assert Membership.objects.filter(team=world.team, user=shared["people"]["erin"]).exists()


def test_offboarding_with_transfer(shared, world, client, mailoutbox, django_capture_on_commit_callbacks):
    erin = shared["people"]["erin"]
    token = ApiToken.objects.create(team=world.team, kind="personal", user=erin, name="laptop", token_hash="x" * 64,
                                    hint="op_abc")
    Grant.objects.create(team=world.team, connection=shared["connection"], subject_type="role", role="member",
                         level=1)
    shared["qa"].members.add(Membership.objects.get(team=world.team, user=erin))
    manny = Membership.objects.get(team=world.team, user=shared["people"]["manny"])
    client.force_login(world.admin)
    with django_capture_on_commit_callbacks(execute=True):
        response = remove(client, world, erin, **{f"decision-{shared['connection'].code}": str(manny.code)})
    assert response.status_code == 302
    connection = OrgConnection.objects.get(pk=shared["connection"].pk)
    assert connection.owner == shared["people"]["manny"]
    assert not Grant.objects.filter(member=shared["people"]["manny"]).exists()  # now implied by ownership
    assert Grant.objects.filter(group=shared["qa"]).exists()  # grace keeps her access
    assert not Membership.objects.filter(team=world.team, user=erin).exists()
    assert not shared["qa"].members.filter(user=erin).exists()
    assert not OrgAlias.objects.filter(user=erin).exists()
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert AuditEvent.objects.get(kind="org.transferred").data["to"] == "manny@example.com"
    assert any("was offboarded" in m.subject for m in mailoutbox)


def test_offboarding_with_disconnect_revokes_at_salesforce(shared, world, client, sim):
    import hashlib

    token_hash = hashlib.sha256(shared["connection"].reveal("refresh_token").encode()).hexdigest()[:16]
    sim.clear_log()
    client.force_login(world.admin)
    response = remove(client, world, shared["people"]["erin"],
                      **{f"decision-{shared['connection'].code}": "disconnect"})
    assert response.status_code == 302
    assert not OrgConnection.objects.filter(pk=shared["connection"].pk).exists()
    assert any(e["path"] == "/services/oauth2/revoke" and e.get("token_sha256") == token_hash for e in sim.log())


def test_a_member_leaving_removes_their_grants_and_sessions(shared, world, client):
    from allauth.usersessions.models import UserSession

    tara = shared["people"]["tara"]
    client.force_login(tara)
    UserSession.objects.create(user=tara, session_key=client.session.session_key, ip="127.0.0.1")
    response = client.post(reverse("orgs:team_leave", args=[world.team.code]))
    assert response.status_code == 302
    assert not Grant.objects.filter(member=tara).exists()
    assert not UserSession.objects.filter(user=tara).exists()
    assert AuditEvent.objects.filter(kind="member.left", subject="tara@example.com").exists()
