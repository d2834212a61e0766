"""CI trust policies (team admins): which CI jobs may exchange their OIDC identity for org tokens, and a dry run of
a sample token against a policy. Each view: one call into the funnel → form → one service call (orgs.services.oidc)."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from orgs import access
from orgs.access import TeamAction
from orgs.forms import TokenDryRunForm, TrustPolicyForm
from orgs.models import TrustPolicy
from orgs.services import oidc
from portal.accounts.reauth import recent_authentication_required
from portal.accounts.services import ServiceError
from portal.lib.http import client_ip


@login_required
def policy_list(request, team):
    membership = access.membership_for_action(request.user, team, TeamAction.MANAGE_TRUST_POLICIES)
    policies = (TrustPolicy.objects.filter(team=membership.team).select_related("issuer")
                .prefetch_related("connections").order_by("name"))
    return render(request, "ci/policy_list.html", {
        "membership": membership, "team": membership.team, "policies": policies,
        "token_url": settings.PORTAL_BASE_URL + "/api/v1/oauth/token"})


def _initial(policy: TrustPolicy) -> dict:
    return {"name": policy.name, "issuer_kind": policy.issuer.kind, "issuer_url": policy.issuer.issuer,
            "audience": policy.audience,
            "required_claims": "\n".join(f"{k}={v}" for k, v in sorted(policy.required_claims.items())),
            "glob_claim": policy.glob_claim, "glob_pattern": policy.glob_pattern,
            "allowed_events": ", ".join(policy.allowed_events), "connections": list(policy.connections.all()),
            "max_lifetime_minutes": policy.max_lifetime // 60}


def _save(request, membership, form, policy=None):
    data = form.cleaned_data
    issuer = oidc.issuer_register(actor=membership, kind=data["issuer_kind"], url=data["issuer_url"],
                                  ip=client_ip(request))
    return oidc.trust_policy_save(
        actor=membership, policy=policy, issuer=issuer, ip=client_ip(request), name=data["name"],
        audience=data["audience"], required_claims=data["required_claims"], glob_claim=data["glob_claim"],
        glob_pattern=data["glob_pattern"],
        allowed_events=data["allowed_events"] if data["allowed_events"] is not None else oidc.default_events(issuer),
        connection_ids=[c.pk for c in data["connections"]], max_lifetime=data["max_lifetime_minutes"] * 60)


@login_required
@recent_authentication_required
def policy_create(request, team):
    membership = access.membership_for_action(request.user, team, TeamAction.MANAGE_TRUST_POLICIES)
    form = TrustPolicyForm(request.POST if request.method == "POST" else None, team=membership.team,
                           initial={"audience": settings.PORTAL_BASE_URL})
    if request.method == "POST" and form.is_valid():
        try:
            policy = _save(request, membership, form)
        except ServiceError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Trust policy “{policy.name}” created.")
            return redirect("orgs:policy_detail", team=membership.team.code, policy=policy.code)
    return render(request, "ci/policy_form.html", {"membership": membership, "team": membership.team,
                                                   "form": form, "creating": True},
                  status=400 if form.is_bound and form.errors else 200)


@login_required
@recent_authentication_required
def policy_edit(request, team, policy):
    membership, policy = access.trust_policy_for_action(request.user, team, policy)
    form = TrustPolicyForm(request.POST if request.method == "POST" else None, team=membership.team,
                           initial=_initial(policy))
    if request.method == "POST" and form.is_valid():
        try:
            policy = _save(request, membership, form, policy)
        except ServiceError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Trust policy “{policy.name}” saved.")
            return redirect("orgs:policy_detail", team=membership.team.code, policy=policy.code)
    return render(request, "ci/policy_form.html", {"membership": membership, "team": membership.team,
                                                   "form": form, "policy": policy},
                  status=400 if form.is_bound and form.errors else 200)


@login_required
@sensitive_post_parameters("token")
def policy_detail(request, team, policy):
    """The policy, and a dry run: which conditions a pasted sample token matches (nothing is stored)."""
    membership, policy = access.trust_policy_for_action(request.user, team, policy)
    form = TokenDryRunForm(request.POST if request.method == "POST" else None)
    verdict = None
    if request.method == "POST" and form.is_valid():
        failure, conditions = oidc.dry_run(policy=policy, subject_token=form.cleaned_data["token"])
        verdict = {"failure": failure, "conditions": conditions,
                   "ok": failure is None and all(c.ok for c in conditions)}
        form = TokenDryRunForm()  # the token is not rendered back
    return render(request, "ci/policy_detail.html", {
        "membership": membership, "team": membership.team, "policy": policy, "form": form, "verdict": verdict,
        "orgs": policy.connections.order_by("username"),
        "token_url": settings.PORTAL_BASE_URL + "/api/v1/oauth/token"})


@login_required
@require_POST
@recent_authentication_required
def policy_toggle(request, team, policy):
    membership, policy = access.trust_policy_for_action(request.user, team, policy)
    enabled = request.POST.get("enabled") == "1"
    oidc.trust_policy_set_enabled(actor=membership, policy=policy, enabled=enabled, ip=client_ip(request))
    state = "enabled" if enabled else "disabled: the tokens it issued stop working"
    messages.success(request, f"“{policy.name}” {state}.")
    return redirect("orgs:policy_detail", team=membership.team.code, policy=policy.code)


@login_required
@require_POST
@recent_authentication_required
def policy_delete(request, team, policy):
    membership, policy = access.trust_policy_for_action(request.user, team, policy)
    name = policy.name
    oidc.trust_policy_delete(actor=membership, policy=policy, ip=client_ip(request))
    messages.success(request, f"Trust policy “{name}” deleted.")
    return redirect("orgs:policy_list", team=membership.team.code)
