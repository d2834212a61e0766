"""Fixture JSON -> world objects (used at start, by reset and by the /__sim__/load control call)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sfsim import ids
from sfsim.model import (
    DEFAULT_SCOPES,
    ORG_KINDS,
    App,
    ConfigError,
    Org,
    User,
    World,
    load_certificate,
    relative_date,
    sf_datetime,
)
from sfsim.objects import ACTIVE_SCRATCH_ORG, SCRATCH_ORG_INFO

DEFAULT_FIXTURE = Path(__file__).parent / "fixtures" / "default.json"
DEFAULT_EDITIONS = {
    "production": "Enterprise Edition",
    "developer": "Developer Edition",
    "sandbox": "Enterprise Edition",
    "scratch": "Developer Edition",
}
APP_SETTINGS = (
    "consumer_secret",
    "callback_urls",
    "require_pkce",
    "require_secret",
    "rotation",
    "certificate",
    "preauthorized_users",
    "scopes",
    "session_timeout_seconds",
)
_SCRATCH_STATUSES = ("New", "Creating", "Active", "Error", "Deleted")


def read_fixture(path: str | Path | None) -> dict[str, Any]:
    """Read a fixture file (the default demo world when path is None)."""
    with open(path or DEFAULT_FIXTURE, encoding="utf-8") as handle:
        data = json.load(handle)
    if not isinstance(data, dict):
        raise ConfigError("fixture must be a JSON object")
    return data


def reset_world(world: World, data: dict[str, Any]) -> None:
    """Reload the fixture; clear tokens, log and fault config."""
    world.clear()
    load_into(world, data)


def load_into(world: World, data: dict[str, Any]) -> dict[str, int]:
    """Add (or replace, matched by id / consumer key) orgs, users, apps and scratch-org rows."""
    unknown = set(data) - {"orgs", "users", "apps", "scratch_orgs"}
    if unknown:
        raise ConfigError(f"unknown fixture sections: {sorted(unknown)}")
    now = world.now()
    for item in _items(data, "orgs"):
        org = _org(item, now)
        world.orgs[org.id] = org
    for item in _items(data, "users"):
        world.add_user(_user(world, item, now))
    for item in _items(data, "apps"):
        app = App(consumer_key=_text(item, "consumer_key"))
        apply_app_settings(app, {k: v for k, v in item.items() if k != "consumer_key"}, creating=True)
        world.apps[app.consumer_key] = app
    for item in _items(data, "scratch_orgs"):
        _scratch_org(world, item, now)
    return {name: len(_items(data, name)) for name in ("orgs", "users", "apps", "scratch_orgs")}


def _items(data: dict[str, Any], key: str) -> list[dict[str, Any]]:
    items = data.get(key) or []
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ConfigError(f"'{key}' must be a list of objects")
    return items


def _text(item: dict[str, Any], key: str, default: str | None = None) -> str:
    value = item.get(key, default)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"'{key}' is required and must be a non-empty string")
    return value


def _record_id(value: Any, prefix: str, what: str) -> str:
    if not isinstance(value, str) or len(value) not in (15, 18) or not value.startswith(prefix):
        raise ConfigError(f"{what} id must be a 15/18-char id starting with {prefix}: {value!r}")
    return ids.to18(value[:15])


def _org(item: dict[str, Any], now: float) -> Org:
    kind = _text(item, "kind")
    if kind not in ORG_KINDS:
        raise ConfigError(f"org kind must be one of {ORG_KINDS}")
    trial = item.get("trial_expiration", "+30d" if kind == "scratch" else None)
    return Org(
        id=_record_id(item.get("id"), ids.ORG_PREFIX, "org"),
        name=_text(item, "name"),
        kind=kind,
        edition=item.get("edition") or DEFAULT_EDITIONS[kind],
        is_devhub=bool(item.get("is_devhub", False)),
        instance_name=item.get("instance_name") or ("CS1" if kind in ("sandbox", "scratch") else "NA1"),
        namespace=item.get("namespace"),
        trial_expiration=relative_date(trial, now),
        instance_url=item.get("instance_url"),
        created_date=relative_date(item.get("created_date", "-365d"), now, with_time=True) or "",
    )


def _user(world: World, item: dict[str, Any], now: float) -> User:
    org_id = _record_id(item.get("org"), ids.ORG_PREFIX, "user org")
    if org_id not in world.orgs:
        raise ConfigError(f"user {item.get('username')!r} refers to unknown org {org_id}")
    username = _text(item, "username")
    return User(
        id=_record_id(item.get("id"), ids.USER_PREFIX, "user"),
        org_id=org_id,
        username=username,
        email=item.get("email") or username,
        first_name=item.get("first_name") or "",
        last_name=item.get("last_name") or "User",
        password=item.get("password"),
        high_assurance=bool(item.get("high_assurance", False)),
        active=bool(item.get("active", True)),
        created_date=relative_date(item.get("created_date", "-200d"), now, with_time=True) or "",
    )


def apply_app_settings(app: App, settings: dict[str, Any], *, creating: bool = False) -> None:
    """Validate and apply connected-app settings (fixture entries and POST /__sim__/apps/<key>)."""
    unknown = set(settings) - set(APP_SETTINGS)
    if unknown:
        raise ConfigError(f"unknown app settings: {sorted(unknown)}")
    if "consumer_secret" in settings:
        secret = settings["consumer_secret"]
        if secret is not None and (not isinstance(secret, str) or not secret):
            raise ConfigError("consumer_secret must be a non-empty string or null")
        app.consumer_secret = secret
        if creating and "require_secret" not in settings:
            app.require_secret = secret is not None
    if "callback_urls" in settings:
        urls = settings["callback_urls"]
        if not isinstance(urls, list) or not all(isinstance(u, str) and u for u in urls):
            raise ConfigError("callback_urls must be a list of strings")
        app.callback_urls = list(urls)
    for flag in ("require_pkce", "require_secret", "rotation"):
        if flag in settings:
            if not isinstance(settings[flag], bool):
                raise ConfigError(f"{flag} must be true or false")
            setattr(app, flag, settings[flag])
    if "certificate" in settings:
        pem = settings["certificate"]
        app.public_key = load_certificate(pem) if pem else None
        app.certificate = pem or None
    if "preauthorized_users" in settings:
        users = settings["preauthorized_users"] or []
        if not isinstance(users, list) or not all(isinstance(u, str) for u in users):
            raise ConfigError("preauthorized_users must be a list of usernames")
        app.preauthorized_users = {u.lower() for u in users}
    if "scopes" in settings:
        scopes = settings["scopes"] if settings["scopes"] is not None else list(DEFAULT_SCOPES)
        if not isinstance(scopes, list) or not all(isinstance(s, str) and s for s in scopes):
            raise ConfigError("scopes must be a list of strings")
        app.scopes = tuple(scopes)
    if "session_timeout_seconds" in settings:
        timeout = settings["session_timeout_seconds"]
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            raise ConfigError("session_timeout_seconds must be a positive number")
        app.session_timeout_seconds = float(timeout)


def _scratch_org(world: World, item: dict[str, Any], now: float) -> None:
    """A pre-existing ScratchOrgInfo row (plus ActiveScratchOrg and the org itself when Active)."""
    fields = dict(item)
    hub_id = _record_id(fields.pop("devhub", None), ids.ORG_PREFIX, "scratch_orgs devhub")
    hub = world.orgs.get(hub_id)
    if hub is None or not hub.is_devhub:
        raise ConfigError(f"scratch_orgs devhub {hub_id} is not a Dev Hub org in the fixture")
    creator = world.user_by_username(fields.pop("CreatedBy", "") or "")
    if creator is None or creator.org_id != hub_id:
        raise ConfigError("scratch_orgs CreatedBy must be the username of a user in the Dev Hub org")
    unknown = set(fields) - set(SCRATCH_ORG_INFO.fields)
    if unknown:
        raise ConfigError(f"unknown ScratchOrgInfo fields: {sorted(unknown)}")
    status = fields.get("Status", "Active")
    if status not in _SCRATCH_STATUSES:
        raise ConfigError(f"ScratchOrgInfo Status must be one of {_SCRATCH_STATUSES}")
    row: dict[str, Any] = {name: None for name in SCRATCH_ORG_INFO.fields}
    row.update(fields)
    row["Id"] = (
        _record_id(fields["Id"], ids.SCRATCH_ORG_INFO_PREFIX, "ScratchOrgInfo")
        if fields.get("Id")
        else world.new_id(ids.SCRATCH_ORG_INFO_PREFIX, world.scratch_infos)
    )
    row["Status"] = status
    row["Name"] = row["Name"] or f"{len(world.scratch_infos) + 1:08d}"
    row["CreatedDate"] = relative_date(row["CreatedDate"] or "-1d", now, with_time=True)
    row["ExpirationDate"] = relative_date(row["ExpirationDate"], now)
    row["DeletedDate"] = relative_date(row["DeletedDate"], now, with_time=True)
    row["LastModifiedDate"] = row["LastModifiedDate"] or row["CreatedDate"]
    row["LoginUrl"] = row["LoginUrl"] or world.base_url
    for ref in ("CreatedById", "LastModifiedById", "OwnerId"):
        row[ref] = row[ref] or creator.id
    if status == "Deleted" and row["DeletedById"] is None:
        row["DeletedById"] = creator.id
    row["_devhub"] = hub_id
    world.scratch_infos[row["Id"]] = row
    if status == "Active":
        _materialize_active(world, row, now)


def _materialize_active(world: World, row: dict[str, Any], now: float) -> None:
    scratch = row.get("ScratchOrg")
    if not isinstance(scratch, str) or len(scratch) != 15 or not scratch.startswith(ids.ORG_PREFIX):
        raise ConfigError("an Active ScratchOrgInfo needs ScratchOrg: the 15-char id of the scratch org")
    org_id = ids.to18(scratch)
    if org_id not in world.orgs:
        world.orgs[org_id] = Org(
            id=org_id,
            name=row.get("OrgName") or "Company",
            kind="scratch",
            edition=f"{row.get('Edition') or 'Developer'} Edition",
            instance_name=row.get("SignupInstance") or "CS1",
            namespace=row.get("Namespace"),
            trial_expiration=row.get("ExpirationDate"),
            created_date=row["CreatedDate"],
        )
    username = row.get("SignupUsername")
    if username and world.user_by_username(username) is None:
        world.add_user(
            User(
                id=world.new_id(ids.USER_PREFIX, world.users),
                org_id=org_id,
                username=username,
                email=row.get("SignupEmail") or username,
                first_name="User",
                last_name="User",
                created_date=row["CreatedDate"],
            )
        )
    add_active_scratch_row(world, row)


def add_active_scratch_row(world: World, info: dict[str, Any]) -> dict[str, Any]:
    """Create the ActiveScratchOrg row that Salesforce makes when a ScratchOrgInfo becomes Active."""
    active: dict[str, Any] = {name: info.get(name) for name in ACTIVE_SCRATCH_ORG.fields}
    active["Id"] = world.new_id(ids.ACTIVE_SCRATCH_ORG_PREFIX, world.active_scratch)
    active["Name"] = info["Name"]
    active["ScratchOrgInfoId"] = info["Id"]
    active["CreatedDate"] = active["CreatedDate"] or sf_datetime(world.now())
    active["_devhub"] = info["_devhub"]
    world.active_scratch[active["Id"]] = active
    return active
