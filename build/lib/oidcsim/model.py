"""In-memory state: issuers, their keys, misbehaviours and counters, the attacker's key. One lock guards it all."""

from __future__ import annotations

import re
import secrets
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from oidcsim.claims import KINDS
from oidcsim.errors import Problem
from oidcsim.keys import SigningKey, new_key

NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
RESERVED_NAMES = {"reset", "health", "issuers", "attacker", "state"}
DEFAULT_ISSUERS = (("github", "github"), ("gitlab", "gitlab"))
JWKS_SUFFIX = {"github": "/.well-known/jwks", "gitlab": "/oauth/discovery/keys", "custom": "/.well-known/jwks"}
DISCOVERY_SUFFIX = "/.well-known/openid-configuration"
ACTIONS_SUFFIX = "/_actions/token"
ATTACKER_PREFIX = "/__attacker"


@dataclass
class Misbehaviour:
    latency_ms: float = 0  # added to every request to this issuer's endpoints
    jwks_status: int | None = None  # JWKS answers this status (e.g. 500) with an error body
    jwks_redirect: str | None = None  # JWKS answers 302 to this URL
    jwks_empty: bool = False  # JWKS answers {"keys": []}
    discovery_status: int | None = None  # discovery answers this status
    discovery_issuer: str | None = None  # discovery names this issuer instead of its own URL
    discovery_jwks_uri: str | None = None  # discovery advertises this jwks_uri instead of its own


@dataclass
class ActionsJob:
    request_token: str
    claims: dict[str, Any]
    lifetime: int = 300


@dataclass
class Issuer:
    name: str
    kind: str
    path: str  # "" (the base URL itself) or "/segment[/segment...]"
    keys: list[SigningKey] = field(default_factory=list)
    signing_kid: str = ""
    config: Misbehaviour = field(default_factory=Misbehaviour)
    counters: dict[str, int] = field(default_factory=lambda: {"jwks": 0, "discovery": 0, "actions_token": 0})
    actions_job: ActionsJob | None = None

    def url(self, base_url: str) -> str:
        return base_url + self.path

    def jwks_path(self) -> str:
        return self.path + JWKS_SUFFIX[self.kind]

    def key(self, kid: str) -> SigningKey:
        for key in self.keys:
            if key.kid == kid:
                return key
        raise Problem(f"issuer {self.name} has no key {kid}", 404)

    @property
    def signing_key(self) -> SigningKey:
        return self.key(self.signing_kid)

    def published(self) -> list[SigningKey]:
        return [key for key in self.keys if key.published]

    def add_key(self, alg: str, *, publish: bool = True, sign: bool = False) -> SigningKey:
        key = new_key(alg, published=publish, created=time.time())
        self.keys.append(key)
        if sign:
            self.use_key(key.kid)
        return key

    def use_key(self, kid: str) -> None:
        key = self.key(kid)
        if not key.published:
            raise Problem(f"key {kid} is retired or unpublished; publish it before signing with it", 409)
        self.signing_kid = kid

    def retire_key(self, kid: str) -> None:
        key = self.key(kid)
        if kid == self.signing_kid:
            raise Problem(f"key {kid} is the signing key; make another key the signing key first", 409)
        key.published = False

    def describe(self, base_url: str) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "issuer": self.url(base_url),
            "path": self.path,
            "discovery_url": self.url(base_url) + DISCOVERY_SUFFIX,
            "jwks_uri": base_url + self.jwks_path(),
            "signing_kid": self.signing_kid,
            "keys": [
                {"kid": k.kid, "alg": k.alg, "published": k.published, "signing": k.kid == self.signing_kid}
                for k in self.keys
            ],
            "config": asdict(self.config),
            "counters": dict(self.counters),
            "actions_job": self.actions_job is not None,
        }


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME.fullmatch(name) or name in RESERVED_NAMES:
        raise Problem(f"issuer name must match {NAME.pattern} and not be one of {sorted(RESERVED_NAMES)}")
    return name


def check_path(path: str) -> str:
    if not isinstance(path, str) or (path and not re.fullmatch(r"(/[A-Za-z0-9._~-]+)+", path)):
        raise Problem("path must be empty (the base URL) or /segment[/segment...] without a trailing slash")
    if path.startswith(("/__control", ATTACKER_PREFIX)):
        raise Problem("path may not start with /__control or /__attacker")
    return path


class World:
    def __init__(self, base_url: str, startup_paths: dict[str, str] | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.startup_paths = dict(startup_paths or {})
        self.lock = threading.RLock()
        self.issuers: dict[str, Issuer] = {}
        self.attacker_key: SigningKey = new_key("RS256")
        self.attacker_counters: dict[str, int] = {}
        self.reset()

    def reset(self) -> None:
        self.issuers.clear()
        for name, kind in DEFAULT_ISSUERS:
            self.create_issuer(name, kind, self.startup_paths.get(name, f"/{name}"))
        self.attacker_key = new_key("RS256")
        self.attacker_counters = {"jwks": 0, "x5u": 0}

    def create_issuer(self, name: str, kind: str, path: str | None = None) -> Issuer:
        check_name(name)
        if kind not in KINDS:
            raise Problem(f"kind must be one of {KINDS}")
        path = check_path(f"/{name}" if path is None else path)
        if name in self.issuers:
            raise Problem(f"issuer {name} exists", 409)
        if any(other.path == path for other in self.issuers.values()):
            raise Problem(f"another issuer already lives at path {path!r}", 409)
        issuer = Issuer(name, kind, path)
        issuer.add_key("RS256", sign=True)
        self.issuers[name] = issuer
        return issuer

    def issuer(self, name: str) -> Issuer:
        issuer = self.issuers.get(name)
        if issuer is None:
            raise Problem(f"unknown issuer {name}", 404)
        return issuer

    def attacker_jwks_url(self) -> str:
        return f"{self.base_url}{ATTACKER_PREFIX}/jwks"

    def attacker_x5u_url(self) -> str:
        return f"{self.base_url}{ATTACKER_PREFIX}/cert.pem"


def new_request_token() -> str:
    return "oidcsim-req-" + secrets.token_urlsafe(24)
