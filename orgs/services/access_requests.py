"""Time-boxed access (issue 18): access-on-request policies, requests, approvals, break-glass, ending, the sweep.

Whether access is active is never decided here: `orgs.access.effective_access` compares an approved request's
`expires_at` with the current time on every decision, so access ends by itself. What runs afterwards
(`access_requests_sweep`, Celery beat) only writes the end down and revokes at Salesforce the access tokens handed out
under it (orgs/services/revocation.py, the same mechanism as for removed members). Every step is an audit entry
carrying the request's code (`data.request`), and so is every hand-out under a time-boxed grant
(`data.access_request`, orgs/services/handout.py's callers).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from orgs import access
from orgs.models import AccessPolicy, AccessRequest, OrgConnection
from orgs.services.revocation import access_reduction_watch, connections_tokens_revoke_now
from portal.accounts.models import AuditEvent, Membership, TeamGroup
from portal.accounts.services import ServiceError, audit_record

log = logging.getLogger(__name__)
Kind = AuditEvent.Kind
State = AccessRequest.State


def _data(request: AccessRequest, **extra) -> dict:
    data = {"request": str(request.code), "org": request.connection.username, "org_id": request.connection.org_id,
            "level": request.get_level_display(), "minutes": request.minutes, "reason": request.reason,
            "ticket": request.ticket, "requester": request.requester.email, "break_glass": request.break_glass}
    data.update(extra)
    return data


def _url(request: AccessRequest) -> str:
    return settings.PORTAL_BASE_URL.rstrip("/") + reverse(
        "orgs:access_request", kwargs={"team": request.team.code, "request_code": request.code})


def _mail(subject: str, body: str, recipients: list[str]) -> None:
    recipients = sorted({r for r in recipients if r})
    if not recipients:
        return
    try:
        send_mail(f"[Org Portal] {subject}", body, None, recipients)
    except Exception as exc:  # noqa: BLE001 - a mail outage must not undo a decision
        log.warning("access-request email failed: %s", type(exc).__name__)


# -- policy ----------------------------------------------------------------------------------------------------------

@transaction.atomic
def access_policy_set(*, actor: Membership, connection: OrgConnection, on_request: bool, break_glass: bool,
                      approvals_required: int, approver_group: TeamGroup | None, ip: str | None = None) -> AccessPolicy:
    """Mark a connection "access on request" (or not). Turning it on takes standing access away from members and
    groups: the tokens handed out to them are revoked after the commit."""
    if not access.can_manage_access_policy(actor):
        raise ServiceError("Only team admins change who needs to request access.")
    if approvals_required not in (1, 2):
        raise ServiceError("Approvals required: 1 or 2.")
    if approver_group is not None and approver_group.team_id != connection.team_id:
        raise ServiceError("Choose one of this team's groups.")
    access_reduction_watch(team_id=connection.team_id, reason="access on request", connection_ids=[connection.pk])
    policy, _ = AccessPolicy.objects.update_or_create(
        connection=connection, defaults={"team_id": connection.team_id, "on_request": on_request,
                                         "break_glass": break_glass, "approvals_required": approvals_required,
                                         "approver_group": approver_group, "updated_by": actor.user,
                                         "updated_at": timezone.now()})
    audit_record(team=actor.team, actor=actor.user, kind=Kind.ACCESS_POLICY_CHANGED, subject=connection.username,
                 ip=ip, data={"on_request": on_request, "break_glass": break_glass,
                              "approvals_required": approvals_required,
                              "approver_group": approver_group.name if approver_group else None})
    return policy


# -- requests ----------------------------------------------------------------------------------------------------------

def _check_minutes(minutes) -> int:
    low, high = settings.PORTAL_ACCESS_REQUEST_MIN_MINUTES, settings.PORTAL_ACCESS_REQUEST_MAX_MINUTES
    try:
        minutes = int(minutes)
    except (TypeError, ValueError):
        raise ServiceError("Give the duration in minutes.") from None
    if not low <= minutes <= high:
        raise ServiceError(f"The duration must be between {low} and {high} minutes.")
    return minutes


def _check_reason(reason: str, ticket: str) -> tuple[str, str]:
    reason, ticket = (reason or "").strip(), (ticket or "").strip()
    if not reason:
        raise ServiceError("Say why you need this access (the reason is required).")
    if len(reason) > 2000 or len(ticket) > 100:
        raise ServiceError("The reason is limited to 2000 characters, the ticket reference to 100.")
    return reason, ticket


def access_request_create(*, membership: Membership, connection: OrgConnection, level: int, minutes, reason: str,
                          ticket: str = "", ip: str | None = None) -> AccessRequest:
    """A request for `level` on `connection` for `minutes`; approvers get an email and see it in the portal."""
    found = access.connection_level(membership, connection)
    rules = access.access_rules(connection)
    if not rules.on_request:
        raise ServiceError("This org does not need access requests.")
    if not access.can_request(found, level):
        raise ServiceError("You can request at most your eligible level on this org"
                           + (f" ({found.eligible_label})." if found and found.eligible else " (you have none)."))
    minutes = _check_minutes(minutes)
    reason, ticket = _check_reason(reason, ticket)
    now = timezone.now()
    with transaction.atomic():
        request = AccessRequest.objects.create(
            team=membership.team, connection=connection, requester=membership.user, level=level, minutes=minutes,
            reason=reason, ticket=ticket, created_at=now,
            decide_by=now + timedelta(minutes=settings.PORTAL_ACCESS_DECISION_MINUTES))
        audit_record(team=membership.team, actor=membership.user, kind=Kind.ACCESS_REQUESTED,
                     subject=connection.username, ip=ip, data=_data(request))
    approvers = [u.email for u in access.approvers_of(connection, rules) if u.pk != membership.user_id]
    _mail(f"{membership.user.email} requests {request.get_level_display()} access to {connection.username}",
          f"{membership.user.email} requests {request.get_level_display()} access to {connection.username} for "
          f"{minutes} minutes.\n\nReason: {reason}\nTicket: {ticket or '-'}\n\nApprove or deny: {_url(request)}\n",
          approvers)
    return request


def access_break_glass(*, membership: Membership, connection: OrgConnection, reason: str, ticket: str = "",
                       ip: str | None = None) -> AccessRequest:
    """Activate the eligible level at once, without approval, for PORTAL_BREAK_GLASS_MINUTES; admins are alerted and
    the audit entry is flagged for review."""
    found = access.connection_level(membership, connection)
    rules = access.access_rules(connection)
    if not access.can_break_glass(rules, found):
        raise ServiceError("Break-glass access is not allowed for you on this org.")
    reason, ticket = _check_reason(reason, ticket)
    now = timezone.now()
    minutes = settings.PORTAL_BREAK_GLASS_MINUTES
    with transaction.atomic():
        request = AccessRequest.objects.create(
            team=membership.team, connection=connection, requester=membership.user, level=found.eligible,
            minutes=minutes, reason=reason, ticket=ticket, break_glass=True, state=State.APPROVED, created_at=now,
            decide_by=now, starts_at=now, expires_at=now + timedelta(minutes=minutes))
        audit_record(team=membership.team, actor=membership.user, kind=Kind.ACCESS_BREAK_GLASS,
                     subject=connection.username, ip=ip, data=_data(request, review=True,
                                                                    expires_at=request.expires_at.isoformat()))
    admins = [m.user.email for m in Membership.objects.filter(team=membership.team).select_related("user")
              if access.can_manage_access_policy(m)]
    _mail(f"BREAK-GLASS: {membership.user.email} activated access to {connection.username}",
          f"{membership.user.email} activated {request.get_level_display()} access to {connection.username} without "
          f"approval for {minutes} minutes.\n\nReason: {reason}\nTicket: {ticket or '-'}\n\nReview or revoke it: "
          f"{_url(request)}\n", admins)
    return request


def access_request_decide(*, membership: Membership, request: AccessRequest, approve: bool,
                          ip: str | None = None) -> AccessRequest:
    """Approve (access starts now, ends after the requested minutes, once enough distinct approvers agreed) or deny."""
    with transaction.atomic():
        request = AccessRequest.objects.select_for_update().select_related("connection", "requester", "team").get(
            pk=request.pk)
        rules = access.access_rules(request.connection)
        if not access.can_decide(membership, request, rules):
            raise ServiceError("You cannot decide this request (it is yours, already decided, lapsed, or you "
                               "approved it already).")
        now = timezone.now()
        if not approve:
            request.state, request.decided_by = State.DENIED, membership.user
            request.save(update_fields=["state", "decided_by"])
            audit_record(team=request.team, actor=membership.user, kind=Kind.ACCESS_DENIED,
                         subject=request.connection.username, ip=ip, data=_data(request))
        else:
            request.approvals = [*request.approvals, {"user_id": membership.user_id, "email": membership.user.email,
                                                      "at": now.isoformat()}]
            fields = ["approvals"]
            kind = Kind.ACCESS_APPROVAL_GIVEN
            if len(request.approvals) >= rules.approvals_required:
                request.state, request.decided_by = State.APPROVED, membership.user
                request.starts_at, request.expires_at = now, now + timedelta(minutes=request.minutes)
                fields += ["state", "decided_by", "starts_at", "expires_at"]
                kind = Kind.ACCESS_APPROVED
            request.save(update_fields=fields)
            audit_record(team=request.team, actor=membership.user, kind=kind, subject=request.connection.username,
                         ip=ip, data=_data(request, approvals=[a["email"] for a in request.approvals],
                                           expires_at=request.expires_at.isoformat() if request.expires_at else None))
    if request.state != State.PENDING:
        _mail(f"Your access request for {request.connection.username}: {request.get_state_display()}",
              f"Your request for {request.get_level_display()} access to {request.connection.username} was "
              f"{request.get_state_display().lower()} by {membership.user.email}."
              + (f" It ends at {timezone.localtime(request.expires_at):%Y-%m-%d %H:%M %Z}." if request.expires_at
                 else "") + f"\n\n{_url(request)}\n", [request.requester.email])
    return request


def access_request_end(*, membership: Membership, request: AccessRequest, revoke: bool = False,
                       ip: str | None = None) -> AccessRequest:
    """The requester ends their access early (or cancels a pending request); a team admin revokes it. The tokens
    handed out under it are revoked at Salesforce after the commit."""
    with transaction.atomic():
        request = AccessRequest.objects.select_for_update().select_related("connection", "requester", "team").get(
            pk=request.pk)
        allowed = access.can_revoke(membership, request) if revoke else access.can_end(membership, request)
        if not allowed:
            raise ServiceError("This access is not active (or not yours to end).")
        was_active = request.is_active
        now = timezone.now()
        request.state = State.REVOKED if revoke else (State.ENDED if was_active else State.CANCELLED)
        request.ended_at, request.ended_by = now, membership.user
        if was_active:
            request.tokens_revoked_at = now
        request.save(update_fields=["state", "ended_at", "ended_by", "tokens_revoked_at"])
        audit_record(team=request.team, actor=membership.user,
                     kind=Kind.ACCESS_REVOKED if revoke else Kind.ACCESS_ENDED, subject=request.connection.username,
                     ip=ip, data=_data(request, state=request.state))
        if was_active:
            connection_id = request.connection_id
            transaction.on_commit(lambda: connections_tokens_revoke_now(connection_ids=[connection_id],
                                                                        reason="time-boxed access ended"))
    return request


def access_requests_sweep(*, now=None) -> int:
    """Write down ends that already happened (access ended at `expires_at` whatever this does): approved requests
    past their expiry become expired and their connection's handed-out tokens are revoked at Salesforce; pending
    requests past their decision deadline lapse. Idempotent; returns how many requests it closed."""
    now = now or timezone.now()
    closed = 0
    connection_ids: set[int] = set()
    with transaction.atomic():
        due = list(AccessRequest.objects.select_for_update(skip_locked=True)
                   .filter(state=State.APPROVED, expires_at__lte=now, tokens_revoked_at=None)
                   .select_related("connection", "requester", "team")[:500])
        for request in due:
            request.state, request.tokens_revoked_at = State.EXPIRED, now
            request.save(update_fields=["state", "tokens_revoked_at"])
            audit_record(team=request.team, actor=None, kind=Kind.ACCESS_EXPIRED, subject=request.connection.username,
                         data=_data(request, expired_at=request.expires_at.isoformat()))
            connection_ids.add(request.connection_id)
            closed += 1
        lapsed = list(AccessRequest.objects.select_for_update(skip_locked=True)
                      .filter(state=State.PENDING, decide_by__lte=now)
                      .select_related("connection", "requester", "team")[:500])
        for request in lapsed:
            request.state = State.LAPSED
            request.save(update_fields=["state"])
            audit_record(team=request.team, actor=None, kind=Kind.ACCESS_LAPSED, subject=request.connection.username,
                         data=_data(request))
            closed += 1
        if connection_ids:
            ids = sorted(connection_ids)
            transaction.on_commit(lambda: connections_tokens_revoke_now(connection_ids=ids,
                                                                        reason="time-boxed access expired"))
    return closed
