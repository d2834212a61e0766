"""Thin Celery tasks for the people side: ids or nothing in, one service call."""

import logging

from celery import shared_task
from django.conf import settings

from portal.accounts.mail import MailRetry

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


@shared_task(bind=True, autoretry_for=(MailRetry,), retry_backoff=settings.PORTAL_MAIL_RETRY_BACKOFF,
             retry_backoff_max=600, retry_jitter=True, max_retries=settings.PORTAL_MAIL_MAX_RETRIES, acks_late=True)
def mail_deliver_task(self, mail_id: int) -> bool:
    """Send one queued email (portal.accounts.mail); SMTP errors retried with backoff, the last attempt records."""
    from portal.accounts.mail import mail_deliver

    return mail_deliver(mail_id=mail_id, final=self.request.retries >= self.max_retries)


@shared_task(acks_late=True, expires=600)
def mail_sweep_task() -> list[int]:
    """Beat: publish lost messages again, delete old given-up ones (portal.accounts.mail.mail_sweep)."""
    from portal.accounts.mail import mail_sweep

    return list(mail_sweep())
