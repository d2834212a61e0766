"""Time-boxed access (issue 18): the role × state matrix in the funnel, and the API hand-out through a request's
life (refused while eligible, served while approved, refused after expiry even from the decision cache)."""

from datetime import timedelta

import jsonschema
import pytest
import time_machine
from django.utils import timezone

from orgs.access import Level, effective_access
from orgs.api import authentication
from orgs.api import schema as openapi
from orgs.models import AccessPolicy, AccessRequest
from orgs.services import access_requests as service
from portal.accounts.models import AuditEvent, Membership
from portal.accounts.services import ServiceError
from portal.accounts.tokens import api_token_create


@pytest.fixture
def on_request(shared, world):
    connection = shared["connection"]
    admin = Membership.objects.get(team=world.team, user=world.admin)
    service.access_policy_set(actor=admin, connection=connection, on_request=True, break_glass=True,
                              approvals_required=1, approver_group=None)
    return connection


def m(world, user):
    return Membership.objects.select_related("team", "user").get(team=world.team, user=user)


def level(world, user, connection, now=None):
    found = effective_access(team=world.team, user_ids=[user.pk], connection_ids=[connection.pk], now=now)
    found = found.get((user.pk, connection.pk))
    return (found.level_label, found.eligible_label) if found else None


def _request(world, shared, on_request, who="tara", minutes=60):
    return service.access_request_create(membership=m(world, shared["people"][who]), connection=on_request,
                                         level=Level.TARGET, minutes=minutes, reason="incident 42", ticket="INC-42")


def test_role_by_state_matrix(world, shared, on_request):
    people, admin = shared["people"], m(world, world.admin)
    tara = people["tara"]
    # roles: the owner and team admins keep standing access; grants become eligible; no grant, nothing
    assert level(world, people["erin"], on_request) == ("manage", "")
    assert level(world, world.admin, on_request) == ("manage", "")
    assert level(world, tara, on_request) == ("view", "target")  # eligible
    assert level(world, people["grace"], on_request) == ("view", "target")  # eligible via group
    assert level(world, people["henry"], on_request) is None
    assert level(world, world.outsider, on_request) is None
    # pending: still only eligible
    pending = _request(world, shared, on_request)
    assert level(world, tara, on_request) == ("view", "target")
    with pytest.raises(ServiceError):  # nobody approves their own request
        service.access_request_decide(membership=m(world, tara), request=pending, approve=True)
    # active after approval, for the chosen time only, with nothing running at expiry
    approved = service.access_request_decide(membership=admin, request=pending, approve=True)
    assert level(world, tara, on_request) == ("target", "target")
    assert level(world, people["grace"], on_request) == ("view", "target")  # only the requester
    assert level(world, tara, on_request, now=approved.expires_at - timedelta(seconds=1))[0] == "target"
    assert level(world, tara, on_request, now=approved.expires_at)[0] == "view"  # expired
    with time_machine.travel(approved.expires_at + timedelta(seconds=1)):
        assert level(world, tara, on_request)[0] == "view"
        assert service.access_requests_sweep() == 1
        assert AccessRequest.objects.get(pk=approved.pk).state == AccessRequest.State.EXPIRED
    # ended early by the requester
    ended = service.access_request_decide(membership=admin, request=_request(world, shared, on_request),
                                          approve=True)
    service.access_request_end(membership=m(world, tara), request=ended)
    assert level(world, tara, on_request)[0] == "view"
    # revoked by an admin
    revoked = service.access_request_decide(membership=admin, request=_request(world, shared, on_request),
                                            approve=True)
    service.access_request_end(membership=admin, request=revoked, revoke=True)
    assert level(world, tara, on_request)[0] == "view"
    # denied
    denied = service.access_request_decide(membership=admin, request=_request(world, shared, on_request),
                                           approve=False)
    assert denied.state == AccessRequest.State.DENIED and level(world, tara, on_request)[0] == "view"
    # break-glass: active at once at the eligible level, flagged for review
    glass = service.access_break_glass(membership=m(world, tara), connection=on_request, reason="prod down")
    assert level(world, tara, on_request) == ("target", "target")
    assert glass.expires_at - glass.starts_at == timedelta(minutes=30)
    flagged = AuditEvent.objects.get(kind=AuditEvent.Kind.ACCESS_BREAK_GLASS)
    assert flagged.data["review"] is True and flagged.data["request"] == str(glass.code)
    # removing eligibility ends active access too
    on_request.grants.filter(member=tara).delete()
    assert level(world, tara, on_request) is None


def test_limits_and_refusals(world, shared, on_request):
    tara = m(world, shared["people"]["tara"])
    for minutes in (5, 10_000, "x"):
        with pytest.raises(ServiceError):
            service.access_request_create(membership=tara, connection=on_request, level=Level.TARGET,
                                          minutes=minutes, reason="r")
    with pytest.raises(ServiceError):  # reason required
        service.access_request_create(membership=tara, connection=on_request, level=Level.TARGET, minutes=60,
                                      reason="  ")
    with pytest.raises(ServiceError):  # above the eligible level
        service.access_request_create(membership=tara, connection=on_request, level=Level.MANAGE, minutes=60,
                                      reason="r")
    with pytest.raises(ServiceError):  # no eligible grant
        service.access_request_create(membership=m(world, shared["people"]["henry"]), connection=on_request,
                                      level=Level.VIEW, minutes=60, reason="r")
    # a pending request lapses when nobody decides in time
    pending = _request(world, shared, on_request)
    with time_machine.travel(pending.decide_by + timedelta(seconds=1)):
        with pytest.raises(ServiceError):
            service.access_request_decide(membership=m(world, world.admin), request=pending, approve=True)
        service.access_requests_sweep()
    assert AccessRequest.objects.get(pk=pending.pk).state == AccessRequest.State.LAPSED


def test_second_approver(world, shared, on_request):
    AccessPolicy.objects.filter(connection=on_request).update(approvals_required=2)
    pending = _request(world, shared, on_request)
    first = service.access_request_decide(membership=m(world, world.admin), request=pending, approve=True)
    assert first.state == AccessRequest.State.PENDING
    with pytest.raises(ServiceError):  # the same approver twice does not count
        service.access_request_decide(membership=m(world, world.admin), request=pending, approve=True)
    second = service.access_request_decide(membership=m(world, world.owner), request=pending, approve=True)
    assert second.state == AccessRequest.State.APPROVED


def test_api_hand_out_through_a_request(world, shared, on_request, client, settings):
    tara = m(world, shared["people"]["tara"])
    _, raw = api_token_create(actor=tara, kind="personal", name="laptop")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    url = "/api/v1/orgs/dev@acme.example.uat/access-token"
    refused = client.post(url, **auth)
    assert refused.status_code == 403 and refused.json()["error"] == "access_on_request"
    assert "orgportal access request" in refused.json()["message"]
    approved = service.access_request_decide(membership=m(world, world.admin),
                                             request=_request(world, shared, on_request, minutes=15), approve=True)
    served = client.post(url, **auth)
    assert served.status_code == 200, served.content
    use = AuditEvent.objects.filter(kind=AuditEvent.Kind.TOKEN_ISSUED).latest("id")
    assert use.data["access_request"] == str(approved.code)
    assert any(key[1] == "dev@acme.example.uat" for key in authentication._DECISIONS)  # the decision is cached
    with time_machine.travel(approved.expires_at + timedelta(seconds=1)):
        after = client.post(url, **auth)  # no write happened: only the time moved
        assert after.status_code == 403 and after.json()["error"] == "access_on_request"


def test_sweep_revokes_the_tokens_handed_out(world, shared, on_request, monkeypatch,
                                            django_capture_on_commit_callbacks):
    revoked = []
    monkeypatch.setattr(service, "connections_tokens_revoke_now",
                        lambda *, connection_ids, reason: revoked.append((connection_ids, reason)))
    approved = service.access_request_decide(membership=m(world, world.admin),
                                             request=_request(world, shared, on_request), approve=True)
    assert service.access_requests_sweep() == 0
    with time_machine.travel(approved.expires_at + timedelta(minutes=1)):
        with django_capture_on_commit_callbacks(execute=True):
            service.access_requests_sweep()
    assert revoked == [([on_request.pk], "time-boxed access expired")]
    assert AccessRequest.objects.get(pk=approved.pk).tokens_revoked_at is not None
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.ACCESS_EXPIRED, data__request=str(approved.code)).exists()
    assert timezone.now() < approved.expires_at


def test_api_requests_and_decisions(world, shared, on_request, client):
    tara, bob = m(world, shared["people"]["tara"]), m(world, world.admin)
    henry = m(world, shared["people"]["henry"])
    tokens = {name: api_token_create(actor=who, kind="personal", name="cli")[1]
              for name, who in (("tara", tara), ("bob", bob), ("henry", henry))}

    def call(who, method, path, body=None):
        kwargs = {"HTTP_AUTHORIZATION": f"Bearer {tokens[who]}"}
        if body is not None:
            kwargs.update(data=body, content_type="application/json")
        return getattr(client, method)(f"/api/v1/{path}", **kwargs)

    bad = call("tara", "post", "access-requests", {"org": on_request.username, "level": "target", "minutes": 60})
    assert bad.status_code == 400 and "reason" in bad.json()["message"]
    assert call("henry", "post", "access-requests", {"org": on_request.username, "level": "target", "minutes": 60,
                                                      "reason": "x"}).status_code == 404  # cannot see it
    created = call("tara", "post", "access-requests", {"org": on_request.username, "level": "target",
                                                        "minutes": 30, "reason": "deploy", "ticket": "CHG-1"})
    assert created.status_code == 201 and created.json()["state"] == "pending"
    jsonschema.validate(created.json(), openapi.schema()["components"]["schemas"]["AccessRequest"])
    code = created.json()["id"]
    assert call("tara", "post", f"access-requests/{code}/approve").status_code == 403  # own request
    assert call("henry", "get", f"access-requests/{code}").status_code == 404  # not theirs to see
    assert [r["id"] for r in call("bob", "get", "access-requests").json()["to_decide"]] == [code]
    approved = call("bob", "post", f"access-requests/{code}/approve")
    assert approved.status_code == 200 and approved.json()["state"] == "approved"
    assert call("tara", "post", f"orgs/{on_request.username}/access-token").status_code == 200
    ended = call("tara", "post", f"access-requests/{code}/end")
    assert ended.json()["state"] == "ended"
    assert call("tara", "post", f"orgs/{on_request.username}/access-token").status_code == 403
    glass = call("tara", "post", "access-requests", {"org": on_request.username, "break_glass": True,
                                                      "reason": "outage"})
    assert glass.status_code == 201 and glass.json()["state"] == "approved" and glass.json()["break_glass"]
    assert call("bob", "post", f"access-requests/{glass.json()['id']}/revoke").json()["state"] == "revoked"
    kinds = list(AuditEvent.objects.filter(kind__startswith="access.").values_list("kind", flat=True))
    assert {"access.requested", "access.approved", "access.ended", "access.break_glass",
            "access.revoked"} <= set(kinds)
    assert all(e.data.get("request") for e in AuditEvent.objects.filter(kind__startswith="access.")
               .exclude(kind="access.policy_changed"))


def test_history_answers_who_had_access_why_by_whom_and_what_they_took(world, shared, on_request, client):
    tara = m(world, shared["people"]["tara"])
    raw = api_token_create(actor=tara, kind="personal", name="laptop")[1]
    approved = service.access_request_decide(membership=m(world, world.admin),
                                             request=_request(world, shared, on_request), approve=True)
    for _ in range(2):
        assert client.post(f"/api/v1/orgs/{on_request.username}/access-token",
                           HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 200
    client.force_login(world.admin)
    page = client.get(f"/teams/{world.team.code}/access-requests/").content.decode()
    row = page.split(f'data-request="{approved.code}"')[1].split("</tr>")[0]
    assert "tara@example.com" in row and "incident 42" in row and "bob@example.com" in row
    assert '<td class="uses">2</td>' in row
    client.force_login(tara.user)  # members do not see the team's history
    assert "access-history" not in client.get(f"/teams/{world.team.code}/access-requests/").content.decode()


def test_approver_group_break_glass_rules_and_alerts(world, shared, on_request, mailoutbox):
    qa, admin = shared["qa"], m(world, world.admin)
    grace, tara = m(world, shared["people"]["grace"]), m(world, shared["people"]["tara"])
    service.access_policy_set(actor=admin, connection=on_request, on_request=True, break_glass=False,
                              approvals_required=1, approver_group=qa)
    pending = _request(world, shared, on_request)
    assert [msg.to for msg in mailoutbox if "requests target access" in msg.subject] == [["grace@example.com"]]
    with pytest.raises(ServiceError):  # a group names the approvers: team admins are not among them
        service.access_request_decide(membership=admin, request=pending, approve=True)
    assert service.access_request_decide(membership=grace, request=pending, approve=True).state == "approved"
    with pytest.raises(ServiceError):  # break-glass not allowed on this org
        service.access_break_glass(membership=tara, connection=on_request, reason="outage")
    service.access_policy_set(actor=admin, connection=on_request, on_request=True, break_glass=True,
                              approvals_required=1, approver_group=None)
    mailoutbox.clear()
    service.access_break_glass(membership=tara, connection=on_request, reason="outage")
    alert = [msg for msg in mailoutbox if msg.subject.startswith("[Org Portal] BREAK-GLASS")]
    assert alert and set(alert[0].to) == {"alice@example.com", "bob@example.com"}
    with pytest.raises(ServiceError):  # only an admin changes the policy
        service.access_policy_set(actor=tara, connection=on_request, on_request=False, break_glass=False,
                                  approvals_required=1, approver_group=None)


def test_turning_access_on_request_on_revokes_standing_holders_tokens(world, shared, monkeypatch,
                                                                       django_capture_on_commit_callbacks):
    revoked = []
    monkeypatch.setattr("orgs.services.revocation.connections_tokens_revoke_now",
                        lambda *, connection_ids, reason: revoked.append((connection_ids, reason)))
    connection = shared["connection"]
    assert level(world, shared["people"]["tara"], connection) == ("target", "")  # standing before
    with django_capture_on_commit_callbacks(execute=True):
        service.access_policy_set(actor=m(world, world.admin), connection=connection, on_request=True,
                                  break_glass=False, approvals_required=1, approver_group=None)
    assert revoked == [([connection.pk], "access on request")]
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.ACCESS_POLICY_CHANGED).exists()


def test_eligible_shows_on_the_access_tab_and_the_matrix(world, shared, on_request, client):
    client.force_login(world.admin)
    tab = client.get(f"/teams/{world.team.code}/orgs/{on_request.code}/access/").content.decode()
    assert 'class="badge text-bg-warning eligible">eligible: target' in tab
    matrix = client.get(f"/teams/{world.team.code}/access/").content.decode()
    assert "eligible: target" in matrix
    csv = client.get(f"/teams/{world.team.code}/access/?format=csv").content.decode()
    assert "view,eligible direct; eligible: target" in csv
    service.access_request_decide(membership=m(world, world.admin), request=_request(world, shared, on_request),
                                  approve=True)
    assert "time-boxed" in client.get(f"/teams/{world.team.code}/access/").content.decode()


def test_web_hand_out_refused_while_eligible_says_how_to_request(world, shared, on_request, client):
    client.force_login(shared["people"]["tara"])
    listing = client.get(f"/teams/{world.team.code}/orgs/").content.decode()
    assert "eligible: target · request" in listing and "get-token" not in listing.split(on_request.username)[1]
    response = client.post(f"/teams/{world.team.code}/orgs/{on_request.code}/token/", follow=True)
    assert "is eligible only" in response.content.decode() and "Access requests" in response.content.decode()
    client.force_login(shared["people"]["vic"])  # view grant → eligible for view only: a plain refusal
    assert client.post(f"/teams/{world.team.code}/orgs/{on_request.code}/token/").status_code == 403


def test_the_request_page_follows_the_decision_with_htmx(client, world, shared, on_request):
    """While pending, the block polls itself every 3 s (200, with the trigger); once decided, the final block comes
    with HTTP 286 (htmx stops polling) and a sentence for the live region. Without htmx the URL is the page."""
    from django.urls import reverse

    pending = _request(world, shared, on_request)
    url = reverse("orgs:access_request_status", args=[world.team.code, pending.code])
    client.force_login(shared["people"]["tara"])
    response = client.get(url, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert response.status_code == 200 and 'hx-trigger="every 3s"' in body and 'data-state="pending"' in body
    assert response["Cache-Control"] == "no-store" and "<html" not in body and "request-announcer" not in body

    service.access_request_decide(membership=m(world, world.admin), request=pending, approve=True)
    response = client.get(url, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert response.status_code == 286 and "hx-trigger" not in body and 'data-state="approved"' in body
    assert 'id="request-announcer" hx-swap-oob="innerHTML">Request approved.' in body

    page = client.get(url)  # no htmx: the request's page
    assert page.status_code == 200 and b"<html" in page.content and b'id="request-live"' in page.content

    client.force_login(world.outsider)
    assert client.get(url, HTTP_HX_REQUEST="true").status_code == 404
