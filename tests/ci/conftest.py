"""CI OIDC exchange: a fake issuer (oidcsim), the Salesforce simulator, a team with a UAT sandbox and a policy."""

from __future__ import annotations

import pytest

from orgs.models import OrgConnection
from portal.accounts.models import Membership
from tests.api.conftest import SANDBOX_USER, connect_sim_org, make_token  # noqa: F401 (a fixture)

PORTAL = "http://localhost:8000"  # PORTAL_BASE_URL in tests/settings.py: a policy's default audience
OWNER_ID, REPO_ID = "1342004", "260064828"  # oidcsim's default GitHub ids (acme/app)


@pytest.fixture(scope="session")
def issuer_server():
    from oidcsim.testing import start_issuer

    with start_issuer() as server:
        yield server


@pytest.fixture
def oidc(issuer_server, settings):
    """A fresh fake issuer trusted by the portal as "GitHub Actions" and "GitLab.com"."""
    issuer_server.reset()
    settings.PORTAL_OIDC_GITHUB_ISSUER = issuer_server.issuer_url("github")
    settings.PORTAL_OIDC_GITLAB_ISSUER = issuer_server.issuer_url("gitlab")
    settings.PORTAL_OIDC_ALLOWED_HOSTS = issuer_server.base_url
    return issuer_server


@pytest.fixture
def uat(world, sim, sim_app) -> OrgConnection:
    return connect_sim_org(world.team, world.owner, sim_app, sim, SANDBOX_USER, alias="uat")


@pytest.fixture
def admin(world) -> Membership:
    return Membership.objects.get(team=world.team, user=world.admin)


@pytest.fixture
def policy(admin, oidc, uat):
    """Deploys from acme/app's main branch (push or manual) may target UAT, for 15 minutes."""
    from orgs.services import oidc as service

    issuer = service.issuer_register(actor=admin, kind="github")
    return service.trust_policy_save(
        actor=admin, issuer=issuer, name="Deploy UAT", audience="", required_claims={
            "repository_owner_id": OWNER_ID, "repository_id": REPO_ID, "ref": "refs/heads/main"},
        glob_claim="", glob_pattern="", allowed_events=service.default_events(issuer), connection_ids=[uat.pk],
        max_lifetime=900)


def exchange(client, token: str, *, org: str | None = "uat", **extra):
    data = {"grant_type": "urn:ietf:params:oauth:grant-type:token-exchange", "subject_token": token,
            "subject_token_type": "urn:ietf:params:oauth:token-type:id_token", **extra}
    if org is not None:
        data.setdefault("resource", f"{PORTAL}/api/v1/orgs/{org}")
    return client.post("/api/v1/oauth/token", data)
