"""Operations pages: the scratch-org inventory (team-wide and per Dev Hub). The health summary is on the team
dashboard (portal.accounts.views.team_dashboard, via orgs.selectors.health_for_member)."""

from datetime import timedelta

from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.shortcuts import render
from django.utils import timezone

from orgs.models import ScratchOrg
from orgs.selectors import access_for_member
from portal import access
from portal.access import TeamAction

SORTS = {
    "expires": ("expiration_date", "signup_username"),
    "-expires": ("-expiration_date", "signup_username"),
    "status": ("status", "expiration_date"),
    "creator": ("created_by_username", "expiration_date"),
    "created": ("-created_date",),
}
STATUSES = ["Active", "New", "Creating", "Error", "Deleted"]


def _inventory(request, membership, hubs):
    rows = ScratchOrg.objects.filter(team=membership.team, dev_hub_id__in=hubs).select_related(
        "dev_hub", "connection")
    status = request.GET.get("status", "live")
    if status == "live":
        rows = rows.filter(deleted_at__isnull=True).exclude(status="Deleted")
    elif status in STATUSES:
        rows = rows.filter(status=status)
    creator = request.GET.get("creator", "").strip()
    if creator:
        rows = rows.filter(Q(created_by_username__icontains=creator) | Q(requested_by__email__icontains=creator))
    connected = request.GET.get("connected", "")
    if connected in ("yes", "no"):
        rows = rows.filter(connection__isnull=(connected == "no"))
    expiring = request.GET.get("expiring", "")
    if expiring.isdigit():
        rows = rows.filter(expiration_date__lte=timezone.now().date() + timedelta(days=int(expiring)))
    sort = request.GET.get("sort", "expires")
    rows = rows.order_by(*SORTS.get(sort, SORTS["expires"]))
    today = timezone.now().date()
    items = [(row, (row.expiration_date - today).days if row.expiration_date else None) for row in rows[:1000]]
    return items, {"status": status, "creator": creator, "connected": connected, "expiring": expiring,
                   "sort": sort}


@login_required
def scratch_orgs(request, team):
    """Every scratch org on the Dev Hubs the member can see."""
    membership = access.membership_for_action(request.user, team, TeamAction.VIEW)
    mine = access_for_member(membership=membership)
    hubs = [cid for cid in mine]
    items, filters = _inventory(request, membership, hubs)
    return render(request, "ops/scratch_orgs.html", {"membership": membership, "team": membership.team,
                                                      "items": items, "filters": filters, "hub": None,
                                                      "statuses": STATUSES})


@login_required
def hub_scratch_orgs(request, team, connection):
    membership, hub, _ = access.connection_for_user(request.user, team, connection, access.Level.VIEW)
    items, filters = _inventory(request, membership, [hub.pk])
    return render(request, "ops/scratch_orgs.html", {"membership": membership, "team": membership.team,
                                                      "items": items, "filters": filters, "hub": hub,
                                                      "statuses": STATUSES})
