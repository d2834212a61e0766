"""Sandboxes of connected production orgs, the way `sf org create|refresh|resume|delete sandbox` handle them
(SALESFORCE.md §5.6), on the production org's connection.

- Inventory: `sandbox_sync` reads SandboxInfo and SandboxProcess (Tooling API, paged) and bulk-upserts `Sandbox` rows:
  two query series per production org, a fixed number of statements per org, never one per sandbox.
- Create / refresh: the request is recorded first (`Sandbox.state = requested`), then `sandbox_poll` (a Celery task
  with backoff, resumed from the database by a beat sweep) inserts or patches the SandboxInfo, follows the newest
  SandboxProcess, and when the copy is Completed authorizes the sandbox without a human login: `tooling/sandboxAuth`
  on the production connection with its connected app, then the code exchange at the returned login URL.
  A new sandbox becomes a connection owned by the requester (the one upsert); a refreshed one updates its existing
  connection in place (same id, aliases, grants), and the audit keeps the old and the new org ids.
- Delete: DELETE the SandboxInfo, then remove the portal connection (its tokens revoked).
- Linking: a portal connection whose org id is a sandbox's `SandboxOrganization` is linked to it by the sync.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from orgs import salesforce
from orgs.access import Access, Level
from orgs.models import Grant, OrgAlias, OrgConnection, Sandbox, SandboxSync
from orgs.salesforce.client import SANDBOX_PROCESS_FIELDS as PROCESS_FIELDS
from orgs.services.apps import callback_url, with_app_secret
from orgs.services.client import sf_client
from orgs.services.connections import (
    alias_validate,
    connection_disconnect,
    connection_reauthorize_in_place,
    connection_upsert,
    fetch_org_facts,
)
from orgs.services.notifications import notify_sandbox_finished
from orgs.services.refresh import ReauthorizationRequiredError, SalesforceUnavailableError, with_fresh_token
from orgs.services.sharing import grant_add
from portal.accounts.models import AuditEvent, Membership, TeamGroup, User
from portal.accounts.services import ServiceError, audit_record
from portal.lib.tasks import task

log = logging.getLogger(__name__)
Kind = AuditEvent.Kind
State = Sandbox.State

__all__ = ["ReauthorizationRequiredError", "SalesforceUnavailableError", "sandbox_create", "sandbox_delete",
           "sandbox_dismiss", "sandbox_poll", "sandbox_refresh", "sandbox_requests_resume", "sandbox_retry",
           "sandbox_sync"]

NAME_PATTERN = re.compile(r"^[A-Za-z0-9]{1,10}$")
LICENSE_TYPES = ("DEVELOPER", "DEVELOPER_PRO", "PARTIAL", "FULL")
RUNNING = ("Pending", "Processing", "Sampling", "Activating")  # sfdx-core's resumable statuses, minus the ends
INFO_FIELDS = "Id, SandboxName, LicenseType, Description, SourceId, ApexClassId, AutoActivate, CreatedDate"
INVENTORY_FIELDS = ["name", "license_type", "description", "source_info_id", "apex_class_id", "auto_activate",
                    "process_id", "status", "copy_progress", "sandbox_org_id", "copy_started_at", "copy_ended_at",
                    "last_refreshed_at", "created_date", "connection_id", "deleted_at"]
UNAVAILABLE = "Salesforce is unavailable, try again in a moment. Nothing was changed."

# What to do next, per Salesforce error code (the message itself is always shown too).
ADVICE = {
    "DUPLICATE_VALUE": "Choose another name, or refresh the existing sandbox (a deleted one keeps its name until "
                       "Salesforce has finished deleting it).",
    "LIMIT_EXCEEDED": "Delete a sandbox of this license type first, or choose another license type.",
    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST": "Choose one of the license types your org has.",
    "INVALID_CROSS_REFERENCE_KEY": "The source sandbox or the Apex class does not exist (any more); choose another.",
    "STRING_TOO_LONG": "Use at most 10 letters and digits.",
    "INVALID_TYPE": "The production connection's user cannot manage sandboxes: ask a Salesforce admin for the "
                    "\u201cManage Sandboxes\u201d permission, then try again.",
    "NOT_FOUND": "The production connection's user cannot manage sandboxes, or the sandbox no longer exists.",
    "INSUFFICIENT_ACCESS": "Ask a Salesforce admin for the \u201cManage Sandboxes\u201d permission.",
    "INVALID_INPUT": "Add the portal's callback URL to the production connection's connected app, then retry.",
}


def describe(exc: Exception) -> str:
    """Salesforce's reason and what to do next, for a person."""
    if isinstance(exc, salesforce.ApiError):
        text = f"Salesforce refused it: {exc.message or exc} ({exc.error_code})."
        advice = ADVICE.get(exc.error_code or "")
        if exc.error_code == "FIELD_INTEGRITY_EXCEPTION" and "can't be refreshed until" in (exc.message or ""):
            advice = "Refresh it after that date."
        elif exc.error_code == "FIELD_INTEGRITY_EXCEPTION" and "being copied" in (exc.message or ""):
            advice = "Wait for the running copy to finish."
        elif exc.error_code == "FIELD_INTEGRITY_EXCEPTION" and "can't be deleted until" in (exc.message or ""):
            advice = "Delete it after that date."
        return f"{text} {advice}" if advice else text
    if isinstance(exc, salesforce.SalesforceError):
        return salesforce.describe_error(exc)
    return str(exc)


def _api(production_id: int, call):
    """Run `call(client, issued)` with a fresh production token."""
    client = sf_client()
    return with_fresh_token(connection_id=production_id, call=lambda issued: call(client, issued))


def _version(issued) -> str:
    return issued.api_version or "68.0"


def _dt(value):
    return parse_datetime(value) if isinstance(value, str) and value else None


def sandbox_as_json(sandbox: Sandbox) -> dict:
    """What the REST API and the CLI show about one sandbox and its request."""
    return {
        "id": str(sandbox.code),
        "name": sandbox.name,
        "license_type": sandbox.license_type,
        "description": sandbox.description,
        "sandbox_info_id": sandbox.sandbox_info_id or None,
        "process_id": sandbox.process_id or None,
        "status": sandbox.status or None,
        "copy_progress": sandbox.copy_progress,
        "sandbox_org_id": sandbox.sandbox_org_id or None,
        "last_refreshed_at": sandbox.last_refreshed_at.isoformat() if sandbox.last_refreshed_at else None,
        "refreshable_at": sandbox.refreshable_at.isoformat() if sandbox.refreshable_at else None,
        "operation": sandbox.operation or None,
        "state": sandbox.state or None,
        "state_label": sandbox.get_state_display() if sandbox.state else None,
        "message": sandbox.state_message,
        "in_progress": sandbox.in_progress,
        "elapsed_seconds": sandbox.elapsed_seconds,
        "connected": sandbox.connection_id is not None,
        "deleted": sandbox.deleted_at is not None,
    }


# -- inventory ------------------------------------------------------------------------------------------------------

@dataclass
class SyncResult:
    seen: int
    created: int
    changed: int
    vanished: int
    pages: int


def _newest_processes(records: list[dict]) -> tuple[dict[str, dict], dict[str, str]]:
    """Per SandboxInfoId: the newest process that is not being deleted, and the EndDate of the newest Completed."""
    newest: dict[str, dict] = {}
    completed: dict[str, str] = {}
    for record in records:
        info_id, status = record.get("SandboxInfoId") or "", str(record.get("Status") or "")
        if not info_id or status.startswith("Del"):
            continue
        created = str(record.get("CreatedDate") or "")
        if info_id not in newest or created > str(newest[info_id].get("CreatedDate") or ""):
            newest[info_id] = record
        if status == "Completed" and record.get("EndDate") and str(record["EndDate"]) > completed.get(info_id, ""):
            completed[info_id] = str(record["EndDate"])
    return newest, completed


def _inventory_values(info: dict, process: dict | None, completed_end: str | None) -> dict:
    process = process or {}
    progress = process.get("CopyProgress")
    return {
        "name": str(info.get("SandboxName") or "")[:10],
        "license_type": salesforce.normalize_license_type(info.get("LicenseType") or process.get("LicenseType")),
        "description": str(info.get("Description") or "")[:1000],
        "source_info_id": str(info.get("SourceId") or ""),
        "apex_class_id": str(info.get("ApexClassId") or ""),
        "auto_activate": info.get("AutoActivate") is not False,
        "process_id": str(process.get("Id") or ""),
        "status": str(process.get("Status") or ""),
        "copy_progress": progress if isinstance(progress, int) and not isinstance(progress, bool) else None,
        "sandbox_org_id": str(process.get("SandboxOrganization") or ""),
        "copy_started_at": _dt(process.get("StartDate")),
        "copy_ended_at": _dt(process.get("EndDate")),
        "last_refreshed_at": _dt(completed_end),
        "created_date": _dt(info.get("CreatedDate")),
    }


def _connection_links(team_id: int) -> dict[str, int]:
    """The team's connections by 15-character org id (the oldest first wins)."""
    links: dict[str, int] = {}
    for pk, org_id in OrgConnection.objects.filter(team_id=team_id).order_by("pk").values_list("pk", "org_id"):
        links.setdefault(org_id[:15], pk)
    return links


def sandbox_sync(*, connection_id: int) -> SyncResult:
    """Refresh one production org's sandbox inventory. Raises ReauthorizationRequiredError /
    SalesforceUnavailableError; a refusal (no permission) is recorded on its SandboxSync row."""
    production = OrgConnection.objects.get(pk=connection_id, kind=OrgConnection.Kind.PRODUCTION)

    def run(client, issued):
        infos, info_pages = client.tooling_query_all_pages(
            instance_url=issued.instance_url, access_token=issued.access_token, api_version=_version(issued),
            soql=f"SELECT {INFO_FIELDS} FROM SandboxInfo")  # noqa: S608
        processes, process_pages = client.tooling_query_all_pages(
            instance_url=issued.instance_url, access_token=issued.access_token, api_version=_version(issued),
            soql=f"SELECT {PROCESS_FIELDS} FROM SandboxProcess ORDER BY CreatedDate DESC")  # noqa: S608
        return infos, processes, info_pages + process_pages

    try:
        infos, processes, pages = _api(production.pk, run)
    except salesforce.TransientSalesforceError as exc:
        raise SalesforceUnavailableError(salesforce.describe_error(exc)) from None
    except salesforce.ApiError as exc:
        SandboxSync.objects.update_or_create(production=production, defaults={
            "synced_at": timezone.now(), "error": describe(exc)[:500], "pages": 0})
        return SyncResult(seen=0, created=0, changed=0, vanished=0, pages=0)
    newest, completed = _newest_processes(processes)
    now = timezone.now()
    with transaction.atomic():
        existing = {row.sandbox_info_id: row for row in Sandbox.objects.filter(production=production)
                    .exclude(sandbox_info_id="")}
        links = _connection_links(production.team_id)
        to_create, to_update = [], []
        for info in infos:
            info_id = info.get("Id")
            if not isinstance(info_id, str):
                continue
            values = _inventory_values(info, newest.get(info_id), completed.get(info_id))
            row = existing.get(info_id)
            linked = links.get(values["sandbox_org_id"][:15]) if values["sandbox_org_id"] else None
            values["connection_id"] = linked or (row.connection_id if row else None)
            values["deleted_at"] = None
            if row is None:
                to_create.append(Sandbox(team_id=production.team_id, production=production, sandbox_info_id=info_id,
                                         last_seen_at=now, **values))
                continue
            if row.state in Sandbox.ACTIVE_STATES:
                values.pop("connection_id")  # the request links its own connection when it is done
            if any(getattr(row, name) != value for name, value in values.items()):
                for name, value in values.items():
                    setattr(row, name, value)
                to_update.append(row)
        Sandbox.objects.bulk_create(to_create, batch_size=500)
        if to_update:
            Sandbox.objects.bulk_update(to_update, INVENTORY_FIELDS, batch_size=500)
        seen = [i["Id"] for i in infos if isinstance(i.get("Id"), str)]
        Sandbox.objects.filter(production=production, sandbox_info_id__in=seen).update(last_seen_at=now)
        vanished = (Sandbox.objects.filter(production=production, deleted_at__isnull=True)
                    .exclude(sandbox_info_id="").exclude(sandbox_info_id__in=seen)
                    .exclude(state__in=Sandbox.ACTIVE_STATES).update(deleted_at=now, status="Deleted"))
        SandboxSync.objects.update_or_create(production=production, defaults={
            "synced_at": now, "error": "", "pages": pages})
    log.info("sandboxes of %s: %d, %d pages", production.code, len(infos), pages)
    return SyncResult(seen=len(seen), created=len(to_create), changed=len(to_update), vanished=vanished, pages=pages)


# -- requests: create, refresh --------------------------------------------------------------------------------------

def name_validate(name: str) -> str:
    name = (name or "").strip()
    if not NAME_PATTERN.match(name):
        raise ServiceError("A sandbox name is 1 to 10 letters or digits (no spaces, dashes or underscores).")
    return name


def _enqueue_poll(sandbox: Sandbox, countdown: float = 0) -> None:
    sandbox_id = sandbox.pk
    Sandbox.objects.filter(pk=sandbox_id).update(next_poll_at=timezone.now() + timedelta(seconds=countdown))

    def publish():
        try:
            task("orgs.tasks.sandbox_poll_task").apply_async((sandbox_id,), countdown=countdown)
        except Exception as exc:  # noqa: BLE001 - broker outage: the resume sweep picks it up
            log.error("could not enqueue a sandbox poll (%s); the resume sweep will", type(exc).__name__)

    transaction.on_commit(publish)


def _check_share(membership: Membership, share: str, member_ids, group_ids) -> tuple[list[int], list[int]]:
    if share not in Sandbox.Share.values:
        raise ServiceError("Choose who else gets the new sandbox.")
    if share != Sandbox.Share.NAMED:
        return [], []
    members = set(Membership.objects.filter(team=membership.team, user_id__in=list(member_ids or []))
                  .exclude(user=membership.user).values_list("user_id", flat=True))
    groups = set(TeamGroup.objects.filter(team=membership.team, pk__in=list(group_ids or []))
                 .values_list("pk", flat=True))
    if len(members) != len(set(member_ids or []) - {membership.user_id}) or len(groups) != len(set(group_ids or [])):
        raise ServiceError("You can only share with members and groups of this team.")
    return sorted(members), sorted(groups)


def sandbox_create(*, membership: Membership, production: OrgConnection, name: str, license_type: str = "",
                   description: str = "", source: Sandbox | None = None, apex_class_id: str = "",
                   auto_activate: bool = True, alias: str = "", share: str = Sandbox.Share.NOBODY,
                   share_member_ids=(), share_group_ids=(), ip: str | None = None) -> Sandbox:
    """Record a create request (validated as Salesforce does) and start its task. The caller checked permission."""
    if production.kind != OrgConnection.Kind.PRODUCTION or production.team_id != membership.team_id:
        raise ServiceError(f"{production.username} is not a production org of this team.")
    name = name_validate(name)
    license_type = salesforce.normalize_license_type(license_type)
    if source is not None:
        if source.production_id != production.pk or not source.sandbox_info_id or source.deleted_at:
            raise ServiceError("The source sandbox must be a live sandbox of the same production org.")
        license_type = source.license_type
    elif license_type not in LICENSE_TYPES:
        raise ServiceError("Choose a license type: Developer, Developer Pro, Partial Copy or Full.")
    if len(description or "") > 1000:
        raise ServiceError("The description is at most 1,000 characters.")
    apex_class_id = (apex_class_id or "").strip()
    if apex_class_id and not re.fullmatch(r"01p[A-Za-z0-9]{12}(?:[A-Za-z0-9]{3})?", apex_class_id):
        raise ServiceError("The post-copy Apex class is its Id (01p…, 15 or 18 characters).")
    alias = alias_validate(alias.strip()) if alias.strip() else ""
    if alias and OrgAlias.objects.filter(team=membership.team, user=membership.user, alias=alias).exists():
        raise ServiceError(f"You already use the alias \u201c{alias}\u201d.")
    members, groups = _check_share(membership, share, share_member_ids, share_group_ids)
    with transaction.atomic():
        taken = (Sandbox.objects.select_for_update().filter(production=production, name__iexact=name,
                                                            deleted_at__isnull=True)
                 .exclude(state=State.FAILED, sandbox_info_id=""))
        if taken.exists():
            raise ServiceError(f"This production org already has a sandbox named \u201c{name}\u201d. "
                               + ADVICE["DUPLICATE_VALUE"])
        sandbox = Sandbox.objects.create(
            team=membership.team, production=production, name=name, license_type=license_type,
            description=description or "", source_info_id=source.sandbox_info_id if source else "",
            apex_class_id=apex_class_id, auto_activate=auto_activate, operation=Sandbox.Operation.CREATE,
            state=State.REQUESTED, requested_by=membership.user, requested_at=timezone.now(),
            requested_alias=alias, share=share, share_member_ids=members, share_group_ids=groups,
            state_message="Waiting for Salesforce to accept the request.")
        audit_record(team=membership.team, actor=membership.user, kind=Kind.SANDBOX_CREATE_REQUESTED, subject=name,
                     ip=ip, data={"production": production.username, "license_type": license_type,
                                  "source": sandbox.source_info_id, "share": share})
        _enqueue_poll(sandbox)
    return sandbox


def refresh_refusal(sandbox: Sandbox) -> str | None:
    """Why a refresh can't be requested now (in progress, too early, deleted), or None."""
    if sandbox.deleted_at or not sandbox.sandbox_info_id:
        return "This sandbox does not exist in Salesforce (any more)."
    if sandbox.in_progress:
        return "A create or refresh of this sandbox is already running."
    if sandbox.status in RUNNING or sandbox.status == "Pending Activation":
        return f"The sandbox is being copied ({sandbox.status}); wait for the copy to finish."
    when = sandbox.refreshable_at
    if when is not None and when > timezone.now():
        days = Sandbox.REFRESH_DAYS.get(sandbox.license_type)
        return (f"A {sandbox.license_label} sandbox can be refreshed every {days} day{'s' if days != 1 else ''}: "
                f"{sandbox.name} can be refreshed from {when:%Y-%m-%d %H:%M} UTC.")
    return None


def sandbox_refresh(*, membership: Membership, sandbox: Sandbox, auto_activate: bool = True,
                    ip: str | None = None) -> Sandbox:
    """Record a refresh request (refused early with the date when the interval has not elapsed); start its task."""
    with transaction.atomic():
        sandbox = Sandbox.objects.select_for_update().select_related("production").get(pk=sandbox.pk)
        refusal = refresh_refusal(sandbox)
        if refusal:
            raise ServiceError(refusal)
        sandbox.operation, sandbox.state = Sandbox.Operation.REFRESH, State.REQUESTED
        sandbox.requested_by, sandbox.requested_at, sandbox.finished_at = membership.user, timezone.now(), None
        sandbox.auto_activate, sandbox.polls, sandbox.auth_deadline = auto_activate, 0, None
        sandbox.previous_org_id = sandbox.sandbox_org_id
        sandbox.state_message = "Waiting for Salesforce to accept the refresh."
        sandbox.save()
        audit_record(team=sandbox.team, actor=membership.user, kind=Kind.SANDBOX_REFRESH_REQUESTED,
                     subject=sandbox.name, ip=ip, data={"production": sandbox.production.username,
                                                        "org_id": sandbox.sandbox_org_id})
        _enqueue_poll(sandbox)
    return sandbox


def sandbox_retry(*, membership: Membership, sandbox: Sandbox, ip: str | None = None) -> Sandbox:
    """Run a failed request again: the create (if Salesforce never accepted it), the copy, or the connecting."""
    with transaction.atomic():
        sandbox = Sandbox.objects.select_for_update().get(pk=sandbox.pk)
        if sandbox.state != State.FAILED:
            raise ServiceError("Only a failed request can be retried.")
        if sandbox.operation == Sandbox.Operation.CREATE and not sandbox.sandbox_info_id:
            sandbox.state = State.REQUESTED
        elif sandbox.status == "Completed" and sandbox.sandbox_org_id:
            sandbox.state, sandbox.auth_deadline = State.AUTHORIZING, None  # only the connecting failed
        else:
            refusal = refresh_refusal(Sandbox(**{**{f.attname: getattr(sandbox, f.attname)
                                                    for f in Sandbox._meta.concrete_fields}, "state": ""}))
            if refusal:
                raise ServiceError(refusal)
            sandbox.state, sandbox.previous_org_id = State.REQUESTED, sandbox.sandbox_org_id
            sandbox.operation = sandbox.operation or Sandbox.Operation.REFRESH
        sandbox.requested_by, sandbox.requested_at, sandbox.finished_at = membership.user, timezone.now(), None
        sandbox.polls, sandbox.state_message = 0, "Retrying."
        sandbox.save()
        audit_record(team=sandbox.team, actor=membership.user,
                     kind=Kind.SANDBOX_CREATE_REQUESTED if sandbox.operation == "create"
                     else Kind.SANDBOX_REFRESH_REQUESTED, subject=sandbox.name, ip=ip, data={"retry": True})
        _enqueue_poll(sandbox)
    return sandbox


def sandbox_dismiss(*, membership: Membership, sandbox: Sandbox) -> None:
    """Forget a failed request: a create Salesforce never accepted disappears; otherwise the row stays inventory."""
    with transaction.atomic():
        sandbox = Sandbox.objects.select_for_update().get(pk=sandbox.pk)
        if sandbox.state != State.FAILED:
            raise ServiceError("Only a failed request can be dismissed.")
        if not sandbox.sandbox_info_id:
            sandbox.delete()
            return
        Sandbox.objects.filter(pk=sandbox.pk).update(state="", operation="", state_message="")


# -- the poll (one step of a request) -------------------------------------------------------------------------------

def poll_countdown(polls: int) -> int:
    """2, 4, 8, 16, 32 … seconds, capped at PORTAL_SANDBOX_POLL_MAX_INTERVAL."""
    return max(1, min(2 ** min(polls + 1, 10), settings.PORTAL_SANDBOX_POLL_MAX_INTERVAL))


def sandbox_poll(*, sandbox_id: int, force: bool = False) -> int | None:
    """Advance one request by one step. Returns the seconds until the next poll, or None when it is finished."""
    with transaction.atomic():
        # The row lock makes a duplicated or redelivered poll wait, then find the work done (an authCode is
        # single use, a create must not be sent twice).
        sandbox = (Sandbox.objects.select_for_update(of=("self",))
                   .select_related("production", "production__app", "team", "requested_by")
                   .filter(pk=sandbox_id).first())
        if sandbox is None or sandbox.state not in Sandbox.ACTIVE_STATES:
            return None
        if not force and sandbox.next_poll_at and sandbox.next_poll_at > timezone.now() + timedelta(seconds=1):
            return None  # a duplicate: another poll of this request is already scheduled
        try:
            _step(sandbox)
        except (salesforce.TransientSalesforceError, SalesforceUnavailableError) as exc:
            sandbox.state_message = (f"Salesforce did not answer ({exc}); trying again.")[:1000]
        except ReauthorizationRequiredError:
            _fail(sandbox, "The production org's connection needs re-authorization: reconnect it, then retry.")
        except (salesforce.SalesforceError, ServiceError) as exc:  # permanent: stop here, visibly (retry is offered)
            _fail(sandbox, f"Salesforce answered in an unexpected way: {describe(exc)} Retry when it is fixed.")
        if sandbox.state not in Sandbox.ACTIVE_STATES:
            sandbox.next_poll_at = None
            sandbox.save()
            return None
        sandbox.polls += 1
        countdown = poll_countdown(sandbox.polls)
        sandbox.next_poll_at = timezone.now() + timedelta(seconds=countdown)
        sandbox.save()
        return countdown


def _step(sandbox: Sandbox) -> None:
    if sandbox.state == State.REQUESTED:
        _send_request(sandbox)
    if sandbox.state == State.COPYING:
        _follow_copy(sandbox)
    if sandbox.state == State.AUTHORIZING:
        _authorize(sandbox)


def _fail(sandbox: Sandbox, message: str) -> None:
    sandbox.state, sandbox.state_message, sandbox.finished_at = State.FAILED, message[:1000], timezone.now()
    audit_record(team=sandbox.team, actor=sandbox.requested_by, kind=Kind.SANDBOX_FAILED, subject=sandbox.name,
                 data={"operation": sandbox.operation, "why": message[:300],
                       "production": sandbox.production.username})
    transaction.on_commit(lambda: notify_sandbox_finished(sandbox_id=sandbox.pk))


def _send_request(sandbox: Sandbox) -> None:
    if sandbox.operation == Sandbox.Operation.CREATE:
        fields = {"SandboxName": sandbox.name, "Description": sandbox.description,
                  "AutoActivate": sandbox.auto_activate}
        if sandbox.source_info_id:
            fields["SourceId"] = sandbox.source_info_id
        else:
            fields["LicenseType"] = sandbox.license_type
        if sandbox.apex_class_id:
            fields["ApexClassId"] = sandbox.apex_class_id

        def send(client, issued):
            return client.create_sandbox_info(instance_url=issued.instance_url, access_token=issued.access_token,
                                              api_version=_version(issued), fields=fields)
    else:
        fields = {"LicenseType": sandbox.license_type, "AutoActivate": True, "Description": sandbox.description}

        def send(client, issued):
            client.refresh_sandbox_info(instance_url=issued.instance_url, access_token=issued.access_token,
                                        api_version=_version(issued), id=sandbox.sandbox_info_id, fields=fields)
            return sandbox.sandbox_info_id
    try:
        info_id = _api(sandbox.production_id, send)
    except salesforce.ApiError as exc:
        verb = "create" if sandbox.operation == Sandbox.Operation.CREATE else "refresh"
        _fail(sandbox, f"Salesforce refused to {verb} the sandbox. {describe(exc)}")
        return
    except salesforce.PermanentSalesforceError as exc:
        _fail(sandbox, describe(exc))
        return
    sandbox.sandbox_info_id = info_id
    sandbox.state, sandbox.process_id = State.COPYING, ""
    sandbox.status, sandbox.copy_progress = "Pending", 0
    sandbox.state_message = "Salesforce accepted the request; the copy is queued."


def _follow_copy(sandbox: Sandbox) -> None:
    processes = _api(sandbox.production_id, lambda client, issued: client.sandbox_processes(
        instance_url=issued.instance_url, access_token=issued.access_token, api_version=_version(issued),
        sandbox_info_id=sandbox.sandbox_info_id))
    if sandbox.operation == Sandbox.Operation.REFRESH and not sandbox.process_id:
        # The refresh's own job is the one newer than the request (the old Completed one is still listed).
        fresh = [p for p in processes if _dt(p.created_date) and sandbox.requested_at
                 and _dt(p.created_date) >= sandbox.requested_at - timedelta(minutes=5) and p.status != "Completed"]
        processes = fresh or processes
    if not processes:
        sandbox.state_message = "Waiting for Salesforce's copy job to appear."
        return
    process = processes[0]
    sandbox.process_id, sandbox.status = process.id, process.status
    sandbox.copy_progress = process.copy_progress if process.copy_progress is not None else sandbox.copy_progress
    sandbox.copy_started_at = _dt(process.start_date) or sandbox.copy_started_at
    sandbox.copy_ended_at = _dt(process.end_date)
    if process.status == "Completed":
        sandbox.sandbox_org_id = process.sandbox_organization or ""
        sandbox.last_refreshed_at = _dt(process.end_date) or timezone.now()
        sandbox.copy_progress = 100
        sandbox.state = State.AUTHORIZING
        sandbox.state_message = "The copy is complete; connecting the sandbox."
        return
    if process.status == "Pending Activation":
        _activate(sandbox, process)
        return
    if process.status in RUNNING:
        sandbox.state_message = f"{process.status} ({sandbox.copy_progress or 0} %)."
        started = sandbox.requested_at or timezone.now()
        if timezone.now() - started > timedelta(seconds=settings.PORTAL_SANDBOX_COPY_TIMEOUT):
            _fail(sandbox, f"The copy did not finish within {settings.PORTAL_SANDBOX_COPY_TIMEOUT // 3600} hours; "
                           "it may still be running in Salesforce. Retry to follow it again.")
        return
    _fail(sandbox, f"The copy ended with status {process.status}. {_copy_failure_reason(sandbox)}".strip())


def _activate(sandbox: Sandbox, process: salesforce.SandboxProcess) -> None:
    """A refresh waiting for activation: the portal asked for AutoActivate, so activate it."""
    try:
        _api(sandbox.production_id, lambda client, issued: client.sandbox_process_action(
            instance_url=issued.instance_url, access_token=issued.access_token, api_version=_version(issued),
            id=process.id, action="ACTIVATE"))
    except salesforce.ApiError as exc:
        sandbox.state_message = f"Waiting for activation. {describe(exc)}"[:1000]
        return
    sandbox.state_message = "Activating the refreshed sandbox."


def _copy_failure_reason(sandbox: Sandbox) -> str:
    """Salesforce's reason for a failed copy: sandboxAuth answers INVALID_STATUS with it."""
    try:
        _sandbox_auth(sandbox)
    except salesforce.ApiError as exc:
        return exc.message or str(exc)
    except salesforce.SalesforceError:
        return ""
    return ""


def _sandbox_auth(sandbox: Sandbox) -> salesforce.SandboxAuth:
    app = sandbox.production.app
    return _api(sandbox.production_id, lambda client, issued: client.sandbox_auth(
        instance_url=issued.instance_url, access_token=issued.access_token, api_version=_version(issued),
        client_id=app.consumer_key, sandbox_name=sandbox.name, callback_url=callback_url()))


def _authorize(sandbox: Sandbox) -> None:
    """Connect the finished sandbox: sandboxAuth on production, then the code exchange at its login URL.
    INVALID_STATUS (not ready) and an unreachable new org are retried until PORTAL_SANDBOX_AUTH_RETRY_SECONDS."""
    now = timezone.now()
    if sandbox.auth_deadline is None:
        sandbox.auth_deadline = now + timedelta(seconds=settings.PORTAL_SANDBOX_AUTH_RETRY_SECONDS)
    production = sandbox.production
    client = sf_client()
    try:
        auth = _sandbox_auth(sandbox)
        login_url = auth.login_url or production.login_url
        tokens = with_app_secret(production.app, lambda secret: client.exchange_code(
            login_url=login_url, client_id=production.app.consumer_key, client_secret=secret, code=auth.auth_code,
            redirect_uri=callback_url(), code_verifier=None))
        facts = fetch_org_facts(client, tokens)
    except salesforce.ApiError as exc:
        if exc.error_code == "INVALID_STATUS" and "copy failed" not in (exc.message or ""):
            return _retry_authorize(sandbox, f"Salesforce is not ready to connect the sandbox yet ({exc.message}).")
        _fail(sandbox, f"The copy finished but the sandbox could not be connected. {describe(exc)}")
        return None
    except (salesforce.TransientSalesforceError, SalesforceUnavailableError) as exc:
        return _retry_authorize(sandbox, f"The new sandbox is not reachable yet (DNS propagation?): {exc}")
    except (salesforce.SalesforceError, ServiceError) as exc:
        _fail(sandbox, f"The copy finished but the sandbox could not be connected. {describe(exc)}")
        return None
    if sandbox.operation == Sandbox.Operation.REFRESH and sandbox.connection_id:
        _reconnect_refreshed(sandbox, facts, login_url)
    else:
        _connect_new(sandbox, facts, login_url)
    sandbox.state, sandbox.finished_at = State.DONE, timezone.now()
    sandbox.sandbox_org_id = facts.tokens.org_id[:15] or sandbox.sandbox_org_id
    transaction.on_commit(lambda: notify_sandbox_finished(sandbox_id=sandbox.pk))
    return None


def _retry_authorize(sandbox: Sandbox, why: str) -> None:
    if timezone.now() >= sandbox.auth_deadline:
        _fail(sandbox, f"{why} Gave up after {settings.PORTAL_SANDBOX_AUTH_RETRY_SECONDS // 60} minutes; "
                       "retry to connect it.")
        return
    sandbox.state_message = (f"{why} Retrying until {sandbox.auth_deadline:%H:%M} UTC.")[:1000]


def _connect_new(sandbox: Sandbox, facts, login_url: str) -> None:
    requester = sandbox.requested_by
    membership = Membership.objects.select_related("team", "user").filter(team=sandbox.team, user=requester).first()
    if membership is None:
        raise ServiceError("The member who requested the sandbox is no longer in the team.")
    connection, _, _ = connection_upsert(
        membership=membership, app=sandbox.production.app, flow=OrgConnection.Flow.WEB, login_url=login_url,
        facts=facts, alias=sandbox.requested_alias or sandbox.name.lower(),
        audit_data={"production": sandbox.production.username, "sandbox": sandbox.name, "created_in_portal": True})
    sandbox.connection = connection
    _apply_sharing(sandbox, membership, connection)
    audit_record(team=sandbox.team, actor=requester, kind=Kind.SANDBOX_CREATED, subject=sandbox.name,
                 data={"production": sandbox.production.username, "org_id": connection.org_id,
                       "username": connection.username, "share": sandbox.share})
    sandbox.state_message = f"Ready and connected as {connection.username}."


def _apply_sharing(sandbox: Sandbox, membership: Membership, connection: OrgConnection) -> None:
    owner_access = Access(Level.MANAGE, "owner")
    wanted: list[dict] = []
    if sandbox.share == Sandbox.Share.PRODUCTION:
        for grant in Grant.objects.filter(connection=sandbox.production).select_related("member", "group",
                                                                                          "service_token"):
            if grant.subject_type == Grant.Subject.MEMBER and grant.member_id == connection.owner_id:
                continue
            wanted.append({"subject_type": grant.subject_type, "level": grant.level, "member": grant.member,
                           "role": grant.role, "group": grant.group, "service_token": grant.service_token})
    elif sandbox.share == Sandbox.Share.NAMED:
        level = sandbox.share_level if sandbox.share_level in Level.values else Level.TARGET
        for user in User.objects.filter(pk__in=sandbox.share_member_ids):
            wanted.append({"subject_type": Grant.Subject.MEMBER, "level": level, "member": user})
        for group in TeamGroup.objects.filter(team=sandbox.team, pk__in=sandbox.share_group_ids):
            wanted.append({"subject_type": Grant.Subject.GROUP, "level": level, "group": group})
    for subject in wanted:
        try:
            grant_add(actor=membership, actor_access=owner_access, connection=connection, **subject)
        except ServiceError as exc:  # e.g. a member who left meanwhile: the rest is still shared
            log.info("sandbox %s: a grant was skipped (%s)", sandbox.code, exc)


def _reconnect_refreshed(sandbox: Sandbox, facts, login_url: str) -> None:
    connection = OrgConnection.objects.get(pk=sandbox.connection_id)
    old_org_id = connection.org_id
    connection_reauthorize_in_place(
        connection=connection, facts=facts, login_url=login_url, actor=sandbox.requested_by,
        audit_data={"production": sandbox.production.username, "sandbox": sandbox.name, "refreshed": True})
    audit_record(team=sandbox.team, actor=sandbox.requested_by, kind=Kind.SANDBOX_REFRESHED, subject=sandbox.name,
                 data={"production": sandbox.production.username, "old_org_id": old_org_id,
                       "new_org_id": facts.tokens.org_id, "connection": str(connection.code)})
    sandbox.state_message = f"Refreshed; the connection {connection.username} now points at the new org."


# -- delete ---------------------------------------------------------------------------------------------------------

def sandbox_delete(*, actor: User, sandbox: Sandbox, confirm_name: str, ip: str | None = None) -> None:
    """Delete the sandbox at Salesforce, then its portal connection (tokens revoked). `confirm_name` must match."""
    if (confirm_name or "").strip() != sandbox.name:
        raise ServiceError(f"Type the sandbox's name ({sandbox.name}) to confirm.")
    if sandbox.in_progress:
        raise ServiceError("A create or refresh of this sandbox is running; wait for it to finish.")
    if sandbox.sandbox_info_id and not sandbox.deleted_at:
        try:
            _api(sandbox.production_id, lambda client, issued: client.delete_sandbox_info(
                instance_url=issued.instance_url, access_token=issued.access_token, api_version=_version(issued),
                id=sandbox.sandbox_info_id))
        except salesforce.ApiError as exc:
            if exc.error_code not in ("NOT_FOUND", "ENTITY_IS_DELETED"):
                raise ServiceError(f"Salesforce refused to delete the sandbox. {describe(exc)}") from None
        except (salesforce.TransientSalesforceError, SalesforceUnavailableError):
            raise ServiceError(UNAVAILABLE) from None
        except salesforce.SalesforceError as exc:
            raise ServiceError(describe(exc)) from None
    connection = OrgConnection.objects.filter(pk=sandbox.connection_id).select_related("team").first() \
        if sandbox.connection_id else None
    if connection is not None:
        connection_disconnect(actor=actor, connection=connection, ip=ip)
    with transaction.atomic():
        Sandbox.objects.filter(pk=sandbox.pk).update(deleted_at=timezone.now(), status="Deleting", state="",
                                                     operation="", state_message="", connection=None)
        audit_record(team=sandbox.team, actor=actor, kind=Kind.SANDBOX_DELETED, subject=sandbox.name, ip=ip,
                     data={"production": sandbox.production.username, "org_id": sandbox.sandbox_org_id,
                           "connection_removed": connection is not None})


# -- resuming after restarts ----------------------------------------------------------------------------------------

def sandbox_requests_resume() -> int:
    """Beat: re-enqueue unfinished requests whose poll chain is overdue (a worker restarted, the broker lost it)."""
    grace = timedelta(seconds=settings.PORTAL_SANDBOX_POLL_MAX_INTERVAL * 2)
    with transaction.atomic():
        rows = list(Sandbox.objects.filter(state__in=Sandbox.ACTIVE_STATES)
                    .filter(next_poll_at__lt=timezone.now() - grace) | Sandbox.objects.filter(
                        state__in=Sandbox.ACTIVE_STATES, next_poll_at__isnull=True))
        for row in rows:
            _enqueue_poll(row)
    return len(rows)


def sandbox_sync_enqueue(*, production: OrgConnection) -> None:
    """"Sync now" on the Sandboxes tab: the same task the sweep publishes."""
    production_id = production.pk
    transaction.on_commit(lambda: task("orgs.tasks.sandbox_sync_task").delay(production_id))
