"""The four sObjects the simulator knows, their rows, and SOQL evaluation over them."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sfsim import ids
from sfsim.model import Org, User, World
from sfsim.soql import BoolOp, Compare, InList, Literal, Not, Query, SoqlError, parse_datetime

_SYSTEM_FIELDS = frozenset(
    {"Id", "Name", "CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById", "OwnerId"}
)


@dataclass(frozen=True)
class SObjectType:
    name: str
    key_prefix: str
    fields: dict[str, str]  # canonical field name -> id | string | boolean | int | date | datetime
    relationships: dict[str, tuple[str, str]]  # relationship name -> (id field, target type)
    hub_only: bool = False
    tooling: bool = False  # Tooling API only (/services/data/vNN.N/tooling/...), production orgs only

    def field(self, name: str) -> str | None:
        return _lower_map(self.fields).get(name.lower())

    def relationship(self, name: str) -> str | None:
        return _lower_map(self.relationships).get(name.lower())


@functools.cache
def _lower_map_cached(keys: tuple[str, ...]) -> dict[str, str]:
    return {key.lower(): key for key in keys}


def _lower_map(mapping: dict[str, Any]) -> dict[str, str]:
    return _lower_map_cached(tuple(mapping))


_USER_RELS = {
    "CreatedBy": ("CreatedById", "User"),
    "LastModifiedBy": ("LastModifiedById", "User"),
    "Owner": ("OwnerId", "User"),
}

ORGANIZATION = SObjectType(
    "Organization",
    ids.ORG_PREFIX,
    {
        "Id": "id",
        "Name": "string",
        "InstanceName": "string",
        "IsSandbox": "boolean",
        "TrialExpirationDate": "datetime",
        "NamespacePrefix": "string",
        "OrganizationType": "string",
        "Country": "string",
        "DefaultLocaleSidKey": "string",
        "LanguageLocaleKey": "string",
        "TimeZoneSidKey": "string",
        "CreatedDate": "datetime",
    },
    {},
)
USER = SObjectType(
    "User",
    ids.USER_PREFIX,
    {
        "Id": "id",
        "Username": "string",
        "Email": "string",
        "FirstName": "string",
        "LastName": "string",
        "Name": "string",
        "Alias": "string",
        "IsActive": "boolean",
        "UserType": "string",
        "TimeZoneSidKey": "string",
        "LocaleSidKey": "string",
        "LanguageLocaleKey": "string",
        "CreatedDate": "datetime",
        "LastModifiedDate": "datetime",
        "LastLoginDate": "datetime",
    },
    {},
)
SCRATCH_ORG_INFO = SObjectType(
    "ScratchOrgInfo",
    ids.SCRATCH_ORG_INFO_PREFIX,
    {
        "Id": "id",
        "Name": "string",
        "OrgName": "string",
        "Edition": "string",
        "Description": "string",
        "Features": "string",
        "Namespace": "string",
        "Release": "string",
        "SourceOrg": "string",
        "Snapshot": "string",
        "Country": "string",
        "Language": "string",
        "HasSampleData": "boolean",
        "DurationDays": "int",
        "AdminEmail": "string",
        "Username": "string",
        "ConnectedAppConsumerKey": "string",
        "ConnectedAppCallbackUrl": "string",
        "AuthCode": "string",
        "Status": "string",
        "ErrorCode": "string",
        "ScratchOrg": "string",
        "SignupUsername": "string",
        "SignupEmail": "string",
        "SignupInstance": "string",
        "SignupCountry": "string",
        "SignupLanguage": "string",
        "SignupTrialDays": "int",
        "LoginUrl": "string",
        "ExpirationDate": "date",
        "DeletedById": "id",
        "DeletedDate": "datetime",
        "LastLoginDate": "datetime",
        "Package2AncestorIds": "string",
        "CreatedDate": "datetime",
        "CreatedById": "id",
        "LastModifiedDate": "datetime",
        "LastModifiedById": "id",
        "OwnerId": "id",
    },
    {**_USER_RELS, "DeletedBy": ("DeletedById", "User")},
    hub_only=True,
)
ACTIVE_SCRATCH_ORG = SObjectType(
    "ActiveScratchOrg",
    ids.ACTIVE_SCRATCH_ORG_PREFIX,
    {
        "Id": "id",
        "Name": "string",
        "ScratchOrg": "string",
        "ScratchOrgInfoId": "id",
        "SignupUsername": "string",
        "SignupEmail": "string",
        "SignupInstance": "string",
        "SignupTrialDays": "int",
        "OrgName": "string",
        "Edition": "string",
        "ExpirationDate": "date",
        "Features": "string",
        "HasSampleData": "boolean",
        "Namespace": "string",
        "Snapshot": "string",
        "Description": "string",
        "LastLoginDate": "datetime",
        "CreatedDate": "datetime",
        "CreatedById": "id",
        "LastModifiedDate": "datetime",
        "LastModifiedById": "id",
        "OwnerId": "id",
    },
    {**_USER_RELS, "ScratchOrgInfo": ("ScratchOrgInfoId", "ScratchOrgInfo")},
    hub_only=True,
)
SANDBOX_INFO = SObjectType(
    "SandboxInfo",
    ids.SANDBOX_INFO_PREFIX,
    {
        "Id": "id",
        "IsDeleted": "boolean",
        "CreatedDate": "datetime",
        "CreatedById": "id",
        "LastModifiedDate": "datetime",
        "LastModifiedById": "id",
        "SystemModstamp": "datetime",
        "SandboxName": "string",
        "LicenseType": "string",
        "TemplateId": "id",
        "HistoryDays": "int",
        "CopyChatter": "boolean",
        "CopyArchivedActivities": "boolean",
        "AutoActivate": "boolean",
        "ApexClassId": "id",
        "Description": "string",
        "SourceId": "id",
        "ActivationUserGroupId": "id",
        "Features": "string",
        "PostCopyConfig": "string",
    },
    {"CreatedBy": ("CreatedById", "User"), "LastModifiedBy": ("LastModifiedById", "User")},
    tooling=True,
)
SANDBOX_PROCESS = SObjectType(
    "SandboxProcess",
    ids.SANDBOX_PROCESS_PREFIX,
    {
        "Id": "id",
        "IsDeleted": "boolean",
        "CreatedDate": "datetime",
        "CreatedById": "id",
        "LastModifiedDate": "datetime",
        "LastModifiedById": "id",
        "SystemModstamp": "datetime",
        "SandboxInfoId": "id",
        "SandboxName": "string",
        "LicenseType": "string",
        "Description": "string",
        "SourceId": "id",
        "ApexClassId": "id",
        "Features": "string",
        "Status": "string",
        "CopyProgress": "int",
        "SandboxOrganization": "string",
        "StartDate": "datetime",
        "EndDate": "datetime",
        "ActivatedDate": "datetime",
        "ActivatedById": "id",
        "RefreshAction": "string",
    },
    {
        "CreatedBy": ("CreatedById", "User"),
        "LastModifiedBy": ("LastModifiedById", "User"),
        "ActivatedBy": ("ActivatedById", "User"),
        "SandboxInfo": ("SandboxInfoId", "SandboxInfo"),
    },
    tooling=True,
)
TYPES = {t.name.lower(): t for t in (ORGANIZATION, USER, SCRATCH_ORG_INFO, ACTIVE_SCRATCH_ORG)}
# The Tooling API exposes Organization and User too; the sandbox objects only on production orgs.
TOOLING_TYPES = {t.name.lower(): t for t in (ORGANIZATION, USER, SANDBOX_INFO, SANDBOX_PROCESS)}
ALL_TYPES = {**TYPES, **TOOLING_TYPES}

_APEX_TYPES = {
    "id": "Id",
    "string": "String",
    "boolean": "Boolean",
    "int": "Integer",
    "date": "Date",
    "datetime": "Datetime",
}
_LITERAL_KINDS = {
    "id": ("string",),
    "string": ("string",),
    "boolean": ("boolean",),
    "int": ("number",),
    "date": ("date",),
    "datetime": ("datetime",),
}
_UNSUPPORTED_TYPE = (
    "sObject type '{name}' is not supported. If you are attempting to use a custom object, be sure to "
    "append the '__c' after the entity name. Please reference your WSDL or the describe call for the "
    "appropriate names."
)
_NO_SUCH_COLUMN = (
    "No such column '{field}' on entity '{entity}'. If you are attempting to use a custom field, be sure "
    "to append the '__c' after the custom field name. Please reference your WSDL or the describe call for "
    "the appropriate names."
)
_BAD_RELATIONSHIP = (
    "Didn't understand relationship '{rel}' in field path. If you are attempting to use a custom "
    "relationship, be sure to append the '__r' after the custom relationship name. Please reference your "
    "WSDL or the describe call for the appropriate names."
)


def visible(stype: SObjectType | None, org: Org) -> bool:
    """Hub objects exist on Dev Hubs only, the sandbox objects on production orgs only."""
    if stype is None or (stype.hub_only and not org.is_devhub):
        return False
    return not stype.tooling or org.kind == "production"


def sobject_type(name: str, org: Org, *, text: str = "", tooling: bool = False) -> SObjectType:
    """Resolve an sObject name for an org: unknown types and hub objects on non-hubs are INVALID_TYPE."""
    stype = (TOOLING_TYPES if tooling else TYPES).get(name.lower())
    if not visible(stype, org) or stype is None:
        message = _UNSUPPORTED_TYPE.format(name=name)
        if text:
            message = _locate(text, name, message)
        raise SoqlError(message, "INVALID_TYPE")
    return stype


def _locate(text: str, needle: str, message: str) -> str:
    match = re.search(r"\b" + re.escape(needle) + r"\b", text)
    pos = match.start() if match else 0
    line = text.splitlines()[0] if text else ""
    return f"\n{line}\n{' ' * pos}^\nERROR at Row:1:Column:{pos + 1}\n{message}"


# -- rows ---------------------------------------------------------------------------------------


def org_row(org: Org) -> dict[str, Any]:
    trial = org.trial_expiration
    if trial is not None and "T" not in trial:
        trial = f"{trial}T00:00:00.000+0000"
    return {
        "Id": org.id,
        "Name": org.name,
        "InstanceName": org.instance_name,
        "IsSandbox": org.is_sandbox,
        "TrialExpirationDate": trial,
        "NamespacePrefix": org.namespace,
        "OrganizationType": org.edition,
        "Country": "US",
        "DefaultLocaleSidKey": "en_US",
        "LanguageLocaleKey": "en_US",
        "TimeZoneSidKey": "America/Los_Angeles",
        "CreatedDate": org.created_date,
    }


def user_row(user: User) -> dict[str, Any]:
    return {
        "Id": user.id,
        "Username": user.username,
        "Email": user.email,
        "FirstName": user.first_name or None,
        "LastName": user.last_name,
        "Name": user.name,
        "Alias": (user.first_name[:1] + user.last_name)[:8],
        "IsActive": user.active,
        "UserType": "Standard",
        "TimeZoneSidKey": "America/Los_Angeles",
        "LocaleSidKey": "en_US",
        "LanguageLocaleKey": "en_US",
        "CreatedDate": user.created_date,
        "LastModifiedDate": user.created_date,
        "LastLoginDate": None,
    }


def rows_for(world: World, stype: SObjectType, org: Org) -> Iterable[dict[str, Any]]:
    """The rows of a type that the given org can see."""
    if stype is ORGANIZATION:
        return [org_row(org)]
    if stype is USER:
        return [user_row(u) for u in world.users.values() if u.org_id == org.id]
    if stype is SANDBOX_INFO:
        return [row for row in world.sandbox_infos.values() if row["_prod"] == org.id and not row["IsDeleted"]]
    if stype is SANDBOX_PROCESS:
        return [row for row in world.sandbox_processes.values() if row["_prod"] == org.id]
    table = world.scratch_infos if stype is SCRATCH_ORG_INFO else world.active_scratch
    return [row for row in table.values() if row["_devhub"] == org.id]


def get_row(world: World, stype: SObjectType, org: Org, record_id: str) -> dict[str, Any] | None:
    """One row by 15/18-char id, if the org can see it."""
    rid = ids.normalize_id(record_id)
    if rid is None:
        return None
    if stype is ORGANIZATION:
        return org_row(org) if rid == org.id else None
    if stype is USER:
        user = world.users.get(rid)
        return user_row(user) if user is not None and user.org_id == org.id else None
    if stype is SANDBOX_INFO:
        row = world.sandbox_infos.get(rid)
        return row if row is not None and row["_prod"] == org.id and not row["IsDeleted"] else None
    if stype is SANDBOX_PROCESS:
        row = world.sandbox_processes.get(rid)
        return row if row is not None and row["_prod"] == org.id else None
    table = world.scratch_infos if stype is SCRATCH_ORG_INFO else world.active_scratch
    row = table.get(rid)
    return row if row is not None and row["_devhub"] == org.id else None


def _related_fetcher(world: World) -> Callable[[str, str], dict[str, Any] | None]:
    cache: dict[tuple[str, str], dict[str, Any] | None] = {}

    def fetch(type_name: str, record_id: str) -> dict[str, Any] | None:
        key = (type_name, record_id)
        if key not in cache:
            if type_name == "User":
                user = world.users.get(record_id)
                cache[key] = user_row(user) if user is not None else None
            elif type_name == "SandboxInfo":
                cache[key] = world.sandbox_infos.get(record_id)
            else:
                cache[key] = world.scratch_infos.get(record_id)
        return cache[key]

    return fetch


def attributes(type_name: str, record_id: str | None, version: str) -> dict[str, str]:
    api = "tooling/sobjects" if type_name in ("SandboxInfo", "SandboxProcess") else "sobjects"
    return {"type": type_name, "url": f"/services/data/v{version}/{api}/{type_name}/{record_id}"}


def record(
    stype: SObjectType, row: dict[str, Any], version: str, fields: Iterable[str] | None = None
) -> dict:
    """A REST record: attributes first, then the fields (all public fields when none are named)."""
    out: dict[str, Any] = {"attributes": attributes(stype.name, row.get("Id"), version)}
    for name in fields if fields is not None else stype.fields:
        out[name] = row.get(name)
    return out


# -- field paths --------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldPath:
    """A resolved select/where field: relationship hops, their types, and the final field."""

    rels: tuple[str, ...]
    rel_types: tuple[SObjectType, ...]
    name: str
    ftype: str


def resolve_field(stype: SObjectType, path: str, text: str) -> FieldPath:
    parts = path.split(".")
    current = stype
    rels: list[str] = []
    rel_types: list[SObjectType] = []
    if len(parts) > 1 and parts[0].lower() == stype.name.lower():
        parts = parts[1:]  # "SELECT Organization.Name FROM Organization" is legal SOQL
    for part in parts[:-1]:
        rel = current.relationship(part)
        if rel is None:
            raise SoqlError(_locate(text, part, _BAD_RELATIONSHIP.format(rel=part)), "INVALID_FIELD")
        current = ALL_TYPES[current.relationships[rel][1].lower()]
        rels.append(rel)
        rel_types.append(current)
    name = current.field(parts[-1])
    if name is None:
        raise SoqlError(
            _locate(text, parts[-1], _NO_SUCH_COLUMN.format(field=parts[-1], entity=current.name)),
            "INVALID_FIELD",
        )
    return FieldPath(tuple(rels), tuple(rel_types), name, current.fields[name])


def _value(row: dict[str, Any], stype: SObjectType, fpath: FieldPath, fetch: Callable) -> Any:
    current_type = stype
    for rel, rel_type in zip(fpath.rels, fpath.rel_types, strict=True):
        related_id = row.get(current_type.relationships[rel][0])
        row = fetch(rel_type.name, related_id) if related_id else None
        if row is None:
            return None
        current_type = rel_type
    return row.get(fpath.name)


def _coerce(ftype: str, value: Any) -> Any:
    """Normalize a field or literal value so that SOQL comparison semantics are plain Python ones."""
    if value is None:
        return None
    if ftype == "id":
        return ids.normalize_id(value) or value
    if ftype == "string":
        return str(value).casefold()
    if ftype == "int":
        return float(value)
    if ftype == "date":
        return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
    if ftype == "datetime":
        return value if not isinstance(value, str) else parse_datetime(value)
    return value


def _check_literal(fpath: FieldPath, literal: Literal, text: str) -> Any:
    if literal.kind != "null" and literal.kind not in _LITERAL_KINDS[fpath.ftype]:
        quote = " and should not be enclosed in quotes" if literal.kind == "string" else ""
        message = f"value of filter criterion for field '{fpath.name}' must be of type {fpath.ftype}{quote}"
        raise SoqlError(_locate(text, fpath.name, message), "INVALID_FIELD")
    return _coerce(fpath.ftype, literal.value)


def _like(pattern: str) -> re.Pattern[str]:
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern.casefold())
    return re.compile(regex, re.DOTALL)


def _compile(expr: Any, stype: SObjectType, text: str) -> Callable[[dict, Callable], bool]:
    """Turn a WHERE tree into a predicate over rows."""
    if isinstance(expr, BoolOp):
        left, right = _compile(expr.left, stype, text), _compile(expr.right, stype, text)
        if expr.op == "and":
            return lambda row, fetch: left(row, fetch) and right(row, fetch)
        return lambda row, fetch: left(row, fetch) or right(row, fetch)
    if isinstance(expr, Not):
        inner = _compile(expr.expr, stype, text)
        return lambda row, fetch: not inner(row, fetch)
    if isinstance(expr, InList):
        fpath = resolve_field(stype, expr.field, text)
        values = {_check_literal(fpath, lit, text) for lit in expr.values}
        negate = expr.negate
        return lambda row, fetch: (_coerce(fpath.ftype, _value(row, stype, fpath, fetch)) in values) != negate
    if not isinstance(expr, Compare):
        raise TypeError(f"unexpected WHERE node {expr!r}")
    fpath = resolve_field(stype, expr.field, text)
    if expr.op == "like":
        if fpath.ftype not in ("string", "id"):
            raise SoqlError(_locate(text, expr.field, "invalid operator on field: LIKE"), "INVALID_FIELD")
        regex = _like(expr.value.value)
        return lambda row, fetch: (
            (val := _value(row, stype, fpath, fetch)) is not None
            and bool(regex.fullmatch(str(val).casefold()))
        )
    target = _check_literal(fpath, expr.value, text)
    return _comparison(expr.op, fpath, stype, target)


def _comparison(
    op: str, fpath: FieldPath, stype: SObjectType, target: Any
) -> Callable[[dict, Callable], bool]:
    def check(row: dict, fetch: Callable) -> bool:
        value = _coerce(fpath.ftype, _value(row, stype, fpath, fetch))
        if op == "=":
            return value == target
        if op == "!=":
            return value != target
        if value is None or target is None:
            return False
        return {"<": value < target, "<=": value <= target, ">": value > target, ">=": value >= target}[op]

    return check


def _sorter(stype: SObjectType, query: Query, text: str, fetch: Callable) -> Callable[[dict, dict], int]:
    keys = [(resolve_field(stype, item.field, text), item) for item in query.order_by]

    def compare(a: dict, b: dict) -> int:
        for fpath, item in keys:
            va = _coerce(fpath.ftype, _value(a, stype, fpath, fetch))
            vb = _coerce(fpath.ftype, _value(b, stype, fpath, fetch))
            if va == vb:
                continue
            if va is None or vb is None:
                return (1 if va is None else -1) * (1 if item.nulls_last else -1)
            result = -1 if va < vb else 1
            return -result if item.descending else result
        return 0

    return compare


def _project(stype: SObjectType, row: dict, paths: list[FieldPath], version: str, fetch: Callable) -> dict:
    out: dict[str, Any] = {"attributes": attributes(stype.name, row.get("Id"), version)}
    for fpath in paths:
        target, current_row, current_type = out, row, stype
        for rel, rel_type in zip(fpath.rels, fpath.rel_types, strict=True):
            if current_row is None:
                break
            related_id = current_row.get(current_type.relationships[rel][0])
            current_row = fetch(rel_type.name, related_id) if related_id else None
            current_type = rel_type
            if current_row is None:
                target[rel] = None
                break
            existing = target.get(rel)
            if not isinstance(existing, dict):
                existing = {"attributes": attributes(rel_type.name, current_row.get("Id"), version)}
                target[rel] = existing
            target = existing
        else:
            target[fpath.name] = current_row.get(fpath.name) if current_row is not None else None
    return out


@dataclass
class QueryResult:
    records: list[dict[str, Any]]
    total: int
    count_only: bool


def execute(
    world: World, org: Org, query: Query, text: str, version: str, *, tooling: bool = False
) -> QueryResult:
    """Run a parsed query as the given org sees its data."""
    stype = sobject_type(query.sobject, org, text=text, tooling=tooling)
    paths = [resolve_field(stype, name, text) for name in query.fields]
    predicate = _compile(query.where, stype, text) if query.where is not None else None
    fetch = _related_fetcher(world)
    rows = [row for row in rows_for(world, stype, org) if predicate is None or predicate(row, fetch)]
    if query.order_by:
        rows.sort(key=functools.cmp_to_key(_sorter(stype, query, text, fetch)))
    rows = rows[query.offset :]
    if query.limit is not None:
        rows = rows[: query.limit]
    if query.count_only:
        return QueryResult([], len(rows), True)
    seen: set[tuple[tuple[str, ...], str]] = set()
    unique = [p for p in paths if (p.rels, p.name) not in seen and not seen.add((p.rels, p.name))]
    return QueryResult([_project(stype, row, unique, version, fetch) for row in rows], len(rows), False)


def _column(name: str, ftype: str, display: str) -> dict[str, Any]:
    return {
        "aggregate": False,
        "apexType": _APEX_TYPES[ftype],
        "booleanType": ftype == "boolean",
        "columnName": name,
        "custom": False,
        "displayName": display,
        "foreignKeyName": None,
        "insertable": name not in _SYSTEM_FIELDS,
        "joinColumns": [],
        "numberType": ftype == "int",
        "textType": ftype in ("string", "id"),
        "updatable": name not in _SYSTEM_FIELDS,
    }


def columns(world: World, org: Org, query: Query, text: str, *, tooling: bool = False) -> dict[str, Any]:
    """The `columns=true` answer: column metadata for the select list, no records."""
    stype = sobject_type(query.sobject, org, text=text, tooling=tooling)
    paths = [resolve_field(stype, name, text) for name in query.fields]
    if query.where is not None:
        _compile(query.where, stype, text)
    metadata = []
    for fpath in paths:
        prefix = ".".join(fpath.rels)
        column = _column(fpath.name, fpath.ftype, f"{prefix}.{fpath.name}" if prefix else fpath.name)
        for depth in range(len(fpath.rels) - 1, -1, -1):
            rel = fpath.rels[depth]
            outer = {
                **_column(rel, "id", ".".join(fpath.rels[: depth + 1])),
                "apexType": fpath.rel_types[depth].name,
                "textType": False,
                "insertable": False,
                "updatable": False,
                "joinColumns": [column],
            }
            column = outer
        metadata.append(column)
    return {
        "columnMetadata": metadata,
        "entityName": stype.name,
        "groupBy": False,
        "idSelected": any(not p.rels and p.name == "Id" for p in paths),
        "keyPrefix": stype.key_prefix,
    }
