"""Access tokens for connections: serve the cached one while fresh, otherwise refresh (web flow) or mint (JWT).

Refresh-token rotation makes concurrency a correctness problem (docs/salesforce.md §3): presenting a rotated-out refresh
token revokes the whole family. So every refresh of a connection runs under its refresh lock (a PostgreSQL
session-level advisory lock, released by the server when the holder's connection dies), re-reads the row after
taking it and returns another process's fresh result if there is one. Before the refresh token is presented the
"in flight since" mark (`refresh_started_at`) is committed on its own; the transaction that stores the answer (a
rotated refresh token with the new access token) clears it. A mark found under the lock is therefore always an
interrupted attempt (a crash, or an answer that never arrived): the stored token may have been rotated out, so it is
not presented blindly. Salesforce is asked whether it is still active (token introspection, not a grant): active →
refresh as usual; inactive → Needs re-authorization, without presenting it; no answer → Degraded (retried); an
introspection Salesforce refuses → Refresh interrupted, check needed (a manager's Check presents it deliberately).

Failures: transient ones (timeouts, connection errors, 5xx, 429) mark the connection Degraded with the reason and
raise `SalesforceUnavailableError` (a still-young cached token is served instead when there is one); permanent ones
(`invalid_grant`, revoked) mark it Needs re-authorization, audit it, email its owner and managers once per episode,
and raise `ReauthorizationRequiredError`. A secret the portal cannot decrypt (its encryption key is missing or wrong)
is the portal's problem, not the org's: the connection becomes Key unavailable, the team's admins get one email per
episode, `KeyUnavailableError` is raised, and the next hand-out or sweep tries again, so the connection recovers by
itself once the right key is configured.
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, OperationalError, transaction
from django.db import connection as db_connection
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from orgs import salesforce
from orgs.models import OrgConnection
from orgs.services.alerts import alert_fire
from orgs.services.apps import with_app_secret
from orgs.services.client import sf_client
from orgs.services.jwt import jwt_token_response
from orgs.services.notifications import notify_key_unavailable, notify_needs_reauth
from portal.accounts.models import AuditEvent, Notice
from portal.accounts.services import ServiceError, audit_record
from portal.lib import crypto
from portal.lib.metrics import refresh_observe

log = logging.getLogger(__name__)
Status = OrgConnection.Status


class SalesforceUnavailableError(ServiceError):
    """Salesforce could not be reached or failed transiently (HTTP 503 in the API)."""


class ReauthorizationRequiredError(ServiceError):
    """The connection must be re-authorized by a person (HTTP 409 in the API)."""


class CheckNeededError(ReauthorizationRequiredError):
    """A refresh was interrupted and Salesforce would not say whether the stored refresh token survived: a manager
    must Check (present it deliberately) or Reconnect. HTTP 409 in the API, like Needs re-authorization."""


REFRESH_LOCK_NAMESPACE = 0x4F50  # first key of the advisory lock pg_advisory_lock(namespace, connection id)
INTERRUPTED_REASON = ("A token refresh was interrupted, and Salesforce no longer accepts the stored refresh token: it "
                      "was rotated during the interrupted refresh (or revoked). The portal did not present it again. "
                      "Reconnect the org.")
CHECK_NEEDED_REASON = ("A token refresh was interrupted and Salesforce did not say whether the stored refresh token is "
                       "still valid ({why}). The portal did not present it again, because a refresh token that was "
                       "rotated out revokes the whole connection. Check it (presents the token once) or Reconnect.")


class KeyUnavailableError(ServiceError):
    """The portal cannot decrypt the connection's secrets with its configured keyring (HTTP 503 in the API).
    Not the org's fault and not permanent: the connection recovers once the right key is configured."""

    message = ("The portal cannot decrypt this connection's credentials: its encryption key is unavailable. "
               "The team's admins were notified; the connection recovers once the key is configured again.")


@dataclass(frozen=True)
class IssuedToken:
    access_token: str = field(repr=False)
    instance_url: str
    issued_at: datetime
    username: str
    org_id: str
    api_version: str


def _issued(connection: OrgConnection, token: str) -> IssuedToken:
    return IssuedToken(access_token=token, instance_url=connection.instance_url,
                       issued_at=connection.access_token_issued_at or timezone.now(), username=connection.username,
                       org_id=connection.org_id, api_version=connection.api_version)


def _default_max_age() -> timedelta:
    return timedelta(seconds=settings.PORTAL_REFRESH_AFTER)


def _fresh_token(connection: OrgConnection, max_age: timedelta) -> str | None:
    """The cached access token if it is younger than `max_age` and decrypts; else None."""
    issued_at = connection.access_token_issued_at
    if not connection.access_token or issued_at is None or timezone.now() - issued_at >= max_age:
        return None
    try:
        return connection.reveal("access_token")
    except crypto.DecryptionError:
        return None


@sensitive_variables()
def connection_access_token(*, connection_id: int, max_age: timedelta | None = None,
                            connection: OrgConnection | None = None) -> IssuedToken:
    """The cached access token while younger than `max_age` (default PORTAL_REFRESH_AFTER), else a new one.
    Pass the `connection` row when the caller just loaded it (the refresh path re-reads it under a lock anyway)."""
    max_age = max_age or _default_max_age()
    if connection is None or connection.pk != connection_id:
        connection = OrgConnection.objects.get(pk=connection_id)
    if connection.status == Status.NEEDS_REAUTH:
        raise ReauthorizationRequiredError(connection.status_reason or "Salesforce refused the connection's token.")
    # Key unavailable: try the refresh again (under the lock), which is what brings the connection back.
    token = None if connection.status == Status.KEY_UNAVAILABLE else _fresh_token(connection, max_age)
    if token:
        return _issued(connection, token)
    try:
        return connection_refresh(connection_id=connection_id, max_age=max_age)
    except (SalesforceUnavailableError, CheckNeededError):
        # Salesforce's default session lasts two hours: a token younger than that still works.
        fallback = _fresh_token(connection, max(max_age * 2, timedelta(hours=2)))
        if fallback:
            return _issued(connection, fallback)
        raise


@contextmanager
def _refresh_lock(connection_id: int):
    """Serialise the refreshes of one connection across processes. A session-level advisory lock rather than a row
    lock, because the "in flight" mark must be committed while it is held; PostgreSQL releases it when the holder's
    connection ends, so a SIGKILLed worker cannot keep it. (SQLite, for local development: no lock needed.)"""
    if db_connection.vendor != "postgresql":
        yield
        return
    with db_connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s, %s)", [REFRESH_LOCK_NAMESPACE, connection_id])
    try:
        yield
    finally:
        try:
            with db_connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [REFRESH_LOCK_NAMESPACE, connection_id])
        except DatabaseError:  # the connection is gone, and the lock with it
            log.warning("could not release the refresh lock of connection %s", connection_id)


# portal_refreshes_total{outcome}: ok, or what a failed refresh/mint became.
_OUTCOMES = {SalesforceUnavailableError: "salesforce_unavailable", ReauthorizationRequiredError: "needs_reauth",
             KeyUnavailableError: "key_unavailable"}


@sensitive_variables()
def connection_refresh(*, connection_id: int, force: bool = False, max_age: timedelta | None = None,
                       unless_newer_than: datetime | None = None, deliberate: bool = False) -> IssuedToken:
    """Refresh (or mint) under the connection's refresh lock. Without `force`, a token that another process refreshed
    meanwhile is returned as it is; with `unless_newer_than`, only a token issued after that moment counts as fresh.
    `deliberate` (a manager's Check) presents the refresh token even after an interrupted attempt."""
    max_age = max_age or _default_max_age()
    with _refresh_lock(connection_id):
        with transaction.atomic():
            connection = (OrgConnection.objects.select_for_update(of=("self",))
                          .select_related("app", "app__signing_key").get(pk=connection_id))
            if connection.status == Status.NEEDS_REAUTH:
                raise ReauthorizationRequiredError(connection.status_reason or "Salesforce refused the token.")
            if connection.status == Status.KEY_UNAVAILABLE:
                token = None  # renew: only a successful refresh with the configured key clears the status
            elif unless_newer_than is not None:
                newer = connection.access_token_issued_at and connection.access_token_issued_at > unless_newer_than
                token = _fresh_token(connection, max_age) if newer else None
            else:
                token = None if force else _fresh_token(connection, max_age)
            if token:
                return _issued(connection, token)  # another process refreshed while we waited for the lock
            if connection.status == Status.CHECK_NEEDED and not deliberate:
                raise CheckNeededError(connection.status_reason)
            rotating = connection.flow == OrgConnection.Flow.WEB
            interrupted = rotating and connection.refresh_started_at is not None
            if rotating and not interrupted:
                connection.refresh_started_at = timezone.now()
                OrgConnection.objects.filter(pk=connection.pk).update(
                    refresh_started_at=connection.refresh_started_at)
        # Committed: from here until the result is stored, a crash leaves the mark behind.
        if interrupted and not deliberate:
            _vet_interrupted(connection)  # raises unless the stored refresh token is still active
        failure: Exception | None = None
        started = time.monotonic()
        try:
            tokens = _renew(connection)
        except salesforce.TransientSalesforceError as exc:
            # The request may have reached Salesforce (a lost answer): the mark stays, so the next attempt vets.
            failure = SalesforceUnavailableError(salesforce.describe_error(exc))
            with transaction.atomic():
                _mark_degraded(connection, str(failure))
        except crypto.DecryptionError:
            failure = KeyUnavailableError(KeyUnavailableError.message)
            with transaction.atomic():
                _mark_key_unavailable(connection)
        except salesforce.SalesforceError as exc:
            reason = salesforce.describe_error(exc)
            failure = ReauthorizationRequiredError(reason)
            with transaction.atomic():
                _mark_needs_reauth(connection, reason)
        else:
            refresh_observe("ok", time.monotonic() - started)
            with transaction.atomic():
                _store_tokens(connection, tokens)
            return _issued(connection, tokens.access_token)
    refresh_observe(_OUTCOMES.get(type(failure), "error"), time.monotonic() - started)
    raise failure


def connection_check(*, connection_id: int) -> IssuedToken:
    """A manager's Check of a connection whose refresh was interrupted: present the stored refresh token once,
    deliberately (if it was rotated out, Salesforce revokes the family and the connection needs re-authorization,
    which Reconnect fixes in either case). The caller checked the manage level through orgs.access."""
    return connection_refresh(connection_id=connection_id, force=True, deliberate=True)


def _vet_interrupted(connection: OrgConnection) -> None:
    """An earlier attempt presented (or was about to present) the stored refresh token and its result was never
    stored. Ask Salesforce whether the token is still active instead of presenting it: returns when it is (nothing
    was rotated: refresh as usual); otherwise records the outcome and raises."""
    try:
        refresh_token = connection.reveal("refresh_token")
        client = sf_client()
        active = with_app_secret(connection.app, lambda secret: client.introspect_active(
            base_url=connection.instance_url, client_id=connection.app.consumer_key, client_secret=secret,
            token=refresh_token, token_type_hint="refresh_token"))
    except salesforce.TransientSalesforceError as exc:
        failure = SalesforceUnavailableError(salesforce.describe_error(exc))
        with transaction.atomic():
            _mark_degraded(connection, str(failure))
        raise failure from None
    except crypto.DecryptionError:
        with transaction.atomic():
            _mark_key_unavailable(connection)
        raise KeyUnavailableError(KeyUnavailableError.message) from None
    except salesforce.SalesforceError as exc:
        reason = CHECK_NEEDED_REASON.format(why=salesforce.describe_error(exc))
        with transaction.atomic():
            _mark_check_needed(connection, reason)
        raise CheckNeededError(reason) from None
    if active:
        log.info("connection %s: an interrupted refresh left its refresh token active; refreshing", connection.code)
        return
    with transaction.atomic():
        _mark_needs_reauth(connection, INTERRUPTED_REASON)
    raise ReauthorizationRequiredError(INTERRUPTED_REASON)


def connections_refresh_batch(connection_ids: list[int], *, budget_seconds: float = 60.0
                              ) -> tuple[int | None, list[int]]:
    """Refresh due connections one after another, each exactly as `connection_refresh` does (its own row lock and
    transaction; a connection refreshed meanwhile is left as it is), for the sweep's batches.

    Stops at the first transient failure (Salesforce is probably unwell: the rest should back off individually) or
    when `budget_seconds` have passed. Returns (the id that failed transiently or None, the ids not tried).
    Permanent failures are recorded by `connection_refresh` and the batch goes on."""
    deadline = time.monotonic() + budget_seconds
    for index, connection_id in enumerate(connection_ids):
        if time.monotonic() > deadline:
            return None, connection_ids[index:]
        try:
            connection_refresh(connection_id=connection_id)
        except (ReauthorizationRequiredError, KeyUnavailableError, OrgConnection.DoesNotExist):
            continue  # recorded, audited and emailed (or disconnected meanwhile)
        except (SalesforceUnavailableError, OperationalError):
            return connection_id, connection_ids[index + 1:]
    return None, []


def _renew(connection: OrgConnection) -> salesforce.TokenResponse:
    if connection.flow == OrgConnection.Flow.JWT:
        return jwt_token_response(connection=connection)
    refresh_token = connection.reveal("refresh_token")
    if not refresh_token:
        raise salesforce.OAuthError("invalid_grant", "no refresh token is stored for this connection")
    client = sf_client()
    return with_app_secret(connection.app, lambda secret: client.refresh(
        base_url=connection.instance_url, client_id=connection.app.consumer_key, client_secret=secret,
        refresh_token=refresh_token))


def _store_tokens(connection: OrgConnection, tokens: salesforce.TokenResponse) -> None:
    """Save the new access token and, with rotation, the new refresh token: one transaction, one row."""
    recovered = connection.status != Status.CONNECTED
    now = timezone.now()
    try:  # the replaced token stays valid at Salesforce while it is used: keep it for an access-change revocation
        previous = connection.reveal("access_token")
    except crypto.DecryptionError:
        previous = None
    connection.seal("previous_access_token", previous)
    connection.seal("access_token", tokens.access_token)
    if tokens.refresh_token:
        connection.seal("refresh_token", tokens.refresh_token)
    connection.instance_url = tokens.instance_url or connection.instance_url
    connection.access_token_issued_at = tokens.issued_at_datetime or now
    connection.last_refresh_at = now
    connection.status, connection.status_reason, connection.refresh_failures = Status.CONNECTED, "", 0
    connection.refresh_started_at = None  # the attempt is over and its result stored, in the same transaction
    fields = ["access_token", "previous_access_token", "refresh_token", "secrets_key_id", "instance_url",
              "access_token_issued_at", "last_refresh_at", "status", "status_reason", "refresh_failures",
              "refresh_started_at", "updated_at"]
    if recovered and connection.reauth_notified_at is not None:  # a checked connection: a new episode may email
        connection.reauth_notified_at = None
        fields.append("reauth_notified_at")
    connection.save(update_fields=fields)
    if recovered:
        audit_record(team=connection.team, actor=None, kind=AuditEvent.Kind.ORG_RECOVERED,
                     subject=connection.username, data={"org_id": connection.org_id})


def _mark_degraded(connection: OrgConnection, reason: str) -> None:
    OrgConnection.objects.filter(pk=connection.pk).update(
        status=Status.DEGRADED, status_reason=reason[:500], last_error_at=timezone.now(),
        refresh_failures=connection.refresh_failures + 1)
    log.warning("refresh of connection %s failed transiently (%d in a row)", connection.code,
                connection.refresh_failures + 1)
    if connection.status != Status.DEGRADED:  # the transition only: one alert per episode
        alert_fire(team_id=connection.team_id, event=Notice.DEGRADED,
                   text=f"{connection.username} ({connection.org_id}) is degraded: {reason[:300]}",
                   data={"org": connection.username, "org_id": connection.org_id, "reason": reason[:300]})


def _mark_needs_reauth(connection: OrgConnection, reason: str) -> None:
    """The token is dead: whatever was in flight is over (the mark is cleared; nothing will be presented again)."""
    first_notice = connection.reauth_notified_at is None
    OrgConnection.objects.filter(pk=connection.pk).update(
        status=Status.NEEDS_REAUTH, status_reason=reason[:500], last_error_at=timezone.now(),
        reauth_notified_at=connection.reauth_notified_at or timezone.now(), refresh_started_at=None)
    audit_record(team=connection.team, actor=None, kind=AuditEvent.Kind.ORG_NEEDS_REAUTH,
                 subject=connection.username, data={"org_id": connection.org_id, "why": reason[:300]})
    log.warning("connection %s needs re-authorization", connection.code)
    if first_notice:
        transaction.on_commit(lambda: _notify_needs_reauth(connection.pk, reason))


def _mark_check_needed(connection: OrgConnection, reason: str) -> None:
    """Refresh interrupted, check needed: the mark stays (the token's fate is unknown); one email per episode."""
    first_notice = connection.reauth_notified_at is None
    OrgConnection.objects.filter(pk=connection.pk).update(
        status=Status.CHECK_NEEDED, status_reason=reason[:500], last_error_at=timezone.now(),
        reauth_notified_at=connection.reauth_notified_at or timezone.now())
    audit_record(team=connection.team, actor=None, kind=AuditEvent.Kind.ORG_NEEDS_REAUTH,
                 subject=connection.username, data={"org_id": connection.org_id, "why": reason[:300],
                                                    "status": Status.CHECK_NEEDED})
    log.warning("connection %s: refresh interrupted, check needed", connection.code)
    if first_notice:
        transaction.on_commit(lambda: notify_needs_reauth(connection_id=connection.pk, reason=reason,
                                                          check_needed=True))


def _mark_key_unavailable(connection: OrgConnection) -> None:
    """Status Key unavailable. The team's admins get one email per episode: when no other connection of the team
    was already in that state (the key is the portal's, so every connection of the team is affected at once)."""
    unavailable = Status.KEY_UNAVAILABLE
    first_in_team = not (OrgConnection.objects.filter(team_id=connection.team_id, status=unavailable)
                         .exclude(pk=connection.pk).exists())
    OrgConnection.objects.filter(pk=connection.pk).update(
        status=unavailable, status_reason=KeyUnavailableError.message[:500], last_error_at=timezone.now(),
        refresh_started_at=None)  # nothing could be decrypted, so nothing was presented to Salesforce
    log.error("connection %s: its secrets cannot be decrypted with the configured PORTAL_ENCRYPTION_KEYS",
              connection.code)
    if connection.status != unavailable and first_in_team:
        team_id = connection.team_id
        transaction.on_commit(lambda: notify_key_unavailable(team_id=team_id))


def _notify_needs_reauth(connection_id: int, reason: str) -> None:
    """One email per episode to the connection's owner and its managers (after the status is committed)."""
    notify_needs_reauth(connection_id=connection_id, reason=reason)


@sensitive_variables()
def with_fresh_token(*, connection_id: int, call):
    """Run `call(issued)` against Salesforce; on 401 INVALID_SESSION_ID refresh once and retry once.
    The high-assurance 401 is not a refresh case and is raised as it is."""
    issued = connection_access_token(connection_id=connection_id)
    try:
        return call(issued)
    except salesforce.SessionExpiredError:
        issued = connection_refresh(connection_id=connection_id, unless_newer_than=issued.issued_at)
        return call(issued)
