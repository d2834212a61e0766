"""The Salesforce HTTP client: OAuth (web-server + PKCE, refresh, JWT bearer, revoke), identity and REST.

Pure Python on `requests`: plain values in, frozen dataclasses out; no Django, models, Celery or settings.
The Salesforce behaviour it relies on is in docs/salesforce.md.

Rules every call follows:
- the URL goes through `orgs.salesforce.hosts` first, so nothing is ever sent to a host that is not trusted; the URLs a
  token response returns (`instance_url`, `id`, `sfdc_community_url`) are validated before they are used;
- every request has connect and read timeouts and `allow_redirects=False`; a 3xx answer is a `ProtocolError`;
- errors are `TransientSalesforceError` (timeouts, connection errors, 5xx, 429, non-JSON success bodies:
  retry) or a `PermanentSalesforceError` subclass (never retry). Their messages are user-presentable and never
  contain a token or secret: any secret sent in the request is also scrubbed from text Salesforce echoes back.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import re
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import jwt
import requests

from orgs.salesforce.errors import (
    ApiError,
    HighAssuranceRequiredError,
    OAuthError,
    PermanentSalesforceError,
    ProtocolError,
    SalesforceError,
    SessionExpiredError,
    SignatureMismatchError,
    TransientSalesforceError,
    UntrustedHostError,
    describe_error,
)
from orgs.salesforce.hosts import (
    AllowedHosts,
    parse_identity_url,
    validate_identity_url,
    validate_salesforce_url,
    validate_site_url,
)

__all__ = [
    "ApiError",
    "HighAssuranceRequiredError",
    "Identity",
    "OAuthError",
    "OrgInfo",
    "PermanentSalesforceError",
    "ProtocolError",
    "SalesforceClient",
    "SalesforceError",
    "SandboxAuth",
    "SandboxProcess",
    "ScratchOrgInfo",
    "SessionExpiredError",
    "SignatureMismatchError",
    "TokenResponse",
    "TransientSalesforceError",
    "UntrustedHostError",
    "describe_error",
    "normalize_license_type",
    "new_pkce_pair",
    "new_state",
]

AUTHORIZE_PATH = "/services/oauth2/authorize"
TOKEN_PATH = "/services/oauth2/token"
REVOKE_PATH = "/services/oauth2/revoke"
SINGLE_ACCESS_PATH = "/services/oauth2/singleaccess"
FRONTDOOR_PATH = "/secur/frontdoor.jsp"
INTROSPECT_PATH = "/services/oauth2/introspect"
USERINFO_PATH = "/services/oauth2/userinfo"
VERSIONS_PATH = "/services/data/"

JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
JWT_LIFETIME_SECONDS = 180  # "within 3 minutes" (docs/salesforce.md §4)

ORGANIZATION_SOQL = (
    "SELECT Name, InstanceName, IsSandbox, TrialExpirationDate, NamespacePrefix, OrganizationType "
    "FROM Organization"
)
DEV_HUB_PROBE_SOQL = "SELECT Id FROM ScratchOrgInfo LIMIT 1"

HIGH_ASSURANCE_MESSAGE = "This session is not valid for use with the REST API"
AGENT_NOT_ATTACHED_MESSAGE = "Connected app is not attached to Agent"

_MAX_SERVER_TEXT = 300
_REDACTED = "[redacted]"
_API_VERSION = re.compile(r"v?(\d{2,3}\.\d)")
_SOBJECT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,79}")
_RECORD_ID = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")
_NEXT_RECORDS_PATH = re.compile(r"/services/data/[A-Za-z0-9._/-]+")
_NOT_JSON = object()


# -- data -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenResponse:
    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    instance_url: str
    id_url: str
    org_id: str
    user_id: str
    issued_at: str | None
    signature: str | None = field(repr=False)
    scope: str
    token_type: str
    community_url: str | None = None

    @property
    def issued_at_datetime(self) -> datetime | None:
        """`issued_at` as aware UTC. Real responses carry milliseconds (13 digits); the docs say seconds."""
        if not self.issued_at or not self.issued_at.isdigit():
            return None
        value = int(self.issued_at)
        return datetime.fromtimestamp(value / 1000 if len(self.issued_at) >= 13 else value, tz=UTC)


@dataclass(frozen=True)
class Identity:
    user_id: str
    org_id: str
    username: str
    display_name: str
    email: str
    active: bool


@dataclass(frozen=True)
class OrgInfo:
    name: str
    is_sandbox: bool
    trial_expiration_date: str | None
    organization_type: str
    instance_name: str
    namespace_prefix: str | None

    @property
    def kind(self) -> str:
        """`production`, `developer`, `sandbox` or `scratch` (docs/salesforce.md §5, the CLI's rules)."""
        if self.is_sandbox:
            return "scratch" if self.trial_expiration_date else "sandbox"
        return "developer" if self.organization_type == "Developer Edition" else "production"


@dataclass(frozen=True)
class ScratchOrgInfo:
    """A Dev Hub `ScratchOrgInfo` row (docs/salesforce.md §6). `auth_code` is a one-time credential."""

    id: str
    status: str
    org_name: str | None
    edition: str | None
    scratch_org: str | None
    signup_username: str | None
    login_url: str | None
    expiration_date: str | None
    error_code: str | None
    auth_code: str | None = field(repr=False)
    record: dict[str, Any] = field(repr=False)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> ScratchOrgInfo:
        if not isinstance(record.get("Id"), str) or not isinstance(record.get("Status"), str):
            raise ProtocolError("Salesforce returned a ScratchOrgInfo record without Id or Status.")
        return cls(
            id=record["Id"],
            status=record["Status"],
            org_name=record.get("OrgName"),
            edition=record.get("Edition"),
            scratch_org=record.get("ScratchOrg"),
            signup_username=record.get("SignupUsername"),
            login_url=record.get("LoginUrl"),
            expiration_date=record.get("ExpirationDate"),
            error_code=record.get("ErrorCode"),
            auth_code=record.get("AuthCode"),
            record=record,
        )


@dataclass(frozen=True)
class SandboxProcess:
    """A production org's Tooling `SandboxProcess` row: one copy job (SALESFORCE.md §5.6.2)."""

    id: str
    status: str
    sandbox_name: str
    sandbox_info_id: str
    license_type: str
    copy_progress: int | None
    sandbox_organization: str | None  # the sandbox's org id, 15 characters
    start_date: str | None
    end_date: str | None
    created_date: str | None
    description: str | None
    source_id: str | None
    record: dict[str, Any] = field(repr=False)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> SandboxProcess:
        if not isinstance(record.get("Id"), str) or not isinstance(record.get("Status"), str):
            raise ProtocolError("Salesforce returned a SandboxProcess record without Id or Status.")
        progress = record.get("CopyProgress")
        return cls(
            id=record["Id"],
            status=record["Status"],
            sandbox_name=str(record.get("SandboxName") or ""),
            sandbox_info_id=str(record.get("SandboxInfoId") or ""),
            license_type=normalize_license_type(record.get("LicenseType")),
            copy_progress=progress if isinstance(progress, int) and not isinstance(progress, bool) else None,
            sandbox_organization=_text_or_none(record.get("SandboxOrganization")),
            start_date=_text_or_none(record.get("StartDate")),
            end_date=_text_or_none(record.get("EndDate")),
            created_date=_text_or_none(record.get("CreatedDate")),
            description=_text_or_none(record.get("Description")),
            source_id=_text_or_none(record.get("SourceId")),
            record=record,
        )


@dataclass(frozen=True)
class SandboxAuth:
    """The answer of `tooling/sandboxAuth` (§5.6.3). `auth_code` is a one-time credential."""

    auth_username: str
    auth_code: str = field(repr=False)
    instance_url: str = ""
    login_url: str = ""


def normalize_license_type(value: Any) -> str:
    """`Developer_Pro`, `DEVELOPER PRO`, `developer_pro` → `DEVELOPER_PRO` (§5.6.1: normalise when reading)."""
    return re.sub(r"[\s_]+", "_", str(value or "").strip()).upper()


SANDBOX_PROCESS_FIELDS = (
    "Id, Status, SandboxName, SandboxInfoId, LicenseType, CreatedDate, CopyProgress, SandboxOrganization, "
    "SourceId, Description, StartDate, EndDate"
)


# -- PKCE and state ---------------------------------------------------------------------------------------


def new_pkce_pair() -> tuple[str, str]:
    """Return `(verifier, challenge)`: an 86-char verifier (512 random bits) and its S256 challenge."""
    verifier = secrets.token_urlsafe(64)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def new_state() -> str:
    """An opaque, URL-safe `state` of 256 random bits."""
    return secrets.token_urlsafe(32)


# -- the client -------------------------------------------------------------------------------------------


class SalesforceClient:
    """Talks to Salesforce over `session` (created when omitted); trusts only the hosts `hosts.py` trusts."""

    def __init__(
        self,
        session: requests.Session | None = None,
        *,
        allowed: AllowedHosts,
        connect_timeout: float = 5.0,
        read_timeout: float = 20.0,
    ) -> None:
        self._session = session if session is not None else requests.Session()
        self._allowed = allowed
        self._timeout = (connect_timeout, read_timeout)

    # -- OAuth ------------------------------------------------------------------------------------------

    def authorize_url(
        self,
        *,
        login_url: str,
        client_id: str,
        redirect_uri: str,
        scope: str,
        state: str,
        code_challenge: str,
        prompt: str | None = "login",
    ) -> str:
        """The browser URL for the web-server flow, with PKCE (`code_challenge_method=S256`)."""
        params = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "scope": scope,
            "state": state,
            "code_challenge": code_challenge,
            "code_challenge_method": "S256",
        }
        if prompt:
            params["prompt"] = prompt
        return f"{self._base(login_url)}{AUTHORIZE_PATH}?{urlencode(params, quote_via=quote)}"

    def exchange_code(
        self,
        *,
        login_url: str,
        client_id: str,
        client_secret: str | None,
        code: str,
        redirect_uri: str,
        code_verifier: str | None,
    ) -> TokenResponse:
        """Exchange an authorization code (URL-decoded once) at `<login_url>/services/oauth2/token`.

        `code_verifier` is None only for codes issued without PKCE, such as a scratch org's `AuthCode`.
        """
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "client_id": client_id,
            "redirect_uri": redirect_uri,
        }
        if code_verifier is not None:
            form["code_verifier"] = code_verifier
        if client_secret is not None:
            form["client_secret"] = client_secret
        secret_values = (code, code_verifier, client_secret)
        return self._token(
            login_url, form, flow="authorization_code", client_secret=client_secret, sent=secret_values
        )

    def refresh(
        self, *, base_url: str, client_id: str, client_secret: str | None, refresh_token: str
    ) -> TokenResponse:
        """Refresh-token grant. With rotation on, the answer carries a new `refresh_token`: persist it."""
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id}
        if client_secret is not None:
            form["client_secret"] = client_secret
        secret_values = (refresh_token, client_secret)
        return self._token(
            base_url, form, flow="refresh_token", client_secret=client_secret, sent=secret_values
        )

    def jwt_bearer(
        self, *, login_url: str, client_id: str, username: str, private_key_pem: bytes, audience: str
    ) -> TokenResponse:
        """JWT bearer grant signed RS256 here (`iss`, `sub`, `aud`, `exp` = now + 3 min). No refresh token."""
        claims = {
            "iss": client_id,
            "sub": username,
            "aud": self._base(audience),
            "exp": int(time.time()) + JWT_LIFETIME_SECONDS,
        }
        try:
            assertion = jwt.encode(claims, private_key_pem, algorithm="RS256")
        except (jwt.PyJWTError, ValueError, TypeError):
            raise PermanentSalesforceError(
                "The JWT signing key could not be used: it must be an unencrypted RSA private key in PEM."
            ) from None
        form = {"grant_type": JWT_BEARER_GRANT, "assertion": assertion}
        return self._token(login_url, form, flow="jwt_bearer", client_secret=None, sent=(assertion,))

    def revoke(self, *, base_url: str, token: str) -> None:
        """Revoke an access or refresh token (a refresh token takes its access tokens with it)."""
        response = self._send("POST", self._base(base_url) + REVOKE_PATH, data={"token": token})
        if response.status_code != 200:
            _oauth_body(response, flow="revoke", sent=(token,))
            raise ProtocolError(f"Salesforce answered the revoke request with HTTP {response.status_code}.")

    def single_access_url(self, *, instance_url: str, access_token: str, start_path: str | None = None) -> str:
        """A single-use, short-lived `frontdoor.jsp?otp=…` URL for the access token's user (the UI Bridge API,
        what `sf org open` uses since August 2025). The answer must point at a trusted Salesforce host's
        /secur/frontdoor.jsp; the access token itself never appears in it."""
        form = {"redirect_uri": start_path} if start_path else None
        response = self._send(
            "POST",
            self._base(instance_url) + SINGLE_ACCESS_PATH,
            data=form,
            headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
        )
        body = _rest_body(response, sent=(access_token,))
        uri = body.get("frontdoor_uri") if isinstance(body, dict) else None
        if not isinstance(uri, str):
            raise ProtocolError("Salesforce's single-access answer has no frontdoor_uri.")
        parts = urlsplit(uri)
        base = validate_salesforce_url(f"{parts.scheme}://{parts.netloc}", allowed=self._allowed)
        if parts.path != FRONTDOOR_PATH or not parts.query or parts.fragment or access_token in uri:
            raise ProtocolError("Salesforce's single-access answer is not a frontdoor.jsp URL.")
        return f"{base}{parts.path}?{parts.query}"

    def introspect_active(
        self, *, base_url: str, client_id: str, client_secret: str | None, token: str, token_type_hint: str
    ) -> bool:
        """Token introspection (RFC 7662): is `token` still active? Asks about the token; it is not a grant, so a
        refresh token is not *used* (docs/workers.md, interrupted refreshes)."""
        form = {"token": token, "token_type_hint": token_type_hint, "client_id": client_id}
        if client_secret is not None:
            form["client_secret"] = client_secret
        response = self._send(
            "POST", self._base(base_url) + INTROSPECT_PATH, data=form, headers={"Accept": "application/json"}
        )
        body = _oauth_body(response, flow="introspect", sent=(token, client_secret))
        if response.status_code != 200 or not isinstance(body, dict) or not isinstance(body.get("active"), bool):
            raise ProtocolError(
                f"Salesforce's introspection endpoint answered HTTP {response.status_code} unexpectedly."
            )
        return body["active"]

    def _token(
        self,
        base_url: str,
        form: dict[str, str],
        *,
        flow: str,
        client_secret: str | None,
        sent: tuple[str | None, ...],
    ) -> TokenResponse:
        """POST a grant to the token endpoint; `sent` are the secrets in `form`, to scrub from errors."""
        url = self._base(base_url) + TOKEN_PATH
        response = self._send("POST", url, data=form, headers={"Accept": "application/json"})
        body = _oauth_body(response, flow=flow, sent=sent)
        if response.status_code != 200 or not isinstance(body, dict):
            raise ProtocolError(
                f"Salesforce's token endpoint answered HTTP {response.status_code} unexpectedly."
            )
        return self._token_response(body, client_secret=client_secret)

    def _token_response(self, body: dict[str, Any], *, client_secret: str | None) -> TokenResponse:
        access_token, instance_url, id_url = (
            body.get("access_token"),
            body.get("instance_url"),
            body.get("id"),
        )
        if not all(isinstance(v, str) and v for v in (access_token, instance_url, id_url)):
            raise ProtocolError("Salesforce's token response lacks access_token, instance_url or id.")
        instance_url = self._trusted("instance_url", instance_url, validate_salesforce_url)
        id_url = self._trusted("id", id_url, validate_identity_url)
        community = body.get("sfdc_community_url")
        if community is not None:
            community = self._trusted("sfdc_community_url", str(community), validate_site_url)
        issued_at = _text_or_none(body.get("issued_at"))
        signature = _text_or_none(body.get("signature"))
        if client_secret is not None:
            _verify_signature(client_secret, id_url=body["id"], issued_at=issued_at, signature=signature)
        org_id, user_id = parse_identity_url(id_url)
        refresh_token = body.get("refresh_token")
        return TokenResponse(
            access_token=access_token,
            refresh_token=refresh_token if isinstance(refresh_token, str) and refresh_token else None,
            instance_url=instance_url,
            id_url=id_url,
            org_id=org_id,
            user_id=user_id,
            issued_at=issued_at,
            signature=signature,
            scope=str(body.get("scope") or ""),
            token_type=str(body.get("token_type") or "Bearer"),
            community_url=community,
        )

    def _trusted(self, name: str, url: str, validator: Callable[..., str]) -> str:
        try:
            return validator(url, allowed=self._allowed)
        except UntrustedHostError as exc:
            raise UntrustedHostError(f"Salesforce returned an untrusted {name}: {exc}") from None

    # -- identity ---------------------------------------------------------------------------------------

    def identity(self, *, id_url: str, access_token: str) -> Identity:
        """GET the identity URL (`id` of the token response)."""
        url = self._trusted("id", id_url, validate_identity_url)
        body = self._rest_url("GET", url, access_token=access_token)
        return _identity(
            body,
            user_id="user_id",
            org_id="organization_id",
            username="username",
            display_name="display_name",
        )

    def userinfo(self, *, instance_url: str, access_token: str) -> Identity:
        """GET `/services/oauth2/userinfo` (OIDC claims of the token's own user)."""
        body = self._rest("GET", instance_url, USERINFO_PATH, access_token=access_token)
        return _identity(
            body,
            user_id="user_id",
            org_id="organization_id",
            username="preferred_username",
            display_name="name",
        )

    # -- REST -------------------------------------------------------------------------------------------

    def latest_api_version(self, *, instance_url: str) -> str:
        """The highest version `GET /services/data/` lists (no auth needed), e.g. `"68.0"`."""
        response = self._send(
            "GET", self._base(instance_url) + VERSIONS_PATH, headers={"Accept": "application/json"}
        )
        body = _rest_body(response, sent=())
        versions = [v.get("version") for v in body if isinstance(v, dict)] if isinstance(body, list) else []
        valid = [v for v in versions if isinstance(v, str) and re.fullmatch(r"\d+\.\d+", v)]
        if not valid:
            raise ProtocolError("Salesforce did not list any API versions.")
        return max(valid, key=lambda v: tuple(int(part) for part in v.split(".")))

    def query(self, *, instance_url: str, access_token: str, api_version: str, soql: str) -> Iterator[dict]:
        """Run a SOQL query and yield its records, following `nextRecordsUrl` page by page."""
        path = _query_path(api_version)
        pages = self._query_pages(self._base(instance_url), path, soql, access_token)
        return (record for page in pages for record in page)

    def query_all_pages(
        self, *, instance_url: str, access_token: str, api_version: str, soql: str
    ) -> tuple[list[dict], int]:
        """Run a SOQL query to the end; return `(records, number of pages fetched)`."""
        return self._all_pages(instance_url, _query_path(api_version), soql, access_token)

    def _all_pages(self, instance_url: str, path: str, soql: str, access_token: str) -> tuple[list[dict], int]:
        records: list[dict] = []
        pages = 0
        for page in self._query_pages(self._base(instance_url), path, soql, access_token):
            records.extend(page)
            pages += 1
        return records, pages

    def _create(self, instance_url: str, path: str, access_token: str, fields: dict[str, Any], sobject: str) -> str:
        """POST a new record; its id, or ProtocolError when Salesforce's answer has none."""
        body = self._rest("POST", instance_url, path, access_token=access_token, json=fields)
        if not isinstance(body, dict) or not isinstance(body.get("id"), str) or body.get("success") is False:
            raise ProtocolError(f"Salesforce did not return the id of the new {sobject}.")
        return body["id"]

    def _query_pages(self, base: str, path: str, soql: str, access_token: str) -> Iterator[list[dict]]:
        params: dict[str, str] | None = {"q": soql}
        seen: set[str] = set()
        while True:
            body = self._rest("GET", base, path, access_token=access_token, params=params)
            records, next_path = _query_page(body)
            yield records
            if next_path is None:
                return
            if next_path in seen:
                raise ProtocolError("Salesforce's query cursor repeated itself; stopped paging.")
            seen.add(next_path)
            path, params = next_path, None

    def organization(self, *, instance_url: str, access_token: str, api_version: str) -> OrgInfo:
        """The org's edition and type (the §4.4 Organization query)."""
        records, _ = self.query_all_pages(
            instance_url=instance_url,
            access_token=access_token,
            api_version=api_version,
            soql=ORGANIZATION_SOQL,
        )
        if len(records) != 1:
            raise ProtocolError("Salesforce did not return exactly one Organization row.")
        row = records[0]
        return OrgInfo(
            name=str(row.get("Name") or ""),
            is_sandbox=row.get("IsSandbox") is True,
            trial_expiration_date=row.get("TrialExpirationDate"),
            organization_type=str(row.get("OrganizationType") or ""),
            instance_name=str(row.get("InstanceName") or ""),
            namespace_prefix=row.get("NamespacePrefix"),
        )

    def is_dev_hub(self, *, instance_url: str, access_token: str, api_version: str) -> bool:
        """True when the org can query `ScratchOrgInfo`; a non-hub answers `INVALID_TYPE` (§4.4)."""
        path = _query_path(api_version)
        try:
            self._rest("GET", instance_url, path, access_token=access_token, params={"q": DEV_HUB_PROBE_SOQL})
        except ApiError as exc:
            if exc.error_code == "INVALID_TYPE":
                return False
            raise
        return True

    def get_sobject(
        self, *, instance_url: str, access_token: str, api_version: str, sobject: str, record_id: str
    ) -> dict[str, Any]:
        body = self._rest(
            "GET", instance_url, _sobject_path(api_version, sobject, record_id), access_token=access_token
        )
        if not isinstance(body, dict):
            raise ProtocolError(f"Salesforce returned an unexpected {sobject} record.")
        return body

    def create_scratch_org_info(
        self, *, instance_url: str, access_token: str, api_version: str, fields: dict[str, Any]
    ) -> str:
        """Create a `ScratchOrgInfo` in a Dev Hub (starts the scratch-org signup); return its id."""
        path = _sobject_path(api_version, "ScratchOrgInfo")
        return self._create(instance_url, path, access_token, fields, "ScratchOrgInfo")

    def get_scratch_org_info(
        self,
        *,
        instance_url: str,
        access_token: str,
        api_version: str,
        id: str,
    ) -> ScratchOrgInfo:
        record = self.get_sobject(
            instance_url=instance_url,
            access_token=access_token,
            api_version=api_version,
            sobject="ScratchOrgInfo",
            record_id=id,
        )
        return ScratchOrgInfo.from_record(record)

    def delete_active_scratch_org(
        self,
        *,
        instance_url: str,
        access_token: str,
        api_version: str,
        id: str,
    ) -> None:
        """Delete the `ActiveScratchOrg` row, which deletes the scratch org itself (§5.2)."""
        path = _sobject_path(api_version, "ActiveScratchOrg", id)
        self._rest("DELETE", instance_url, path, access_token=access_token)

    # -- sandboxes (Tooling API, on the production org; SALESFORCE.md §5.6) --------------------------------

    def tooling_query_all_pages(
        self, *, instance_url: str, access_token: str, api_version: str, soql: str
    ) -> tuple[list[dict], int]:
        """Run a Tooling SOQL query to the end; return `(records, number of pages fetched)`."""
        path = f"/services/data/v{_api_version(api_version)}/tooling/query"
        return self._all_pages(instance_url, path, soql, access_token)

    def create_sandbox_info(
        self, *, instance_url: str, access_token: str, api_version: str, fields: dict[str, Any]
    ) -> str:
        """POST a `SandboxInfo` (starts the copy); return its `0GQ` id."""
        path = _tooling_sobject_path(api_version, "SandboxInfo")
        return self._create(instance_url, path, access_token, fields, "SandboxInfo")

    def refresh_sandbox_info(
        self, *, instance_url: str, access_token: str, api_version: str, id: str, fields: dict[str, Any]
    ) -> None:
        """PATCH a `SandboxInfo`: refreshes the sandbox (204 No Content)."""
        path = _tooling_sobject_path(api_version, "SandboxInfo", id)
        self._rest("PATCH", instance_url, path, access_token=access_token, json=fields)

    def delete_sandbox_info(self, *, instance_url: str, access_token: str, api_version: str, id: str) -> None:
        """DELETE a `SandboxInfo`: deletes the sandbox and frees its license."""
        path = _tooling_sobject_path(api_version, "SandboxInfo", id)
        self._rest("DELETE", instance_url, path, access_token=access_token)

    def sandbox_processes(
        self, *, instance_url: str, access_token: str, api_version: str, sandbox_info_id: str
    ) -> list[SandboxProcess]:
        """The copy jobs of one sandbox, newest first, without `Del…` ones (as sfdx-core filters)."""
        if not _RECORD_ID.fullmatch(sandbox_info_id):
            raise ValueError(f"Not a Salesforce record id: {sandbox_info_id!r}.")
        soql = (
            f"SELECT {SANDBOX_PROCESS_FIELDS} FROM SandboxProcess WHERE SandboxInfoId = '{sandbox_info_id}' "  # noqa: S608
            "ORDER BY CreatedDate DESC"
        )
        records, _ = self.tooling_query_all_pages(
            instance_url=instance_url, access_token=access_token, api_version=api_version, soql=soql
        )
        return [SandboxProcess.from_record(r) for r in records if not str(r.get("Status") or "").startswith("Del")]

    def sandbox_process_action(
        self, *, instance_url: str, access_token: str, api_version: str, id: str, action: str
    ) -> None:
        """`RefreshAction` (`ACTIVATE` or `DISCARD`) on a SandboxProcess waiting in `Pending Activation`."""
        if action not in ("ACTIVATE", "DISCARD"):
            raise ValueError("RefreshAction is ACTIVATE or DISCARD.")
        path = _tooling_sobject_path(api_version, "SandboxProcess", id)
        self._rest("PATCH", instance_url, path, access_token=access_token, json={"RefreshAction": action})

    def sandbox_auth(
        self, *, instance_url: str, access_token: str, api_version: str, client_id: str, sandbox_name: str,
        callback_url: str,
    ) -> SandboxAuth:
        """`tooling/sandboxAuth` on the production connection: a one-time code for the sandbox copy of its user."""
        path = f"/services/data/v{_api_version(api_version)}/tooling/sandboxAuth"
        body = self._rest(
            "POST", instance_url, path, access_token=access_token,
            json={"clientId": client_id, "sandboxName": sandbox_name, "callbackUrl": callback_url},
        )
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("authUserName"), str)
            or not isinstance(body.get("authCode"), str)
        ):
            raise ProtocolError("Salesforce's sandboxAuth answer has no authUserName or authCode.")
        return SandboxAuth(
            auth_username=body["authUserName"],
            auth_code=body["authCode"],
            instance_url=str(body.get("instanceUrl") or ""),
            login_url=str(body.get("loginUrl") or ""),
        )

    # -- HTTP -------------------------------------------------------------------------------------------

    def _base(self, url: str) -> str:
        return validate_salesforce_url(url, allowed=self._allowed)

    def _rest(self, method: str, base_url: str, path: str, *, access_token: str, **kwargs: Any) -> Any:
        return self._rest_url(method, self._base(base_url) + path, access_token=access_token, **kwargs)

    def _rest_url(self, method: str, url: str, *, access_token: str, **kwargs: Any) -> Any:
        """An authenticated call to an already validated URL; the JSON body, or None for 204."""
        headers = {"Authorization": f"Bearer {access_token}", "Accept": "application/json"}
        response = self._send(method, url, headers=headers, **kwargs)
        if response.status_code == 204:
            return None
        return _rest_body(response, sent=(access_token,))

    def _send(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """The only place that does I/O: timeouts, no redirects, transport errors and 3xx/429/5xx mapped."""
        host = urlsplit(url).netloc
        try:
            response = self._session.request(
                method, url, timeout=self._timeout, allow_redirects=False, **kwargs
            )
        except requests.Timeout as exc:
            raise TransientSalesforceError(f"Salesforce ({host}) did not answer in time.") from exc
        except requests.ConnectionError as exc:
            raise TransientSalesforceError(f"Could not connect to Salesforce ({host}).") from exc
        except requests.RequestException as exc:
            raise TransientSalesforceError(f"The request to Salesforce ({host}) failed.") from exc
        status = response.status_code
        if 300 <= status < 400:
            raise ProtocolError(
                f"Salesforce ({host}) answered with a redirect (HTTP {status}); not followed."
            )
        if status == 429:
            raise TransientSalesforceError(
                f"Salesforce ({host}) is limiting requests (HTTP 429).",
                status=429,
                retry_after=_retry_after(response),
            )
        if status >= 500:
            raise TransientSalesforceError(
                f"Salesforce ({host}) is unavailable (HTTP {status}).",
                status=status,
                retry_after=_retry_after(response),
            )
        return response


# -- response parsing -------------------------------------------------------------------------------------


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return _NOT_JSON


def _oauth_body(response: requests.Response, *, flow: str, sent: tuple[str | None, ...]) -> Any:
    """The JSON body of a token/revoke answer; raises `OAuthError` for an `{"error": …}` answer."""
    body = _json(response)
    if response.status_code >= 400:
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            description = body.get("error_description")
            raise OAuthError(
                _scrub(body["error"], sent),
                _scrub(description if isinstance(description, str) else "", sent),
                status=response.status_code,
                flow=flow,
            )
        raise ProtocolError(f"Salesforce's OAuth endpoint answered HTTP {response.status_code} unexpectedly.")
    if body is _NOT_JSON and response.content:
        raise _maintenance(response)
    return body


def _rest_body(response: requests.Response, *, sent: tuple[str, ...]) -> Any:
    """The JSON body of a REST/identity answer; maps the error shapes of docs/salesforce.md §7."""
    body = _json(response)
    status = response.status_code
    if status < 400:
        if body is _NOT_JSON:
            raise _maintenance(response)
        return body
    code, message, fields = _first_rest_error(body)
    message = _scrub(message, sent)
    if status == 401:
        if message == HIGH_ASSURANCE_MESSAGE:
            raise HighAssuranceRequiredError(
                "This session is not valid for use with the REST API: the user's profile requires a "
                "high-assurance session."
            )
        if message != AGENT_NOT_ATTACHED_MESSAGE:
            raise SessionExpiredError("The Salesforce session has expired or is invalid.")
    if code is None:
        raise ProtocolError(f"Salesforce answered HTTP {status} with an unexpected body.")
    raise ApiError(status, _scrub(code, sent), message, fields)


def _first_rest_error(body: Any) -> tuple[str | None, str, tuple[str, ...]]:
    """`(errorCode, message, fields)` of `[{…}]` or of an OAuth-style `{"error": …}`; code None if neither."""
    if isinstance(body, list) and body and isinstance(body[0], dict):
        first = body[0]
        fields = first.get("fields")
        field_names = tuple(str(f) for f in fields) if isinstance(fields, list) else ()
        return _text_or_none(first.get("errorCode")), str(first.get("message") or ""), field_names
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return body["error"], str(body.get("error_description") or ""), ()
    return None, "", ()


def _maintenance(response: requests.Response) -> TransientSalesforceError:
    host = urlsplit(response.url).netloc
    return TransientSalesforceError(
        f"Salesforce ({host}) answered with a non-JSON page (maintenance?).",
        status=response.status_code,
        retry_after=_retry_after(response),
    )


def _query_page(body: Any) -> tuple[list[dict], str | None]:
    if not isinstance(body, dict) or not isinstance(body.get("records"), list):
        raise ProtocolError("Salesforce returned an unexpected query result.")
    records = [r for r in body["records"] if isinstance(r, dict)]
    if body.get("done", True) is True:
        return records, None
    return records, _next_records_path(body.get("nextRecordsUrl"))


def _next_records_path(value: Any) -> str:
    """`nextRecordsUrl` must be a plain relative `/services/data/…` path: never another host or a detour."""
    if (
        not isinstance(value, str)
        or not _NEXT_RECORDS_PATH.fullmatch(value)
        or "//" in value
        or any(segment in (".", "..") for segment in value.split("/"))
    ):
        raise ProtocolError("Salesforce returned a nextRecordsUrl that is not a /services/data/ path.")
    return value


def _identity(body: Any, *, user_id: str, org_id: str, username: str, display_name: str) -> Identity:
    if (
        not isinstance(body, dict)
        or not isinstance(body.get(user_id), str)
        or not isinstance(body.get(org_id), str)
    ):
        raise ProtocolError("Salesforce returned an identity without user and org ids.")
    return Identity(
        user_id=body[user_id],
        org_id=body[org_id],
        username=str(body.get(username) or ""),
        display_name=str(body.get(display_name) or ""),
        email=str(body.get("email") or ""),
        active=body.get("active") is not False,
    )


def _verify_signature(
    client_secret: str, *, id_url: str, issued_at: str | None, signature: str | None
) -> None:
    """docs/salesforce.md §2: `base64(HMAC-SHA256(client_secret, id + issued_at))`, compared in constant time."""
    if not issued_at or not signature:
        raise SignatureMismatchError("Salesforce's token response is not signed, so it was rejected.")
    mac = hmac.new(client_secret.encode(), (id_url + issued_at).encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(base64.b64encode(mac), signature.encode()):
        raise SignatureMismatchError(
            "Salesforce's token response signature does not match: check the consumer secret."
        )


def _retry_after(response: requests.Response) -> int | None:
    """`Retry-After` in seconds (delta-seconds or an HTTP date); None when absent or unreadable."""
    value = response.headers.get("Retry-After", "").strip()
    if value.isdigit():
        return int(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0, math.ceil((moment - datetime.now(UTC)).total_seconds()))


def _scrub(text: str, sent: tuple[str | None, ...]) -> str:
    """Server text for a message: any secret we sent is masked (a hostile echo), and the length is capped."""
    for secret in sent:
        if secret and len(secret) >= 8:
            text = text.replace(secret, _REDACTED)
    return text[:_MAX_SERVER_TEXT]


def _text_or_none(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    return str(value) if isinstance(value, str | int) else None


def _api_version(value: str) -> str:
    match = _API_VERSION.fullmatch(value)
    if match is None:
        raise ValueError(f"Not a Salesforce API version: {value!r} (expected e.g. 68.0).")
    return match.group(1)


def _query_path(api_version: str) -> str:
    return f"/services/data/v{_api_version(api_version)}/query"


def _sobject_path(api_version: str, sobject: str, record_id: str | None = None) -> str:
    if not _SOBJECT_NAME.fullmatch(sobject):
        raise ValueError(f"Not an sObject name: {sobject!r}.")
    path = f"/services/data/v{_api_version(api_version)}/sobjects/{sobject}"
    if record_id is None:
        return path
    if not _RECORD_ID.fullmatch(record_id):
        raise ValueError(f"Not a Salesforce record id: {record_id!r}.")
    return f"{path}/{record_id}"


def _tooling_sobject_path(api_version: str, sobject: str, record_id: str | None = None) -> str:
    return _sobject_path(api_version, sobject, record_id).replace("/sobjects/", "/tooling/sobjects/", 1)
