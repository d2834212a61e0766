"""Emails of the workers: "needs re-authorization" (once per episode) and scratch-org expiry (once per org).

Bodies are templates (`templates/emails/ops_*.txt`); they name orgs and users, never a token or a secret.
Sending never raises: a mail outage must not turn a refresh or a sweep into a failure.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse

log = logging.getLogger(__name__)


def _url(name: str, **kwargs) -> str:
    return settings.PORTAL_BASE_URL.rstrip("/") + reverse(name, kwargs=kwargs)


def needs_reauth_recipients(*, connection) -> list[str]:
    """The connection's owner and everyone with manage level on it (orgs.access.effective_access)."""
    from orgs.access import effective_access
    from portal.accounts.models import User

    pairs = effective_access(team=connection.team, connection_ids=[connection.pk])
    managers = {uid for (uid, _), access in pairs.items() if access.can_manage}
    return sorted(User.objects.filter(pk__in=managers | {connection.owner_id}, is_active=True)
                  .values_list("email", flat=True))


def notify_needs_reauth(*, connection_id: int, reason: str, check_needed: bool = False) -> int:
    """One email to the owner and managers of a connection that now needs re-authorization (or, `check_needed`, whose
    refresh was interrupted and needs a Check or a Reconnect). Returns the number of recipients."""
    from orgs.models import OrgConnection

    connection = OrgConnection.objects.select_related("team", "owner").filter(pk=connection_id).first()
    if connection is None:
        return 0
    recipients = needs_reauth_recipients(connection=connection)
    if not recipients:
        return 0
    body = render_to_string("emails/ops_needs_reauth.txt", {
        "connection": connection, "team": connection.team, "reason": reason, "check_needed": check_needed,
        "health_url": _url("orgs:health", team=connection.team.code)})
    headline = "refresh interrupted, check needed" if check_needed else "needs re-authorization"
    try:
        send_mail(f"[Org Portal] {connection.username} {headline}", body, None, recipients)
    except Exception as exc:  # noqa: BLE001 - mail outage: logged, never fatal to the refresh
        log.error("could not send the needs-re-authorization email for %s (%s)", connection.code,
                  type(exc).__name__)
        return 0
    return len(recipients)


def notify_scratch_expiry(*, scratch, email: str, days: int) -> bool:
    body = render_to_string("emails/ops_scratch_expiry.txt", {
        "scratch": scratch, "team": scratch.team, "days": days,
        "inventory_url": _url("orgs:hub_scratch_orgs", team=scratch.team.code, connection=scratch.dev_hub.code)})
    try:
        send_mail(f"[Org Portal] Scratch org {scratch.signup_username} expires in {days} day{'s' if days != 1 else ''}",
                  body, None, [email])
    except Exception as exc:  # noqa: BLE001 - mail outage: logged; the notice is not retried (once per org)
        log.error("could not send a scratch-org expiry email (%s)", type(exc).__name__)
        return False
    return True
