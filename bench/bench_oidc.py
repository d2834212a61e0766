"""CI token exchange (`POST /api/v1/oauth/token`, an OIDC ID token from the fake issuer) next to the API-token
hand-out (`POST /api/v1/orgs/<alias>/access-token`), through gunicorn, at concurrency 8, with one Python load client
for both so the figures compare like for like.

    python -m bench oidc          (or: make bench)

Every exchange needs a fresh ID token (each `jti` is single-use), so the tokens are minted by the issuer before the
clock starts. Needs PostgreSQL and Redis as bench_api does (BENCH_OIDC_DATABASE_URL, default .../oidc_bench).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

from bench.bench_api import ALIAS, ROOT, WORKERS, _environment, _free_port, _recreate_database, _seed, _wait_for

CONCURRENCY = 8
REQUESTS = int(os.environ.get("BENCH_OIDC_REQUESTS", "1600"))
OWNER_ID, REPO_ID = "1342004", "260064828"


def _load(url: str, bodies: list[bytes | None], headers: dict, concurrency: int) -> dict:
    """POST every body (None: an empty body) with `concurrency` threads; rate and latency percentiles."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    queue = list(enumerate(bodies))

    def worker():
        nonlocal errors
        while True:
            with lock:
                if not queue:
                    return
                _, body = queue.pop()
            request = urllib.request.Request(url, data=body or b"", method="POST", headers=headers)  # noqa: S310
            start = time.perf_counter()
            try:
                with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (loopback)
                    response.read()
                    ok = response.status == 200
            except Exception:  # noqa: BLE001 - counted
                ok = False
            elapsed = time.perf_counter() - start
            with lock:
                latencies.append(elapsed)
                errors += 0 if ok else 1

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    latencies.sort()

    def pct(p):
        return latencies[min(len(latencies) - 1, int(len(latencies) * p / 100))] * 1000

    return {"rps": len(latencies) / wall, "p50": pct(50), "p95": pct(95), "p99": pct(99), "errors": errors,
            "requests": len(latencies), "mean": statistics.mean(latencies) * 1000}


def main() -> None:
    from oidcsim.testing import start_issuer
    from sfsim.testing import start_simulator

    database_url = os.environ.get("BENCH_OIDC_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/oidc_bench")
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/11")
    port = _free_port()
    _recreate_database(database_url)
    with start_simulator() as sim, start_issuer() as issuer:
        env = _environment(database_url, redis_url, port, sim.base_url)
        env.update({"PORTAL_OIDC_GITHUB_ISSUER": issuer.issuer_url("github"),
                    "PORTAL_OIDC_ALLOWED_HOSTS": issuer.base_url,
                    "PORTAL_OIDC_EXCHANGES_PER_SUBJECT_PER_MINUTE": "1000000000",
                    "PORTAL_OIDC_EXCHANGES_PER_POLICY_PER_MINUTE": "1000000000"})
        os.environ.update(env)
        import redis

        redis.Redis.from_url(redis_url).flushdb()
        raw, _, _ = _seed(sim)
        from orgs.models import OrgConnection
        from orgs.services import oidc
        from portal.accounts.models import Membership

        owner = Membership.objects.get(team__name="Bench")
        github = oidc.issuer_register(actor=owner, kind="github")
        audience = env["PORTAL_BASE_URL"]
        oidc.trust_policy_save(actor=owner, issuer=github, name="Bench CI", audience=audience,
                               required_claims={"repository_owner_id": OWNER_ID, "repository_id": REPO_ID},
                               glob_claim="", glob_pattern="", allowed_events=["push"],
                               connection_ids=list(OrgConnection.objects.values_list("pk", flat=True)),
                               max_lifetime=900)
        minted = [issuer.mint("github", audience=audience) for _ in range(REQUESTS + 40)]
        gunicorn = subprocess.Popen(  # noqa: S603
            [str(Path(sys.executable).parent / "gunicorn"), "portal.wsgi:application", "-w", str(WORKERS),
             "-b", f"127.0.0.1:{port}", "--log-level", "warning"],
            cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_for(f"{base}/healthz")

            def form(token):
                return urllib.parse.urlencode({
                    "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange", "subject_token": token,
                    "subject_token_type": "urn:ietf:params:oauth:token-type:id_token", "audience": ALIAS}).encode()

            form_headers = {"Content-Type": "application/x-www-form-urlencoded"}
            _load(f"{base}/api/v1/oauth/token", [form(t) for t in minted[:40]], form_headers, CONCURRENCY)  # warm
            api_headers = {"Authorization": f"Bearer {raw}"}
            _load(f"{base}/api/v1/orgs/{ALIAS}/access-token", [None] * 40, api_headers, CONCURRENCY)  # warm
            exchange = _load(f"{base}/api/v1/oauth/token", [form(t) for t in minted[40:]], form_headers, CONCURRENCY)
            handout = _load(f"{base}/api/v1/orgs/{ALIAS}/access-token", [None] * REQUESTS, api_headers, CONCURRENCY)
        finally:
            gunicorn.terminate()
            gunicorn.wait(timeout=20)

    rows = [("CI token exchange (OIDC → Salesforce token)", exchange), ("API-token hand-out", handout)]
    lines = [f"| {name} | {r['rps']:.0f} | {r['p50']:.1f} | {r['p95']:.1f} | {r['p99']:.1f} | {r['requests']} | "
             f"{r['errors']} |" for name, r in rows]
    print(f"""## CI token exchange next to the API-token hand-out (`bench/bench_oidc.py`)

Command: `python -m bench oidc`. gunicorn with {WORKERS} sync workers, PostgreSQL, Redis, the Salesforce simulator and
the fake OIDC issuer on the same 2-core machine as the load client (Python threads, concurrency {CONCURRENCY},
{REQUESTS} requests each; every exchange presents a fresh ID token, minted beforehand).

| path | requests/s | p50 ms | p95 ms | p99 ms | requests | errors |
|---|---|---|---|---|---|---|
{chr(10).join(lines)}

The exchange costs {exchange['mean'] / max(handout['mean'], 1e-9):.1f}× a hand-out's mean latency: it verifies an RS256
signature, matches the policies, claims the `jti` (an INSERT) and audits twice, on top of the hand-out itself.
""")
