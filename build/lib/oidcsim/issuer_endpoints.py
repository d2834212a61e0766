"""The public endpoints of each issuer: discovery, JWKS, the Actions token request; and the attacker's files."""

from __future__ import annotations

import hmac
import time
from typing import Any

from oidcsim import keys
from oidcsim.claims import CLAIMS_SUPPORTED, build_claims
from oidcsim.model import ACTIONS_SUFFIX, ATTACKER_PREFIX, DISCOVERY_SUFFIX, Issuer, World
from oidcsim.web import Request, Response, error, json_response, redirect


def find(world: World, path: str) -> tuple[Issuer, str] | None:
    """The issuer and endpoint (``discovery``, ``jwks``, ``actions_token``) that ``path`` names, if any."""
    for issuer in world.issuers.values():
        if path == issuer.path + DISCOVERY_SUFFIX:
            return issuer, "discovery"
        if path == issuer.jwks_path():
            return issuer, "jwks"
        if issuer.kind == "github" and path == issuer.path + ACTIONS_SUFFIX:
            return issuer, "actions_token"
    return None


def serve(world: World, issuer: Issuer, endpoint: str, req: Request) -> Response:
    if req.method != "GET":
        return Response(405, b"", None, [("Allow", "GET")])
    if endpoint == "discovery":
        return discovery(world, issuer)
    if endpoint == "jwks":
        return jwks(world, issuer)
    return actions_token(world, issuer, req)


def algorithms(issuer: Issuer) -> list[str]:
    published = {key.alg for key in issuer.published()}
    return [alg for alg in keys.KEY_ALGS if alg in published] or ["RS256"]


def discovery(world: World, issuer: Issuer) -> Response:
    config = issuer.config
    if config.discovery_status is not None:
        return error(config.discovery_status, f"oidcsim: discovery_status {config.discovery_status}")
    document: dict[str, Any] = {
        "issuer": config.discovery_issuer or issuer.url(world.base_url),
        "jwks_uri": config.discovery_jwks_uri or world.base_url + issuer.jwks_path(),
        "subject_types_supported": ["public", "pairwise"] if issuer.kind == "github" else ["public"],
        "response_types_supported": ["id_token"],
        "claims_supported": CLAIMS_SUPPORTED[issuer.kind],
        "id_token_signing_alg_values_supported": algorithms(issuer),
        "scopes_supported": ["openid"],
    }
    return json_response(200, document)


def jwks(world: World, issuer: Issuer) -> Response:
    config = issuer.config
    if config.jwks_status is not None:
        return error(config.jwks_status, f"oidcsim: jwks_status {config.jwks_status}")
    if config.jwks_redirect is not None:
        return redirect(config.jwks_redirect)
    published = [] if config.jwks_empty else issuer.published()
    return json_response(200, {"keys": [key.public_jwk() for key in published]})


def actions_token(world: World, issuer: Issuer, req: Request) -> Response:
    """GitHub's ``ACTIONS_ID_TOKEN_REQUEST_URL``: ``Authorization: bearer <request token>`` → ``{"value": jwt}``."""
    job = issuer.actions_job
    scheme, _, presented = req.headers.get("authorization", "").partition(" ")
    if (
        job is None
        or scheme.lower() != "bearer"
        or not hmac.compare_digest(presented.strip().encode(), job.request_token.encode())
    ):
        return json_response(401, {"message": "Unauthorized: missing or invalid request token"})
    claims = build_claims(
        issuer.kind, issuer.url(world.base_url), None, job.claims, now=int(time.time()), lifetime=job.lifetime
    )
    audience = req.query.get("audience") or f"https://github.com/{claims.get('repository_owner', '')}"
    claims = {**claims, "aud": audience}
    key = issuer.signing_key
    return json_response(200, {"value": key.sign({"typ": "JWT", "kid": key.kid}, claims)})


def attacker(world: World, path: str, req: Request) -> Response | None:
    """``/__attacker/jwks`` (the attacker's key as a JWK Set) and ``/__attacker/cert.pem`` (its self-signed cert)."""
    if path == f"{ATTACKER_PREFIX}/jwks":
        world.attacker_counters["jwks"] += 1
        return json_response(200, {"keys": [world.attacker_key.public_jwk()]})
    if path == f"{ATTACKER_PREFIX}/cert.pem":
        world.attacker_counters["x5u"] += 1
        return Response(200, keys.self_signed_pem(world.attacker_key), "application/x-pem-file")
    return None
