"""Dev Hub inventory sync: 20 Dev Hubs × 500 scratch orgs each, `dev_hub_sync` for every hub; wall time and SQL
statements, then the same with 50 scratch orgs per hub (the statement count must not change) and with 500 per hub
on 100-record pages (more pages, still the same statements).

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_workers .venv/bin/python -m bench inventory

Needs PostgreSQL (BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/portal_bench; created and
migrated if missing; only this benchmark's team is deleted and rebuilt) and Redis (BENCH_REDIS_URL, default
redis://127.0.0.1:6379/7, the cache). Production settings. The simulator answers without added latency, so wall
time is the portal's work plus the simulator's. Each hub is synced twice: the first sync creates every row, the
second updates them all (what every later sweep does).
"""

from __future__ import annotations

import time

from bench.bench_refresh import APP_KEY, cleanup, connection_row, setup, team_with_app

TEAM = "Bench Inventory"
HUBS = 20


def _hub_ids(scenario: int, hub: int) -> tuple[str, str, str]:
    """(org id, user id, username) of one simulated Dev Hub; distinct per scenario."""
    return f"00DBH{scenario:02d}{hub:08d}", f"005BH{scenario:02d}{hub:08d}", f"hub{scenario}-{hub}@bench.example"


def load_hubs(sim, scenario: int, per_hub: int) -> None:
    for hub in range(HUBS):
        org_id, user_id, username = _hub_ids(scenario, hub)
        scratch = [{"devhub": org_id, "OrgName": f"Scratch {hub}-{i}", "Edition": "Developer", "Status": "Active",
                    "ScratchOrg": f"00DSC{scenario:02d}{hub:03d}{i:05d}",
                    "SignupUsername": f"s{scenario}-{hub}-{i}@scratch.bench.example", "ExpirationDate": "+10d",
                    "CreatedDate": "-1d", "CreatedBy": username} for i in range(per_hub)]
        sim.load({"orgs": [{"id": org_id, "name": f"Hub {hub}", "kind": "production", "is_devhub": True}],
                  "users": [{"id": user_id, "org": org_id, "username": username, "password": "x"}],
                  "scratch_orgs": scratch})


def connect_hubs(sim, team, user, app, scenario: int) -> list[int]:
    from django.utils import timezone

    from orgs.models import OrgConnection

    rows = []
    for hub in range(HUBS):
        _, _, username = _hub_ids(scenario, hub)
        rows.append(connection_row(team, user, app, sim.mint_tokens(username, APP_KEY), username,
                                   issued_at=timezone.now(), kind="production", is_devhub=True))
    return [row.pk for row in OrgConnection.objects.bulk_create(rows)]


def sync_all(hub_ids: list[int]) -> dict:
    from orgs.services.inventory import dev_hub_sync
    from tests.querycount import count_queries

    per_hub, seen, pages = [], 0, 0
    t0, cpu0 = time.perf_counter(), time.process_time()
    for pk in hub_ids:
        with count_queries() as counter:
            result = dev_hub_sync(connection_id=pk)
        per_hub.append(counter["n"])
        seen, pages = seen + result.seen, pages + result.pages
    return {"wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - cpu0,
            "queries": sum(per_hub), "per_hub": sorted(set(per_hub)),
            "seen": seen, "pages": pages}


def scenario(sim, team, user, app, number: int, per_hub: int, page_size: int) -> dict:
    from orgs.models import ScratchOrg

    load_hubs(sim, number, per_hub)
    hubs = connect_hubs(sim, team, user, app, number)
    sim.configure(page_size=page_size)
    first = sync_all(hubs)
    again = sync_all(hubs)
    stored = ScratchOrg.objects.filter(dev_hub_id__in=hubs, status="Active").count()
    assert first["seen"] == again["seen"] == stored == HUBS * per_hub, (first, again, stored)
    return {"per_hub": per_hub, "page_size": page_size, "first": first, "again": again}


def report(rows: list[dict], command: str) -> str:
    lines = [
        "## Workers: Dev Hub scratch-org inventory (issue 7)",
        "",
        f"Command: `{command}` (in-process `dev_hub_sync` for each hub, one after another; simulator without added "
        "latency; statements counted with `tests/querycount.count_queries`).",
        "",
        "| hubs × scratch orgs | page size | Salesforce pages | first sync (creates): wall / portal CPU | statements "
        "| re-sync (updates): wall / portal CPU | statements | statements per hub |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        first, again = r["first"], r["again"]
        per_hub = "/".join(map(str, sorted(set(first["per_hub"] + again["per_hub"]))))
        lines.append(f"| {HUBS} × {r['per_hub']} | {r['page_size']} | {first['pages']} | {first['wall_s']:.2f} / "
                     f"{first['cpu_s']:.2f} s | {first['queries']} | {again['wall_s']:.2f} / {again['cpu_s']:.2f} s | "
                     f"{again['queries']} | {per_hub} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    from sfsim.testing import start_simulator

    command = ("BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_workers "
               ".venv/bin/python -m bench inventory")
    sim = start_simulator()
    try:
        setup(sim.base_url)
        team, user, app = team_with_app(TEAM, sim.base_url)
        rows = []
        for number, (per_hub, page_size) in enumerate(((500, 2000), (50, 2000), (500, 100)), start=1):
            row = scenario(sim, team, user, app, number, per_hub, page_size)
            rows.append(row)
            first, again = row["first"], row["again"]
            print(f"{HUBS} hubs x {per_hub} scratch orgs, page size {page_size}: {first['pages']} pages; first sync "
                  f"{first['wall_s']:.2f} s, {first['queries']} statements ({first['per_hub']} per hub); re-sync "
                  f"{again['wall_s']:.2f} s, {again['queries']} statements ({again['per_hub']} per hub)", flush=True)
        print("\n" + report(rows, command))
        print(f"command: {command}")
        cleanup(TEAM)
    finally:
        sim.stop()


if __name__ == "__main__":
    main()
