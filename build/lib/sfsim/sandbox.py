"""Sandboxes of a production org (SALESFORCE.md 5.6): SandboxInfo and SandboxProcess (Tooling API), the
copy job's stages, the sandbox org a copy produces, refresh, activation, delete and ``tooling/sandboxAuth``.

Like scratch orgs, copies advance lazily: ``advance`` runs at the start of every non-control request and
moves each SandboxProcess through its stages on a timeline of ``sandbox_copy_seconds`` (config):

    Pending (10 %) -> [Sampling (20 %), Partial Copy only] -> Processing (the rest, CopyProgress 0..99)
    -> Completed                                         (create)
    -> Activating (10 %) -> Completed                    (refresh with AutoActivate = true)
    -> Pending Activation -- RefreshAction=ACTIVATE --> Activating -> Completed   (AutoActivate = false)
                          -- RefreshAction=DISCARD ---> Discarded

When a copy reaches Completed the sandbox gets a new org (new 00D id, users copied from production with
``.<sandboxname>`` appended to usernames and ``.invalid`` to emails); a refresh deletes the previous org,
so its users' tokens stop working. Texts that SALESFORCE.md marks "not found in any source" (refresh
interval, license limit, name validation) are the simulator's own wording; the README says which.
"""

from __future__ import annotations

import json
import re
import secrets
import string
from typing import Any

from sfsim import ids
from sfsim.model import CODE_TTL_SECONDS, DEFAULT_SCOPES, AuthCode, ConfigError, Org, User, World, sf_datetime
from sfsim.oauth import Caller
from sfsim.objects import SANDBOX_INFO, SANDBOX_PROCESS, get_row
from sfsim.web import Response, json_response, not_found, rest_error

DAY = 86400.0
# License type -> refresh interval in days (SALESFORCE.md 5.6.4, third-party sources that all agree).
REFRESH_DAYS = {"DEVELOPER": 1, "DEVELOPER_PRO": 1, "PARTIAL": 5, "FULL": 29}
# A Full or Partial sandbox can't be deleted until this many days after its create/refresh (5.6.4).
DELETE_DAYS = {"PARTIAL": 5, "FULL": 29}
LICENSE_LABELS = {
    "DEVELOPER": "Developer",
    "DEVELOPER_PRO": "Developer Pro",
    "PARTIAL": "Partial Copy",
    "FULL": "Full",
}
DEFAULT_LICENSES = {"DEVELOPER": 100, "DEVELOPER_PRO": 10, "PARTIAL": 1, "FULL": 1}
HISTORY_DAYS = (-1, 0, 10, 20, 30, 60, 90, 120, 150, 180)
WRITABLE = (
    "SandboxName",
    "LicenseType",
    "TemplateId",
    "HistoryDays",
    "CopyChatter",
    "CopyArchivedActivities",
    "AutoActivate",
    "ApexClassId",
    "Description",
    "SourceId",
    "ActivationUserGroupId",
    "Features",
    "PostCopyConfig",
)
_BOOLEANS = ("CopyChatter", "CopyArchivedActivities", "AutoActivate")
IN_PROGRESS = ("Pending", "Processing", "Sampling", "Activating")
_NAME_RE = re.compile(r"[A-Za-z0-9]+")
_READ_ONLY_MESSAGE = (
    "Unable to create/update fields: {fields}. Please check the security settings of this field and verify "
    "that it is read/write for your profile or permission set."
)
DUPLICATE_NAME = "duplicate value found: SandboxName duplicates value on record with id: {id}"
BAD_PICKLIST = "{label}: bad value for restricted picklist field: {value}"
NAME_TOO_LONG = "Sandbox Name: data value too large: {value} (max length=10)"
# The next texts are the simulator's own: SALESFORCE.md 5.6.5 found no server text for these situations.
NAME_CHARACTERS = "Sandbox Name: use only letters and numbers (A-Z, a-z, 0-9): {value}"
BOTH_SOURCES = "Specify either LicenseType or SourceId, not both."
NO_LICENSE = "No {label} sandbox licenses are available: all {total} are in use."
REFRESH_TOO_SOON = (
    "The sandbox {name} can't be refreshed until {date}: {label} sandboxes can be refreshed every {days} day(s)."
)
DELETE_TOO_SOON = (
    "The sandbox {name} can't be deleted until {date}: {label} sandboxes can be deleted {days} days after "
    "they were created or refreshed."
)
COPY_IN_PROGRESS = "The sandbox {name} is being copied (status {status}); wait until the copy has finished."
NOT_PENDING_ACTIVATION = "RefreshAction can only be set while the status is Pending Activation (status {status})."
AUTH_NOT_READY = "The sandbox {name} is not ready for authentication: its status is {status}."
AUTH_FAILED = "The sandbox {name} copy failed: {reason}"


def licenses(world: World, org_id: str) -> dict[str, int]:
    return world.sandbox_licenses.get(org_id) or dict(DEFAULT_LICENSES)


def normalize_license(value: Any) -> str | None:
    """'Developer_Pro', 'DEVELOPER PRO', 'developer_pro' -> 'DEVELOPER_PRO'; None when not a license type."""
    if not isinstance(value, str):
        return None
    norm = re.sub(r"[\s_]+", "_", value.strip()).upper()
    return norm if norm in REFRESH_DAYS else None


def _live_infos(world: World, prod_id: str) -> list[dict[str, Any]]:
    return [row for row in world.sandbox_infos.values() if row["_prod"] == prod_id and not row["IsDeleted"]]


def latest_process(world: World, info: dict[str, Any]) -> dict[str, Any] | None:
    return world.sandbox_processes.get(info["_latest"] or "")


def _name_holder(world: World, prod_id: str, name: str) -> dict[str, Any] | None:
    """The SandboxInfo that holds a name: a live one, or one whose sandbox is still being deleted."""
    for row in world.sandbox_infos.values():
        if row["_prod"] != prod_id or row["SandboxName"].lower() != name.lower():
            continue
        if not row["IsDeleted"]:
            return row
        process = latest_process(world, row)
        if process is not None and process["Status"] == "Deleting":
            return row
    return None


def _license_problem(world: World, prod_id: str, license_type: str, exclude: str | None = None) -> str | None:
    total = licenses(world, prod_id).get(license_type, 0)
    used = sum(1 for row in _live_infos(world, prod_id) if row["LicenseType"] == license_type and row["Id"] != exclude)
    if used >= total:
        return NO_LICENSE.format(label=LICENSE_LABELS[license_type], total=total)
    return None


# -- REST: SandboxInfo create / update (refresh) / delete -----------------------------------------------


def _check_body(body: Any) -> dict[str, Any] | Response:
    if not isinstance(body, dict):
        return rest_error(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
    body = {k: v for k, v in body.items() if k not in ("attributes", "Id")}
    unknown = [key for key in body if SANDBOX_INFO.field(key) is None]
    if unknown:
        return rest_error(400, "INVALID_FIELD", f"No such column '{unknown[0]}' on sobject of type SandboxInfo")
    body = {SANDBOX_INFO.field(key) or key: value for key, value in body.items()}
    read_only = [key for key in body if key not in WRITABLE]
    if read_only:
        return rest_error(
            400,
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            _READ_ONLY_MESSAGE.format(fields=", ".join(read_only)),
            read_only,
        )
    for name in _BOOLEANS:
        if name in body and body[name] is not None and not isinstance(body[name], bool):
            return rest_error(400, "JSON_PARSER_ERROR", f"Cannot deserialize instance of boolean from {name}")
    days = body.get("HistoryDays")
    if days is not None and (isinstance(days, bool) or days not in HISTORY_DAYS):
        return rest_error(
            400,
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            BAD_PICKLIST.format(label="History Days", value=days),
            ["HistoryDays"],
        )
    description = body.get("Description")
    if isinstance(description, str) and len(description) > 1000:
        return rest_error(
            400,
            "STRING_TOO_LONG",
            f"Description: data value too large: {description[:40]}... (max length=1000)",
            ["Description"],
        )
    for name in ("Features", "PostCopyConfig"):
        if isinstance(body.get(name), list | dict):
            body[name] = json.dumps(body[name])  # sfdx-core sends arrays as JSON strings
    return body


def _name_problem(name: Any) -> Response | None:
    if name is None or name == "":
        return rest_error(400, "REQUIRED_FIELD_MISSING", "Required fields are missing: [SandboxName]", ["SandboxName"])
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        return rest_error(400, "FIELD_INTEGRITY_EXCEPTION", NAME_CHARACTERS.format(value=name), ["SandboxName"])
    if len(name) > 10:
        return rest_error(400, "STRING_TOO_LONG", NAME_TOO_LONG.format(value=name), ["SandboxName"])
    return None


def _bad_license(value: Any) -> Response:
    shown = "undefined" if value is None else value
    return rest_error(
        400,
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        BAD_PICKLIST.format(label="License Type", value=shown),
        ["LicenseType"],
    )


def create_info(world: World, caller: Caller, body: Any) -> Response:
    """POST /services/data/vNN.N/tooling/sobjects/SandboxInfo: a new sandbox and its first SandboxProcess."""
    checked = _check_body(body)
    if isinstance(checked, Response):
        return checked
    prod = caller.org
    name = checked.get("SandboxName")
    problem = _name_problem(name)
    if problem is not None:
        return problem
    source = None
    if checked.get("SourceId"):
        if checked.get("LicenseType"):
            return rest_error(400, "FIELD_INTEGRITY_EXCEPTION", BOTH_SOURCES, ["LicenseType", "SourceId"])
        source = get_row(world, SANDBOX_INFO, prod, str(checked["SourceId"]))
        if source is None:
            return rest_error(400, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", ["SourceId"])
        license_type = source["LicenseType"]
    else:
        if checked.get("LicenseType") is None:
            return rest_error(
                400, "REQUIRED_FIELD_MISSING", "Required fields are missing: [LicenseType]", ["LicenseType"]
            )
        license_type = normalize_license(checked["LicenseType"])
        if license_type is None:
            return _bad_license(checked["LicenseType"])
    holder = _name_holder(world, prod.id, name)
    if holder is not None:
        return rest_error(400, "DUPLICATE_VALUE", DUPLICATE_NAME.format(id=holder["Id"]), ["SandboxName"])
    no_license = _license_problem(world, prod.id, license_type)
    if no_license is not None:
        return rest_error(400, "LIMIT_EXCEEDED", no_license, ["LicenseType"])
    now = world.now()
    info = new_info(world, prod, caller.user, {**checked, "LicenseType": license_type}, now)
    if source is not None:
        info["SourceId"] = source["Id"]
    start_process(world, info, caller.user, now, refresh=False)
    return json_response(201, {"id": info["Id"], "success": True, "errors": []})


def new_info(world: World, prod: Org, user: User, fields: dict[str, Any], now: float) -> dict[str, Any]:
    stamp = sf_datetime(now)
    row: dict[str, Any] = {name: None for name in SANDBOX_INFO.fields}
    row.update(fields)
    row.update(
        Id=world.new_id(ids.SANDBOX_INFO_PREFIX, world.sandbox_infos),
        IsDeleted=False,
        CreatedDate=stamp,
        CreatedById=user.id,
        LastModifiedDate=stamp,
        LastModifiedById=user.id,
        SystemModstamp=stamp,
        HistoryDays=row["HistoryDays"] if row["HistoryDays"] is not None else 0,
        CopyChatter=bool(row["CopyChatter"]),
        CopyArchivedActivities=bool(row["CopyArchivedActivities"]),
        AutoActivate=bool(row["AutoActivate"]),
        _prod=prod.id,
        _org=None,  # the sandbox's current org id (18), once a copy has completed
        _last_copy=None,  # when the last copy completed (refresh and delete intervals count from it)
        _latest=None,  # the newest SandboxProcess id
        _users={},  # production user id -> sandbox user id
    )
    world.sandbox_infos[row["Id"]] = row
    return row


def _stages(world: World, license_type: str, *, refresh: bool, auto_activate: bool) -> list[tuple[str, float]]:
    total = world.config.sandbox_copy_seconds
    stages = [("Pending", 0.1 * total)]
    if license_type == "PARTIAL":
        stages.append(("Sampling", 0.2 * total))
    stages.append(("Processing", total - sum(seconds for _, seconds in stages)))
    if not refresh:
        return [*stages, ("Completed", 0.0)]
    if auto_activate:
        return [*stages, ("Activating", 0.1 * total), ("Completed", 0.0)]
    return [*stages, ("Pending Activation", 0.0)]


def start_process(world: World, info: dict[str, Any], user: User, now: float, *, refresh: bool) -> dict[str, Any]:
    """A new SandboxProcess in Pending (every create or refresh makes one)."""
    stamp = sf_datetime(now)
    process: dict[str, Any] = {name: None for name in SANDBOX_PROCESS.fields}
    for name in ("SandboxName", "LicenseType", "Description", "SourceId", "ApexClassId", "Features"):
        process[name] = info[name]
    stages = _stages(world, info["LicenseType"], refresh=refresh, auto_activate=bool(info["AutoActivate"]))
    first, seconds = stages.pop(0)
    process.update(
        Id=world.new_id(ids.SANDBOX_PROCESS_PREFIX, world.sandbox_processes),
        IsDeleted=False,
        CreatedDate=stamp,
        CreatedById=user.id,
        LastModifiedDate=stamp,
        LastModifiedById=user.id,
        SystemModstamp=stamp,
        SandboxInfoId=info["Id"],
        Status=first,
        CopyProgress=0,
        StartDate=stamp,
        _prod=info["_prod"],
        _refresh=refresh,
        _stages=stages,
        _stage_start=now,
        _stage_end=now + seconds,
        _failure=None,
        _activated_by=None,
    )
    world.sandbox_processes[process["Id"]] = process
    info["_latest"] = process["Id"]
    world.pending_sandbox.append(process["Id"])
    return process


def update_info(world: World, caller: Caller, record_id: str, body: Any) -> Response:
    """PATCH .../tooling/sobjects/SandboxInfo/<0GQ>: a refresh (a new SandboxProcess); 204 No Content."""
    info = get_row(world, SANDBOX_INFO, caller.org, record_id)
    if info is None:
        return not_found()
    checked = _check_body(body)
    if isinstance(checked, Response):
        return checked
    name = checked.get("SandboxName", info["SandboxName"])
    if not isinstance(name, str) or name.lower() != info["SandboxName"].lower():
        return rest_error(
            400, "FIELD_INTEGRITY_EXCEPTION", "SandboxName can't be changed by a refresh.", ["SandboxName"]
        )
    license_type = normalize_license(checked.get("LicenseType"))
    if license_type is None:
        return _bad_license(checked.get("LicenseType"))
    source = None
    if checked.get("SourceId"):
        source = get_row(world, SANDBOX_INFO, caller.org, str(checked["SourceId"]))
        if source is None or source["Id"] == info["Id"]:
            return rest_error(400, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", ["SourceId"])
        license_type = source["LicenseType"]
    process = latest_process(world, info)
    if process is not None and process["Status"] in (*IN_PROGRESS, "Pending Activation"):
        return rest_error(
            400,
            "FIELD_INTEGRITY_EXCEPTION",
            COPY_IN_PROGRESS.format(name=info["SandboxName"], status=process["Status"]),
        )
    now = world.now()
    if info["_last_copy"] is not None:
        days = REFRESH_DAYS[info["LicenseType"]]
        ready = info["_last_copy"] + days * DAY
        if now < ready:
            message = REFRESH_TOO_SOON.format(
                name=info["SandboxName"],
                date=sf_datetime(ready),
                label=LICENSE_LABELS[info["LicenseType"]],
                days=days,
            )
            return rest_error(400, "FIELD_INTEGRITY_EXCEPTION", message)
    if license_type != info["LicenseType"]:
        no_license = _license_problem(world, caller.org.id, license_type, exclude=info["Id"])
        if no_license is not None:
            return rest_error(400, "LIMIT_EXCEEDED", no_license, ["LicenseType"])
    stamp = sf_datetime(now)
    info.update({k: v for k, v in checked.items() if k != "SandboxName"})
    info.update(
        LicenseType=license_type,
        SourceId=source["Id"] if source is not None else None,
        AutoActivate=bool(info["AutoActivate"]),
        CopyChatter=bool(info["CopyChatter"]),
        CopyArchivedActivities=bool(info["CopyArchivedActivities"]),
        LastModifiedDate=stamp,
        LastModifiedById=caller.user.id,
        SystemModstamp=stamp,
    )
    start_process(world, info, caller.user, now, refresh=True)
    return Response(204, b"", None)


def delete_info(world: World, caller: Caller, record_id: str) -> Response:
    """DELETE .../tooling/sobjects/SandboxInfo/<0GQ>: deletes the sandbox org and frees the license; 204."""
    info = get_row(world, SANDBOX_INFO, caller.org, record_id)
    if info is None:
        return not_found()
    now = world.now()
    wait_days = DELETE_DAYS.get(info["LicenseType"])
    if wait_days is not None and info["_last_copy"] is not None and now < info["_last_copy"] + wait_days * DAY:
        message = DELETE_TOO_SOON.format(
            name=info["SandboxName"],
            date=sf_datetime(info["_last_copy"] + wait_days * DAY),
            label=LICENSE_LABELS[info["LicenseType"]],
            days=wait_days,
        )
        return rest_error(400, "FIELD_INTEGRITY_EXCEPTION", message)
    stamp = sf_datetime(now)
    info.update(IsDeleted=True, LastModifiedDate=stamp, LastModifiedById=caller.user.id, SystemModstamp=stamp)
    if info["_org"] is not None:
        world.delete_org(info["_org"])
    process = latest_process(world, info)
    if process is not None:
        process.update(
            Status="Deleting",
            LastModifiedDate=stamp,
            LastModifiedById=caller.user.id,
            SystemModstamp=stamp,
            _stages=[("Deleted", 0.0)],
            _stage_start=now,
            _stage_end=now + 0.1 * world.config.sandbox_copy_seconds,
        )
        if process["Id"] not in world.pending_sandbox:
            world.pending_sandbox.append(process["Id"])
    return Response(204, b"", None)


def update_process(world: World, caller: Caller, record_id: str, body: Any) -> Response:
    """PATCH .../tooling/sobjects/SandboxProcess/<0GR> with RefreshAction ACTIVATE or DISCARD (the only
    writable field) while the refresh waits in Pending Activation."""
    process = get_row(world, SANDBOX_PROCESS, caller.org, record_id)
    if process is None:
        return not_found()
    if not isinstance(body, dict):
        return rest_error(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
    fields = [SANDBOX_PROCESS.field(key) or key for key in body if key not in ("attributes", "Id")]
    unknown = [key for key in fields if SANDBOX_PROCESS.field(key) is None]
    if unknown:
        return rest_error(400, "INVALID_FIELD", f"No such column '{unknown[0]}' on sobject of type SandboxProcess")
    read_only = [key for key in fields if key != "RefreshAction"]
    if read_only:
        return rest_error(
            400, "INVALID_FIELD_FOR_INSERT_UPDATE", _READ_ONLY_MESSAGE.format(fields=", ".join(read_only)), read_only
        )
    action = next((v for k, v in body.items() if k.lower() == "refreshaction"), None)
    action = action.upper() if isinstance(action, str) else action
    if action not in ("ACTIVATE", "DISCARD"):
        return rest_error(
            400,
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            BAD_PICKLIST.format(label="Refresh Action", value=action),
            ["RefreshAction"],
        )
    if process["Status"] != "Pending Activation":
        return rest_error(400, "FIELD_INTEGRITY_EXCEPTION", NOT_PENDING_ACTIVATION.format(status=process["Status"]))
    now = world.now()
    stamp = sf_datetime(now)
    process.update(RefreshAction=action, LastModifiedDate=stamp, LastModifiedById=caller.user.id, SystemModstamp=stamp)
    if action == "DISCARD":
        process.update(Status="Discarded", _stages=[])
        return Response(204, b"", None)
    process.update(
        Status="Activating",
        _activated_by=caller.user.id,
        _stages=[("Completed", 0.0)],
        _stage_start=now,
        _stage_end=now + 0.1 * world.config.sandbox_copy_seconds,
    )
    world.pending_sandbox.append(process["Id"])
    return Response(204, b"", None)


# -- the copy job ---------------------------------------------------------------------------------------


def advance(world: World) -> None:
    """Move every running SandboxProcess along its stages (runs before each non-control request)."""
    if not world.pending_sandbox:
        return
    now = world.now()
    waiting = []
    for process_id in world.pending_sandbox:
        process = world.sandbox_processes.get(process_id)
        if process is None:
            continue
        while process["_stages"] and now >= process["_stage_end"]:
            step(world, process, min(process["_stage_end"], now))
        if process["Status"] == "Processing":
            span = process["_stage_end"] - process["_stage_start"]
            done = (now - process["_stage_start"]) / span if span > 0 else 1.0
            process["CopyProgress"] = max(process["CopyProgress"] or 0, min(99, int(done * 100)))
        if process["_stages"] and process_id not in waiting:
            waiting.append(process_id)
    world.pending_sandbox = waiting


def step(world: World, process: dict[str, Any], at: float) -> None:
    """Enter the process's next stage at time ``at``."""
    status, seconds = process["_stages"].pop(0)
    stamp = sf_datetime(at)
    process.update(
        Status=status, LastModifiedDate=stamp, SystemModstamp=stamp, _stage_start=at, _stage_end=at + seconds
    )
    if status in ("Activating", "Pending Activation", "Completed"):
        process["CopyProgress"] = 100
    if status == "Pending Activation":
        process["EndDate"] = stamp
    if status == "Completed":
        process["EndDate"] = process["EndDate"] or stamp
        _complete(world, process, at)


def _complete(world: World, process: dict[str, Any], at: float) -> None:
    info = world.sandbox_infos.get(process["SandboxInfoId"])
    prod = world.orgs.get(process["_prod"])
    if info is None or info["IsDeleted"] or prod is None:
        return
    org = make_sandbox_org(world, prod, info, at)
    info["_last_copy"] = at
    process["SandboxOrganization"] = ids.to15(org.id)
    if process["_refresh"]:
        process["ActivatedDate"] = sf_datetime(at)
        process["ActivatedById"] = process["_activated_by"] or process["CreatedById"]


def instance_url_for(world: World, prod: Org, sandbox_name: str) -> str | None:
    """None (the simulator's base URL) unless ``sandbox_instance_url_template`` is configured."""
    template = world.config.sandbox_instance_url_template
    if not template:
        return None
    if prod.instance_url:
        host = prod.instance_url.split("://", 1)[-1]
        my_domain = host.split(".", 1)[0]
    else:
        my_domain = re.sub(r"[^a-z0-9]", "", prod.name.lower()) or "org"
    return template.format(mydomain=my_domain, sandbox=sandbox_name.lower(), base=world.base_url)


def make_sandbox_org(world: World, prod: Org, info: dict[str, Any], at: float, *, copy_users: bool = True) -> Org:
    """The org a completed copy produces (a refresh first deletes the previous one and its tokens)."""
    if info["_org"] is not None:
        world.delete_org(info["_org"])
    name = info["SandboxName"]
    org = Org(
        id=world.new_id(ids.ORG_PREFIX, world.orgs),
        name=prod.name,
        kind="sandbox",
        edition=prod.edition,
        instance_name="CS" + str(100 + len(world.orgs) % 900),
        namespace=prod.namespace,
        instance_url=instance_url_for(world, prod, name),
        created_date=sf_datetime(at),
    )
    world.orgs[org.id] = org
    info["_org"] = org.id
    source = world.sandbox_infos.get(info["SourceId"] or "")
    mapping: dict[str, str] = {}
    if copy_users:
        for user in [u for u in world.users.values() if u.org_id == prod.id]:
            if source is not None and user.id not in source["_users"]:
                continue  # a clone copies the users of its source sandbox
            copy = User(
                id=world.new_id(ids.USER_PREFIX, world.users),
                org_id=org.id,
                username=_free_username(world, f"{user.username}.{name.lower()}"),
                email=f"{user.email}.invalid",
                first_name=user.first_name,
                last_name=user.last_name,
                password=user.password,
                high_assurance=user.high_assurance,
                active=user.active,
                created_date=sf_datetime(at),
            )
            world.add_user(copy)
            mapping[user.id] = copy.id
    info["_users"] = mapping
    return org


def _free_username(world: World, username: str) -> str:
    """``user@acme.com.test``, or with a random prefix (``00x7Vquser@acme.com.test``) when that is taken."""
    candidate = username
    alphabet = string.ascii_letters + string.digits
    while world.user_by_username(candidate) is not None:
        candidate = "00" + "".join(secrets.choice(alphabet) for _ in range(4)) + username
    return candidate


# -- tooling/sandboxAuth ----------------------------------------------------------------------------------


def sandbox_auth(world: World, caller: Caller, body: Any) -> Response:
    """POST {prod}/services/data/vNN.N/tooling/sandboxAuth {clientId, sandboxName, callbackUrl}
    -> {authUserName, authCode, instanceUrl, loginUrl} for the caller's copy in the sandbox."""
    if not isinstance(body, dict):
        return rest_error(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
    missing = [
        key for key in ("clientId", "sandboxName", "callbackUrl") if not isinstance(body.get(key), str) or not body[key]
    ]
    if missing:
        return rest_error(
            400, "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", missing
        )
    app = world.apps.get(body["clientId"])
    if app is None:
        return rest_error(400, "INVALID_INPUT", f"invalid client id: {body['clientId']}")
    if body["callbackUrl"] not in app.callback_urls:
        return rest_error(400, "INVALID_INPUT", "The callback URL provided is not valid")
    info = next(
        (row for row in _live_infos(world, caller.org.id) if row["SandboxName"].lower() == body["sandboxName"].lower()),
        None,
    )
    if info is None:
        return rest_error(404, "NOT_FOUND", f"No sandbox named {body['sandboxName']} was found")
    process = latest_process(world, info)
    status = process["Status"] if process is not None else "Pending"
    if process is not None and process["_failure"] is not None:
        return rest_error(
            400, "INVALID_STATUS", AUTH_FAILED.format(name=info["SandboxName"], reason=process["_failure"])
        )
    org = world.orgs.get(info["_org"] or "")
    if org is None or status in IN_PROGRESS:
        return rest_error(400, "INVALID_STATUS", AUTH_NOT_READY.format(name=info["SandboxName"], status=status))
    user = world.users.get(info["_users"].get(caller.user.id, ""))
    if user is None or not user.active:
        return rest_error(
            400,
            "INVALID_STATUS",
            f"The user {caller.user.username} has no active user in sandbox {info['SandboxName']}",
        )
    code = ids.new_auth_code()
    world.prune()
    world.codes[code] = AuthCode(
        client_id=app.consumer_key,
        redirect_uri=body["callbackUrl"],
        user_id=user.id,
        scopes=app.scopes or DEFAULT_SCOPES,
        code_challenge=None,
        expires=world.now() + CODE_TTL_SECONDS,
    )
    return json_response(
        200,
        {
            "authUserName": user.username,
            "authCode": code,
            "instanceUrl": world.instance_url(org),
            "loginUrl": world.base_url,
        },
    )


# -- control API helpers ----------------------------------------------------------------------------------


def find_process(world: World, ref: str, prod_id: str | None) -> dict[str, Any]:
    """A SandboxProcess by 0GR id, or the newest one of a sandbox given by 0GQ id or name."""
    rid = ids.normalize_id(ref)
    if rid is not None and rid in world.sandbox_processes:
        return world.sandbox_processes[rid]
    if rid is not None and rid in world.sandbox_infos:
        info = world.sandbox_infos[rid]
    else:
        matches = [
            row
            for row in world.sandbox_infos.values()
            if row["SandboxName"].lower() == ref.lower()
            and (prod_id is None or row["_prod"] == prod_id)
            and not row["IsDeleted"]
        ]
        if not matches:
            raise ConfigError(f"unknown sandbox {ref!r}")
        if len(matches) > 1:
            raise ConfigError(f"several production orgs have a sandbox {ref!r}: pass 'org'")
        info = matches[0]
    process = latest_process(world, info)
    if process is None:
        raise ConfigError(f"sandbox {ref!r} has no SandboxProcess")
    return process


def advance_to(world: World, process: dict[str, Any], target: str, progress: int | None = None) -> None:
    """Control API: step a process through its stages until it reaches ``target`` (now)."""
    now = world.now()
    upcoming = [status for status, _ in process["_stages"]]
    if target != process["Status"] and target not in upcoming:
        raise ConfigError(
            f"process {process['Id']} is {process['Status']}; it can reach {upcoming or 'no further stage'}"
        )
    while process["Status"] != target:
        step(world, process, now)
    if progress is not None:
        if target != "Processing":
            raise ConfigError("copy_progress only applies to Processing")
        span = process["_stage_end"] - process["_stage_start"]
        process["_stage_start"] = now - span * progress / 100
        process["_stage_end"] = process["_stage_start"] + span
        process["CopyProgress"] = progress
    if not process["_stages"] and process["Id"] in world.pending_sandbox:
        world.pending_sandbox.remove(process["Id"])


def fail(world: World, process: dict[str, Any], reason: str) -> None:
    if process["Status"] not in IN_PROGRESS:
        raise ConfigError(f"process {process['Id']} is {process['Status']}; only a running copy can fail")
    stamp = sf_datetime(world.now())
    process.update(
        Status="Failed", EndDate=stamp, LastModifiedDate=stamp, SystemModstamp=stamp, _stages=[], _failure=reason
    )
    if process["Id"] in world.pending_sandbox:
        world.pending_sandbox.remove(process["Id"])


def seed(
    world: World,
    prod: Org,
    names: list[str],
    license_type: str,
    *,
    copy_users: bool,
    last_copy_days_ago: float,
) -> list[dict[str, Any]]:
    """Control API: sandboxes whose copy completed ``last_copy_days_ago`` days ago (no stepping, no HTTP)."""
    if prod.kind != "production":
        raise ConfigError("sandboxes belong to production orgs")
    creator = next((u for u in world.users.values() if u.org_id == prod.id and u.active), None)
    if creator is None:
        raise ConfigError("the production org needs an active user to own its sandboxes")
    taken = {row["SandboxName"].lower() for row in _live_infos(world, prod.id)}
    for name in names:
        if _name_problem(name) is not None:
            raise ConfigError(f"invalid sandbox name {name!r}: 1-10 letters and digits")
        if name.lower() in taken:
            raise ConfigError(f"sandbox name {name!r} is already used in org {prod.id}")
        taken.add(name.lower())
    total = licenses(world, prod.id).get(license_type, 0)
    used = sum(1 for row in _live_infos(world, prod.id) if row["LicenseType"] == license_type)
    if used + len(names) > total:
        raise ConfigError(f"{license_type}: {used} of {total} licenses in use; set more with sandboxes/licenses")
    at = world.now() - last_copy_days_ago * DAY
    created = []
    for name in names:
        info = new_info(world, prod, creator, {"SandboxName": name, "LicenseType": license_type}, at)
        process = start_process(world, info, creator, at, refresh=False)
        world.pending_sandbox.remove(process["Id"])
        stamp = sf_datetime(at)
        process.update(Status="Completed", CopyProgress=100, EndDate=stamp, _stages=[])
        org = make_sandbox_org(world, prod, info, at, copy_users=copy_users)
        info["_last_copy"] = at
        process["SandboxOrganization"] = ids.to15(org.id)
        created.append(describe(world, info))
    return created


def describe(world: World, info: dict[str, Any]) -> dict[str, Any]:
    """Control API view of one sandbox (public fields plus what tests need to find its org)."""
    process = latest_process(world, info)
    users = [world.users[uid].username for uid in info["_users"].values() if uid in world.users]
    return {
        "SandboxInfoId": info["Id"],
        "SandboxName": info["SandboxName"],
        "LicenseType": info["LicenseType"],
        "production_org_id": info["_prod"],
        "org_id": info["_org"],
        "usernames": users,
        "SandboxProcessId": process["Id"] if process else None,
        "Status": process["Status"] if process else None,
        "CopyProgress": process["CopyProgress"] if process else None,
        "failure": process["_failure"] if process else None,
        "last_copy": sf_datetime(info["_last_copy"]) if info["_last_copy"] is not None else None,
    }
