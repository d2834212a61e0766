"""The Dev Hub scratch-org inventory: what `sf org list` shows, for every connected Dev Hub, without anyone running it.

For each hub: one `ScratchOrgInfo` query (live orgs, plus deleted or errored ones from the last 30 days) and one
`ActiveScratchOrg` query, following `nextRecordsUrl`; then a bulk upsert. Database work is a fixed number of
statements per hub and page, never one per scratch org.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from orgs import salesforce
from orgs.connections import sf_client
from orgs.models import OrgConnection, ScratchOrg
from orgs.refresh import ReauthorizationRequiredError, with_fresh_token

log = logging.getLogger(__name__)

__all__ = ["ReauthorizationRequiredError", "dev_hub_sync", "scratch_expiry_notify"]

FIELDS = ("Id, OrgName, Edition, Status, ErrorCode, SignupUsername, ScratchOrg, CreatedDate, CreatedBy.Username, "
          "ExpirationDate, Namespace, LoginUrl")
RECENT_DAYS = 30


@dataclass
class SyncResult:
    seen: int
    created: int
    updated: int
    vanished: int
    pages: int


def _query(connection_id: int, soql: str) -> tuple[list[dict], int]:
    client = sf_client()

    def run(issued):
        return client.query_all_pages(instance_url=issued.instance_url, access_token=issued.access_token,
                                      api_version=issued.api_version or "68.0", soql=soql)

    return with_fresh_token(connection_id=connection_id, call=run)


def _fields(record: dict, active_ids: dict[str, str]) -> dict:
    created_by = record.get("CreatedBy") or {}
    created = parse_datetime(record["CreatedDate"]) if record.get("CreatedDate") else None
    return {
        "org_name": record.get("OrgName") or "",
        "edition": record.get("Edition") or "",
        "status": record.get("Status") or "",
        "error_code": record.get("ErrorCode") or "",
        "signup_username": (record.get("SignupUsername") or "").lower(),
        "org_id": record.get("ScratchOrg") or "",
        "created_date": created,
        "created_by_username": created_by.get("Username") or "" if isinstance(created_by, dict) else "",
        "expiration_date": parse_date(record["ExpirationDate"]) if record.get("ExpirationDate") else None,
        "namespace": record.get("Namespace") or "",
        "login_url": record.get("LoginUrl") or "",
        "active_scratch_org_id": active_ids.get(record["Id"], ""),
    }


def dev_hub_sync(*, connection_id: int) -> SyncResult:
    """Refresh one hub's inventory. Raises ReauthorizationRequiredError / SalesforceUnavailableError."""
    hub = OrgConnection.objects.get(pk=connection_id, is_devhub=True)
    cutoff = (timezone.now() - timedelta(days=RECENT_DAYS)).date().isoformat()
    try:
        infos, info_pages = _query(hub.pk, f"SELECT {FIELDS} FROM ScratchOrgInfo WHERE Status IN "  # noqa: S608
                                           f"('New', 'Creating', 'Active', 'Error') OR ExpirationDate >= {cutoff}")
        active, active_pages = _query(hub.pk, "SELECT Id, ScratchOrgInfoId FROM ActiveScratchOrg")
    except salesforce.TransientSalesforceError as exc:
        from orgs.refresh import SalesforceUnavailableError

        raise SalesforceUnavailableError(salesforce.describe_error(exc)) from None
    active_ids = {r.get("ScratchOrgInfoId"): r["Id"] for r in active if r.get("ScratchOrgInfoId")}
    now = timezone.now()
    with transaction.atomic():
        existing = {row.scratch_org_info_id: row for row in ScratchOrg.objects.filter(dev_hub=hub)}
        links = _connection_links(hub)
        to_create, to_update = [], []
        for record in infos:
            values = _fields(record, active_ids)
            values["connection_id"] = links.get(values["org_id"][:15]) or links.get(values["signup_username"])
            values["last_seen_at"] = now
            if values["status"] == "Deleted":
                values["deleted_at"] = getattr(existing.get(record["Id"]), "deleted_at", None) or now
            row = existing.get(record["Id"])
            if row is None:
                to_create.append(ScratchOrg(team_id=hub.team_id, dev_hub=hub, scratch_org_info_id=record["Id"],
                                            **values))
            else:
                for name, value in values.items():
                    setattr(row, name, value)
                to_update.append(row)
        ScratchOrg.objects.bulk_create(to_create, batch_size=500)
        if to_update:
            ScratchOrg.objects.bulk_update(to_update, [*_fields({"Id": ""}, {}).keys(), "connection_id",
                                                       "last_seen_at", "deleted_at"], batch_size=500)
        seen = {r["Id"] for r in infos}
        vanished = (ScratchOrg.objects.filter(dev_hub=hub, deleted_at__isnull=True)
                    .exclude(scratch_org_info_id__in=seen).update(status="Deleted", deleted_at=now))
    log.info("inventory of hub %s: %d orgs, %d pages", hub.code, len(infos), info_pages + active_pages)
    return SyncResult(seen=len(infos), created=len(to_create), updated=len(to_update), vanished=vanished,
                      pages=info_pages + active_pages)


def _connection_links(hub: OrgConnection) -> dict[str, int]:
    """Portal connections of the hub's team, by 15-character org id and by username (lower case)."""
    links: dict[str, int] = {}
    for pk, org_id, username in OrgConnection.objects.filter(team_id=hub.team_id).values_list(
            "pk", "org_id", "username"):
        links.setdefault(org_id[:15], pk)
        links.setdefault(username.lower(), pk)
    return links


def scratch_expiry_notify() -> int:
    """One email per scratch org to its creator, when they are a portal member, N days before it expires."""
    from portal.accounts.models import Membership

    horizon = timezone.now().date() + timedelta(days=settings.PORTAL_SCRATCH_EXPIRY_NOTICE_DAYS)
    due = list(ScratchOrg.objects.filter(status="Active", deleted_at__isnull=True, expiry_notified_at__isnull=True,
                                         expiration_date__lte=horizon).select_related("team", "requested_by"))
    if not due:
        return 0
    by_username = {u.lower(): email for u, email in OrgConnection.objects.filter(
        team_id__in={s.team_id for s in due}).values_list("username", "owner__email")}
    members = set(Membership.objects.filter(team_id__in={s.team_id for s in due}).values_list(
        "user__email", flat=True))
    sent = 0
    for scratch in due:
        email = scratch.requested_by.email if scratch.requested_by else by_username.get(
            scratch.created_by_username.lower())
        if email and email in members:
            days = (scratch.expiration_date - timezone.now().date()).days
            send_mail(f"[Org Portal] Scratch org {scratch.signup_username} expires in {days} day(s)",
                      f"Your scratch org {scratch.signup_username} ({scratch.org_name or scratch.edition}) on a "
                      f"Dev Hub of {scratch.team.name} expires on {scratch.expiration_date:%Y-%m-%d}. Save what you "
                      "need before then.\n", None, [email], fail_silently=True)
            sent += 1
        ScratchOrg.objects.filter(pk=scratch.pk).update(expiry_notified_at=timezone.now())
    return sent
