"""JWT bearer connections (headless and CI), minting their access tokens, and handing access tokens out.

A JWT connection is created by a team admin from a connected app that has a signing key, a Salesforce username and
a login host (Production, Sandbox or My Domain; `orgs.salesforce.hosts` checks it). The portal signs an RS256 JWT itself
(`iss` = consumer key, `sub` = username, `aud` = login host, `exp` = now + 3 minutes: `SalesforceClient.jwt_bearer`),
exchanges it, and classifies the org exactly like the web flow (`connections.fetch_org_facts`). There is no refresh
token: `jwt_token_response` mints a new JWT whenever `orgs.services.refresh` needs a token.

Where the JWT is POSTed: the audience is the login host the admin chose; the token endpoint is the app's own login
host when that is an org-specific host (a My Domain, or a host listed in PORTAL_SALESFORCE_ALLOWED_HOSTS), else
the chosen login host. (Salesforce accepts a JWT for login/test at the org's My Domain token endpoint.)

Every Salesforce error becomes an actionable message from the client's one advice table
(`orgs.salesforce.errors.describe_error`), tested against the simulator in tests/api/test_jwt_connections.py.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit

from django.views.decorators.debug import sensitive_variables

from orgs import salesforce
from orgs.models import ConnectedApp, OrgConnection
from orgs.salesforce import hosts
from orgs.services.client import login_url_validate, revoke_quietly, sf_client
from orgs.services.connections import alias_validate, connection_upsert, fetch_org_facts
from portal.accounts.models import AuditEvent, Membership
from portal.accounts.services import ServiceError, audit_record
from portal.lib import crypto

log = logging.getLogger(__name__)
Kind = AuditEvent.Kind

_USERNAME = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


class JwtConnectError(ServiceError):
    """A JWT connection could not be created; nothing was stored. The message says what to fix."""


# -- minting -----------------------------------------------------------------------------------------------------------

def _token_endpoint(app: ConnectedApp, audience: str) -> str:
    """The app's login host if it is specific to an org (My Domain or an explicitly allowed host), else the
    audience (login.salesforce.com / test.salesforce.com / the chosen My Domain)."""
    host = (urlsplit(app.login_url).hostname or "").lower()
    if host and host not in ("login.salesforce.com", "test.salesforce.com"):
        return app.login_url
    return audience


def _private_key(app: ConnectedApp) -> bytes:
    """The signing key's PEM. Raises crypto.DecryptionError when the portal's keyring cannot decrypt it."""
    key = app.signing_key
    if key is None:
        raise salesforce.PermanentSalesforceError(
            f"The connected app “{app.name}” has no JWT signing key. Choose one on the app's page.")
    pem = key.reveal("private_key")
    if not pem:
        raise salesforce.PermanentSalesforceError(f"The signing key “{key.name}” has no private key.")
    return pem.encode()


@sensitive_variables()
def _mint(app: ConnectedApp, username: str, audience: str) -> salesforce.TokenResponse:
    return sf_client().jwt_bearer(login_url=_token_endpoint(app, audience), client_id=app.consumer_key,
                                  username=username, private_key_pem=_private_key(app), audience=audience)


@sensitive_variables()
def jwt_mint(*, app: ConnectedApp, username: str, audience: str) -> salesforce.TokenResponse:
    """Sign and exchange one JWT (raises the client's errors; an undecryptable key as a permanent one)."""
    try:
        return _mint(app, username, audience)
    except crypto.DecryptionError:
        raise salesforce.PermanentSalesforceError(crypto.DecryptionError.user_message) from None


def jwt_token_response(*, connection: OrgConnection) -> salesforce.TokenResponse:
    """A fresh access token for a JWT connection (called by orgs.services.refresh whenever a new token is needed).
    An undecryptable signing key raises crypto.DecryptionError: refresh records it as Key unavailable."""
    return _mint(connection.app, connection.username, connection.login_url)


def jwt_error_message(exc: BaseException, *, app: ConnectedApp | None = None) -> str:
    """What to fix, for an error of the JWT bearer flow: the client's advice, naming the app's signing key."""
    key = app.signing_key if app is not None else None
    return salesforce.describe_error(exc, key_name=key.name if key else None,
                                     key_fingerprint=key.fingerprint_sha256 if key else None)


# -- creating a JWT connection -------------------------------------------------------------------------------------

def _refuse(actor: Membership, app: ConnectedApp, message: str, ip, error: str) -> JwtConnectError:
    audit_record(team=actor.team, actor=actor.user, kind=Kind.ORG_CONNECT_FAILED, subject=app.name, ip=ip,
                 data={"flow": "jwt", "error": error[:100], "why": message[:300]})
    return JwtConnectError(message)


@sensitive_variables()
def jwt_connection_create(*, actor: Membership, app: ConnectedApp, username: str, login_url: str, alias: str = "",
                          ip: str | None = None) -> tuple[OrgConnection, bool]:
    """Mint a first token, learn what org it is, store (or update) the connection. Returns (connection, created).
    Nothing is stored when any step fails."""
    if app.team_id != actor.team_id:
        raise JwtConnectError("That connected app is not in this team.")
    if app.signing_key_id is None:
        raise JwtConnectError(f"The connected app “{app.name}” has no JWT signing key. Choose one on the app's page "
                              "first (and upload its certificate to the app in Salesforce).")
    if app.signing_key.expired:
        raise JwtConnectError(f"The certificate of the signing key “{app.signing_key.name}” has expired. Generate or "
                              "upload a new key, and its certificate to the app in Salesforce.")
    username = (username or "").strip()
    if not _USERNAME.fullmatch(username) or len(username) > 255:
        raise JwtConnectError("Enter the Salesforce username (it looks like an email address).")
    audience = login_url_validate(login_url)
    if alias:
        alias_validate(alias)

    client = sf_client()
    try:
        tokens = jwt_mint(app=app, username=username, audience=audience)
    except hosts.UntrustedHostError as exc:
        raise _refuse(actor, app, f"Refused: {exc}", ip, type(exc).__name__) from None
    except salesforce.SalesforceError as exc:
        raise _refuse(actor, app, jwt_error_message(exc, app=app), ip,
                      getattr(exc, "error", "") or type(exc).__name__) from None
    try:
        facts = fetch_org_facts(client, tokens)
    except salesforce.SalesforceError as exc:
        try:
            client.revoke(base_url=tokens.instance_url, token=tokens.access_token)
        except salesforce.SalesforceError:
            pass
        raise _refuse(actor, app, jwt_error_message(exc, app=app), ip, type(exc).__name__) from None
    connection, created, superseded = connection_upsert(
        membership=actor, app=app, flow=OrgConnection.Flow.JWT, login_url=audience, facts=facts, alias=alias, ip=ip,
        audit_data={"login_host": audience, "app": app.name, "signing_key": app.signing_key.name})
    if superseded:  # a web-flow connection turned into a JWT one: give its approval back to Salesforce
        revoke_quietly(client, base_url=connection.instance_url, token=superseded)
    return connection, created
