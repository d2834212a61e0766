"""Revoking tokens at Salesforce: access tokens handed out before someone lost access, and a disconnected org's token.

The access token of a connection is cached and handed to every member who may target it (orgs/services/refresh.py).
When a write takes that right away from someone (a member removed or offboarded, a role lowered, a grant removed or
lowered, a group membership removed or a group deleted, a service token revoked, an org transferred), the tokens
already handed out must stop working:

1. Before the write (inside its transaction) `access_reduction_watch` takes `orgs.access.token_holders` for the people
   concerned; after the commit it takes them again. Every connection with a holder fewer gets
   `connection_tokens_revoke_task(connection id, reason, since)`. The people side (portal.accounts) cannot import
   this app, so its writes send `portal.accounts.signals.access_reducing`, which `orgs/apps.py` connects here; the
   writes of this app call the watch (or `tokens_revoked_if_access_reduced`) directly.
2. `connection_tokens_revoke` takes the connection's row lock (the one refreshes take), moves the cached access token
   and the one the last refresh replaced into sealed `PendingRevocation` rows and clears them, in one transaction:
   the next hand-out mints a fresh token. Then it revokes each stashed token at Salesforce
   (`/services/oauth2/revoke` with the access token; the refresh token is never touched).
3. Every attempt is audited (`token.revoked_after_access_change`, outcome revoked / pending-retry / failed /
   nothing-to-revoke; never the token). A transient failure raises `RevocationPendingError` so the task retries
   with backoff; the last attempt records failed.

Disconnecting (`connection_disconnect_revoke`): the connection is deleted at once; its refresh token (or, for a JWT
connection, its access tokens) goes into a `PendingRevocation` row in the same transaction, a first revoke is tried
right away so the page can say what happened, and a transient failure is retried by `pending_revocation_task`.
The outcome is audited as `org.token_revoked`. Tokens never appear in task arguments, the broker or the audit log.

Lost retries (`pending_revocations_sweep`, beat): a row still here after the tasks' retry window
(`PORTAL_REVOCATION_SWEEP_AFTER`) lost its task (broker down, worker killed, or an access-change row whose
connection was disconnected meanwhile, which the connection's task no longer finds). The sweep tries each such row
again; once a row is older than `PORTAL_REVOCATION_MAX_AGE` its attempt is the last one (outcome failed, the sealed
token dropped, the audit entry says to revoke it in Setup).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from orgs import salesforce
from orgs.access import token_holders
from orgs.models import OrgConnection, PendingRevocation
from orgs.services.client import sf_client
from portal.accounts.models import AuditEvent, User
from portal.accounts.services import ServiceError, audit_record
from portal.lib import crypto
from portal.lib.tasks import task

log = logging.getLogger(__name__)
Kind = AuditEvent.Kind
Purpose = PendingRevocation.Purpose

REVOKED, PENDING, FAILED, NOTHING = "revoked", "pending-retry", "failed", "nothing-to-revoke"
SETUP_ADVICE = "Revoke it in Salesforce: Setup → Connected Apps OAuth Usage."
_SEVERITY = {NOTHING: 0, REVOKED: 1, PENDING: 2, FAILED: 3}

CONNECTION_TASK = "orgs.tasks.connection_tokens_revoke_task"
PENDING_TASK = "orgs.tasks.pending_revocation_task"


class RevocationPendingError(ServiceError):
    """Salesforce could not be reached to revoke a token; the task retries (the pending row keeps the token)."""


def _worst(outcomes) -> str:
    return max(outcomes, key=_SEVERITY.__getitem__, default=NOTHING)


# -- noticing that access was reduced ----------------------------------------------------------------------------------

def access_reduction_watch(*, team_id: int, reason: str, user_ids=None, connection_ids=None,
                           service_token_ids=None) -> None:
    """Call inside the transaction, before a write that may take access away. After the commit, every connection
    on which one of these holders lost target level gets its handed-out access tokens revoked."""
    scope = {"user_ids": user_ids, "connection_ids": connection_ids, "service_token_ids": service_token_ids}
    before = token_holders(team=team_id, **scope)
    if before:
        transaction.on_commit(lambda: _revoke_lost(team_id=team_id, before=before, reason=reason, scope=scope))


@contextmanager
def tokens_revoked_if_access_reduced(*, team_id: int, reason: str, user_ids=None, connection_ids=None,
                                     service_token_ids=None) -> Iterator[None]:
    """The watch around a block of writes that is not one transaction (offboarding): holders before the block,
    compared after it (after the enclosing commit, if any)."""
    scope = {"user_ids": user_ids, "connection_ids": connection_ids, "service_token_ids": service_token_ids}
    before = token_holders(team=team_id, **scope)
    yield
    if before:
        transaction.on_commit(lambda: _revoke_lost(team_id=team_id, before=before, reason=reason, scope=scope))


def on_access_reducing(sender, *, team_id: int, reason: str, user_ids=None, service_token_ids=None,
                       **kwargs) -> None:
    """Receiver of `portal.accounts.signals.access_reducing` (connected in orgs/apps.py)."""
    access_reduction_watch(team_id=team_id, reason=reason, user_ids=user_ids, service_token_ids=service_token_ids)


def _revoke_lost(*, team_id: int, before: set, reason: str, scope: dict) -> None:
    connections_tokens_revoke_now(connection_ids=sorted({cid for (_, _, cid) in
                                                         before - token_holders(team=team_id, **scope)}),
                                  reason=reason)


def connections_tokens_revoke_now(*, connection_ids: list[int], reason: str) -> None:
    """Publish a revocation of the tokens handed out for each connection so far (call after the commit)."""
    since = time.time()
    for connection_id in connection_ids:
        try:
            task(CONNECTION_TASK).delay(connection_id, reason, since)
        except Exception as exc:  # noqa: BLE001 - broker trouble: do the work here rather than not at all
            log.error("could not enqueue the token revocation of connection %s (%s); revoking now", connection_id,
                      type(exc).__name__)
            try:
                connection_tokens_revoke(connection_id=connection_id, reason=reason, since=since)
            except Exception as inner:  # noqa: BLE001 - audited as pending by the service
                log.error("token revocation of connection %s failed: %s", connection_id, type(inner).__name__)


# -- revoking a connection's handed-out access tokens ------------------------------------------------------------------

def _stash(connection: OrgConnection, *, field: str, purpose: str, reason: str, kind: str,
           actor: User | None = None) -> PendingRevocation | None:
    try:
        token = connection.reveal(field)
    except crypto.DecryptionError:
        token = None
    if not token:
        return None
    row = PendingRevocation(team_id=connection.team_id, connection=connection, purpose=purpose, token_kind=kind,
                            instance_url=connection.instance_url, username=connection.username,
                            org_id=connection.org_id, reason=reason[:200], actor=actor)
    row.seal("token", token)
    row.save()
    return row


def connection_tokens_revoke(*, connection_id: int, reason: str, since: float | None = None,
                             last_attempt: bool = False) -> str:
    """Make every access token handed out for the connection stop working: under the connection's row lock, move
    the cached token (unless it was minted after `since`, the moment of the access change) and the one the last
    refresh replaced into sealed pending rows and clear them; then revoke each at Salesforce. Returns the outcome;
    raises RevocationPendingError while Salesforce is unreachable (the task retries), except on the last attempt.
    """
    with transaction.atomic():
        connection = OrgConnection.objects.select_for_update(of=("self",)).filter(pk=connection_id).first()
        if connection is None:
            return NOTHING  # disconnected meanwhile: the disconnect revokes its tokens
        minted_after = bool(since and connection.last_refresh_at and connection.last_refresh_at.timestamp() > since)
        fields = ["previous_access_token"] if minted_after else ["access_token", "previous_access_token"]
        for field in fields:
            _stash(connection, field=field, purpose=Purpose.ACCESS_CHANGE, reason=reason, kind="access")
            connection.seal(field, None)
        update = ["previous_access_token", "secrets_key_id", "updated_at"]
        if not minted_after:
            connection.access_token_issued_at = None
            update += ["access_token", "access_token_issued_at"]
        connection.save(update_fields=update)
    ids = list(PendingRevocation.objects.filter(connection_id=connection_id, purpose=Purpose.ACCESS_CHANGE)
               .values_list("id", flat=True))
    results = [_attempt(revocation_id=pk, last_attempt=last_attempt) for pk in ids]
    outcome = _worst(r[0] for r in results if r)
    if not any(results):
        return NOTHING  # nothing was cached (another revocation got there first, or no token was ever handed out)
    errors = sorted({r[1] for r in results if r and r[1]})
    data = {"org_id": connection.org_id, "connection": str(connection.code), "reason": reason[:200],
            "outcome": outcome, "tokens": len(ids)}
    if errors:
        data["why"] = "; ".join(errors)[:300]
    audit_record(team=connection.team, actor=None, kind=Kind.TOKEN_REVOKED_AFTER_ACCESS_CHANGE,
                 subject=connection.username, data=data)
    if outcome == PENDING:
        raise RevocationPendingError(data.get("why") or "Salesforce could not be reached to revoke a token.")
    return outcome


def _attempt(*, revocation_id: int, last_attempt: bool) -> tuple[str, str] | None:
    """Revoke one pending token at Salesforce: (outcome, error text). The row is deleted unless the outcome is
    pending-retry. None when another worker holds the row or it is gone."""
    with transaction.atomic():
        row = PendingRevocation.objects.select_for_update(skip_locked=True).filter(pk=revocation_id).first()
        if row is None:
            return None
        error = ""
        try:
            sf_client().revoke(base_url=row.instance_url, token=row.reveal("token"))
        except crypto.DecryptionError:
            outcome, error = FAILED, crypto.DecryptionError.user_message
        except salesforce.OAuthError:
            outcome = REVOKED  # invalid_token: already revoked or expired, which is the goal
        except salesforce.TransientSalesforceError as exc:
            outcome, error = (FAILED if last_attempt else PENDING), salesforce.describe_error(exc)
        except salesforce.SalesforceError as exc:
            outcome, error = FAILED, salesforce.describe_error(exc)
        else:
            outcome = REVOKED
        if outcome == PENDING:
            row.attempts += 1
            row.last_error = error[:300]
            row.save(update_fields=["attempts", "last_error"])
        else:
            row.delete()
    return outcome, error


# -- disconnecting -----------------------------------------------------------------------------------------------------

def connection_disconnect_revoke(*, connection: OrgConnection, actor: User | None) -> list[int]:
    """Inside the disconnect's transaction, with the connection locked: stash what must be revoked at Salesforce.
    A refresh token takes its access tokens with it; a JWT connection has none, so its access tokens go instead."""
    stashed = [_stash(connection, field="refresh_token", purpose=Purpose.DISCONNECT, reason="disconnected",
                      kind="refresh", actor=actor)]
    if stashed[0] is None:
        stashed = [_stash(connection, field=field, purpose=Purpose.DISCONNECT, reason="disconnected", kind="access",
                          actor=actor) for field in ("access_token", "previous_access_token")]
    return [row.pk for row in stashed if row is not None]


def disconnect_revocations_run(*, revocation_ids: list[int], team, username: str, org_id: str,
                               actor: User | None, ip: str | None = None) -> str:
    """After the disconnect committed: a first attempt now (so the page can tell), retries in the background."""
    outcome, retry = NOTHING, []
    for pk in revocation_ids:
        result = _attempt(revocation_id=pk, last_attempt=False)
        if result is None:
            continue
        _audit_disconnect(team=team, username=username, org_id=org_id, actor=actor, ip=ip, outcome=result[0],
                          error=result[1])
        outcome = _worst([outcome, result[0]])
        if result[0] == PENDING:
            retry.append(pk)
    for pk in retry:
        try:
            task(PENDING_TASK).apply_async((pk,), countdown=30)
        except Exception as exc:  # noqa: BLE001 - the row stays; logged for the operator
            log.error("could not enqueue the retry of revocation %s (%s)", pk, type(exc).__name__)
    return outcome


def pending_revocation_retry(*, revocation_id: int, last_attempt: bool = False) -> str:
    """The retry task's service: one more attempt; raises RevocationPendingError while still pending."""
    row = PendingRevocation.objects.select_related("team", "actor").filter(pk=revocation_id).first()
    if row is None:
        return NOTHING
    result = _attempt(revocation_id=revocation_id, last_attempt=last_attempt)
    if result is None:
        return NOTHING
    outcome, error = result
    if row.purpose == Purpose.DISCONNECT:
        _audit_disconnect(team=row.team, username=row.username, org_id=row.org_id, actor=None, ip=None,
                          outcome=outcome, error=error)
    else:
        audit_record(team=row.team, actor=None, kind=Kind.TOKEN_REVOKED_AFTER_ACCESS_CHANGE, subject=row.username,
                     data={"org_id": row.org_id, "reason": row.reason, "outcome": outcome, "tokens": 1,
                           **({"why": error[:300]} if error else {})})
    if outcome == PENDING:
        raise RevocationPendingError(error or "Salesforce could not be reached to revoke a token.")
    return outcome


def pending_revocations_sweep() -> int:
    """Beat: one more attempt for every pending row older than the retry window (its task was lost); the last one
    for rows older than PORTAL_REVOCATION_MAX_AGE. At most PORTAL_REVOCATION_SWEEP_BATCH rows a run, oldest first.
    Returns how many rows were tried."""
    now = timezone.now()
    give_up_before = now - timedelta(seconds=settings.PORTAL_REVOCATION_MAX_AGE)
    rows = list(PendingRevocation.objects.filter(
        created_at__lt=now - timedelta(seconds=settings.PORTAL_REVOCATION_SWEEP_AFTER))
        .order_by("created_at").values_list("pk", "created_at")[:settings.PORTAL_REVOCATION_SWEEP_BATCH])
    for pk, created_at in rows:
        try:
            pending_revocation_retry(revocation_id=pk, last_attempt=created_at < give_up_before)
        except RevocationPendingError:
            continue  # still unreachable: audited pending-retry, tried again next sweep
    return len(rows)


def _audit_disconnect(*, team, username: str, org_id: str, actor, ip, outcome: str, error: str) -> None:
    data = {"org_id": org_id, "outcome": outcome}
    if error:
        data["why"] = error[:300]
    if outcome == FAILED:
        data["advice"] = SETUP_ADVICE
    audit_record(team=team, actor=actor, kind=Kind.ORG_TOKEN_REVOKED, subject=username, ip=ip, data=data)
