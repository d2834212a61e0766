"""Request helpers shared by every app: who the client is when reverse proxies stand in between.

The rule (PORTAL_TRUSTED_PROXIES, a tuple of ipaddress networks parsed by portal/settings.py): a peer
(REMOTE_ADDR) outside every trusted network IS the client, and its X-Forwarded-For and X-Forwarded-Proto mean
nothing. Only when the peer is a trusted proxy is X-Forwarded-For read, right to left, skipping trusted hops: the
first untrusted entry is the client (an unparseable one stops the walk: the peer is kept). allauth's rate limits,
its session list and the portal's audit rows all use this one rule (portal/accounts/adapter.py).
"""

from __future__ import annotations

import ipaddress

from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _parse_ip(value: str | None) -> IPAddress | None:
    """An address from REMOTE_ADDR or one X-Forwarded-For entry ("1.2.3.4", "1.2.3.4:5678", "[::1]:80"), or None."""
    if not value:
        return None
    value = value.strip()
    if value.startswith("["):  # [v6]:port
        value = value[1:].partition("]")[0]
    elif value.count(":") == 1:  # v4:port
        value = value.partition(":")[0]
    try:
        ip = ipaddress.ip_address(value.partition("%")[0])  # no scope ids
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        return ip.ipv4_mapped
    return ip


def _trusted(ip: IPAddress) -> bool:
    return any(ip in network for network in settings.PORTAL_TRUSTED_PROXIES if ip.version == network.version)


def peer_is_trusted_proxy(request) -> bool:
    """Whether the direct peer (REMOTE_ADDR) is one of PORTAL_TRUSTED_PROXIES."""
    peer = _parse_ip(request.META.get("REMOTE_ADDR"))
    return peer is not None and _trusted(peer)


def forwarded_client_ip(request) -> str | None:
    """The client address by the rule above; None when even REMOTE_ADDR is not an address."""
    peer = _parse_ip(request.META.get("REMOTE_ADDR"))
    if peer is None:
        return None
    if not _trusted(peer):
        return str(peer)
    for entry in reversed(request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")):
        if not entry.strip():
            continue
        ip = _parse_ip(entry)
        if ip is None:
            break  # a trusted proxy never writes garbage: what lies left of it is the client's own claim
        if not _trusted(ip):
            return str(ip)
    return str(peer)


def client_ip(request) -> str | None:
    """The client address as allauth sees it (AccountAdapter.get_client_ip, the rule above), once per request."""
    from allauth.account.adapter import get_adapter

    if hasattr(request, "_portal_client_ip"):  # computed once per request
        return request._portal_client_ip
    try:
        ip = get_adapter(request).get_client_ip(request)
    except Exception:  # noqa: BLE001 - an unparseable address is recorded as unknown, never a 500
        ip = None
    request._portal_client_ip = ip
    return ip


class UntrustedProxyHeadersMiddleware:
    """Drop X-Forwarded-Proto unless the peer is a trusted proxy, so SECURE_PROXY_SSL_HEADER (PORTAL_BEHIND_PROXY)
    cannot be claimed by a client that reaches the portal directly."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "HTTP_X_FORWARDED_PROTO" in request.META and not peer_is_trusted_proxy(request):
            del request.META["HTTP_X_FORWARDED_PROTO"]
        return self.get_response(request)


