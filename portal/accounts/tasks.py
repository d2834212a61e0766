"""Thin Celery tasks for the people side: ids or nothing in, one service call."""

import logging

from celery import shared_task

log = logging.getLogger(__name__)


@shared_task(acks_late=True)
def invitations_purge_expired_task() -> int:
    from portal.accounts.services import invitations_purge_expired

    deleted = invitations_purge_expired()
    log.info("purged %d expired invitations", deleted)
    return deleted
