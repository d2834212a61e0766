"""Opening an org in the browser (SALESFORCE.md 4.5): the UI Bridge API (``POST /services/oauth2/singleaccess``)
hands out single-use, short-lived ``/secur/frontdoor.jsp?otp=...`` URLs; the older ``sid=<access token>`` form
post to frontdoor.jsp still works. A successful frontdoor sets the UI session cookie and redirects to the
start page; anything else redirects to the login host's start page with ``ec=302``."""

from __future__ import annotations

from sfsim import ids, pages
from sfsim.model import World
from sfsim.oauth import SESSION_COOKIE, SESSION_INVALID, UI_SESSION_SECONDS, _session_user, _unauthorized
from sfsim.web import Request, Response, add_query, html, json_response, oauth_error, redirect, rest_error

FRONTDOOR_TTL_SECONDS = 60.0  # "short-lived"; Salesforce does not publish the lifetime
HOME = "/lightning/page/home"
UI_SCOPES = frozenset({"web", "full"})
NO_WEB_SCOPE = "This session is not valid for the UI: the access token needs the web scope"


def _relative(start: str) -> bool:
    return start.startswith("/") and not start.startswith("//") and "\\" not in start


def single_access(world: World, req: Request) -> Response:
    """POST /services/oauth2/singleaccess: Bearer token (or form ``access_token``), optional relative
    ``redirect_uri`` -> 200 ``{"frontdoor_uri": "<instance>/secur/frontdoor.jsp?otp=..."}``."""
    value = req.bearer_token() or req.form.get("access_token", "")
    session = world.live_access_token(value) if value else None
    if session is None:
        req.log["outcome"] = "invalid_session"
        return _unauthorized(SESSION_INVALID)
    user = world.users[session.user_id]
    req.log["username"] = user.username
    req.log["client_id"] = session.consumer_key
    if not UI_SCOPES & set(session.scopes):
        req.log["outcome"] = "no_web_scope"
        return rest_error(403, "INSUFFICIENT_ACCESS", NO_WEB_SCOPE)
    start = req.form.get("redirect_uri", "")
    if start and not _relative(start):
        req.log["outcome"] = "invalid_request"
        return oauth_error("invalid_request", "redirect_uri must be a relative URL")
    otp = ids.new_opaque_id(32)
    world.prune()
    world.frontdoor_otps[otp] = (user.id, world.now() + FRONTDOOR_TTL_SECONDS, start)
    params = [("otp", otp)] + ([("startURL", start)] if start else [])
    uri = add_query(f"{world.instance_url(world.orgs[user.org_id])}/secur/frontdoor.jsp", params)
    req.log["outcome"] = "ok"
    return json_response(200, {"frontdoor_uri": uri}, [("Cache-Control", "no-store")])


def frontdoor(world: World, req: Request) -> Response:
    """GET|POST /secur/frontdoor.jsp with ``otp`` (single use: any attempt burns it) or ``sid``."""
    params = {**req.query, **(req.form if req.method == "POST" else {})}
    user_id = None
    start = params.get("startURL") or params.get("retURL") or ""
    if params.get("otp"):
        entry = world.frontdoor_otps.pop(params["otp"], None)
        if entry is not None and entry[1] > world.now():
            user_id = entry[0]
            start = entry[2] or start
        req.log["outcome"] = "otp_ok" if user_id else "otp_invalid"
    elif params.get("sid"):
        session = world.live_access_token(params["sid"])
        user_id = session.user_id if session is not None else None
        req.log["outcome"] = "sid_ok" if user_id else "sid_invalid"
    user = world.users.get(user_id or "")
    if user is None or not user.active:
        return redirect(add_query("/", [("ec", "302")]))
    req.log["username"] = user.username
    sid = ids.new_opaque_id()
    world.ui_sessions[sid] = (user.id, world.now() + UI_SESSION_SECONDS)
    cookie = f"{SESSION_COOKIE}={sid}; Path=/; HttpOnly; SameSite=Lax"
    target = start if start and _relative(start) else HOME
    return redirect(target, [("Set-Cookie", cookie)])


def ui_page(world: World, req: Request) -> Response:
    """GET /lightning/...: the "org" as a browser sees it, for a live UI session cookie."""
    user = _session_user(world, req)
    if user is None:
        return redirect(add_query("/", [("ec", "302"), ("startURL", req.path)]))
    org = world.orgs[user.org_id]
    return html(200, pages.home_page(user.username, org.name, org.id, req.path))


def login_landing(world: World, req: Request) -> Response:
    return html(200, pages.landing_page())
