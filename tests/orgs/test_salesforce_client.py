"""The Salesforce client over real HTTP against the simulator (sfsim); no mocked responses.

Where a hostile answer is needed that a faithful simulator never gives (tampered signature, foreign hosts,
redirects), the `proxy` fixture forwards to the simulator and rewrites that one answer.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import socket
import time
import traceback
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from orgs.salesforce.client import new_pkce_pair, new_state
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
from tests.orgs.conftest import CALLBACK, CONSUMER_KEY, CONSUMER_SECRET, JWT_KEY_PEM, code_from, json_answer

ADMIN = "admin@acme.example"  # production Dev Hub
ADMIN_ORG, ADMIN_ID = "00D5g00000AcPRDEA3", "0055g00000AdPRDAA3"
CI_USER = "ci@acme.example"  # pre-authorized for JWT
SECURE_USER = "secure@acme.example"  # high-assurance profile
SANDBOX_USER = "dev@acme.example.uat"
DE_USER = "dev@acme-de.example"
SCRATCH_USER = "test-feature1@example.com"
API = "68.0"


def _connect(sim, client, username=ADMIN, *, login_url=None, secret=CONSUMER_SECRET, client_id=CONSUMER_KEY):
    """The whole web flow: PKCE pair, authorize (login + Allow in the simulator), code exchange."""
    verifier, challenge = new_pkce_pair()
    location = sim.authorize(
        username,
        client_id,
        CALLBACK,
        state=new_state(),
        code_challenge=challenge,
        scope="api refresh_token web id",
    )
    return client.exchange_code(
        login_url=login_url or sim.base_url,
        client_id=client_id,
        client_secret=secret,
        code=code_from(location),
        redirect_uri=CALLBACK,
        code_verifier=verifier,
    )


def _minted(sim, username=ADMIN, *, rotation=None):
    return sim.mint_tokens(username, CONSUMER_KEY, rotation=rotation)


def _token_calls(sim):
    return [entry for entry in sim.log() if entry["path"] == "/services/oauth2/token"]


# -- PKCE, state, authorize URL ---------------------------------------------------------------------------


def test_pkce_pair_is_fresh_high_entropy_and_s256():
    verifier, challenge = new_pkce_pair()
    assert 43 <= len(verifier) <= 128
    assert re.fullmatch(r"[A-Za-z0-9._~-]+", verifier)
    expected = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    assert challenge == expected and "=" not in challenge
    assert new_pkce_pair()[0] != verifier


def test_state_has_at_least_128_bits():
    state = new_state()
    assert len(base64.urlsafe_b64decode(state + "==")) >= 16
    assert new_state() != state


def test_authorize_url_carries_pkce_and_is_accepted_by_salesforce(sim, client, http):
    _, challenge = new_pkce_pair()
    url = client.authorize_url(
        login_url=sim.base_url + "/",
        client_id=CONSUMER_KEY,
        redirect_uri=CALLBACK,
        scope="refresh_token api web",
        state="st4te",
        code_challenge=challenge,
    )
    parts = urlsplit(url)
    params = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{sim.base_url}/services/oauth2/authorize"
    assert params == {
        "response_type": "code",
        "client_id": CONSUMER_KEY,
        "redirect_uri": CALLBACK,
        "scope": "refresh_token api web",
        "state": "st4te",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "prompt": "login",
    }
    page = http.get(url, allow_redirects=False, timeout=5)
    assert page.status_code == 200  # the login page, not a redirect to an error


def test_authorize_url_refuses_an_untrusted_login_url(client):
    with pytest.raises(UntrustedHostError):
        client.authorize_url(
            login_url="https://login.salesforce.com.evil.example",
            client_id=CONSUMER_KEY,
            redirect_uri=CALLBACK,
            scope="api",
            state="s",
            code_challenge="c",
        )


# -- code exchange ----------------------------------------------------------------------------------------


def test_exchange_code_with_pkce_verifies_the_signature(sim, client):
    before = datetime.now(UTC)
    tokens = _connect(sim, client)
    assert tokens.org_id == ADMIN_ORG and tokens.user_id == ADMIN_ID
    assert tokens.instance_url == sim.base_url
    assert tokens.id_url == f"{sim.base_url}/id/{ADMIN_ORG}/{ADMIN_ID}"
    assert tokens.access_token.startswith(ADMIN_ORG[:15] + "!")
    assert tokens.refresh_token and tokens.signature
    assert tokens.token_type == "Bearer" and "api" in tokens.scope.split()
    assert len(tokens.issued_at) == 13  # milliseconds, as real Salesforce sends
    assert before.timestamp() - 5 <= tokens.issued_at_datetime.timestamp() <= time.time() + 5
    assert [c["outcome"] for c in _token_calls(sim)] == ["ok"]


def test_exchange_code_with_a_wrong_verifier_is_refused(sim, client):
    _, challenge = new_pkce_pair()
    location = sim.authorize(ADMIN, CONSUMER_KEY, CALLBACK, code_challenge=challenge)
    with pytest.raises(OAuthError) as caught:
        client.exchange_code(
            login_url=sim.base_url,
            client_id=CONSUMER_KEY,
            client_secret=CONSUMER_SECRET,
            code=code_from(location),
            redirect_uri=CALLBACK,
            code_verifier=new_pkce_pair()[0],
        )
    assert caught.value.error == "invalid_grant" and caught.value.flow == "authorization_code"


def test_a_used_code_cannot_be_exchanged_again(sim, client):
    verifier, challenge = new_pkce_pair()
    code = code_from(sim.authorize(ADMIN, CONSUMER_KEY, CALLBACK, code_challenge=challenge))
    exchange = dict(
        login_url=sim.base_url,
        client_id=CONSUMER_KEY,
        client_secret=CONSUMER_SECRET,
        code=code,
        redirect_uri=CALLBACK,
        code_verifier=verifier,
    )
    client.exchange_code(**exchange)
    with pytest.raises(OAuthError) as caught:
        client.exchange_code(**exchange)
    assert caught.value.is_expired_code
    assert "start the connection again" in describe_error(caught.value).lower()


def test_a_public_client_exchanges_without_a_secret_or_signature(sim, client):
    tokens = _connect(sim, client, client_id="OrgPortalPublic", secret=None)
    assert tokens.signature is None and tokens.refresh_token and tokens.user_id == ADMIN_ID


def test_a_wrong_consumer_secret_is_invalid_client(sim, client):
    with pytest.raises(OAuthError) as caught:
        _connect(sim, client, secret="not-the-secret")
    assert caught.value.error == "invalid_client"
    assert "consumer secret" in describe_error(caught.value)


def _tamper_token(field_name, value):
    def rewrite(path, body, response):
        if path != "/services/oauth2/token" or response.status_code != 200:
            return None
        payload = response.json()
        if value is None:
            payload.pop(field_name, None)
        else:
            payload[field_name] = value(payload) if callable(value) else value
        return json_answer(payload)

    return rewrite


@pytest.mark.parametrize(
    ("field_name", "value"),
    [
        ("signature", base64.b64encode(b"x" * 32).decode()),
        ("signature", None),
        ("issued_at", lambda p: str(int(p["issued_at"]) + 1)),
        # another real user of the same org: a valid-looking id that the signature does not cover
        ("id", lambda p: p["id"].replace("0055g00000AdPRDAA3", "0055g00000CiPRDAA3")),
    ],
)
def test_a_tampered_token_response_is_refused(sim, client, proxy, field_name, value):
    proxy.rewrite = _tamper_token(field_name, value)
    with pytest.raises(SignatureMismatchError) as caught:
        _connect(sim, client, login_url=proxy.base_url)
    assert isinstance(caught.value, PermanentSalesforceError)
    assert "consumer secret" in describe_error(caught.value)


def test_an_instance_url_on_an_untrusted_host_is_refused_and_never_contacted(sim, client, recorder):
    sim.load(
        {
            "orgs": [
                {
                    "id": "00D5g00000EvILXEA3",
                    "name": "Elsewhere",
                    "kind": "production",
                    "instance_url": recorder.base_url,
                }
            ],
            "users": [
                {
                    "id": "0055g00000EvILXAA3",
                    "org": "00D5g00000EvILXEA3",
                    "username": "x@elsewhere.example",
                    "password": "sfsim-demo-password",
                }
            ],
        }
    )
    with pytest.raises(UntrustedHostError) as caught:
        _connect(sim, client, "x@elsewhere.example")
    assert "instance_url" in str(caught.value)
    assert recorder.hits == []


@pytest.mark.parametrize(
    ("field_name", "value"),
    [
        ("id", lambda p: p["id"].replace(urlsplit(p["id"]).netloc, "login.salesforce.com.evil.example")),
        ("id", "https://login.salesforce.com/services/data/"),
        ("instance_url", "https://169.254.169.254"),
        ("instance_url", "https://acme.my.salesforce.com.evil.example"),
        ("sfdc_community_url", "https://evil.example/partners"),
    ],
)
def test_returned_urls_on_untrusted_hosts_are_refused(sim, client, proxy, field_name, value):
    proxy.rewrite = _tamper_token(field_name, value)
    with pytest.raises(UntrustedHostError):
        _connect(sim, client, login_url=proxy.base_url)


def test_an_untrusted_id_pointing_at_a_recorder_gets_no_request(sim, make_client, proxy, recorder):
    client = make_client()
    proxy.rewrite = _tamper_token(
        "id", lambda p: p["id"].replace(urlsplit(p["id"]).netloc, urlsplit(recorder.base_url).netloc)
    )
    with pytest.raises(UntrustedHostError):
        _connect(sim, client, login_url=proxy.base_url)
    assert recorder.hits == []


def test_a_redirect_is_an_error_and_is_not_followed(sim, client, proxy, recorder):
    proxy.rewrite = lambda path, body, response: (302, {"Location": recorder.base_url + path}, b"")
    with pytest.raises(ProtocolError) as caught:
        _connect(sim, client, login_url=proxy.base_url)
    assert "redirect" in str(caught.value)
    assert recorder.hits == []


def test_no_request_leaves_for_an_untrusted_login_url(client, recorder):
    with pytest.raises(UntrustedHostError):
        client.exchange_code(
            login_url=recorder.base_url,
            client_id=CONSUMER_KEY,
            client_secret=CONSUMER_SECRET,
            code="c",
            redirect_uri=CALLBACK,
            code_verifier="v" * 43,
        )
    with pytest.raises(UntrustedHostError):
        client.latest_api_version(instance_url=recorder.base_url)
    assert recorder.hits == []


# -- refresh, rotation, revoke ----------------------------------------------------------------------------


def test_refresh_without_rotation_keeps_the_refresh_token(sim, client):
    minted = _minted(sim, rotation=False)
    tokens = client.refresh(
        base_url=minted["instance_url"],
        client_id=CONSUMER_KEY,
        client_secret=CONSUMER_SECRET,
        refresh_token=minted["refresh_token"],
    )
    assert tokens.refresh_token is None
    assert tokens.access_token != minted["access_token"]
    assert tokens.signature and tokens.org_id == ADMIN_ORG


def test_refresh_with_rotation_returns_a_new_refresh_token_and_detects_reuse(sim, client):
    minted = _minted(sim, rotation=True)
    refresh = dict(base_url=sim.base_url, client_id=CONSUMER_KEY, client_secret=CONSUMER_SECRET)
    first = client.refresh(**refresh, refresh_token=minted["refresh_token"])
    assert first.refresh_token and first.refresh_token != minted["refresh_token"]
    second = client.refresh(**refresh, refresh_token=first.refresh_token)
    assert second.refresh_token not in (None, first.refresh_token)

    with pytest.raises(OAuthError) as reused:
        client.refresh(**refresh, refresh_token=minted["refresh_token"])  # rotated out: revokes the chain
    assert reused.value.is_revoked and reused.value.flow == "refresh_token"
    assert "Reconnect the org" in describe_error(reused.value)
    with pytest.raises(OAuthError) as current:
        client.refresh(**refresh, refresh_token=second.refresh_token)
    assert current.value.is_revoked


def test_refresh_of_a_revoked_user_is_revoked(sim, client):
    minted = _minted(sim)
    sim.revoke_user(ADMIN)
    with pytest.raises(OAuthError) as caught:
        client.refresh(
            base_url=sim.base_url,
            client_id=CONSUMER_KEY,
            client_secret=CONSUMER_SECRET,
            refresh_token=minted["refresh_token"],
        )
    assert caught.value.is_revoked


def test_revoking_the_refresh_token_revokes_its_access_tokens(sim, client):
    tokens = _connect(sim, client)
    client.revoke(base_url=sim.base_url, token=tokens.refresh_token)
    with pytest.raises(SessionExpiredError):
        client.identity(id_url=tokens.id_url, access_token=tokens.access_token)
    with pytest.raises(OAuthError) as caught:
        client.refresh(
            base_url=sim.base_url,
            client_id=CONSUMER_KEY,
            client_secret=CONSUMER_SECRET,
            refresh_token=tokens.refresh_token,
        )
    assert caught.value.is_revoked


def test_revoking_an_unknown_token_is_an_oauth_error(sim, client):
    with pytest.raises(OAuthError) as caught:
        client.revoke(base_url=sim.base_url, token="5Aep861NotAToken")
    assert caught.value.error == "invalid_token" and caught.value.flow == "revoke"


# -- identity, versions, queries --------------------------------------------------------------------------


def test_identity_and_userinfo(sim, client):
    tokens = _connect(sim, client)
    for who in (
        client.identity(id_url=tokens.id_url, access_token=tokens.access_token),
        client.userinfo(instance_url=tokens.instance_url, access_token=tokens.access_token),
    ):
        assert (who.user_id, who.org_id, who.username) == (ADMIN_ID, ADMIN_ORG, ADMIN)
        assert who.display_name == "Ada Admin" and who.email == ADMIN and who.active


def test_latest_api_version(sim, client):
    assert client.latest_api_version(instance_url=sim.base_url) == API


def test_query_follows_next_records_url(sim, client):
    sim.configure(page_size=3)
    token = _minted(sim)["access_token"]
    soql = "SELECT Id, Username FROM User ORDER BY Username"
    records, pages = client.query_all_pages(
        instance_url=sim.base_url, access_token=token, api_version=API, soql=soql
    )
    assert pages == 2
    assert [r["Username"] for r in records] == sorted([ADMIN, CI_USER, "former@acme.example", SECURE_USER])
    lazily = client.query(instance_url=sim.base_url, access_token=token, api_version=f"v{API}", soql=soql)
    assert [r["Id"] for r in lazily] == [r["Id"] for r in records]
    paths = [e["path"] for e in sim.log() if e["path"].startswith("/services/data/")]
    assert paths[0] == f"/services/data/v{API}/query" and paths[1].startswith(f"/services/data/v{API}/query/")


@pytest.mark.parametrize(
    "next_url",
    [
        "{recorder}/services/data/v68.0/query/01g-2",
        "//127.0.0.1:1/services/data/v68.0/query/01g-2",
        "/services/data/v68.0/../../id/x",
        "/services/oauth2/revoke",
        "services/data/v68.0/query/01g-2",
        "/services/data/v68.0/query/01g-2?q=1",
        None,
    ],
)
def test_a_foreign_next_records_url_is_refused(sim, client, proxy, recorder, next_url):
    token = _minted(sim)["access_token"]

    def rewrite(path, body, response):
        payload = response.json()
        payload.update(done=False, nextRecordsUrl=next_url and next_url.format(recorder=recorder.base_url))
        return json_answer(payload)

    proxy.rewrite = rewrite
    with pytest.raises(ProtocolError):
        client.query_all_pages(
            instance_url=proxy.base_url, access_token=token, api_version=API, soql="SELECT Id FROM User"
        )
    assert recorder.hits == []


@pytest.mark.parametrize(
    ("username", "kind", "is_sandbox"),
    [
        (ADMIN, "production", False),
        (SANDBOX_USER, "sandbox", True),
        (DE_USER, "developer", False),
        (SCRATCH_USER, "scratch", True),
    ],
)
def test_organization_kind(sim, client, username, kind, is_sandbox):
    token = _minted(sim, username)["access_token"]
    org = client.organization(instance_url=sim.base_url, access_token=token, api_version=API)
    assert org.kind == kind and org.is_sandbox is is_sandbox
    assert org.name and org.instance_name and org.organization_type.endswith("Edition")


def test_is_dev_hub(sim, client):
    assert client.is_dev_hub(
        instance_url=sim.base_url, access_token=_minted(sim)["access_token"], api_version=API
    )
    de_token = _minted(sim, DE_USER)["access_token"]
    assert not client.is_dev_hub(instance_url=sim.base_url, access_token=de_token, api_version=API)


def test_rest_errors_are_api_errors(sim, client):
    token = _minted(sim)["access_token"]
    rest = dict(instance_url=sim.base_url, access_token=token, api_version=API)
    with pytest.raises(ApiError) as malformed:
        client.query_all_pages(**rest, soql="SELEKT nonsense")
    assert malformed.value.status == 400 and malformed.value.error_code == "MALFORMED_QUERY"
    with pytest.raises(ApiError) as missing:
        client.get_sobject(**rest, sobject="User", record_id="005000000000000AAA")
    assert (missing.value.status, missing.value.error_code) == (404, "NOT_FOUND")
    with pytest.raises(ApiError) as invalid_type:
        client.query_all_pages(**rest, soql="SELECT Id FROM Nonsense__x")
    assert invalid_type.value.error_code == "INVALID_TYPE"
    with pytest.raises(ValueError):
        client.get_sobject(**rest, sobject="User/../../x", record_id="005000000000000AAA")


def test_scratch_org_lifecycle(sim, client):
    sim.configure(scratch_create_seconds=0)
    hub = dict(instance_url=sim.base_url, access_token=_minted(sim)["access_token"], api_version=API)
    with pytest.raises(ApiError) as caught:
        client.create_scratch_org_info(**hub, fields={"OrgName": "No app"})
    assert caught.value.error_code == "REQUIRED_FIELD_MISSING"
    assert set(caught.value.fields) == {"ConnectedAppConsumerKey", "ConnectedAppCallbackUrl"}
    assert "ConnectedAppConsumerKey" in describe_error(caught.value)

    info_id = client.create_scratch_org_info(
        **hub,
        fields={
            "OrgName": "Feature",
            "Edition": "Developer",
            "DurationDays": 1,
            "ConnectedAppConsumerKey": CONSUMER_KEY,
            "ConnectedAppCallbackUrl": CALLBACK,
        },
    )
    info = client.get_scratch_org_info(**hub, id=info_id)
    assert info.status == "Active" and info.id == info_id and len(info.scratch_org) == 15
    assert info.auth_code and info.auth_code not in repr(info)

    tokens = client.exchange_code(
        login_url=info.login_url,
        client_id=CONSUMER_KEY,
        client_secret=CONSUMER_SECRET,
        code=info.auth_code,
        redirect_uri=CALLBACK,
        code_verifier=None,
    )
    assert tokens.org_id[:15] == info.scratch_org
    scratch = client.organization(
        instance_url=tokens.instance_url, access_token=tokens.access_token, api_version=API
    )
    assert scratch.kind == "scratch"

    active, _ = client.query_all_pages(
        **hub,
        soql=f"SELECT Id FROM ActiveScratchOrg WHERE ScratchOrgInfoId = '{info_id}'",  # noqa: S608 - test
    )
    client.delete_active_scratch_org(**hub, id=active[0]["Id"])
    assert client.get_scratch_org_info(**hub, id=info_id).status == "Deleted"


# -- JWT bearer -------------------------------------------------------------------------------------------


def _jwt(
    client,
    sim,
    *,
    username=CI_USER,
    key=JWT_KEY_PEM,
    client_id=CONSUMER_KEY,
    audience="https://login.salesforce.com",
):
    return client.jwt_bearer(
        login_url=sim.base_url, client_id=client_id, username=username, private_key_pem=key, audience=audience
    )


def test_jwt_bearer_success(sim, client):
    tokens = _jwt(client, sim)
    assert tokens.refresh_token is None and tokens.org_id == ADMIN_ORG
    assert client.identity(id_url=tokens.id_url, access_token=tokens.access_token).username == CI_USER


def _other_key() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@pytest.mark.parametrize(
    ("kwargs", "error", "helper", "advice"),
    [
        ({"username": DE_USER}, "invalid_grant", "is_not_approved", "Pre-authorize the user"),
        ({"key": "other"}, "invalid_grant", "is_invalid_assertion", "certificate uploaded to the app"),
        (
            {"audience": "https://acme.my.salesforce.com"},
            "invalid_grant",
            "is_audience_invalid",
            "login host",
        ),
        ({"client_id": "NotAnApp"}, "invalid_client_id", None, "wait 2–10 minutes"),
    ],
)
def test_jwt_bearer_errors_are_explained(sim, client, kwargs, error, helper, advice):
    if kwargs.get("key") == "other":
        kwargs = {"key": _other_key()}
    with pytest.raises(OAuthError) as caught:
        _jwt(client, sim, **kwargs)
    assert caught.value.error == error and caught.value.flow == "jwt_bearer"
    assert helper is None or getattr(caught.value, helper)
    assert not caught.value.is_revoked
    assert advice in describe_error(caught.value)


def test_jwt_bearer_expired_assertion_means_clock_skew(sim, client):
    sim.configure(clock_offset_seconds=600)  # Salesforce's clock is 10 minutes ahead of ours
    with pytest.raises(OAuthError) as caught:
        _jwt(client, sim)
    assert caught.value.is_expired_code
    assert "clock" in describe_error(caught.value)


def test_jwt_bearer_with_an_unusable_key_sends_nothing(sim, client):
    sim.clear_log()
    with pytest.raises(PermanentSalesforceError) as caught:
        _jwt(client, sim, key=b"-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    assert "RSA private key" in str(caught.value)
    assert sim.log() == []


# -- 401s: expired session vs high assurance --------------------------------------------------------------


def test_an_expired_session_can_be_refreshed_once(sim, client):
    tokens = _connect(sim, client)
    rest = dict(instance_url=tokens.instance_url, api_version=API)
    sim.expire_sessions()
    with pytest.raises(SessionExpiredError):
        client.organization(**rest, access_token=tokens.access_token)
    fresh = client.refresh(
        base_url=tokens.instance_url,
        client_id=CONSUMER_KEY,
        client_secret=CONSUMER_SECRET,
        refresh_token=tokens.refresh_token,
    )
    assert client.organization(**rest, access_token=fresh.access_token).kind == "production"


def test_high_assurance_is_not_a_session_expiry(sim, client):
    tokens = _jwt(client, sim, username=SECURE_USER)  # OAuth exchanges are not subject to high assurance
    with pytest.raises(HighAssuranceRequiredError) as caught:
        client.organization(
            instance_url=tokens.instance_url, access_token=tokens.access_token, api_version=API
        )
    assert not isinstance(caught.value, SessionExpiredError)
    assert "web-flow connection" in describe_error(caught.value)


# -- transient failures -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("mode", "status"), [("503", 503), ("500", 500), ("429", 429)])
def test_server_faults_are_transient_with_retry_after(sim, client, mode, status):
    token = _minted(sim)["access_token"]
    sim.configure(fail_rate=1, fail_mode=mode)
    with pytest.raises(TransientSalesforceError) as caught:
        client.query_all_pages(
            instance_url=sim.base_url, access_token=token, api_version=API, soql="SELECT Id FROM User"
        )
    assert caught.value.status == status
    assert caught.value.retry_after == (1 if mode in ("503", "429") else None)
    assert "unavailable" in describe_error(caught.value)


def test_token_endpoint_maintenance_is_transient(sim, client):
    minted = _minted(sim)
    sim.configure(fail_rate=1, fail_mode="503", fail_paths=["/services/oauth2/token"])
    with pytest.raises(TransientSalesforceError) as caught:
        client.refresh(
            base_url=sim.base_url,
            client_id=CONSUMER_KEY,
            client_secret=CONSUMER_SECRET,
            refresh_token=minted["refresh_token"],
        )
    assert caught.value.status == 503


def test_a_read_timeout_is_transient(sim, make_client):
    client = make_client(read_timeout=0.3)
    sim.configure(fail_rate=1, fail_mode="timeout", timeout_seconds=2)
    started = time.monotonic()
    with pytest.raises(TransientSalesforceError) as caught:
        client.latest_api_version(instance_url=sim.base_url)
    assert time.monotonic() - started < 1.5
    assert "did not answer in time" in str(caught.value)


def test_a_connection_reset_is_transient(sim, client):
    sim.configure(fail_rate=1, fail_mode="reset")
    with pytest.raises(TransientSalesforceError):
        client.latest_api_version(instance_url=sim.base_url)


def test_connection_refused_is_transient(make_client):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    client = make_client(extra=closed)
    with pytest.raises(TransientSalesforceError) as caught:
        client.latest_api_version(instance_url=closed)
    assert "Could not connect" in str(caught.value)


def test_a_non_json_success_body_is_transient(sim, client, proxy):
    proxy.rewrite = lambda path, body, response: (
        200,
        {"Content-Type": "text/html"},
        b"<html>Down for maintenance",
    )
    with pytest.raises(TransientSalesforceError):
        client.latest_api_version(instance_url=proxy.base_url)


# -- no secret in any message or repr ---------------------------------------------------------------------


def _echo_secrets(path, body, response):
    """A hostile endpoint that echoes whatever it was sent into its error text."""
    sent = " ".join(v[0] for v in parse_qs(body.decode()).values())
    return json_answer({"error": "invalid_grant", "error_description": f"bad {sent}"}, status=400)


def test_no_token_or_secret_appears_in_messages_or_reprs(sim, client, proxy):
    tokens = _connect(sim, client)
    secrets = [tokens.access_token, tokens.refresh_token, tokens.signature, CONSUMER_SECRET]
    assert not any(s in repr(tokens) for s in secrets)

    failures: list[BaseException] = []

    def collect(call):
        try:
            call()
        except SalesforceError as exc:
            failures.append(exc)

    refresh = dict(client_id=CONSUMER_KEY, client_secret=CONSUMER_SECRET, refresh_token=tokens.refresh_token)
    proxy.rewrite = _echo_secrets
    collect(lambda: client.refresh(base_url=proxy.base_url, **refresh))
    collect(lambda: client.revoke(base_url=proxy.base_url, token=tokens.access_token))
    proxy.rewrite = _tamper_token("signature", "AAAA")
    collect(lambda: client.refresh(base_url=proxy.base_url, **refresh))
    proxy.rewrite = lambda path, body, response: json_answer(
        [{"errorCode": "INVALID_FIELD", "message": json.dumps(dict(response.request.headers))}], status=400
    )
    collect(
        lambda: client.organization(
            instance_url=proxy.base_url, access_token=tokens.access_token, api_version=API
        )
    )
    proxy.rewrite = None
    sim.configure(fail_rate=1, fail_mode="503")
    collect(lambda: client.refresh(base_url=sim.base_url, **refresh))
    sim.configure(fail_rate=0)
    client.revoke(base_url=sim.base_url, token=tokens.refresh_token)
    collect(lambda: client.refresh(base_url=sim.base_url, **refresh))
    collect(lambda: client.identity(id_url=tokens.id_url, access_token=tokens.access_token))

    assert len(failures) == 7
    for exc in failures:
        text = "".join(traceback.format_exception(exc)) + repr(exc) + describe_error(exc)
        leaked = [s for s in secrets if s in text]
        assert not leaked, f"{type(exc).__name__} leaks a secret"


# -- describe_error for answers the simulator does not produce --------------------------------------------


@pytest.mark.parametrize(
    ("exc", "advice"),
    [
        (OAuthError("invalid_app_access", "user is not admin approved to access this app"), "permission set"),
        (OAuthError("invalid_client", "app must be installed into org"), "not installed"),
        (OAuthError("invalid_grant", "authentication failure"), "IP restrictions"),
        (OAuthError("unsupported_grant_type", "grant type not supported"), "not enabled"),
        (
            OAuthError("invalid_grant", "expired authorization code", flow="authorization_code"),
            "already used",
        ),
        (OAuthError("something_new", "odd"), "odd"),
        (ApiError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."), "limit"),
        (TransientSalesforceError("x", status=503, retry_after=30), "about 30 seconds"),
        (UntrustedHostError("evil.example is not a Salesforce login or My Domain host."), "evil.example"),
        (RuntimeError("boom"), "Unexpected error"),
    ],
)
def test_describe_error(exc, advice):
    assert advice in describe_error(exc)
