"""Reads on the Salesforce side that pages share: expiring certificates, the dashboard's health summary.

Who may see what is `orgs.access`'s; these functions take what it computed.
"""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from orgs.access import access_for_member
from orgs.models import OrgConnection, ScratchOrg, SigningKey


def signing_keys_expiring(*, team, within_days: int = 30):
    """Certificates that expire within `within_days` (or already have), soonest first."""
    return SigningKey.objects.filter(team=team, not_after__lte=timezone.now() + timedelta(days=within_days)) \
        .order_by("not_after")


def health_for_member(*, membership) -> dict:
    """The dashboard's health summary over the connections the member can see."""
    mine = access_for_member(membership=membership)
    connections = list(OrgConnection.objects.filter(id__in=list(mine)).only(
        "id", "code", "username", "status", "status_reason", "kind", "is_devhub", "last_error_at"))
    counts = {status: 0 for status in OrgConnection.Status.values}
    for connection in connections:
        counts[connection.status] += 1
    # "Soon" on the dashboard: a week, or the email notice window if that is longer.
    horizon = timezone.now().date() + timedelta(days=max(7, settings.PORTAL_SCRATCH_EXPIRY_NOTICE_DAYS))
    return {
        "counts": counts,
        "total": len(connections),
        "needs_reauth": [(c, mine[c.id].can_manage) for c in connections
                         if c.status == OrgConnection.Status.NEEDS_REAUTH],
        "check_needed": [(c, mine[c.id].can_manage) for c in connections
                         if c.status == OrgConnection.Status.CHECK_NEEDED],
        "degraded": [c for c in connections if c.status == OrgConnection.Status.DEGRADED],
        "key_unavailable": [c for c in connections if c.status == OrgConnection.Status.KEY_UNAVAILABLE],
        "scratch_expiring": list(ScratchOrg.objects.filter(dev_hub_id__in=list(mine), status="Active",
                                                           deleted_at__isnull=True, expiration_date__lte=horizon)
                                 .select_related("dev_hub").order_by("expiration_date")[:20]),
    }
