"""Time-boxed access pages (issue 18): request (or break-glass), the approvers' queue, one request live (approve,
deny, end early, revoke), and a connection's access-on-request policy. Each view: one access call (orgs.access) →
one service call (orgs/services/access_requests.py)."""

from collections import Counter
from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from orgs import access
from orgs.access import TeamAction
from orgs.models import AccessRequest, Grant, OrgConnection
from orgs.services import access_requests as service
from portal.accounts.models import AuditEvent, TeamGroup
from portal.accounts.reauth import recent_authentication_required
from portal.accounts.services import ServiceError
from portal.lib.http import client_ip


def _requestable(membership):
    """[(connection, Access)] the member may request (or break-glass) on."""
    found = access.access_for_member(membership=membership)
    connections = OrgConnection.objects.filter(team=membership.team, id__in=[cid for cid, a in found.items()
                                                                              if a.eligible])
    return [(c, found[c.id], access.access_rules(c)) for c in connections.order_by("username")]


@login_required
@recent_authentication_required
def access_requests(request, team):
    membership = access.membership_for_action(request.user, team, TeamAction.VIEW)
    if request.method == "POST":
        try:
            connection = access.team_object(OrgConnection, membership, request.POST.get("org"))
        except Http404:
            messages.error(request, "Choose an org you are eligible for.")
            return redirect("orgs:access_requests", team=team)
        try:
            if request.POST.get("action") == "break_glass":
                created = service.access_break_glass(membership=membership, connection=connection,
                                                     reason=request.POST.get("reason", ""),
                                                     ticket=request.POST.get("ticket", ""), ip=client_ip(request))
            else:
                try:
                    level = int(request.POST.get("level", ""))
                except ValueError:
                    level = 0
                created = service.access_request_create(
                    membership=membership, connection=connection, level=level, minutes=request.POST.get("minutes"),
                    reason=request.POST.get("reason", ""), ticket=request.POST.get("ticket", ""),
                    ip=client_ip(request))
        except ServiceError as exc:
            messages.error(request, str(exc))
            return redirect("orgs:access_requests", team=team)
        return redirect("orgs:access_request", team=team, request_code=created.code)
    mine = (AccessRequest.objects.filter(team=membership.team, requester=request.user)
            .select_related("connection")[:50])
    return render(request, "orgs/access_requests.html", {
        "membership": membership, "team": membership.team, "requestable": _requestable(membership),
        "selected": request.GET.get("org", ""), "mine": mine, "to_decide": access.requests_to_decide(membership),
        "levels": Grant.Level.choices, "history": _history(membership, request.GET.get("days"))})


def _history(membership, days):
    """Team admins: who had time-boxed access in the last `days` (default 31), why, approved by whom, and how many
    tokens were handed out under each request (its `token.issued` audit entries)."""
    if not access.can_manage_access_policy(membership):
        return None
    try:
        days = min(max(int(days), 1), 366)
    except (TypeError, ValueError):
        days = 31
    since = timezone.now() - timedelta(days=days)
    rows = list(AccessRequest.objects.filter(team=membership.team, created_at__gte=since)
                .select_related("connection", "requester")[:500])
    uses = Counter(AuditEvent.objects.filter(team=membership.team, kind=AuditEvent.Kind.TOKEN_ISSUED,
                                             created_at__gte=since, data__has_key="access_request")
                   .values_list("data__access_request", flat=True))
    return {"days": days, "rows": [(r, uses.get(str(r.code), 0)) for r in rows]}


@login_required
def access_request(request, team, request_code):
    membership, row, rules = access.access_request_for_user(request.user, team, request_code)
    return render(request, "orgs/access_request.html", {
        "membership": membership, "team": membership.team, "r": row, "rules": rules,
        "perms": access.request_permissions(membership, row, rules)})


@login_required
def access_request_status(request, team, request_code):
    """The block htmx polls every 3 s while the request is pending (templates/orgs/_access_request.html); once it is
    decided, the final block with HTTP 286 (htmx stops polling) and a sentence for the page's live region. A plain
    GET (no htmx) gets the request's page."""
    if not request.htmx:
        return access_request(request, team, request_code)
    membership, row, rules = access.access_request_for_user(request.user, team, request_code)
    pending = row.is_pending
    response = render(request, "orgs/_access_request.html", {
        "team": membership.team, "r": row, "rules": rules, "announce": not pending,
        "perms": access.request_permissions(membership, row, rules)})
    response["Cache-Control"] = "no-store"
    if not pending:
        response.status_code = 286  # htmx: stop polling
    return response


@login_required
@require_POST
@recent_authentication_required
def access_request_decide(request, team, request_code):
    membership, row, _ = access.access_request_for_user(request.user, team, request_code, "decide")
    try:
        service.access_request_decide(membership=membership, request=row,
                                      approve=request.POST.get("decision") == "approve", ip=client_ip(request))
    except ServiceError as exc:
        messages.error(request, str(exc))
    return redirect("orgs:access_request", team=team, request_code=request_code)


@login_required
@require_POST
def access_request_end(request, team, request_code):
    revoke = request.POST.get("action") == "revoke"
    membership, row, _ = access.access_request_for_user(request.user, team, request_code,
                                                        "revoke" if revoke else "end")
    try:
        service.access_request_end(membership=membership, request=row, revoke=revoke, ip=client_ip(request))
    except ServiceError as exc:
        messages.error(request, str(exc))
    return redirect("orgs:access_request", team=team, request_code=request_code)


@login_required
@require_POST
@recent_authentication_required
def access_policy(request, team, connection):
    membership, connection, _ = access.connection_for_user(request.user, team, connection, access.Level.VIEW)
    if not access.can_manage_access_policy(membership):
        raise access.PermissionDenied
    group = None
    if request.POST.get("approver_group"):
        group = access.team_object(TeamGroup, membership, request.POST["approver_group"])
    try:
        approvals = int(request.POST.get("approvals_required", "1"))
    except ValueError:
        approvals = 0
    try:
        service.access_policy_set(actor=membership, connection=connection, on_request="on_request" in request.POST,
                                  break_glass="break_glass" in request.POST, approvals_required=approvals,
                                  approver_group=group, ip=client_ip(request))
        messages.success(request, "Access policy saved.")
    except ServiceError as exc:
        messages.error(request, str(exc))
    return redirect("orgs:org_access", team=team, connection=connection.code)
