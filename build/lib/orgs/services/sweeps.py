"""Beat sweeps: pick the work that is due and enqueue it by id after commit. Idempotent by design.

`FOR UPDATE SKIP LOCKED` makes concurrent sweeps take disjoint rows; the refresh itself re-checks freshness under
its own row lock, so a connection enqueued twice is still refreshed once.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from orgs.models import OrgConnection
from portal.lib.tasks import task

log = logging.getLogger(__name__)
SWEEP_BATCH = 5000  # connections per sweep
REFRESH_BATCH = 20  # connections per refresh task (about 2–10 s of Salesforce round trips)


def due_connections():
    """Connections whose access token is older than PORTAL_REFRESH_AFTER (or that were not refreshed for
    PORTAL_REFRESH_AT_LEAST_EVERY), excluding those waiting for a person to reconnect them; and every connection
    whose secrets could not be decrypted (Key unavailable), so each sweep retries them until the key is back."""
    now = timezone.now()
    stale = now - timedelta(seconds=min(settings.PORTAL_REFRESH_AFTER, settings.PORTAL_REFRESH_AT_LEAST_EVERY))
    idle = now - timedelta(seconds=settings.PORTAL_REFRESH_AT_LEAST_EVERY)
    return (OrgConnection.objects.exclude(status__in=[OrgConnection.Status.NEEDS_REAUTH,
                                                      OrgConnection.Status.CHECK_NEEDED])
            .filter(Q(access_token_issued_at__isnull=True) | Q(access_token_issued_at__lt=stale)
                    | Q(last_refresh_at__isnull=True) | Q(last_refresh_at__lt=idle)
                    | Q(status=OrgConnection.Status.KEY_UNAVAILABLE)))


def _enqueue(task_name: str, arguments: list) -> None:
    """Publish `task(argument)` for each after commit; if the broker is down the next sweep catches up (the
    database is the truth)."""
    def publish():
        published = task(task_name)
        for argument in arguments:
            try:
                published.delay(argument)
            except Exception as exc:  # noqa: BLE001 - broker outage: log once, leave it to the next sweep
                log.error("could not enqueue %s (%s); the next sweep will retry", task_name, type(exc).__name__)
                return

    transaction.on_commit(publish)


def connections_refresh_sweep() -> int:
    """Enqueue the due connections, oldest first, in batches of REFRESH_BATCH ids per task."""
    with transaction.atomic():
        ids = list(due_connections().order_by("access_token_issued_at", "pk")
                   .select_for_update(skip_locked=True).values_list("pk", flat=True)[:SWEEP_BATCH])
        batches = [ids[i:i + REFRESH_BATCH] for i in range(0, len(ids), REFRESH_BATCH)]
        _enqueue("orgs.tasks.connections_refresh_batch_task", batches)
    log.info("refresh sweep: %d connection(s) due", len(ids))
    return len(ids)


def inventory_sweep() -> int:
    with transaction.atomic():
        ids = list(OrgConnection.objects.filter(is_devhub=True).exclude(status=OrgConnection.Status.NEEDS_REAUTH)
                   .order_by("pk").values_list("pk", flat=True))
        _enqueue("orgs.tasks.dev_hub_inventory_task", ids)
    return len(ids)


def sandboxes_sweep() -> int:
    """Enqueue a sandbox-inventory sync of every connected production org."""
    with transaction.atomic():
        ids = list(OrgConnection.objects.filter(kind=OrgConnection.Kind.PRODUCTION)
                   .exclude(status=OrgConnection.Status.NEEDS_REAUTH).order_by("pk").values_list("pk", flat=True))
        _enqueue("orgs.tasks.sandbox_sync_task", ids)
    return len(ids)
