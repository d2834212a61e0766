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
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from orgs import salesforce
from orgs.models import OrgConnection, ScratchOrg
from orgs.services.alerts import alert_fire
from orgs.services.client import sf_client
from orgs.services.notifications import notify_scratch_expiry
from orgs.services.refresh import ReauthorizationRequiredError, with_fresh_token
from portal.accounts.models import Notice

log = logging.getLogger(__name__)

__all__ = ["ReauthorizationRequiredError", "dev_hub_sync", "scratch_expiry_notify"]

FIELDS = ("Id, OrgName, Edition, Status, ErrorCode, SignupUsername, ScratchOrg, CreatedDate, CreatedBy.Username, "
          "ExpirationDate, Namespace, LoginUrl")
RECENT_DAYS = 30
UPSERT_FIELDS = ["org_name", "edition", "status", "error_code", "signup_username", "org_id", "created_date",
                 "created_by_username", "expiration_date", "namespace", "login_url", "active_scratch_org_id",
                 "connection_id", "deleted_at"]


@dataclass
class SyncResult:
    seen: int
    created: int
    updated: int  # existing rows seen again (their last_seen_at moves)
    vanished: int
    pages: int
    changed: int = 0  # of those, rows whose fields changed (written with bulk_update)


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
        from orgs.services.refresh import SalesforceUnavailableError

        raise SalesforceUnavailableError(salesforce.describe_error(exc)) from None
    active_ids = {r.get("ScratchOrgInfoId"): r["Id"] for r in active if r.get("ScratchOrgInfoId")}
    now = timezone.now()
    with transaction.atomic():
        existing = {row.scratch_org_info_id: row for row in ScratchOrg.objects.filter(dev_hub=hub)}
        links = _connection_links(hub)
        to_create, to_update, seen_again = [], [], 0
        for record in infos:
            values = _fields(record, active_ids)
            values["connection_id"] = links.get(values["org_id"][:15]) or links.get(values["signup_username"])
            row = existing.get(record["Id"])
            # Deleted at the hub: keep the first time we saw it; back (after a partial answer): not deleted.
            values["deleted_at"] = (getattr(row, "deleted_at", None) or now) if values["status"] == "Deleted" \
                else None
            if row is None:
                to_create.append(ScratchOrg(team_id=hub.team_id, dev_hub=hub, scratch_org_info_id=record["Id"],
                                            last_seen_at=now, **values))
                continue
            seen_again += 1
            if row.requested_by_id and row.status in ("New", "Creating") and values["status"] == "Error":
                # Requested here and still being polled: the poll records the failure (audit entry, the
                # requester's email) when it sees it; the sync leaves the status to it.
                values["status"], values["error_code"] = row.status, row.error_code
            if any(getattr(row, name) != value for name, value in values.items()):
                for name, value in values.items():
                    setattr(row, name, value)
                to_update.append(row)  # only rows that changed: bulk_update's CASE expressions are costly
        ScratchOrg.objects.bulk_create(to_create, batch_size=500)
        if to_update:
            ScratchOrg.objects.bulk_update(to_update, UPSERT_FIELDS, batch_size=500)
        seen = {r["Id"] for r in infos}
        ScratchOrg.objects.filter(dev_hub=hub, scratch_org_info_id__in=seen).update(last_seen_at=now)
        vanished = (ScratchOrg.objects.filter(dev_hub=hub, deleted_at__isnull=True)
                    .exclude(scratch_org_info_id__in=seen).update(status="Deleted", deleted_at=now))
    log.info("inventory of hub %s: %d orgs, %d pages", hub.code, len(infos), info_pages + active_pages)
    return SyncResult(seen=len(infos), created=len(to_create), updated=seen_again, vanished=vanished,
                      pages=info_pages + active_pages, changed=len(to_update))


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
                                         expiration_date__lte=horizon)
               .select_related("team", "dev_hub", "requested_by"))
    if not due:
        return 0
    teams = {s.team_id for s in due}
    by_username = {(team_id, u.lower()): email for team_id, u, email in OrgConnection.objects.filter(
        team_id__in=teams).values_list("team_id", "username", "owner__email")}
    members = set(Membership.objects.filter(team_id__in=teams).values_list("team_id", "user__email"))
    sent = 0
    for scratch in due:
        alert_fire(team_id=scratch.team_id, event=Notice.SCRATCH_EXPIRY,
                   text=f"Scratch org {scratch.signup_username} ({scratch.team.name}) expires on "
                        f"{scratch.expiration_date:%Y-%m-%d}",
                   data={"org": scratch.signup_username, "expires": f"{scratch.expiration_date:%Y-%m-%d}"})
        email = scratch.requested_by.email if scratch.requested_by else by_username.get(
            (scratch.team_id, scratch.created_by_username.lower()))
        if email and (scratch.team_id, email) in members:
            days = (scratch.expiration_date - timezone.now().date()).days
            if notify_scratch_expiry(scratch=scratch, email=email, days=days):
                sent += 1
        ScratchOrg.objects.filter(pk=scratch.pk).update(expiry_notified_at=timezone.now())
    return sent
