"""Request helpers shared by every app."""


def client_ip(request) -> str | None:
    """The client address, trusting X-Forwarded-For only as far as ALLAUTH_TRUSTED_PROXY_COUNT allows."""
    from allauth.account.adapter import get_adapter

    if hasattr(request, "_portal_client_ip"):  # computed once per request
        return request._portal_client_ip
    try:
        ip = get_adapter(request).get_client_ip(request)
    except Exception:  # noqa: BLE001 - an unparseable address is recorded as unknown, never a 500
        ip = None
    request._portal_client_ip = ip
    return ip
