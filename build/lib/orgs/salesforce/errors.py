"""Salesforce errors, permanent or transient, and the one table of advice shown to people.

`TransientSalesforceError` (timeouts, connection errors, 5xx, 429, maintenance): retry later with backoff.
Every other `SalesforceError` is permanent (revoked, not approved, invalid assertion, untrusted host): never retry.
`str(exc)` is user-presentable and never holds a token or secret. Plain Python: no Django.
"""

from __future__ import annotations


class SalesforceError(Exception):
    """Base of every Salesforce client error. `str(exc)` is user-presentable and never holds a secret."""


class PermanentSalesforceError(SalesforceError):
    """Retrying will not help."""


class UntrustedHostError(PermanentSalesforceError, ValueError):
    """A URL is not a trusted Salesforce URL. The message may name the host, never a token."""


class TransientSalesforceError(SalesforceError):
    """Retrying later may help: timeouts, connection errors, 5xx, 429, maintenance pages."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class OAuthError(PermanentSalesforceError):
    """An error answer from the token or revoke endpoint, e.g. `invalid_grant: expired access/refresh token`.

    `flow` names the grant that failed (`authorization_code`, `refresh_token`, `jwt_bearer`, `revoke`), so
    that `describe_error` can explain the same text differently per flow.
    """

    def __init__(
        self, error: str, description: str = "", *, status: int | None = None, flow: str = ""
    ) -> None:
        super().__init__(f"Salesforce refused the request: {description or error} ({error}).")
        self.error = error
        self.description = description
        self.status = status
        self.flow = flow

    def _is(self, error: str, description: str) -> bool:
        return self.error == error and self.description.lower() == description.lower()

    @property
    def is_revoked(self) -> bool:
        """The refresh token is revoked, expired by policy, rotated out or evicted: re-authorize."""
        return self._is("invalid_grant", "expired access/refresh token")

    @property
    def is_not_approved(self) -> bool:
        return self._is("invalid_grant", "user hasn't approved this consumer")

    @property
    def is_invalid_assertion(self) -> bool:
        return self._is("invalid_grant", "invalid assertion")

    @property
    def is_audience_invalid(self) -> bool:
        return self._is("invalid_grant", "Audience validation failed")

    @property
    def is_expired_code(self) -> bool:
        return self._is("invalid_grant", "expired authorization code")


class SessionExpiredError(PermanentSalesforceError):
    """401 `Session expired or invalid`: the caller may refresh the access token once and retry."""


class HighAssuranceRequiredError(PermanentSalesforceError):
    """401 `This session is not valid for use with the REST API`: never refresh on it (it would loop)."""


class ApiError(PermanentSalesforceError):
    """Any other REST error: `[{"errorCode": …, "message": …, "fields": […]}]`."""

    def __init__(self, status: int, error_code: str, message: str, fields: tuple[str, ...] = ()) -> None:
        suffix = f" Fields: {', '.join(fields)}." if fields else ""
        super().__init__(f"Salesforce API error {error_code} (HTTP {status}): {message}{suffix}")
        self.status = status
        self.error_code = error_code
        self.message = message
        self.fields = fields


class SignatureMismatchError(PermanentSalesforceError):
    """The token response's `signature` does not match `id + issued_at` under the consumer secret."""


class ProtocolError(PermanentSalesforceError):
    """Salesforce answered with something unexpected: a redirect, a wrong shape, a looping cursor."""


# -- the one table of advice for people ------------------------------------------------------------------
# Keyed on (error, description) first, then on the error alone. Every page, API answer and notification that
# explains a Salesforce refusal uses `describe_error`; tests/orgs/test_salesforce_client.py and
# tests/api/test_jwt_connections.py pin the wording.

_OAUTH_ADVICE = {
    ("invalid_grant", "user hasn't approved this consumer"): (
        "Salesforce says the user hasn't approved this consumer. Pre-authorize the user on the connected app "
        "(Admin approved users are pre-authorized, through the user's profile or a permission set), or authorize "
        "once in the browser. Also check that the login host matches the org type (Production vs Sandbox)."
    ),
    ("invalid_grant", "invalid assertion"): (
        "Salesforce rejected the signed JWT (invalid assertion): the certificate uploaded to the app does not "
        "match {key}.{fingerprint} Upload that certificate to the connected app in Salesforce."
    ),
    ("invalid_grant", "audience validation failed"): (
        "Salesforce rejected the JWT audience (Audience validation failed): wrong login host for this org. Use "
        "Production (https://login.salesforce.com), Sandbox (https://test.salesforce.com) or the org's My Domain."
    ),
    ("invalid_grant", "expired access/refresh token"): (
        "The stored authorization was revoked or has expired. Reconnect the org."
    ),
    ("invalid_grant", "authentication failure"): (
        "Salesforce refused the login: check IP restrictions, that the flow is enabled for the app, the "
        "login host, and that the user is active."
    ),
    ("invalid_client", "app must be installed into org"): (
        "The app is not installed in this org. An admin of the org must install or approve it first."
    ),
}

_OAUTH_ERROR_ADVICE = {
    "invalid_client_id": (
        "Salesforce doesn't know this consumer key (invalid_client_id): check the connected app's consumer key; "
        "if the app was just created, wait 2–10 minutes for it to propagate."
    ),
    "invalid_client": "Salesforce rejected the app's credentials: check the consumer secret.",
    "invalid_app_access": (
        "The user isn't admin-approved for this app: assign the user's profile or a permission set to the "
        "app."
    ),
    "unsupported_grant_type": (
        "This OAuth flow is not enabled for the app (JWT needs 'Use digital signatures' with a certificate)."
    ),
    "invalid_request": "Salesforce rejected the request (PKCE mismatch?). Start the connection again.",
    "inactive_user": "The Salesforce user is inactive.",
    "inactive_org": "The Salesforce org is inactive or locked.",
}


def describe_error(exc: BaseException, *, key_name: str | None = None, key_fingerprint: str | None = None) -> str:
    """An actionable, user-presentable message for any error the client raises.

    `key_name`/`key_fingerprint` name the signing key of a JWT flow, so "invalid assertion" can say which
    certificate Salesforce expects."""
    if isinstance(exc, TransientSalesforceError):
        later = f" in about {exc.retry_after} seconds" if exc.retry_after else " in a few minutes"
        return f"Salesforce is unavailable right now ({exc}). Try again{later}."
    if isinstance(exc, HighAssuranceRequiredError):
        return (
            "This user or org requires a high-assurance session, which a headless JWT login can't provide, so JWT "
            "can't be used headlessly here: use a web-flow connection (Connect an org, log in through the "
            "browser) for this user."
        )
    if isinstance(exc, SessionExpiredError):
        return "The Salesforce session expired or was revoked. If refreshing doesn't help, reconnect the org."
    if isinstance(exc, OAuthError):
        return _describe_oauth(exc, key_name=key_name, key_fingerprint=key_fingerprint)
    if isinstance(exc, SignatureMismatchError):
        return (
            "Salesforce's answer failed signature verification. Check the consumer secret stored for the "
            "app; if it is right, the answer was tampered with."
        )
    if isinstance(exc, ApiError):
        return _describe_api(exc)
    if isinstance(exc, SalesforceError):
        return str(exc)
    return "Unexpected error while talking to Salesforce."


def _describe_oauth(exc: OAuthError, *, key_name: str | None, key_fingerprint: str | None) -> str:
    if exc.is_expired_code:
        if exc.flow == "jwt_bearer":
            return ("Salesforce says the JWT has already expired (expired authorization code): this server's clock "
                    "is off (clock skew). Fix its time synchronisation (NTP) and try again.")
        return "The authorization code expired or was already used. Start the connection again."
    advice = _OAUTH_ADVICE.get((exc.error, exc.description.lower())) or _OAUTH_ERROR_ADVICE.get(exc.error)
    if advice is None:
        return str(exc)
    return advice.format(key=f"the signing key “{key_name}”" if key_name else "this signing key",
                         fingerprint=f" Its certificate's SHA-256 fingerprint is {key_fingerprint}."
                         if key_fingerprint else "")


def _describe_api(exc: ApiError) -> str:
    if exc.error_code == "REQUEST_LIMIT_EXCEEDED":
        return "The org has used up its API request limit. Try again later."
    if exc.error_code in ("INSUFFICIENT_ACCESS", "INSUFFICIENT_ACCESS_OR_READONLY"):
        return f"The connected Salesforce user lacks permission for this ({exc.message})."
    if exc.error_code == "REQUIRED_FIELD_MISSING" and exc.fields:
        return f"Salesforce needs these fields: {', '.join(exc.fields)}."
    return str(exc)
