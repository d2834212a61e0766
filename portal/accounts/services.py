"""Every write on the people side: teams, invitations, memberships and the audit log.

Views check access (portal.accounts.access), validate input (forms), then call exactly one function here.
A refused operation raises `ServiceError` with a message fit for the user, and changes nothing.
"""

from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from portal.accounts.access import can_assign_role, can_manage_member
from portal.accounts.models import AuditEvent, Invitation, Membership, Team, User, validate_time_zone
from portal.accounts.signals import access_reducing, member_access_changed
from portal.lib import hotsql

Kind = AuditEvent.Kind
Role = Membership.Role

INVITATION_SALT = "portal.invitation"


class ServiceError(Exception):
    """A refused operation. The message is shown to the user as it is."""


# -- audit -------------------------------------------------------------------------------------------------------------

def audit_record(*, team: Team | None, actor: User | None, kind: str, subject: str = "", ip: str | None = None,
                 data: dict | None = None) -> AuditEvent:
    # One precompiled INSERT (portal.lib.hotsql): every API hand-out writes an audit row.
    return hotsql.insert(AuditEvent(
        team=team,
        actor=actor if actor and actor.pk else None,
        actor_label=actor.email if actor and actor.pk else "",
        kind=kind,
        subject=subject,
        ip=ip,
        data=data or {},
    ))


# -- teams -------------------------------------------------------------------------------------------------------------

@transaction.atomic
def team_create(*, user: User, name: str, ip: str | None = None) -> Team:
    name = name.strip()
    if not name:
        raise ServiceError("Give the team a name.")
    team = Team.objects.create(name=name, created_by=user)
    Membership.objects.create(team=team, user=user, role=Role.OWNER)
    audit_record(team=team, actor=user, kind=Kind.TEAM_CREATED, subject=team.name, ip=ip)
    return team


# -- invitations -------------------------------------------------------------------------------------------------------

def invitation_token(invitation: Invitation) -> str:
    """The signed, expiring value in an invitation link. Single use is enforced by the database row."""
    return signing.dumps(str(invitation.code), salt=INVITATION_SALT, compress=False)


def invitation_url(invitation: Invitation) -> str:
    return settings.PORTAL_BASE_URL + reverse("accounts:invitation", args=[invitation_token(invitation)])


def invitation_from_token(token: str) -> Invitation:
    """The invitation a link points at, or ServiceError saying why the link is no good."""
    max_age = settings.PORTAL_INVITATION_DAYS * 86400
    try:
        code = signing.loads(token, salt=INVITATION_SALT, max_age=max_age)
    except signing.SignatureExpired:
        raise ServiceError("This invitation link has expired. Ask a team admin for a new one.") from None
    except signing.BadSignature:
        raise ServiceError("This invitation link is not valid. Check that you copied all of it.") from None
    invitation = Invitation.objects.select_related("team", "invited_by").filter(code=code).first()
    if invitation is None:
        raise ServiceError("This invitation no longer exists. Ask a team admin for a new one.")
    return invitation


def _check_invitation_usable(invitation: Invitation) -> None:
    state = invitation.state
    if state == Invitation.State.ACCEPTED:
        raise ServiceError("This invitation has already been used.")
    if state == Invitation.State.REVOKED:
        raise ServiceError("This invitation was withdrawn by a team admin.")
    if state == Invitation.State.EXPIRED:
        raise ServiceError("This invitation link has expired. Ask a team admin for a new one.")


def invitation_check_for(*, invitation: Invitation, user: User) -> None:
    """Raise unless `user` may accept `invitation` now."""
    _check_invitation_usable(invitation)
    if not user_has_verified_email(user, invitation.email):
        raise ServiceError(
            f"This invitation was sent to {invitation.email}, but you are signed in as {user.email}. "
            "Sign in with the invited address (or verify it on your account) to accept it."
        )
    if Membership.objects.filter(team=invitation.team, user=user).exists():
        raise ServiceError(f"You are already a member of {invitation.team.name}.")


def user_has_verified_email(user: User, email: str) -> bool:
    from allauth.account.models import EmailAddress

    return EmailAddress.objects.filter(user=user, email__iexact=email, verified=True).exists()


def _send_invitation_email(invitation: Invitation) -> None:
    context = {"invitation": invitation, "url": invitation_url(invitation), "days": settings.PORTAL_INVITATION_DAYS}
    from portal.accounts.mail import mail_send
    from portal.accounts.models import Notice

    mail_send(template="invitation", context=context, recipients=[invitation.email], kind=Notice.INVITATION,
              subject=f"[Org Portal] You are invited to join {invitation.team.name}", team=invitation.team)


@transaction.atomic
def invitation_create(*, actor: Membership, email: str, role: str, ip: str | None = None) -> Invitation:
    email = email.strip().lower()
    team = actor.team
    if not can_assign_role(actor, role):
        raise ServiceError("You cannot invite someone with a higher role than your own.")
    if Membership.objects.filter(team=team, user__email__iexact=email).exists():
        raise ServiceError(f"{email} is already a member of {team.name}.")
    # A new invitation replaces any pending one for the same address: one live link per person.
    Invitation.objects.pending().filter(team=team, email__iexact=email).update(revoked_at=timezone.now())
    invitation = Invitation.objects.create(team=team, email=email, role=role, invited_by=actor.user)
    audit_record(team=team, actor=actor.user, kind=Kind.INVITATION_SENT, subject=email, ip=ip, data={"role": role})
    transaction.on_commit(lambda: _send_invitation_email(invitation))
    return invitation


@transaction.atomic
def invitation_revoke(*, actor: Membership, invitation: Invitation, ip: str | None = None) -> None:
    updated = Invitation.objects.pending().filter(pk=invitation.pk).update(revoked_at=timezone.now())
    if not updated:
        raise ServiceError("That invitation is no longer pending.")
    audit_record(team=actor.team, actor=actor.user, kind=Kind.INVITATION_REVOKED, subject=invitation.email, ip=ip)


@transaction.atomic
def invitation_resend(*, actor: Membership, invitation: Invitation, ip: str | None = None) -> Invitation:
    """Send a pending or expired invitation again with a fresh expiry (a new link; the old one still works until
    its own signature age runs out, and either accepts the same single-use invitation)."""
    if invitation.state not in (Invitation.State.PENDING, Invitation.State.EXPIRED):
        raise ServiceError("Only a pending or expired invitation can be resent.")
    if not can_assign_role(actor, invitation.role):
        raise ServiceError("You cannot resend an invitation with a higher role than your own.")
    expires = timezone.now() + timedelta(days=settings.PORTAL_INVITATION_DAYS)
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=expires)
    invitation.expires_at = expires
    audit_record(team=actor.team, actor=actor.user, kind=Kind.INVITATION_RESENT, subject=invitation.email, ip=ip,
                 data={"role": invitation.role, "expires": f"{expires:%Y-%m-%d %H:%M}"})
    _send_invitation_email(invitation)
    return invitation


@transaction.atomic
def invitation_accept(*, invitation: Invitation, user: User, ip: str | None = None) -> Membership:
    invitation_check_for(invitation=invitation, user=user)
    # Single use, even under concurrent clicks: only one UPDATE can flip accepted_at from NULL.
    claimed = Invitation.objects.pending().filter(pk=invitation.pk).update(accepted_at=timezone.now(),
                                                                            accepted_by=user)
    if claimed != 1:
        raise ServiceError("This invitation has already been used.")
    membership = Membership.objects.create(team=invitation.team, user=user, role=invitation.role)
    member_access_changed.send(sender=Membership, team=invitation.team, user_ids=[user.pk])
    audit_record(team=invitation.team, actor=user, kind=Kind.INVITATION_ACCEPTED, subject=invitation.email, ip=ip,
                 data={"role": invitation.role})
    return membership


def invitations_purge_expired(*, older_than_days: int = 30) -> int:
    """Delete invitations that expired unaccepted more than `older_than_days` ago. Returns how many."""
    cutoff = timezone.now() - timedelta(days=older_than_days)
    deleted, _ = Invitation.objects.filter(accepted_at=None, expires_at__lt=cutoff).delete()
    return deleted


# -- memberships -------------------------------------------------------------------------------------------------------

def ensure_not_last_owner(membership: Membership, *, message: str) -> None:
    """ServiceError(`message`) when `membership` is its team's only owner: a team always keeps one. Callers that
    go on to change the membership hold the team lock (`_lock_team`) first."""
    if membership.rank >= Membership.rank_of(Role.OWNER) and not _other_owners(membership).exists():
        raise ServiceError(message)


def _other_owners(membership: Membership):
    return Membership.objects.owners().filter(team_id=membership.team_id).exclude(pk=membership.pk)


def _lock_team(team_id: int) -> None:
    # Serialise owner changes per team so two concurrent demotions cannot leave it without an owner.
    Team.objects.select_for_update().filter(pk=team_id).first()


@transaction.atomic
def membership_change_role(*, actor: Membership, target: Membership, role: str, ip: str | None = None) -> None:
    if role not in Role.values:
        raise ServiceError("Choose owner, admin or member.")
    if not can_manage_member(actor, target) or not can_assign_role(actor, role):
        raise ServiceError("You cannot give that role.")
    _lock_team(target.team_id)
    target.refresh_from_db()
    if target.role == role:
        return
    ensure_not_last_owner(target, message="A team needs at least one owner. Make someone else an owner first.")
    old = target.role
    if Membership.rank_of(role) < target.rank:
        access_reducing.send(sender=Membership, team_id=target.team_id, reason="role lowered",
                             user_ids=[target.user_id], service_token_ids=[])
    Membership.objects.filter(pk=target.pk).update(role=role)
    member_access_changed.send(sender=Membership, team=target.team, user_ids=[target.user_id])
    audit_record(team=target.team, actor=actor.user, kind=Kind.ROLE_CHANGED, subject=target.user.email, ip=ip,
                 data={"from": old, "to": role})


@transaction.atomic
def membership_remove(*, actor: Membership, target: Membership, ip: str | None = None) -> None:
    if target.pk == actor.pk:
        raise ServiceError("Use “Leave team” to remove yourself.")
    if not can_manage_member(actor, target):
        raise ServiceError("You cannot remove that member.")
    _lock_team(target.team_id)
    ensure_not_last_owner(target, message="The last owner of a team cannot be removed.")
    access_reducing.send(sender=Membership, team_id=target.team_id, reason="member removed",
                         user_ids=[target.user_id], service_token_ids=[])
    target.delete()
    audit_record(team=target.team, actor=actor.user, kind=Kind.MEMBER_REMOVED, subject=target.user.email, ip=ip,
                 data={"role": target.role})


@transaction.atomic
def membership_leave(*, membership: Membership, ip: str | None = None) -> None:
    _lock_team(membership.team_id)
    ensure_not_last_owner(membership, message="You are the last owner. Make someone else an owner before you leave.")
    access_reducing.send(sender=Membership, team_id=membership.team_id, reason="member left",
                         user_ids=[membership.user_id], service_token_ids=[])
    membership.delete()
    audit_record(team=membership.team, actor=membership.user, kind=Kind.MEMBER_LEFT,
                 subject=membership.user.email, ip=ip)


@transaction.atomic
def notices_set(*, membership: Membership, enabled: set[str], ip: str | None = None) -> None:
    """A member's notice choices for one team: every optional kind not in `enabled` is turned off. Mandatory
    (security) notices cannot be turned off and are ignored here."""
    from portal.accounts.models import MANDATORY_NOTICES, Notice, NoticeOptOut

    off = {k for k in Notice.values if k not in MANDATORY_NOTICES and k not in enabled}
    NoticeOptOut.objects.filter(membership=membership).exclude(kind__in=off).delete()
    have = set(NoticeOptOut.objects.filter(membership=membership).values_list("kind", flat=True))
    NoticeOptOut.objects.bulk_create([NoticeOptOut(membership=membership, kind=k) for k in sorted(off - have)])
    audit_record(team=membership.team, actor=membership.user, kind=Kind.NOTICES_CHANGED,
                 subject=membership.user.email, ip=ip, data={"off": sorted(off)})


def user_preferences_set(*, user: User, time_zone: str) -> None:
    """The person's own display settings (the time zone pages use), saved in one narrow UPDATE."""
    try:
        validate_time_zone(time_zone)
    except ValidationError as exc:
        raise ServiceError(exc.messages[0]) from None
    user.time_zone = time_zone
    user.save(update_fields=["time_zone"])
