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


@shared_task(acks_late=True)
def api_tokens_warn_expiring_task() -> int:
    from portal.accounts.tokens import api_tokens_warn_expiring

    warned = api_tokens_warn_expiring()
    log.info("warned about %d expiring API tokens", warned)
    return warned
