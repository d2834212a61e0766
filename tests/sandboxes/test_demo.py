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
