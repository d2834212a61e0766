"""The exchange end to end, and every attack of the issue refused with the right error and an audit entry."""

from __future__ import annotations

import json
import threading

import pytest
import requests

from orgs.models import OidcTokenUse, TrustPolicy
from portal.accounts.models import ApiToken, AuditEvent
from tests.ci.conftest import OWNER_ID, PORTAL, REPO_ID, exchange

pytestmark = pytest.mark.django_db(transaction=False)


def _rejections():
    return list(AuditEvent.objects.filter(kind="oidc.rejected").order_by("pk"))


def test_a_ci_job_exchanges_its_id_token_for_a_working_org_token(client, oidc, policy, uat, sim):
    token = oidc.mint("github", audience=PORTAL)
    response = exchange(client, token)
    assert response.status_code == 200, response.content
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["issued_token_type"] == "urn:ietf:params:oauth:token-type:access_token"
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    assert body["instance_url"] == uat.instance_url and body["org_id"] == uat.org_id
    # the Salesforce token works at Salesforce
    api = requests.get(f"{body['instance_url']}/services/data/v{uat.api_version}/query",
                       params={"q": "SELECT Id FROM Organization"},
                       headers={"Authorization": f"Bearer {body['access_token']}"}, timeout=10)
    assert api.status_code == 200
    event = AuditEvent.objects.get(kind="oidc.exchanged")
    assert event.data["claims"]["repository_id"] == REPO_ID and event.data["claims"]["ref"] == "refs/heads/main"
    assert token not in json.dumps(event.data) and body["access_token"] not in json.dumps(event.data)
    assert AuditEvent.objects.filter(kind="token.issued", data__purpose="oidc").count() == 1
    assert TrustPolicy.objects.get(pk=policy.pk).last_used_at is not None


def test_the_org_can_be_named_by_audience_username_or_org_id(client, oidc, policy, uat):
    for ident in ("uat", uat.username, uat.org_id):
        response = exchange(client, oidc.mint("github", audience=PORTAL), org=None, audience=ident)
        assert response.status_code == 200, (ident, response.content)


def test_first_use_emails_the_team_admins_once(client, oidc, policy, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        assert exchange(client, oidc.mint("github", audience=PORTAL)).status_code == 200
        assert exchange(client, oidc.mint("github", audience=PORTAL)).status_code == 200
    first = [m for m in mailoutbox if "first time" in m.subject]
    assert sorted(m.to[0] for m in first) == ["alice@example.com", "bob@example.com"]  # once each


def test_a_two_phase_api_token_reaches_only_the_policy_orgs(client, oidc, policy, uat, world, sim, sim_app):
    from tests.api.conftest import HUB_USER, connect_sim_org

    hub = connect_sim_org(world.team, world.owner, sim_app, sim, HUB_USER, alias="hub")
    response = exchange(client, oidc.mint("github", audience=PORTAL), org=None,
                        requested_token_type="urn:orgportal:token-type:api-token")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["issued_token_type"] == "urn:orgportal:token-type:api-token" and body["access_token"].startswith("op_")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {body['access_token']}"}
    listed = client.get("/api/v1/orgs", **auth).json()["orgs"]
    assert [o["username"] for o in listed] == [uat.username]
    assert client.post(f"/api/v1/orgs/{uat.username}/access-token", **auth).status_code == 200
    assert client.post(f"/api/v1/orgs/{hub.username}/access-token", **auth).status_code == 404
    token = ApiToken.objects.get(trust_policy_code=policy.code)
    assert token.expires_at is not None and token.kind == "service"


def test_disabling_the_policy_ends_its_portal_tokens(client, oidc, policy, admin):
    from orgs.services import oidc as service

    raw = exchange(client, oidc.mint("github", audience=PORTAL), org=None,
                   requested_token_type="urn:orgportal:token-type:api-token").json()["access_token"]
    auth = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    assert client.get("/api/v1/orgs", **auth).status_code == 200
    service.trust_policy_set_enabled(actor=admin, policy=policy, enabled=False)
    assert client.get("/api/v1/orgs", **auth).status_code == 401
    refused = exchange(client, oidc.mint("github", audience=PORTAL))
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_request"
    assert "disabled" in _rejections()[-1].data["reason"]


# -- attacks ---------------------------------------------------------------------------------------------------------

def _refused(client, token, error="invalid_request", *, reason: str, **kwargs):
    before = len(_rejections())
    response = exchange(client, token, **kwargs)
    assert response.status_code == 400, response.content
    assert response.json()["error"] == error
    assert "access_token" not in response.json()
    rejections = _rejections()
    assert len(rejections) == before + 1
    assert reason in rejections[-1].data["reason"], rejections[-1].data
    assert token not in json.dumps(rejections[-1].data)
    return rejections[-1]


def test_wrong_issuer_is_refused_without_fetching_anything(client, oidc, policy):
    oidc.create_issuer("evil", kind="github")
    oidc.reset_counters("evil")
    _refused(client, oidc.mint("evil", audience=PORTAL), reason="unknown issuer")
    assert oidc.jwks_fetches("evil") == 0 and oidc.discovery_fetches("evil") == 0


def test_an_issuer_in_no_policy_of_the_team_matches_nothing(client, oidc, policy, admin):
    from orgs.services import oidc as service

    service.issuer_register(actor=admin, kind="gitlab")  # registered, but no policy uses it
    _refused(client, oidc.mint("gitlab", audience=PORTAL), reason="no policy")


def test_wrong_audience(client, oidc, policy):
    _refused(client, oidc.mint("github", audience="https://sts.amazonaws.com"), reason="fails aud")
    _refused(client, oidc.mint("github", audience=[PORTAL, "https://other"]), reason="fails aud")


def test_expired_and_not_yet_valid(client, oidc, policy):
    import time

    now = int(time.time())
    _refused(client, oidc.mint("github", audience=PORTAL, iat=now - 1000, exp=now - 100), reason="expired")
    _refused(client, oidc.mint("github", audience=PORTAL, iat=now, nbf=now + 600, exp=now + 900),
             reason="not yet valid")


def test_alg_none_and_hs256_with_the_public_key(client, oidc, policy):
    _refused(client, oidc.mint_unsigned("github", audience=PORTAL), reason="algorithm none")
    _refused(client, oidc.mint_hs256_public_key("github", audience=PORTAL), reason="algorithm HS256")


def test_unknown_kid_is_refused_after_one_refetch_per_cooldown(client, oidc, policy, settings):
    settings.PORTAL_OIDC_JWKS_COOLDOWN = 0
    before = oidc.jwks_fetches("github")
    _refused(client, oidc.mint_unknown_kid("github", audience=PORTAL), reason="unknown kid")
    assert oidc.jwks_fetches("github") == before + 1
    settings.PORTAL_OIDC_JWKS_COOLDOWN = 3600
    _refused(client, oidc.mint_unknown_kid("github", audience=PORTAL), reason="unknown kid")
    assert oidc.jwks_fetches("github") == before + 1  # within the cooldown: no second fetch


def test_a_rotated_key_is_picked_up_by_one_refetch(client, oidc, policy, settings):
    settings.PORTAL_OIDC_JWKS_COOLDOWN = 0
    oidc.rotate_key("github")
    assert exchange(client, oidc.mint("github", audience=PORTAL)).status_code == 200


def test_keys_from_token_headers_are_ignored(client, oidc, policy):
    for mint in (oidc.mint_with_jwk, oidc.mint_with_jku, oidc.mint_with_x5u, oidc.mint_foreign_key):
        _refused(client, mint("github", audience=PORTAL), reason="kid")
    counters = oidc.attacker()["counters"]
    assert counters == {"jwks": 0, "x5u": 0}


def test_a_replayed_jti_loses_even_concurrently(client, oidc, policy):
    token = oidc.mint("github", audience=PORTAL)
    assert exchange(client, token).status_code == 200
    _refused(client, token, reason="replayed jti")


@pytest.mark.django_db(transaction=True)
def test_concurrent_replays_hand_out_once(oidc, policy, live_server):
    token = oidc.mint("github", audience=PORTAL)
    results = []

    def post():
        results.append(requests.post(f"{live_server.url}/api/v1/oauth/token", data={
            "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange", "subject_token": token,
            "subject_token_type": "urn:ietf:params:oauth:token-type:id_token", "audience": "uat"}, timeout=30))

    threads = [threading.Thread(target=post) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.status_code for r in results).count(200) == 1
    assert OidcTokenUse.objects.count() == 1


def test_claims_differing_by_case_or_suffix(client, oidc, policy, admin, uat):
    from orgs.services import oidc as service

    policy.required_claims = {"repository_owner_id": OWNER_ID, "repository_id": REPO_ID,
                              "repository": "acme/app"}
    policy.save()
    _refused(client, oidc.mint("github", {"repository": "Acme/App"}, audience=PORTAL), reason="fails repository")
    _refused(client, oidc.mint("github", {"repository": "acme/app-evil"}, audience=PORTAL), reason="fails repository")
    # a sub pattern: `repo:acme/app:*` must not match `repo:acme/app-evil:…`
    service.trust_policy_save(actor=admin, policy=policy, issuer=policy.issuer, name=policy.name, audience=PORTAL,
                              required_claims={"repository_owner_id": OWNER_ID, "repository_id": REPO_ID},
                              glob_claim="sub", glob_pattern="repo:acme/app:ref:refs/heads/*",
                              allowed_events=["push"], connection_ids=[uat.pk], max_lifetime=900)
    _refused(client, oidc.mint("github", {"sub": "repo:acme/app-evil:ref:refs/heads/main"}, audience=PORTAL),
             reason="fails sub")
    assert exchange(client, oidc.mint("github", audience=PORTAL)).status_code == 200


def test_a_fork_pull_request_where_the_policy_requires_a_branch(client, oidc, policy):
    token = oidc.mint("github", {"event_name": "pull_request", "ref": "refs/pull/7/merge",
                                 "head_ref": "attacker-branch", "base_ref": "main"}, audience=PORTAL)
    event = _refused(client, token, reason="fails")
    assert "ref" in event.data["reason"] and "event_name" in event.data["reason"]
    target = oidc.mint("github", {"event_name": "pull_request_target"}, audience=PORTAL)  # runs with the base ref
    _refused(client, target, reason="fails event_name")


def test_a_policy_of_another_team(client, oidc, policy, world, sim, sim_app):
    """Globex trusts its own repository; acme's token names Globex's org: refused."""
    from orgs.services import oidc as service
    from portal.accounts.models import Membership
    from tests.api.conftest import HUB_USER, connect_sim_org

    globex = Membership.objects.get(team=world.other_team, user=world.outsider)
    theirs = connect_sim_org(world.other_team, world.outsider, sim_app, sim, HUB_USER, alias="prod")
    issuer = service.issuer_register(actor=globex, kind="github")
    service.trust_policy_save(actor=globex, issuer=issuer, name="Globex deploy", audience="",
                              required_claims={"repository_owner_id": "999", "repository_id": "888"},
                              glob_claim="", glob_pattern="", allowed_events=["push"], connection_ids=[theirs.pk],
                              max_lifetime=900)
    _refused(client, oidc.mint("github", audience=PORTAL), "invalid_target", reason="not in the matching policies",
             org=theirs.username)


def test_a_disabled_policy(client, oidc, policy):
    TrustPolicy.objects.filter(pk=policy.pk).update(enabled=False)
    _refused(client, oidc.mint("github", audience=PORTAL), reason="disabled")


def test_an_org_outside_the_policy(client, oidc, policy, world, sim, sim_app):
    from tests.api.conftest import HUB_USER, connect_sim_org

    connect_sim_org(world.team, world.owner, sim_app, sim, HUB_USER, alias="hub")
    _refused(client, oidc.mint("github", audience=PORTAL), "invalid_target", reason="not in the matching policies",
             org="hub")


def test_bad_requests(client, oidc, policy):
    token = oidc.mint("github", audience=PORTAL)
    wrong_grant = client.post("/api/v1/oauth/token", {"grant_type": "password", "subject_token": token})
    assert wrong_grant.status_code == 400 and wrong_grant.json()["error"] == "unsupported_grant_type"
    wrong_type = exchange(client, token, subject_token_type="urn:ietf:params:oauth:token-type:saml2")
    assert wrong_type.json()["error"] == "invalid_request"
    assert exchange(client, "x" * 9000).json()["error"] == "invalid_request"
    assert exchange(client, "not-a-jwt").json()["error"] == "invalid_request"
    assert client.get("/api/v1/oauth/token").status_code == 405


def test_failures_are_rate_limited_per_address(client, oidc, policy, settings):
    settings.PORTAL_OIDC_FAILURES_PER_IP_PER_MINUTE = 3
    for _ in range(3):
        assert exchange(client, "not-a-jwt").status_code == 400
    limited = exchange(client, oidc.mint("github", audience=PORTAL))
    assert limited.status_code == 429 and int(limited["Retry-After"]) >= 1
    assert limited["RateLimit-Policy"] == '"oidc-failures";q=3;w=60'
    assert limited["RateLimit"] == f'"oidc-failures";r=0;t={limited["Retry-After"]}'


def test_successes_are_rate_limited_per_subject(client, oidc, policy, settings):
    settings.PORTAL_OIDC_EXCHANGES_PER_SUBJECT_PER_MINUTE = 2
    answers = [exchange(client, oidc.mint("github", audience=PORTAL)) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[2]["RateLimit-Policy"] == '"oidc-subject";q=2;w=60'


def test_disabling_a_used_policy_revokes_the_salesforce_token_it_handed_out(client, oidc, policy, admin, uat, sim,
                                                                             django_capture_on_commit_callbacks):
    from orgs.services import oidc as service

    body = exchange(client, oidc.mint("github", audience=PORTAL)).json()
    query = f"{body['instance_url']}/services/data/v{uat.api_version}/query"
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    assert requests.get(query, params={"q": "SELECT Id FROM Organization"}, headers=headers, timeout=10).ok
    with django_capture_on_commit_callbacks(execute=True):
        service.trust_policy_set_enabled(actor=admin, policy=TrustPolicy.objects.get(pk=policy.pk), enabled=False)
    dead = requests.get(query, params={"q": "SELECT Id FROM Organization"}, headers=headers, timeout=10)
    assert dead.status_code == 401
    assert AuditEvent.objects.filter(kind="token.revoked_after_access_change").exists()


def test_answers_match_the_openapi_schema(client, oidc, policy):
    import jsonschema

    from orgs.api import schema

    schemas = schema.schema()["components"]["schemas"]
    jsonschema.validate(exchange(client, oidc.mint("github", audience=PORTAL)).json(), schemas["TokenExchange"])
    jsonschema.validate(exchange(client, "not-a-jwt").json(), schemas["OAuthError"])
    assert "/oauth/token" in client.get("/api/v1/schema").json()["paths"]
