"""API tokens for the REST API and the `orgportal` CLI: create (shown once), authenticate, revoke.

A token is `op_` + 43 URL-safe characters (256 random bits). Only its SHA-256 is stored (`token_hash`, unique), plus
a short `hint` to recognise it in lists. The plaintext exists once, in the response to its creation.

Personal tokens act as their member (their current role and grants, read on every call by `orgs.access`). Team
service tokens are for CI: created by admins, tied to no person, and reach only the orgs shared with them.

The REST API reads a token in one precompiled statement (`orgs.api.authentication`) and accepts it here;
`last_used_at`/`last_used_ip` are written at most once a minute per token (or when the address changes), so a busy CI
job does not turn every call into a write.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from portal.accounts.models import ApiToken, AuditEvent, Membership, Team, User
from portal.accounts.services import ServiceError, audit_record

Kind = AuditEvent.Kind

TOKEN_BYTES = 32
MAX_TOKEN_LENGTH = 200  # anything longer is not ours: refused before hashing
LAST_USED_RESOLUTION = timedelta(minutes=1)
MAX_LIFETIME = timedelta(days=366)


def api_token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _new_plaintext() -> str:
    return ApiToken.PREFIX + secrets.token_urlsafe(TOKEN_BYTES)


def _audit_data(token: ApiToken) -> dict:
    return {"name": token.name, "kind": token.kind, "hint": token.hint, "token": str(token.code),
            "expires_at": token.expires_at.isoformat() if token.expires_at else None,
            "owner": token.user.email if token.user_id else None}


@sensitive_variables()
@transaction.atomic
def api_token_create(*, actor: Membership, kind: str, name: str, expires_at: datetime | None = None,
                     ip: str | None = None) -> tuple[ApiToken, str]:
    """Create a personal token for `actor` or a team service token. Returns (token, plaintext): show the
    plaintext once and forget it; it cannot be recovered."""
    name = (name or "").strip()
    if not name:
        raise ServiceError("Give the token a name, e.g. “laptop” or “GitHub Actions”.")
    if len(name) > 100:
        raise ServiceError("A token name is at most 100 characters.")
    if kind not in ApiToken.Kind.values:
        raise ServiceError("Choose a personal token or a team service token.")
    now = timezone.now()
    if expires_at is not None and expires_at <= now:
        raise ServiceError("The expiry date must be in the future.")
    if expires_at is not None and expires_at > now + MAX_LIFETIME:
        raise ServiceError("A token can live at most a year; create a new one when it expires.")
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
def api_token_revoke(*, actor: User | None, token: ApiToken, ip: str | None = None) -> bool:
    """Revoke a token now. True if it was active; revoking twice is harmless (and not audited twice)."""
    changed = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    if changed:
        token.refresh_from_db(fields=["revoked_at"])
        audit_record(team=token.team, actor=actor, kind=Kind.API_TOKEN_REVOKED, subject=token.name, ip=ip,
                     data=_audit_data(token))
    return bool(changed)


def api_tokens_revoke_for_member(*, membership: Membership, actor: User | None = None,
                                 ip: str | None = None) -> int:
    """Offboarding: revoke every personal token the member holds in the team. Returns how many were revoked.
    (Service tokens belong to the team and are untouched.)"""
    tokens = ApiToken.objects.select_related("team", "user").filter(
        team_id=membership.team_id, user_id=membership.user_id, kind=ApiToken.Kind.PERSONAL, revoked_at__isnull=True)
    return sum(api_token_revoke(actor=actor, token=token, ip=ip) for token in tokens)
