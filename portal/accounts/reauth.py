"""Recent authentication before sensitive writes (docs/security.md, "Re-authentication").

Every sensitive write needs an authentication within `PORTAL_REAUTHENTICATION_SECONDS` (default 600) with the
member's strongest factor: for a member with MFA (TOTP, security key) that is an MFA step, at login or as an
explicit re-authentication; a password alone (a password-only re-authentication) does not count for them. For a
member without MFA, any login or re-authentication counts (password, SSO). Otherwise allauth's re-authentication
page comes first: the password page, or for members with MFA the TOTP page only
(`AccountAdapter.get_reauthentication_methods`).

Guarded today: handing out a token (web "Get access token", "Open in Salesforce"), creating an API token, connecting
or reconnecting an org, JWT connections, creating a connected app and changing its secret, uploading or generating a
JWT signing key, adding/changing/removing a grant, changing a role, removing a member, creating and deleting scratch
orgs. ANY NEW SENSITIVE WRITE (sandboxes, trust policies, anything that hands out, reveals or widens access) MUST be
decorated with `recent_authentication_required` and added to tests/api/test_reauthentication.py's list.

Only the POST that does the sensitive thing is guarded; the pages themselves (GET) open normally. allauth keeps the
refused POST in the session and replays it once the member has re-authenticated, so nothing typed is lost, EXCEPT
for views marked with `sensitive_post_parameters` (consumer secrets, key passphrases, uploads): their POST is never
stored in the session; the member re-authenticates and submits the form again. Put `recent_authentication_required`
below `sensitive_post_parameters` so it sees the mark. The REST API uses bearer API tokens and no browser session,
so this does not apply to it. A refused htmx POST is not stored either: the page is sent to re-authenticate
(HX-Redirect) and the member presses the button again.
"""

from __future__ import annotations

import time
from functools import wraps
from urllib.parse import urlsplit

from allauth.account.adapter import get_adapter
from allauth.account.internal.flows.login import get_authentication_records
from allauth.account.internal.flows.reauthentication import STATE_SESSION_KEY
from allauth.core.exceptions import ReauthenticationRequired
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django_htmx.http import HttpResponseClientRedirect


def _has_mfa(user) -> bool:
    from allauth.mfa.utils import is_mfa_enabled

    return is_mfa_enabled(user)


def recently_authenticated(request) -> bool:
    """Whether the session's member authenticated recently enough, with MFA if they have it."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return False
    records = get_authentication_records(request, user)
    if _has_mfa(user):
        records = [record for record in records if record.get("method") == "mfa"]
    latest = max((record.get("at", 0) for record in records), default=0)
    return time.time() - latest < settings.PORTAL_REAUTHENTICATION_SECONDS


def _reauthenticate_without_keeping_the_post(request):
    """Like allauth's suspend_request, but nothing of the POST is stored: the member submits the form again."""
    methods = get_adapter(request).get_reauthentication_methods(request.user)
    if not methods:
        raise PermissionDenied("Re-authentication is not available for this account.")
    request.session.pop(STATE_SESSION_KEY, None)  # never replay an older stored POST to this page
    messages.info(request, "Confirm it's you, then submit the form again.")
    # Back to the page the form was on (same origin only; a POST-only URL would answer GET with 405).
    back = request.META.get("HTTP_REFERER", "")
    if back and url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()},
                                                require_https=request.is_secure()):
        parts = urlsplit(back)
        back = parts.path + (f"?{parts.query}" if parts.query else "")
    else:
        back = request.get_full_path()
    return HttpResponseRedirect(f"{methods[0]['url']}?{urlencode({'next': back})}")


def recent_authentication_required(view):
    """On POST, demand a recent authentication first (allauth's re-authentication flow, which replays the POST
    unless the view holds sensitive POST parameters)."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if request.method == "POST" and not recently_authenticated(request):
            if request.headers.get("HX-Request") == "true":
                # An htmx button (e.g. deleting a scratch org): the whole page goes to the re-authentication page
                # (HX-Redirect), then back to the page the button was on; the member presses it again.
                return HttpResponseClientRedirect(_reauthenticate_without_keeping_the_post(request).url)
            if getattr(request, "sensitive_post_parameters", None):
                return _reauthenticate_without_keeping_the_post(request)
            raise ReauthenticationRequired()
        return view(request, *args, **kwargs)

    wrapper.requires_recent_authentication = True  # functools.wraps in outer decorators carries it up
    return wrapper
