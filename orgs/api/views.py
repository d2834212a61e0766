"""The REST API (`/api/v1/`): JSON, bearer API tokens, `Cache-Control: no-store` on every answer.

    GET  /api/v1/orgs                                   the orgs the caller can target
    GET  /api/v1/orgs/<alias | username | org id>       one org the caller can see
    POST /api/v1/orgs/<alias | username | org id>/access-token
    GET  /api/v1/orgs/<prod>/sandboxes                  the production org's sandboxes
    POST /api/v1/orgs/<prod>/sandboxes                  create one (recorded, then a worker drives it)
    GET  /api/v1/orgs/<prod>/sandboxes/<name>           one sandbox and its request's progress
    DELETE /api/v1/orgs/<prod>/sandboxes/<name>?confirm=<name>
    POST /api/v1/orgs/<prod>/sandboxes/<name>/refresh
    GET  /api/v1/access-requests                        mine, and those waiting for my decision
    POST /api/v1/access-requests                        {org, level, minutes, reason, ticket, break_glass}
    GET  /api/v1/access-requests/<id>                   one request (its state live)
    POST /api/v1/access-requests/<id>/approve|deny|end|revoke
    GET  /api/v1/schema                                 the OpenAPI document (orgs/api/schema.py)

Errors are `{"error": code, "message": text}`: 401 missing/bad token, 403 visible but not targetable, 404 unknown or
invisible (the same answer), 405 wrong method, 409 needs re-authorization (or an ambiguous org id), 429 rate limit
(per member or service token, shared with the web hand-outs; with `Retry-After`), 503 Salesforce unreachable. The
way in (token, org, level) is `orgs.api.authentication`; every permission decision is the org funnel's
(`orgs.access`); hand-outs are `orgs.services.handout` (audited, rate-limited).
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import time
import uuid
from http import HTTPStatus
from urllib.parse import quote

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_variables

from orgs import access
from orgs.api import schema
from orgs.api.authentication import ApiAccessError, authenticate, bearer, resolve
from orgs.models import AccessRequest, OrgConnection, Sandbox, ScratchOrg, TrustPolicy
from orgs.services import access_requests as access_requests_service
from orgs.services import oidc, sandboxes, scratch
from orgs.services.handout import (
    HandOutError,
    connection_token_hand_out,
    frontdoor_single_use_url,
    time_boxed_extra,
)
from portal.accounts.models import Membership
from portal.accounts.services import ServiceError
from portal.lib.http import client_ip

log = logging.getLogger(__name__)


def _json(data, status: int = 200, headers: dict | None = None, content_type: str = "application/json"
          ) -> JsonResponse:
    response = JsonResponse(data, status=status, json_dumps_params={"ensure_ascii": False}, content_type=content_type)
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"
    for name, value in (headers or {}).items():
        response[name] = value
    return response


PROBLEM_JSON = "application/problem+json"


def problem(status: int, code: str, message: str) -> dict:
    """An RFC 9457 problem details object; `error` (the stable code) and `message` are extension members that
    clients of the first API version read."""
    return {"type": f"urn:orgportal:problem:{code}", "title": HTTPStatus(status).phrase, "status": status,
            "detail": message, "error": code, "message": message}


def api_error(status: int, code: str, message: str, headers: dict | None = None) -> JsonResponse:
    return _json(problem(status, code, message), status=status, headers=headers, content_type=PROBLEM_JSON)


def rate_limit_headers(*, policy: str, quota: int, window: int, retry_after: int) -> dict:
    """429 headers: Retry-After, and RateLimit / RateLimit-Policy (draft-ietf-httpapi-ratelimit-headers): the
    policy's quota per window, nothing remaining, reset in `retry_after` seconds."""
    return {"Retry-After": str(retry_after), "RateLimit-Policy": f'"{policy}";q={quota};w={window}',
            "RateLimit": f'"{policy}";r=0;t={retry_after}'}


def _handout_error(exc: HandOutError) -> JsonResponse:
    headers = None
    if exc.retry_after:
        headers = (rate_limit_headers(policy="handout", quota=settings.PORTAL_HANDOUT_RATE_PER_MINUTE, window=60,
                                      retry_after=exc.retry_after) if exc.status == 429
                   else {"Retry-After": str(exc.retry_after)})
    return api_error(exc.status, exc.code, str(exc), headers=headers)


def api_view(*methods: str, authenticated: bool = True):
    """JSON endpoint: method check (405), bearer token (401), then `view(request, token, **kwargs)`."""

    def decorator(view):
        @csrf_exempt
        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            if request.method not in methods:
                return api_error(405, "method_not_allowed", f"Use {' or '.join(methods)} here.",
                                 headers={"Allow": ", ".join(methods)})
            if not authenticated:
                return view(request, *args, **kwargs)
            raw = bearer(request)
            if raw is None:
                return api_error(401, "unauthorized", "Send an API token: `Authorization: Bearer op_…` (create one "
                                 "under API tokens in the portal).", headers={"WWW-Authenticate": "Bearer"})
            token = authenticate(raw=raw, ip=client_ip(request), ident=kwargs.get("ident"))
            if token is None:
                return api_error(401, "unauthorized", "This API token is unknown, expired or revoked.",
                                 headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
            try:
                return view(request, token, *args, **kwargs)
            except ApiAccessError as exc:
                return api_error(exc.status, exc.code, exc.message)

        return wrapper

    return decorator


def org_json(connection, level_access, alias) -> dict:
    return {
        "alias": alias.alias if alias else None,
        "username": connection.username,
        "org_id": connection.org_id,
        "type": connection.type_label,
        "kind": connection.kind,
        "is_devhub": connection.is_devhub,
        "instance_url": connection.instance_url,
        "api_version": connection.api_version,
        "status": connection.status,
        "status_reason": connection.status_reason,
        "flow": connection.flow,
        "is_default_org": bool(alias and alias.is_default_org),
        "is_default_devhub": bool(alias and alias.is_default_devhub),
        "access": level_access.level_label,
    }


# -- cursor pagination ---------------------------------------------------------------------------------------------
# A cursor is opaque to clients: base64url of the last row's sort key. The next page holds the rows after that key,
# so a page boundary survives inserts and deletes (no offset drift). It carries nothing the caller could not list.

def _encode_cursor(key: list) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode_cursor(raw: str) -> list:
    try:
        key = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (ValueError, TypeError):
        key = None
    if not isinstance(key, list) or not all(isinstance(part, (str, int)) for part in key):
        raise ApiAccessError(400, "bad_cursor", "This cursor is not one the API gave out; start again without it.")
    return key


def _page_limit(request) -> int:
    raw = request.GET.get("limit")
    if raw is None:
        return settings.PORTAL_API_PAGE_SIZE
    try:
        limit = int(raw)
    except ValueError:
        limit = 0
    if not 1 <= limit <= settings.PORTAL_API_PAGE_MAX:
        raise ApiAccessError(400, "bad_request", f"limit is a number from 1 to {settings.PORTAL_API_PAGE_MAX}.")
    return limit


def paginate(request, rows: list, key, name: str, as_json) -> JsonResponse:
    """One page of `rows` (already sorted by `key`) as {name: [...], "next_cursor", "next"}, with a Link header."""
    limit = _page_limit(request)
    if request.GET.get("cursor"):
        after = _decode_cursor(request.GET["cursor"])
        rows = [row for row in rows if key(row) > after]
    page, more = rows[:limit], len(rows) > limit
    body = {name: [as_json(row) for row in page], "next_cursor": None, "next": None}
    headers = {}
    if more:
        cursor = _encode_cursor(key(page[-1]))
        query = request.GET.copy()
        query["cursor"] = cursor
        body["next_cursor"] = cursor
        body["next"] = request.build_absolute_uri(f"{request.path}?{query.urlencode()}")
        headers["Link"] = f'<{body["next"]}>; rel="next"'
    return _json(body, headers=headers)


@api_view("GET")
def orgs_list(request, token):
    rows = access.api_connections(token)  # sorted by (alias or "~", username)
    return paginate(request, rows, lambda row: [row[2].alias if row[2] else "~", row[0].username, row[0].pk],
                    "orgs", lambda row: org_json(*row))


@api_view("GET")
def me(request, token):
    """Who this token acts as: the member (personal tokens) or the service token itself, its team and expiry."""
    user = None
    if token.user_id:
        membership = Membership.objects.filter(team_id=token.team_id, user_id=token.user_id).first()
        user = {"email": token.user.email, "role": membership.role if membership else None}
    return _json({
        "user": user,
        "team": {"id": str(token.team.code), "name": token.team.name},
        "token": {"id": str(token.code), "name": token.name, "kind": token.kind, "hint": token.hint,
                  "created_at": token.created_at.isoformat(),
                  "expires_at": token.expires_at.isoformat() if token.expires_at else None,
                  "from_ci": bool(token.trust_policy_code)},
    })


@sensitive_variables()
@api_view("POST")
def org_open(request, token, ident):
    """A single-use frontdoor URL for the org (what "Open in Salesforce" uses): audited as a hand-out."""
    connection, _, alias = resolve(token, ident, need=access.Level.TARGET)
    try:
        issued = connection_token_hand_out(team=token.team, connection=connection, user=token.user,
                                           api_token=token, alias=alias.alias if alias else "",
                                           ip=client_ip(request), purpose="open")
        url = frontdoor_single_use_url(handed_out=issued)
    except HandOutError as exc:
        return _handout_error(exc)
    return _json({"url": url, "username": issued.username, "org_id": issued.org_id,
                  "alias": alias.alias if alias else None})


@api_view("GET")
def org_detail(request, token, ident):
    connection, level_access, alias = resolve(token, ident, need=access.Level.VIEW)
    return _json(org_json(connection, level_access, alias))


@sensitive_variables()
@api_view("POST")
def org_access_token(request, token, ident):
    connection, found, alias = resolve(token, ident, need=access.Level.TARGET)
    try:
        issued = connection_token_hand_out(team=token.team, connection=connection, user=token.user,
                                           api_token=token, alias=alias.alias if alias else "",
                                           ip=client_ip(request), purpose="api", extra=time_boxed_extra(found))
    except HandOutError as exc:
        return _handout_error(exc)
    return _json({
        "access_token": issued.access_token,
        "instance_url": issued.instance_url,
        "username": issued.username,
        "org_id": issued.org_id,
        "api_version": issued.api_version,
        "issued_at": issued.issued_at.isoformat(),
        "alias": alias.alias if alias else None,
    })


def _production(token, ident, *, manage: bool):
    """The production connection `ident` names, if the token may see (or manage) its sandboxes; 404/403."""
    connection, found, _ = resolve(token, ident, need=access.Level.VIEW)
    if not access.can_see_sandboxes(connection, found):
        raise ApiAccessError(404, "not_found", f"“{ident}” is not a production org you can see.")
    if manage and not access.can_manage_sandboxes(connection, found):
        raise ApiAccessError(403, "forbidden", f"Managing the sandboxes of “{ident}” needs manage level on it.")
    return connection


def _requester(token) -> Membership:
    membership = (Membership.objects.select_related("team", "user").filter(team_id=token.team_id,
                                                                           user_id=token.user_id).first()
                  if token.user_id else None)
    if membership is None:
        raise ApiAccessError(403, "forbidden", "Creating, refreshing or deleting a sandbox needs a personal API token "
                                               "(the new connection gets an owner).")
    return membership


def _sandbox(production, name: str) -> Sandbox:
    row = (Sandbox.objects.filter(production=production, name__iexact=name, deleted_at__isnull=True)
           .order_by("-pk").first()
           or Sandbox.objects.filter(production=production, name__iexact=name, state=Sandbox.State.FAILED)
           .order_by("-pk").first())
    if row is None:
        raise ApiAccessError(404, "not_found", f"No sandbox named “{name}” on this production org.")
    return row


# -- scratch orgs on a Dev Hub ------------------------------------------------------------------------------------

def _hub(token, ident):
    """(Dev Hub connection, the token's Access on it): 404 unless a Dev Hub the token can see."""
    hub, found, _ = resolve(token, ident, need=access.Level.VIEW)
    if not hub.is_devhub:
        raise ApiAccessError(404, "not_found", f"“{ident}” is not a Dev Hub you can see.")
    return hub, found


def _scratch_json(request, scratch: ScratchOrg) -> dict:
    done = scratch.status == "Active" and scratch.connection_id is not None
    failed = scratch.status == "Error" or bool(scratch.error_code)
    return {
        "id": str(scratch.code), "status": scratch.status, "error_code": scratch.error_code or None,
        "state": "failed" if failed else "deleted" if scratch.deleted_at else "done" if done else "pending",
        "org_id": scratch.org_id or None, "username": scratch.signup_username or None,
        "alias": scratch.requested_alias or None, "org_name": scratch.org_name, "edition": scratch.edition,
        "namespace": scratch.namespace or None,
        "instance_url": scratch.connection.instance_url if done else None,
        "created_at": scratch.created_date.isoformat() if scratch.created_date else None,
        "expires_on": scratch.expiration_date.isoformat() if scratch.expiration_date else None,
        "dev_hub": scratch.dev_hub.username,
        "status_url": request.build_absolute_uri(
            f"/api/v1/orgs/{quote(scratch.dev_hub.username, safe='@')}/scratch-orgs/{scratch.code}"),
    }


def _scratch(hub, code: str) -> ScratchOrg:
    try:
        scratch = (ScratchOrg.objects.select_related("dev_hub", "connection")
                   .filter(dev_hub=hub, code=uuid.UUID(code)).first())
    except ValueError:
        scratch = None
    if scratch is None:
        raise ApiAccessError(404, "not_found", "No such scratch org on this Dev Hub.")
    return scratch


def _wait_seconds(request, data: dict) -> int:
    raw = request.GET.get("wait", data.get("wait", 0))
    try:
        wait = int(raw)
    except (TypeError, ValueError):
        raise ApiAccessError(400, "bad_request", "wait is a number of seconds.") from None
    if wait < 0:
        raise ApiAccessError(400, "bad_request", "wait is a number of seconds.")
    return min(wait, settings.PORTAL_API_SCRATCH_MAX_WAIT)


@api_view("GET", "POST")
def hub_scratch_orgs(request, token, ident):
    hub, found = _hub(token, ident)
    if request.method == "GET":
        rows = list(ScratchOrg.objects.select_related("dev_hub", "connection")
                    .filter(dev_hub=hub, deleted_at__isnull=True).order_by("-created_date", "-pk"))
        return paginate(request, rows, lambda row: [-row.pk], "scratch_orgs", lambda row: _scratch_json(request, row))
    if not access.can_create_scratch_org(hub, found):
        raise ApiAccessError(403, "forbidden", f"Creating scratch orgs on “{ident}” needs target level on it.")
    membership = _requester(token)
    data = _body(request)
    wait = _wait_seconds(request, data)
    definition = data.get("definition") or {}
    if not isinstance(definition, dict):
        raise ApiAccessError(400, "bad_request", "definition is an object, like project-scratch-def.json.")
    try:
        duration = data.get("duration_days")
        fields = scratch.scratch_definition(
            json_text=json.dumps(definition) if definition else "", edition=str(data.get("edition") or ""),
            org_name=str(data.get("org_name") or ""), features=str(data.get("features") or ""),
            duration_days=int(duration) if isinstance(duration, (int, str)) and str(duration).isdigit() else None,
            namespace=str(data.get("namespace") or ""))
        created = scratch.scratch_org_create(membership=membership, hub=hub, fields=fields,
                                             alias=str(data.get("alias") or ""), ip=client_ip(request))
    except ServiceError as exc:
        return api_error(400, "bad_request", str(exc))
    deadline = time.monotonic() + wait
    status = created.status
    while status in scratch.PENDING and time.monotonic() < deadline:
        time.sleep(min(settings.PORTAL_API_SCRATCH_POLL_SECONDS, max(0.0, deadline - time.monotonic())))
        try:
            status = scratch.scratch_org_poll(scratch_id=created.pk)
        except Exception:  # noqa: BLE001 (transient: the worker's poll goes on; answer 202)
            log.warning("scratch org %s: poll during the API wait failed", created.pk, exc_info=True)
            break
    created = ScratchOrg.objects.select_related("dev_hub", "connection").get(pk=created.pk)
    body = _scratch_json(request, created)
    if body["state"] == "done":
        return _json(body, status=201, headers={"Location": body["status_url"]})
    if body["state"] == "failed":
        return api_error(422, "scratch_org_failed", f"The Dev Hub could not create the scratch org "
                                                    f"({created.error_code or created.status}).")
    return _json(body, status=202, headers={"Location": body["status_url"], "Retry-After": "10"})


@api_view("GET", "DELETE")
def hub_scratch_org(request, token, ident, code):
    hub, found = _hub(token, ident)
    row = _scratch(hub, code)
    if request.method == "GET":
        return _json(_scratch_json(request, row))
    membership = _requester(token)
    if not access.can_delete_scratch_org(membership, row, found):
        raise ApiAccessError(403, "forbidden", "Only its creator or a manager of the Dev Hub deletes a scratch org.")
    try:
        scratch.scratch_org_delete(actor=membership.user, scratch=row, ip=client_ip(request))
    except ServiceError as exc:
        return api_error(503, "salesforce_unavailable", str(exc)) if "unavailable" in str(exc) \
            else api_error(409, "refused", str(exc))
    row.refresh_from_db()
    return _json(_scratch_json(request, row))


# -- CI: OIDC token exchange (RFC 8693) and trust policies ---------------------------------------------------------

@api_view("POST", authenticated=False)
def oauth_token(request):
    """A CI job's OIDC ID token for a short-lived org access token (or a portal API token): orgs/services/oidc.py."""
    form = request.POST
    try:
        result = oidc.exchange(grant_type=form.get("grant_type", ""), subject_token=form.get("subject_token", ""),
                               subject_token_type=form.get("subject_token_type", ""),
                               resource=form.get("resource"), audience=form.get("audience"),
                               requested_token_type=form.get("requested_token_type"), ip=client_ip(request))
    except oidc.ExchangeError as exc:
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
        if exc.status == 429 and exc.retry_after and exc.policy:
            headers = rate_limit_headers(policy=exc.policy[0], quota=exc.policy[1], window=60,
                                         retry_after=exc.retry_after)
        return _json({"error": exc.error, "error_description": exc.description}, status=exc.status, headers=headers)
    body = {"access_token": result.token, "issued_token_type": result.issued_token_type, "token_type": "Bearer",
            "expires_in": result.expires_in}
    if result.connection is not None:
        body.update({"instance_url": result.instance_url, "org_id": result.org_id, "username": result.username,
                     "api_version": result.api_version})
    return _json(body)


def _policy_json(policy) -> dict:
    return {"id": str(policy.code), "name": policy.name, "issuer": policy.issuer.issuer,
            "issuer_kind": policy.issuer.kind, "audience": policy.audience,
            "required_claims": policy.required_claims,
            "glob": {"claim": policy.glob_claim, "pattern": policy.glob_pattern} if policy.glob_claim else None,
            "allowed_events": policy.allowed_events, "max_lifetime": policy.max_lifetime, "enabled": policy.enabled,
            "orgs": sorted(c.username for c in policy.connections.all()),
            "last_used_at": policy.last_used_at.isoformat() if policy.last_used_at else None}


def _policy_fields(membership, body: dict) -> dict:
    issuer = oidc.issuer_register(actor=membership, kind=str(body.get("issuer_kind") or "custom"),
                                  url=str(body.get("issuer") or ""))
    usernames = body.get("orgs") or []
    if not isinstance(usernames, list):
        raise ValueError("orgs must be a list of usernames")
    ids = list(OrgConnection.objects.filter(team=membership.team, username__in=[str(u) for u in usernames])
               .values_list("pk", flat=True))
    if len(ids) != len(set(usernames)):
        raise ValueError("orgs: every entry must be the username of one of the team's orgs")
    glob = body.get("glob") or {}
    claims = body.get("required_claims") or {}
    events = body.get("allowed_events")
    if not isinstance(claims, dict) or not isinstance(glob, dict) or (events is not None and
                                                                     not isinstance(events, list)):
        raise ValueError("required_claims and glob are objects, allowed_events a list")
    return {"issuer": issuer, "name": str(body.get("name") or ""), "audience": str(body.get("audience") or ""),
            "required_claims": claims, "glob_claim": str(glob.get("claim") or ""),
            "glob_pattern": str(glob.get("pattern") or ""),
            "allowed_events": events if events is not None else oidc.default_events(issuer),
            "connection_ids": ids, "max_lifetime": int(body.get("max_lifetime") or
                                                       settings.PORTAL_OIDC_DEFAULT_LIFETIME)}


def _body(request) -> dict:
    try:
        data = json.loads(request.body or b"{}")
    except ValueError:
        raise ApiAccessError(400, "bad_request", "Send a JSON object.") from None
    if not isinstance(data, dict):
        raise ApiAccessError(400, "bad_request", "Send a JSON object.")
    return data


@api_view("GET", "POST")
def org_sandboxes(request, token, ident):
    if request.method == "GET":
        production = _production(token, ident, manage=False)
        rows = (Sandbox.objects.filter(production=production, deleted_at__isnull=True).order_by("name"))
        return _json({"sandboxes": [sandboxes.sandbox_as_json(row) for row in rows]})
    production = _production(token, ident, manage=True)
    membership = _requester(token)
    data = _body(request)
    source = None
    if data.get("source"):
        source = Sandbox.objects.filter(production=production, name__iexact=str(data["source"]),
                                        deleted_at__isnull=True).exclude(sandbox_info_id="").first()
        if source is None:
            return api_error(400, "bad_request", f"No sandbox named “{data['source']}” to clone.")
    try:
        created = sandboxes.sandbox_create(
            membership=membership, production=production, name=str(data.get("name") or ""),
            license_type=str(data.get("license_type") or ""), description=str(data.get("description") or ""),
            source=source, apex_class_id=str(data.get("apex_class_id") or ""),
            auto_activate=data.get("auto_activate", True) is not False, alias=str(data.get("alias") or ""),
            share=str(data.get("share") or Sandbox.Share.NOBODY), ip=client_ip(request))
    except ServiceError as exc:
        return api_error(400, "bad_request", str(exc))
    created.refresh_from_db()
    return _json(sandboxes.sandbox_as_json(created), status=202)


@api_view("GET", "DELETE")
def org_sandbox(request, token, ident, name):
    production = _production(token, ident, manage=request.method == "DELETE")
    row = _sandbox(production, name)
    if request.method == "GET":
        return _json(sandboxes.sandbox_as_json(row))
    membership = _requester(token)
    try:
        sandboxes.sandbox_delete(actor=membership.user, sandbox=row, confirm_name=request.GET.get("confirm", ""),
                                 ip=client_ip(request))
    except ServiceError as exc:
        return api_error(400, "bad_request", str(exc))
    row.refresh_from_db()
    return _json(sandboxes.sandbox_as_json(row))


@api_view("POST")
def org_sandbox_refresh(request, token, ident, name):
    production = _production(token, ident, manage=True)
    row = _sandbox(production, name)
    membership = _requester(token)
    data = _body(request)
    try:
        row = sandboxes.sandbox_refresh(membership=membership, sandbox=row,
                                        auto_activate=data.get("auto_activate", True) is not False,
                                        ip=client_ip(request))
    except ServiceError as exc:
        return api_error(409, "refused", str(exc))
    row.refresh_from_db()
    return _json(sandboxes.sandbox_as_json(row), status=202)


def _policy_call(request, token, action):
    try:
        membership = access.membership_of_api_token(token, access.TeamAction.MANAGE_TRUST_POLICIES)
    except PermissionDenied:
        return api_error(403, "forbidden", "Only team admins (with a personal API token) manage trust policies.")
    try:
        return action(membership)
    except (ServiceError, ValueError, TypeError) as exc:
        return api_error(400, "invalid", str(exc))


@api_view("GET", "POST")
def trust_policies(request, token):
    def act(membership):
        if request.method == "GET":
            rows = TrustPolicy.objects.filter(team=membership.team).select_related("issuer").prefetch_related(
                "connections").order_by("name")
            return _json({"trust_policies": [_policy_json(p) for p in rows]})
        policy = oidc.trust_policy_save(actor=membership, ip=client_ip(request),
                                        **_policy_fields(membership, _body(request)))
        return _json(_policy_json(policy), status=201)

    return _policy_call(request, token, act)


@api_view("GET", "PATCH", "DELETE")
def trust_policy(request, token, code):
    def act(membership):
        policy = TrustPolicy.objects.select_related("issuer").filter(team=membership.team, code=code).first()
        if policy is None:
            return api_error(404, "not_found", "No such trust policy in your team.")
        if request.method == "GET":
            return _json(_policy_json(policy))
        if request.method == "DELETE":
            oidc.trust_policy_delete(actor=membership, policy=policy, ip=client_ip(request))
            return _json({"deleted": str(code)})
        body = _body(request)
        if set(body) == {"enabled"}:
            oidc.trust_policy_set_enabled(actor=membership, policy=policy, enabled=bool(body["enabled"]),
                                          ip=client_ip(request))
            return _json(_policy_json(policy))
        merged = {**_policy_json(policy), **body}
        merged["issuer_kind"] = body.get("issuer_kind", policy.issuer.kind)
        policy = oidc.trust_policy_save(actor=membership, policy=policy, ip=client_ip(request),
                                        **_policy_fields(membership, merged))
        return _json(_policy_json(policy))

    return _policy_call(request, token, act)


@api_view("GET", authenticated=False)
def schema_view(request):
    return _json(schema.schema(server_url=request.build_absolute_uri("/api/v1")))


@api_view("GET", "POST", "PUT", "PATCH", "DELETE", authenticated=False)
def not_found(request, rest=""):
    return api_error(404, "not_found", "No such API endpoint. See /api/v1/schema.")


# -- time-boxed access (issue 18): requests, decisions, break-glass ------------------------------------------------

def access_request_json(row) -> dict:
    return {"id": str(row.code), "org": row.connection.username, "org_id": row.connection.org_id,
            "requester": row.requester.email, "level": row.get_level_display(), "minutes": row.minutes,
            "reason": row.reason, "ticket": row.ticket, "break_glass": row.break_glass, "state": row.state_now,
            "approvals": [a["email"] for a in row.approvals],
            "created_at": row.created_at.isoformat(), "decide_by": row.decide_by.isoformat(),
            "expires_at": row.expires_at.isoformat() if row.expires_at else None}


def _access_member(token) -> Membership:
    try:
        return access.membership_of_api_token(token, access.TeamAction.VIEW)
    except PermissionDenied:
        raise ApiAccessError(403, "forbidden", "Access requests need a personal API token.") from None


def _level_of(value) -> int:
    by_label = {label: level for level, label in access.Level.choices}
    if isinstance(value, str) and value in by_label:
        return by_label[value]
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ApiAccessError(400, "bad_request", "level: view, target or manage.") from None


@api_view("GET", "POST")
def access_requests(request, token):
    membership = _access_member(token)
    if request.method == "GET":
        mine = AccessRequest.objects.filter(team_id=token.team_id, requester_id=token.user_id).select_related(
            "connection", "requester")[:50]
        return _json({"requests": [access_request_json(r) for r in mine],
                      "to_decide": [access_request_json(r) for r in access.requests_to_decide(membership)]})
    data = _body(request)
    connection, _, _ = resolve(token, str(data.get("org") or ""), need=access.Level.VIEW)
    try:
        if data.get("break_glass") is True:
            row = access_requests_service.access_break_glass(
                membership=membership, connection=connection, reason=str(data.get("reason") or ""),
                ticket=str(data.get("ticket") or ""), ip=client_ip(request))
        else:
            row = access_requests_service.access_request_create(
                membership=membership, connection=connection, level=_level_of(data.get("level", "target")),
                minutes=data.get("minutes"), reason=str(data.get("reason") or ""),
                ticket=str(data.get("ticket") or ""), ip=client_ip(request))
    except ServiceError as exc:
        return api_error(400, "bad_request", str(exc))
    return _json(access_request_json(row), status=201)


def _access_request(token, code, action):
    try:
        return access.access_request_for_api_token(token, code, action)
    except Http404:
        raise ApiAccessError(404, "not_found", "No such access request that you can see.") from None
    except PermissionDenied:
        raise ApiAccessError(403, "forbidden", f"You cannot {action} this request (now).") from None


@api_view("GET")
def access_request(request, token, code):
    _access_member(token)
    _, row, _ = _access_request(token, code, "view")
    return _json(access_request_json(row))


@api_view("POST")
def access_request_action(request, token, code, action):
    _access_member(token)
    check = {"approve": "decide", "deny": "decide", "end": "end", "revoke": "revoke"}.get(action)
    if check is None:
        return api_error(404, "not_found", "Use approve, deny, end or revoke.")
    membership, row, _ = _access_request(token, code, check)
    try:
        if check == "decide":
            row = access_requests_service.access_request_decide(membership=membership, request=row,
                                                                approve=action == "approve", ip=client_ip(request))
        else:
            row = access_requests_service.access_request_end(membership=membership, request=row,
                                                             revoke=action == "revoke", ip=client_ip(request))
    except ServiceError as exc:
        return api_error(409, "conflict", str(exc))
    return _json(access_request_json(row))
