"""Receivers for allauth's credential signals: a password change or reset, or a removed authenticator (TOTP,
recovery codes, security key), revokes the user's personal API tokens in every team (audited with the reason).
Connected in `portal.accounts.apps.AccountsConfig.ready`. Service tokens belong to the team and stay.
"""

from __future__ import annotations

from portal.accounts.tokens import api_tokens_revoke_for_user
from portal.lib.http import client_ip


def _ip(request):
    return client_ip(request) if request is not None else None


def on_password_changed(sender, request=None, user=None, **kwargs) -> None:
    api_tokens_revoke_for_user(user=user, reason="password changed", ip=_ip(request))


def on_password_reset(sender, request=None, user=None, **kwargs) -> None:
    api_tokens_revoke_for_user(user=user, reason="password reset", ip=_ip(request))


def on_authenticator_removed(sender, request=None, user=None, authenticator=None, **kwargs) -> None:
    kind = getattr(authenticator, "type", "") or "authenticator"
    api_tokens_revoke_for_user(user=user, reason=f"two-factor authentication removed ({kind})", ip=_ip(request))


def connect() -> None:
    from allauth.account.signals import password_changed, password_reset
    from allauth.mfa.signals import authenticator_removed

    password_changed.connect(on_password_changed, dispatch_uid="accounts.revoke_tokens.password_changed")
    password_reset.connect(on_password_reset, dispatch_uid="accounts.revoke_tokens.password_reset")
    authenticator_removed.connect(on_authenticator_removed, dispatch_uid="accounts.revoke_tokens.authenticator_removed")
