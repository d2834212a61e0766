"""Customisation seams of django-allauth: who may sign up, who the client is behind proxies, how members with MFA
re-authenticate, and how MFA secrets are stored."""

from allauth.account.adapter import DefaultAccountAdapter
from allauth.mfa.adapter import DefaultMFAAdapter
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.conf import settings
from django.core.exceptions import PermissionDenied

from portal.lib.http import forwarded_client_ip

PENDING_INVITATION_SESSION_KEY = "portal_pending_invitation"


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request) -> bool:
        """Open signup, or closed signup with an invitation link opened in this browser session."""
        if settings.PORTAL_OPEN_SIGNUP:
            return True
        return _has_usable_invitation(request)

    def get_client_ip(self, request) -> str:
        """X-Forwarded-For only from PORTAL_TRUSTED_PROXIES (portal/lib/http.py): allauth's rate limits, its session
        list and the portal's audit rows see the same address, which a client cannot choose by sending a header."""
        ip = forwarded_client_ip(request)
        if not ip:
            raise PermissionDenied("Unable to determine client IP address")
        return ip

    def get_reauthentication_methods(self, user) -> list[dict]:
        """A member with MFA re-authenticates with it: the password (and emailed codes) are not offered, so allauth's
        re-authentication pages and portal/accounts/reauth.py send them to the TOTP (or security key) page."""
        methods = super().get_reauthentication_methods(user)
        strongest = [method for method in methods if method["id"].startswith("mfa_")]
        return strongest or methods


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def is_open_for_signup(self, request, sociallogin) -> bool:
        if settings.PORTAL_OPEN_SIGNUP:
            return True
        return _has_usable_invitation(request)


class MFAAdapter(DefaultMFAAdapter):
    """TOTP seeds and recovery-code seeds are encrypted at rest with the portal's keyring (orgs/crypto.py).

    allauth encrypts before the Authenticator row exists, so the associated data binds the value to the table and
    column (`mfa.authenticator.data`) but not to the row. There is no plaintext fallback on decryption.
    """

    CONTEXT = "mfa.authenticator.data"

    def encrypt(self, text: str) -> str:
        from portal.lib import crypto

        return crypto.encrypt(text, context=self.CONTEXT)

    def decrypt(self, encrypted_text: str) -> str:
        from portal.lib import crypto

        return crypto.decrypt(encrypted_text, context=self.CONTEXT)


def _has_usable_invitation(request) -> bool:
    from portal.accounts.models import Invitation
    from portal.accounts.services import ServiceError, invitation_from_token

    token = request.session.get(PENDING_INVITATION_SESSION_KEY) if request is not None else None
    if not token:
        return False
    try:
        invitation = invitation_from_token(token)
    except ServiceError:
        return False
    return invitation.state == Invitation.State.PENDING
