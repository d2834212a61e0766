"""Sandbox inventory sweep: 50 production orgs × 50 sandboxes each, `sandbox_sync` for every production org; wall
time, Salesforce calls (from the simulator's request log) and SQL statements, on 2000- and 20-record pages. Calls
must be 2 × pages per production org (SandboxInfo + SandboxProcess), never one per sandbox; statements per org
must not change with the number of sandboxes.

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_workers .venv/bin/python -m bench sandboxes

Needs PostgreSQL and Redis as bench/bench_inventory.py does (only this benchmark's team is deleted and rebuilt).
"""

from __future__ import annotations

import time

from bench.bench_refresh import APP_KEY, cleanup, connection_row, setup, team_with_app

TEAM = "Bench Sandboxes"
PRODS, PER_PROD = 50, 50


def _ids(scenario: int, n: int) -> tuple[str, str, str]:
    return f"00DBS{scenario:02d}{n:08d}", f"005BS{scenario:02d}{n:08d}", f"prod{scenario}-{n}@bench.example"


def load(sim, scenario: int) -> None:
    orgs = [_ids(scenario, n) for n in range(PRODS)]
    sim.load({"orgs": [{"id": org, "name": f"Prod {n}", "kind": "production"} for n, (org, _, _) in enumerate(orgs)],
              "users": [{"id": user, "org": org, "username": username, "password": "x"}
                        for org, user, username in orgs]})
    for org, _, _ in orgs:
        sim.set_sandbox_licenses(org, DEVELOPER=PER_PROD)
        sim.seed_sandboxes(org, PER_PROD, copy_users=False)


def connect(sim, team, user, app, scenario: int) -> list[int]:
    from django.utils import timezone

    from orgs.models import OrgConnection

    rows = [connection_row(team, user, app, sim.mint_tokens(_ids(scenario, n)[2], APP_KEY), _ids(scenario, n)[2],
                           issued_at=timezone.now(), kind="production") for n in range(PRODS)]
    return [row.pk for row in OrgConnection.objects.bulk_create(rows)]


def sync_all(sim, ids: list[int]) -> dict:
    from orgs.services.sandboxes import sandbox_sync
    from tests.querycount import count_queries

    sim.clear_log()
    per_org, seen = [], 0
    t0, cpu0 = time.perf_counter(), time.process_time()
    for pk in ids:
        with count_queries() as counter:
            seen += sandbox_sync(connection_id=pk).seen
        per_org.append(counter["n"])
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    calls = len([e for e in sim.log() if not e["path"].startswith("/__sim__")])
    return {"wall_s": wall, "cpu_s": cpu, "queries": sum(per_org), "per_org": sorted(set(per_org)), "seen": seen,
            "calls": calls}


def main() -> None:
    from sfsim.testing import start_simulator

    command = "BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_workers .venv/bin/python -m bench sandboxes"
    sim = start_simulator()
    try:
        setup(sim.base_url)
        team, user, app = team_with_app(TEAM, sim.base_url)
        lines = ["## Workers: sandbox inventory sweep (issue 16)", "",
                 f"Command: `{command}` (in-process `sandbox_sync` per production org; simulator without added "
                 "latency).", "",
                 "| production orgs × sandboxes | page size | Salesforce calls | first sync: wall / CPU | statements "
                 "| re-sync: wall / CPU | statements | statements per org |", "|---|---|---|---|---|---|---|---|"]
        for number, page_size in enumerate((2000, 20), start=1):
            load(sim, number)
            ids = connect(sim, team, user, app, number)
            sim.configure(page_size=page_size)
            first, again = sync_all(sim, ids), sync_all(sim, ids)
            assert first["seen"] == again["seen"] == PRODS * PER_PROD, (first, again)
            per = "/".join(map(str, sorted(set(first["per_org"] + again["per_org"]))))
            print(f"{PRODS} x {PER_PROD}, page size {page_size}: {first['calls']} Salesforce calls; first "
                  f"{first['wall_s']:.2f} s / {first['queries']} statements; re-sync {again['wall_s']:.2f} s / "
                  f"{again['queries']} statements ({per} per org)", flush=True)
            lines.append(f"| {PRODS} × {PER_PROD} | {page_size} | {first['calls']} | {first['wall_s']:.2f} / "
                         f"{first['cpu_s']:.2f} s | {first['queries']} | {again['wall_s']:.2f} / "
                         f"{again['cpu_s']:.2f} s | {again['queries']} | {per} |")
        print("\n" + "\n".join(lines) + "\n")
        cleanup(TEAM)
    finally:
        sim.stop()


if __name__ == "__main__":
    main()
