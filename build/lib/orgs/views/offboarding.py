"""Offboarding pages: removing a member, or leaving a team, decides what happens to each org the person owns.

Each view: one call into the funnel → the dialog → `orgs.services.sharing.offboard`.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render

from orgs import access
from orgs.access import TeamAction
from orgs.services.sharing import offboard, offboarding_plan
from portal.accounts.access import target_membership_for_action
from portal.accounts.context_processors import CURRENT_TEAM_SESSION_KEY
from portal.accounts.models import Membership
from portal.accounts.reauth import recent_authentication_required
from portal.accounts.services import ServiceError
from portal.lib.http import client_ip


def _offboard_decisions(request, plan, membership) -> dict:
    """decision-<connection code> = "disconnect" or the code of the member who takes the org over."""
    members = {str(m.code): m.user for m in Membership.objects.filter(team=membership.team).select_related("user")}
    decisions = {}
    for row in plan:
        choice = request.POST.get(f"decision-{row['connection'].code}", "")
        if choice == "disconnect":
            decisions[row["connection"].pk] = None
        elif choice in members:
            decisions[row["connection"].pk] = members[choice]
    return decisions


def _offboard(request, *, membership, leaving: bool):
    """The removal (or leave) dialog: what happens to each org the person owns, and who would lose access."""
    plan = offboarding_plan(membership=membership)
    if request.method == "POST":
        try:
            decisions = _offboard_decisions(request, plan, membership)
            offboard(actor=request.user, membership=membership, decisions=decisions, ip=client_ip(request),
                     leaving=leaving)
        except ServiceError as exc:
            messages.error(request, str(exc))
        else:
            if leaving:
                request.session.pop(CURRENT_TEAM_SESSION_KEY, None)
                messages.success(request, f"You left {membership.team.name}.")
                return redirect("home")
            messages.success(request, f"{membership.user.email} was removed from {membership.team.name}.")
            return redirect("accounts:team_members", team=membership.team.code)
    others = membership.team.memberships.select_related("user").exclude(pk=membership.pk).order_by("user__email")
    return render(request, "accounts/offboard.html", {
        "membership": membership, "team": membership.team, "plan": plan, "others": others, "leaving": leaving,
    }, status=400 if request.method == "POST" else 200)


@login_required
@recent_authentication_required
def member_remove(request, team, member):
    membership = access.membership_for_action(request.user, team, TeamAction.MANAGE_MEMBERS)
    target = target_membership_for_action(membership, member)
    if target.pk == membership.pk:
        messages.error(request, "Use “Leave team” to remove yourself.")
        return redirect("accounts:team_members", team=membership.team.code)
    return _offboard(request, membership=target, leaving=False)


@login_required
def team_leave(request, team):
    membership = access.membership_for_action(request.user, team, TeamAction.LEAVE)
    return _offboard(request, membership=membership, leaving=True)
