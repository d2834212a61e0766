"""The "who can target what" matrix at 300 members × 2,000 connections × 20 groups: server time and queries.

Command: `make bench` or `.venv/bin/python -m bench matrix` (PostgreSQL; database portal_bench, rebuilt each run).
Measures the Django view in-process (request → response, no network), 20 runs after 3 warm-ups.
"""

import statistics
import time


def main() -> None:
    from bench.common import setup_django

    setup_django()
    from django.conf import settings
    from django.test import Client

    from orgs.access import effective_access
    from orgs.models import OrgConnection
    from portal.accounts.models import Team
    from tests.querycount import count_queries
    from tests.sharing.scale import build_team

    settings.ALLOWED_HOSTS = ["*"]

    def cleanup():
        OrgConnection.objects.filter(team__name="Bench").delete()  # connections protect their app
        Team.objects.filter(name="Bench").delete()

    cleanup()
    started = time.perf_counter()
    team, admin, member = build_team(members=300, connections=2000, groups=20, name="Bench")
    print(f"built 300 members x 2000 connections x 20 groups in {time.perf_counter() - started:.1f} s")

    def timed(fn, runs=20, warm=3):
        for _ in range(warm):
            fn()
        samples = []
        for _ in range(runs):
            t0 = time.perf_counter()
            fn()
            samples.append((time.perf_counter() - t0) * 1000)
        samples.sort()
        return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]

    med, p95 = timed(lambda: effective_access(team=team))
    pairs = len(effective_access(team=team))
    print(f"selector effective_access(team): median {med:.1f} ms, p95 {p95:.1f} ms, {pairs} (member, org) pairs")

    client = Client()
    for label, who in (("admin", admin), ("member", member)):
        client.force_login(who.user)
        url = f"/teams/{team.code}/access/"
        with count_queries() as counter:
            response = client.get(url)
        assert response.status_code == 200
        med, p95 = timed(lambda url=url: client.get(url))
        print(f"matrix page as {label}: median {med:.1f} ms, p95 {p95:.1f} ms, {counter['n']} queries, "
              f"{len(response.content) // 1024} KB (50 orgs x 300 members per page)")
        med, p95 = timed(lambda url=url: client.get(url + "?format=csv"), runs=5, warm=1)
        print(f"matrix CSV as {label} (all rows): median {med:.1f} ms, p95 {p95:.1f} ms")
    cleanup()


if __name__ == "__main__":
    main()
