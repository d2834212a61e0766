"""THE permission funnel. Every permission decision in the portal is made here, nowhere else.

Views call one function at their top and get back the object they may work on:
- not a member of the team (or the object is in another team): `Http404`, so outsiders cannot enumerate;
- a member whose role is too low for the action: `PermissionDenied` (403).

Templates only *display* what this module decides (`team_permissions`), they never re-derive a rule.
"""

from enum import StrEnum

from django.core.exceptions import PermissionDenied
from django.http import Http404

from orgs.models import Grant
from portal.accounts.models import Membership

Role = Membership.Role


class TeamAction(StrEnum):
    VIEW = "view"  # see the team, its members and its pages
    LEAVE = "leave"
    INVITE = "invite"  # send and revoke invitations
    MANAGE_MEMBERS = "manage_members"  # change roles, remove members
    VIEW_AUDIT = "view_audit"
    VIEW_APPS = "view_apps"  # names and status of the team's connected apps
    MANAGE_APPS = "manage_apps"  # create, edit, rotate secrets, delete connected apps
    MANAGE_KEYS = "manage_keys"  # upload, generate, delete JWT signing keys; download certificates
    CONNECT_ORG = "connect_org"  # authorize a new org with one of the team's connected apps
    CREATE_PERSONAL_TOKEN = "create_personal_token"  # API tokens acting as oneself
    MANAGE_SERVICE_TOKENS = "manage_service_tokens"  # team service tokens for CI
    CREATE_JWT_CONNECTION = "create_jwt_connection"  # headless connections signed with a team key
    MANAGE_GROUPS = "manage_groups"  # team groups and the sharing policy
    VIEW_MATRIX = "view_matrix"  # "who can target what" (members see the rows of orgs visible to them)


# The minimum role for each team action. One table, tested as a matrix.
_TEAM_ACTION_MIN_ROLE: dict[TeamAction, Role] = {
    TeamAction.VIEW: Role.MEMBER,
    TeamAction.LEAVE: Role.MEMBER,
    TeamAction.INVITE: Role.ADMIN,
    TeamAction.MANAGE_MEMBERS: Role.ADMIN,
    TeamAction.VIEW_AUDIT: Role.ADMIN,
    TeamAction.VIEW_APPS: Role.MEMBER,
    TeamAction.MANAGE_APPS: Role.ADMIN,
    TeamAction.MANAGE_KEYS: Role.ADMIN,
    TeamAction.CONNECT_ORG: Role.MEMBER,
    TeamAction.CREATE_PERSONAL_TOKEN: Role.MEMBER,
    TeamAction.MANAGE_SERVICE_TOKENS: Role.ADMIN,
    TeamAction.CREATE_JWT_CONNECTION: Role.ADMIN,
    TeamAction.MANAGE_GROUPS: Role.ADMIN,
    TeamAction.VIEW_MATRIX: Role.MEMBER,
}


def membership_for_user(user, team_code) -> Membership:
    """The caller's membership of the team, or 404 when they are not in it."""
    if not getattr(user, "is_authenticated", False):
        raise Http404
    try:
        return Membership.objects.select_related("team", "user").get(team__code=team_code, user=user)
    except (Membership.DoesNotExist, ValueError, TypeError):
        raise Http404 from None


def team_allows(membership: Membership, action: TeamAction) -> bool:
    return membership.rank >= Membership.RANK[_TEAM_ACTION_MIN_ROLE[action]]


def membership_for_action(user, team_code, action: TeamAction) -> Membership:
    """Membership if the caller may perform `action` in the team: 404 for outsiders, 403 for too low a role."""
    membership = membership_for_user(user, team_code)
    if not team_allows(membership, action):
        raise PermissionDenied
    return membership


def can_manage_member(actor: Membership, target: Membership) -> bool:
    """Admins manage members and admins; only owners manage owners."""
    if actor.team_id != target.team_id or not team_allows(actor, TeamAction.MANAGE_MEMBERS):
        return False
    return target.role != Role.OWNER or actor.role == Role.OWNER


def can_assign_role(actor: Membership, role: str) -> bool:
    """Nobody hands out more than they have: only owners make owners."""
    try:
        wanted = Membership.RANK[Role(role)]
    except ValueError:
        return False
    return team_allows(actor, TeamAction.MANAGE_MEMBERS) and wanted <= actor.rank


def target_membership_for_action(actor: Membership, membership_code) -> Membership:
    """Another member of the actor's team that the actor may manage (404 if not in the team, 403 if not allowed)."""
    try:
        target = Membership.objects.select_related("user", "team").get(code=membership_code, team=actor.team)
    except (Membership.DoesNotExist, ValueError, TypeError):
        raise Http404 from None
    if not can_manage_member(actor, target):
        raise PermissionDenied
    return target


def assignable_roles(actor: Membership) -> list[tuple[str, str]]:
    return [(value, label) for value, label in Role.choices if can_assign_role(actor, value)]


def team_permissions(membership: Membership) -> dict[str, bool]:
    """What the templates may offer; a convenience view of the rules above."""
    return {action.value: team_allows(membership, action) for action in TeamAction}


# -- Salesforce registrations: connected apps and signing keys -------------------------------------------------------

def _team_object(model, membership: Membership, code):
    try:
        return model.objects.get(team=membership.team, code=code)
    except (model.DoesNotExist, ValueError, TypeError):
        raise Http404 from None


def app_for_action(user, team_code, app_code, action: TeamAction):
    """(membership, app): 404 unless the app is in a team the caller belongs to, 403 if the role is too low."""
    from orgs.models import ConnectedApp

    membership = membership_for_user(user, team_code)
    app = _team_object(ConnectedApp, membership, app_code)
    if not team_allows(membership, action):
        raise PermissionDenied
    return membership, app


def signing_key_for_action(user, team_code, key_code, action: TeamAction = TeamAction.MANAGE_KEYS):
    from orgs.models import SigningKey

    membership = membership_for_user(user, team_code)
    key = _team_object(SigningKey, membership, key_code)
    if not team_allows(membership, action):
        raise PermissionDenied
    return membership, key


# -- org connections ---------------------------------------------------------------------------------------------------
# Levels and effective access are computed by orgs.selectors.effective_access (one place, a fixed number of queries).

Level = Grant.Level  # VIEW < TARGET < MANAGE


def connection_level(membership: Membership, connection):
    """The member's effective Access (level + reason) on a connection, or None when they can't see it."""
    from orgs.selectors import effective_access

    if connection.team_id != membership.team_id:
        return None
    pairs = effective_access(team=membership.team, user_ids=[membership.user_id], connection_ids=[connection.pk])
    return pairs.get((membership.user_id, connection.pk))


def connection_for_user(user, team_code, connection_code, need):
    """(membership, connection, access): 404 if the caller can't see it, 403 if their level is below `need`."""
    from orgs.models import OrgConnection

    membership = membership_for_user(user, team_code)
    connection = _team_object(OrgConnection, membership, connection_code)
    access = connection_level(membership, connection)
    if access is None:
        raise Http404
    if access.level < need:
        raise PermissionDenied
    return membership, connection, access


def can_share(membership: Membership, connection, access) -> bool:
    """Managers share; production orgs and Dev Hubs only by team admins unless the team policy opens it up."""
    if access is None or access.level < Level.MANAGE:
        return False
    sensitive = connection.is_devhub or connection.kind == "production"
    if sensitive and membership.team.share_production_policy == "admins":
        return membership.is_admin
    return True


def connection_for_sharing(user, team_code, connection_code):
    """(membership, connection, access) if the caller may change the connection's sharing; 404/403 otherwise."""
    membership, connection, access = connection_for_user(user, team_code, connection_code, Level.VIEW)
    if not can_share(membership, connection, access):
        raise PermissionDenied
    return membership, connection, access


def api_token_for_action(user, team_code, token_code):
    """(membership, token) the caller may manage: their own personal tokens; service tokens for admins.
    Other people's personal tokens are invisible (404)."""
    from portal.accounts.models import ApiToken

    membership = membership_for_user(user, team_code)
    try:
        token = ApiToken.objects.select_related("team", "user").get(team=membership.team, code=token_code)
    except (ApiToken.DoesNotExist, ValueError, TypeError):
        raise Http404 from None
    if token.kind == ApiToken.Kind.PERSONAL:
        if token.user_id != user.pk:
            raise Http404
        need = TeamAction.CREATE_PERSONAL_TOKEN
    else:
        need = TeamAction.MANAGE_SERVICE_TOKENS
    if not team_allows(membership, need):
        raise PermissionDenied
    return membership, token


def scratch_org_for_delete(user, team_code, scratch_code):
    """(membership, scratch org): its creator, or a manager of its Dev Hub, may delete it (404/403 otherwise)."""
    from orgs.models import ScratchOrg

    membership = membership_for_user(user, team_code)
    scratch = _team_object(ScratchOrg, membership, scratch_code)
    hub_access = connection_level(membership, scratch.dev_hub)
    if hub_access is None:
        raise Http404
    if scratch.requested_by_id != user.pk and hub_access.level < Level.MANAGE:
        raise PermissionDenied
    return membership, scratch


# -- the REST API: the same rules for API tokens ------------------------------------------------------------------

def principal_access(token, connection_ids=None) -> dict:
    """{connection id: Access} for an API token: a personal token acts as its member (current role and grants,
    read from the database on every call); a service token reaches only the orgs shared with it.
    `connection_ids` narrows the computation to those connections."""
    from orgs.selectors import access_for_service_token, effective_access

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
    from orgs.models import OrgAlias, OrgConnection

    min_level = min_level or Level.TARGET
    reachable = {cid: a for cid, a in principal_access(token).items() if a.level >= min_level}
    connections = OrgConnection.objects.filter(id__in=list(reachable)).select_related("app")
    aliases = {}
    if token.user_id:
        aliases = {a.connection_id: a for a in OrgAlias.objects.filter(user_id=token.user_id,
                                                                        connection_id__in=list(reachable))}
    rows = [(c, reachable[c.id], aliases.get(c.id)) for c in connections]
    return sorted(rows, key=lambda row: (row[2].alias if row[2] else "~", row[0].username))


class ApiAccessError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


# Per-process cache of API resolutions: (token hash, ident) -> (team access version, connection id, Access, alias).
# A hit is used only while the team's access version (read with the token, raised by database triggers on every
# membership, group, grant, alias or connection-ownership change) is the one the entry was computed at; the token's
# own validity and the connection row are read live on every call, in the token's statement (`api_companion`).
_API_DECISIONS: dict[tuple, tuple] = {}
_API_DECISIONS_MAX = 20_000


def api_companion(raw_token: str | None, ident: str | None):
    """What `api_token_authenticate` should read along with the token: the connection of a cached resolution of
    `ident` for this token, or None."""
    from orgs.selectors import CONNECTION_COMPANION
    from portal.accounts.tokens import api_token_hash

    if not raw_token or ident is None:
        return None
    cached = _API_DECISIONS.get((api_token_hash(raw_token), ident))
    return (CONNECTION_COMPANION, cached[1]) if cached else None


def api_connection(token, ident: str, *, need=None) -> tuple:
    """(connection, access, alias) for an alias, a username or an org id (15 or 18 characters), in that order.

    404 when nothing the token can see matches (unknown and invisible look the same), 403 when it is visible but
    below `need` (default: target), 409 when an org id matches several visible connections. Only candidate
    connections are evaluated (a fixed number of queries), with the same selector as everything else; the answer is
    then cached per process until the team's access version changes. A cached answer is used together with the
    connection row `api_companion` had read with the token; without that row it is resolved again.
    """
    need = need or Level.TARGET
    version = getattr(token, "access_version", None)  # set by api_token_authenticate
    key = (token.token_hash, ident)
    cached = _API_DECISIONS.get(key) if version is not None else None
    connection = None
    if cached is not None and cached[0] == version:
        _, connection_id, found, alias = cached
        companion = getattr(token, "companion", None)  # the connection row, read with the token (same team only)
        if companion is not None and companion.pk == connection_id:
            connection = companion
    if connection is None:
        connection, found, alias = _api_resolve(token, ident)
        if version is not None:
            if len(_API_DECISIONS) >= _API_DECISIONS_MAX:
                _API_DECISIONS.clear()
            _API_DECISIONS[key] = (version, connection.pk, found, alias)
    if found.level < need:
        raise ApiAccessError(403, "forbidden", f"You can see “{ident}” but not target it ({found}).")
    return connection, found, alias


def _api_resolve(token, ident: str) -> tuple:
    """api_connection without the cache or the level check."""
    from orgs.models import OrgAlias, OrgConnection

    in_team = OrgConnection.objects.filter(team_id=token.team_id)
    aliases = {}
    if token.user_id:
        aliases = {a.connection_id: a for a in OrgAlias.objects.filter(team_id=token.team_id,
                                                                        user_id=token.user_id, alias=ident)}
    stages = [lambda: list(aliases), lambda: list(in_team.filter(username__iexact=ident).values_list("id", flat=True))]
    if len(ident) in (15, 18):
        stages.append(lambda: list(in_team.filter(org_id__startswith=ident[:15]).values_list("id", flat=True)))
    reachable = {}
    for stage in stages:
        candidates = stage()
        if candidates:
            reachable = principal_access(token, connection_ids=candidates)
            if reachable:
                break
    if not reachable:
        raise ApiAccessError(404, "not_found", f"No org “{ident}” that you can see.")
    if len(reachable) > 1:
        raise ApiAccessError(409, "ambiguous", f"“{ident}” matches {len(reachable)} connections; use an alias or "
                                               "the username.")
    ((connection_id, found),) = reachable.items()
    connection = OrgConnection.objects.get(pk=connection_id)
    alias = aliases.get(connection_id)
    if alias is None and token.user_id:
        alias = OrgAlias.objects.filter(user_id=token.user_id, connection_id=connection_id).first()
    return connection, found, alias
