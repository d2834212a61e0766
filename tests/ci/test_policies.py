"""Trust policies: who may manage them (pages and API), what a policy may say, the dry run, the audit."""

from __future__ import annotations

import pytest
from django.urls import reverse

from orgs.models import OidcIssuer, TrustPolicy
from portal.accounts.models import AuditEvent
from portal.accounts.services import ServiceError
from tests.ci.conftest import OWNER_ID, PORTAL, REPO_ID


def _fields(uat, **overrides):
    fields = {"name": "Deploy UAT", "audience": "", "glob_claim": "", "glob_pattern": "", "allowed_events": ["push"],
              "connection_ids": [uat.pk], "max_lifetime": 900,
              "required_claims": {"repository_owner_id": OWNER_ID, "repository_id": REPO_ID}}
    fields.update(overrides)
    return fields


# -- what a policy may say --------------------------------------------------------------------------------------------

def test_a_policy_on_a_shared_issuer_must_pin_the_owner_id(admin, oidc, uat):
    from orgs.services import oidc as service

    issuer = service.issuer_register(actor=admin, kind="github")
    with pytest.raises(ServiceError, match="repository_owner_id"):
        service.trust_policy_save(actor=admin, issuer=issuer, **_fields(
            uat, required_claims={"repository": "acme/app", "ref": "refs/heads/main"}))
    gitlab = service.issuer_register(actor=admin, kind="gitlab")
    with pytest.raises(ServiceError, match="namespace_id"):
        service.trust_policy_save(actor=admin, issuer=gitlab, **_fields(uat, required_claims={"project_id": "1"}))
    assert not TrustPolicy.objects.exists()


@pytest.mark.parametrize(("pattern", "value", "matches"), [
    ("refs/heads/release/*", "refs/heads/release/2.1", True),
    ("refs/heads/release/*", "refs/heads/release/2.1/evil", False),
    ("refs/heads/release/*", "refs/heads/release-evil/x", False),
    ("repo:acme/app:ref:refs/heads/*", "repo:acme/app-evil:ref:refs/heads/main", False),
    ("repo:acme/app:**", "repo:acme/app:environment:prod", True),
    ("main", "main-attacker", False),
])
def test_globs_are_segment_aware(pattern, value, matches):
    from orgs.services.oidc import glob_match, glob_validate

    assert glob_match(glob_validate(pattern), value) is matches


@pytest.mark.parametrize("pattern", ["main*", "refs/heads/rel*", "**/main", "a/**/b"])
def test_partial_segment_wildcards_are_refused(pattern):
    from orgs.services.oidc import glob_validate

    with pytest.raises(ServiceError):
        glob_validate(pattern)


def test_lifetime_is_capped(admin, oidc, uat, settings):
    from orgs.services import oidc as service

    issuer = service.issuer_register(actor=admin, kind="github")
    with pytest.raises(ServiceError, match="between 60 and 3600"):
        service.trust_policy_save(actor=admin, issuer=issuer, **_fields(uat, max_lifetime=7200))


def test_a_custom_issuer_is_pinned_only_if_its_discovery_names_it(admin, oidc):
    from orgs.services import oidc as service

    oidc.create_issuer("corp", kind="custom")
    oidc.configure("corp", discovery_issuer="https://elsewhere.example")
    with pytest.raises(ServiceError, match="names the issuer"):
        service.issuer_register(actor=admin, kind="custom", url=oidc.issuer_url("corp"))
    oidc.configure("corp", discovery_issuer=None, jwks_redirect=True)
    with pytest.raises(ServiceError, match="redirect"):
        service.issuer_register(actor=admin, kind="custom", url=oidc.issuer_url("corp"))
    oidc.configure("corp", jwks_redirect=None)
    issuer = service.issuer_register(actor=admin, kind="custom", url=oidc.issuer_url("corp"))
    assert issuer.jwks_uri == oidc.jwks_uri("corp") and issuer.jwks["keys"]
    assert oidc.attacker()["counters"]["jwks"] == 0


def test_issuer_urls_must_be_public_https(admin, settings):
    from orgs.services import oidc as service

    settings.PORTAL_OIDC_ALLOWED_HOSTS = ""
    for url in ("http://ci.example.com", "https://127.0.0.1", "https://user:pw@ci.example.com", "ftp://x"):
        with pytest.raises(ServiceError):
            service.issuer_register(actor=admin, kind="custom", url=url)
    with pytest.raises(ServiceError, match="Could not fetch|public"):  # resolves to a private address: egress guard
        service.issuer_register(actor=admin, kind="custom", url="https://localhost")
    assert not OidcIssuer.objects.exists()


# -- the pages ---------------------------------------------------------------------------------------------------------

def _create(client, team, uat, **overrides):
    data = {"name": "Deploy UAT", "issuer_kind": "github", "issuer_url": "", "audience": "",
            "required_claims": f"repository_owner_id={OWNER_ID}\nrepository_id={REPO_ID}\nref=refs/heads/main",
            "glob_claim": "", "glob_pattern": "", "allowed_events": "", "connections": [uat.pk],
            "max_lifetime_minutes": 15}
    data.update(overrides)
    return client.post(reverse("orgs:policy_create", args=[team.code]), data)


def test_an_admin_creates_a_policy_in_the_browser_and_it_is_audited(login, world, oidc, uat):
    client = login(world.admin)
    response = _create(client, world.team, uat)
    assert response.status_code == 302, response.content.decode()[:2000]
    policy = TrustPolicy.objects.get()
    assert policy.required_claims == {"repository_owner_id": OWNER_ID, "repository_id": REPO_ID,
                                      "ref": "refs/heads/main"}
    assert policy.allowed_events == ["push", "workflow_dispatch", "release", "schedule"]
    assert policy.audience == PORTAL and policy.max_lifetime == 900
    assert AuditEvent.objects.filter(kind="trust_policy.created", subject="Deploy UAT").exists()
    page = client.get(reverse("orgs:policy_list", args=[world.team.code])).content.decode()
    assert "Deploy UAT" in page and "refs/heads/main" in page


def test_a_bad_policy_gets_a_message_on_the_form(login, world, oidc, uat):
    client = login(world.admin)
    response = _create(client, world.team, uat, required_claims="repository=acme/app")
    assert response.status_code == 400 and "repository_owner_id" in response.content.decode()
    response = _create(client, world.team, uat, glob_claim="ref", glob_pattern="main*")
    assert response.status_code == 400 and "whole segment" in response.content.decode()
    assert not TrustPolicy.objects.exists()


def test_policy_pages_need_a_recent_authentication(client, world, oidc, uat, policy):
    from tests.api.test_reauthentication import login_long_ago

    login_long_ago(client, world.admin)
    response = _create(client, world.team, uat, name="Another")
    assert response.status_code == 302 and "reauthenticate" in response["Location"]
    toggled = client.post(reverse("orgs:policy_toggle", args=[world.team.code, policy.code]), {"enabled": "0"})
    assert toggled.status_code == 302 and "reauthenticate" in toggled["Location"]
    assert list(TrustPolicy.objects.values_list("name", "enabled")) == [("Deploy UAT", True)]


@pytest.mark.parametrize(("role", "status"), [("owner", 200), ("admin", 200), ("member", 403), ("outsider", 404)])
def test_who_may_see_and_change_policies(login, world, policy, role, status):
    client = login(world.user(role))
    team = world.team.code
    assert client.get(reverse("orgs:policy_list", args=[team])).status_code == status
    assert client.get(reverse("orgs:policy_detail", args=[team, policy.code])).status_code == status
    toggled = client.post(reverse("orgs:policy_toggle", args=[team, policy.code]), {"enabled": "0"})
    assert toggled.status_code == (302 if status == 200 else status)
    assert TrustPolicy.objects.get(pk=policy.pk).enabled is (status != 200)


def test_another_teams_policy_is_invisible_through_ones_own_team(login, world, policy):
    client = login(world.outsider)
    url = reverse("orgs:policy_detail", args=[world.other_team.code, policy.code])
    assert client.get(url).status_code == 404


def test_the_dry_run_shows_each_condition_and_stores_nothing(login, world, oidc, policy):
    client = login(world.admin)
    url = reverse("orgs:policy_detail", args=[world.team.code, policy.code])
    token = oidc.mint("github", {"ref": "refs/heads/feature"}, audience=PORTAL)
    page = client.post(url, {"token": token}).content.decode()
    assert "Some conditions fail" in page and "refs/heads/main" in page and token not in page
    good = client.post(url, {"token": oidc.mint("github", audience=PORTAL)}).content.decode()
    assert "Every condition matches" in good
    assert not TrustPolicy.objects.get(pk=policy.pk).last_used_at
    from orgs.models import OidcTokenUse

    assert not OidcTokenUse.objects.exists()  # the jti is not used up
    forged = client.post(url, {"token": oidc.mint_unsigned("github", audience=PORTAL)}).content.decode()
    assert "was refused" in forged


# -- the API ---------------------------------------------------------------------------------------------------------

def test_admins_manage_policies_through_the_api(client, world, oidc, uat, make_token):
    auth = make_token(world.admin).auth
    created = client.post("/api/v1/trust-policies", content_type="application/json", data={
        "name": "API policy", "issuer_kind": "github", "orgs": [uat.username], "max_lifetime": 600,
        "required_claims": {"repository_owner_id": OWNER_ID, "repository_id": REPO_ID},
        "glob": {"claim": "ref", "pattern": "refs/heads/release/*"}}, **auth)
    assert created.status_code == 201, created.content
    code = created.json()["id"]
    assert created.json()["allowed_events"] == ["push", "workflow_dispatch", "release", "schedule"]
    listed = client.get("/api/v1/trust-policies", **auth).json()["trust_policies"]
    assert [p["name"] for p in listed] == ["API policy"]
    disabled = client.patch(f"/api/v1/trust-policies/{code}", content_type="application/json",
                            data={"enabled": False}, **auth)
    assert disabled.status_code == 200 and disabled.json()["enabled"] is False
    renamed = client.patch(f"/api/v1/trust-policies/{code}", content_type="application/json",
                           data={"name": "Renamed"}, **auth)
    assert renamed.status_code == 200 and renamed.json()["name"] == "Renamed"
    bad = client.post("/api/v1/trust-policies", content_type="application/json", data={
        "name": "No owner", "issuer_kind": "github", "required_claims": {"repository": "acme/app"}}, **auth)
    assert bad.status_code == 400 and "repository_owner_id" in bad.json()["message"]
    assert client.delete(f"/api/v1/trust-policies/{code}", **auth).status_code == 200
    assert not TrustPolicy.objects.exists()
    kinds = set(AuditEvent.objects.values_list("kind", flat=True))
    assert {"trust_policy.created", "trust_policy.changed", "trust_policy.deleted"} <= kinds


def test_members_and_service_tokens_cannot_manage_policies(client, world, policy, make_token):
    member = make_token(world.member).auth
    service = make_token(world.admin, kind="service").auth
    for auth in (member, service):
        assert client.get("/api/v1/trust-policies", **auth).status_code == 403
        assert client.delete(f"/api/v1/trust-policies/{policy.code}", **auth).status_code == 403
    other = make_token(world.outsider, team=world.other_team).auth
    assert client.get(f"/api/v1/trust-policies/{policy.code}", **other).status_code == 404  # another team
    assert TrustPolicy.objects.filter(pk=policy.pk).exists()
