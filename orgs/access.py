"""The org funnel: what a member (or an API token) may see, target and manage on the team's Salesforce side.

Every permission decision about connections, connected apps, signing keys and scratch orgs is made here, on top of
the team funnel (`portal.accounts.access`). Views call one function at their top and get back the object:
outsiders and objects of another team get `Http404`; too low a level or role gets `PermissionDenied` (403).
Templates never compare levels or roles: views put `connection_permissions(...)` (or `perms`) in the context.

`effective_access` is THE computation of who can do what with which connection. It is the only source for the
orgs pages, the "who can target what" matrix, the REST API and worker notifications. It runs a fixed number of
queries (memberships, group memberships, connections with their access policy, grants: four; a fifth, the active
access requests, when some of the connections are "access on request") whatever the number of members, groups and
orgs, and does the rest in memory.

Rules (highest wins):
- the connection's owner: manage ("owner");
- team owners and admins: manage on every team connection ("team admin");
- grants: to the member ("direct"), to their role ("via role admin" / "via role member"; the admin role covers
  owners and admins, the member role everyone), or to a group they are in ("via group QA");
- service tokens: only their own grants ("direct");
- on an "access on request" connection (issue 18: its AccessPolicy, or PORTAL_ACCESS_ON_REQUEST_PRODUCTION for
  production orgs) member, role and group grants are *eligible*: view level plus `Access.eligible`; an approved
  access request is active at its level (up to the eligible one) while its `expires_at` is after now.

The tables and columns these rules read are `ACCESS_INPUTS`; the triggers of orgs/migrations/0004 raise the team's
access version on every write to them (tests/test_layout.py checks that the two lists agree).
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils import timezone

from orgs.models import (
    AccessPolicy,
    AccessRequest,
    AccessReview,
    AccessReviewItem,
    ConnectedApp,
    Grant,
    OrgAlias,
    OrgConnection,
    Sandbox,
    ScratchOrg,
    SigningKey,
    TrustPolicy,
)
from portal.accounts.access import (
    TeamAction,
    membership_for_action,
    membership_for_user,
    role_allows,
    team_allows,
    team_object,
    team_permissions,
)
from portal.accounts.models import Membership, TeamGroup

# What access decisions read: these tables (for connections, only these columns). The triggers of
# orgs/migrations/0004 raise the team's access version on every write to them, which is what lets
# orgs.api.authentication cache decisions; tests/test_layout.py checks that the two lists agree.
ACCESS_INPUTS: dict[str, tuple[str, ...] | None] = {
    Membership._meta.db_table: None,  # roles
    TeamGroup._meta.db_table: None,
    TeamGroup.members.through._meta.db_table: None,  # group membership
    Grant._meta.db_table: None,
    OrgAlias._meta.db_table: None,  # the API resolves aliases
    OrgConnection._meta.db_table: ("owner_id", "team_id", "username", "org_id", "kind"),
    AccessPolicy._meta.db_table: None,  # access on request (issue 18)
    AccessRequest._meta.db_table: None,  # time-boxed access: approvals, ends
}

# The team funnel's entry points, re-exported so an org view makes its one call here.
__all__ = ["Access", "Level", "PermissionDenied", "TeamAction", "team_object",
           "membership_for_action", "membership_for_user", "team_allows",
           "team_permissions"]

Level = Grant.Level


@dataclass(frozen=True, order=True)
class Access:
    level: int  # a Grant.Level value
    reason: str
    # Time-boxed access (an approved request): when it ends and the request's code. Decisions cached anywhere must
    # compare `expires_at` with the current time before trusting themselves (`Access.current`).
    expires_at: datetime | None = field(default=None, compare=False)
    request: str = field(default="", compare=False)
    # On an "access on request" connection: the level the member may request (eligible), above `level`.
    eligible: int = field(default=0, compare=False)

    @property
    def current(self) -> bool:
        """False once a time-boxed access has run out (compare with now; nothing has to run for it to end)."""
        return self.expires_at is None or self.expires_at > timezone.now()

    @property
    def eligible_label(self) -> str:
        return Level(self.eligible).label if self.eligible else ""

    @property
    def only_eligible_for(self) -> int:
        """The eligible level when it is above the active one (0 otherwise): 'request it to get it'."""
        return self.eligible if self.eligible > self.level else 0

    @property
    def time_boxed(self) -> bool:
        return self.expires_at is not None

    @property
    def level_label(self) -> str:
        return Level(self.level).label

    # What the level allows; templates and views ask these, never compare levels themselves.
    @property
    def can_target(self) -> bool:
        return self.level >= Level.TARGET

    @property
    def can_manage(self) -> bool:
        return self.level >= Level.MANAGE

    def allows(self, need: int) -> bool:
        return self.level >= need

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


def on_request_connections(connections) -> set[int]:
    """Ids among (id, kind, policy on_request or None) rows that are "access on request": the connection's policy,
    else PORTAL_ACCESS_ON_REQUEST_PRODUCTION for production orgs."""
    default = settings.PORTAL_ACCESS_ON_REQUEST_PRODUCTION
    return {cid for cid, kind, on_request in connections
            if (on_request if on_request is not None else default and kind == OrgConnection.Kind.PRODUCTION)}


def effective_access(*, team, user_ids=None, connection_ids=None, now=None) -> dict[tuple[int, int], Access]:
    """{(user id, connection id): Access} for the team's members (or `user_ids`) and connections (or
    `connection_ids`). Pairs with no access are absent. Five queries, whatever the sizes.

    On an "access on request" connection, member/role/group grants are *eligible*: they give view level plus
    `Access.eligible` (the level that may be requested). An approved access request whose `expires_at` is after
    `now` is active access at its level, capped by the member's current eligible level (removing eligibility ends
    it too). The expiry is compared here, on every decision: nothing has to run for access to end."""
    now = now or timezone.now()
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
    rows = list(connections.values_list("id", "owner_id", "kind", "access_policy__on_request"))
    owners = {cid: owner_id for cid, owner_id, _, _ in rows}
    on_request = on_request_connections((cid, kind, flag) for cid, _, kind, flag in rows)
    grants = Grant.objects.filter(team=team, connection_id__in=list(owners)).exclude(
        subject_type=Grant.Subject.SERVICE_TOKEN).only("connection_id", "level", "subject_type", "member_id", "role",
                                                       "group_id")
    requests = []
    if on_request:
        requests = AccessRequest.objects.filter(team=team, connection_id__in=sorted(on_request),
                                                state=AccessRequest.State.APPROVED, expires_at__gt=now)
        if user_ids is not None:
            requests = requests.filter(requester_id__in=user_ids)
        requests = list(requests.values_list("requester_id", "connection_id", "level", "expires_at", "code"))

    result: dict[tuple[int, int], Access] = {}
    eligible: dict[tuple[int, int], Access] = {}
    ranks = {uid: Membership.rank_of(m["role"]) for uid, m in members.items()}
    admins = [uid for uid, m in members.items() if role_allows(m["role"], TeamAction.MANAGE_EVERY_ORG)]
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
            targets = [uid for uid, rank in ranks.items() if rank >= Membership.rank_of(grant.role)]
        else:
            targets = members_by_group.get(grant.group_id, [])
        into = eligible if grant.connection_id in on_request else result
        for uid in targets:
            key = (uid, grant.connection_id)
            into[key] = _better(into.get(key), access)

    # Eligible grants: view level (to see and request the org) plus the level that may be requested.
    for key, access in eligible.items():
        current = result.get(key)
        if current is not None and current.level >= access.level:
            continue
        base = current or Access(Level.VIEW, f"eligible {access.reason}")
        result[key] = Access(base.level, base.reason, eligible=access.level)
    # Approved, unexpired requests: active at the requested level, up to the current eligible level.
    for requester_id, connection_id, level, expires_at, code in requests:
        key = (requester_id, connection_id)
        allowed = eligible.get(key)
        current = result.get(key)
        if allowed is None or current is None:
            continue
        level = min(level, allowed.level)
        if level > current.level:
            result[key] = Access(level, f"time-boxed until {timezone.localtime(expires_at):%Y-%m-%d %H:%M}",
                                 expires_at=expires_at, request=str(code), eligible=allowed.level)
    return result


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


def token_holders(*, team, user_ids=None, connection_ids=None, service_token_ids=None) -> set[tuple[str, int, int]]:
    """Who may be handed an access token for which connection: {("user", user id, connection id)} for members with
    target level or more, {("service", token id, connection id)} for active service tokens with such a grant.
    `user_ids` / `service_token_ids`: None means all of them, [] none. Compared before and after a write, the pairs
    that disappeared are the connections whose handed-out tokens must be revoked (orgs/services/revocation.py)."""
    holders: set[tuple[str, int, int]] = set()
    if user_ids is None or user_ids:
        holders |= {("user", uid, cid) for (uid, cid), access in
                    effective_access(team=team, user_ids=user_ids, connection_ids=connection_ids).items()
                    if access.can_target}
    if service_token_ids is None or service_token_ids:
        grants = Grant.objects.filter(team=team, subject_type=Grant.Subject.SERVICE_TOKEN, level__gte=Level.TARGET)
        if connection_ids is not None:
            grants = grants.filter(connection_id__in=connection_ids)
        if service_token_ids is not None:
            grants = grants.filter(service_token_id__in=service_token_ids)
        for grant in grants.select_related("service_token"):
            if grant.service_token.is_active:
                holders.add(("service", grant.service_token_id, grant.connection_id))
    return holders


# -- the funnel for pages ----------------------------------------------------------------------------------------------

def connection_level(membership: Membership, connection):
    """The member's effective Access (level + reason) on a connection, or None when they can't see it."""
    if connection.team_id != membership.team_id:
        return None
    pairs = effective_access(team=membership.team, user_ids=[membership.user_id], connection_ids=[connection.pk])
    return pairs.get((membership.user_id, connection.pk))


def connection_for_user(user, team_code, connection_code, need):
    """(membership, connection, access): 404 if the caller can't see it, 403 if their level is below `need`."""
    membership = membership_for_user(user, team_code)
    connection = team_object(OrgConnection, membership, connection_code)
    access = connection_level(membership, connection)
    if access is None:
        raise Http404
    if not access.allows(need):
        raise PermissionDenied
    return membership, connection, access


def can_share(membership: Membership, connection, access) -> bool:
    """Managers share; production orgs and Dev Hubs only by team admins unless the team policy opens it up."""
    if access is None or not access.can_manage:
        return False
    if connection.is_sensitive and membership.team.share_production_policy == "admins":
        return team_allows(membership, TeamAction.MANAGE_EVERY_ORG)
    return True


def connections_visible_to(membership: Membership) -> set[int] | None:
    """Ids of the team's connections the member can see; None when they see every one (team admins)."""
    if team_allows(membership, TeamAction.MANAGE_EVERY_ORG):
        return None
    return set(access_for_member(membership=membership))


def connection_for_sharing(user, team_code, connection_code):
    """(membership, connection, access) if the caller may change the connection's sharing; 404/403 otherwise."""
    membership, connection, access = connection_for_user(user, team_code, connection_code, Level.VIEW)
    if not can_share(membership, connection, access):
        raise PermissionDenied
    return membership, connection, access


def app_for_action(user, team_code, app_code, action: TeamAction):
    """(membership, app): 404 unless the app is in a team the caller belongs to, 403 if the role is too low."""
    membership = membership_for_user(user, team_code)
    app = team_object(ConnectedApp, membership, app_code)
    if not team_allows(membership, action):
        raise PermissionDenied
    return membership, app


def signing_key_for_action(user, team_code, key_code, action: TeamAction = TeamAction.MANAGE_KEYS):
    membership = membership_for_user(user, team_code)
    key = team_object(SigningKey, membership, key_code)
    if not team_allows(membership, action):
        raise PermissionDenied
    return membership, key


def scratch_org_for_delete(user, team_code, scratch_code):
    """(membership, scratch org): its creator, or a manager of its Dev Hub, may delete it (404/403 otherwise)."""
    membership = membership_for_user(user, team_code)
    scratch = team_object(ScratchOrg, membership, scratch_code)
    hub_access = connection_level(membership, scratch.dev_hub)
    if hub_access is None:
        raise Http404
    if not can_delete_scratch_org(membership, scratch, hub_access):
        raise PermissionDenied
    return membership, scratch


def scratch_org_for_user(user, team_code, scratch_code):
    """(membership, scratch org, access on its Dev Hub): whoever can see the Dev Hub sees its scratch orgs and their
    live status (404 otherwise, outsiders included)."""
    membership = membership_for_user(user, team_code)
    scratch = team_object(ScratchOrg, membership, scratch_code)
    hub_access = connection_level(membership, scratch.dev_hub)
    if hub_access is None:
        raise Http404
    return membership, scratch, hub_access


def scratch_connection_visible(membership: Membership, scratch: ScratchOrg) -> bool:
    """Whether the member may follow the link to the scratch org's portal connection (they can see it)."""
    if scratch.connection_id is None:
        return False
    if scratch.connection.owner_id == membership.user_id:
        return True
    return connection_level(membership, scratch.connection) is not None


def can_create_scratch_org(hub: OrgConnection, hub_access: Access | None) -> bool:
    """Anyone who may target a Dev Hub may create scratch orgs on it."""
    return hub.is_devhub and hub_access is not None and hub_access.can_target


def can_delete_scratch_org(membership: Membership, scratch: ScratchOrg, hub_access: Access | None) -> bool:
    """Its creator, or a manager of its Dev Hub."""
    return hub_access is not None and (scratch.requested_by_id == membership.user_id or hub_access.can_manage)


# -- sandboxes of production orgs ----------------------------------------------------------------------------------

def can_see_sandboxes(production: OrgConnection, production_access: Access | None) -> bool:
    """Whoever can see a production connection sees its sandboxes tab."""
    return production.kind == OrgConnection.Kind.PRODUCTION and production_access is not None


def can_manage_sandboxes(production: OrgConnection, production_access: Access | None) -> bool:
    """Create, refresh, delete, retry, dismiss: manage level on the production connection (team admins have it)."""
    return can_see_sandboxes(production, production_access) and production_access.can_manage


def production_for_sandboxes(user, team_code, connection_code, *, manage: bool = False):
    """(membership, production connection, access): 404 unless a production org the caller can see; 403 when
    `manage` and the caller may not manage its sandboxes."""
    membership, production, production_access = connection_for_user(user, team_code, connection_code, Level.VIEW)
    if not can_see_sandboxes(production, production_access):
        raise Http404
    if manage and not can_manage_sandboxes(production, production_access):
        raise PermissionDenied
    return membership, production, production_access


def sandbox_for_user(user, team_code, sandbox_code, *, manage: bool = False):
    """(membership, sandbox, access on its production org): 404 for outsiders, 403 when `manage` is refused."""
    membership = membership_for_user(user, team_code)
    sandbox = team_object(Sandbox, membership, sandbox_code)
    production_access = connection_level(membership, sandbox.production)
    if not can_see_sandboxes(sandbox.production, production_access):
        raise Http404
    if manage and not can_manage_sandboxes(sandbox.production, production_access):
        raise PermissionDenied
    return membership, sandbox, production_access


def sandbox_connection_owner_visible(visible: set[int] | None, connection_id: int | None) -> bool:
    """Whether the viewer may see who connected a sandbox (they can see that connection)."""
    return connection_id is not None and (visible is None or connection_id in visible)


def trust_policy_for_action(user, team_code, policy_code):
    """(membership, policy) for a team admin managing CI trust policies; 404 outside the team, 403 below admin."""
    membership = membership_for_user(user, team_code)
    policy = team_object(TrustPolicy, membership, policy_code)
    if not team_allows(membership, TeamAction.MANAGE_TRUST_POLICIES):
        raise PermissionDenied
    return membership, policy


def membership_of_api_token(token, action: TeamAction) -> Membership:
    """The member a personal API token acts as, if their role allows `action` (403 otherwise; service tokens act
    for nobody)."""
    if token.user_id is None:
        raise PermissionDenied
    membership = Membership.objects.select_related("team", "user").filter(team_id=token.team_id,
                                                                           user_id=token.user_id).first()
    if membership is None or not team_allows(membership, action):
        raise PermissionDenied
    return membership


# -- the same rules for API tokens -------------------------------------------------------------------------------------

def principal_access(token, connection_ids=None) -> dict:
    """{connection id: Access} for an API token: a personal token acts as its member (current role and grants,
    read from the database on every call); a service token reaches only the orgs shared with it.
    `connection_ids` narrows the computation to those connections."""
    if not token.is_active:
        return {}
    if token.kind == token.Kind.SERVICE:
        found = access_for_service_token(token=token)
        if connection_ids is not None:
            wanted = set(connection_ids)
            found = {c: a for c, a in found.items() if c in wanted}
        return found
    if token.user_id is None or not token.user.is_active:
        return {}
    # Without a membership row (left or removed) the selector finds no access, so nothing is reachable.
    pairs = effective_access(team=token.team, user_ids=[token.user_id], connection_ids=connection_ids)
    return {connection_id: a for (_, connection_id), a in pairs.items()}


def api_connections(token, *, min_level=None) -> list[tuple]:
    """[(connection, access, alias or None)] the token can reach at `min_level` (default: target), by alias."""
    min_level = min_level or Level.TARGET
    reachable = {cid: a for cid, a in principal_access(token).items() if a.level >= min_level}
    connections = OrgConnection.objects.filter(id__in=list(reachable)).select_related("app")
    aliases = {}
    if token.user_id:
        aliases = {a.connection_id: a for a in OrgAlias.objects.filter(user_id=token.user_id,
                                                                        connection_id__in=list(reachable))}
    rows = [(c, reachable[c.id], aliases.get(c.id)) for c in connections]
    return sorted(rows, key=lambda row: (row[2].alias if row[2] else "~", row[0].username))


# -- time-boxed access (issue 18): requests, approvals, break-glass ------------------------------------------------

@dataclass(frozen=True)
class AccessRules:
    """A connection's access policy as it applies now (a default when it has no AccessPolicy row)."""
    on_request: bool
    break_glass: bool
    approvals_required: int
    approver_group_id: int | None


def access_rules(connection: OrgConnection) -> AccessRules:
    policy = AccessPolicy.objects.filter(connection=connection).first()
    if policy is None:
        on = connection.id in on_request_connections([(connection.id, connection.kind, None)])
        return AccessRules(on_request=on, break_glass=False, approvals_required=1, approver_group_id=None)
    return AccessRules(on_request=policy.on_request, break_glass=policy.on_request and policy.break_glass,
                       approvals_required=policy.approvals_required, approver_group_id=policy.approver_group_id)


def can_request(found: Access | None, level: int) -> bool:
    """A member may request a level above their active one, up to their eligible level."""
    return found is not None and found.eligible >= level > 0


def can_break_glass(rules: AccessRules, found: Access | None) -> bool:
    return rules.on_request and rules.break_glass and found is not None and found.eligible > 0


def can_manage_access_policy(membership: Membership) -> bool:
    return team_allows(membership, TeamAction.MANAGE_EVERY_ORG)


def is_approver(membership: Membership, rules: AccessRules) -> bool:
    """Team admins, or the members of the connection's approver group when it names one."""
    if rules.approver_group_id is not None:
        return membership.groups.filter(pk=rules.approver_group_id).exists()
    return team_allows(membership, TeamAction.MANAGE_EVERY_ORG)


def can_decide(membership: Membership, request: AccessRequest, rules: AccessRules) -> bool:
    """Approve or deny: an approver who is not the requester and has not approved it already."""
    if request.requester_id == membership.user_id or not request.is_pending:
        return False
    if any(a.get("user_id") == membership.user_id for a in request.approvals):
        return False
    return is_approver(membership, rules)


def can_end(membership: Membership, request: AccessRequest) -> bool:
    """The requester ends their own active access early (or cancels a pending request)."""
    return request.requester_id == membership.user_id and (request.is_active or request.is_pending)


def can_revoke(membership: Membership, request: AccessRequest) -> bool:
    """A team admin revokes someone's active access."""
    return request.is_active and team_allows(membership, TeamAction.MANAGE_EVERY_ORG)


def request_permissions(membership: Membership, request: AccessRequest, rules: AccessRules) -> dict:
    return {"decide": can_decide(membership, request, rules), "end": can_end(membership, request),
            "revoke": can_revoke(membership, request)}


def can_see_request(membership: Membership, request: AccessRequest, rules: AccessRules) -> bool:
    return (request.requester_id == membership.user_id or is_approver(membership, rules)
            or team_allows(membership, TeamAction.MANAGE_EVERY_ORG))


def access_request_for_user(user, team_code, request_code, action: str = "view"):
    """(membership, request, rules): 404 unless the caller is the requester, an approver or a team admin; 403 when
    `action` ("decide", "end", "revoke") is not theirs (now)."""
    membership = membership_for_user(user, team_code)
    request = team_object(AccessRequest, membership, request_code)
    return (membership, request, *_request_check(membership, request, action))


def _request_check(membership, request, action):
    rules = access_rules(request.connection)
    if not can_see_request(membership, request, rules):
        raise Http404
    if action != "view" and not request_permissions(membership, request, rules)[action]:
        raise PermissionDenied
    return (rules,)


def access_request_for_api_token(token, request_code, action: str = "view"):
    """(membership, request, rules) for a personal API token; 404/403 as for pages."""
    membership = membership_of_api_token(token, TeamAction.VIEW)
    try:
        request = AccessRequest.objects.select_related("connection").get(team_id=token.team_id, code=request_code)
    except (AccessRequest.DoesNotExist, ValueError, TypeError):
        raise Http404 from None
    return (membership, request, *_request_check(membership, request, action))


def requests_to_decide(membership: Membership):
    """The team's pending requests this member may approve or deny."""
    pending = (AccessRequest.objects.filter(team=membership.team, state=AccessRequest.State.PENDING,
                                            decide_by__gt=timezone.now())
               .exclude(requester_id=membership.user_id).select_related("connection", "requester"))
    return [r for r in pending if can_decide(membership, r, access_rules(r.connection))]


def approvers_of(connection: OrgConnection, rules: AccessRules) -> list:
    """The members who may approve requests on the connection (for notices)."""
    members = Membership.objects.filter(team_id=connection.team_id).select_related("user")
    if rules.approver_group_id is not None:
        members = members.filter(groups__pk=rules.approver_group_id)
        return [m.user for m in members]
    return [m.user for m in members if team_allows(m, TeamAction.MANAGE_EVERY_ORG)]


def only_eligible(found: Access | None, need: int) -> bool:
    """True when `need` is refused only because the access is eligible (a request would grant it)."""
    return found is not None and not found.allows(need) and found.only_eligible_for >= need


def eligible_denial(ident: str, found: Access) -> str:
    """What a refused hand-out says when the access is only eligible: that, and how to request it."""
    return (f"Your access to “{ident}” is eligible only ({found.eligible_label}): request it first, in the portal "
            f"(Access requests) or with `orgportal access request {ident} --level {found.eligible_label} "
            f"--minutes 60 --reason \"…\" --wait`.")


# -- access reviews (issue 18) -------------------------------------------------------------------------------------

def can_run_access_reviews(membership: Membership) -> bool:
    """Team admins start access reviews and review (confirm or remove) each grant."""
    return team_allows(membership, TeamAction.MANAGE_EVERY_ORG)


def access_reviews_for_user(user, team_code) -> Membership:
    membership = membership_for_user(user, team_code)
    if not can_run_access_reviews(membership):
        raise PermissionDenied
    return membership


def access_review_for_user(user, team_code, review_code):
    """(membership, review): 404 outside the team, 403 below team admin."""
    membership = membership_for_user(user, team_code)
    review = team_object(AccessReview, membership, review_code)
    if not can_run_access_reviews(membership):
        raise PermissionDenied
    return membership, review


def access_review_item_for_user(user, team_code, review_code, item_code):
    """(membership, review, item) for a reviewer deciding one grant; 404/403 as above."""
    membership, review = access_review_for_user(user, team_code, review_code)
    try:
        item = AccessReviewItem.objects.get(review=review, code=item_code)
    except (AccessReviewItem.DoesNotExist, ValueError, TypeError):
        raise Http404 from None
    return membership, review, item
