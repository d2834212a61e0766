"""make run's demo: the production org is connected for the demo owner and shows two sandboxes (idempotent)."""

import io

from orgs.demo import seed_demo_salesforce
from orgs.models import OrgConnection, Sandbox


def test_demo_team_has_a_production_org_with_two_sandboxes(world, sim):
    out = io.StringIO()
    for _ in range(2):  # make run seeds on every start
        seed_demo_salesforce(team=world.team, owner=world.owner, simulator_url=sim.base_url, stdout=out)
    production = OrgConnection.objects.get(team=world.team, username="admin@acme.example")
    assert production.kind == "production"
    assert sorted(Sandbox.objects.filter(production=production).values_list("name", flat=True)) == ["dev", "qa"]
    assert "Sandboxes" in out.getvalue()


def test_make_run_starts_again_after_the_simulator_restarted(world, sim):
    """A second `make run` meets a new, empty simulator: the stored tokens are unknown to it; seeding still works
    and the demo production org is connected again (in place)."""
    out = io.StringIO()
    seed_demo_salesforce(team=world.team, owner=world.owner, simulator_url=sim.base_url, stdout=out)
    first = OrgConnection.objects.get(team=world.team, username="admin@acme.example")
    sim.reset()  # what a restarted simulator looks like
    seed_demo_salesforce(team=world.team, owner=world.owner, simulator_url=sim.base_url, stdout=out)
    again = OrgConnection.objects.get(team=world.team, username="admin@acme.example")
    assert again.pk == first.pk and again.status == "connected"
    assert sorted(Sandbox.objects.filter(production=again).values_list("name", flat=True)) == ["dev", "qa"]


def test_demo_team_has_an_example_ci_policy_that_exchanges(world, sim, client, settings):
    """make run's fake issuer is trusted as GitHub Actions; its default job token reaches the demo production org."""
    from oidcsim.testing import start_issuer
    from orgs.demo import DEMO_POLICY, seed_demo_ci_policy
    from orgs.models import TrustPolicy

    with start_issuer() as issuer:
        settings.PORTAL_OIDC_GITHUB_ISSUER = issuer.issuer_url("github")
        settings.PORTAL_OIDC_ALLOWED_HOSTS = issuer.base_url
        out = io.StringIO()
        seed_demo_salesforce(team=world.team, owner=world.owner, simulator_url=sim.base_url, stdout=out)
        for _ in range(2):  # idempotent
            seed_demo_ci_policy(team=world.team, owner=world.owner, stdout=out)
        assert TrustPolicy.objects.filter(team=world.team, name=DEMO_POLICY).count() == 1
        token = issuer.mint("github", audience=settings.PORTAL_BASE_URL)
        response = client.post("/api/v1/oauth/token", {
            "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange", "subject_token": token,
            "subject_token_type": "urn:ietf:params:oauth:token-type:id_token", "audience": "acme-prod"})
        assert response.status_code == 200, response.content
