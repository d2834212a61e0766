"""A CI job end to end, as GitHub Actions and GitLab run it: the job's ID token (from the fake issuer) →
`orgportal login URL --oidc` (the exchange) → `orgportal sf-login` → the real `sf data query` on the org. No
secret is given to the job."""

from __future__ import annotations

import json

import pytest

from tests.api.conftest import SANDBOX_ORG, SANDBOX_USER
from tests.api.test_cli import run
from tests.ci.conftest import OWNER_ID, REPO_ID

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture
def live_policy(live_server, settings, admin, oidc, uat):
    from orgs.services import oidc as service

    settings.PORTAL_BASE_URL = live_server.url  # the audience CI jobs request
    issuer = service.issuer_register(actor=admin, kind="github")
    return service.trust_policy_save(
        actor=admin, issuer=issuer, name="Deploy UAT", audience="",
        required_claims={"repository_owner_id": OWNER_ID, "repository_id": REPO_ID, "ref": "refs/heads/main"},
        glob_claim="", glob_pattern="", allowed_events=["push", "workflow_dispatch"], connection_ids=[uat.pk],
        max_lifetime=600)


@pytest.fixture(scope="module")
def sf_cli():
    from tests.cli.sfcli import require_sf_cli

    return require_sf_cli()


def test_a_github_actions_job_deploys_with_nothing_but_the_portal_url(live_server, live_policy, oidc, sf_cli,
                                                                       tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    job = oidc.actions_env("github")  # what the runner gives a job with `permissions: id-token: write`
    login = run("login", live_server.url, "--oidc", home=home, extra=job)
    assert login.returncode == 0, login.stdout + login.stderr
    assert "1 org(s)" in login.stdout and "600 s" in login.stdout

    sf = f"{sf_cli.node} --no-deprecation {sf_cli.run_js}"
    env = {**sf_cli.environment(home), "ORGPORTAL_SF": sf}
    sf_login = run("sf-login", SANDBOX_USER, "--json", home=home,
                   extra={k: v for k, v in env.items() if k != "HOME"})
    assert sf_login.returncode == 0, sf_login.stdout + sf_login.stderr
    query = sf_cli.run("data", "query", "--query", "SELECT Id FROM Organization", "--target-org", SANDBOX_USER,
                       "--json", home=home)
    assert query.returncode == 0, query.stdout + query.stderr
    assert [r["Id"] for r in json.loads(query.stdout)["result"]["records"]] == [SANDBOX_ORG]


def test_a_gitlab_job_reads_its_id_token_variable(live_server, settings, admin, oidc, uat, tmp_path):
    from orgs.services import oidc as service

    settings.PORTAL_BASE_URL = live_server.url
    issuer = service.issuer_register(actor=admin, kind="gitlab")
    service.trust_policy_save(actor=admin, issuer=issuer, name="GitLab deploy", audience="",
                              required_claims={"namespace_id": "72", "project_id": "4242", "ref_protected": "true"},
                              glob_claim="ref", glob_pattern="release/*", allowed_events=["push"],
                              connection_ids=[uat.pk], max_lifetime=300)
    token = oidc.mint("gitlab", {"namespace_id": "72", "project_id": "4242", "ref": "release/2.1",
                                 "ref_protected": "true", "pipeline_source": "push"}, audience=live_server.url)
    login = run("login", live_server.url, "--oidc", home=tmp_path, extra={"ORGPORTAL_ID_TOKEN": token})
    assert login.returncode == 0, login.stdout + login.stderr
    env = run("env", uat.username, home=tmp_path)  # service identities name orgs by username or org id
    assert env.returncode == 0 and "SF_ACCESS_TOKEN=" in env.stdout


def test_a_refused_identity_says_where_to_look(live_server, live_policy, oidc, tmp_path):
    job = oidc.actions_env("github", claims={"ref": "refs/heads/feature"})
    login = run("login", live_server.url, "--oidc", home=tmp_path, extra=job)
    assert login.returncode == 3 and "invalid_request" in login.stderr and "audit log" in login.stderr
    assert not (tmp_path / "cfg" / "config.json").exists()


def test_outside_ci_login_oidc_explains_what_is_missing(live_server, tmp_path):
    login = run("login", live_server.url, "--oidc", home=tmp_path)
    assert login.returncode == 2 and "id-token: write" in login.stderr
