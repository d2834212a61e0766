"""Handing out an access token for a connection: the one audited path for the web UI, the REST API and the CLI.

The caller has already asked the org funnel (`orgs.access`) whether the user or API token may target the
connection. The token comes from `orgs.services.refresh` (the encrypted cache while fresh, else a refresh or a JWT
mint under the connection's row lock). The audit log keeps who, which org, which API token, the address and only
a hash of the token.

Every hand-out first takes one unit of its principal's budget (`handout_rate_limit`): a member's web hand-outs and
their personal API tokens share one budget, each service token has its own; `PORTAL_HANDOUT_RATE_PER_MINUTE` a
minute, then 429 with a `retry_after`. One Redis round trip, no SQL.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.views.decorators.debug import sensitive_variables

from orgs import salesforce
from orgs.models import OrgConnection
from orgs.services import refresh
from orgs.services.client import sf_client
from portal.accounts.models import ApiToken, AuditEvent, User
from portal.accounts.services import ServiceError, audit_record
from portal.lib.metrics import handout_count
from portal.lib.ratelimit import rate_limit_hit

Kind = AuditEvent.Kind


@dataclass(frozen=True)
class HandOut:
    access_token: str
    instance_url: str
    username: str
    org_id: str
    api_version: str
    issued_at: datetime


class HandOutError(ServiceError):
    """`status` 409: the connection needs re-authorization (or a check); 429: over the hand-out rate limit
    (`retry_after` seconds); 503: Salesforce is unreachable, or the portal's encryption key for the connection's
    secrets is unavailable (`key_unavailable`)."""

    def __init__(self, status: int, code: str, message: str, retry_after: int | None = None):
        super().__init__(message)
        self.status, self.code, self.retry_after = status, code, retry_after


def handout_principal(*, user: User | None, api_token: ApiToken | None, identity: str | None = None) -> str:
    """Whose budget a hand-out takes: a CI identity (OIDC exchange: issuer and subject), the service token for
    service tokens, else the member (personal tokens and the web share it, so more tokens do not mean more
    hand-outs)."""
    if identity is not None:
        return f"ci:{identity}"
    if api_token is not None and api_token.kind == ApiToken.Kind.SERVICE:
        return f"service-token:{api_token.pk}"
    if user is not None:
        return f"user:{user.pk}"
    return f"api-token:{api_token.pk}"


def handout_rate_limit(*, user: User | None, api_token: ApiToken | None = None, identity: str | None = None) -> None:
    """Take one hand-out from the principal's budget; HandOutError(429) with `retry_after` when it is spent."""
    limit = settings.PORTAL_HANDOUT_RATE_PER_MINUTE
    principal = handout_principal(user=user, api_token=api_token, identity=identity)
    wait = rate_limit_hit(f"handout:{principal}", limit=limit, window=60)
    if wait is not None:
        who = ("this CI identity" if identity is not None else "this service token"
               if api_token is not None and api_token.kind == ApiToken.Kind.SERVICE else "you")
        raise HandOutError(429, "rate_limited", f"Too many access-token requests by {who} (limit {limit} a minute, "
                                                f"web and API together). Retry in {wait} s.", retry_after=wait)


def token_fingerprint(access_token: str) -> str:
    """What the audit log keeps of a handed-out token: sha256(token)[:16]."""
    return hashlib.sha256(access_token.encode()).hexdigest()[:16]


def connection_token_hand_out(*, team, connection: OrgConnection, user: User | None,
                              api_token: ApiToken | None = None, alias: str = "", ip: str | None = None,
                              purpose: str = "api", extra: dict | None = None,
                              identity: str | None = None) -> HandOut:
    """`_hand_out`, counted by channel (`purpose`) and outcome (ok or the HandOutError code): one counter increment
    (portal_handouts_total)."""
    try:
        handed_out = _hand_out(team=team, connection=connection, user=user, api_token=api_token, alias=alias, ip=ip,
                               purpose=purpose, extra=extra, identity=identity)
    except HandOutError as exc:
        handout_count(purpose, exc.code)
        raise
    handout_count(purpose, "ok")
    return handed_out


@sensitive_variables()
def _hand_out(*, team, connection: OrgConnection, user: User | None, api_token: ApiToken | None, alias: str,
              ip: str | None, purpose: str, extra: dict | None, identity: str | None) -> HandOut:
    """An access token for a connection the caller may target (the caller checked that through orgs.access).

    Served from the encrypted cache while valid, else refreshed or minted by `orgs.services.refresh`. Audited with who,
    which org, which API token, the address and only a hash of the token. Rate-limited per principal first
    (`handout_rate_limit`); `identity` names a CI job's OIDC identity, which has no user or API token."""
    handout_rate_limit(user=user, api_token=api_token, identity=identity)
    try:
        issued = refresh.connection_access_token(connection_id=connection.pk, connection=connection)
    except refresh.CheckNeededError as exc:
        raise HandOutError(409, "check_needed", f"The connection “{alias or connection.username}”: {exc}") from None
    except refresh.ReauthorizationRequiredError as exc:
        raise HandOutError(409, "needs_reauth", f"The connection “{alias or connection.username}” needs "
                                                f"re-authorization: {exc} Reconnect it in the portal.") from None
    except refresh.SalesforceUnavailableError as exc:
        raise HandOutError(503, "salesforce_unavailable", f"Salesforce is unreachable right now: {exc}") from None
    except refresh.KeyUnavailableError as exc:
        raise HandOutError(503, "key_unavailable", str(exc)) from None
    data = {"org_id": connection.org_id, "username": connection.username, "alias": alias, "purpose": purpose,
            "token_sha256": token_fingerprint(issued.access_token), "flow": connection.flow}
    if extra:
        data.update(extra)
    if api_token is not None:
        data["api_token"] = {"name": api_token.name, "kind": api_token.kind, "hint": api_token.hint,
                             "code": str(api_token.code)}
    audit_record(team=team, actor=user, kind=Kind.TOKEN_ISSUED, subject=alias or connection.username,
                 ip=ip, data=data)
    return HandOut(access_token=issued.access_token, instance_url=issued.instance_url,
                   username=issued.username or connection.username, org_id=issued.org_id or connection.org_id,
                   api_version=issued.api_version or connection.api_version, issued_at=issued.issued_at)


def time_boxed_extra(found) -> dict | None:
    """What a hand-out's audit entry adds under time-boxed access: the request it was handed out under."""
    if found is None or not found.request:
        return None
    return {"access_request": found.request, "access_expires_at": found.expires_at.isoformat()}


def frontdoor_single_use_url(*, handed_out: HandOut) -> str:
    """Exchange a handed-out access token for a single-use frontdoor URL ("Open in Salesforce"). Raises HandOutError
    (502 `frontdoor_unavailable`) when Salesforce can't or won't issue one."""
    try:
        return sf_client().single_access_url(instance_url=handed_out.instance_url,
                                             access_token=handed_out.access_token)
    except salesforce.SalesforceError as exc:
        raise HandOutError(502, "frontdoor_unavailable", "Salesforce did not issue a single-use sign-in link: "
                                                         f"{salesforce.describe_error(exc)}") from None
