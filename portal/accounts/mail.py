"""The one mail pipeline: every email comes from a template pair and goes out one message per recipient.

`mail_send` renders `templates/emails/<template>.txt` and `.html` (the HTML one extends `emails/base.html`), drops
recipients who turned the notice kind off (never for `MANDATORY_NOTICES`), stores one sealed `OutboundMail` row per
recipient and, after the transaction commits, publishes `portal.accounts.tasks.mail_deliver_task` with the row's id
(no body, link or address in the broker). The task sends an `EmailMultiAlternatives`; SMTP errors and OSError are
retried with backoff (`PORTAL_MAIL_MAX_RETRIES`). Nothing here raises into the caller: a mail outage never turns a
saved action into a 500.

`mail_sweep` (beat, every PORTAL_MAIL_SWEEP_EVERY seconds) publishes again a message still queued that long after it
was stored (its task was lost: the broker refused it, or a worker died), and deletes given-up messages after
PORTAL_MAIL_FAILED_KEEP_DAYS (their sealed bodies may hold an invitation link). The interval is longer than a
message's retry window, so a message never has two live tasks.
"""

from __future__ import annotations

import json
import logging
import smtplib
from datetime import UTC, timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from portal.accounts.models import MANDATORY_NOTICES, Membership, NoticeOptOut, OutboundMail, User
from portal.lib import crypto
from portal.lib.tasks import publish_each

log = logging.getLogger(__name__)

TRANSIENT_MAIL_ERRORS = (smtplib.SMTPException, OSError)


class MailRetry(Exception):
    """A transient SMTP failure: the task retries with backoff."""


def recipients_filter(*, recipients, kind: str, team=None) -> list[str]:
    """`recipients` (emails) minus those who opted out of `kind` in `team` (mandatory kinds: nobody is dropped)."""
    unique = sorted({r.strip().lower() for r in recipients if r and r.strip()})
    if kind in MANDATORY_NOTICES or not unique:
        return unique
    team_id = getattr(team, "pk", team)
    opted = NoticeOptOut.objects.filter(kind=kind, membership__user__email__in=unique)
    if team_id is not None:
        opted = opted.filter(membership__team_id=team_id)
    else:  # no team: an opt-out in every team the user is in counts as "off"
        users = User.objects.filter(email__in=unique)
        opted_everywhere = []
        for user in users:
            teams = set(Membership.objects.filter(user=user).values_list("pk", flat=True))
            off = set(opted.filter(membership__user=user).values_list("membership_id", flat=True))
            if teams and teams <= off:
                opted_everywhere.append(user.email.lower())
        return [r for r in unique if r not in opted_everywhere]
    dropped = {e.lower() for e in opted.values_list("membership__user__email", flat=True)}
    return [r for r in unique if r not in dropped]


def mail_send(*, template: str, context: dict, recipients, kind: str, subject: str, team=None) -> int:
    """Queue one message per (remaining) recipient. Returns how many were queued; never raises."""
    try:
        targets = recipients_filter(recipients=recipients, kind=kind, team=team)
        if not targets:
            return 0
        # Emails are in UTC (and say so), whoever's time zone the request that sends them has activated.
        with timezone.override(UTC):
            text = render_to_string(f"emails/{template}.txt", context)
            html = render_to_string(f"emails/{template}.html", {**context, "subject": subject})
        ids = []
        for recipient in targets:
            mail = OutboundMail(kind=kind, recipient=recipient, subject=subject[:300])
            mail.sealed_body = crypto.encrypt(json.dumps({"text": text, "html": html}), context=mail.body_context())
            mail.save()
            ids.append(mail.pk)
    except Exception as exc:  # noqa: BLE001 — a broken template or database hiccup must not fail the action
        log.error("could not queue the %s email (%s)", kind, type(exc).__name__)
        return 0
    transaction.on_commit(lambda: _publish(ids))
    return len(ids)


def _publish(ids: list[int]) -> None:
    publish_each("portal.accounts.tasks.mail_deliver_task", ids, "mail")


def mail_deliver(*, mail_id: int, final: bool = False) -> bool:
    """Send one queued message. Raises MailRetry on a transient SMTP error unless `final` (the last attempt), when
    the row is marked failed instead. Returns True when sent."""
    mail = OutboundMail.objects.filter(pk=mail_id, status=OutboundMail.Status.QUEUED).first()
    if mail is None:
        return False
    OutboundMail.objects.filter(pk=mail.pk).update(attempts=mail.attempts + 1)
    try:
        body = json.loads(crypto.decrypt(mail.sealed_body, context=mail.body_context()))
    except crypto.CryptoError:
        OutboundMail.objects.filter(pk=mail.pk).update(status=OutboundMail.Status.FAILED,
                                                       last_error="the message could not be decrypted")
        return False
    message = EmailMultiAlternatives(mail.subject, body["text"], settings.DEFAULT_FROM_EMAIL, [mail.recipient])
    message.attach_alternative(body["html"], "text/html")
    try:
        message.send()
    except TRANSIENT_MAIL_ERRORS as exc:
        error = f"{type(exc).__name__}"[:200]
        if final:
            OutboundMail.objects.filter(pk=mail.pk).update(status=OutboundMail.Status.FAILED, last_error=error)
            log.error("gave up on mail %s (%s)", mail.code, error)
            return False
        OutboundMail.objects.filter(pk=mail.pk).update(last_error=error)
        log.warning("mail %s not sent yet (%s); retrying", mail.code, error)
        raise MailRetry(error) from None
    OutboundMail.objects.filter(pk=mail.pk).delete()
    return True


def mail_sweep() -> tuple[int, int]:
    """Beat: (messages published again, given-up messages deleted)."""
    now = timezone.now()
    lost = list(OutboundMail.objects.filter(status=OutboundMail.Status.QUEUED,
                                            created_at__lt=now - timedelta(seconds=settings.PORTAL_MAIL_SWEEP_EVERY))
                .order_by("created_at").values_list("pk", flat=True)[:1000])
    _publish(lost)
    purged, _ = OutboundMail.objects.filter(
        status=OutboundMail.Status.FAILED,
        created_at__lt=now - timedelta(days=settings.PORTAL_MAIL_FAILED_KEEP_DAYS)).delete()
    return len(lost), purged
