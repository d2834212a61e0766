"""API tokens for the REST API and the `orgportal` CLI: create (shown once), authenticate, revoke.

A token is `op_` + 43 URL-safe characters (256 random bits). Only its SHA-256 is stored (`token_hash`, unique), plus
a short `hint` to recognise it in lists. The plaintext exists once, in the response to its creation.

Personal tokens act as their member (their current role and grants, read on every call by `portal.access`). Team
service tokens are for CI: created by admins, tied to no person, and reach only the orgs shared with them.

The hot path (`api_token_authenticate`) is one indexed, precompiled SELECT (token, team, user, access version);
`last_used_at`/`last_used_ip` are written at most once a minute per token (or when the address changes), so a busy CI
job does not turn every call into a write.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from portal import hotsql
from portal.accounts.models import ApiToken, AuditEvent, Membership, Team, TeamAccessVersion, User
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


def api_token_authenticate(*, raw: str | None, ip: str | None = None,
                           companion: tuple[hotsql.Companion, object] | None = None) -> ApiToken | None:
    """The active token for a presented bearer value, or None (unknown, revoked, expired, owner deactivated).

    One indexed query; `last_used_*` is refreshed at most once per LAST_USED_RESOLUTION or on a new address.
    `companion` = (Companion, parameter): another row to read in the same statement, as `token.companion` (None
    when it does not match); the API's access-token hand-out reads its connection row this way.
    """
    if not raw or not raw.startswith(ApiToken.PREFIX) or len(raw) > MAX_TOKEN_LENGTH:
        return None
    token = _token_with_team_and_user(api_token_hash(raw), companion)
    if token is None or not token.is_active:
        return None
    if token.user_id is not None and not token.user.is_active:
        return None
    api_token_touch(token=token, ip=ip)
    return token


_TOKEN, _TEAM, _USER = (hotsql.Projection(ApiToken, "t"), hotsql.Projection(Team, "tm"),
                        hotsql.Projection(User, "u"))
_TOKEN_QUERIES: dict[hotsql.Companion | None, hotsql.Query] = {}


def _token_query(companion: hotsql.Companion | None) -> hotsql.Query:
    query = _TOKEN_QUERIES.get(companion)
    if query is None:
        query = _TOKEN_QUERIES[companion] = hotsql.Query(lambda connection: (
            f"SELECT {_TOKEN.columns(connection)}, {_TEAM.columns(connection)}, {_USER.columns(connection)}, "  # noqa: S608
            + (f"{companion.projection.columns(connection)}, " if companion else "")
            + f"v.version FROM {ApiToken._meta.db_table} t JOIN {Team._meta.db_table} tm ON tm.id = t.team_id "
            f"LEFT JOIN {User._meta.db_table} u ON u.id = t.user_id "
            f"LEFT JOIN {TeamAccessVersion._meta.db_table} v ON v.team_id = t.team_id "
            + (f"{companion.join(connection)} " if companion else "")
            + "WHERE t.token_hash = %s"))
    return query


def _token_with_team_and_user(token_hash: str, companion=None) -> ApiToken | None:
    """The token row with its team, its user (personal tokens), the team's access version and the optional
    companion row, in one statement.

    `token.access_version` is what `portal.access` keys its cached API decisions on (0 before any change)."""
    spec, parameter = companion or (None, None)
    projections = (_TOKEN, _TEAM, _USER) + ((spec.projection,) if spec else ())
    row = _token_query(spec).fetch_one(([parameter] if spec else []) + [token_hash], *projections, extra=1)
    if row is None:
        return None
    token, team, user = row[:3]
    token.team = team
    if user is not None:
        token.user = user
    token.companion = row[3] if spec else None
    token.access_version = row[-1] or 0
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
