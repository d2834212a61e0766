"""The control API under /__control/ (tests and demos only). JSON in, JSON out; callers hold no key material."""

from __future__ import annotations

import base64
import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, fields
from typing import Any
from urllib.parse import unquote

from oidcsim import keys
from oidcsim.claims import build_claims
from oidcsim.errors import Problem
from oidcsim.model import ActionsJob, Issuer, Misbehaviour, World, new_request_token
from oidcsim.web import Request, Response, error, json_response

Handler = Callable[[World, Request, dict[str, str]], Response]

ATTACKS = ("none", "hs256_public_key", "unknown_kid", "foreign_key", "jwk", "jku", "x5u")


def _int(value: Any, name: str, low: float | None = None, high: float | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise Problem(f"{name} must be an integer")
    if (low is not None and value < low) or (high is not None and value > high):
        raise Problem(f"{name} must be between {low} and {high}")
    return value


def _optional_str(value: Any, name: str) -> str | None:
    if value is not None and (not isinstance(value, str) or not value):
        raise Problem(f"{name} must be a non-empty string or null")
    return value


# -- global ------------------------------------------------------------------------------------------------


def health(world: World, req: Request, _: dict[str, str]) -> Response:
    return json_response(200, {"ok": True, "base_url": world.base_url})


def reset(world: World, req: Request, _: dict[str, str]) -> Response:
    world.reset()
    return json_response(200, {"ok": True, "issuers": sorted(world.issuers)})


def issuers(world: World, req: Request, _: dict[str, str]) -> Response:
    if req.method == "POST":
        body = req.json_object()
        issuer = world.create_issuer(str(body.get("name", "")), str(body.get("kind", "custom")), body.get("path"))
        return json_response(201, issuer.describe(world.base_url))
    return json_response(200, [issuer.describe(world.base_url) for issuer in world.issuers.values()])


def attacker(world: World, req: Request, _: dict[str, str]) -> Response:
    key = world.attacker_key
    return json_response(
        200,
        {
            "kid": key.kid,
            "jwk": key.public_jwk(),
            "jwks_url": world.attacker_jwks_url(),
            "x5u_url": world.attacker_x5u_url(),
            "counters": dict(world.attacker_counters),
        },
    )


# -- per issuer --------------------------------------------------------------------------------------------


def issuer_detail(world: World, req: Request, params: dict[str, str]) -> Response:
    issuer = world.issuer(params["name"])
    if req.method == "DELETE":
        del world.issuers[issuer.name]
        return json_response(200, {"deleted": issuer.name})
    return json_response(200, issuer.describe(world.base_url))


def add_key(world: World, req: Request, params: dict[str, str]) -> Response:
    issuer = world.issuer(params["name"])
    body = req.json_object()
    publish, sign = body.get("publish", True), body.get("sign", False)
    if not isinstance(publish, bool) or not isinstance(sign, bool):
        raise Problem("publish and sign must be true or false")
    if sign and not publish:
        raise Problem("an unpublished key cannot be the signing key")
    key = issuer.add_key(str(body.get("alg", "RS256")), publish=publish, sign=sign)
    return json_response(201, {"kid": key.kid, "alg": key.alg, "published": key.published, "signing": sign})


def rotate(world: World, req: Request, params: dict[str, str]) -> Response:
    """Add a key, publish it next to the old ones and make it the signing key. The old key stays published."""
    issuer = world.issuer(params["name"])
    previous = issuer.signing_kid
    key = issuer.add_key(str(req.json_object().get("alg", "RS256")), sign=True)
    return json_response(200, {"kid": key.kid, "alg": key.alg, "previous_kid": previous})


def key_action(world: World, req: Request, params: dict[str, str]) -> Response:
    issuer = world.issuer(params["name"])
    kid, action = params["kid"], params.get("action") or ("retire" if req.method == "DELETE" else "")
    if action == "sign":
        issuer.use_key(kid)
    elif action == "retire":
        issuer.retire_key(kid)
    elif action == "publish":
        issuer.key(kid).published = True
    else:
        raise Problem("use POST .../keys/<kid>/sign, /retire or /publish (or DELETE .../keys/<kid>)", 404)
    return json_response(200, issuer.describe(world.base_url))


def counters(world: World, req: Request, params: dict[str, str]) -> Response:
    issuer = world.issuer(params["name"])
    if req.method == "DELETE":
        issuer.counters = dict.fromkeys(issuer.counters, 0)
    return json_response(200, dict(issuer.counters))


def configure(world: World, req: Request, params: dict[str, str]) -> Response:
    issuer = world.issuer(params["name"])
    if req.method == "POST":
        issuer.config = _merged_config(world, issuer.config, req.json_object())
    elif req.method == "DELETE":
        issuer.config = Misbehaviour()
    return json_response(200, asdict(issuer.config))


def _merged_config(world: World, current: Misbehaviour, changes: dict[str, Any]) -> Misbehaviour:
    """Validate everything first, then apply: a bad request changes nothing. ``null`` restores a default."""
    values = asdict(current)
    defaults = {f.name: f.default for f in fields(Misbehaviour)}
    unknown = set(changes) - set(values)
    if unknown:
        raise Problem(f"unknown settings {sorted(unknown)}; known: {sorted(values)}")
    for key, value in changes.items():
        if value is None:
            values[key] = defaults[key]
        elif key == "latency_ms":
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 120_000:
                raise Problem("latency_ms must be a number between 0 and 120000")
            values[key] = value
        elif key in ("jwks_status", "discovery_status"):
            values[key] = _int(value, key, 200, 599)
        elif key == "jwks_empty":
            if not isinstance(value, bool):
                raise Problem("jwks_empty must be true or false")
            values[key] = value
        elif key == "jwks_redirect":
            values[key] = world.attacker_jwks_url() if value is True else _optional_str(value, key)
        else:
            values[key] = _optional_str(value, key)
    return Misbehaviour(**values)


def mint(world: World, req: Request, params: dict[str, str]) -> Response:
    issuer = world.issuer(params["name"])
    return json_response(200, mint_token(world, issuer, req.json_object()))


def mint_token(world: World, issuer: Issuer, body: dict[str, Any]) -> dict[str, Any]:
    """Sign claims as ``issuer`` (or forge them, with ``attack``). Returns ``{token, header, claims}``."""
    known = {"claims", "audience", "lifetime", "kid", "alg", "headers", "iat", "nbf", "exp", "attack", "url"}
    unknown = set(body) - known
    if unknown:
        raise Problem(f"unknown mint fields {sorted(unknown)}")
    if "audience" not in body:
        raise Problem("audience is required (a string, a list, or null to leave aud out)")
    audience = body["audience"]
    if audience is not None and not isinstance(audience, str | list):
        raise Problem("audience must be a string, a list or null")
    overrides = body.get("claims") or {}
    extra_headers = body.get("headers") or {}
    if not isinstance(overrides, dict) or not isinstance(extra_headers, dict):
        raise Problem("claims and headers must be JSON objects")
    times = {k: None if body.get(k) is None else _int(body[k], k) for k in ("iat", "nbf", "exp")}
    lifetime = _int(body.get("lifetime", 300), "lifetime")
    kid, alg, attack = body.get("kid"), body.get("alg"), body.get("attack")
    if attack is not None and attack not in ATTACKS:
        raise Problem(f"attack must be one of {ATTACKS}")
    claims = build_claims(
        issuer.kind, issuer.url(world.base_url), audience, overrides, now=int(time.time()), lifetime=lifetime, **times
    )

    header: dict[str, Any]
    if attack in ("foreign_key", "jwk", "jku", "x5u"):
        key = world.attacker_key
        header = {"typ": "JWT", "kid": kid or key.kid}
        if attack == "jwk":
            header["jwk"] = key.public_jwk()
        elif attack == "jku":
            header["jku"] = body.get("url") or world.attacker_jwks_url()
        elif attack == "x5u":
            header["x5u"] = body.get("url") or world.attacker_x5u_url()
    else:
        key = _issuer_key(
            issuer, kid if attack != "unknown_kid" else None, alg if attack in (None, "unknown_kid") else None
        )
        header_kid = (kid or f"unknown-{secrets.token_hex(8)}") if attack == "unknown_kid" else key.kid
        header = {"typ": "JWT", "kid": header_kid}
    header.update(extra_headers)
    header = {k: v for k, v in header.items() if v is not None}

    if attack == "hs256_public_key" and alg not in (None, "HS256"):
        raise Problem("the hs256_public_key attack always signs HS256")
    if attack == "none":
        token = keys.unsigned(header, claims)
    elif attack == "hs256_public_key":
        token = keys.hmac_signed(header, claims, key.public_pem())
    else:
        token = key.sign(header, claims, alg)
    return {"token": token, "header": {**header, "alg": _alg_of(token)}, "claims": claims}


def _issuer_key(issuer: Issuer, kid: str | None, alg: str | None) -> keys.SigningKey:
    if kid:
        return issuer.key(kid)
    if alg is None or issuer.signing_key.supports(alg):
        return issuer.signing_key
    for key in reversed(issuer.published()):
        if key.supports(alg):
            return key
    raise Problem(f'issuer {issuer.name} publishes no key for {alg}; add one (POST .../keys {{"alg": ...}})')


def _alg_of(token: str) -> str:
    segment = token.split(".", 1)[0]
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))["alg"]


def actions_job(world: World, req: Request, params: dict[str, str]) -> Response:
    """Set (POST) or clear (DELETE) what ``<issuer>/_actions/token`` accepts and mints."""
    issuer = world.issuer(params["name"])
    if issuer.kind != "github":
        raise Problem("the Actions token endpoint exists only on github-kind issuers")
    if req.method == "DELETE":
        issuer.actions_job = None
        return json_response(200, {"ok": True})
    body = req.json_object()
    token = _optional_str(body.get("request_token"), "request_token") or new_request_token()
    claims = body.get("claims") or {}
    if not isinstance(claims, dict):
        raise Problem("claims must be a JSON object")
    issuer.actions_job = ActionsJob(token, claims, _int(body.get("lifetime", 300), "lifetime", 1))
    request_url = f"{issuer.url(world.base_url)}/_actions/token?api-version=2.0"
    return json_response(200, {"request_url": request_url, "request_token": token})


_NAME = r"(?P<name>[^/]+)"
ROUTES: list[tuple[tuple[str, ...], re.Pattern[str], Handler]] = [
    (("GET",), re.compile(r"/__control/health"), health),
    (("POST",), re.compile(r"/__control/reset"), reset),
    (("GET", "POST"), re.compile(r"/__control/issuers"), issuers),
    (("GET",), re.compile(r"/__control/attacker"), attacker),
    (("GET", "DELETE"), re.compile(rf"/__control/{_NAME}"), issuer_detail),
    (("POST",), re.compile(rf"/__control/{_NAME}/keys"), add_key),
    (("POST",), re.compile(rf"/__control/{_NAME}/rotate"), rotate),
    (("POST",), re.compile(rf"/__control/{_NAME}/keys/(?P<kid>[^/]+)/(?P<action>[a-z]+)"), key_action),
    (("DELETE",), re.compile(rf"/__control/{_NAME}/keys/(?P<kid>[^/]+)"), key_action),
    (("GET", "DELETE"), re.compile(rf"/__control/{_NAME}/counters"), counters),
    (("GET", "POST", "DELETE"), re.compile(rf"/__control/{_NAME}/config"), configure),
    (("POST",), re.compile(rf"/__control/{_NAME}/mint"), mint),
    (("POST", "DELETE"), re.compile(rf"/__control/{_NAME}/actions_job"), actions_job),
]


def dispatch(world: World, req: Request) -> Response:
    for methods, pattern, handler in ROUTES:
        match = pattern.fullmatch(req.path.rstrip("/"))
        if match is None:
            continue
        if req.method not in methods:
            return error(405, f"use {' or '.join(methods)}")
        params = {k: unquote(v) for k, v in match.groupdict().items() if v is not None}
        try:
            return handler(world, req, params)
        except Problem as exc:
            return error(exc.status, str(exc))
    return error(404, "unknown control endpoint")
