"""API token pages under /teams/<team>/tokens/: list, create (the plaintext is shown once), revoke.

Each view: one access call (orgs.access) → form → one service call (portal.accounts.tokens).
"""

from datetime import timedelta

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_POST

from portal.accounts import access, tokens
from portal.accounts.access import TeamAction
from portal.accounts.models import ApiToken
from portal.accounts.reauth import recent_authentication_required
from portal.accounts.services import ServiceError
from portal.lib.csp import secret_page
from portal.lib.http import client_ip
from portal.lib.pagination import paginate

EXPIRY_DAYS = (7, 30, 90, 180, 365)


def expiry_choices() -> list[tuple[str, str]]:
    """The lifetimes offered, up to PORTAL_API_TOKEN_MAX_DAYS (and the default, if it is not one of them)."""
    days = {d for d in EXPIRY_DAYS if d <= settings.PORTAL_API_TOKEN_MAX_DAYS}
    days.add(settings.PORTAL_API_TOKEN_DEFAULT_DAYS)
    return [(str(d), "1 year" if d == 365 else f"{d} days") for d in sorted(days)]


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What it is for, e.g. “laptop” or “GitHub Actions deploy”.")
    kind = forms.ChoiceField(choices=ApiToken.Kind.choices, initial=ApiToken.Kind.PERSONAL, widget=forms.RadioSelect,
                             label="Kind")
    expires = forms.ChoiceField(choices=expiry_choices, label="Expires after")

    def __init__(self, *args, can_manage_service: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["expires"].initial = str(settings.PORTAL_API_TOKEN_DEFAULT_DAYS)
        self.fields["expires"].help_text = (f"Every token expires; you get an email "
                                            f"{settings.PORTAL_API_TOKEN_EXPIRY_WARNING_DAYS} days before.")
        if not can_manage_service:
            self.fields["kind"].choices = [(ApiToken.Kind.PERSONAL, ApiToken.Kind.PERSONAL.label)]
        self.fields["kind"].help_text = ("A personal token acts as you, with your current access. A team service "
                                         "token is for CI: it belongs to the team and reaches only the orgs shared "
                                         "with it.")

    def expires_at(self):
        return timezone.now() + timedelta(days=int(self.cleaned_data["expires"]))


def _page(request, membership, form, status=200):
    can_service = access.team_allows(membership, TeamAction.MANAGE_SERVICE_TOKENS)
    team_tokens = ApiToken.objects.filter(team=membership.team)
    now = timezone.now()
    return render(request, "tokens/token_list.html", {
        "membership": membership, "team": membership.team, "form": form, "can_manage_service": can_service,
        "personal": paginate(request, team_tokens.filter(kind=ApiToken.Kind.PERSONAL, user=request.user)
                             .order_by("-created_at", "-pk")),
        # The grants are prefetched for the page's tokens only.
        "service": paginate(request, team_tokens.filter(kind=ApiToken.Kind.SERVICE).order_by("-created_at", "-pk")
                            .prefetch_related("grants__connection"), param="service_page")
        if can_service else [],
        "now": now, "soon": now + timedelta(days=settings.PORTAL_API_TOKEN_EXPIRY_WARNING_DAYS),
    }, status=status)


@secret_page
@sensitive_variables()
@login_required
@never_cache
@recent_authentication_required
def token_list(request, team):
    membership = access.membership_for_action(request.user, team, TeamAction.CREATE_PERSONAL_TOKEN)
    can_service = access.team_allows(membership, TeamAction.MANAGE_SERVICE_TOKENS)
    if request.method != "POST":
        return _page(request, membership, ApiTokenForm(can_manage_service=can_service))
    form = ApiTokenForm(request.POST, can_manage_service=can_service)
    if not form.is_valid():
        return _page(request, membership, form, status=400)
    kind = form.cleaned_data["kind"]
    if kind == ApiToken.Kind.SERVICE:
        membership = access.membership_for_action(request.user, team, TeamAction.MANAGE_SERVICE_TOKENS)
    try:
        token, plaintext = tokens.api_token_create(actor=membership, kind=kind, name=form.cleaned_data["name"],
                                                   expires_at=form.expires_at(), ip=client_ip(request))
    except ServiceError as exc:
        form.add_error(None, str(exc))
        return _page(request, membership, form, status=400)
    response = render(request, "tokens/token_created.html", {
        "membership": membership, "team": membership.team, "token": token, "plaintext": plaintext,
        "api_url": request.build_absolute_uri("/api/v1/"), "base_url": request.build_absolute_uri("/"),
    })
    return response  # secret_page: strict CSP, no-store, Referrer-Policy: same-origin


@login_required
@require_POST
def token_revoke(request, team, token):
    membership, api_token = access.api_token_for_action(request.user, team, token)
    if tokens.api_token_revoke(actor=request.user, token=api_token, ip=client_ip(request)):
        messages.success(request, f"Token “{api_token.name}” revoked. Anything using it gets 401 from now on.")
    else:
        messages.info(request, f"Token “{api_token.name}” was already revoked.")
    return redirect("accounts:token_list", team=membership.team.code)
