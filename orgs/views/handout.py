"""Hand-out pages: "Get access token" (shown once) and "Open in Salesforce" for orgs the member may target.
Each view: one access call (orgs.access) → one service call.

"Open in Salesforce" POSTs the access token to `<instance_url>/secur/frontdoor.jsp` from an auto-submitting form
(`sid` in the request body): the token never appears in a URL, so it cannot leak through history, logs or the
Referer header (docs/salesforce.md §5). The page is `no-store` and `Referrer-Policy: no-referrer`.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_POST

from orgs import access
from orgs.models import OrgAlias
from orgs.services import handout
from portal.accounts.reauth import recent_authentication_required
from portal.lib.http import client_ip


@sensitive_variables()
def _hand_out(request, team, connection, purpose):
    membership, connection, _ = access.connection_for_user(request.user, team, connection, access.Level.TARGET)
    alias = OrgAlias.objects.filter(user=request.user, connection=connection).first()
    issued = handout.connection_token_hand_out(team=membership.team, connection=connection, user=request.user,
                                                alias=alias.alias if alias else "", ip=client_ip(request),
                                                purpose=purpose)
    return membership, connection, alias, issued


def _private(response):
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"
    return response


@sensitive_variables()
@login_required
@require_POST
@never_cache
@recent_authentication_required
def org_token(request, team, connection):
    try:
        membership, connection, alias, issued = _hand_out(request, team, connection, "web")
    except handout.HandOutError as exc:
        messages.error(request, str(exc))
        return redirect("orgs:org_list", team=team)
    return _private(render(request, "api/org_token.html", {
        "membership": membership, "team": membership.team, "connection": connection, "alias": alias,
        "issued": issued}))


@sensitive_variables()
@login_required
@require_POST
@never_cache
@recent_authentication_required
def org_open(request, team, connection):
    try:
        membership, connection, alias, issued = _hand_out(request, team, connection, "open")
    except handout.HandOutError as exc:
        messages.error(request, str(exc))
        return redirect("orgs:org_list", team=team)
    return _private(render(request, "api/org_open.html", {
        "connection": connection, "frontdoor": issued.instance_url.rstrip("/") + "/secur/frontdoor.jsp",
        "issued": issued}))
