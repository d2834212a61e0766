"""Team pages: teams, members, invitations, the audit log.

Each view: one call into the team funnel (portal.accounts.access) → form → one service call → redirect."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from portal.accounts import access, services
from portal.accounts.access import TeamAction
from portal.accounts.adapter import PENDING_INVITATION_SESSION_KEY
from portal.accounts.context_processors import CURRENT_TEAM_SESSION_KEY, remember_team
from portal.accounts.forms import AuditFilterForm, InvitationForm, RoleForm, TeamForm
from portal.accounts.models import AuditEvent, Invitation, Membership
from portal.accounts.reauth import recent_authentication_required
from portal.lib.csv_export import csv_download
from portal.lib.http import client_ip
from portal.lib.pagination import keyset_page, paginate


@login_required
def team_list(request):
    form = TeamForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            team = services.team_create(user=request.user, name=form.cleaned_data["name"], ip=client_ip(request))
        except services.ServiceError as exc:
            form.add_error("name", str(exc))
        else:
            request.session[CURRENT_TEAM_SESSION_KEY] = str(team.code)
            messages.success(request, f"Team “{team.name}” created. You are its owner.")
            return redirect("team_dashboard", team=team.code)
    memberships = (
        Membership.objects.filter(user=request.user)
        .select_related("team")
        .annotate(member_count=Count("team__memberships"))
        .order_by("team__name")
    )
    return render(request, "accounts/team_list.html", {"form": form, "memberships": memberships})


@login_required
@require_POST
def team_switch(request, team):
    membership = access.membership_for_user(request.user, team)
    remember_team(request, membership)
    return redirect("team_dashboard", team=membership.team.code)


def _members_context(request, membership: Membership, invite_form=None):
    team = membership.team
    page = paginate(request, team.memberships.select_related("user").order_by("user__email", "pk"))
    roles = access.assignable_roles(membership)
    for member in page:  # what the page may offer, for the rows shown only
        member.manageable = access.can_manage_member(membership, member) and member.pk != membership.pk
    return {
        "membership": membership,
        "team": team,
        "perms": access.team_permissions(membership),
        "members": page,
        "page": page,
        "roles": roles,
        "invite_form": invite_form or InvitationForm(roles=roles),
        "invitations": team.invitations.select_related("invited_by").filter(accepted_at=None, revoked_at=None),
    }


@login_required
def team_members(request, team):
    membership = access.membership_for_action(request.user, team, TeamAction.VIEW)
    remember_team(request, membership)
    return render(request, "accounts/team_members.html", _members_context(request, membership))


@login_required
@require_POST
def member_invite(request, team):
    membership = access.membership_for_action(request.user, team, TeamAction.INVITE)
    form = InvitationForm(request.POST, roles=access.assignable_roles(membership))
    if form.is_valid():
        try:
            invitation = services.invitation_create(
                actor=membership, email=form.cleaned_data["email"], role=form.cleaned_data["role"],
                ip=client_ip(request),
            )
        except services.ServiceError as exc:
            form.add_error("email", str(exc))
        else:
            messages.success(request, f"Invitation sent to {invitation.email}.")
            return redirect("accounts:team_members", team=membership.team.code)
    return render(request, "accounts/team_members.html", _members_context(request, membership, form), status=400)


@login_required
@require_POST
def invitation_revoke(request, team, invitation):
    membership = access.membership_for_action(request.user, team, TeamAction.INVITE)
    invitation = get_object_or_404(Invitation, code=invitation, team=membership.team)
    try:
        services.invitation_revoke(actor=membership, invitation=invitation, ip=client_ip(request))
    except services.ServiceError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Invitation for {invitation.email} withdrawn.")
    return redirect("accounts:team_members", team=membership.team.code)


@login_required
def notices(request, team):
    """The member's own notice choices for this team; security notices are listed as always sent."""
    from portal.accounts.models import MANDATORY_NOTICES, Notice, NoticeOptOut

    membership = access.membership_for_action(request.user, team, TeamAction.VIEW)
    if request.method == "POST":
        services.notices_set(membership=membership, enabled=set(request.POST.getlist("on")), ip=client_ip(request))
        messages.success(request, "Your notice choices were saved.")
        return redirect("accounts:notices", team=membership.team.code)
    off = set(NoticeOptOut.objects.filter(membership=membership).values_list("kind", flat=True))
    rows = [{"kind": k.value, "label": k.label, "mandatory": k in MANDATORY_NOTICES, "on": k.value not in off}
            for k in Notice]
    return render(request, "accounts/notices.html", {"team": membership.team, "rows": rows})


@login_required
@require_POST
def invitation_resend(request, team, invitation):
    membership = access.membership_for_action(request.user, team, TeamAction.INVITE)
    invitation = get_object_or_404(Invitation, code=invitation, team=membership.team)
    try:
        services.invitation_resend(actor=membership, invitation=invitation, ip=client_ip(request))
    except services.ServiceError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Invitation for {invitation.email} sent again; it now expires on "
                                  f"{invitation.expires_at:%Y-%m-%d}.")
    return redirect("accounts:team_members", team=membership.team.code)


@login_required
@require_POST
@recent_authentication_required
def member_role(request, team, member):
    membership = access.membership_for_action(request.user, team, TeamAction.MANAGE_MEMBERS)
    target = access.target_membership_for_action(membership, member)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose owner, admin or member.")
    else:
        try:
            services.membership_change_role(actor=membership, target=target, role=form.cleaned_data["role"],
                                            ip=client_ip(request))
        except services.ServiceError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"{target.user.email} is now {form.cleaned_data['role']}.")
    return redirect("accounts:team_members", team=membership.team.code)


@login_required
def audit_log(request, team):
    membership = access.membership_for_action(request.user, team, TeamAction.VIEW_AUDIT)
    form = AuditFilterForm(request.GET or None)
    events = AuditEvent.objects.filter(team=membership.team)
    if form.is_valid():
        data = form.cleaned_data
        if data["kind"]:
            events = events.filter(kind=data["kind"])
        if data["actor"]:
            events = events.filter(actor_label__icontains=data["actor"])
        if data["org"]:
            org = data["org"].strip()
            events = events.filter(Q(data__org_id__startswith=org[:15]) | Q(data__username__iexact=org)
                                   | Q(subject__iexact=org))
        if data["date_from"]:
            events = events.filter(created_at__date__gte=data["date_from"])
        if data["date_to"]:
            events = events.filter(created_at__date__lte=data["date_to"])
    elif form.is_bound:
        events = events.none()
    if request.GET.get("format") == "csv":
        return _audit_csv(membership.team, events)
    # Keyset pages ("Older" / "Newer" by a (created_at, id) cursor): the log only grows, so no COUNT(*), no OFFSET.
    page = keyset_page(events, before=request.GET.get("before"), after=request.GET.get("after"))
    query = request.GET.copy()
    for name in ("before", "after", "format"):
        query.pop(name, None)
    return render(request, "accounts/audit_log.html", {
        "membership": membership, "team": membership.team, "form": form, "page": page,
        "query": query.urlencode(), "perms": access.team_permissions(membership),
    })


def _audit_csv(team, events):
    response, writer = csv_download(f"audit-{team.code}.csv",
                                    ["time (UTC)", "actor", "event", "kind", "subject", "details", "ip"])
    for e in events.iterator():
        details = "; ".join(f"{k}={v}" for k, v in sorted(e.data.items()))
        writer.writerow([e.created_at.strftime("%Y-%m-%d %H:%M:%S"), e.actor_label, e.kind_label, e.kind,
                         e.subject, details, e.ip or ""])
    return response


def invitation(request, token):
    """The page an invitation link opens. Works for signed-in users and for people without an account yet."""
    try:
        invitation = services.invitation_from_token(token)
    except services.ServiceError as exc:
        return render(request, "accounts/invitation.html", {"error": str(exc)}, status=400)
    error = None
    if request.user.is_authenticated:
        try:
            services.invitation_check_for(invitation=invitation, user=request.user)
        except services.ServiceError as exc:
            error = str(exc)
        if request.method == "POST" and error is None:
            try:
                membership = services.invitation_accept(invitation=invitation, user=request.user,
                                                        ip=client_ip(request))
            except services.ServiceError as exc:
                error = str(exc)
            else:
                request.session.pop(PENDING_INVITATION_SESSION_KEY, None)
                remember_team(request, membership)
                messages.success(request, f"Welcome to {membership.team.name}!")
                return redirect("team_dashboard", team=membership.team.code)
    else:
        if invitation.state != Invitation.State.PENDING:
            try:
                services.invitation_check_for(invitation=invitation, user=request.user)
            except services.ServiceError as exc:
                error = str(exc)
        else:
            # Let this browser sign up even when signup is closed, with the invited address pre-verified.
            from allauth.account.adapter import get_adapter

            request.session[PENDING_INVITATION_SESSION_KEY] = token
            get_adapter(request).stash_verified_email(request, invitation.email)
    context = {
        "invitation": invitation,
        "error": error,
        "next": reverse("accounts:invitation", args=[token]),
    }
    return render(request, "accounts/invitation.html", context, status=400 if error and request.method == "POST"
                  else 200)


