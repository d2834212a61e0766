"""Every level and grant source × every action on a shared org: HTTP status, and nothing changed on refusal."""

import pytest
from django.urls import reverse

from orgs.access import Access, effective_access
from orgs.models import Grant, OrgAlias, OrgConnection
from portal.accounts.models import AuditEvent, Membership

# who: (expected level label or None, reason)
WHO = {
    "erin": ("manage", "owner"),
    "admin": ("manage", "team admin"),
    "owner_of_team": ("manage", "team admin"),
    "manny": ("manage", "direct"),
    "tara": ("target", "direct"),
    "grace": ("target", "via group QA"),
    "vic": ("view", "direct"),
    "henry": (None, None),
    "outsider": (None, None),
}
LEVEL = {"view": 1, "target": 2, "manage": 3}


def state(connection):
    return (list(OrgConnection.objects.filter(pk=connection.pk).values_list("owner_id", "status", "refresh_token")),
            sorted(Grant.objects.filter(connection=connection).values_list("subject_type", "level")),
            sorted(OrgAlias.objects.filter(connection=connection).values_list("user_id", "alias")),
            AuditEvent.objects.count())


def test_effective_access_reasons(shared, world):
    pairs = effective_access(team=world.team)
    connection = shared["connection"]
    for who, (label, reason) in WHO.items():
        found = pairs.get((shared["people"][who].pk, connection.pk))
        if label is None:
            assert found is None, who
        else:
            assert (found.level_label, found.reason) == (label, reason), who


def actions(world, shared):
    connection = shared["connection"]
    team = world.team.code
    grant = Grant.objects.get(connection=connection, member=shared["people"]["vic"])
    return {
        "open Access tab": ("get", reverse("orgs:org_access", args=[team, connection.code]), {}, 1),
        "share": ("post", reverse("orgs:grant_add", args=[team, connection.code]),
                  {"subject_type": "member", "level": "1",
                   "subject": str(Membership.objects.get(team=world.team, user=shared["people"]["henry"]).code)}, 3),
        "unshare": ("post", reverse("orgs:grant_update", args=[team, connection.code, grant.code]),
                    {"action": "remove"}, 3),
        "rename": ("post", reverse("orgs:org_rename", args=[team, connection.code]), {"alias": "renamed"}, 2),
        "reconnect": ("post", reverse("orgs:org_reconnect", args=[team, connection.code]), {}, 3),
        "disconnect": ("post", reverse("orgs:org_disconnect", args=[team, connection.code]), {}, 3),
    }


ACTIONS = ["open Access tab", "share", "unshare", "rename", "reconnect", "disconnect"]


@pytest.mark.parametrize("who", list(WHO))
@pytest.mark.parametrize("action", ACTIONS)
def test_level_by_action_matrix(shared, world, client, who, action):
    method, url, data, needs = actions(world, shared)[action]
    client.force_login(shared["people"][who])
    if action == "rename":
        client.get(reverse("orgs:org_list", args=[world.team.code]))  # the member's alias is created on first view
    connection = shared["connection"]
    before = state(connection)
    response = getattr(client, method)(url, data)
    label, _ = WHO[who]
    if label is None:
        expected = 404
    elif LEVEL[label] < needs:
        expected = 403
    else:
        expected = 200 if method == "get" else 302
    assert response.status_code == expected, (who, action, response.status_code)
    if expected in (403, 404):
        assert state(connection) == before, (who, action)
    elif method == "post":
        assert state(connection) != before or action == "reconnect", (who, action)


@pytest.mark.parametrize("who", list(WHO))
def test_view_page_lists_exactly_the_visible_orgs(shared, world, client, who):
    client.force_login(shared["people"][who])
    response = client.get(reverse("orgs:org_list", args=[world.team.code]))
    if who == "outsider":
        assert response.status_code == 404
        return
    label, reason = WHO[who]
    html = response.content.decode()
    assert ("dev@acme.example.uat" in html) == (label is not None), who
    if label:
        assert f'{label}</span> <span class="text-body-secondary">{reason}' in html


def test_access_tab_shows_grants_to_managers_and_only_own_level_to_others(shared, world, client):
    url = reverse("orgs:org_access", args=[world.team.code, shared["connection"].code])
    client.force_login(shared["people"]["manny"])
    html = client.get(url).content.decode()
    assert 'id="grants"' in html and "group QA" in html and "tara@example.com" in html
    client.force_login(shared["people"]["tara"])
    html = client.get(url).content.decode()
    assert 'id="grants"' not in html and "Your level: <strong>target</strong> (direct)" in html


# -- refusals that depend on the request -------------------------------------------------------------------------------

def post_share(client, world, shared, **data):
    return client.post(reverse("orgs:grant_add", args=[world.team.code, shared["connection"].code]), data,
                       follow=True)


def test_sharing_into_another_team_is_refused(shared, world, client):
    client.force_login(shared["people"]["erin"])
    before = state(shared["connection"])
    foreign = Membership.objects.get(team=world.other_team)
    response = post_share(client, world, shared, subject_type="member", subject=str(foreign.code), level="2")
    assert "only share with members, groups and service tokens of this team" in response.content.decode()
    assert state(shared["connection"]) == before


def test_duplicate_grant_is_refused(shared, world, client):
    client.force_login(shared["people"]["erin"])
    before = state(shared["connection"])
    response = post_share(client, world, shared, subject_type="group", subject=str(shared["qa"].code), level="1")
    assert "already shared with group QA; change that grant" in response.content.decode()
    assert state(shared["connection"]) == before


def test_the_owners_own_manage_level_cannot_be_changed(shared, world, client):
    client.force_login(world.admin)
    before = state(shared["connection"])
    erin = Membership.objects.get(team=world.team, user=shared["people"]["erin"])
    response = post_share(client, world, shared, subject_type="member", subject=str(erin.code), level="1")
    assert "owner of a connection always has manage" in response.content.decode()
    assert state(shared["connection"]) == before


def test_sharing_above_your_own_level_is_refused(shared, world):
    from orgs.services.sharing import grant_add
    from portal.accounts.services import ServiceError

    actor = Membership.objects.get(team=world.team, user=shared["people"]["tara"])
    before = state(shared["connection"])
    with pytest.raises(ServiceError, match="higher level than your own"):
        grant_add(actor=actor, actor_access=Access(2, "direct"), connection=shared["connection"], subject_type="role",
                  role="member", level=3)
    assert state(shared["connection"]) == before


@pytest.mark.parametrize("level", ["0", "4", "x", ""])
def test_bad_levels_are_refused(shared, world, client, level):
    client.force_login(shared["people"]["erin"])
    before = state(shared["connection"])
    response = post_share(client, world, shared, subject_type="role", subject="member", level=level)
    assert "Choose view, target or manage" in response.content.decode()
    assert state(shared["connection"]) == before


def test_production_and_dev_hub_sharing_follows_team_policy(shared, world, client, sim_app):
    from tests.sharing.conftest import make_connection

    erin = shared["people"]["erin"]
    hub = make_connection(world.team, erin, sim_app, kind="production", is_devhub=True)
    url = reverse("orgs:grant_add", args=[world.team.code, hub.code])
    data = {"subject_type": "role", "subject": "member", "level": "2"}
    client.force_login(erin)
    assert client.post(url, data).status_code == 403  # default policy: only team admins
    assert not Grant.objects.filter(connection=hub).exists()
    client.force_login(world.admin)
    assert client.post(url, data).status_code == 302
    Grant.objects.filter(connection=hub).delete()
    world.team.share_production_policy = "managers"
    world.team.save()
    client.force_login(erin)
    assert client.post(url, data).status_code == 302
    assert Grant.objects.filter(connection=hub).count() == 1


def test_sharing_changes_are_audited_and_emailed(shared, world, client, mailoutbox, django_capture_on_commit_callbacks):
    client.force_login(shared["people"]["erin"])
    henry = Membership.objects.get(team=world.team, user=shared["people"]["henry"])
    with django_capture_on_commit_callbacks(execute=True):
        post_share(client, world, shared, subject_type="member", subject=str(henry.code), level="2")
    grant = Grant.objects.get(member=shared["people"]["henry"])
    assert any("henry@example.com" in m.to and "shared with you" in m.subject for m in mailoutbox)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("orgs:grant_update", args=[world.team.code, shared["connection"].code, grant.code]),
                    {"action": "change", "level": "1"})
    assert any("henry@example.com" in m.to and "access changed" in m.subject for m in mailoutbox)
    client.post(reverse("orgs:grant_update", args=[world.team.code, shared["connection"].code, grant.code]),
                {"action": "remove"})
    kinds = list(AuditEvent.objects.filter(team=world.team, kind__startswith="grant.").values_list("kind", "subject"))
    assert kinds[::-1] == [("grant.added", "henry@example.com"), ("grant.changed", "henry@example.com"),
                           ("grant.removed", "henry@example.com")]
    assert AuditEvent.objects.filter(kind="grant.added").first().data["org_id"] == shared["connection"].org_id
