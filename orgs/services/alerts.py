"""Alert channels: a team's Slack/Teams incoming webhooks and generic signed webhooks.

`alert_fire(team_id=…, event=…, text=…, data=…)` is the one hook: every notice that has an alert event calls it
(needs re-authorization, degraded, certificate expiry, scratch-org expiry, access requests). It writes one
`AlertDelivery` per enabled channel that chose the event and, after the transaction commits, publishes
`orgs.tasks.alert_deliver_task` with the delivery's id. The task POSTs through the egress guard (public addresses
only, plus `PORTAL_ALERT_ALLOWED_HOSTS`), with `PORTAL_ALERT_TIMEOUT`, no redirects, and retries non-2xx answers
and network errors with backoff; the delivery row is the log (status, attempts, response code, last error).

Signed webhooks: `X-OrgPortal-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, f"{t}.{body}")>`, plus
`X-OrgPortal-Event` and `X-OrgPortal-Delivery`. The receiver recomputes it and rejects old timestamps.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
import time
from datetime import timedelta
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from orgs.models import AlertChannel, AlertDelivery
from orgs.salesforce import egress, hosts
from portal.accounts.models import AuditEvent, Membership, Notice
from portal.accounts.services import ServiceError, audit_record
from portal.lib.tasks import publish_each

log = logging.getLogger(__name__)

# The events a channel can choose (the member-facing notices that have an alert form).
ALERT_EVENTS = [Notice.NEEDS_REAUTH, Notice.DEGRADED, Notice.CERTIFICATE_EXPIRY, Notice.SCRATCH_EXPIRY,
                Notice.ACCESS_REQUEST]
SIGNATURE_HEADER = "X-OrgPortal-Signature"
SECRET_PREFIX = "whsec_"


class AlertRetry(Exception):
    """A delivery failed transiently (network error, timeout, 5xx/429): the task retries with backoff."""


# -- channels -------------------------------------------------------------------------------------------------------

def _allowed() -> hosts.AllowedHosts:
    return hosts.parse_allowed_hosts(settings.PORTAL_ALERT_ALLOWED_HOSTS or "")


def alert_url_check(url: str) -> str:
    """`url` if alerts may be POSTed to it: https on a public address, or an allowlisted origin. ServiceError if not.
    The name is resolved now, so a URL pointing at a private or loopback address is refused when saved (and again at
    every delivery, by the egress guard, against DNS changes)."""
    url = (url or "").strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ServiceError("That is not a valid URL.") from None
    host = (parts.hostname or "").lower()
    if parts.username is not None or parts.password is not None or not host or len(url) > 2000:
        raise ServiceError("Give an https URL without a user name or password.")
    default = 443 if parts.scheme == "https" else 80
    if hosts.AllowedHost(parts.scheme, host, port or default) in _allowed():
        return url
    if parts.scheme != "https":
        raise ServiceError("Alert URLs must use https.")
    try:
        egress.public_address(host, port or default)
    except egress.NonPublicAddressError:
        raise ServiceError("That URL points at a private, loopback or otherwise non-public address.") from None
    except (hosts.UntrustedHostError, OSError):
        raise ServiceError(f"The host {host} could not be resolved.") from None
    return url


def alert_channel_create(*, actor: Membership, kind: str, name: str, url: str, events: list[str],
                         ip: str | None = None) -> tuple[AlertChannel, str | None]:
    """Add a channel (the caller checked MANAGE_ALERT_CHANNELS and recent authentication). Returns the channel and,
    for a signed webhook, its signing secret: shown once, stored sealed."""
    if kind not in AlertChannel.Kind.values:
        raise ServiceError("Choose Slack, Teams or a signed webhook.")
    events = [e for e in events if e in ALERT_EVENTS]
    if not events:
        raise ServiceError("Choose at least one event.")
    name = (name or "").strip()[:100]
    if not name:
        raise ServiceError("Give the channel a name.")
    if AlertChannel.objects.filter(team=actor.team).count() >= settings.PORTAL_ALERT_CHANNELS_PER_TEAM:
        raise ServiceError(f"A team can have at most {settings.PORTAL_ALERT_CHANNELS_PER_TEAM} alert channels.")
    url = alert_url_check(url)
    parts = urlsplit(url)
    channel = AlertChannel(team=actor.team, kind=kind, name=name, events=events, created_by=actor.user,
                           url_display=f"{parts.scheme}://{parts.netloc}/…")
    channel.seal("url", url)
    secret = None
    if kind == AlertChannel.Kind.WEBHOOK:
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        channel.seal("secret", secret)
    try:
        with transaction.atomic():
            channel.save()
    except IntegrityError:
        raise ServiceError(f"There is already a channel called “{name}”.") from None
    audit_record(team=actor.team, actor=actor.user, kind=AuditEvent.Kind.ALERT_CHANNEL_CREATED, subject=name, ip=ip,
                 data={"kind": kind, "host": parts.hostname, "events": events})
    return channel, secret


def alert_channel_delete(*, actor: Membership, channel: AlertChannel, ip: str | None = None) -> None:
    audit_record(team=actor.team, actor=actor.user, kind=AuditEvent.Kind.ALERT_CHANNEL_DELETED, subject=channel.name,
                 ip=ip, data={"kind": channel.kind})
    channel.delete()


# -- firing and delivering -------------------------------------------------------------------------------------------

def alert_fire(*, team_id: int, event: str, text: str, data: dict | None = None) -> int:
    """Queue `event` for every enabled channel of the team that chose it. Returns how many; never raises."""
    try:
        channels = [c for c in AlertChannel.objects.filter(team_id=team_id, enabled=True).only("pk", "events")
                    if event in c.events]
        ids = [AlertDelivery.objects.create(channel=c, event=event, payload={"text": text, "data": data or {}}).pk
               for c in channels]
    except Exception as exc:  # noqa: BLE001 — an alert must never fail the action that raised it
        log.error("could not queue the %s alert (%s)", event, type(exc).__name__)
        return 0
    if ids:
        transaction.on_commit(lambda: _publish(ids))
    return len(ids)


def _publish(ids: list[int]) -> None:
    publish_each("orgs.tasks.alert_deliver_task", ids, "alert delivery")


def signature(*, secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value: `t=<timestamp>,v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def payload_for(channel: AlertChannel, delivery: AlertDelivery) -> dict:
    text = f"[Org Portal] {delivery.payload.get('text', '')}"
    if channel.kind == AlertChannel.Kind.SLACK:
        return {"text": text}
    if channel.kind == AlertChannel.Kind.TEAMS:
        return {"@type": "MessageCard", "@context": "https://schema.org/extensions", "summary": text[:150],
                "text": text}
    return {"id": str(delivery.code), "event": delivery.event, "team": channel.team.code.hex,
            "created_at": delivery.created_at.isoformat(), "text": delivery.payload.get("text", ""),
            "data": delivery.payload.get("data", {})}


_session = egress.GuardedSessions(trusted=lambda: {entry.host for entry in _allowed().entries})


def _error_text(exc: Exception) -> str:
    return re.sub(r"https?://\S+", "<url>", type(exc).__name__)[:200]


def alert_deliver(*, delivery_id: int, final: bool = False) -> bool:
    """POST one delivery. Raises AlertRetry on a transient failure unless `final` (then it is logged as failed).
    4xx other than 408/429 are permanent. Returns True when delivered."""
    delivery = (AlertDelivery.objects.select_related("channel", "channel__team")
                .filter(pk=delivery_id, status=AlertDelivery.Status.PENDING).first())
    if delivery is None:
        return False
    channel = delivery.channel
    attempts = delivery.attempts + 1
    body = json.dumps(payload_for(channel, delivery), separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "OrgPortal-Alerts/1",
               "X-OrgPortal-Event": delivery.event, "X-OrgPortal-Delivery": str(delivery.code)}
    code, error, transient = None, "", False
    try:
        url = channel.reveal("url")
        if channel.kind == AlertChannel.Kind.WEBHOOK:
            headers[SIGNATURE_HEADER] = signature(secret=channel.reveal("secret"), timestamp=int(time.time()),
                                                  body=body)
        alert_url_check(url)
        response = _session().post(url, data=body, headers=headers, allow_redirects=False,
                                   timeout=settings.PORTAL_ALERT_TIMEOUT)
        code = response.status_code
        response.close()
        if 200 <= code < 300:
            AlertDelivery.objects.filter(pk=delivery.pk).update(
                status=AlertDelivery.Status.DELIVERED, attempts=attempts, response_code=code, last_error="",
                delivered_at=timezone.now())
            return True
        transient = code >= 500 or code in (408, 429)
        error = f"HTTP {code}"
    except ServiceError as exc:
        error = str(exc)[:200]
    except (requests.RequestException, hosts.UntrustedHostError, OSError) as exc:
        error, transient = _error_text(exc), True
    except Exception as exc:  # noqa: BLE001 — e.g. the sealed URL cannot be decrypted: permanent
        error = _error_text(exc)
    give_up = final or not transient
    AlertDelivery.objects.filter(pk=delivery.pk).update(
        attempts=attempts, response_code=code, last_error=error,
        status=AlertDelivery.Status.FAILED if give_up else AlertDelivery.Status.PENDING)
    log.warning("alert delivery %s to channel %s: %s (attempt %d%s)", delivery.code, channel.code, error, attempts,
                ", giving up" if give_up else ", retrying")
    if not give_up:
        raise AlertRetry(error)
    return False


def alert_deliveries_sweep() -> tuple[int, int]:
    """Beat (every PORTAL_ALERT_SWEEP_EVERY seconds, longer than a delivery's retry window): publish again the
    deliveries still pending that long after they were queued (their task was lost), and delete the delivery log's
    rows older than PORTAL_ALERT_LOG_KEEP_DAYS. Returns (published again, deleted)."""
    now = timezone.now()
    lost = list(AlertDelivery.objects.filter(status=AlertDelivery.Status.PENDING,
                                             created_at__lt=now - timedelta(seconds=settings.PORTAL_ALERT_SWEEP_EVERY))
                .order_by("created_at").values_list("pk", flat=True)[:1000])
    _publish(lost)
    purged, _ = AlertDelivery.objects.filter(
        created_at__lt=now - timedelta(days=settings.PORTAL_ALERT_LOG_KEEP_DAYS)).delete()
    return len(lost), purged
