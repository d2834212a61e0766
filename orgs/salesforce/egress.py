"""The network-layer half of the SSRF rules (docs/security.md, "Outbound requests"): connect only to public addresses.

`orgs.salesforce.hosts` decides which *names* may be called (Salesforce's domains, plus the operator's explicit
`PORTAL_SALESFORCE_ALLOWED_HOSTS`). This module checks where such a name *resolves to* when a connection is opened:
every address must be public (not private, loopback, link-local such as 169.254.169.254, unique-local, multicast,
reserved or unspecified), and the socket connects to the address that was checked, so a second DNS answer cannot
swap in another one. A refused connection raises `NonPublicAddressError`, a permanent error.

Not checked: hosts the operator allowlisted by name (the bundled simulator on 127.0.0.1, an internal mock), and
connections through an HTTP(S) proxy, where the proxy resolves the name and is the egress control.

Pure `requests`/`urllib3`; no Django. `orgs.services.client.sf_client` mounts `PublicAddressAdapter` on its sessions.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Callable

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util import connection

from orgs.salesforce.errors import UntrustedHostError


class NonPublicAddressError(UntrustedHostError):
    """A Salesforce host name resolved to an address the portal must not call."""


def public_address(host: str, port: int) -> str:
    """The first address `host` resolves to, if every address it resolves to is public; else NonPublicAddressError.
    Raises socket.gaierror when the name does not resolve."""
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    for *_, sockaddr in found:
        address = ipaddress.ip_address(sockaddr[0].split("%", 1)[0])
        if not address.is_global or address.is_multicast:
            raise NonPublicAddressError(
                f"{host} resolves to {address}, which is not a public address; the portal does not call it."
            )
    return found[0][4][0]


class _PublicOnly:
    """Mixin for urllib3 connections: resolve, check, then connect to the checked address."""

    trusted: Callable[[], set[str]] = staticmethod(lambda: set())

    def _new_conn(self):
        if self.proxy is not None or self.host in self.trusted():
            return super()._new_conn()
        try:
            address = public_address(self.host, self.port)
            sock = connection.create_connection((address, self.port), self.timeout,
                                               source_address=self.source_address,
                                               socket_options=self.socket_options)
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc
        except TimeoutError as exc:
            raise ConnectTimeoutError(self, f"Connection to {self.host} timed out.") from exc
        except OSError as exc:
            raise NewConnectionError(self, f"Failed to establish a new connection: {exc}") from exc
        return sock


class PublicAddressAdapter(HTTPAdapter):
    """A requests adapter whose connections go to public addresses only, except to `trusted()` host names."""

    def __init__(self, trusted: Callable[[], set[str]], **kwargs):
        http = type("PublicHTTPConnection", (_PublicOnly, HTTPConnection), {"trusted": staticmethod(trusted)})
        https = type("PublicHTTPSConnection", (_PublicOnly, HTTPSConnection), {"trusted": staticmethod(trusted)})
        self._pool_classes = {
            "http": type("PublicHTTPConnectionPool", (HTTPConnectionPool,), {"ConnectionCls": http}),
            "https": type("PublicHTTPSConnectionPool", (HTTPSConnectionPool,), {"ConnectionCls": https}),
        }
        super().__init__(**kwargs)

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = self._pool_classes


class GuardedSessions:
    """One `requests.Session` per thread whose connections go through `PublicAddressAdapter` (public addresses only,
    except the `trusted()` host names) and that ignores proxy settings from the environment. Call it for the
    current thread's session: the alert webhooks and the OIDC issuers' documents use one each."""

    def __init__(self, trusted: Callable[[], set[str]]):
        self._trusted = trusted
        self._local = threading.local()

    def __call__(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            session.trust_env = False
            adapter = PublicAddressAdapter(trusted=self._trusted)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
        return session
