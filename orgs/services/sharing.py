"""Sharing connections (grants), team groups, the sharing policy, and offboarding. Every write is here.

Levels come from `orgs.access.effective_access`; the checks that decide *whether* someone may share live in
`orgs.access` (`can_share`). These services re-check the rules that depend on the request's content (subject,
level) and refuse with a `ServiceError`, changing nothing.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import IntegrityError, transaction

from orgs.access import Access, effective_access
from orgs.models import Grant, OrgAlias, OrgConnection
from orgs.services.connections import alias_free, aliases_ensure, connection_disconnect
from orgs.services.revocation import access_reduction_watch, tokens_revoked_if_access_reduced
from portal.accounts.mail import mail_send
from portal.accounts.models import ApiToken, AuditEvent, Membership, Notice, Team, TeamGroup, User
from portal.accounts.services import (
    ServiceError,
    audit_record,
    ensure_not_last_owner,
    membership_leave,
    membership_remove,
)
from portal.accounts.tokens import api_tokens_revoke_for_member

log = logging.getLogger(__name__)
Kind = AuditEvent.Kind
Level = Grant.Level


# -- grants ------------------------------------------------------------------------------------------------------------

def _connection_data(connection: OrgConnection) -> dict:
    return {"org_id": connection.org_id, "username": connection.username, "connection": str(connection.code)}


def _subject_fields(*, team: Team, connection: OrgConnection, subject_type: str, member: User | None = None,
                    role: str = "", group: TeamGroup | None = None, service_token: ApiToken | None = None) -> dict:
    """Validate the subject of a grant; refuse anything outside the team or meaningless."""
    if subject_type == Grant.Subject.MEMBER:
        if member is None or not Membership.objects.filter(team=team, user=member).exists():
            raise ServiceError("You can only share with members of this team.")
        if member.pk == connection.owner_id:
            raise ServiceError("The owner of a connection always has manage; it can't be changed by a grant.")
        return {"member": member}
    if subject_type == Grant.Subject.ROLE:
        if role not in (Membership.Role.ADMIN, Membership.Role.MEMBER):
            raise ServiceError("Share with the admin role or the member role.")
        return {"role": role}
    if subject_type == Grant.Subject.GROUP:
        if group is None or group.team_id != team.pk:
            raise ServiceError("You can only share with groups of this team.")
        return {"group": group}
    if subject_type == Grant.Subject.SERVICE_TOKEN:
        if service_token is None or service_token.team_id != team.pk or service_token.kind != ApiToken.Kind.SERVICE:
            raise ServiceError("You can only share with this team's service tokens.")
        if not service_token.is_active:
            raise ServiceError("That service token is revoked or expired.")
        return {"service_token": service_token}
    raise ServiceError("Share with a member, a role, a group or a service token.")


def _affected_users(grant: Grant) -> list[User]:
    if grant.subject_type == Grant.Subject.MEMBER:
        return [grant.member]
    if grant.subject_type == Grant.Subject.ROLE:
        # A role grant covers that role and every higher one (the same rule as orgs.access.effective_access).
        roles = [r for r in Membership.Role.values if Membership.rank_of(r) >= Membership.rank_of(grant.role)]
        return [m.user for m in Membership.objects.filter(team_id=grant.team_id, role__in=roles).select_related("user")]
    if grant.subject_type == Grant.Subject.GROUP:
        return [m.user for m in grant.group.members.select_related("user")]
    return []


@transaction.atomic
def grant_add(*, actor: Membership, actor_access: Access, connection: OrgConnection, subject_type: str, level: int,
              member: User | None = None, role: str = "", group: TeamGroup | None = None,
              service_token: ApiToken | None = None, ip: str | None = None) -> Grant:
    if level not in Level.values:
        raise ServiceError("Choose view, target or manage.")
    if not actor_access.allows(level):
        raise ServiceError("You can't share an org at a higher level than your own.")
    if connection.team_id != actor.team_id:
        raise ServiceError("That org belongs to another team.")
    subject = _subject_fields(team=actor.team, connection=connection, subject_type=subject_type, member=member,
                              role=role, group=group, service_token=service_token)
    grant = Grant(team=actor.team, connection=connection, subject_type=subject_type, level=level,
                  created_by=actor.user, **subject)
    try:
        with transaction.atomic():
            grant.save()
    except IntegrityError:
        raise ServiceError(f"This org is already shared with {grant.subject_label}; change that grant's level "
                           "instead.") from None
    aliases_ensure(team=actor.team, connection_ids=[connection.pk])
    audit_record(team=actor.team, actor=actor.user, kind=Kind.GRANT_ADDED, subject=grant.subject_label, ip=ip,
                 data={**_connection_data(connection), "level": grant.get_level_display()})
    _notify_shared(grant=grant, actor=actor.user, changed=False)
    return grant


@transaction.atomic
def grant_change(*, actor: Membership, actor_access: Access, grant: Grant, level: int, ip: str | None = None) -> None:
    if level not in Level.values:
        raise ServiceError("Choose view, target or manage.")
    if not actor_access.allows(level):
        raise ServiceError("You can't share an org at a higher level than your own.")
    old = grant.get_level_display()
    if grant.level == level:
        return
    if level < grant.level:
        access_reduction_watch(team_id=grant.team_id, reason="sharing level lowered",
                               connection_ids=[grant.connection_id])
    Grant.objects.filter(pk=grant.pk).update(level=level)
    grant.level = level
    aliases_ensure(team=actor.team, connection_ids=[grant.connection_id])
    audit_record(team=actor.team, actor=actor.user, kind=Kind.GRANT_CHANGED, subject=grant.subject_label, ip=ip,
                 data={**_connection_data(grant.connection), "from": old, "to": grant.get_level_display()})
    _notify_shared(grant=grant, actor=actor.user, changed=True)


@transaction.atomic
def grant_remove(*, actor: Membership, grant: Grant, ip: str | None = None) -> None:
    label, connection = grant.subject_label, grant.connection
    access_reduction_watch(team_id=grant.team_id, reason="sharing removed", connection_ids=[grant.connection_id])
    Grant.objects.filter(pk=grant.pk).delete()
    audit_record(team=actor.team, actor=actor.user, kind=Kind.GRANT_REMOVED, subject=label, ip=ip,
                 data={**_connection_data(connection), "level": grant.get_level_display()})


def _notify_shared(*, grant: Grant, actor: User, changed: bool) -> None:
    recipients = sorted({u.email for u in _affected_users(grant) if u.pk != actor.pk and u.is_active})
    if not recipients:
        return
    connection = grant.connection
    verb = "changed your access to" if changed else "shared"
    subject = f"[Org Portal] {connection.username} {'access changed' if changed else 'shared with you'}"
    mail_send(template="org_shared", kind=Notice.SHARE, recipients=recipients, team=connection.team, subject=subject,
              context={"actor": actor, "verb": verb, "connection": connection, "grant": grant,
                       "url": f"{settings.PORTAL_BASE_URL}/"})


# -- groups and policy -------------------------------------------------------------------------------------------------

@transaction.atomic
def group_create(*, actor: Membership, name: str, ip: str | None = None) -> TeamGroup:
    name = name.strip()
    if not name:
        raise ServiceError("Give the group a name.")
    try:
        with transaction.atomic():
            group = TeamGroup.objects.create(team=actor.team, name=name)
    except IntegrityError:
        raise ServiceError(f"There is already a group called “{name}”.") from None
    audit_record(team=actor.team, actor=actor.user, kind=Kind.GROUP_CREATED, subject=name, ip=ip)
    return group


@transaction.atomic
def group_delete(*, actor: Membership, group: TeamGroup, ip: str | None = None) -> None:
    name, grants = group.name, group.grants.count()
    if grants:
        access_reduction_watch(team_id=group.team_id, reason="group deleted",
                               connection_ids=list(group.grants.values_list("connection_id", flat=True)))
    group.delete()
    audit_record(team=actor.team, actor=actor.user, kind=Kind.GROUP_DELETED, subject=name, ip=ip,
                 data={"grants_removed": grants})


@transaction.atomic
def group_member_add(*, actor: Membership, group: TeamGroup, member: Membership, ip: str | None = None) -> None:
    if member.team_id != actor.team_id or group.team_id != actor.team_id:
        raise ServiceError("Groups only hold members of this team.")
    if group.members.filter(pk=member.pk).exists():
        raise ServiceError(f"{member.user.email} is already in {group.name}.")
    group.members.add(member)
    aliases_ensure(team=actor.team, user_ids=[member.user_id])
    audit_record(team=actor.team, actor=actor.user, kind=Kind.GROUP_MEMBER_ADDED, subject=member.user.email, ip=ip,
                 data={"group": group.name})


@transaction.atomic
def group_member_remove(*, actor: Membership, group: TeamGroup, member: Membership, ip: str | None = None) -> None:
    if not group.members.filter(pk=member.pk).exists():
        raise ServiceError(f"{member.user.email} is not in {group.name}.")
    access_reduction_watch(team_id=group.team_id, reason="removed from group", user_ids=[member.user_id],
                           service_token_ids=[])
    group.members.remove(member)
    audit_record(team=actor.team, actor=actor.user, kind=Kind.GROUP_MEMBER_REMOVED, subject=member.user.email,
                 ip=ip, data={"group": group.name})


@transaction.atomic
def team_policy_set(*, actor: Membership, share_production_policy: str, ip: str | None = None) -> None:
    if share_production_policy not in Team.SharePolicy.values:
        raise ServiceError("Choose who may share production orgs and Dev Hubs.")
    team = actor.team
    if team.share_production_policy == share_production_policy:
        return
    old = team.share_production_policy
    Team.objects.filter(pk=team.pk).update(share_production_policy=share_production_policy)
    team.share_production_policy = share_production_policy
    audit_record(team=team, actor=actor.user, kind=Kind.POLICY_CHANGED, subject="share production and Dev Hub",
                 ip=ip, data={"from": old, "to": share_production_policy})


# -- offboarding -------------------------------------------------------------------------------------------------------

def offboarding_plan(*, membership: Membership) -> list[dict]:
    """For each connection the leaver owns: who else uses it (members whose access does not come from being a team
    admin), so the dialog can show who would lose it."""
    owned = list(OrgConnection.objects.filter(team=membership.team, owner=membership.user).order_by("username"))
    if not owned:
        return []
    pairs = effective_access(team=membership.team, connection_ids=[c.pk for c in owned])
    emails = dict(Membership.objects.filter(team=membership.team).values_list("user_id", "user__email"))
    plan = []
    for connection in owned:
        users = sorted(emails[uid] for (uid, cid), access in pairs.items()
                       if cid == connection.pk and uid != membership.user_id and access.reason != "team admin")
        plan.append({"connection": connection, "affected": users})
    return plan


def offboard(*, actor: User, membership: Membership, decisions: dict[int, User | None], ip: str | None = None,
             leaving: bool = False) -> None:
    """Remove a member from a team: transfer or disconnect each org they own (`decisions`: connection id → new
    owner, or None to disconnect), remove their grants and group memberships, revoke their API tokens for the
    team, end their sessions, and delete the membership (with the last-owner check)."""
    ensure_not_last_owner(membership, message="The last owner can't leave or be removed. Make someone else an "
                                              "owner first.")
    owned = list(OrgConnection.objects.filter(team=membership.team, owner=membership.user))
    missing = [c.username for c in owned if c.pk not in decisions]
    if missing:
        raise ServiceError(f"Choose what happens to {', '.join(missing)}: transfer or disconnect.")
    team_user_ids = set(Membership.objects.filter(team=membership.team).values_list("user_id", flat=True))
    for connection in owned:
        new_owner = decisions[connection.pk]
        if new_owner is not None and (new_owner.pk not in team_user_ids or new_owner.pk == membership.user_id):
            raise ServiceError("Transfer orgs only to another member of the team.")
    managers_to_tell = _managers_of(membership)

    # Every org the leaver could target (owned, transferred, shared, via role or group): the access tokens handed
    # out for it are revoked once all of this is done.
    with tokens_revoked_if_access_reduced(team_id=membership.team_id, reason="member offboarded",
                                          user_ids=[membership.user_id], service_token_ids=[]):
        for connection in owned:
            new_owner = decisions[connection.pk]
            if new_owner is None:
                connection_disconnect(actor=actor, connection=connection, ip=ip)
            else:
                _transfer(actor=actor, connection=connection, new_owner=new_owner, ip=ip)
        with transaction.atomic():
            Grant.objects.filter(team=membership.team, member=membership.user).delete()
            membership.groups.clear()
            OrgAlias.objects.filter(team=membership.team, user=membership.user).delete()
            api_tokens_revoke_for_member(membership=membership, actor=actor, ip=ip)
            if leaving:
                membership_leave(membership=membership, ip=ip)
            else:
                actor_membership = Membership.objects.get(team=membership.team, user=actor)
                membership_remove(actor=actor_membership, target=membership, ip=ip)
    _end_sessions(membership.user)
    _notify_managers(team=membership.team, leaver=membership.user, managers=managers_to_tell)


@transaction.atomic
def _transfer(*, actor: User, connection: OrgConnection, new_owner: User, ip: str | None) -> None:
    old_owner = connection.owner
    OrgConnection.objects.filter(pk=connection.pk).update(owner=new_owner)
    Grant.objects.filter(connection=connection, member=new_owner).delete()  # now implied by ownership
    if not OrgAlias.objects.filter(user=new_owner, connection=connection).exists():
        alias = OrgAlias.objects.filter(user=old_owner, connection=connection).first()
        membership = Membership.objects.select_related("team").get(team=connection.team, user=new_owner)
        wanted = alias.alias if alias else connection.username.split("@")[0]
        OrgAlias.objects.create(team=connection.team, user=new_owner, connection=connection,
                                alias=alias_free(membership, wanted))
    audit_record(team=connection.team, actor=actor, kind=Kind.ORG_TRANSFERRED, subject=connection.username, ip=ip,
                 data={**_connection_data(connection), "from": old_owner.email, "to": new_owner.email})


def _managers_of(membership: Membership) -> list[str]:
    """Managers of the orgs the leaver could reach (other than themself): they are told the access was removed."""
    pairs = effective_access(team=membership.team)
    reachable = {cid for (uid, cid) in pairs if uid == membership.user_id}
    managers = {uid for (uid, cid), access in pairs.items()
                if cid in reachable and access.can_manage and uid != membership.user_id}
    return sorted(User.objects.filter(pk__in=managers, is_active=True).values_list("email", flat=True))


def _notify_managers(*, team: Team, leaver: User, managers: list[str]) -> None:
    if not managers:
        return
    mail_send(template="member_offboarded", kind=Notice.OFFBOARDING, recipients=managers, team=team,
              subject=f"[Org Portal] {leaver.email} was offboarded from {team.name}",
              context={"leaver": leaver, "team": team})


def _end_sessions(user: User) -> None:
    from allauth.usersessions.models import UserSession

    for session in UserSession.objects.filter(user=user):
        session.end()
