"""The OAuth 2.0 web-server flow (authorization code + PKCE): start, callback, complete.

The flow's state lives in the caller's server-side session: it is bound to that browser session and that user,
single use (popped on the callback), and expires after 10 minutes. It is checked before anything is sent to
Salesforce. A completed flow is stored by `orgs.services.connections.connection_upsert`, the same upsert JWT
connections and portal-created scratch orgs use; a reconnect updates the connection in place.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import asdict, dataclass

from django.views.decorators.debug import sensitive_variables

from orgs import salesforce
from orgs.access import connection_level
from orgs.models import ConnectedApp, OrgConnection
from orgs.services.apps import callback_url, with_app_secret
from orgs.services.client import login_url_validate, revoke_quietly, sf_client
from orgs.services.connections import alias_validate, connection_upsert, fetch_org_facts
from portal.accounts.models import AuditEvent, Membership, User
from portal.accounts.services import ServiceError, audit_record
from portal.lib import crypto

log = logging.getLogger(__name__)
Kind = AuditEvent.Kind

FLOW_SESSION_KEY = "portal_oauth_flows"
FLOW_TTL_SECONDS = 600
MAX_PENDING_FLOWS = 5
UNAVAILABLE = "Salesforce is unavailable, try again in a moment. Nothing was saved."


class ConnectError(ServiceError):
    """A connect attempt that must stop. Raised before anything is stored."""


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


@sensitive_variables()
def connect_start(*, session, membership: Membership, app: ConnectedApp, login_url: str, alias: str = "",
                  reconnect: OrgConnection | None = None) -> str:
    """Record a new flow in the session and return the Salesforce authorize URL to send the browser to."""
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


@sensitive_variables()
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


@sensitive_variables()
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
    reconnect = None
    if flow.reconnect:
        try:
            reconnect = _reconnect_target(membership, flow.reconnect, tokens)
        except ConnectError as exc:
            revoke_quietly(client, base_url=tokens.instance_url, token=tokens.refresh_token or tokens.access_token)
            audit_record(team=membership.team, actor=user, kind=Kind.ORG_CONNECT_FAILED, subject=app.name, ip=ip,
                         data={"error": "reconnect refused", "why": str(exc)[:300]})
            raise
    try:
        facts = fetch_org_facts(client, tokens)
    except salesforce.SalesforceError as exc:
        # Don't leave an approval behind at Salesforce (only five are kept per user and app).
        revoke_quietly(client, base_url=tokens.instance_url, token=tokens.refresh_token or tokens.access_token)
        raise _failed(membership, app, exc, ip) from None
    try:
        connection, created, superseded = connection_upsert(
            membership=membership, app=app, flow=OrgConnection.Flow.WEB, login_url=flow.login_url, facts=facts,
            alias=flow.alias, ip=ip, reconnect=reconnect)
    except ServiceError:
        revoke_quietly(client, base_url=tokens.instance_url, token=tokens.refresh_token or tokens.access_token)
        raise
    if superseded and superseded != tokens.refresh_token:
        reason = revoke_quietly(client, base_url=connection.instance_url, token=superseded)
        if reason:
            audit_record(team=membership.team, actor=user, kind=Kind.ORG_REVOKE_FAILED, subject=connection.username,
                         ip=ip, data={"why": reason, "token": "superseded refresh token"})
    return connection, created


def _reconnect_target(membership: Membership, code: str, tokens: salesforce.TokenResponse) -> OrgConnection:
    """The connection a Reconnect was started from, if the member still manages it and the sign-in was to its org."""
    connection = OrgConnection.objects.filter(team=membership.team, code=code).first()
    access = connection_level(membership, connection) if connection is not None else None
    if access is None:
        raise ConnectError("The org you were reconnecting is no longer in the portal. Connect it again from "
                           "“Connect an org”.")
    if not access.can_manage:
        raise ConnectError("You no longer manage the org you were reconnecting. Nothing was changed.")
    if (tokens.org_id or "")[:15] != connection.org_id[:15]:
        raise ConnectError(f"You signed in to a different Salesforce org ({tokens.org_id}) than the one you are "
                           f"reconnecting, {connection.username} ({connection.org_id}). Sign in as a user of that "
                           "org; nothing was changed.")
    return connection


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
