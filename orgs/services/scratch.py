"""Creating and deleting scratch orgs from the portal, the way `sf org create scratch` / `sf org delete scratch`
do (docs/salesforce.md §6), on a Dev Hub the member can target.

Create: POST ScratchOrgInfo on the hub; a Celery task polls its status with backoff until Active, Error or the
timeout; on Active the portal authorizes the new org (the AuthCode exchanged with the hub's web-flow app, or a JWT
for a JWT hub) and stores it as a connection owned by the creator and linked to its Dev Hub.
Delete: DELETE the ActiveScratchOrg, mark the row deleted, remove its connection. The REST API deletes at once; the
web page marks the row "deleting" and orgs.tasks.scratch_org_delete_task does it (transient errors retried with
backoff, a refusal recorded on the row). Either way the requester gets an email when it ends (Notice.SCRATCH_FINISHED).
"""

from __future__ import annotations

import json
import logging
import re
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.views.decorators.debug import sensitive_variables

from orgs import salesforce
from orgs.models import OrgAlias, OrgConnection, ScratchOrg
from orgs.services.apps import callback_url, with_app_secret
from orgs.services.client import sf_client
from orgs.services.connections import alias_validate, connection_upsert, fetch_org_facts
from orgs.services.notifications import notify_scratch_finished
from orgs.services.refresh import SalesforceUnavailableError, with_fresh_token
from portal.accounts.models import AuditEvent, Membership
from portal.accounts.services import ServiceError, audit_record
from portal.lib.tasks import task

log = logging.getLogger(__name__)
Kind = AuditEvent.Kind

EDITIONS = ("Developer", "Enterprise", "Group", "Professional", "Partner Developer", "Partner Enterprise")
PENDING = ("New", "Creating")
# camelCase definition keys (as in a project-scratch-def.json) → ScratchOrgInfo fields. Settings/objectSettings are
# deployed by the CLI after creation and are not part of the signup request.
DEFINITION_KEYS = {
    "edition": "Edition", "orgName": "OrgName", "features": "Features", "durationDays": "DurationDays",
    "namespace": "Namespace", "description": "Description", "adminEmail": "AdminEmail", "username": "Username",
    "language": "Language", "country": "Country", "release": "Release", "hasSampleData": "HasSampleData",
    "sourceOrg": "SourceOrg", "snapshot": "Snapshot",
}


def scratch_definition(*, json_text: str = "", edition: str = "", org_name: str = "", features: str = "",
                       duration_days: int | None = None, namespace: str = "") -> dict:
    """ScratchOrgInfo fields from an uploaded definition (JSON) and/or the form; the form wins where filled."""
    fields: dict = {}
    if json_text.strip():
        try:
            data = json.loads(json_text)
        except ValueError as exc:
            raise ServiceError(f"The definition file is not valid JSON ({exc.msg} at line {exc.lineno}).") from None
        if not isinstance(data, dict):
            raise ServiceError("The definition file must be a JSON object, like project-scratch-def.json.")
        for key, field in DEFINITION_KEYS.items():
            if key in data:
                fields[field] = data[key]
    for field, value in (("Edition", edition), ("OrgName", org_name), ("Namespace", namespace)):
        if value:
            fields[field] = value.strip()
    if features:
        fields["Features"] = features
    if duration_days:
        fields["DurationDays"] = duration_days
    if isinstance(fields.get("Features"), list):
        fields["Features"] = ";".join(str(f) for f in fields["Features"])
    if isinstance(fields.get("Features"), str):
        fields["Features"] = ";".join(f.strip() for f in re.split(r"[;,]", fields["Features"]) if f.strip())
    fields.setdefault("DurationDays", 7)
    try:
        days = int(fields["DurationDays"])
    except (TypeError, ValueError):
        days = 0
    if not 1 <= days <= 30:
        raise ServiceError("A scratch org lives 1 to 30 days.")
    fields["DurationDays"] = days
    if not fields.get("Edition"):
        raise ServiceError("Choose an edition (e.g. Developer or Enterprise).")
    if "Username" in fields:
        fields["Username"] = str(fields["Username"]).lower()
    fields.setdefault("OrgName", "Company")
    return fields


def scratch_org_create(*, membership: Membership, hub: OrgConnection, fields: dict, alias: str,
                       ip: str | None = None) -> ScratchOrg:
    if not hub.is_devhub or hub.team_id != membership.team_id:
        raise ServiceError(f"{hub.username} is not a Dev Hub of this team.")
    alias = alias_validate(alias.strip()) if alias.strip() else ""
    if alias and OrgAlias.objects.filter(team=membership.team, user=membership.user, alias=alias).exists():
        raise ServiceError(f"You already use the alias “{alias}”.")
    request = {**fields, "ConnectedAppConsumerKey": hub.app.consumer_key, "ConnectedAppCallbackUrl": callback_url()}
    client = sf_client()
    try:
        info_id = with_fresh_token(connection_id=hub.pk, call=lambda issued: client.create_scratch_org_info(
            instance_url=issued.instance_url, access_token=issued.access_token,
            api_version=issued.api_version or "68.0", fields=request))
    except salesforce.ApiError as exc:
        if exc.error_code == "REQUIRED_FIELD_MISSING":
            raise ServiceError(f"Salesforce needs more in the definition: {', '.join(exc.fields) or exc}.") from None
        raise ServiceError(f"The Dev Hub refused the scratch org: {exc}") from None
    except salesforce.TransientSalesforceError:
        raise ServiceError("Salesforce is unavailable, try again in a moment. Nothing was created.") from None
    except salesforce.SalesforceError as exc:
        raise ServiceError(salesforce.describe_error(exc)) from None
    scratch = ScratchOrg.objects.create(
        team=membership.team, dev_hub=hub, scratch_org_info_id=info_id, status="New", requested_by=membership.user,
        requested_alias=alias, org_name=str(fields.get("OrgName", "")), edition=str(fields.get("Edition", "")),
        namespace=str(fields.get("Namespace") or ""), created_date=timezone.now(), last_seen_at=timezone.now())
    audit_record(team=membership.team, actor=membership.user, kind=Kind.SCRATCH_CREATE_REQUESTED,
                 subject=alias or info_id, ip=ip, data={"dev_hub": hub.username, "scratch_org_info": info_id,
                                                        "edition": scratch.edition})
    transaction.on_commit(lambda: task("orgs.tasks.scratch_org_poll_task").apply_async((scratch.pk,), countdown=2))
    return scratch


@sensitive_variables()
def scratch_org_poll(*, scratch_id: int) -> str:
    """Check a requested scratch org once. Returns its status; 'New'/'Creating' means poll again later."""
    with transaction.atomic():
        # The row lock makes a duplicated or redelivered poll wait, then see the work done (AuthCode is single-use).
        scratch = (ScratchOrg.objects.select_for_update(of=("self",))
                   .select_related("dev_hub", "dev_hub__app", "requested_by").get(pk=scratch_id))
        return _poll_locked(scratch)


def _awaiting_authorization(scratch: ScratchOrg) -> bool:
    """Requested here, Active at the hub (perhaps seen first by the inventory sync) but not yet authorized."""
    return (scratch.status == "Active" and scratch.connection_id is None and scratch.requested_by_id is not None
            and scratch.deleted_at is None)


def _poll_locked(scratch: ScratchOrg) -> str:
    if scratch.error_code == "AUTHORIZATION_FAILED" or (
            scratch.status not in PENDING and not _awaiting_authorization(scratch)):
        return scratch.status
    hub = scratch.dev_hub
    client = sf_client()
    info = with_fresh_token(connection_id=hub.pk, call=lambda issued: client.get_scratch_org_info(
        instance_url=issued.instance_url, access_token=issued.access_token,
        api_version=issued.api_version or "68.0", id=scratch.scratch_org_info_id))
    scratch.status, scratch.error_code = info.status, info.error_code or ""
    scratch.org_id = info.scratch_org or scratch.org_id
    scratch.signup_username = (info.signup_username or scratch.signup_username).lower()
    scratch.login_url = info.login_url or scratch.login_url
    scratch.expiration_date = parse_date(info.expiration_date) if info.expiration_date else scratch.expiration_date
    scratch.last_seen_at = timezone.now()
    if info.status == "Active":
        try:
            scratch.connection = _authorize(scratch, info)
        except salesforce.TransientSalesforceError:
            raise  # the poll task tries again later; the AuthCode was not consumed by a failed connection
        except (salesforce.SalesforceError, ServiceError) as exc:
            scratch.error_code = "AUTHORIZATION_FAILED"
            scratch.save()
            audit_record(team=scratch.team, actor=scratch.requested_by, kind=Kind.SCRATCH_CREATE_FAILED,
                         subject=scratch.signup_username, data={"error_code": scratch.error_code,
                                                                 "why": salesforce.describe_error(exc)[:300]
                                                                 if isinstance(exc, salesforce.SalesforceError)
                                                                 else str(exc)[:300]})
            _notify_created(scratch, "create_failed")
            return scratch.status
        scratch.save()
        audit_record(team=scratch.team, actor=scratch.requested_by, kind=Kind.SCRATCH_CREATED,
                     subject=scratch.signup_username, data={"dev_hub": hub.username, "org_id": scratch.org_id})
        _notify_created(scratch, "created")
    elif info.status == "Error":
        scratch.save()
        audit_record(team=scratch.team, actor=scratch.requested_by, kind=Kind.SCRATCH_CREATE_FAILED,
                     subject=scratch.scratch_org_info_id, data={"error_code": scratch.error_code})
        _notify_created(scratch, "create_failed")
    elif timezone.now() - (scratch.created_date or timezone.now()) > timedelta(
            seconds=settings.PORTAL_SCRATCH_CREATE_TIMEOUT):
        scratch.status, scratch.error_code = "Error", "TIMEOUT"
        scratch.save()
        audit_record(team=scratch.team, actor=scratch.requested_by, kind=Kind.SCRATCH_CREATE_FAILED,
                     subject=scratch.scratch_org_info_id, data={"error_code": "TIMEOUT"})
        _notify_created(scratch, "create_failed")
    else:
        scratch.save()
    return scratch.status


def _notify_created(scratch: ScratchOrg, outcome: str) -> None:
    """The requester hears about the end of the creation once: the transition happens once, under the row lock."""
    if scratch.requested_by_id is not None:
        scratch_id = scratch.pk
        transaction.on_commit(lambda: notify_scratch_finished(scratch_id=scratch_id, outcome=outcome))


def _authorize(scratch: ScratchOrg, info: salesforce.ScratchOrgInfo) -> OrgConnection | None:
    """Tokens for the new org: the one-time AuthCode with the hub's app, or a JWT when the hub uses JWT."""
    hub = scratch.dev_hub
    client = sf_client()
    login_url = info.login_url or hub.login_url
    if hub.flow == OrgConnection.Flow.JWT:
        from orgs.services.jwt import jwt_mint

        tokens = jwt_mint(app=hub.app, username=scratch.signup_username, audience=login_url)
    else:
        tokens = with_app_secret(hub.app, lambda secret: client.exchange_code(
            login_url=login_url, client_id=hub.app.consumer_key, client_secret=secret, code=info.auth_code,
            redirect_uri=callback_url(), code_verifier=None))
    facts = fetch_org_facts(client, tokens)
    membership = Membership.objects.select_related("team", "user").get(team=scratch.team, user=scratch.requested_by)
    connection, _, _ = connection_upsert(
        membership=membership, app=hub.app, flow=hub.flow, login_url=login_url, facts=facts, dev_hub=hub,
        alias=scratch.requested_alias or scratch.signup_username.split("@")[0],
        audit_data={"dev_hub": hub.username, "created_in_portal": True})
    return connection


class DeleteRetry(Exception):
    """Salesforce was unavailable while deleting: orgs.tasks.scratch_org_delete_task tries again with backoff."""


def _delete_at_hub(scratch: ScratchOrg) -> None:
    """DELETE the ActiveScratchOrg at the Dev Hub (found by SignupUsername when its id is unknown). Salesforce errors
    propagate; NOT_FOUND / ENTITY_IS_DELETED mean it is gone already and count as done."""
    hub = scratch.dev_hub
    client = sf_client()

    def delete(issued):
        active_id = scratch.active_scratch_org_id
        if not active_id and scratch.signup_username:
            rows = list(client.query(instance_url=issued.instance_url, access_token=issued.access_token,
                                     api_version=issued.api_version or "68.0",
                                     soql="SELECT Id FROM ActiveScratchOrg WHERE SignupUsername = "  # noqa: S608
                                          f"'{_soql_quote(scratch.signup_username)}'"))
            active_id = rows[0]["Id"] if rows else ""
        if active_id:
            client.delete_active_scratch_org(instance_url=issued.instance_url, access_token=issued.access_token,
                                             api_version=issued.api_version or "68.0", id=active_id)

    try:
        with_fresh_token(connection_id=hub.pk, call=delete)
    except salesforce.ApiError as exc:
        if exc.error_code not in ("NOT_FOUND", "ENTITY_IS_DELETED"):
            raise


def _mark_deleted(scratch: ScratchOrg, *, actor, ip: str | None = None) -> None:
    with transaction.atomic():
        ScratchOrg.objects.filter(pk=scratch.pk).update(status="Deleted", deleted_at=timezone.now(), delete_state="",
                                                        delete_error="")
        if scratch.connection_id:
            OrgConnection.objects.filter(pk=scratch.connection_id).delete()
        audit_record(team=scratch.team, actor=actor, kind=Kind.SCRATCH_DELETED, subject=scratch.signup_username,
                     ip=ip, data={"dev_hub": scratch.dev_hub.username, "org_id": scratch.org_id})


def scratch_org_delete(*, actor, scratch: ScratchOrg, ip: str | None = None) -> None:
    """Delete the scratch org at its Dev Hub now (the REST API's DELETE), then forget it here."""
    try:
        _delete_at_hub(scratch)
    except salesforce.ApiError as exc:
        raise ServiceError(f"The Dev Hub refused to delete it: {exc}") from None
    except (salesforce.TransientSalesforceError, SalesforceUnavailableError):
        raise ServiceError("Salesforce is unavailable, try again in a moment. Nothing was deleted.") from None
    _mark_deleted(scratch, actor=actor, ip=ip)


def scratch_org_delete_request(*, actor, scratch: ScratchOrg, ip: str | None = None) -> None:
    """The web page's delete: mark the row "deleting" and let orgs.tasks.scratch_org_delete_task do the work after
    the commit (the page follows it live). A second request while one runs is refused."""
    with transaction.atomic():
        claimed = (ScratchOrg.objects.filter(pk=scratch.pk, deleted_at__isnull=True).exclude(status="Deleted")
                   .exclude(delete_state="deleting")
                   .update(delete_state="deleting", delete_error="", delete_requested_by=actor))
        if not claimed:
            raise ServiceError(f"Scratch org {scratch} is already deleted or being deleted.")
        audit_record(team=scratch.team, actor=actor, kind=Kind.SCRATCH_DELETE_REQUESTED,
                     subject=scratch.signup_username or scratch.scratch_org_info_id, ip=ip,
                     data={"dev_hub": scratch.dev_hub.username, "org_id": scratch.org_id})
    scratch.delete_state, scratch.delete_error, scratch.delete_requested_by = "deleting", "", actor
    transaction.on_commit(lambda: task("orgs.tasks.scratch_org_delete_task").delay(scratch.pk))


def scratch_org_delete_run(*, scratch_id: int, last_attempt: bool = False) -> str:
    """One attempt of a requested deletion. Returns "deleted", "failed" or "" (nothing to do: done already, or the
    row is gone). Raises DeleteRetry while Salesforce is unavailable, unless this is the last attempt; a permanent
    refusal is recorded on the row (delete_error, shown on the page) and in the audit log."""
    with transaction.atomic():
        # The row lock makes a redelivered task wait, then find the work done.
        scratch = (ScratchOrg.objects.select_for_update(of=("self",))
                   .select_related("team", "dev_hub", "delete_requested_by").filter(pk=scratch_id).first())
        if scratch is None or scratch.delete_state != "deleting":
            return ""
        try:
            _delete_at_hub(scratch)
        except (salesforce.TransientSalesforceError, SalesforceUnavailableError):
            if not last_attempt:
                raise DeleteRetry(scratch_id) from None
            why = "Salesforce stayed unavailable; nothing was deleted. Try again later."
        except salesforce.ApiError as exc:
            why = f"The Dev Hub refused to delete it: {exc}"
        except salesforce.SalesforceError as exc:
            why = salesforce.describe_error(exc)
        except ServiceError as exc:  # the Dev Hub needs re-authorization, or its key is unavailable
            why = f"The Dev Hub's connection cannot be used: {exc}"
        else:
            _mark_deleted(scratch, actor=scratch.delete_requested_by)
            transaction.on_commit(lambda: notify_scratch_finished(scratch_id=scratch_id, outcome="deleted"))
            return "deleted"
        ScratchOrg.objects.filter(pk=scratch.pk).update(delete_state="failed", delete_error=why[:500])
        audit_record(team=scratch.team, actor=scratch.delete_requested_by, kind=Kind.SCRATCH_DELETE_FAILED,
                     subject=scratch.signup_username or scratch.scratch_org_info_id, data={"why": why[:300]})
        transaction.on_commit(lambda: notify_scratch_finished(scratch_id=scratch_id, outcome="delete_failed"))
        return "failed"


def _soql_quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")
