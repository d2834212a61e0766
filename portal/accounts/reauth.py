"""Recent authentication before sensitive actions (docs/security.md, "Re-authentication").

Handing out or revealing a token (web "Get access token", "Open in Salesforce", creating an API token), connecting
an org and changing a member's role need an authentication within `PORTAL_REAUTHENTICATION_SECONDS` (default 300):
the login itself (password, SSO, MFA code) or an explicit re-authentication. Otherwise allauth's re-authentication
page asks for the password (or, for members with MFA, offers a TOTP code); allauth keeps the refused POST and
replays it once the member has re-authenticated, so nothing typed is lost.

Only the POST that does the sensitive thing is guarded; the pages themselves (GET) open normally. The REST API uses
bearer API tokens and no browser session, so this does not apply to it.
"""

from __future__ import annotations

import time
from functools import wraps

from allauth.account.internal.flows.login import get_authentication_records
from allauth.core.exceptions import ReauthenticationRequired
from django.conf import settings


def recently_authenticated(request) -> bool:
    """Whether the session's member authenticated (logged in or re-authenticated, any method) recently enough."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return False
    records = get_authentication_records(request, user)
    latest = max((record.get("at", 0) for record in records), default=0)
    return time.time() - latest < settings.PORTAL_REAUTHENTICATION_SECONDS


def recent_authentication_required(view):
    """On POST, demand a recent authentication first (allauth's re-authentication flow, which replays the POST)."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if request.method == "POST" and not recently_authenticated(request):
            raise ReauthenticationRequired()
        return view(request, *args, **kwargs)

    return wrapper
