"""API tokens for the REST API and the `orgportal` CLI: create (shown once), authenticate, revoke.

A token is `op_` + 43 URL-safe characters (256 random bits). Only its SHA-256 is stored (`token_hash`, unique), plus
a short `hint` to recognise it in lists. The plaintext exists once, in the response to its creation.

Personal tokens act as their member (their current role and grants, read on every call by `orgs.access`). Team
service tokens are for CI: created by admins, tied to no person, and reach only the orgs shared with them.

The REST API reads a token in one precompiled statement (`orgs.api.authentication`) and accepts it here;
`last_used_at`/`last_used_ip` are written at most once a minute per token (or when the address changes), so a busy CI
job does not turn every call into a write.

Every token expires: `PORTAL_API_TOKEN_DEFAULT_DAYS` unless chosen, at most `PORTAL_API_TOKEN_MAX_DAYS`. A user
holds at most `PORTAL_MAX_API_TOKENS_PER_USER` live personal tokens, a team `PORTAL_MAX_SERVICE_TOKENS_PER_TEAM`
live service tokens. `api_tokens_warn_expiring` emails once per token a few days before it expires (Celery beat).
A password change or reset and the removal of an authenticator revoke the user's personal tokens in every team
(`api_tokens_revoke_for_user`, wired to allauth's signals in `portal.accounts.apps`); offboarding revokes them in
one team (`api_tokens_revoke_for_member`). Service tokens belong to the team and stay.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from portal.accounts import access
from portal.accounts.mail import mail_send
from portal.accounts.models import ApiToken, AuditEvent, Membership, Notice, Team, User
from portal.accounts.services import ServiceError, audit_record
from portal.accounts.signals import access_reducing

Kind = AuditEvent.Kind

TOKEN_BYTES = 32
MAX_TOKEN_LENGTH = 200  # anything longer is not ours: refused before hashing
LAST_USED_RESOLUTION = timedelta(minutes=1)

log = logging.getLogger(__name__)


def max_lifetime() -> timedelta:
    return timedelta(days=settings.PORTAL_API_TOKEN_MAX_DAYS)


def _live(queryset, now):
    return queryset.filter(revoked_at__isnull=True).filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))


def api_token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _new_plaintext() -> str:
    return ApiToken.PREFIX + secrets.token_urlsafe(TOKEN_BYTES)


def _audit_data(token: ApiToken, reason: str = "") -> dict:
    data = {"name": token.name, "kind": token.kind, "hint": token.hint, "token": str(token.code),
            "expires_at": token.expires_at.isoformat() if token.expires_at else None,
            "owner": token.user.email if token.user_id else None}
    if reason:
        data["reason"] = reason
    return data


@sensitive_variables()
@transaction.atomic
def api_token_create(*, actor: Membership, kind: str, name: str, expires_at: datetime | None = None,
                     ip: str | None = None) -> tuple[ApiToken, str]:
    """Create a personal token for `actor` or a team service token. Returns (token, plaintext): show the
    plaintext once and forget it; it cannot be recovered. Without `expires_at` the token lives
    `PORTAL_API_TOKEN_DEFAULT_DAYS`; longer than `PORTAL_API_TOKEN_MAX_DAYS` or past a cap of live tokens is refused."""
    name = (name or "").strip()
    if not name:
        raise ServiceError("Give the token a name, e.g. “laptop” or “GitHub Actions”.")
    if len(name) > 100:
        raise ServiceError("A token name is at most 100 characters.")
    if kind not in ApiToken.Kind.values:
        raise ServiceError("Choose a personal token or a team service token.")
    now = timezone.now()
    if expires_at is None:
        expires_at = now + timedelta(days=settings.PORTAL_API_TOKEN_DEFAULT_DAYS)
    if expires_at <= now:
        raise ServiceError("The expiry date must be in the future.")
    if expires_at > now + max_lifetime() + timedelta(minutes=1):  # a minute of slack for the form's own `now`
        raise ServiceError(f"A token can live at most {settings.PORTAL_API_TOKEN_MAX_DAYS} days; create a new one "
                           "when it expires.")
    if kind == ApiToken.Kind.PERSONAL:
        User.objects.select_for_update().filter(pk=actor.user_id).first()  # one creation per user at a time
        cap = settings.PORTAL_MAX_API_TOKENS_PER_USER
        if _live(ApiToken.objects.filter(kind=kind, user_id=actor.user_id), now).count() >= cap:
            raise ServiceError(f"You already have {cap} live personal API tokens (the limit, across all teams). "
                               "Revoke one you no longer use, then create the new one.")
    else:
        Team.objects.select_for_update().filter(pk=actor.team_id).first()  # one creation per team at a time
        cap = settings.PORTAL_MAX_SERVICE_TOKENS_PER_TEAM
        if _live(ApiToken.objects.filter(kind=kind, team_id=actor.team_id), now).count() >= cap:
            raise ServiceError(f"This team already has {cap} live service tokens (the limit). Revoke one it no "
                               "longer uses, then create the new one.")
    plaintext = _new_plaintext()
    token = ApiToken.objects.create(
        team=actor.team, kind=kind, user=actor.user if kind == ApiToken.Kind.PERSONAL else None, name=name,
        token_hash=api_token_hash(plaintext), hint=plaintext[:11], created_by=actor.user, expires_at=expires_at)
    audit_record(team=actor.team, actor=actor.user, kind=Kind.API_TOKEN_CREATED, subject=name, ip=ip,
                 data=_audit_data(token))
    return token, plaintext


@sensitive_variables()
@transaction.atomic
def api_token_create_for_ci(*, team: Team, name: str, expires_at: datetime, trust_policy_code,
                            ip: str | None = None) -> tuple[ApiToken, str]:
    """A short-lived service token for a CI job that proved its identity by OIDC (no person behind it). Returns
    (token, plaintext); the caller grants it the trust policy's orgs."""
    plaintext = _new_plaintext()
    token = ApiToken.objects.create(
        team=team, kind=ApiToken.Kind.SERVICE, user=None, name=name[:100], token_hash=api_token_hash(plaintext),
        hint=plaintext[:11], created_by=None, expires_at=expires_at, trust_policy_code=trust_policy_code)
    audit_record(team=team, actor=None, kind=Kind.API_TOKEN_CREATED, subject=token.name, ip=ip,
                 data=_audit_data(token))
    return token, plaintext


@sensitive_variables()
def api_token_parse(raw: str | None) -> str | None:
    """The hash to look a presented bearer value up by, or None when it cannot be one of ours (refused unhashed)."""
    if not raw or not raw.startswith(ApiToken.PREFIX) or len(raw) > MAX_TOKEN_LENGTH:
        return None
    return api_token_hash(raw)


def api_token_accept(*, token: ApiToken | None, ip: str | None = None) -> ApiToken | None:
    """`token` if it may be used now (not revoked or expired, its owner active), after noting its use; else None.
    The REST API reads the row in its own single statement (`orgs.api.authentication.authenticate`)."""
    if token is None or not token.is_active:
        return None
    if token.user_id is not None and not token.user.is_active:
        return None
    api_token_touch(token=token, ip=ip)
    return token


def api_token_touch(*, token: ApiToken, ip: str | None) -> None:
    now = timezone.now()
    stale = token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION
    if stale or (ip and ip != token.last_used_ip):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now, last_used_ip=ip or token.last_used_ip)
        token.last_used_at, token.last_used_ip = now, ip or token.last_used_ip


@transaction.atomic
def api_token_revoke(*, actor: User | None, token: ApiToken, ip: str | None = None, reason: str = "") -> bool:
    """Revoke a token now. True if it was active; revoking twice is harmless (and not audited twice)."""
    if token.kind == ApiToken.Kind.SERVICE:  # its grants stop counting: tokens handed to it must stop working
        access_reducing.send(sender=ApiToken, team_id=token.team_id, reason="service token revoked", user_ids=[],
                             service_token_ids=[token.pk])
    changed = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    if changed:
        token.refresh_from_db(fields=["revoked_at"])
        audit_record(team=token.team, actor=actor, kind=Kind.API_TOKEN_REVOKED, subject=token.name, ip=ip,
                     data=_audit_data(token, reason))
    return bool(changed)


def api_tokens_revoke_for_member(*, membership: Membership, actor: User | None = None,
                                 ip: str | None = None, reason: str = "") -> int:
    """Offboarding: revoke every personal token the member holds in the team. Returns how many were revoked.
    (Service tokens belong to the team and are untouched.)"""
    tokens = ApiToken.objects.select_related("team", "user").filter(
        team_id=membership.team_id, user_id=membership.user_id, kind=ApiToken.Kind.PERSONAL, revoked_at__isnull=True)
    return sum(api_token_revoke(actor=actor, token=token, ip=ip, reason=reason) for token in tokens)


def api_tokens_revoke_for_user(*, user: User, reason: str, ip: str | None = None) -> int:
    """A credential of the user changed (password changed or reset, an authenticator removed): revoke their
    personal tokens in every team they belong to, each revocation audited in its team with `reason`. Service
    tokens stay (they belong to the team). Returns how many were revoked."""
    memberships = Membership.objects.filter(user_id=user.pk)
    revoked = sum(api_tokens_revoke_for_member(membership=m, actor=user, ip=ip, reason=reason) for m in memberships)
    if revoked:
        log.info("revoked %d personal API tokens of user %s: %s", revoked, user.pk, reason)
    return revoked


# -- expiry warnings (Celery beat) ------------------------------------------------------------------------------------

def api_token_expiry_recipients(*, token: ApiToken) -> list[str]:
    """A personal token's owner; a service token's team members who may manage service tokens (team funnel)."""
    if token.kind == ApiToken.Kind.PERSONAL:
        return [token.user.email] if token.user.is_active else []
    members = Membership.objects.select_related("user").filter(team_id=token.team_id, user__is_active=True)
    return sorted(m.user.email for m in members if access.team_allows(m, access.TeamAction.MANAGE_SERVICE_TOKENS))


def api_tokens_warn_expiring(*, now: datetime | None = None) -> int:
    """One email per live token that expires within `PORTAL_API_TOKEN_EXPIRY_WARNING_DAYS`, never twice (the
    token is claimed by setting `expiry_warned_at`; the mail pipeline retries a failed send).
    Returns how many tokens were warned about."""
    now = now or timezone.now()
    horizon = now + timedelta(days=settings.PORTAL_API_TOKEN_EXPIRY_WARNING_DAYS)
    due = ApiToken.objects.select_related("team", "user").filter(
        revoked_at__isnull=True, expiry_warned_at__isnull=True, expires_at__gt=now, expires_at__lte=horizon)
    warned = 0
    for token in due.iterator():
        if not ApiToken.objects.filter(pk=token.pk, expiry_warned_at__isnull=True).update(expiry_warned_at=now):
            continue  # another run claimed it
        recipients = api_token_expiry_recipients(token=token)
        if not recipients:
            continue
        # The mail pipeline queues one message per recipient and retries SMTP failures itself.
        mail_send(template="api_token_expiry", kind=Notice.API_TOKEN_EXPIRY, recipients=recipients, team=token.team,
                  subject=f"[Org Portal] API token “{token.name}” expires on {token.expires_at:%Y-%m-%d}",
                  context={"token": token, "days": max(0, (token.expires_at - now).days),
                           "url": settings.PORTAL_BASE_URL.rstrip("/")
                           + reverse("accounts:token_list", args=[token.team.code])})
        warned += 1
    return warned
