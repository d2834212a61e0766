"""The portal's Salesforce client: `orgs.salesforce.SalesforceClient` configured from settings.

The client package itself has no Django in it; this module is the one place that feeds it the portal's settings
(allowed hosts, timeouts, the egress guard). Connect, refresh, JWT, scratch, inventory and revoke all get their
client from `sf_client()`.
"""

from __future__ import annotations

import os
import threading
from functools import lru_cache

import requests
from django.conf import settings

from orgs import salesforce
from orgs.salesforce import egress, hosts
from portal.accounts.services import ServiceError

# -- Salesforce hosts --------------------------------------------------------------------------------------------------

@lru_cache(maxsize=4)
def _allowed_hosts(value: str) -> hosts.AllowedHosts:
    return hosts.parse_allowed_hosts(value)


def allowed_hosts() -> hosts.AllowedHosts:
    """PORTAL_SALESFORCE_ALLOWED_HOSTS, parsed (the only hosts besides Salesforce's own that are accepted)."""
    return _allowed_hosts(settings.PORTAL_SALESFORCE_ALLOWED_HOSTS or "")


def login_url_validate(url: str) -> str:
    """The normalised login URL, or ServiceError saying why it is refused. No network access."""
    try:
        return hosts.validate_salesforce_url(url.strip(), allowed=allowed_hosts())
    except hosts.UntrustedHostError as exc:
        raise ServiceError(str(exc)) from None


# -- the client -------------------------------------------------------------------------------------------

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
