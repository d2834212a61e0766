"""Reads on the Salesforce side that pages, the API and the access funnel share. No side effects.

`effective_access` is THE computation of who can do what with which connection. It is the only source for the
orgs pages, the "who can target what" matrix, `portal.access` and the REST API. It runs a fixed number of queries
(memberships, group memberships, grants, connections: four) whatever the number of members, groups and orgs, and
does the rest in memory.

Rules (highest wins):
- the connection's owner: manage ("owner");
- team owners and admins: manage on every team connection ("team admin");
- grants: to the member ("direct"), to their role ("via role admin" / "via role member"; the admin role covers
  owners and admins, the member role everyone), or to a group they are in ("via group QA");
- service tokens: only their own grants ("direct").
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from orgs.models import Grant, OrgConnection, SigningKey
from portal import hotsql
from portal.accounts.models import Membership

Level = Grant.Level


@dataclass(frozen=True, order=True)
class Access:
    level: int  # a Grant.Level value
    reason: str

    @property
    def level_label(self) -> str:
        return Level(self.level).label

    def __str__(self) -> str:
        return f"{self.level_label} ({self.reason})"


_RANK_ORDER = {"owner": 3, "team admin": 2}  # on equal levels, prefer the most telling reason


def _better(current: Access | None, candidate: Access) -> Access:
    if current is None or candidate.level > current.level:
        return candidate
    if candidate.level == current.level and _RANK_ORDER.get(candidate.reason, 0) > _RANK_ORDER.get(current.reason, 0):
        return candidate
    return current


def _grant_reason(grant: Grant, group_names: dict[int, str]) -> str:
    if grant.subject_type == Grant.Subject.MEMBER:
        return "direct"
    if grant.subject_type == Grant.Subject.ROLE:
        return f"via role {grant.role}"
    if grant.subject_type == Grant.Subject.GROUP:
        return f"via group {group_names.get(grant.group_id, '?')}"
    return "direct"


def effective_access(*, team, user_ids=None, connection_ids=None) -> dict[tuple[int, int], Access]:
    """{(user id, connection id): Access} for the team's members (or `user_ids`) and connections (or
    `connection_ids`). Pairs with no access are absent. Four queries, whatever the sizes."""
    memberships = Membership.objects.filter(team=team)
    if user_ids is not None:
        memberships = memberships.filter(user_id__in=user_ids)
    members = {m["user_id"]: m for m in memberships.values("id", "user_id", "role")}
    group_rows = Membership.groups.through.objects.filter(membership__team=team)
    if user_ids is not None:
        group_rows = group_rows.filter(membership__user_id__in=user_ids)
    group_rows = group_rows.values_list("membership__user_id", "teamgroup_id", "teamgroup__name")
    user_groups: dict[int, set[int]] = defaultdict(set)
    group_names: dict[int, str] = {}
    for user_id, group_id, group_name in group_rows:
        user_groups[user_id].add(group_id)
        group_names[group_id] = group_name

    connections = OrgConnection.objects.filter(team=team)
    if connection_ids is not None:
        connections = connections.filter(id__in=connection_ids)
    owners = dict(connections.values_list("id", "owner_id"))
    grants = Grant.objects.filter(team=team, connection_id__in=list(owners)).exclude(
        subject_type=Grant.Subject.SERVICE_TOKEN).only("connection_id", "level", "subject_type", "member_id", "role",
                                                       "group_id")

    result: dict[tuple[int, int], Access] = {}
    is_admin = {uid: m["role"] in ("owner", "admin") for uid, m in members.items()}
    admins = [uid for uid, flag in is_admin.items() if flag]
    for connection_id, owner_id in owners.items():
        for uid in admins:
            result[(uid, connection_id)] = Access(Level.MANAGE, "team admin")
        if owner_id in members:
            result[(owner_id, connection_id)] = Access(Level.MANAGE, "owner")

    members_by_group: dict[int, list[int]] = defaultdict(list)
    for uid, groups in user_groups.items():
        if uid in members:
            for gid in groups:
                members_by_group[gid].append(uid)
    for grant in grants:
        access = Access(grant.level, _grant_reason(grant, group_names))
        if grant.subject_type == Grant.Subject.MEMBER:
            targets = [grant.member_id] if grant.member_id in members else []
        elif grant.subject_type == Grant.Subject.ROLE:
            targets = admins if grant.role == "admin" else list(members)
        else:
            targets = members_by_group.get(grant.group_id, [])
        for uid in targets:
            key = (uid, grant.connection_id)
            result[key] = _better(result.get(key), access)
    return result


# A connection read in the same statement as an API token (portal.access.api_companion); same team only.
CONNECTION_COMPANION = hotsql.Companion(OrgConnection, "c", "c.id = %s AND c.team_id = t.team_id")


def access_for_member(*, membership: Membership) -> dict[int, Access]:
    """{connection id: Access} for one member."""
    pairs = effective_access(team=membership.team, user_ids=[membership.user_id])
    return {connection_id: access for (_, connection_id), access in pairs.items()}


def access_for_service_token(*, token) -> dict[int, Access]:
    """{connection id: Access} for a team service token: its own grants only."""
    if not token.is_active:
        return {}
    return {connection_id: Access(level, "direct") for connection_id, level in
            Grant.objects.filter(team_id=token.team_id, subject_type=Grant.Subject.SERVICE_TOKEN,
                                 service_token=token).values_list("connection_id", "level")}


def signing_keys_expiring(*, team, within_days: int = 30):
    """Certificates that expire within `within_days` (or already have), soonest first."""
    return SigningKey.objects.filter(team=team, not_after__lte=timezone.now() + timedelta(days=within_days)) \
        .order_by("not_after")


def health_for_member(*, membership) -> dict:
    """The dashboard's health summary over the connections the member can see."""
    from django.conf import settings

    from orgs.models import ScratchOrg

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
        "needs_reauth": [(c, mine[c.id].level == Level.MANAGE) for c in connections
                         if c.status == OrgConnection.Status.NEEDS_REAUTH],
        "degraded": [c for c in connections if c.status == OrgConnection.Status.DEGRADED],
        "scratch_expiring": list(ScratchOrg.objects.filter(dev_hub_id__in=list(mine), status="Active",
                                                           deleted_at__isnull=True, expiration_date__lte=horizon)
                                 .select_related("dev_hub").order_by("expiration_date")[:20]),
    }
