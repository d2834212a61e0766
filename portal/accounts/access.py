"""The team funnel: who may see or change a team, its members, invitations, audit log and API tokens.

Every team-level permission decision is made here. Views call one function at their top and get back the object
they may work on:
- not a member of the team (or the object is in another team): `Http404`, so outsiders cannot enumerate;
- a member whose role is too low for the action: `PermissionDenied` (403).

Roles are compared by rank (`Membership.RANK`), never as strings. Templates only display what this module decides
(`team_permissions`, put in the context as `perms`). The org funnel, `orgs.access`, builds on this one.
"""

from enum import StrEnum

from django.core.exceptions import PermissionDenied
from django.http import Http404

from portal.accounts.models import ApiToken, Membership

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
    MANAGE_EVERY_ORG = "manage_every_org"  # manage level on every connection of the team ("team admin")
    MANAGE_TRUST_POLICIES = "manage_trust_policies"  # CI OIDC issuers and trust policies
    MANAGE_ALERT_CHANNELS = "manage_alert_channels"  # Slack/Teams/signed-webhook alert channels and their log


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
    TeamAction.MANAGE_EVERY_ORG: Role.ADMIN,
    TeamAction.MANAGE_TRUST_POLICIES: Role.ADMIN,
    TeamAction.MANAGE_ALERT_CHANNELS: Role.ADMIN,
}


def membership_for_user(user, team_code) -> Membership:
    """The caller's membership of the team, or 404 when they are not in it."""
    if not getattr(user, "is_authenticated", False):
        raise Http404
    try:
        return Membership.objects.select_related("team", "user").get(team__code=team_code, user=user)
    except (Membership.DoesNotExist, ValueError, TypeError):
        raise Http404 from None


def role_allows(role: str, action: TeamAction) -> bool:
    """Whether a role (a Membership.Role value) may perform `action`: its rank against the table above."""
    return Membership.rank_of(role) >= Membership.rank_of(_TEAM_ACTION_MIN_ROLE[action])


def team_allows(membership: Membership, action: TeamAction) -> bool:
    return role_allows(membership.role, action)


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
    return actor.rank >= target.rank


def can_assign_role(actor: Membership, role: str) -> bool:
    """Nobody hands out more than they have: only owners make owners."""
    try:
        wanted = Membership.rank_of(role)
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


def team_object(model, membership: Membership, code):
    """The team's `model` row with public id `code`, or 404 (unknown, malformed or in another team look the same)."""
    try:
        return model.objects.get(team=membership.team, code=code)
    except (model.DoesNotExist, ValueError, TypeError):
        raise Http404 from None


def api_token_for_action(user, team_code, token_code):
    """(membership, token) the caller may manage: their own personal tokens; service tokens for admins.
    Other people's personal tokens are invisible (404)."""
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
