"""CI without stored secrets: a CI job's OIDC ID token, checked against a team's trust policy, exchanged for a
short-lived org token (RFC 8693 token exchange at `POST /api/v1/oauth/token`). docs/ci.md describes the design.

Verification order (`exchange`), each step refusing before the next runs:
1. size cap (8 KB), then the unverified header and claims;
2. `iss` looked up exactly among registered issuers; an unknown issuer is refused without fetching anything;
3. the key by `kid` from the JWKS pinned at registration (cached in the database, refetched at most once per
   `PORTAL_OIDC_JWKS_COOLDOWN` on an unknown `kid`, through the egress guard, no redirects); `jku`/`jwk`/`x5u`
   headers are ignored;
4. the signature with the issuer's published asymmetric algorithms only (never `none`, never HMAC);
5. `iss`, `exp`, `nbf`, `iat` with 60 s leeway and the issuer's maximum token age; `aud` exactly one value;
6. the policies: audience, required claims (exact), the glob (segment-aware), the CI event;
7. the org named by `resource`/`audience` among the matching policies' orgs;
8. the `jti` claimed with a unique row (a replay loses, even concurrently);
9. the hand-out through the one audited path (`orgs.services.handout`), or a short-lived portal API token.

Every exchange, allowed or refused, is audited with the run's identifying claims and a hash of the token, never
the token. The caller learns only the RFC error code; the failing condition goes to the audit log.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote, urlsplit

import jwt
import requests
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from orgs import access
from orgs.models import Grant, OidcIssuer, OidcTokenUse, OrgAlias, OrgConnection, TrustPolicy
from orgs.salesforce import egress, hosts
from orgs.services.handout import HandOutError, connection_token_hand_out
from orgs.services.revocation import connections_tokens_revoke_now
from portal.accounts.mail import mail_send
from portal.accounts.models import ApiToken, AuditEvent, Membership, Notice
from portal.accounts.services import ServiceError, audit_record
from portal.accounts.tokens import api_token_create_for_ci
from portal.lib.cache import count_hit
from portal.lib.ratelimit import rate_limit_hit

log = logging.getLogger(__name__)
Kind = AuditEvent.Kind

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange"
SUBJECT_TOKEN_TYPES = ("urn:ietf:params:oauth:token-type:id_token", "urn:ietf:params:oauth:token-type:jwt")
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
API_TOKEN_TYPE = "urn:orgportal:token-type:api-token"
MAX_TOKEN_BYTES = 8192
LEEWAY = 60
ASYMMETRIC = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
FETCH_TIMEOUT = (5, 5)
MAX_DOCUMENT_BYTES = 256 * 1024

# What each known issuer is like. `owner_claim`: the id a policy on a shared issuer must pin (names can be
# re-registered, ids cannot); `event_claim`: the claim naming the CI event.
KNOWN = {
    OidcIssuer.Kind.GITHUB: {"setting": "PORTAL_OIDC_GITHUB_ISSUER", "owner_claim": "repository_owner_id",
                             "event_claim": "event_name", "max_age": 600,
                             "claims": ["repository_id", "repository_owner_id", "repository", "ref", "environment",
                                        "job_workflow_ref", "workflow_ref", "sub", "ref_type", "runner_environment"],
                             "events": ["push", "workflow_dispatch", "release", "schedule"]},
    OidcIssuer.Kind.GITLAB: {"setting": "PORTAL_OIDC_GITLAB_ISSUER", "owner_claim": "namespace_id",
                             "event_claim": "pipeline_source", "max_age": 3 * 3600,
                             "claims": ["project_id", "namespace_id", "project_path", "ref", "ref_protected",
                                        "environment", "ref_type", "sub", "ci_config_ref_uri"],
                             "events": ["push", "web", "schedule", "api", "trigger", "pipeline"]},
}
NEVER_BY_DEFAULT = {"pull_request_target", "pull_request", "merge_request_event", "external_pull_request_event"}
GLOB_CLAIMS = ("ref", "environment", "workflow_ref", "job_workflow_ref", "sub", "ci_config_ref_uri")
# The run's identifying claims kept in the audit log (never the token).
AUDIT_CLAIMS = ("iss", "sub", "aud", "jti", "repository", "repository_id", "repository_owner", "repository_owner_id",
                "project_path", "project_id", "namespace_path", "namespace_id", "ref", "ref_type", "environment",
                "event_name", "pipeline_source", "workflow", "workflow_ref", "job_workflow_ref", "runner_environment",
                "actor", "user_login", "run_id", "run_attempt", "pipeline_id", "job_id")


class ExchangeError(Exception):
    """A refused exchange: `error` is the RFC 8693 / 6749 code the caller sees, `reason` what the audit log keeps."""

    def __init__(self, error: str, reason: str, *, status: int = 400, description: str = "",
                 retry_after: int | None = None, policy: tuple[str, int] | None = None):
        super().__init__(reason)
        self.error, self.reason, self.status, self.retry_after = error, reason, status, retry_after
        self.policy = policy  # (rate-limit policy name, quota per minute) for a 429's RateLimit headers
        self.description = description or {
            "invalid_request": "The subject token is not acceptable.",
            "invalid_target": "The requested org is not available to this identity.",
            "unsupported_grant_type": "Use grant_type=urn:ietf:params:oauth:grant-type:token-exchange.",
            "slow_down": "Too many exchanges; retry later.",
            "temporarily_unavailable": "The issuer's keys could not be fetched; retry later.",
        }.get(error, "The exchange was refused.")


# -- fetching discovery documents and key sets -----------------------------------------------------------------------

def _allowed() -> hosts.AllowedHosts:
    return hosts.parse_allowed_hosts(settings.PORTAL_OIDC_ALLOWED_HOSTS or "")


def url_check(url: str) -> str:
    """`url` if the portal may fetch it: an https URL on a public name, or an origin the operator allowlisted."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ServiceError("That is not a valid URL.") from None
    host = (parts.hostname or "").lower()
    if parts.username is not None or parts.password is not None or not host:
        raise ServiceError("Give an https URL without a user name or password.")
    origin = hosts.AllowedHost(parts.scheme, host, port or (443 if parts.scheme == "https" else 80))
    if origin in _allowed():
        return url
    if parts.scheme != "https":
        raise ServiceError("Issuer URLs must use https.")
    if re.fullmatch(r"[\d.]+|\[?[0-9a-f:]+\]?", host):
        raise ServiceError("Give the issuer's host name, not an IP address.")
    return url


_session = egress.GuardedSessions(trusted=lambda: {entry.host for entry in _allowed().entries})


def fetch_json(url: str) -> dict:
    """GET a JSON document through the egress guard: no redirects, timeouts, a size cap. ServiceError if not."""
    url_check(url)
    try:
        response = _session().get(url, timeout=FETCH_TIMEOUT, allow_redirects=False, stream=True,
                                  headers={"Accept": "application/json"})
        body = response.raw.read(MAX_DOCUMENT_BYTES + 1, decode_content=True)
    except (requests.RequestException, hosts.UntrustedHostError, OSError) as exc:
        raise ServiceError(f"Could not fetch {url}: {type(exc).__name__}.") from None
    if 300 <= response.status_code < 400:
        raise ServiceError(f"{url} answered with a redirect; redirects are not followed.")
    if response.status_code != 200:
        raise ServiceError(f"{url} answered HTTP {response.status_code}.")
    if len(body) > MAX_DOCUMENT_BYTES:
        raise ServiceError(f"{url} answered with a document larger than {MAX_DOCUMENT_BYTES} bytes.")
    try:
        document = json.loads(body)
    except ValueError:
        raise ServiceError(f"{url} did not answer JSON.") from None
    if not isinstance(document, dict):
        raise ServiceError(f"{url} did not answer a JSON object.")
    return document


def _key_set(document: dict) -> dict:
    keys = [k for k in document.get("keys", []) if isinstance(k, dict) and k.get("kid") and k.get("kty") != "oct"]
    if not keys:
        raise ServiceError("The issuer's key set has no usable keys.")
    return {"keys": keys}


# -- issuers ---------------------------------------------------------------------------------------------------------

def known_issuer_url(kind: str) -> str:
    return getattr(settings, KNOWN[kind]["setting"]).rstrip("/")


@transaction.atomic
def issuer_register(*, actor: Membership, kind: str, url: str = "", ip: str | None = None) -> OidcIssuer:
    """The team's issuer for `kind` (a known one) or `url` (custom): discovery fetched, its `issuer` required to be
    exactly the URL, `jwks_uri` and algorithms pinned, the key set fetched once. Reuses an existing registration."""
    if kind in KNOWN:
        url = known_issuer_url(kind)
    elif kind == OidcIssuer.Kind.CUSTOM:
        url = (url or "").strip().rstrip("/")
        if not url:
            raise ServiceError("Give the issuer's URL (its `iss` value).")
    else:
        raise ServiceError("Choose GitHub Actions, GitLab.com or a custom issuer.")
    existing = OidcIssuer.objects.filter(team=actor.team, issuer=url).first()
    if existing is not None:
        return existing
    url_check(url)
    discovery = fetch_json(f"{url}/.well-known/openid-configuration")
    if discovery.get("issuer") != url:
        raise ServiceError(f"The discovery document names the issuer “{str(discovery.get('issuer'))[:100]}”, "
                           f"not {url}.")
    jwks_uri = str(discovery.get("jwks_uri") or "")
    url_check(jwks_uri)
    published = discovery.get("id_token_signing_alg_values_supported") or ["RS256"]
    algorithms = [a for a in published if a in ASYMMETRIC]
    if not algorithms:
        raise ServiceError("The issuer publishes no asymmetric signing algorithm the portal accepts.")
    keys = _key_set(fetch_json(jwks_uri))
    issuer = OidcIssuer.objects.create(
        team=actor.team, kind=kind, issuer=url, jwks_uri=jwks_uri, algorithms=",".join(algorithms),
        shared=kind in KNOWN, max_token_age=KNOWN.get(kind, {}).get("max_age", 3600), jwks=keys,
        jwks_fetched_at=timezone.now())
    audit_record(team=actor.team, actor=actor.user, kind=Kind.OIDC_ISSUER_REGISTERED, subject=url, ip=ip,
                 data={"issuer": url, "jwks_uri": jwks_uri, "algorithms": algorithms})
    return issuer


def _signing_key(issuer: OidcIssuer, kid: str):
    """The issuer's key `kid`, refetching the key set at most once per cooldown when it is unknown."""
    for key in issuer.jwks.get("keys", []):
        if key.get("kid") == kid:
            return key
    cooldown = timedelta(seconds=settings.PORTAL_OIDC_JWKS_COOLDOWN)
    with transaction.atomic():
        locked = OidcIssuer.objects.select_for_update().get(pk=issuer.pk)
        if locked.jwks_fetched_at and timezone.now() - locked.jwks_fetched_at < cooldown:
            issuer.jwks = locked.jwks
        else:
            try:
                keys = _key_set(fetch_json(locked.jwks_uri))
            except ServiceError as exc:
                log.warning("JWKS refetch for %s failed: %s", locked.issuer, exc)
                OidcIssuer.objects.filter(pk=locked.pk).update(jwks_fetched_at=timezone.now())  # stale keys stay
                raise ExchangeError("invalid_request", f"unknown kid {kid[:64]}; key set refetch failed") from None
            OidcIssuer.objects.filter(pk=locked.pk).update(jwks=keys, jwks_fetched_at=timezone.now())
            issuer.jwks = keys
    for key in issuer.jwks.get("keys", []):
        if key.get("kid") == kid:
            return key
    raise ExchangeError("invalid_request", f"unknown kid {kid[:64]}")


# -- policies --------------------------------------------------------------------------------------------------------

def default_events(issuer: OidcIssuer) -> list[str]:
    """A new policy's CI events: the issuer's ordinary ones; never pull requests unless an admin adds them."""
    return list(KNOWN.get(issuer.kind, {}).get("events", []))


def glob_validate(pattern: str) -> str:
    """A segment-aware pattern: `*` only as a whole segment between `/` or `:` (one segment), `**` only last (the
    rest). `main*` is refused: it would also match `main-attacker`."""
    pattern = pattern.strip()
    if not pattern:
        raise ServiceError("Give a pattern, e.g. refs/heads/release/*.")
    segments = re.split(r"[/:]", pattern)
    for i, segment in enumerate(segments):
        if "*" in segment and segment not in ("*", "**"):
            raise ServiceError("A wildcard must be a whole segment between / or : (e.g. refs/heads/release/*); "
                               f"“{segment}” would also match names that merely start with it.")
        if segment == "**" and i != len(segments) - 1:
            raise ServiceError("** may only be the last segment.")
    return pattern


def glob_match(pattern: str, value: str) -> bool:
    """Segment-aware match: separators must line up exactly; `*` is one non-empty segment, `**` the rest."""
    if not isinstance(value, str):
        return False
    tokens = re.split(r"([/:])", pattern)
    regex = "".join(("[^/:]+" if t == "*" else ".+" if t == "**" else re.escape(t)) for t in tokens)
    return re.fullmatch(regex, value) is not None


@dataclass
class Condition:
    name: str
    ok: bool
    detail: str = ""


@dataclass
class PolicyCheck:
    policy: TrustPolicy
    conditions: list[Condition] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.conditions)

    @property
    def failed(self) -> list[str]:
        return [c.name for c in self.conditions if not c.ok]


def _claim_text(value) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int)):
        return str(value)
    return None


def policy_check(policy: TrustPolicy, claims: dict) -> PolicyCheck:
    """Every condition of `policy` against verified `claims`: exact claims compare as strings, case-sensitively."""
    check = PolicyCheck(policy)
    aud = claims.get("aud")
    auds = aud if isinstance(aud, list) else [aud]
    check.conditions.append(Condition("aud", len(auds) == 1 and auds[0] == policy.audience,
                                      "exactly one audience, the policy's"))
    for name, wanted in sorted(policy.required_claims.items()):
        check.conditions.append(Condition(name, _claim_text(claims.get(name)) == str(wanted), f"= {wanted}"))
    if policy.glob_claim:
        check.conditions.append(Condition(policy.glob_claim, glob_match(policy.glob_pattern,
                                                                         claims.get(policy.glob_claim)),
                                          f"matches {policy.glob_pattern}"))
    event_claim = KNOWN.get(policy.issuer.kind, {}).get("event_claim")
    if event_claim:
        event = claims.get(event_claim)
        check.conditions.append(Condition(event_claim, event in policy.allowed_events,
                                          f"one of {', '.join(policy.allowed_events) or '(none)'}"))
    return check


def policy_validate(*, team, issuer: OidcIssuer, name: str, audience: str, required_claims: dict,
                    glob_claim: str, glob_pattern: str, allowed_events: list[str], connection_ids: list[int],
                    max_lifetime: int) -> dict:
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ServiceError("Give the policy a name of at most 100 characters.")
    if issuer.team_id != team.pk:
        raise ServiceError("Choose one of this team's issuers.")
    audience = (audience or settings.PORTAL_BASE_URL).strip()
    claims = {str(k).strip(): str(v).strip() for k, v in (required_claims or {}).items() if str(k).strip()}
    if any(not v for v in claims.values()):
        raise ServiceError("Every required claim needs a value.")
    owner_claim = KNOWN.get(issuer.kind, {}).get("owner_claim")
    if issuer.shared and owner_claim and owner_claim not in claims:
        raise ServiceError(f"{issuer.get_kind_display()} is shared by every customer: the policy must pin "
                           f"{owner_claim} (an id, which cannot be re-registered like a name).")
    if issuer.shared and len(claims) < 2:
        raise ServiceError("Pin the repository or project id too, not only the owner.")
    glob_claim = (glob_claim or "").strip()
    if glob_claim:
        if glob_claim not in GLOB_CLAIMS:
            raise ServiceError(f"A pattern may apply only to {', '.join(GLOB_CLAIMS)}.")
        if glob_claim in claims:
            raise ServiceError(f"{glob_claim} is already an exact match.")
        glob_pattern = glob_validate(glob_pattern)
    else:
        glob_pattern = ""
    events = [e.strip() for e in (allowed_events or []) if e and e.strip()]
    if KNOWN.get(issuer.kind) and not events:
        raise ServiceError("Choose at least one CI event.")
    if not 60 <= int(max_lifetime) <= settings.PORTAL_OIDC_MAX_LIFETIME:
        raise ServiceError(f"The lifetime must be between 60 and {settings.PORTAL_OIDC_MAX_LIFETIME} seconds.")
    connections = list(OrgConnection.objects.filter(team=team, pk__in=connection_ids or []))
    if len(connections) != len(set(connection_ids or [])):
        raise ServiceError("Choose orgs of this team.")
    return {"name": name, "audience": audience, "required_claims": claims, "glob_claim": glob_claim,
            "glob_pattern": glob_pattern, "allowed_events": events, "max_lifetime": int(max_lifetime),
            "connections": connections}


def _policy_data(policy: TrustPolicy) -> dict:
    return {"policy": str(policy.code), "name": policy.name, "issuer": policy.issuer.issuer,
            "audience": policy.audience, "required_claims": policy.required_claims,
            "glob": [policy.glob_claim, policy.glob_pattern] if policy.glob_claim else None,
            "events": policy.allowed_events, "max_lifetime": policy.max_lifetime, "enabled": policy.enabled,
            "orgs": sorted(c.username for c in policy.connections.all())}


@transaction.atomic
def trust_policy_save(*, actor: Membership, policy: TrustPolicy | None = None, issuer: OidcIssuer,
                      ip: str | None = None, **fields) -> TrustPolicy:
    """Create or change a policy (team admins; the caller checked that through the funnel). Audited."""
    cleaned = policy_validate(team=actor.team, issuer=issuer, **fields)
    connections = cleaned.pop("connections")
    created = policy is None
    if created:
        policy = TrustPolicy(team=actor.team, issuer=issuer, created_by=actor.user)
    elif policy.team_id != actor.team_id:
        raise ServiceError("That policy belongs to another team.")
    before_ids = set() if created else set(policy.connections.values_list("pk", flat=True))
    reduced = not created and (bool(before_ids - {c.pk for c in connections})
                               or any(getattr(policy, k) != v for k, v in cleaned.items()) or policy.issuer != issuer)
    policy.issuer = issuer
    for key, value in cleaned.items():
        setattr(policy, key, value)
    try:
        with transaction.atomic():
            policy.save()
    except IntegrityError:
        raise ServiceError(f"A policy named “{cleaned['name']}” already exists.") from None
    policy.connections.set(connections)
    audit_record(team=actor.team, actor=actor.user, kind=Kind.TRUST_POLICY_CREATED if created else
                 Kind.TRUST_POLICY_CHANGED, subject=policy.name, ip=ip, data=_policy_data(policy))
    if reduced:
        _end_issued_tokens(policy, connection_ids=sorted(before_ids))
    return policy


@transaction.atomic
def trust_policy_set_enabled(*, actor: Membership, policy: TrustPolicy, enabled: bool, ip: str | None = None) -> None:
    TrustPolicy.objects.filter(pk=policy.pk).update(enabled=enabled)
    policy.enabled = enabled
    audit_record(team=actor.team, actor=actor.user, kind=Kind.TRUST_POLICY_CHANGED, subject=policy.name, ip=ip,
                 data=_policy_data(policy))
    if not enabled:
        _end_issued_tokens(policy)


@transaction.atomic
def trust_policy_delete(*, actor: Membership, policy: TrustPolicy, ip: str | None = None) -> None:
    data = _policy_data(policy)
    _end_issued_tokens(policy, connection_ids=list(policy.connections.values_list("pk", flat=True)))
    policy.delete()
    audit_record(team=actor.team, actor=actor.user, kind=Kind.TRUST_POLICY_DELETED, subject=data["name"], ip=ip,
                 data=data)


def _end_issued_tokens(policy: TrustPolicy, connection_ids: list[int] | None = None) -> None:
    """A disabled, narrowed or deleted policy: the portal API tokens it issued stop working now, and the Salesforce
    access tokens handed out under it are revoked at Salesforce after the commit (the same mechanism that ends a
    removed member's access; the org's other users get a fresh token on their next hand-out)."""
    ApiToken.objects.filter(team_id=policy.team_id, trust_policy_code=policy.code, revoked_at__isnull=True) \
        .update(revoked_at=timezone.now())
    if policy.last_used_at is None:
        return  # nothing was ever handed out under it
    ids = list(connection_ids if connection_ids is not None else policy.connections.values_list("pk", flat=True))
    reason = f"CI trust policy “{policy.name}” disabled or narrowed"
    transaction.on_commit(lambda: connections_tokens_revoke_now(connection_ids=ids, reason=reason))


# -- the exchange ------------------------------------------------------------------------------------------------------

@dataclass
class Exchanged:
    token: str
    issued_token_type: str
    expires_in: int
    connection: OrgConnection | None = None
    instance_url: str = ""
    org_id: str = ""
    username: str = ""
    api_version: str = ""


@dataclass
class Verified:
    issuers: list[OidcIssuer]
    claims: dict
    header: dict
    token_sha256: str


def _failures(ip: str | None) -> int:
    from django.core.cache import cache

    return int(cache.get(f"oidc:fail-ip:{ip}:{int(time.time() // 60)}") or 0)


def verify(subject_token: str) -> Verified:
    """Steps 1–5 of the verification order; ExchangeError on the first failure."""
    if not subject_token or len(subject_token.encode()) > MAX_TOKEN_BYTES:
        raise ExchangeError("invalid_request", "missing or oversized subject token")
    digest = hashlib.sha256(subject_token.encode()).hexdigest()
    try:
        header = jwt.get_unverified_header(subject_token)
        unverified = jwt.decode(subject_token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise ExchangeError("invalid_request", "not a JWT") from None
    iss = unverified.get("iss")
    issuers = list(OidcIssuer.objects.filter(issuer=iss).order_by("pk")) if isinstance(iss, str) else []
    if not issuers:
        raise ExchangeError("invalid_request", f"unknown issuer {str(iss)[:100]}")
    issuer = issuers[0]
    alg = header.get("alg")
    if alg not in issuer.algorithm_list or alg not in ASYMMETRIC:
        raise ExchangeError("invalid_request", f"algorithm {str(alg)[:20]} not accepted for this issuer")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise ExchangeError("invalid_request", "no kid")
    jwk = _signing_key(issuer, kid)
    try:
        key = jwt.PyJWK(jwk, algorithm=alg).key
        claims = jwt.decode(subject_token, key=key, algorithms=[alg], issuer=iss, leeway=LEEWAY,
                            options={"require": ["exp", "iat", "iss", "aud", "sub"], "verify_aud": False})
    except jwt.ExpiredSignatureError:
        raise ExchangeError("invalid_request", "expired") from None
    except jwt.ImmatureSignatureError:
        raise ExchangeError("invalid_request", "not yet valid") from None
    except jwt.PyJWTError as exc:
        raise ExchangeError("invalid_request", f"signature or claims: {type(exc).__name__}") from None
    iat = claims.get("iat")
    if not isinstance(iat, (int, float)) or time.time() - iat > issuer.max_token_age + LEEWAY:
        raise ExchangeError("invalid_request", "token too old")
    if time.time() + LEEWAY < iat:
        raise ExchangeError("invalid_request", "issued in the future")
    return Verified(issuers=issuers, claims=claims, header=header, token_sha256=digest)


def _org_for(policy_connections: list[OrgConnection], team_id: int, ident: str) -> OrgConnection | None:
    """The org `ident` names among the policy's: a team alias, a username or an org id (15 or 18)."""
    by_alias = set(OrgAlias.objects.filter(team_id=team_id, alias=ident).values_list("connection_id", flat=True))
    for stage in (
        [c for c in policy_connections if c.pk in by_alias],
        [c for c in policy_connections if c.username.lower() == ident.lower()],
        [c for c in policy_connections if len(ident) in (15, 18) and c.org_id[:15] == ident[:15]],
    ):
        if len(stage) == 1:
            return stage[0]
    return None


def target_from(resource: str | None, audience: str | None) -> str:
    """The org identifier: `audience`, or the last path segment of `resource` (…/api/v1/orgs/<ident>)."""
    if audience:
        return audience.strip()
    if resource:
        path = urlsplit(resource).path.rstrip("/")
        if "/orgs/" in path:
            return unquote(path.rsplit("/orgs/", 1)[1])
    return ""


def _audit_claims(claims: dict) -> dict:
    return {k: claims[k] for k in AUDIT_CLAIMS if k in claims}


def exchange(*, grant_type: str, subject_token: str, subject_token_type: str, resource: str | None = None,
             audience: str | None = None, requested_token_type: str | None = None,
             ip: str | None = None) -> Exchanged:
    """The whole exchange; ExchangeError (audited) when refused."""
    verified = None
    team = None
    policy = None
    try:
        if _failures(ip) >= settings.PORTAL_OIDC_FAILURES_PER_IP_PER_MINUTE:
            raise ExchangeError("slow_down", "too many failures from this address", status=429,
                                retry_after=max(1, 60 - int(time.time() % 60)),
                                policy=("oidc-failures", settings.PORTAL_OIDC_FAILURES_PER_IP_PER_MINUTE))
        if grant_type != GRANT_TYPE:
            raise ExchangeError("unsupported_grant_type", f"grant_type {str(grant_type)[:80]}")
        if subject_token_type not in SUBJECT_TOKEN_TYPES:
            raise ExchangeError("invalid_request", f"subject_token_type {str(subject_token_type)[:100]}")
        wanted = requested_token_type or ACCESS_TOKEN_TYPE
        if wanted not in (ACCESS_TOKEN_TYPE, API_TOKEN_TYPE):
            raise ExchangeError("invalid_request", f"requested_token_type {str(wanted)[:100]}")
        ident = target_from(resource, audience)
        if wanted == ACCESS_TOKEN_TYPE and not ident:
            raise ExchangeError("invalid_request", "no org named (resource or audience)")
        verified = verify(subject_token)
        claims = verified.claims
        checks = [policy_check(p, claims) for p in TrustPolicy.objects.filter(
            issuer__in=verified.issuers).select_related("issuer", "team").prefetch_related("connections")]
        matching = [c for c in checks if c.ok]
        enabled = [c for c in matching if c.policy.enabled]
        if not enabled:
            closest = max(checks, key=lambda c: sum(x.ok for x in c.conditions), default=None)
            if closest is not None:
                team = closest.policy.team
                policy = closest.policy
            if matching:
                raise ExchangeError("invalid_request", f"policy “{matching[0].policy.name}” is disabled")
            raise ExchangeError("invalid_request", "no policy matches: " + (
                f"“{closest.policy.name}” fails {', '.join(closest.failed)}" if closest else "no policy"))
        if wanted == ACCESS_TOKEN_TYPE:
            found = [(c.policy, _org_for(list(c.policy.connections.all()), c.policy.team_id, ident)) for c in enabled]
            found = [(p, org) for p, org in found if org is not None]
            if not found:
                team, policy = enabled[0].policy.team, enabled[0].policy
                raise ExchangeError("invalid_target", f"org “{ident[:80]}” is not in the matching policies", )
            policy, connection = found[0]
        else:
            policy, connection = enabled[0].policy, None
        team = policy.team
        for key, limit in ((f"subject:{claims.get('iss')}:{claims.get('sub')}",
                            settings.PORTAL_OIDC_EXCHANGES_PER_SUBJECT_PER_MINUTE),
                           (f"policy:{policy.pk}", settings.PORTAL_OIDC_EXCHANGES_PER_POLICY_PER_MINUTE)):
            wait = rate_limit_hit(f"oidc:{key}", limit=limit)
            if wait:
                raise ExchangeError("slow_down", f"rate limit {key.split(':')[0]}", status=429, retry_after=wait,
                                    policy=(f"oidc-{key.split(':')[0]}", limit))
        _claim_jti(verified, policy)
        result = _issue(policy=policy, connection=connection, verified=verified, wanted=wanted, ident=ident, ip=ip)
    except ExchangeError as exc:
        if exc.status != 429:
            count_hit(f"oidc:fail-ip:{ip}:{int(time.time() // 60)}", 65)
        audit_record(team=team, actor=None, kind=Kind.OIDC_REJECTED, subject=str(policy.name if policy else "")[:254],
                     ip=ip, data={"error": exc.error, "reason": exc.reason[:300],
                                  "policy": str(policy.code) if policy else None,
                                  "claims": _audit_claims(verified.claims) if verified else {},
                                  "token_sha256": verified.token_sha256[:16] if verified else None})
        raise
    return result


def _claim_jti(verified: Verified, policy: TrustPolicy) -> None:
    claims = verified.claims
    jti = claims.get("jti")
    jti = str(jti)[:200] if isinstance(jti, (str, int)) and str(jti) else f"sha256:{verified.token_sha256}"
    expires = datetime.fromtimestamp(float(claims["exp"]) + LEEWAY + 5, tz=UTC)
    try:
        with transaction.atomic():
            OidcTokenUse.objects.create(issuer=policy.issuer, jti=jti, expires_at=expires)
    except IntegrityError:
        raise ExchangeError("invalid_request", f"replayed jti {jti[:64]}") from None


def _issue(*, policy: TrustPolicy, connection, verified: Verified, wanted: str, ident: str, ip) -> Exchanged:
    claims = verified.claims
    first_use = policy.last_used_at is None
    TrustPolicy.objects.filter(pk=policy.pk).update(last_used_at=timezone.now())
    lifetime = min(policy.max_lifetime, settings.PORTAL_OIDC_MAX_LIFETIME)
    run = _audit_claims(claims)
    if wanted == API_TOKEN_TYPE:
        connections = list(policy.connections.all())
        who = claims.get("repository") or claims.get("project_path") or claims.get("sub")
        token, plaintext = api_token_create_for_ci(
            team=policy.team, name=f"CI: {policy.name} ({who})"[:100],
            expires_at=timezone.now() + timedelta(seconds=lifetime), trust_policy_code=policy.code, ip=ip)
        Grant.objects.bulk_create([Grant(team=policy.team, connection=c, level=access.Level.TARGET,
                                         subject_type=Grant.Subject.SERVICE_TOKEN, service_token=token)
                                   for c in connections])
        audit_record(team=policy.team, actor=None, kind=Kind.OIDC_EXCHANGED, subject=policy.name, ip=ip,
                     data={"policy": str(policy.code), "issued": "api_token", "api_token": token.hint,
                           "expires_in": lifetime, "orgs": sorted(c.username for c in connections), "claims": run,
                           "token_sha256": verified.token_sha256[:16]})
        result = Exchanged(token=plaintext, issued_token_type=API_TOKEN_TYPE, expires_in=lifetime)
    else:
        try:
            issued = connection_token_hand_out(
                team=policy.team, connection=connection, user=None, alias=ident, ip=ip, purpose="oidc",
                identity=f"{claims.get('iss')}|{claims.get('sub')}",
                extra={"policy": str(policy.code), "policy_name": policy.name, "claims": run,
                       "subject_token_sha256": verified.token_sha256[:16]})
        except HandOutError as exc:
            error = {503: "temporarily_unavailable", 429: "slow_down"}.get(exc.status, "invalid_target")
            raise ExchangeError(error, f"hand-out: {exc.code}", status=exc.status, description=str(exc),
                                retry_after=exc.retry_after) from None
        audit_record(team=policy.team, actor=None, kind=Kind.OIDC_EXCHANGED, subject=policy.name, ip=ip,
                     data={"policy": str(policy.code), "issued": "access_token", "org": connection.username,
                           "org_id": connection.org_id, "expires_in": lifetime, "claims": run,
                           "token_sha256": verified.token_sha256[:16]})
        result = Exchanged(token=issued.access_token, issued_token_type=ACCESS_TOKEN_TYPE, expires_in=lifetime,
                           connection=connection, instance_url=issued.instance_url, org_id=issued.org_id,
                           username=issued.username, api_version=issued.api_version)
    if first_use:
        _notify_first_use(policy, run)
    return result


def _notify_first_use(policy: TrustPolicy, run: dict) -> None:
    admins = list(Membership.objects.filter(team=policy.team).select_related("user"))
    recipients = sorted(m.user.email for m in admins if access.team_allows(m, access.TeamAction.MANAGE_TRUST_POLICIES)
                        and m.user.is_active)
    if not recipients:
        return
    who = run.get("repository") or run.get("project_path") or run.get("sub")
    mail_send(template="ci_first_use", kind=Notice.CI_FIRST_USE, recipients=recipients, team=policy.team,
              subject=f"[Org Portal] CI trust policy “{policy.name}” used for the first time",
              context={"policy": policy, "who": who, "ref": run.get("ref", "?"),
                       "run_id": run.get("run_id") or run.get("pipeline_id") or "?"})


# -- the dry run ---------------------------------------------------------------------------------------------------

def dry_run(*, policy: TrustPolicy, subject_token: str) -> tuple[str | None, list[Condition]]:
    """For a pasted sample token: (why verification failed or None, each condition of the policy). Nothing stored;
    the `jti` is not claimed."""
    try:
        verified = verify(subject_token)
    except ExchangeError as exc:
        return exc.reason, []
    if policy.issuer.issuer != verified.claims.get("iss"):
        return f"the token's issuer is {verified.claims.get('iss')}, not this policy's", []
    return None, policy_check(policy, verified.claims).conditions
