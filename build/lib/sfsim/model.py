"""The simulated world: orgs, users, apps, scratch-org rows, tokens. Guarded by one lock."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from sfsim import ids

ORG_KINDS = ("production", "developer", "sandbox", "scratch")
DEFAULT_SCOPES = ("api", "refresh_token", "web", "id", "openid")
REFRESH_SCOPES = frozenset({"refresh_token", "offline_access"})
MAX_APPROVALS = 5
CODE_TTL_SECONDS = 15 * 60
LOG_CAP = 10_000
CURSOR_CAP = 2_000


class ConfigError(ValueError):
    """Bad fixture or control-API input (reported as HTTP 400 by the control API)."""


def sf_datetime(ts: float) -> str:
    """Salesforce REST datetime format: 2026-08-01T12:34:56.000+0000."""
    moment = datetime.fromtimestamp(ts, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def sf_date(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d")


@dataclass
class Org:
    id: str
    name: str
    kind: str
    edition: str
    is_devhub: bool = False
    instance_name: str = "NA1"
    namespace: str | None = None
    trial_expiration: str | None = None
    instance_url: str | None = None
    created_date: str = ""

    @property
    def is_sandbox(self) -> bool:
        return self.kind in ("sandbox", "scratch")


@dataclass
class User:
    id: str
    org_id: str
    username: str
    email: str
    first_name: str
    last_name: str
    password: str | None = field(default=None, repr=False)
    high_assurance: bool = False
    active: bool = True
    created_date: str = ""

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


@dataclass
class App:
    consumer_key: str
    consumer_secret: str | None = field(default=None, repr=False)
    callback_urls: list[str] = field(default_factory=list)
    require_pkce: bool = True
    require_secret: bool = True
    rotation: bool = False
    certificate: str | None = field(default=None, repr=False)
    preauthorized_users: set[str] = field(default_factory=set)
    scopes: tuple[str, ...] = DEFAULT_SCOPES
    session_timeout_seconds: float = 7200.0
    public_key: RSAPublicKey | None = field(default=None, repr=False, compare=False)

    @property
    def secret_required(self) -> bool:
        return self.consumer_secret is not None and self.require_secret


@dataclass
class Family:
    """One approval: a refresh token (rotating or not) and every access token issued from it."""

    id: int
    user_id: str
    consumer_key: str
    scopes: tuple[str, ...]
    refresh_token: str = field(repr=False)
    created: float
    rotation: bool | None = None
    revoked: bool = False
    access_tokens: set[str] = field(default_factory=set, repr=False)


@dataclass
class AccessToken:
    user_id: str
    org_id: str
    consumer_key: str
    scopes: tuple[str, ...]
    family_id: int | None
    issued: float
    last_used: float


@dataclass
class AuthCode:
    client_id: str
    redirect_uri: str
    user_id: str
    scopes: tuple[str, ...]
    code_challenge: str | None
    expires: float
    used: bool = False


@dataclass
class Pending:
    """A browser authorization in progress (between GET authorize and Allow/Deny)."""

    client_id: str
    redirect_uri: str
    state: str | None
    scopes: tuple[str, ...]
    code_challenge: str | None
    expires: float
    user_id: str | None = None


@dataclass
class SimConfig:
    latency_ms: float = 0.0
    fail_rate: float = 0.0
    fail_mode: str = "503"
    fail_paths: list[str] = field(default_factory=list)
    fail_when: str = "before"
    timeout_seconds: float = 30.0
    page_size: int = 2000
    scratch_create_seconds: float = 2.0
    sandbox_copy_seconds: float = 3.0
    sandbox_instance_url_template: str | None = None
    clock_offset_seconds: float = 0.0
    redirect_location: str = "https://evil.example/sfsim-redirect"
    corrupt_signature: bool = False


FAIL_MODES = ("500", "503", "429", "timeout", "reset", "redirect")


class World:
    """All mutable simulator state. Every access happens with ``lock`` held."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.lock = threading.RLock()
        self.log: deque[dict[str, Any]] = deque(maxlen=LOG_CAP)
        self.clear()

    def clear(self) -> None:
        """Forget everything: world, tokens, log and config (``fixture.reset_world`` reloads)."""
        self.config = SimConfig()
        self.log.clear()
        self.orgs: dict[str, Org] = {}
        self.users: dict[str, User] = {}
        self.users_by_name: dict[str, User] = {}
        self.apps: dict[str, App] = {}
        self.scratch_infos: dict[str, dict[str, Any]] = {}
        self.active_scratch: dict[str, dict[str, Any]] = {}
        self.pending_scratch: list[str] = []
        self.sandbox_infos: dict[str, dict[str, Any]] = {}
        self.sandbox_processes: dict[str, dict[str, Any]] = {}
        self.pending_sandbox: list[str] = []
        self.sandbox_licenses: dict[str, dict[str, int]] = {}
        self.frontdoor_otps: dict[str, tuple[str, float, str]] = {}
        self.families: dict[int, Family] = {}
        self.approvals: dict[tuple[str, str], list[Family]] = {}
        self.refresh_index: dict[str, int] = {}
        self.rotated_out: dict[str, int] = {}
        self.access: dict[str, AccessToken] = {}
        self.codes: dict[str, AuthCode] = {}
        self.pending: dict[str, Pending] = {}
        self.ui_sessions: dict[str, tuple[str, float]] = {}
        self.cursors: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._counter = 0
        self._family_counter = 0

    # -- time and ids -------------------------------------------------------------------------

    def now(self) -> float:
        return time.time() + self.config.clock_offset_seconds

    def new_id(self, prefix: str, taken: dict[str, Any]) -> str:
        while True:
            self._counter += 1
            candidate = ids.make_id(prefix, self._counter)
            if candidate not in taken:
                return candidate

    def next_family_id(self) -> int:
        self._family_counter += 1
        return self._family_counter

    # -- lookups ------------------------------------------------------------------------------

    def instance_url(self, org: Org) -> str:
        return (org.instance_url or self.base_url).rstrip("/")

    def user_by_username(self, username: str) -> User | None:
        return self.users_by_name.get(username.lower())

    def add_user(self, user: User) -> None:
        """Add or replace (by id) a user; usernames are unique across all orgs, as in Salesforce."""
        clash = self.users_by_name.get(user.username.lower())
        if clash is not None and clash.id != user.id:
            raise ConfigError(f"duplicate username {user.username}")
        old = self.users.get(user.id)
        if old is not None:
            self.users_by_name.pop(old.username.lower(), None)
        self.users[user.id] = user
        self.users_by_name[user.username.lower()] = user

    # -- tokens -------------------------------------------------------------------------------

    def issue_access_token(self, user: User, app: App, scopes: tuple[str, ...], family: Family | None) -> str:
        token = ids.new_access_token(user.org_id)
        now = self.now()
        self.access[token] = AccessToken(
            user_id=user.id,
            org_id=user.org_id,
            consumer_key=app.consumer_key,
            scopes=scopes,
            family_id=family.id if family else None,
            issued=now,
            last_used=now,
        )
        if family is not None:
            family.access_tokens.add(token)
        return token

    def new_family(
        self, user: User, app: App, scopes: tuple[str, ...], rotation: bool | None = None
    ) -> Family:
        """Create an approval with a refresh token; the 6th approval for user+app evicts the oldest."""
        family = Family(
            id=self.next_family_id(),
            user_id=user.id,
            consumer_key=app.consumer_key,
            scopes=scopes,
            refresh_token=ids.new_refresh_token(),
            created=self.now(),
            rotation=rotation,
        )
        self.families[family.id] = family
        self.refresh_index[family.refresh_token] = family.id
        key = (user.id, app.consumer_key)
        active = [fam for fam in self.approvals.get(key, []) if not fam.revoked] + [family]
        for stale in active[: max(0, len(active) - MAX_APPROVALS)]:
            self.revoke_family(stale)
        self.approvals[key] = active[-MAX_APPROVALS:]
        return family

    def revoke_family(self, family: Family) -> None:
        """Revoke the current refresh token and every access token issued from the family."""
        family.revoked = True
        self.refresh_index.pop(family.refresh_token, None)
        for token in family.access_tokens:
            self.access.pop(token, None)
        family.access_tokens.clear()

    def revoke_user(self, user: User) -> int:
        count = 0
        for family in self.families.values():
            if family.user_id == user.id and not family.revoked:
                self.revoke_family(family)
                count += 1
        for token in [tok for tok, acc in self.access.items() if acc.user_id == user.id]:
            del self.access[token]
            count += 1
        for sid in [sid for sid, (uid, _) in self.ui_sessions.items() if uid == user.id]:
            del self.ui_sessions[sid]
        return count

    def has_approval(self, user: User, app: App) -> bool:
        if user.username.lower() in app.preauthorized_users:
            return True
        return any(not fam.revoked for fam in self.approvals.get((user.id, app.consumer_key), []))

    def live_access_token(self, token: str) -> AccessToken | None:
        """The session for a bearer token, or None when unknown, revoked or idle too long."""
        session = self.access.get(token)
        if session is None:
            return None
        app = self.apps.get(session.consumer_key)
        user = self.users.get(session.user_id)
        now = self.now()
        timeout = app.session_timeout_seconds if app else 0
        if user is None or not user.active or now - session.last_used >= timeout:
            self.drop_access_token(token)
            return None
        session.last_used = now
        return session

    def drop_access_token(self, token: str) -> None:
        session = self.access.pop(token, None)
        if session is not None and session.family_id is not None:
            family = self.families.get(session.family_id)
            if family is not None:
                family.access_tokens.discard(token)

    def expire_sessions(self) -> int:
        count = len(self.access)
        for family in self.families.values():
            family.access_tokens.clear()
        self.access.clear()
        return count

    def delete_org(self, org_id: str) -> None:
        """Remove an org, its users and all their tokens."""
        for user in [u for u in self.users.values() if u.org_id == org_id]:
            self.revoke_user(user)
            del self.users[user.id]
            self.users_by_name.pop(user.username.lower(), None)
        self.orgs.pop(org_id, None)

    # -- housekeeping -------------------------------------------------------------------------

    def prune(self) -> None:
        """Drop expired codes, pending authorizations and UI sessions (cheap; run on inserts)."""
        now = self.now()
        if len(self.codes) > 5_000:
            self.codes = {k: v for k, v in self.codes.items() if v.expires > now and not v.used}
        if len(self.pending) > 1_000:
            self.pending = {k: v for k, v in self.pending.items() if v.expires > now}
        if len(self.ui_sessions) > 1_000:
            self.ui_sessions = {k: v for k, v in self.ui_sessions.items() if v[1] > now}
        if len(self.frontdoor_otps) > 1_000:
            self.frontdoor_otps = {k: v for k, v in self.frontdoor_otps.items() if v[1] > now}

    def remember_cursor(self, cursor: str, data: dict[str, Any]) -> None:
        self.cursors[cursor] = data
        while len(self.cursors) > CURSOR_CAP:
            self.cursors.popitem(last=False)

    def summary(self) -> dict[str, Any]:
        live_families = sum(1 for fam in self.families.values() if not fam.revoked)
        return {
            "orgs": len(self.orgs),
            "users": len(self.users),
            "apps": len(self.apps),
            "scratch_org_infos": len(self.scratch_infos),
            "active_scratch_orgs": len(self.active_scratch),
            "sandbox_infos": sum(1 for row in self.sandbox_infos.values() if not row["IsDeleted"]),
            "sandbox_processes": len(self.sandbox_processes),
            "sandbox_copies_in_progress": len(self.pending_sandbox),
            "approvals_active": live_families,
            "approvals_revoked": len(self.families) - live_families,
            "refresh_tokens_active": len(self.refresh_index),
            "refresh_tokens_rotated_out": len(self.rotated_out),
            "access_tokens_active": len(self.access),
            "auth_codes": len(self.codes),
            "log_entries": len(self.log),
        }


def load_certificate(pem: str) -> RSAPublicKey:
    """Parse a PEM X.509 certificate and return its RSA public key (ConfigError otherwise)."""
    try:
        cert = x509.load_pem_x509_certificate(pem.encode())
    except ValueError as exc:
        raise ConfigError("certificate is not a PEM X.509 certificate") from exc
    key = cert.public_key()
    if not isinstance(key, RSAPublicKey):
        raise ConfigError("certificate must carry an RSA public key")
    return key


def relative_date(value: str | None, now: float, *, with_time: bool = False) -> str | None:
    """Resolve fixture dates: '+7d' / '-3d' are relative to load time; anything else is kept."""
    if value is None or not isinstance(value, str):
        return value
    if len(value) > 2 and value[0] in "+-" and value.endswith("d") and value[1:-1].isdigit():
        days = int(value[1:-1]) * (1 if value[0] == "+" else -1)
        moment = now + timedelta(days=days).total_seconds()
        return sf_datetime(moment) if with_time else sf_date(moment)
    return value
