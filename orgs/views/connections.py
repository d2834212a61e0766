"""Org connection pages: the member's orgs, connect (web-server flow), the OAuth callback, JWT connections,
aliases and defaults, reconnect and disconnect. Each view: one access call (orgs.access) → form → one service call."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_POST

from orgs import access
from orgs.access import TeamAction, access_for_member
from orgs.forms import (
    AliasForm,
    ConnectForm,
    JwtConnectionForm,
    OrgFilterForm,
)
from orgs.models import ConnectedApp, OrgAlias, Sandbox
from orgs.services import apps as services
from orgs.services import connect as connect_flow
from orgs.services import connections, refresh
from orgs.services import jwt as jwt_flow
from portal.accounts.models import User
from portal.accounts.reauth import recent_authentication_required
from portal.accounts.services import ServiceError
from portal.lib.http import client_ip
from portal.lib.pagination import paginate

SECRET_FIELDS = ("consumer_secret", "secret", "passphrase", "private_key")

# What the page says after a disconnect, by what actually happened at Salesforce (orgs/services/revocation.py).
DISCONNECT_MESSAGES = {
    "revoked": (messages.SUCCESS, "its token was revoked at Salesforce."),
    "pending-retry": (messages.WARNING, "Salesforce could not be reached, so revoking its token is pending and "
                                        "being retried. The outcome will appear in the team's audit log."),
    "failed": (messages.ERROR, "its token could not be revoked at Salesforce. Revoke it in Salesforce: Setup → "
                               "Connected Apps OAuth Usage."),
    "nothing-to-revoke": (messages.SUCCESS, "it held no token to revoke."),
}


# -- org connections: the member's orgs, connect, callback, reconnect, disconnect ------------------------------------

def _alias_for(request, membership, connection):
    return OrgAlias.objects.filter(user=request.user, connection=connection).first()


@login_required
def org_list(request, team):
    """The portal's `sf org list`: every org this member can see, with their own aliases, defaults and level;
    filtered and searched (GET), one page at a time. The filters only narrow what the funnel allows."""
    membership = access.membership_for_action(request.user, team, TeamAction.VIEW)
    mine = access_for_member(membership=membership)
    visible = list(mine)
    aliases = (OrgAlias.objects.filter(team=membership.team, user=request.user, connection_id__in=visible)
               .select_related("connection", "connection__app", "connection__owner").order_by("alias", "pk"))
    owners = User.objects.filter(org_connections__id__in=visible).distinct().order_by("email")
    form = OrgFilterForm(request.GET, owners=owners)
    page = paginate(request, form.apply(aliases))
    # What each row may offer, for the page's rows only.
    rows = [(a, mine[a.connection_id], access.can_share(membership, a.connection, mine[a.connection_id]))
            for a in page]
    # Sandboxes linked to their production org (created here, or recognised by the sandbox sync): one query.
    sandbox_of = {connection_id: (name, username) for connection_id, name, username in Sandbox.objects.filter(
        team=membership.team, connection_id__in=[a.connection_id for a, _, _ in rows],
        deleted_at__isnull=True).values_list("connection_id", "name", "production__username")}
    for a, _, _ in rows:
        a.sandbox_of = sandbox_of.get(a.connection_id)
    return render(request, "orgs/org_list.html", {
        "membership": membership, "team": membership.team, "rows": rows, "page": page, "filter_form": form,
        "filtered": form.is_filtered, "has_apps": ConnectedApp.objects.filter(team=membership.team).exists(),
        "perms": access.team_permissions(membership),
    })


@sensitive_variables()
@login_required
@recent_authentication_required
def connect(request, team):
    membership = access.membership_for_action(request.user, team, TeamAction.CONNECT_ORG)
    form = ConnectForm(request.POST if request.method == "POST" else None, team=membership.team)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            url = connect_flow.connect_start(session=request.session, membership=membership, app=data["app"],
                                            login_url=data["login_url"], alias=data.get("alias") or "")
        except services.ServiceError as exc:
            form.add_error(None, str(exc))
        else:
            return redirect(url)
    return render(request, "orgs/connect.html", {"membership": membership, "team": membership.team, "form": form,
                                                 "perms": access.team_permissions(membership)},
                  status=400 if form.is_bound and form.errors else 200)


@sensitive_variables()
def oauth_callback(request):
    """Salesforce sends the browser back here. The state is checked before anything is sent to Salesforce."""
    if not request.user.is_authenticated:
        response = render(request, "orgs/connect_error.html",
                          {"error": "Your portal session ended before Salesforce sent you back. Sign in and start "
                                    "the connection again."}, status=400)
    else:
        try:
            flow = connect_flow.connect_pop_flow(session=request.session, state=request.GET.get("state"),
                                                user=request.user)
        except connect_flow.ConnectError as exc:
            response = render(request, "orgs/connect_error.html", {"error": str(exc)}, status=400)
        else:
            response = _complete(request, flow)
    response["Referrer-Policy"] = "no-referrer"
    return response


@sensitive_variables()
def _complete(request, flow):
    target = reverse("orgs:org_list", args=[flow.team])
    try:
        connection, created = connect_flow.connect_complete(
            flow=flow, user=request.user, code=request.GET.get("code"), error=request.GET.get("error"),
            error_description=request.GET.get("error_description"), ip=client_ip(request))
    except services.ServiceError as exc:
        messages.error(request, str(exc))
        target = reverse("orgs:connect", args=[flow.team])
    else:
        alias = connection.aliases.filter(user=request.user).first()
        verb = "connected" if created else "reconnected"
        messages.success(request, f"{connection.type_label} “{alias.alias if alias else connection.username}” "
                                  f"{verb} as {connection.username}.")
    # 303 to a clean URL: the code never stays in the address bar or the history.
    return HttpResponseRedirect(target, status=303)


@login_required
@require_POST
def org_rename(request, team, connection):
    membership, connection, _ = access.connection_for_user(request.user, team, connection, access.Level.TARGET)
    alias = _alias_for(request, membership, connection)
    form = AliasForm(request.POST)
    try:
        if alias is None:
            raise Http404
        if not form.is_valid():
            raise services.ServiceError("Enter an alias.")
        connections.org_alias_rename(alias=alias, new_alias=form.cleaned_data["alias"], ip=client_ip(request))
    except services.ServiceError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Alias changed to “{form.cleaned_data['alias'].strip()}”.")
    return redirect("orgs:org_list", team=membership.team.code)


@login_required
@require_POST
def org_default(request, team, connection):
    membership, connection, _ = access.connection_for_user(request.user, team, connection, access.Level.TARGET)
    alias = _alias_for(request, membership, connection)
    if alias is None:
        raise Http404
    try:
        connections.org_alias_set_default(alias=alias, which=request.POST.get("which", ""), ip=client_ip(request))
    except services.ServiceError as exc:
        messages.error(request, str(exc))
    else:
        label = "default org" if request.POST.get("which") == "org" else "default Dev Hub"
        messages.success(request, f"“{alias.alias}” is now your {label}.")
    return redirect("orgs:org_list", team=membership.team.code)


@login_required
@require_POST
@recent_authentication_required
def org_reconnect(request, team, connection):
    membership, connection, _ = access.connection_for_user(request.user, team, connection, access.Level.MANAGE)
    try:
        url = connect_flow.connect_start(session=request.session, membership=membership, app=connection.app,
                                        login_url=connection.login_url, reconnect=connection)
    except services.ServiceError as exc:
        messages.error(request, str(exc))
        return redirect("orgs:org_list", team=membership.team.code)
    return redirect(url)


@login_required
def org_check(request, team, connection):
    """Refresh interrupted, check needed: confirm, then present the stored refresh token once (refresh.py)."""
    membership, connection, _ = access.connection_for_user(request.user, team, connection, access.Level.MANAGE)
    if request.method == "POST":
        try:
            refresh.connection_check(connection_id=connection.pk)
        except ServiceError as exc:
            messages.error(request, f"{connection.username}: {exc}")
        else:
            messages.success(request, f"{connection.username}: the refresh token still works; the org is connected.")
        return redirect("orgs:health", team=membership.team.code)
    return render(request, "orgs/org_check.html", {"membership": membership, "team": membership.team,
                                                   "connection": connection})


@login_required
def org_disconnect(request, team, connection):
    membership, connection, _ = access.connection_for_user(request.user, team, connection, access.Level.MANAGE)
    if request.method == "POST":
        outcome = connections.connection_disconnect(actor=request.user, connection=connection, ip=client_ip(request))
        level, text = DISCONNECT_MESSAGES[outcome]
        messages.add_message(request, level, f"{connection.username} disconnected; {text}")
        return redirect("orgs:org_list", team=membership.team.code)
    return render(request, "orgs/org_disconnect.html", {"membership": membership, "team": membership.team,
                                                        "connection": connection})


@sensitive_variables()
@login_required
@recent_authentication_required
def jwt_connect(request, team):
    membership = access.membership_for_action(request.user, team, TeamAction.CREATE_JWT_CONNECTION)
    form = JwtConnectionForm(request.POST if request.method == "POST" else None, team=membership.team)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            connection, created = jwt_flow.jwt_connection_create(
                actor=membership, app=data["app"], username=data["username"], login_url=data["login_url"],
                alias=data.get("alias") or "", ip=client_ip(request))
        except ServiceError as exc:
            form.add_error(None, str(exc))
        else:
            verb = "connected" if created else "updated"
            messages.success(request, f"{connection.username} ({connection.type_label}) {verb} with the JWT bearer "
                                      "flow. Share it with a service token for CI on its Access page.")
            return redirect("orgs:org_list", team=membership.team.code)
    return render(request, "api/jwt_connect.html", {"membership": membership, "team": membership.team, "form": form},
                  status=400 if form.is_bound and form.errors else 200)
