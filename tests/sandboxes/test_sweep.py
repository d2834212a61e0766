"""The sandbox sweep over 50 production orgs × 50 sandboxes: Salesforce calls proportional to production orgs and
pages (never to sandboxes), SQL statements per production org constant."""

import math

from django.utils import timezone

from orgs.models import OrgConnection, Sandbox
from orgs.services.sandboxes import sandbox_sync
from orgs.services.sweeps import sandboxes_sweep
from tests.querycount import count_queries
from tests.sharing.conftest import make_connection

PRODS, PER_PROD, PAGE = 50, 50, 20


def load(sim, count: int, per: int) -> list[str]:
    orgs = [f"00DSW{n:010d}AAA" for n in range(count)]
    sim.load({"orgs": [{"id": org, "name": f"Prod {n}", "kind": "production"} for n, org in enumerate(orgs)],
              "users": [{"id": f"005SW{n:010d}AAA", "org": org, "username": f"admin{n}@sweep.example",
                         "password": "x"} for n, org in enumerate(orgs)]})
    for org in orgs:
        sim.set_sandbox_licenses(org, DEVELOPER=per)
        sim.seed_sandboxes(org, per, copy_users=False)
    return orgs


def connect_all(world, sim, app, count: int) -> list[OrgConnection]:
    rows = []
    for n in range(count):
        tokens = sim.mint_tokens(f"admin{n}@sweep.example", "OrgPortalDemo")
        c = make_connection(world.team, world.owner, app, username=f"admin{n}@sweep.example", kind="production",
                            instance_url=sim.base_url)
        c.seal("refresh_token", tokens["refresh_token"])
        c.seal("access_token", tokens["access_token"])
        c.access_token_issued_at = timezone.now()
        c.save()
        rows.append(c)
    return rows


def test_sweep_over_50_production_orgs_of_50_sandboxes(world, sim, sim_app, django_capture_on_commit_callbacks):
    load(sim, PRODS, PER_PROD)
    connect_all(world, sim, sim_app, PRODS)
    sim.configure(page_size=PAGE)
    sim.clear_log()
    with django_capture_on_commit_callbacks(execute=True), count_queries() as sql:
        assert sandboxes_sweep() == PRODS  # tasks run eagerly here: one sync per production org
    assert Sandbox.objects.count() == PRODS * PER_PROD
    calls = [e for e in sim.log() if not e["path"].startswith("/__sim__")]
    pages_per_query = math.ceil(PER_PROD / PAGE)
    assert len(calls) == PRODS * 2 * pages_per_query  # SandboxInfo + SandboxProcess, paged; nothing per sandbox
    assert all("/tooling/query" in e["path"] for e in calls)
    per_org = sql["n"] / PRODS
    assert per_org <= 25, per_org


def test_statements_per_production_org_do_not_grow_with_sandboxes(world, sim, sim_app):
    load(sim, 2, 5)
    small, = connect_all(world, sim, sim_app, 1)
    with count_queries() as few:
        sandbox_sync(connection_id=small.pk)
    sim.set_sandbox_licenses("00DSW0000000001AAA", DEVELOPER=60)
    sim.seed_sandboxes("00DSW0000000001AAA", 55, copy_users=False, prefix="big")
    tokens = sim.mint_tokens("admin1@sweep.example", "OrgPortalDemo")
    big = make_connection(world.team, world.owner, sim_app, username="admin1@sweep.example", kind="production",
                          instance_url=sim.base_url)
    big.seal("access_token", tokens["access_token"])
    big.seal("refresh_token", tokens["refresh_token"])
    big.access_token_issued_at = timezone.now()
    big.save()
    with count_queries() as many:
        result = sandbox_sync(connection_id=big.pk)
    assert result.created == 60 and few["n"] == many["n"]
