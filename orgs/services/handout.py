"""Handing out an access token for a connection: the one audited path for the web UI, the REST API and the CLI.

The caller has already asked the org funnel (`orgs.access`) whether the user or API token may target the
connection. The token comes from `orgs.services.refresh` (the encrypted cache while fresh, else a refresh or a JWT
mint under the connection's row lock). The audit log keeps who, which org, which API token, the address and only
a hash of the token.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from django.views.decorators.debug import sensitive_variables

from orgs.models import OrgConnection
from orgs.services import refresh
from portal.accounts.models import ApiToken, AuditEvent, User
from portal.accounts.services import ServiceError, audit_record

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
    """`status` 409: the connection needs re-authorization; 503: Salesforce is unreachable."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code = status, code


def token_fingerprint(access_token: str) -> str:
    """What the audit log keeps of a handed-out token: sha256(token)[:16]."""
    return hashlib.sha256(access_token.encode()).hexdigest()[:16]


@sensitive_variables()
def connection_token_hand_out(*, team, connection: OrgConnection, user: User | None,
                              api_token: ApiToken | None = None, alias: str = "", ip: str | None = None,
                              purpose: str = "api", extra: dict | None = None) -> HandOut:
    """An access token for a connection the caller may target (the caller checked that through orgs.access).

    Served from the encrypted cache while valid, else refreshed or minted by `orgs.services.refresh`. Audited with who,
    which org, which API token, the address and only a hash of the token."""
    try:
        issued = refresh.connection_access_token(connection_id=connection.pk, connection=connection)
    except refresh.ReauthorizationRequiredError as exc:
        raise HandOutError(409, "needs_reauth", f"The connection “{alias or connection.username}” needs "
                                                f"re-authorization: {exc} Reconnect it in the portal.") from None
    except refresh.SalesforceUnavailableError as exc:
        raise HandOutError(503, "salesforce_unavailable", f"Salesforce is unreachable right now: {exc}") from None
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
