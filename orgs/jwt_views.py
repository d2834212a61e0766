"""Pages: create a JWT connection (admins); "Get access token" (shown once) and "Open in Salesforce" for orgs the
member may target. Each view: one access call (portal.access) → form → one service call.

"Open in Salesforce" POSTs the access token to `<instance_url>/secur/frontdoor.jsp` from an auto-submitting form
(`sid` in the request body): the token never appears in a URL, so it cannot leak through history, logs or the
Referer header (SECURITY.md §5 item 11). The page is `no-store` and `Referrer-Policy: no-referrer`.
"""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from orgs import jwt_flow
from orgs.forms import LoginHostMixin
from orgs.models import ConnectedApp, OrgAlias
from portal import access
from portal.access import TeamAction
from portal.accounts.adapter import client_ip
from portal.accounts.reauth import recent_authentication_required
from portal.accounts.services import ServiceError


class JwtConnectionForm(LoginHostMixin):
    app = forms.ModelChoiceField(queryset=ConnectedApp.objects.none(), label="Connected app", empty_label=None,
                                 help_text="Only apps with a JWT signing key are listed.")
    username = forms.CharField(max_length=255, label="Salesforce username",
                               widget=forms.TextInput(attrs={"placeholder": "ci@acme.example", "autocomplete": "off"}))
    alias = forms.CharField(required=False, max_length=80, help_text="Suggested from the org if empty.")

    field_order = ["app", "username", "environment", "custom_url", "alias"]

    def __init__(self, *args, team, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["app"].queryset = ConnectedApp.objects.filter(team=team, signing_key__isnull=False)
        self.fields["environment"].label = "Login host (the JWT audience)"

    def clean(self):
        cleaned = super().clean()
        self.clean_login_url()
        return cleaned


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


def _hand_out(request, team, connection, purpose):
    membership, connection, _ = access.connection_for_user(request.user, team, connection, access.Level.TARGET)
    alias = OrgAlias.objects.filter(user=request.user, connection=connection).first()
    issued = jwt_flow.connection_token_hand_out(team=membership.team, connection=connection, user=request.user,
                                                alias=alias.alias if alias else "", ip=client_ip(request),
                                                purpose=purpose)
    return membership, connection, alias, issued


def _private(response):
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"
    return response


@login_required
@require_POST
@never_cache
@recent_authentication_required
def org_token(request, team, connection):
    try:
        membership, connection, alias, issued = _hand_out(request, team, connection, "web")
    except jwt_flow.HandOutError as exc:
        messages.error(request, str(exc))
        return redirect("orgs:org_list", team=team)
    return _private(render(request, "api/org_token.html", {
        "membership": membership, "team": membership.team, "connection": connection, "alias": alias,
        "issued": issued}))


@login_required
@require_POST
@never_cache
@recent_authentication_required
def org_open(request, team, connection):
    try:
        membership, connection, alias, issued = _hand_out(request, team, connection, "open")
    except jwt_flow.HandOutError as exc:
        messages.error(request, str(exc))
        return redirect("orgs:org_list", team=team)
    return _private(render(request, "api/org_open.html", {
        "connection": connection, "frontdoor": issued.instance_url.rstrip("/") + "/secur/frontdoor.jsp",
        "issued": issued}))
