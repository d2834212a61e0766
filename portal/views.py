"""The project's own pages, which compose both apps: the landing redirect, a team's dashboard, the admin's sign-in
(which is the portal's own), and the error handler that turns a database outage into a 503 with Retry-After (JSON
under /api/, a page elsewhere)."""

import sys

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.template import loader
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views import defaults

from orgs.api.views import api_error
from orgs.selectors import health_for_member, signing_keys_expiring
from portal.accounts import access
from portal.accounts.access import TeamAction
from portal.accounts.context_processors import CURRENT_TEAM_SESSION_KEY, remember_team
from portal.accounts.models import Membership


@login_required
def home(request):
    """Land on the current team, or on the team list when there is none yet."""
    memberships = Membership.objects.filter(user=request.user).select_related("team")
    current = request.session.get(CURRENT_TEAM_SESSION_KEY)
    chosen = next((m for m in memberships if str(m.team.code) == current), None) or memberships.first()
    if chosen is None:
        return redirect("accounts:team_list")
    return redirect("team_dashboard", team=chosen.team.code)


@login_required
def team_dashboard(request, team):
    membership = access.membership_for_action(request.user, team, TeamAction.VIEW)
    remember_team(request, membership)
    perms = access.team_permissions(membership)
    context = {
        "membership": membership,
        "team": membership.team,
        "perms": perms,
        "member_count": membership.team.memberships.count(),
        "pending_invitations": membership.team.invitations.pending().count(),
        "recent_events": membership.team.audit_events.all()[:5] if perms["view_audit"] else [],
        "expiring_keys": signing_keys_expiring(team=membership.team) if perms["manage_keys"] else [],
        "health": health_for_member(membership=membership),
    }
    return render(request, "accounts/team_dashboard.html", context)


def admin_login(request):
    """/admin/login/ (GET or POST) never checks a password: it sends the browser to the portal's login (allauth: rate
    limits, MFA where enrolled, a session in allauth's session list that offboarding ends), keeping a same-origin
    `next`. A signed-in member who is not staff gets 403, not a redirect loop."""
    wanted = request.GET.get(REDIRECT_FIELD_NAME) or request.POST.get(REDIRECT_FIELD_NAME) or ""
    if not url_has_allowed_host_and_scheme(wanted, allowed_hosts={request.get_host()},
                                           require_https=request.is_secure()):
        wanted = ""
    wanted = wanted or reverse("admin:index")
    if request.user.is_authenticated:
        if not admin.site.has_permission(request):
            raise PermissionDenied("This account cannot use the admin.")
        return HttpResponseRedirect(wanted)
    return HttpResponseRedirect(f"{reverse('account_login')}?{urlencode({REDIRECT_FIELD_NAME: wanted})}")


def server_error(request):
    """handler500: Django calls it for any uncaught exception, wherever it was raised (a view, a middleware, the API
    shortcut). PostgreSQL unreachable or restarting is not a bug: 503 with Retry-After, rendered without touching the
    database (no request context). Everything else is the usual 500 page, or under /api/ an RFC 9457 problem (JSON
    like every other API error, with the request id to quote)."""
    exc = sys.exc_info()[1]
    api = request.path_info.startswith("/api/")
    if not isinstance(exc, (OperationalError, InterfaceError)):
        if not api:
            return defaults.server_error(request)
        request_id = getattr(request, "request_id", "")
        response = api_error(500, "server_error", "Something went wrong on the portal's side; nothing secret was "
                             f"logged. Quote request id {request_id} when reporting it." if request_id else
                             "Something went wrong on the portal's side.")
        response["Cache-Control"] = "no-store"
        return response
    retry_after = str(settings.PORTAL_OUTAGE_RETRY_AFTER)
    if api:
        response = api_error(503, "service_unavailable", "The portal's database is unreachable right now. Retry "
                             f"in {retry_after} s.")
    else:
        response = HttpResponse(loader.get_template("503.html").render({"retry_after": retry_after}), status=503)
    response["Retry-After"] = retry_after
    response["Cache-Control"] = "no-store"
    return response
