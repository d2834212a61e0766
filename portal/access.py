"""THE permission funnel. Every permission decision in the portal is made here, nowhere else.

Views call one function at their top and get back the object they may work on:
- not a member of the team (or the object is in another team): `Http404`, so outsiders cannot enumerate;
- a member whose role is too low for the action: `PermissionDenied` (403).

Templates only *display* what this module decides (`team_permissions`), they never re-derive a rule.
"""

from enum import IntEnum, StrEnum

from django.core.exceptions import PermissionDenied
from django.http import Http404

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

class Level(IntEnum):
    """What a member may do with a connection. Each level includes the ones below it."""

    VIEW = 1  # see the org, its status and its scratch-org inventory
    TARGET = 2  # also get access tokens, open it in Salesforce, use it from the CLI and CI
    MANAGE = 3  # also share, rename, reconnect and disconnect


def connection_level(membership: Membership, connection) -> Level | None:
    """The member's effective level on a connection of their team (None: they can't see it)."""
    if connection.team_id != membership.team_id:
        return None
    if connection.owner_id == membership.user_id or membership.is_admin:
        return Level.MANAGE
    return None


def connection_for_user(user, team_code, connection_code, need: Level):
    """(membership, connection, level): 404 if the caller can't see it, 403 if their level is below `need`."""
    from orgs.models import OrgConnection

    membership = membership_for_user(user, team_code)
    connection = _team_object(OrgConnection, membership, connection_code)
    level = connection_level(membership, connection)
    if level is None:
        raise Http404
    if level < need:
        raise PermissionDenied
    return membership, connection, level
