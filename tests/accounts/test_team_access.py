"""The role × action matrix for team management: owner, admin, member, outsider.

Each refused case checks the status (404 for outsiders, 403 for too low a role) and that nothing changed.
"""

import pytest
from django.urls import reverse

from portal.accounts.models import AuditEvent, Invitation, Membership

ROLES = ["owner", "admin", "member", "outsider"]


def snapshot(team):
    return (
        sorted(Membership.objects.filter(team=team).values_list("user__email", "role")),
        sorted(Invitation.objects.filter(team=team).values_list("email", "revoked_at")),
        AuditEvent.objects.filter(team=team).count(),
    )


def member_of(world, email):
    return Membership.objects.get(team=world.team, user__email=email)


# action name -> (method, url builder, post data, expected status per role)
def _actions(world):
    team = world.team.code
    carol = member_of(world, "carol@example.com")
    pending = Invitation.objects.create(team=world.team, email="erin@example.com", invited_by=world.owner)
    return {
        "view dashboard": ("get", reverse("team_dashboard", args=[team]), None,
                           {"owner": 200, "admin": 200, "member": 200, "outsider": 404}),
        "view members": ("get", reverse("accounts:team_members", args=[team]), None,
                         {"owner": 200, "admin": 200, "member": 200, "outsider": 404}),
        "view audit log": ("get", reverse("accounts:audit_log", args=[team]), None,
                           {"owner": 200, "admin": 200, "member": 403, "outsider": 404}),
        "invite": ("post", reverse("accounts:member_invite", args=[team]),
                   {"email": "frank@example.com", "role": "member"},
                   {"owner": 302, "admin": 302, "member": 403, "outsider": 404}),
        "revoke invitation": ("post", reverse("accounts:invitation_revoke", args=[team, pending.code]), None,
                              {"owner": 302, "admin": 302, "member": 403, "outsider": 404}),
        "change role": ("post", reverse("accounts:member_role", args=[team, carol.code]), {"role": "admin"},
                        {"owner": 302, "admin": 302, "member": 403, "outsider": 404}),
        "remove member": ("post", reverse("orgs:member_remove", args=[team, carol.code]), None,
                          {"owner": 302, "admin": 302, "member": 403, "outsider": 404}),
    }


ACTION_NAMES = ["view dashboard", "view members", "view audit log", "invite", "revoke invitation",
                "change role", "remove member"]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", ACTION_NAMES)
def test_team_role_matrix(world, client, role, action):
    method, url, data, expected = _actions(world)[action]
    client.force_login(world.user(role))
    before = snapshot(world.team)
    response = getattr(client, method)(url, data or {})
    assert response.status_code == expected[role], (action, role)
    if expected[role] in (403, 404):
        assert snapshot(world.team) == before, "a refused request changed something"
    elif method == "post":
        assert snapshot(world.team) != before, "an allowed request changed nothing"


def test_anonymous_is_sent_to_login(world, client):
    response = client.get(reverse("accounts:team_members", args=[world.team.code]))
    assert response.status_code == 302
    assert reverse("account_login") in response["Location"]


def test_malformed_team_code_is_404(world, client):
    client.force_login(world.owner)
    assert client.get("/teams/not-a-uuid/").status_code == 404


def test_admin_cannot_touch_an_owner(world, client):
    client.force_login(world.admin)
    owner = member_of(world, "alice@example.com")
    before = snapshot(world.team)
    assert client.post(reverse("accounts:member_role", args=[world.team.code, owner.code]),
                       {"role": "member"}).status_code == 403
    assert client.post(reverse("orgs:member_remove", args=[world.team.code, owner.code])).status_code == 403
    assert snapshot(world.team) == before


def test_admin_cannot_make_owners(world, client):
    client.force_login(world.admin)
    carol = member_of(world, "carol@example.com")
    before = snapshot(world.team)
    response = client.post(reverse("accounts:member_role", args=[world.team.code, carol.code]),
                           {"role": "owner"}, follow=True)
    assert "You cannot give that role." in response.content.decode()
    response = client.post(reverse("accounts:member_invite", args=[world.team.code]),
                           {"email": "zed@example.com", "role": "owner"})
    assert response.status_code == 400
    assert snapshot(world.team) == before


def test_member_cannot_act_on_another_teams_member(world, client):
    """A membership code from another team is not found, even for that team's owner."""
    client.force_login(world.owner)
    foreign = Membership.objects.get(team=world.other_team)
    before = snapshot(world.other_team)
    response = client.post(reverse("orgs:member_remove", args=[world.team.code, foreign.code]))
    assert response.status_code == 404
    assert snapshot(world.other_team) == before


class TestLastOwner:
    def test_last_owner_cannot_be_demoted(self, world, client):
        client.force_login(world.owner)
        me = member_of(world, "alice@example.com")
        assert Membership.objects.owners().filter(team=world.team).count() == 1
        before = snapshot(world.team)
        response = client.post(reverse("accounts:member_role", args=[world.team.code, me.code]),
                               {"role": "member"}, follow=True)
        assert "A team needs at least one owner" in response.content.decode()
        assert snapshot(world.team) == before

    def test_last_owner_cannot_be_removed_or_demoted_by_another_owner_path(self, world, client):
        from portal.accounts.services import ServiceError, membership_change_role, membership_remove

        me = member_of(world, "alice@example.com")
        before = snapshot(world.team)
        with pytest.raises(ServiceError, match="at least one owner"):
            membership_change_role(actor=me, target=me, role="admin")
        with pytest.raises(ServiceError):
            membership_remove(actor=me, target=me)
        assert snapshot(world.team) == before

    def test_last_owner_cannot_leave(self, world, client):
        client.force_login(world.owner)
        before = snapshot(world.team)
        response = client.post(reverse("orgs:team_leave", args=[world.team.code]))
        assert response.status_code == 400
        assert "The last owner can" in response.content.decode()
        assert snapshot(world.team) == before

    def test_owner_can_be_demoted_once_there_is_another_owner(self, world, client):
        bob = member_of(world, "bob@example.com")
        Membership.objects.filter(pk=bob.pk).update(role="owner")
        client.force_login(world.admin)  # bob, now an owner
        alice = member_of(world, "alice@example.com")
        response = client.post(reverse("accounts:member_role", args=[world.team.code, alice.code]),
                               {"role": "admin"})
        assert response.status_code == 302
        alice.refresh_from_db()
        assert alice.role == "admin"
        event = AuditEvent.objects.filter(team=world.team, kind="member.role_changed").first()
        assert event.data == {"from": "owner", "to": "admin"} and event.actor_label == "bob@example.com"


def test_member_can_leave(world, client):
    client.force_login(world.member)
    response = client.post(reverse("orgs:team_leave", args=[world.team.code]))
    assert response.status_code == 302
    assert not Membership.objects.filter(team=world.team, user=world.member).exists()
    assert AuditEvent.objects.filter(team=world.team, kind="member.left", subject="carol@example.com").exists()


def test_outsider_cannot_leave_a_team_they_are_not_in(world, client):
    client.force_login(world.outsider)
    assert client.post(reverse("orgs:team_leave", args=[world.team.code])).status_code == 404


def test_creating_a_team_makes_you_owner_and_is_audited(db, client):
    from tests.conftest import make_user

    user = make_user("new@example.com")
    client.force_login(user)
    response = client.post(reverse("accounts:team_list"), {"name": "  Rocket  "})
    membership = Membership.objects.get(user=user)
    assert response.status_code == 302 and membership.role == "owner" and membership.team.name == "Rocket"
    assert AuditEvent.objects.get(team=membership.team).kind == "team.created"


def test_blank_team_name_rerenders_with_an_error(db, client):
    from tests.conftest import make_user

    client.force_login(make_user("new@example.com"))
    response = client.post(reverse("accounts:team_list"), {"name": "   "})
    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    assert not Membership.objects.exists()


def test_team_switcher_switches_and_refuses_foreign_teams(world, client):
    from portal.accounts.services import team_create

    second = team_create(user=world.owner, name="Zeta")
    client.force_login(world.owner)
    response = client.post(reverse("accounts:team_switch", args=[second.code]))
    assert response.status_code == 302
    assert client.get(reverse("home"))["Location"] == reverse("team_dashboard", args=[second.code])
    assert client.post(reverse("accounts:team_switch", args=[world.other_team.code])).status_code == 404
