"""The control API under /__sim__/ (tests and benchmarks only). JSON in, JSON out."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict
from typing import Any
from urllib.parse import unquote

from sfsim import ids, oauth, sandbox
from sfsim.fixture import apply_app_settings, load_into, reset_world
from sfsim.model import FAIL_MODES, REFRESH_SCOPES, ConfigError, Org, SimConfig, World
from sfsim.web import Request, Response, json_response

Handler = Callable[[World, dict[str, Any], Request, dict[str, str]], Response]


def _error(status: int, message: str) -> Response:
    return json_response(status, {"error": message})


def _body(req: Request) -> dict[str, Any]:
    try:
        data = req.json_body()
    except ValueError as exc:
        raise ConfigError("body must be JSON") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError("body must be a JSON object")
    return data


def reset(world: World, fixture: dict[str, Any], req: Request, _: dict[str, str]) -> Response:
    reset_world(world, fixture)
    return json_response(200, {"ok": True, **world.summary()})


def _number(value: Any, name: str, low: float | None = None, high: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{name} must be a number")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ConfigError(f"{name} must be between {low} and {high}")
    return float(value)


def configure(world: World, fixture: dict[str, Any], req: Request, _: dict[str, str]) -> Response:
    if req.method == "POST":
        world.config = _merged_config(world.config, _body(req))
    return json_response(200, asdict(world.config))


def _merged_config(current: SimConfig, changes: dict[str, Any]) -> SimConfig:
    """Validate everything first, then apply: a bad request changes nothing."""
    values = asdict(current)
    unknown = set(changes) - set(values)
    if unknown:
        raise ConfigError(f"unknown config keys: {sorted(unknown)}")
    for key, value in changes.items():
        if key == "fail_mode":
            if str(value) not in FAIL_MODES:
                raise ConfigError(f"fail_mode must be one of {FAIL_MODES}")
            values[key] = str(value)
        elif key == "fail_when":
            if value not in ("before", "after"):
                raise ConfigError("fail_when must be 'before' or 'after'")
            values[key] = value
        elif key == "fail_paths":
            if not isinstance(value, list) or not all(
                isinstance(p, str) and p.startswith("/") for p in value
            ):
                raise ConfigError("fail_paths must be a list of path prefixes starting with /")
            values[key] = list(value)
        elif key == "fail_rate":
            values[key] = _number(value, key, 0, 1)
        elif key == "page_size":
            values[key] = int(_number(value, key, 1, 2000))
        elif key == "clock_offset_seconds":
            values[key] = _number(value, key)
        elif key == "corrupt_signature":
            if not isinstance(value, bool):
                raise ConfigError("corrupt_signature must be true or false")
            values[key] = value
        elif key == "sandbox_instance_url_template":
            if value is not None and (not isinstance(value, str) or "://" not in value):
                raise ConfigError("sandbox_instance_url_template must be a URL template or null")
            values[key] = value
        elif key == "redirect_location":
            if not isinstance(value, str) or not value:
                raise ConfigError("redirect_location must be a URL")
            values[key] = value
        else:
            values[key] = _number(value, key, 0)
    return SimConfig(**values)


def update_app(world: World, fixture: dict[str, Any], req: Request, params: dict[str, str]) -> Response:
    app = world.apps.get(params["key"])
    if app is None:
        return _error(404, f"unknown app {params['key']}")
    settings = _body(req)
    apply_app_settings(app, settings)
    return json_response(200, {"consumer_key": app.consumer_key, "updated": sorted(settings)})


def load(world: World, fixture: dict[str, Any], req: Request, _: dict[str, str]) -> Response:
    return json_response(200, {"loaded": load_into(world, _body(req)), **world.summary()})


def revoke_user(world: World, fixture: dict[str, Any], req: Request, params: dict[str, str]) -> Response:
    user = world.user_by_username(params["username"])
    if user is None:
        return _error(404, "unknown user")
    return json_response(200, {"revoked": world.revoke_user(user)})


def expire_sessions(world: World, fixture: dict[str, Any], req: Request, _: dict[str, str]) -> Response:
    return json_response(200, {"expired": world.expire_sessions()})


def mint_tokens(world: World, fixture: dict[str, Any], req: Request, _: dict[str, str]) -> Response:
    body = _body(req)
    user = world.user_by_username(str(body.get("username", "")))
    app = world.apps.get(str(body.get("consumer_key", "")))
    if user is None or app is None:
        return _error(404, "unknown username or consumer_key")
    rotation = body.get("rotation")
    if rotation is not None and not isinstance(rotation, bool):
        raise ConfigError("rotation must be true, false or null")
    scope = body.get("scope")
    scopes = tuple(scope.split()) if isinstance(scope, str) and scope.strip() else app.scopes
    if not REFRESH_SCOPES & set(scopes):
        raise ConfigError("scope must include refresh_token (or offline_access) to mint a refresh token")
    return json_response(200, oauth.mint_tokens(world, user, app, rotation, scopes))


def authorize(world: World, fixture: dict[str, Any], req: Request, _: dict[str, str]) -> Response:
    """As if ``username`` logged in and clicked Allow (or Deny with ``"deny": true``)."""
    body = _body(req)
    params = {k: str(v) for k, v in body.items() if v is not None and k not in ("username", "deny")}
    params.setdefault("response_type", "code")
    user = world.user_by_username(str(body.get("username", "")))
    if user is None or not user.active:
        return _error(404, "unknown or inactive username")
    try:
        _, pending = oauth.start_authorization(world, params)
    except oauth.AuthorizeError as exc:
        if exc.page:
            return json_response(400, {"error": exc.error, "error_description": exc.description})
        failure = [("error", exc.error), ("error_description", exc.description)]
        return json_response(
            200, {"location": oauth.callback_url(params["redirect_uri"], failure, params.get("state"))}
        )
    if body.get("deny"):
        return json_response(
            200, {"location": oauth.callback_url(pending.redirect_uri, oauth.DENIED, pending.state)}
        )
    code = oauth.issue_code(world, pending, user)
    return json_response(
        200, {"location": oauth.callback_url(pending.redirect_uri, [("code", code)], pending.state)}
    )


# -- sandboxes ------------------------------------------------------------------------------------


def _production(world: World, ref: Any) -> Org:
    """A production org by 15/18-char id or by the username of one of its users."""
    if not isinstance(ref, str) or not ref:
        raise ConfigError("'org' (a production org id or username) is required")
    org = world.orgs.get(ids.normalize_id(ref) or "")
    if org is None:
        user = world.user_by_username(ref)
        org = world.orgs.get(user.org_id) if user is not None else None
    if org is None:
        raise ConfigError(f"unknown org {ref!r}")
    if org.kind != "production":
        raise ConfigError(f"org {org.id} is a {org.kind} org; sandboxes belong to production orgs")
    return org


def _process(world: World, body: dict[str, Any]) -> dict[str, Any]:
    ref = body.get("sandbox")
    if not isinstance(ref, str) or not ref:
        raise ConfigError("'sandbox' (a name, 0GQ or 0GR id) is required")
    prod_id = _production(world, body["org"]).id if body.get("org") else None
    return sandbox.find_process(world, ref, prod_id)


def _sandbox_view(world: World, process: dict[str, Any]) -> Response:
    return json_response(200, sandbox.describe(world, world.sandbox_infos[process["SandboxInfoId"]]))


def sandbox_licenses(world: World, fixture: dict[str, Any], req: Request, _: dict[str, str]) -> Response:
    body = _body(req)
    org = _production(world, body.get("org"))
    current = dict(sandbox.licenses(world, org.id))
    changes = body.get("licenses") or {}
    if not isinstance(changes, dict):
        raise ConfigError("'licenses' must be an object: {license type: count}")
    for name, count in changes.items():
        license_type = sandbox.normalize_license(name)
        if license_type is None:
            raise ConfigError(f"unknown license type {name!r}; use one of {sorted(sandbox.REFRESH_DAYS)}")
        current[license_type] = int(_number(count, f"licenses.{name}", 0))
    world.sandbox_licenses[org.id] = current
    in_use = {name: 0 for name in current}
    for row in world.sandbox_infos.values():
        if row["_prod"] == org.id and not row["IsDeleted"]:
            in_use[row["LicenseType"]] += 1
    return json_response(200, {"org": org.id, "licenses": current, "in_use": in_use})


def sandbox_seed(world: World, fixture: dict[str, Any], req: Request, _: dict[str, str]) -> Response:
    body = _body(req)
    org = _production(world, body.get("org"))
    names = body.get("names")
    if names is None:
        count = int(_number(body.get("count", 1), "count", 1, 10_000))
        prefix = body.get("prefix", "sb")
        if not isinstance(prefix, str):
            raise ConfigError("prefix must be a string")
        taken = {row["SandboxName"].lower() for row in world.sandbox_infos.values() if row["_prod"] == org.id}
        names, number = [], 0
        while len(names) < count:
            number += 1
            if f"{prefix}{number}".lower() not in taken:
                names.append(f"{prefix}{number}")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ConfigError("names must be a list of sandbox names")
    license_type = sandbox.normalize_license(body.get("license_type", "DEVELOPER"))
    if license_type is None:
        raise ConfigError(f"license_type must be one of {sorted(sandbox.REFRESH_DAYS)}")
    created = sandbox.seed(
        world,
        org,
        names,
        license_type,
        copy_users=bool(body.get("copy_users", True)),
        last_copy_days_ago=_number(body.get("last_refresh_days_ago", 30), "last_refresh_days_ago", 0),
    )
    return json_response(200, {"sandboxes": created})


def sandbox_list(world: World, fixture: dict[str, Any], req: Request, _: dict[str, str]) -> Response:
    prod_id = _production(world, req.query["org"]).id if req.query.get("org") else None
    rows = [
        sandbox.describe(world, row)
        for row in world.sandbox_infos.values()
        if not row["IsDeleted"] and (prod_id is None or row["_prod"] == prod_id)
    ]
    return json_response(200, {"sandboxes": rows})


def sandbox_advance(world: World, fixture: dict[str, Any], req: Request, _: dict[str, str]) -> Response:
    body = _body(req)
    sandbox.advance(world)
    process = _process(world, body)
    target = body.get("to", "Completed")
    progress = body.get("copy_progress")
    if progress is not None:
        progress = int(_number(progress, "copy_progress", 0, 99))
    sandbox.advance_to(world, process, str(target), progress)
    return _sandbox_view(world, process)


def sandbox_fail(world: World, fixture: dict[str, Any], req: Request, _: dict[str, str]) -> Response:
    body = _body(req)
    sandbox.advance(world)
    process = _process(world, body)
    reason = body.get("reason") or "The sandbox copy failed."
    sandbox.fail(world, process, str(reason))
    return _sandbox_view(world, process)


def sandbox_last_refresh(world: World, fixture: dict[str, Any], req: Request, _: dict[str, str]) -> Response:
    """Pretend the last completed copy (create or refresh) happened ``days_ago`` days ago."""
    body = _body(req)
    sandbox.advance(world)
    process = _process(world, body)
    info = world.sandbox_infos[process["SandboxInfoId"]]
    days = _number(body.get("days_ago"), "days_ago", 0)
    info["_last_copy"] = world.now() - days * sandbox.DAY
    return _sandbox_view(world, process)


def log(world: World, fixture: dict[str, Any], req: Request, _: dict[str, str]) -> Response:
    if req.method == "DELETE":
        world.log.clear()
        return json_response(200, {"ok": True})
    return json_response(200, list(world.log))


def state(world: World, fixture: dict[str, Any], req: Request, _: dict[str, str]) -> Response:
    return json_response(200, {**world.summary(), "config": asdict(world.config)})


def health(world: World, fixture: dict[str, Any], req: Request, _: dict[str, str]) -> Response:
    return json_response(200, {"ok": True, "base_url": world.base_url})


ROUTES: list[tuple[tuple[str, ...], re.Pattern[str], Handler]] = [
    (("POST",), re.compile(r"/__sim__/reset"), reset),
    (("GET", "POST"), re.compile(r"/__sim__/config"), configure),
    (("POST",), re.compile(r"/__sim__/apps/(?P<key>[^/]+)"), update_app),
    (("POST",), re.compile(r"/__sim__/load"), load),
    (("POST",), re.compile(r"/__sim__/users/(?P<username>[^/]+)/revoke"), revoke_user),
    (("POST",), re.compile(r"/__sim__/sessions/expire"), expire_sessions),
    (("POST",), re.compile(r"/__sim__/tokens"), mint_tokens),
    (("POST",), re.compile(r"/__sim__/authorize"), authorize),
    (("POST",), re.compile(r"/__sim__/sandboxes/licenses"), sandbox_licenses),
    (("POST",), re.compile(r"/__sim__/sandboxes/seed"), sandbox_seed),
    (("POST",), re.compile(r"/__sim__/sandboxes/advance"), sandbox_advance),
    (("POST",), re.compile(r"/__sim__/sandboxes/fail"), sandbox_fail),
    (("POST",), re.compile(r"/__sim__/sandboxes/last-refresh"), sandbox_last_refresh),
    (("GET",), re.compile(r"/__sim__/sandboxes"), sandbox_list),
    (("GET", "DELETE"), re.compile(r"/__sim__/log"), log),
    (("GET",), re.compile(r"/__sim__/state"), state),
    (("GET",), re.compile(r"/__sim__/health"), health),
]


def dispatch(world: World, fixture: dict[str, Any], req: Request) -> Response:
    for methods, pattern, handler in ROUTES:
        match = pattern.fullmatch(req.path.rstrip("/"))
        if match is None:
            continue
        if req.method not in methods:
            return _error(405, f"use {' or '.join(methods)}")
        params = {k: unquote(v) for k, v in match.groupdict().items()}
        try:
            return handler(world, fixture, req, params)
        except ConfigError as exc:
            return _error(400, str(exc))
    return _error(404, "unknown control endpoint")
