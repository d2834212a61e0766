"""Emails of the workers: "needs re-authorization" (once per episode), "key unavailable" (to the team's admins, once
per episode), scratch-org expiry (once per org), sandbox and scratch-org job results, through the one mail pipeline
(portal.accounts.mail: a text and an HTML template each, one message per recipient, retried by a Celery task).

They name orgs and users, never a token or a secret. Nothing here raises: a mail outage must not turn a refresh or
a sweep into a failure. Each notice also goes to the team's alert channels that chose its event (orgs.services.alerts).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.urls import reverse

from orgs.services.alerts import alert_fire
from portal.accounts.mail import mail_send
from portal.accounts.models import Notice

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
    alert_fire(team_id=connection.team_id, event=Notice.NEEDS_REAUTH,
               text=f"{connection.username} ({connection.org_id}) in {connection.team.name} "
                    f"{'needs a check' if check_needed else 'needs re-authorization'}: {reason}",
               data={"org": connection.username, "org_id": connection.org_id, "reason": reason})
    recipients = needs_reauth_recipients(connection=connection)
    if not recipients:
        return 0
    headline = "refresh interrupted, check needed" if check_needed else "needs re-authorization"
    return mail_send(template="ops_needs_reauth", kind=Notice.NEEDS_REAUTH, recipients=recipients,
                     team=connection.team, subject=f"[Org Portal] {connection.username} {headline}",
                     context={"connection": connection, "team": connection.team, "reason": reason,
                              "check_needed": check_needed,
                              "health_url": _url("orgs:health", team=connection.team.code)})


def key_unavailable_recipients(*, team_id: int) -> list[str]:
    """The team's owners and admins (those who manage its connected apps and secrets)."""
    from portal.accounts.access import TeamAction, role_allows
    from portal.accounts.models import Membership

    return sorted(email for role, email in Membership.objects.filter(team_id=team_id, user__is_active=True)
                  .values_list("role", "user__email") if role_allows(role, TeamAction.MANAGE_APPS))


def notify_key_unavailable(*, team_id: int) -> int:
    """One email to the team's admins: the portal cannot decrypt its connections' secrets. Returns recipients."""
    from orgs.models import OrgConnection
    from portal.accounts.models import Team

    team = Team.objects.filter(pk=team_id).first()
    recipients = key_unavailable_recipients(team_id=team_id) if team else []
    if not recipients:
        return 0
    affected = list(OrgConnection.objects.filter(team=team, status=OrgConnection.Status.KEY_UNAVAILABLE)
                    .order_by("username").values_list("username", flat=True)[:20])
    return mail_send(template="ops_key_unavailable", kind=Notice.KEY_UNAVAILABLE, recipients=recipients, team=team,
                     subject=f"[Org Portal] {team.name}: encryption key unavailable",
                     context={"team": team, "affected": affected, "health_url": _url("orgs:health", team=team.code)})


def notify_scratch_expiry(*, scratch, email: str, days: int) -> bool:
    plural = "s" if days != 1 else ""
    mail_send(template="ops_scratch_expiry", kind=Notice.SCRATCH_EXPIRY, recipients=[email], team=scratch.team,
              subject=f"[Org Portal] Scratch org {scratch.signup_username} expires in {days} day{plural}",
              context={"scratch": scratch, "team": scratch.team, "days": days,
                       "inventory_url": _url("orgs:hub_scratch_orgs", team=scratch.team.code,
                                             connection=scratch.dev_hub.code)})
    return True  # handed to the pipeline (or the member opted out): the notice counts as given, once per org


def notify_sandbox_finished(*, sandbox_id: int) -> bool:
    """One email to the member who requested a sandbox create or refresh: done, or failed with Salesforce's reason."""
    from orgs.models import Sandbox

    sandbox = Sandbox.objects.select_related("team", "production", "requested_by").filter(pk=sandbox_id).first()
    if sandbox is None or sandbox.requested_by is None or sandbox.state not in ("done", "failed"):
        return False
    verb = "created" if sandbox.operation == "create" else "refreshed"
    subject = (f"[Org Portal] Sandbox {sandbox.name} {verb}" if sandbox.state == "done"
               else f"[Org Portal] Sandbox {sandbox.name} could not be {verb}")
    return bool(mail_send(template="ops_sandbox_finished", kind=Notice.SANDBOX_FINISHED,
                          recipients=[sandbox.requested_by.email], team=sandbox.team, subject=subject,
                          context={"sandbox": sandbox, "team": sandbox.team, "verb": verb,
                                   "page_url": _url("orgs:sandboxes", team=sandbox.team.code,
                                                    connection=sandbox.production.code)}))


SCRATCH_OUTCOMES = {
    "created": "is ready",
    "create_failed": "could not be created",
    "deleted": "was deleted",
    "delete_failed": "could not be deleted",
}


def notify_scratch_finished(*, scratch_id: int, outcome: str) -> bool:
    """One email to the member whose scratch-org job ended: created (with its connection) or failed with Salesforce's
    error code; deleted, or the Dev Hub's refusal."""
    from orgs.models import ScratchOrg

    scratch = (ScratchOrg.objects.select_related("team", "dev_hub", "connection", "requested_by",
                                                 "delete_requested_by").filter(pk=scratch_id).first())
    if scratch is None or outcome not in SCRATCH_OUTCOMES:
        return False
    member = scratch.delete_requested_by if outcome.startswith("delete") else scratch.requested_by
    if member is None:
        return False
    name = scratch.requested_alias or scratch.signup_username or scratch.scratch_org_info_id
    subject = f"[Org Portal] Scratch org {name} {SCRATCH_OUTCOMES[outcome]}"
    page_url = _url("orgs:scratch_org", team=scratch.team.code, scratch_org=scratch.code)
    return bool(mail_send(template="ops_scratch_finished", kind=Notice.SCRATCH_FINISHED, recipients=[member.email],
                          team=scratch.team, subject=subject,
                          context={"scratch": scratch, "team": scratch.team, "outcome": outcome, "name": name,
                                   "headline": SCRATCH_OUTCOMES[outcome], "page_url": page_url}))


def signing_keys_expiry_notify() -> int:
    """Once per signing key whose certificate expires within PORTAL_CERT_EXPIRY_NOTICE_DAYS: an email to the team's
    key managers and the `certificate_expiry` alert. Returns how many keys were noticed."""
    from django.utils import timezone

    from orgs.models import SigningKey
    from portal.accounts.access import TeamAction, role_allows
    from portal.accounts.models import Membership

    now = timezone.now()
    horizon = now + timedelta(days=settings.PORTAL_CERT_EXPIRY_NOTICE_DAYS)
    noticed = 0
    for key in SigningKey.objects.select_related("team").filter(expiry_notified_at__isnull=True,
                                                                not_after__lte=horizon):
        if not SigningKey.objects.filter(pk=key.pk, expiry_notified_at__isnull=True).update(expiry_notified_at=now):
            continue  # another run claimed it
        days = max(0, (key.not_after - now).days)
        alert_fire(team_id=key.team_id, event=Notice.CERTIFICATE_EXPIRY,
                   text=f"The certificate of the signing key “{key.name}” ({key.team.name}) expires on "
                        f"{key.not_after:%Y-%m-%d}",
                   data={"key": key.name, "expires": f"{key.not_after:%Y-%m-%d}"})
        recipients = sorted(email for role, email in Membership.objects.filter(
            team_id=key.team_id, user__is_active=True).values_list("role", "user__email")
            if role_allows(role, TeamAction.MANAGE_KEYS))
        mail_send(template="ops_certificate_expiry", kind=Notice.CERTIFICATE_EXPIRY, recipients=recipients,
                  team=key.team, subject=f"[Org Portal] Signing certificate “{key.name}” expires on "
                                         f"{key.not_after:%Y-%m-%d}",
                  context={"key": key, "team": key.team, "days": days,
                           "url": _url("orgs:key_detail", team=key.team.code, key=key.code)})
        noticed += 1
    return noticed
