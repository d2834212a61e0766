"""Hand-out pages: "Get access token" (shown once) and "Open in Salesforce" for orgs the member may target.
Each view: one access call (orgs.access) → one service call.

"Open in Salesforce" exchanges the access token for a single-use, short-lived frontdoor URL (the UI Bridge API's
`/services/oauth2/singleaccess`, what `sf org open` does since August 2025; docs/salesforce.md) and answers 303 to
it: the browser never sees the access token. Only if Salesforce won't issue one and PORTAL_FRONTDOOR_FORM_FALLBACK is
on does the page fall back to POSTing the token to `frontdoor.jsp` from an auto-submitting form (`sid` in the body,
never in a URL). Every answer is `no-store` and `Referrer-Policy: same-origin` (no referrer leaves the portal; not
`no-referrer`, under which Chromium sends `Origin: null` with the page's own forms, e.g. Sign out, and Django's
CSRF check refuses them). The token pages use the strict CSP (portal.lib.csp.secret_page).
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponseRedirect
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_POST

from orgs import access
from orgs.models import OrgAlias
from orgs.services import handout
from portal.accounts.reauth import recent_authentication_required
from portal.lib.csp import STRICT_POLICY, origin_of, secret_page
from portal.lib.http import client_ip


@sensitive_variables()
def _hand_out(request, team, connection, purpose):
    membership, connection, found = access.connection_for_user(request.user, team, connection, access.Level.VIEW)
    if not found.can_target:
        if access.only_eligible(found, access.Level.TARGET):  # say so, and how to request it
            raise handout.HandOutError(403, "access_on_request", access.eligible_denial(connection.username, found))
        raise access.PermissionDenied
    alias = OrgAlias.objects.filter(user=request.user, connection=connection).first()
    issued = handout.connection_token_hand_out(team=membership.team, connection=connection, user=request.user,
                                                alias=alias.alias if alias else "", ip=client_ip(request),
                                                purpose=purpose, extra=handout.time_boxed_extra(found))
    return membership, connection, alias, issued


def _failed(request, team, exc):
    """A hand-out that did not happen: over the rate limit is a 429 page with `Retry-After`; anything else goes
    back to the org list with the reason."""
    if exc.status == 429:
        response = render(request, "api/handout_rate_limited.html", {"message": str(exc), "team_code": team,
                                                                        "retry_after": exc.retry_after}, status=429)
        response["Retry-After"] = str(exc.retry_after)
        return _private(response)
    messages.error(request, str(exc))
    return redirect("orgs:org_list", team=team)


def _private(response):
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "same-origin"
    return response


@secret_page
@sensitive_variables()
@login_required
@require_POST
@never_cache
@recent_authentication_required
def org_token(request, team, connection):
    try:
        membership, connection, alias, issued = _hand_out(request, team, connection, "web")
    except handout.HandOutError as exc:
        return _failed(request, team, exc)
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
        return _failed(request, team, exc)
    try:
        url = handout.frontdoor_single_use_url(handed_out=issued)
    except handout.HandOutError as exc:
        if settings.PORTAL_FRONTDOOR_FORM_FALLBACK:
            frontdoor = issued.instance_url.rstrip("/") + "/secur/frontdoor.jsp"
            response = render(request, "api/org_open.html", {
                "connection": connection, "frontdoor": frontdoor, "issued": issued})
            # the page carries the access token: the strict policy, whose form-action must allow the frontdoor
            response._csp_config = STRICT_POLICY
            response._csp_update = {"form-action": [origin_of(frontdoor)]}
            return _private(response)
        return _private(render(request, "api/org_open_error.html", {
            "membership": membership, "team": membership.team, "connection": connection, "error": str(exc)},
            status=exc.status))
    return _private(HttpResponseRedirect(url, status=303))
