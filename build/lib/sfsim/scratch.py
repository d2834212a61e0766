"""Scratch-org lifecycle on a Dev Hub: create ScratchOrgInfo, New -> Active|Error, delete ActiveScratchOrg.

Transitions are evaluated lazily (``advance`` runs at the start of every non-control request), so no
timer threads are needed. An ``Edition`` that is not a known edition (e.g. "Invalid") ends in
Status=Error with ErrorCode ``C-1033``.
"""

from __future__ import annotations

import secrets
import string
from typing import Any

from sfsim import ids
from sfsim.fixture import add_active_scratch_row
from sfsim.model import CODE_TTL_SECONDS, DEFAULT_SCOPES, AuthCode, Org, User, World, sf_date, sf_datetime
from sfsim.oauth import Caller
from sfsim.objects import ACTIVE_SCRATCH_ORG, SCRATCH_ORG_INFO, get_row
from sfsim.web import Response, json_response, not_found, rest_error

EDITIONS = {
    name.lower(): name
    for name in (
        "Developer",
        "Enterprise",
        "Group",
        "Professional",
        "Partner Developer",
        "Partner Enterprise",
        "Partner Group",
        "Partner Professional",
    )
}
INVALID_EDITION_ERROR_CODE = "C-1033"
REQUIRED = ("ConnectedAppConsumerKey", "ConnectedAppCallbackUrl")
CREATABLE = (
    "OrgName",
    "Edition",
    "Description",
    "Features",
    "Namespace",
    "Release",
    "SourceOrg",
    "Snapshot",
    "Country",
    "Language",
    "HasSampleData",
    "DurationDays",
    "AdminEmail",
    "Username",
    "ConnectedAppConsumerKey",
    "ConnectedAppCallbackUrl",
    "Package2AncestorIds",
)
_READ_ONLY_MESSAGE = (
    "Unable to create/update fields: {fields}. Please check the security settings of this field and verify "
    "that it is read/write for your profile or permission set."
)
_DUPLICATE_USERNAME = (
    "The username already exists in this or another Salesforce org. Usernames must be unique across all "
    "Salesforce orgs."
)


def create_info(world: World, caller: Caller, body: Any) -> Response:
    """POST /services/data/vXX.X/sobjects/ScratchOrgInfo."""
    if not isinstance(body, dict):
        return rest_error(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
    problem = _validate(world, body)
    if problem is not None:
        return problem
    now = world.now()
    row: dict[str, Any] = {name: None for name in SCRATCH_ORG_INFO.fields}
    row.update({key: body[key] for key in body})
    record_id = world.new_id(ids.SCRATCH_ORG_INFO_PREFIX, world.scratch_infos)
    stamp = sf_datetime(now)
    row.update(
        Id=record_id,
        Name=f"{len(world.scratch_infos) + 1:08d}",
        Status="New",
        CreatedDate=stamp,
        LastModifiedDate=stamp,
        CreatedById=caller.user.id,
        LastModifiedById=caller.user.id,
        OwnerId=caller.user.id,
        Edition=row["Edition"] or "Developer",
        OrgName=row["OrgName"] or "Company",
        DurationDays=row["DurationDays"] or 7,
        Username=row["Username"].lower() if isinstance(row["Username"], str) else None,
        _devhub=caller.org.id,
        _ready_at=now + world.config.scratch_create_seconds,
    )
    world.scratch_infos[record_id] = row
    world.pending_scratch.append(record_id)
    return json_response(201, {"id": record_id, "success": True, "errors": []})


def _validate(world: World, body: dict[str, Any]) -> Response | None:
    unknown = [key for key in body if key not in SCRATCH_ORG_INFO.fields and key != "attributes"]
    if unknown:
        return rest_error(
            400, "INVALID_FIELD", f"No such column '{unknown[0]}' on sobject of type ScratchOrgInfo"
        )
    read_only = [key for key in body if key not in CREATABLE and key != "attributes"]
    if read_only:
        return rest_error(
            400,
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            _READ_ONLY_MESSAGE.format(fields=", ".join(read_only)),
            read_only,
        )
    body.pop("attributes", None)
    missing = [name for name in REQUIRED if not body.get(name)]
    if missing:
        return rest_error(
            400, "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", missing
        )
    days = body.get("DurationDays")
    if days is not None and (isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 30):
        return rest_error(
            400,
            "NUMBER_OUTSIDE_VALID_RANGE",
            f"Duration Days: value outside of valid range on numeric field: {days}",
            ["DurationDays"],
        )
    username = body.get("Username")
    if username is not None and world.user_by_username(str(username)) is not None:
        return rest_error(400, "DUPLICATE_USERNAME", _DUPLICATE_USERNAME, ["Username"])
    return None


def advance(world: World) -> None:
    """Move every New row whose creation delay has passed to Active (or Error)."""
    if not world.pending_scratch:
        return
    now = world.now()
    waiting = []
    for record_id in world.pending_scratch:
        row = world.scratch_infos.get(record_id)
        if row is None or row["Status"] != "New":
            continue
        if row["_ready_at"] > now:
            waiting.append(record_id)
        else:
            _finish(world, row, now)
    world.pending_scratch = waiting


def _finish(world: World, row: dict[str, Any], now: float) -> None:
    row["LastModifiedDate"] = sf_datetime(now)
    edition = EDITIONS.get(str(row["Edition"]).lower())
    username = row["Username"] or _generated_username()
    if edition is None:
        row.update(Status="Error", ErrorCode=INVALID_EDITION_ERROR_CODE)
        return
    if world.user_by_username(username) is not None:
        row.update(Status="Error", ErrorCode="C-1019")
        return
    days = int(row["DurationDays"])
    expiration = sf_date(now + days * 86400)
    org = Org(
        id=world.new_id(ids.ORG_PREFIX, world.orgs),
        name=row["OrgName"],
        kind="scratch",
        edition=f"{edition} Edition",
        instance_name="CS" + str(100 + len(world.orgs) % 900),
        namespace=row["Namespace"],
        trial_expiration=expiration,
        created_date=sf_datetime(now),
    )
    world.orgs[org.id] = org
    creator = world.users.get(row["CreatedById"])
    email = row["AdminEmail"] or (creator.email if creator else username)
    user = User(
        id=world.new_id(ids.USER_PREFIX, world.users),
        org_id=org.id,
        username=username,
        email=email,
        first_name="User",
        last_name="User",
        created_date=sf_datetime(now),
    )
    world.add_user(user)
    row.update(
        Status="Active",
        ScratchOrg=ids.to15(org.id),
        SignupUsername=username,
        SignupEmail=email,
        SignupInstance=org.instance_name,
        SignupCountry=row["Country"] or "US",
        SignupLanguage=row["Language"] or "en_US",
        SignupTrialDays=days,
        LoginUrl=world.instance_url(org),
        ExpirationDate=expiration,
        AuthCode=_issue_auth_code(world, row, user, now),
    )
    add_active_scratch_row(world, row)


def _generated_username() -> str:
    alphabet = string.ascii_lowercase + string.digits
    return "test-" + "".join(secrets.choice(alphabet) for _ in range(12)) + "@example.com"


def _issue_auth_code(world: World, row: dict[str, Any], user: User, now: float) -> str:
    """The one-time AuthCode: exchangeable with client_id=ConnectedAppConsumerKey, no PKCE."""
    app = world.apps.get(row["ConnectedAppConsumerKey"])
    code = ids.new_auth_code()
    world.codes[code] = AuthCode(
        client_id=row["ConnectedAppConsumerKey"],
        redirect_uri=row["ConnectedAppCallbackUrl"],
        user_id=user.id,
        scopes=app.scopes if app else DEFAULT_SCOPES,
        code_challenge=None,
        expires=now + CODE_TTL_SECONDS,
    )
    return code


def delete_active(world: World, caller: Caller, record_id: str) -> Response:
    """DELETE ActiveScratchOrg/<id>: deletes the org; its ScratchOrgInfo becomes Deleted."""
    row = get_row(world, ACTIVE_SCRATCH_ORG, caller.org, record_id)
    if row is None:
        return not_found()
    world.delete_org(ids.to18(row["ScratchOrg"]))
    del world.active_scratch[row["Id"]]
    info = world.scratch_infos.get(row["ScratchOrgInfoId"])
    if info is not None:
        stamp = sf_datetime(world.now())
        info.update(
            Status="Deleted",
            DeletedDate=stamp,
            DeletedById=caller.user.id,
            LastModifiedDate=stamp,
            LastModifiedById=caller.user.id,
        )
    return Response(204, b"", None)
