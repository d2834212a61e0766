"""Thin Celery tasks for the Salesforce side: ids in, one service call, the retry policy on the decorator.

Arguments are database ids only, never tokens or secrets (the broker is not a secret store). Every task is
idempotent: a redelivered or duplicated task finds the work done (a fresh token, an up-to-date inventory).
"""

import logging
import random

from celery import shared_task
from django.conf import settings
from django.db import OperationalError

from orgs.models import OrgConnection
from orgs.salesforce.errors import TransientSalesforceError
from orgs.services.access_requests import access_requests_sweep
from orgs.services.access_reviews import access_reviews_close_due
from orgs.services.alerts import AlertRetry, alert_deliver, alert_deliveries_sweep
from orgs.services.inventory import dev_hub_sync, scratch_expiry_notify
from orgs.services.notifications import signing_keys_expiry_notify
from orgs.services.refresh import (
    KeyUnavailableError,
    ReauthorizationRequiredError,
    SalesforceUnavailableError,
    connection_refresh,
    connections_refresh_batch,
)
from orgs.services.revocation import (
    RevocationPendingError,
    connection_tokens_revoke,
    pending_revocation_retry,
    pending_revocations_sweep,
)
from orgs.services.sandboxes import sandbox_poll, sandbox_requests_resume, sandbox_sync
from orgs.services.scratch import PENDING, DeleteRetry, scratch_org_delete_run, scratch_org_poll
from orgs.services.sweeps import connections_refresh_sweep, inventory_sweep, sandboxes_sweep

log = logging.getLogger(__name__)

RETRY = {
    "autoretry_for": (SalesforceUnavailableError, OperationalError),
    "retry_backoff": 30,  # 30 s, 60 s, 120 s, … with full jitter
    "retry_backoff_max": 600,
    "retry_jitter": True,
    "max_retries": 8,
    "dont_autoretry_for": (ReauthorizationRequiredError, KeyUnavailableError),
    "acks_late": True,
}


# Revocations: retried while Salesforce is unreachable (10 s, 20 s, … capped at 300 s, full jitter), at most
# PORTAL_REVOCATION_MAX_RETRIES times; the last attempt records the outcome "failed" instead of raising.
REVOKE_RETRY = {
    "bind": True,
    "autoretry_for": (RevocationPendingError, OperationalError),
    "retry_backoff": 10,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": settings.PORTAL_REVOCATION_MAX_RETRIES,
    "acks_late": True,
}


@shared_task(acks_late=True, expires=300)
def connections_refresh_sweep_task() -> int:
    """Beat: enqueue a refresh for every connection that is due (oldest first)."""
    return connections_refresh_sweep()


@shared_task(**RETRY)
def connection_refresh_task(connection_id: int) -> None:
    """Refresh one connection unless another worker already did (the service re-checks under the row lock).
    Transient failures raise SalesforceUnavailableError and are retried with backoff (the row shows Degraded)."""
    try:
        # Under its row lock the service returns at once for a connection another worker just refreshed, and
        # raises without calling Salesforce for one that waits for a person to reconnect it.
        connection_refresh(connection_id=connection_id)
    except (ReauthorizationRequiredError, KeyUnavailableError, OrgConnection.DoesNotExist):
        return  # recorded and emailed by the service (or disconnected meanwhile); the sweeps retry key problems


@shared_task(acks_late=True, soft_time_limit=150, time_limit=180)
def connections_refresh_batch_task(connection_ids: list[int]) -> None:
    """The sweep's unit of work: refresh a batch of due connections one after another, so Celery's own cost per
    task (decode, ack, logging: several ms) is paid once per batch, not once per connection. Each refresh is the same
    as `connection_refresh_task`'s and idempotent, so a redelivered batch redoes nothing that was done.

    At the first transient failure the failed connection (after a first backoff) and the untried rest are handed to
    `connection_refresh_task`, which owns retries; so is whatever a 60 s budget did not reach."""
    failed, untried = connections_refresh_batch(connection_ids)
    try:
        if failed is not None:
            log.info("refresh batch: connection %s failed transiently; %d untried handed over", failed, len(untried))
            connection_refresh_task.apply_async((failed,), countdown=random.uniform(0, RETRY["retry_backoff"]))
        for connection_id in untried:
            connection_refresh_task.delay(connection_id)
    except Exception as exc:  # noqa: BLE001 - broker trouble: the connections stay due for the next sweep
        log.error("refresh batch: could not hand over %d connection(s) (%s); the next sweep will retry",
                  len(untried) + (failed is not None), type(exc).__name__)


@shared_task(acks_late=True, expires=900)
def inventory_sweep_task() -> int:
    """Beat: sync the scratch-org inventory of every connected Dev Hub."""
    return inventory_sweep()


@shared_task(**RETRY)
def dev_hub_inventory_task(connection_id: int) -> None:
    try:
        dev_hub_sync(connection_id=connection_id)
    except (ReauthorizationRequiredError, KeyUnavailableError):
        return


@shared_task(acks_late=True, expires=3600)
def scratch_expiry_notify_task() -> int:
    """Beat: email creators whose scratch orgs expire within PORTAL_SCRATCH_EXPIRY_NOTICE_DAYS, once per org."""
    return scratch_expiry_notify()


@shared_task(bind=True, acks_late=True, max_retries=None)
def scratch_org_poll_task(self, scratch_id: int) -> None:
    """Poll a requested scratch org with backoff (2, 4, 8 … 30 s) until Active, Error or the create timeout."""
    try:
        status = scratch_org_poll(scratch_id=scratch_id)
    except (SalesforceUnavailableError, TransientSalesforceError):
        status = "New"  # try again later
    except (ReauthorizationRequiredError, KeyUnavailableError):
        return  # the Dev Hub needs reconnecting, or the key is unavailable; recorded by the service
    if status in PENDING:
        raise self.retry(countdown=min(2 ** min(self.request.retries + 1, 5), 30))


@shared_task(bind=True, autoretry_for=(DeleteRetry, OperationalError),
             retry_backoff=settings.PORTAL_SCRATCH_DELETE_RETRY_BACKOFF, retry_backoff_max=600, retry_jitter=True,
             max_retries=settings.PORTAL_SCRATCH_DELETE_MAX_RETRIES, acks_late=True)
def scratch_org_delete_task(self, scratch_id: int) -> str:
    """Delete a scratch org the web page marked "deleting". Salesforce unavailable: retried with backoff (10 s, 20 s,
    … capped, jittered); the last attempt, or a refusal, records the failure on the row (and emails the requester)."""
    return scratch_org_delete_run(scratch_id=scratch_id, last_attempt=self.request.retries >= self.max_retries)


@shared_task(**REVOKE_RETRY)
def connection_tokens_revoke_task(self, connection_id: int, reason: str, since: float | None = None) -> None:
    """Access to a connection was reduced: revoke every access token handed out for it before `since` (a time
    stamp) and make the next hand-out mint a fresh one. The tokens themselves never travel in the message."""
    connection_tokens_revoke(connection_id=connection_id, reason=reason, since=since,
                             last_attempt=self.request.retries >= self.max_retries)


@shared_task(**REVOKE_RETRY)
def pending_revocation_task(self, revocation_id: int) -> None:
    """Retry revoking one stashed token (a disconnected org's) at Salesforce; the row holds the sealed token."""
    pending_revocation_retry(revocation_id=revocation_id, last_attempt=self.request.retries >= self.max_retries)


@shared_task(acks_late=True, expires=900)
def pending_revocations_sweep_task() -> int:
    """Beat: retry revocations whose task was lost (orgs.services.revocation.pending_revocations_sweep)."""
    return pending_revocations_sweep()


@shared_task(acks_late=True, expires=900)
def sandbox_sweep_task() -> int:
    """Beat: sync the sandbox inventory of every connected production org."""
    return sandboxes_sweep()


@shared_task(**RETRY)
def sandbox_sync_task(connection_id: int) -> None:
    try:
        sandbox_sync(connection_id=connection_id)
    except (ReauthorizationRequiredError, OrgConnection.DoesNotExist):
        return


@shared_task(bind=True, acks_late=True, max_retries=None)
def sandbox_poll_task(self, sandbox_id: int) -> None:
    """One step of a sandbox create/refresh; again after the service's countdown (2, 4, 8 … s, capped) until done.
    The state is in the database: a lost chain is resumed by `sandbox_requests_resume_task`."""
    countdown = sandbox_poll(sandbox_id=sandbox_id)
    if countdown is not None and not self.request.is_eager:
        raise self.retry(countdown=countdown)


@shared_task(acks_late=True, expires=60)
def sandbox_requests_resume_task() -> int:
    """Beat: re-enqueue unfinished sandbox requests whose poll is overdue (after a restart of web or worker)."""
    return sandbox_requests_resume()


@shared_task(acks_late=True, expires=60)
def access_requests_sweep_task() -> int:
    """Beat: write down ended time-boxed access and revoke the tokens handed out under it; lapse undecided requests;
    finish access reviews past their deadline."""
    return access_requests_sweep() + access_reviews_close_due()


@shared_task(bind=True, autoretry_for=(AlertRetry,), retry_backoff=settings.PORTAL_ALERT_RETRY_BACKOFF,
             retry_backoff_max=900, retry_jitter=True, max_retries=settings.PORTAL_ALERT_MAX_RETRIES, acks_late=True)
def alert_deliver_task(self, delivery_id: int) -> bool:
    """POST one alert (orgs.services.alerts); transient failures retried with backoff, the last attempt logs."""
    return alert_deliver(delivery_id=delivery_id, final=self.request.retries >= self.max_retries)


@shared_task(acks_late=True, expires=3600)
def signing_keys_expiry_notify_task() -> int:
    """Beat: tell team admins (and alert channels) about certificates expiring within PORTAL_CERT_EXPIRY_NOTICE_DAYS."""
    return signing_keys_expiry_notify()


@shared_task(acks_late=True, expires=600)
def alert_deliveries_sweep_task() -> list[int]:
    """Beat: publish lost alert deliveries again, prune the delivery log (orgs.services.alerts)."""
    return list(alert_deliveries_sweep())
