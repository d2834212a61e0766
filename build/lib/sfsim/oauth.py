"""OAuth endpoints: authorize (pages), token (code / refresh / JWT bearer), revoke, introspect,
userinfo and the identity URL. Every function runs with ``world.lock`` held."""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Any

import jwt

from sfsim import ids, pages
from sfsim.model import (
    CODE_TTL_SECONDS,
    REFRESH_SCOPES,
    AccessToken,
    App,
    AuthCode,
    Org,
    Pending,
    User,
    World,
)
from sfsim.web import (
    Request,
    Response,
    add_query,
    html,
    json_response,
    oauth_error,
    redirect,
    rest_error,
)

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ERROR_PAGE_PATH = "/setup/secur/RemoteAccessErrorPage.apexp"
SESSION_COOKIE = "sfsim_sid"  # not "sid": the portal on the same host (another port) would receive it
UI_SESSION_SECONDS = 2 * 3600
PRODUCTION_LOGIN = "https://login.salesforce.com"  # production and Developer Edition users
SANDBOX_LOGIN = "https://test.salesforce.com"  # sandbox and scratch-org users
LOGIN_AUDIENCES = (PRODUCTION_LOGIN, SANDBOX_LOGIN)
_CHALLENGE_RE = re.compile(r"[A-Za-z0-9_-]{43}")
_VERIFIER_RE = re.compile(r"[A-Za-z0-9._~-]{43,128}")

EXPIRED_CODE = ("invalid_grant", "expired authorization code")
EXPIRED_TOKEN = ("invalid_grant", "expired access/refresh token")
AUTH_FAILURE = ("invalid_grant", "authentication failure")
BAD_VERIFIER = ("invalid_grant", "invalid code verifier")
BAD_ASSERTION = ("invalid_grant", "invalid assertion")
BAD_CLIENT_ID = ("invalid_client_id", "client identifier invalid")
BAD_CLIENT = ("invalid_client", "invalid client credentials")
NOT_APPROVED = ("invalid_grant", "user hasn't approved this consumer")
DENIED = [("error", "access_denied"), ("error_description", "end-user denied authorization")]
REDIRECT_MISMATCH = ("redirect_uri_mismatch", "redirect_uri must match configuration")
SESSION_INVALID = "Session expired or invalid"
HIGH_ASSURANCE = "This session is not valid for use with the REST API"


class AuthorizeError(Exception):
    """An authorize-request problem. ``page`` errors are shown by Salesforce; others go to redirect_uri."""

    def __init__(self, error: str, description: str, *, page: bool = False) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.page = page


# -- authorize ------------------------------------------------------------------------------------


def start_authorization(world: World, params: dict[str, str]) -> tuple[str, Pending]:
    """Validate an authorize request and park it server-side; returns (txn id, pending)."""
    app = world.apps.get(params.get("client_id", ""))
    if app is None:
        raise AuthorizeError(*BAD_CLIENT_ID, page=True)
    redirect_uri = params.get("redirect_uri", "")
    if not redirect_uri:
        raise AuthorizeError("redirect_uri_missing", "redirect_uri must be provided", page=True)
    if redirect_uri not in app.callback_urls:
        raise AuthorizeError(*REDIRECT_MISMATCH, page=True)
    if params.get("response_type") != "code":
        raise AuthorizeError("unsupported_response_type", "response type not supported")
    challenge = params.get("code_challenge") or None
    if challenge is not None:
        if (params.get("code_challenge_method") or "S256") != "S256":
            raise AuthorizeError("invalid_request", "invalid code challenge method")
        if not _CHALLENGE_RE.fullmatch(challenge):
            raise AuthorizeError("invalid_request", "invalid code challenge")
    elif app.require_pkce:
        raise AuthorizeError("invalid_request", "missing required code challenge")
    scopes = _granted_scopes(app, params.get("scope"))
    pending = Pending(
        client_id=app.consumer_key,
        redirect_uri=redirect_uri,
        state=params.get("state"),
        scopes=scopes,
        code_challenge=challenge,
        expires=world.now() + CODE_TTL_SECONDS,
    )
    txn = ids.new_opaque_id()
    world.prune()
    world.pending[txn] = pending
    return txn, pending


def _granted_scopes(app: App, requested: str | None) -> tuple[str, ...]:
    wanted = tuple(dict.fromkeys(requested.split())) if requested and requested.strip() else app.scopes
    allowed = set(app.scopes)
    if allowed & REFRESH_SCOPES:
        allowed |= REFRESH_SCOPES  # refresh_token and offline_access are synonyms
    if "full" in allowed:
        return wanted
    if any(scope not in allowed for scope in wanted):
        raise AuthorizeError("invalid_scope", "the requested scope is not allowed")
    return wanted


def authorize_get(world: World, req: Request) -> Response:
    req.log["client_id"] = req.query.get("client_id")
    try:
        txn, pending = start_authorization(world, req.query)
    except AuthorizeError as exc:
        return _authorize_failure(exc, req.query.get("redirect_uri", ""), req.query.get("state"), req)
    if "login" not in (req.query.get("prompt") or "").split():
        user = _session_user(world, req)
        if user is not None:
            pending.user_id = user.id
            return html(200, _allow_page(world, txn, pending, user))
    return html(200, pages.login_page(txn, username=req.query.get("login_hint", "")))


def _authorize_failure(exc: AuthorizeError, redirect_uri: str, state: str | None, req: Request) -> Response:
    req.log["outcome"] = exc.error
    if exc.page:
        return redirect(
            add_query(ERROR_PAGE_PATH, [("error", exc.error), ("error_description", exc.description)])
        )
    return redirect(
        callback_url(redirect_uri, [("error", exc.error), ("error_description", exc.description)], state)
    )


def callback_url(redirect_uri: str, params: list[tuple[str, str]], state: str | None) -> str:
    """The redirect back to the client: its params, then ``state`` exactly as received (if any)."""
    return add_query(redirect_uri, params + ([("state", state)] if state is not None else []))


def error_page(world: World, req: Request) -> Response:
    return html(400, pages.error_page(req.query.get("error", ""), req.query.get("error_description", "")))


def _session_user(world: World, req: Request) -> User | None:
    sid = req.cookie(SESSION_COOKIE)
    entry = world.ui_sessions.get(sid or "")
    if entry is None or entry[1] <= world.now():
        return None
    user = world.users.get(entry[0])
    return user if user is not None and user.active else None


def _allow_page(world: World, txn: str, pending: Pending, user: User) -> str:
    return pages.allow_page(txn, app_name=pending.client_id, username=user.username, scopes=pending.scopes)


def authorize_post(world: World, req: Request) -> Response:
    """The login form and the Allow/Deny form both post here with the hidden ``txn``."""
    form = req.form
    txn = form.get("txn", "")
    pending = world.pending.get(txn)
    if pending is None or pending.expires <= world.now():
        return html(400, pages.error_page("invalid_request", "authorization request expired or unknown"))
    req.log["client_id"] = pending.client_id
    if "username" in form:
        return _login(world, req, txn, pending)
    user = world.users.get(pending.user_id or "")
    if user is None:
        return html(200, pages.login_page(txn))
    req.log["username"] = user.username
    del world.pending[txn]
    if "allow" in form:
        code = issue_code(world, pending, user)
        req.log["outcome"] = "allowed"
        return redirect(callback_url(pending.redirect_uri, [("code", code)], pending.state))
    req.log["outcome"] = "access_denied"
    return redirect(callback_url(pending.redirect_uri, DENIED, pending.state))


def _login(world: World, req: Request, txn: str, pending: Pending) -> Response:
    username = req.form.get("username", "")
    user = world.user_by_username(username)
    password = req.form.get("password", "")
    ok = (
        user is not None
        and user.active
        and user.password is not None
        and hmac.compare_digest(user.password.encode(), password.encode())
    )
    if not ok or user is None:
        req.log["outcome"] = "login_failed"
        return html(200, pages.login_page(txn, error=pages.LOGIN_ERROR, username=username))
    req.log["username"] = user.username
    pending.user_id = user.id
    sid = ids.new_opaque_id()
    world.ui_sessions[sid] = (user.id, world.now() + UI_SESSION_SECONDS)
    cookie = f"{SESSION_COOKIE}={sid}; Path=/; HttpOnly; SameSite=Lax"
    return html(200, _allow_page(world, txn, pending, user), [("Set-Cookie", cookie)])


def issue_code(world: World, pending: Pending, user: User) -> str:
    code = ids.new_auth_code()
    world.prune()
    world.codes[code] = AuthCode(
        client_id=pending.client_id,
        redirect_uri=pending.redirect_uri,
        user_id=user.id,
        scopes=pending.scopes,
        code_challenge=pending.code_challenge,
        expires=world.now() + CODE_TTL_SECONDS,
    )
    return code


# -- token ----------------------------------------------------------------------------------------


def token(world: World, req: Request) -> Response:
    if req.method != "POST":
        return oauth_error("invalid_request", "must use HTTP POST")
    grant = req.form.get("grant_type", "")
    req.log["grant_type"] = grant
    if grant == "authorization_code":
        return _code_grant(world, req)
    if grant == "refresh_token":
        return _refresh_grant(world, req)
    if grant == JWT_GRANT:
        return _jwt_grant(world, req)
    return _fail(req, "unsupported_grant_type", "grant type not supported")


def _fail(req: Request, error: str, description: str, outcome: str | None = None) -> Response:
    req.log["outcome"] = outcome or error
    return oauth_error(error, description)


def _client(world: World, req: Request) -> App | Response:
    """Authenticate the client from the body or an ``Authorization: Basic`` header."""
    form = req.form
    basic = req.basic_credentials()
    client_id = form.get("client_id") or (basic[0] if basic else "")
    secret = form.get("client_secret") or (basic[1] if basic else "")
    req.log["client_id"] = client_id
    app = world.apps.get(client_id)
    if app is None:
        return _fail(req, *BAD_CLIENT_ID)
    if basic is not None and basic[0] != client_id:
        return _fail(req, *BAD_CLIENT)
    if app.consumer_secret is None:
        return _fail(req, *BAD_CLIENT) if secret else app
    if secret:
        if not hmac.compare_digest(secret.encode(), app.consumer_secret.encode()):
            return _fail(req, *BAD_CLIENT)
    elif app.require_secret:
        return _fail(req, *BAD_CLIENT)
    return app


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def _code_grant(world: World, req: Request) -> Response:
    app = _client(world, req)
    if isinstance(app, Response):
        return app
    form = req.form
    auth = world.codes.get(form.get("code", ""))
    if auth is None or auth.used or auth.expires <= world.now() or auth.client_id != app.consumer_key:
        return _fail(req, *EXPIRED_CODE)
    auth.used = True  # any exchange attempt burns the code
    user = world.users.get(auth.user_id)
    if user is not None:
        req.log["username"] = user.username
    if form.get("redirect_uri", "") != auth.redirect_uri:
        return _fail(req, *REDIRECT_MISMATCH)
    if auth.code_challenge is not None:
        verifier = form.get("code_verifier", "")
        if not _VERIFIER_RE.fullmatch(verifier) or not hmac.compare_digest(
            s256(verifier), auth.code_challenge
        ):
            return _fail(req, *BAD_VERIFIER)
    if user is None or not user.active:
        return _fail(req, *AUTH_FAILURE)
    family = None
    if REFRESH_SCOPES & set(auth.scopes):
        family = world.new_family(user, app, auth.scopes)
    access = world.issue_access_token(user, app, auth.scopes, family)
    req.log["outcome"] = "ok"
    return json_response(
        200,
        _token_payload(world, user, app, access, family.refresh_token if family else None, auth.scopes),
        _NO_STORE,
    )


_NO_STORE = [("Cache-Control", "no-store"), ("Pragma", "no-cache")]


def _token_payload(
    world: World,
    user: User,
    app: App,
    access: str,
    refresh: str | None,
    scopes: tuple[str, ...],
    *,
    jwt_response: bool = False,
) -> dict[str, Any]:
    """The token response, fields in Salesforce's order; signature only for apps with a secret."""
    org = world.orgs[user.org_id]
    id_url = f"{world.base_url}/id/{org.id}/{user.id}"
    payload: dict[str, Any] = {"access_token": access}
    if refresh is not None:
        payload["refresh_token"] = refresh
    issued_at = str(int(world.now() * 1000))
    if app.consumer_secret is not None and not jwt_response:
        signed = id_url + issued_at + ("tampered" if world.config.corrupt_signature else "")
        digest = hmac.new(app.consumer_secret.encode(), signed.encode(), hashlib.sha256).digest()
        payload["signature"] = base64.b64encode(digest).decode()
    payload.update(
        scope=" ".join(scopes), instance_url=world.instance_url(org), id=id_url, token_type="Bearer"
    )
    if not jwt_response:
        payload["issued_at"] = issued_at
    return payload


def mint_tokens(world: World, user: User, app: App, rotation: bool | None, scopes: tuple[str, ...]) -> dict:
    """Control API: an approval and a token response as if the web flow had just completed."""
    family = world.new_family(user, app, scopes, rotation)
    access = world.issue_access_token(user, app, scopes, family)
    return _token_payload(world, user, app, access, family.refresh_token, scopes)


def _refresh_grant(world: World, req: Request) -> Response:
    app = _client(world, req)
    if isinstance(app, Response):
        return app
    presented = req.form.get("refresh_token", "")
    if presented:
        req.log["token_sha256"] = ids.token_hash(presented)
    family_id = world.refresh_index.get(presented)
    if family_id is None:
        return _refresh_unknown(world, req, presented)
    family = world.families[family_id]
    user = world.users.get(family.user_id)
    if user is not None:
        req.log["username"] = user.username
    if family.consumer_key != app.consumer_key:
        return _fail(req, *EXPIRED_TOKEN, outcome="invalid")
    if user is None or not user.active:
        return _fail(req, *AUTH_FAILURE, outcome="invalid")
    rotation = family.rotation if family.rotation is not None else app.rotation
    new_refresh = None
    if rotation:
        del world.refresh_index[presented]
        world.rotated_out[presented] = family.id
        new_refresh = ids.new_refresh_token()
        family.refresh_token = new_refresh
        world.refresh_index[new_refresh] = family.id
    access = world.issue_access_token(user, app, family.scopes, family)
    req.log["outcome"] = "rotated" if rotation else "ok"
    return json_response(200, _token_payload(world, user, app, access, new_refresh, family.scopes), _NO_STORE)


def _refresh_unknown(world: World, req: Request, presented: str) -> Response:
    """A rotated-out token revokes its whole family (reuse detection); anything else is just invalid."""
    family_id = world.rotated_out.get(presented)
    if family_id is None:
        return _fail(req, *EXPIRED_TOKEN, outcome="invalid")
    family = world.families[family_id]
    user = world.users.get(family.user_id)
    if user is not None:
        req.log["username"] = user.username
    if not family.revoked:
        world.revoke_family(family)
    return _fail(req, *EXPIRED_TOKEN, outcome="reused")


def _jwt_grant(world: World, req: Request) -> Response:
    assertion = req.form.get("assertion", "")
    try:
        header = jwt.get_unverified_header(assertion)
        claims = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        return _fail(req, *BAD_ASSERTION)
    issuer = claims.get("iss")
    req.log["client_id"] = issuer
    app = world.apps.get(issuer) if isinstance(issuer, str) else None
    if app is None:
        return _fail(req, *BAD_CLIENT_ID)
    if header.get("alg") != "RS256" or app.public_key is None or not _signature_ok(assertion, app):
        return _fail(req, *BAD_ASSERTION)
    subject = claims.get("sub")
    user = world.user_by_username(subject) if isinstance(subject, str) else None
    if user is not None:
        req.log["username"] = user.username
    audience = _audience_check(world, claims.get("aud"), user)
    if audience is Audience.INVALID:
        return _fail(req, "invalid_grant", "Audience validation failed")
    expiry = claims.get("exp")
    if isinstance(expiry, bool) or not isinstance(expiry, int | float):
        return _fail(req, *BAD_ASSERTION)
    if expiry <= world.now():
        return _fail(req, *EXPIRED_CODE)
    if user is None or not user.active:
        return _fail(req, *AUTH_FAILURE)
    if audience is Audience.WRONG_HOST_TYPE:  # e.g. a sandbox user asserted to login.salesforce.com
        return _fail(req, *NOT_APPROVED, outcome="wrong_host_type")
    if not world.has_approval(user, app):
        return _fail(req, *NOT_APPROVED)
    scopes = tuple(scope for scope in app.scopes if scope not in REFRESH_SCOPES)
    access = world.issue_access_token(user, app, scopes, None)
    req.log["outcome"] = "ok"
    payload = _token_payload(world, user, app, access, None, scopes, jwt_response=True)
    return json_response(200, payload, _NO_STORE)


def _signature_ok(assertion: str, app: App) -> bool:
    try:
        jwt.decode(
            assertion,
            key=app.public_key,
            algorithms=["RS256"],
            options={
                "verify_aud": False,
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
                "verify_iss": False,
                "verify_sub": False,
                "verify_jti": False,
            },
        )
    except jwt.PyJWTError:
        return False
    return True


class Audience(enum.Enum):
    OK = "ok"
    WRONG_HOST_TYPE = "wrong_host_type"  # the other login host: production vs sandbox
    INVALID = "invalid"


def _audience_check(world: World, audience: Any, user: User | None) -> Audience:
    """Classify a JWT ``aud`` (a string or a list of strings) for ``user``.

    The simulator's base URL and the user's org My Domain (``instance_url``) fit every user. Of the two
    login hosts, a sandbox or scratch user must use test.salesforce.com and a production or Developer
    Edition user login.salesforce.com (SALESFORCE.md section 3): the other one is ``WRONG_HOST_TYPE``,
    which Salesforce reports as ``user hasn't approved this consumer``. For an unknown user both login
    hosts pass here; the grant then fails with ``authentication failure``.
    """
    values = audience if isinstance(audience, list) else [audience]
    hosts = {value.rstrip("/") for value in values if isinstance(value, str)}
    if user is None:
        return Audience.OK if hosts & {world.base_url, *LOGIN_AUDIENCES} else Audience.INVALID
    org = world.orgs[user.org_id]
    login_host, other_host = (SANDBOX_LOGIN, PRODUCTION_LOGIN) if org.is_sandbox else LOGIN_AUDIENCES
    if hosts & {world.base_url, world.instance_url(org), login_host}:
        return Audience.OK
    return Audience.WRONG_HOST_TYPE if other_host in hosts else Audience.INVALID


# -- revoke and introspect ------------------------------------------------------------------------


def revoke(world: World, req: Request) -> Response:
    """A refresh token revokes its family and its access tokens; an access token only itself."""
    token_value = (req.form.get("token") if req.method == "POST" else None) or req.query.get("token", "")
    if token_value:
        req.log["token_sha256"] = ids.token_hash(token_value)
    family_id = world.refresh_index.get(token_value)
    if family_id is not None:
        family = world.families[family_id]
        _log_user(world, req, family.user_id, family.consumer_key)
        world.revoke_family(family)
    elif token_value in world.access:
        session = world.access[token_value]
        _log_user(world, req, session.user_id, session.consumer_key)
        world.drop_access_token(token_value)
    else:
        req.log["outcome"] = "invalid"
        return oauth_error("invalid_token", "invalid token")
    req.log["outcome"] = "ok"
    return Response(200, b"", None)


def _log_user(world: World, req: Request, user_id: str, consumer_key: str) -> None:
    user = world.users.get(user_id)
    req.log["username"] = user.username if user else None
    req.log.setdefault("client_id", consumer_key)


def introspect(world: World, req: Request) -> Response:
    app = _client(world, req)
    if isinstance(app, Response):
        return app
    value = req.form.get("token", "")
    session = world.access.get(value)
    now = world.now()
    if session is not None:
        timeout = world.apps[session.consumer_key].session_timeout_seconds
        if now - session.last_used < timeout:
            return json_response(
                200,
                _introspection(
                    world,
                    session.user_id,
                    session.consumer_key,
                    session.scopes,
                    "access_token",
                    session.issued,
                    session.last_used + timeout,
                ),
            )
    family_id = world.refresh_index.get(value)
    if family_id is not None:
        family = world.families[family_id]
        return json_response(
            200,
            _introspection(
                world,
                family.user_id,
                family.consumer_key,
                family.scopes,
                "refresh_token",
                family.created,
                None,
            ),
        )
    return json_response(200, {"active": False})


def _introspection(
    world: World,
    user_id: str,
    client_id: str,
    scopes: tuple[str, ...],
    kind: str,
    issued: float,
    expires: float | None,
) -> dict[str, Any]:
    user = world.users[user_id]
    return {
        "active": True,
        "scope": " ".join(scopes),
        "client_id": client_id,
        "username": user.username,
        "sub": f"{world.base_url}/id/{user.org_id}/{user.id}",
        "token_type": kind,
        "exp": int(expires) if expires is not None else None,
        "iat": int(issued),
        "nbf": int(issued),
    }


# -- bearer sessions, userinfo, identity ----------------------------------------------------------


@dataclass
class Caller:
    session: AccessToken
    user: User
    org: Org


def bearer(world: World, req: Request, *, query_token: bool = False) -> Caller | Response:
    """The caller of a REST/identity request, or the 401 Salesforce would send.

    Identity and userinfo also accept the token as an ``oauth_token`` query parameter (allauth's
    Salesforce provider sends it that way); the REST API only takes the Authorization header.
    """
    value = req.bearer_token() or (req.query.get("oauth_token") if query_token else None)
    session = world.live_access_token(value) if value else None
    if session is None:
        req.log["outcome"] = "invalid_session"
        return _unauthorized(SESSION_INVALID)
    user = world.users[session.user_id]
    req.log["username"] = user.username
    req.log["client_id"] = session.consumer_key
    if user.high_assurance:
        req.log["outcome"] = "high_assurance_required"
        return _unauthorized(HIGH_ASSURANCE)
    return Caller(session, user, world.orgs[user.org_id])


def _unauthorized(message: str) -> Response:
    response = rest_error(401, "INVALID_SESSION_ID", message)
    response.headers.append(("WWW-Authenticate", "Token"))
    return response


def _identity_urls(world: World, caller_org: Org, user: User, version: str | None) -> dict[str, str]:
    base = world.instance_url(caller_org)
    org15, user15 = ids.to15(user.org_id), ids.to15(user.id)
    ver = version or "{version}"
    data = f"{base}/services/data/v{ver}"
    urls = {
        "enterprise": f"{base}/services/Soap/c/{ver}/{org15}",
        "metadata": f"{base}/services/Soap/m/{ver}/{org15}",
        "partner": f"{base}/services/Soap/u/{ver}/{org15}",
        "rest": f"{data}/",
        "sobjects": f"{data}/sobjects/",
        "search": f"{data}/search/",
        "query": f"{data}/query/",
        "recent": f"{data}/recent/",
        "tooling_soap": f"{base}/services/Soap/T/{ver}/{org15}",
        "tooling_rest": f"{data}/tooling/",
        "profile": f"{base}/{user15}",
        "feeds": f"{data}/chatter/feeds",
        "groups": f"{data}/chatter/groups",
        "users": f"{data}/chatter/users",
        "feed_items": f"{data}/chatter/feed-items",
        "feed_elements": f"{data}/chatter/feed-elements",
    }
    if caller_org.instance_url:
        urls["custom_domain"] = base
    return urls


def _photos(world: World, org: Org) -> dict[str, str]:
    base = world.instance_url(org)
    return {"picture": f"{base}/profilephoto/005/F", "thumbnail": f"{base}/profilephoto/005/T"}


def userinfo(world: World, req: Request) -> Response:
    caller = bearer(world, req, query_token=True)
    if isinstance(caller, Response):
        return caller
    user, org = caller.user, caller.org
    payload = {
        "sub": f"{world.base_url}/id/{org.id}/{user.id}",
        "user_id": user.id,
        "organization_id": org.id,
        "preferred_username": user.username,
        "nickname": user.username.split("@")[0],
        "name": user.name,
        "email": user.email,
        "email_verified": True,
        "given_name": user.first_name,
        "family_name": user.last_name,
        "zoneinfo": "America/Los_Angeles",
        "photos": _photos(world, org),
        "profile": f"{world.instance_url(org)}/{ids.to15(user.id)}",
        "picture": _photos(world, org)["picture"],
        "address": {"country": "US"},
        "is_salesforce_integration_user": False,
        "urls": _identity_urls(world, org, user, req.query.get("version")),
        "active": user.active,
        "user_type": "STANDARD",
        "language": "en_US",
        "locale": "en_US",
        "utcOffset": -28800000,
        "updated_at": user.created_date,
        "is_app_installed": True,
    }
    req.log["outcome"] = "ok"
    return json_response(200, payload)


def identity(world: World, req: Request, org_id: str, user_id: str) -> Response:
    caller = bearer(world, req, query_token=True)
    if isinstance(caller, Response):
        return caller
    oid, uid = ids.normalize_id(org_id), ids.normalize_id(user_id)
    user = world.users.get(uid or "")
    if user is None or oid != caller.org.id or user.org_id != caller.org.id:
        req.log["outcome"] = "bad_id"
        return rest_error(404, "NOT_FOUND", "Bad_Id")
    org = caller.org
    version = req.query.get("version")
    if version == "latest":
        version = "68.0"
    payload = {
        "id": f"{world.base_url}/id/{org.id}/{user.id}",
        "asserted_user": user.id == caller.user.id,
        "user_id": user.id,
        "organization_id": org.id,
        "username": user.username,
        "nick_name": user.username.split("@")[0],
        "display_name": user.name,
        "email": user.email,
        "email_verified": True,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "timezone": "America/Los_Angeles",
        "photos": _photos(world, org),
        "addr_street": None,
        "addr_city": None,
        "addr_state": None,
        "addr_country": "US",
        "addr_zip": None,
        "mobile_phone": None,
        "mobile_phone_verified": False,
        "is_lightning_login_user": False,
        "status": {"created_date": None, "body": None},
        "urls": _identity_urls(world, org, user, version),
        "active": user.active,
        "user_type": "STANDARD",
        "language": "en_US",
        "locale": "en_US",
        "utcOffset": -28800000,
        "last_modified_date": user.created_date,
        "is_app_installed": True,
    }
    req.log["outcome"] = "ok"
    return json_response(200, payload)
