"""Org connections: the OAuth web-server flow (state + PKCE), reconnect, disconnect, aliases and defaults.

Every Salesforce call goes through `orgs.salesforce.SalesforceClient`; every write is here. The flow's state lives
in the caller's server-side session: it is bound to that browser session and that user, single use (popped on
the callback), and expires after 10 minutes. It is checked before anything is sent to Salesforce.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
import time
from dataclasses import asdict, dataclass

import requests
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from orgs import crypto, egress, salesforce
from orgs.models import ConnectedApp, OrgAlias, OrgConnection
from orgs.services import allowed_hosts, callback_url, connected_app_confirm_secret
from portal.accounts.models import AuditEvent, Membership, User
from portal.accounts.services import ServiceError, audit_record

log = logging.getLogger(__name__)
Kind = AuditEvent.Kind

FLOW_SESSION_KEY = "portal_oauth_flows"
FLOW_TTL_SECONDS = 600
MAX_PENDING_FLOWS = 5
UNAVAILABLE = "Salesforce is unavailable, try again in a moment. Nothing was saved."


class ConnectError(ServiceError):
    """A connect attempt that must stop. Raised before anything is stored."""


# -- the Salesforce client -------------------------------------------------------------------------------------------

_local = threading.local()


# requests re-reads proxy and CA-bundle settings from the environment on every call (~0.6 ms each, measured by
# bench/bench_refresh.py); skip that unless the environment actually configures one.
_ENV_SETTINGS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


def sf_client() -> salesforce.SalesforceClient:
    """A client on a per-thread keep-alive session, trusting only Salesforce and the configured extra hosts."""
    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = requests.Session()
        session.trust_env = any(os.environ.get(n) or os.environ.get(n.lower()) for n in _ENV_SETTINGS)
        # Connect to public addresses only, except the hosts the operator allowlisted by name (read per connection,
        # so a settings change applies to this cached session too).
        adapter = egress.PublicAddressAdapter(trusted=lambda: {entry.host for entry in allowed_hosts().entries})
        session.mount("https://", adapter)
        session.mount("http://", adapter)
    return salesforce.SalesforceClient(session, allowed=allowed_hosts(),
                                       connect_timeout=settings.PORTAL_SALESFORCE_CONNECT_TIMEOUT,
                                       read_timeout=settings.PORTAL_SALESFORCE_READ_TIMEOUT)


def with_app_secret(app: ConnectedApp, call):
    """Run `call(secret)` with the app's staged secret if there is one, else the current one.

    Staged rotation: the new secret is tried first; if Salesforce rejects the client credentials, the current
    secret is used instead. The first success with the staged secret confirms it (the old one is forgotten).
    """
    pending = app.reveal("pending_consumer_secret")
    if pending:
        try:
            result = call(pending)
        except salesforce.OAuthError as exc:
            if exc.error not in ("invalid_client", "invalid_client_credentials"):
                raise
        else:
            connected_app_confirm_secret(actor=None, app=app)
            return result
    return call(app.reveal("consumer_secret"))


# -- starting a flow -------------------------------------------------------------------------------------------------

@dataclass
class ConnectFlow:
    state_hash: str
    team: str
    user_id: int
    app: str
    login_url: str
    alias: str
    verifier_sealed: str
    started_at: float
    reconnect: str | None = None

    def verifier(self) -> str:
        return crypto.decrypt(self.verifier_sealed, context=f"session.oauth_flow.{self.state_hash}")


def _state_hash(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


def connect_start(*, session, membership: Membership, app: ConnectedApp, login_url: str, alias: str = "",
                  reconnect: OrgConnection | None = None) -> str:
    """Record a new flow in the session and return the Salesforce authorize URL to send the browser to."""
    from orgs.services import login_url_validate

    if app.team_id != membership.team_id:
        raise ConnectError("That connected app is not in this team.")
    login_url = login_url_validate(login_url)
    if alias:
        alias_validate(alias)
    state = salesforce.new_state()
    verifier, challenge = salesforce.new_pkce_pair()
    state_hash = _state_hash(state)
    flow = ConnectFlow(state_hash=state_hash, team=str(membership.team.code), user_id=membership.user_id,
                       app=str(app.code), login_url=login_url, alias=alias,
                       verifier_sealed=crypto.encrypt(verifier, context=f"session.oauth_flow.{state_hash}"),
                       started_at=time.time(), reconnect=str(reconnect.code) if reconnect else None)
    flows = {h: f for h, f in session.get(FLOW_SESSION_KEY, {}).items()
             if time.time() - f["started_at"] < FLOW_TTL_SECONDS}
    while len(flows) >= MAX_PENDING_FLOWS:  # keep the newest few, like allauth's statekit
        flows.pop(min(flows, key=lambda h: flows[h]["started_at"]))
    flows[state_hash] = asdict(flow)
    session[FLOW_SESSION_KEY] = flows
    return sf_client().authorize_url(login_url=login_url, client_id=app.consumer_key, redirect_uri=callback_url(),
                                     scope=app.scopes, state=state, code_challenge=challenge, prompt="login")


def connect_pop_flow(*, session, state: str | None, user: User) -> ConnectFlow:
    """The flow this callback belongs to, removed from the session (single use). Raises ConnectError otherwise.

    Missing, forged, replayed, expired and other people's states all end here, before any call to Salesforce.
    """
    if not state or len(state) > 200:
        raise ConnectError("This sign-in response is not for a connection you started (missing state). "
                           "Start again from “Connect an org”.")
    flows = session.get(FLOW_SESSION_KEY, {})
    data = flows.pop(_state_hash(state), None)
    session[FLOW_SESSION_KEY] = flows
    if data is None:
        raise ConnectError("This sign-in response does not match a connection started in this browser, or it "
                           "was already used. Start again from “Connect an org”.")
    flow = ConnectFlow(**data)
    if flow.user_id != user.pk:
        raise ConnectError("This sign-in response belongs to another user's connection attempt.")
    if time.time() - flow.started_at > FLOW_TTL_SECONDS:
        raise ConnectError("The connection attempt expired (10 minutes). Start again from “Connect an org”.")
    return flow


# -- completing a flow -----------------------------------------------------------------------------------------------

@dataclass
class OrgFacts:
    tokens: salesforce.TokenResponse
    identity: salesforce.Identity
    org: salesforce.OrgInfo
    is_devhub: bool
    api_version: str


def fetch_org_facts(client: salesforce.SalesforceClient, tokens: salesforce.TokenResponse) -> OrgFacts:
    """Who and what the tokens are for: identity, org classification, Dev Hub status, API version."""
    identity = client.identity(id_url=tokens.id_url, access_token=tokens.access_token)
    version = client.latest_api_version(instance_url=tokens.instance_url)
    org = client.organization(instance_url=tokens.instance_url, access_token=tokens.access_token,
                              api_version=version)
    is_devhub = client.is_dev_hub(instance_url=tokens.instance_url, access_token=tokens.access_token,
                                  api_version=version)
    return OrgFacts(tokens=tokens, identity=identity, org=org, is_devhub=is_devhub, api_version=version)


def revoke_quietly(client, *, base_url: str, token: str | None) -> str | None:
    """Revoke a token at Salesforce; return why it failed (None when it worked or there was nothing to do)."""
    if not token:
        return None
    try:
        client.revoke(base_url=base_url, token=token)
    except salesforce.OAuthError:
        return None  # already revoked or expired: the goal is reached
    except salesforce.SalesforceError as exc:
        return salesforce.describe_error(exc)
    return None


def connect_complete(*, flow: ConnectFlow, user: User, code: str | None, error: str | None = None,
                     error_description: str | None = None, ip: str | None = None) -> tuple[OrgConnection, bool]:
    """Exchange the code, learn what org it is, and store the connection. Returns (connection, created)."""
    membership = Membership.objects.select_related("team").filter(team__code=flow.team, user=user).first()
    if membership is None:
        raise ConnectError("You are no longer a member of the team this connection was for.")
    app = ConnectedApp.objects.filter(team=membership.team, code=flow.app).first()
    if app is None:
        raise ConnectError("The connected app used for this connection was deleted. Start again.")
    if error:
        raise _authorize_error(membership, app, error, error_description, ip)
    if not code:
        raise ConnectError("Salesforce did not return an authorization code. Start again.")

    client = sf_client()
    try:
        tokens = with_app_secret(app, lambda secret: client.exchange_code(
            login_url=flow.login_url, client_id=app.consumer_key, client_secret=secret, code=code,
            redirect_uri=callback_url(), code_verifier=flow.verifier()))
    except salesforce.SalesforceError as exc:
        raise _failed(membership, app, exc, ip) from None
    try:
        facts = fetch_org_facts(client, tokens)
    except salesforce.SalesforceError as exc:
        # Don't leave an approval behind at Salesforce (only five are kept per user and app).
        revoke_quietly(client, base_url=tokens.instance_url, token=tokens.refresh_token or tokens.access_token)
        raise _failed(membership, app, exc, ip) from None
    connection, created, superseded = connection_upsert(
        membership=membership, app=app, flow=OrgConnection.Flow.WEB, login_url=flow.login_url, facts=facts,
        alias=flow.alias, ip=ip)
    if superseded and superseded != tokens.refresh_token:
        reason = revoke_quietly(client, base_url=connection.instance_url, token=superseded)
        if reason:
            audit_record(team=membership.team, actor=user, kind=Kind.ORG_REVOKE_FAILED, subject=connection.username,
                         ip=ip, data={"why": reason, "token": "superseded refresh token"})
    return connection, created


def _authorize_error(membership, app, error: str, description: str | None, ip) -> ConnectError:
    if error in ("access_denied", "access-denied"):
        message = "You chose Deny in Salesforce, so no org was connected."
    elif error == "redirect_uri_mismatch":
        message = (f"Salesforce says the callback URL does not match the app “{app.name}”. Add "
                   f"{callback_url()} to its callback URLs.")
    elif error in ("invalid_client_id", "invalid_client"):
        message = f"Salesforce does not know the consumer key of “{app.name}” (or it is not installed in that org)."
    else:
        text = (description or error)[:200]
        message = f"Salesforce refused the sign-in: {text}"
    audit_record(team=membership.team, actor=membership.user, kind=Kind.ORG_CONNECT_FAILED, subject=app.name, ip=ip,
                 data={"error": error[:100]})
    return ConnectError(message)


def _failed(membership, app, exc: salesforce.SalesforceError, ip) -> ConnectError:
    if isinstance(exc, salesforce.TransientSalesforceError):
        message = UNAVAILABLE
    elif isinstance(exc, salesforce.UntrustedHostError):
        message = f"Refused: Salesforce sent the browser to an address that is not a Salesforce host ({exc})."
    else:
        message = salesforce.describe_error(exc)
    log.warning("connect failed for app %s: %s", app.code, type(exc).__name__)
    audit_record(team=membership.team, actor=membership.user, kind=Kind.ORG_CONNECT_FAILED, subject=app.name, ip=ip,
                 data={"error": type(exc).__name__, "why": message[:300]})
    return ConnectError(message)


@transaction.atomic
def connection_upsert(*, membership: Membership, app: ConnectedApp, flow: str, login_url: str, facts: OrgFacts,
                      alias: str = "", dev_hub: OrgConnection | None = None, ip: str | None = None,
                      audit_data: dict | None = None) -> tuple[OrgConnection, bool, str | None]:
    """Create or update (never duplicate) the member's connection for one Salesforce user, with fresh tokens, and
    give the member an alias for it. Returns (connection, created, the superseded refresh token or None).
    Used by the web flow, JWT connections and scratch orgs created through the portal."""
    tokens, identity, org = facts.tokens, facts.identity, facts.org
    connection = (OrgConnection.objects.select_for_update()
                  .filter(team=membership.team, owner=membership.user, org_id=tokens.org_id,
                          user_id=tokens.user_id).first())
    created = connection is None
    superseded = None
    if created:
        connection = OrgConnection(team=membership.team, owner=membership.user, org_id=tokens.org_id,
                                   user_id=tokens.user_id)
    else:
        superseded = connection.reveal("refresh_token")
    was_reauth = not created and connection.status != OrgConnection.Status.CONNECTED
    connection.app, connection.flow = app, flow
    connection.username, connection.org_name = identity.username, org.name
    connection.kind, connection.edition, connection.is_devhub = org.kind, org.organization_type, facts.is_devhub
    connection.login_url, connection.instance_url = login_url, tokens.instance_url
    connection.api_version = facts.api_version
    connection.dev_hub = dev_hub or connection.dev_hub
    connection.seal("refresh_token", tokens.refresh_token)
    connection.seal("access_token", tokens.access_token)
    connection.access_token_issued_at = tokens.issued_at_datetime or timezone.now()
    connection.last_refresh_at = timezone.now()
    connection.status, connection.status_reason = OrgConnection.Status.CONNECTED, ""
    connection.refresh_failures, connection.reauth_notified_at = 0, None
    connection.save()
    row = OrgAlias.objects.filter(user=membership.user, connection=connection).first()
    if row is None:
        row = OrgAlias.objects.create(team=membership.team, user=membership.user, connection=connection,
                                      alias=alias_free(membership, alias or suggest_alias(identity, org)))
    details = {"alias": row.alias, "username": connection.username, "org_id": connection.org_id,
               "type": connection.type_label, "instance_url": connection.instance_url, "flow": flow,
               **(audit_data or {})}
    if was_reauth:
        details["recovered_from"] = "needs re-authorization"
    audit_record(team=membership.team, actor=membership.user,
                 kind=Kind.ORG_CONNECTED if created else Kind.ORG_RECONNECTED, subject=row.alias, ip=ip,
                 data=details)
    return connection, created, superseded


# -- aliases and defaults ----------------------------------------------------------------------------------------------

def alias_validate(alias: str) -> str:
    if not re.match(OrgAlias.ALIAS_PATTERN, alias or ""):
        raise ServiceError("An alias is 1–80 letters, digits, dots, dashes or underscores, starting with a letter "
                           "or digit (like an sf alias).")
    return alias


def suggest_alias(identity: salesforce.Identity, org: salesforce.OrgInfo) -> str:
    base = slugify(org.name)[:40] or slugify(identity.username.split("@")[0])[:40] or "org"
    return base


def alias_pick(wanted: str, taken: set[str]) -> str:
    """`wanted` made into a valid alias, numbered (`uat-2`, `uat-3`, …) until it is not in `taken`."""
    base = alias_validate(re.sub(r"[^A-Za-z0-9._-]", "-", wanted).strip("-._")[:70] or "org")
    alias, n = base, 2
    while alias in taken:
        alias, n = f"{base}-{n}", n + 1
    return alias


def alias_free(membership: Membership, wanted: str) -> str:
    """A free alias for the member, based on `wanted`."""
    taken = set(OrgAlias.objects.filter(team=membership.team, user=membership.user).values_list("alias", flat=True))
    return alias_pick(wanted, taken)


@transaction.atomic
def org_alias_rename(*, alias: OrgAlias, new_alias: str, ip: str | None = None) -> None:
    new_alias = alias_validate(new_alias.strip())
    if new_alias == alias.alias:
        return
    if OrgAlias.objects.filter(team=alias.team, user=alias.user, alias=new_alias).exists():
        raise ServiceError(f"You already use the alias “{new_alias}” for another org.")
    old = alias.alias
    OrgAlias.objects.filter(pk=alias.pk).update(alias=new_alias)
    audit_record(team=alias.team, actor=alias.user, kind=Kind.ORG_RENAMED, subject=new_alias, ip=ip,
                 data={"from": old, "to": new_alias, "username": alias.connection.username})


@transaction.atomic
def org_alias_set_default(*, alias: OrgAlias, which: str, ip: str | None = None) -> None:
    """Make this org the member's default org (`target-org`) or default Dev Hub (`target-dev-hub`)."""
    if which not in ("org", "devhub"):
        raise ServiceError("Choose the default org or the default Dev Hub.")
    if which == "devhub" and not alias.connection.is_devhub:
        raise ServiceError(f"“{alias.alias}” is not a Dev Hub.")
    field = "is_default_org" if which == "org" else "is_default_devhub"
    OrgAlias.objects.filter(team=alias.team, user=alias.user, **{field: True}).update(**{field: False})
    OrgAlias.objects.filter(pk=alias.pk).update(**{field: True})
    audit_record(team=alias.team, actor=alias.user, kind=Kind.ORG_DEFAULT_SET, subject=alias.alias, ip=ip,
                 data={"default": "target-org" if which == "org" else "target-dev-hub"})


# -- disconnecting -----------------------------------------------------------------------------------------------------

def connection_disconnect(*, actor: User, connection: OrgConnection, ip: str | None = None) -> None:
    """Revoke the token at Salesforce, then delete the connection. A transient revoke failure is recorded in the
    audit log and the local delete still happens (the token is then only held by Salesforce)."""
    try:
        token = connection.reveal("refresh_token") or connection.reveal("access_token")
    except crypto.DecryptionError:
        token = None
    reason = revoke_quietly(sf_client(), base_url=connection.instance_url, token=token)
    with transaction.atomic():
        OrgConnection.objects.filter(pk=connection.pk).delete()
        if reason:
            audit_record(team=connection.team, actor=actor, kind=Kind.ORG_REVOKE_FAILED,
                         subject=connection.username, ip=ip, data={"why": reason})
        audit_record(team=connection.team, actor=actor, kind=Kind.ORG_DISCONNECTED, subject=connection.username,
                     ip=ip, data={"org_id": connection.org_id, "revoked": reason is None and token is not None})

