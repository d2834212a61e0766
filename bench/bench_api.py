"""Warm-cache `POST /api/v1/orgs/<alias>/access-token` through gunicorn, at concurrency 1, 8 and 32, against
`sf org display --json` for the same org (what a user runs today).

    python -m bench api          (or: make bench)

Needs PostgreSQL and Redis (BENCH_API_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/api_bench, dropped and
recreated: its own variable, so `make bench` never drops the database the other benchmarks use;
BENCH_REDIS_URL, default redis://127.0.0.1:6379/11), `wrk` (apt-get install wrk) and, for the `sf` figure, the
pinned Salesforce CLI (tests/cli/sfcli.py installs it). Settings: production mode, 4 gunicorn sync workers
(BENCH_WORKERS), persistent DB connections, the rate limit raised out of the way. Prints a Markdown section for
docs/benchmarks.md.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DURATION = int(os.environ.get("BENCH_SECONDS", "10"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "4"))
CONCURRENCY = (1, 8, 32)
ALIAS = "uat"
SANDBOX_USER = "dev@acme.example.uat"

LUA = """
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer %s"
done = function(summary, latency, requests)
  io.write(string.format("RESULT requests=%%d errors=%%d non2xx=%%d p50=%%d p95=%%d p99=%%d\\n",
    summary.requests, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _environment(database_url: str, redis_url: str, port: int, sim_url: str) -> dict[str, str]:
    keyring = "bench1:" + "C" * 42 + "Q"
    return {
        "DEBUG": "false", "SECRET_KEY": "bench-secret-key-" + "q8Hr3LmZ9vR4tW8yB1nC5dF3hJ6kP0sA" * 2,
        "ALLOWED_HOSTS": "127.0.0.1,localhost", "PORTAL_BASE_URL": f"http://127.0.0.1:{port}",
        "DATABASE_URL": database_url, "DATABASE_CONN_MAX_AGE": "600", "REDIS_URL": redis_url,
        "REDIS_CACHE_URL": redis_url, "EMAIL_HOST": "localhost", "PORTAL_ENCRYPTION_KEYS": keyring,
        "PORTAL_SALESFORCE_ALLOWED_HOSTS": sim_url, "PORTAL_HANDOUT_RATE_PER_MINUTE": "1000000000",
        "PORTAL_SSL_REDIRECT": "false", "PORTAL_LOG_LEVEL": "WARNING", "DJANGO_SETTINGS_MODULE": "portal.settings",
        "PORTAL_RUN_DIR": tempfile.mkdtemp(prefix="bench-api-"),
    }


def _recreate_database(url: str) -> None:
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres".replace("postgres://", "postgresql://", 1), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def _seed(sim) -> tuple[str, int]:
    """A team, a web-flow sandbox connection with a cached token, and a personal API token. Returns (token,
    queries on the hot path)."""
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    from django.db import connection as db
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from orgs.models import OrgAlias, OrgConnection
    from orgs.services.apps import connected_app_create
    from portal.accounts.models import Membership, User
    from portal.accounts.services import team_create
    from portal.accounts.tokens import api_token_create

    user = User.objects.create_user(email="bench@example.com", password="bench-pass-123456")
    team = team_create(user=user, name="Bench")
    owner = Membership.objects.get(team=team, user=user)
    app = connected_app_create(actor=owner, name="Simulator", consumer_key="OrgPortalDemo",
                               consumer_secret="sfsim-demo-secret", login_url=sim.base_url,
                               scopes="api refresh_token web", require_pkce=True)
    tokens = sim.mint_tokens(SANDBOX_USER, "OrgPortalDemo")
    org_id, user_id = tokens["id"].rstrip("/").split("/")[-2:]
    conn = OrgConnection.objects.create(team=team, owner=user, app=app, org_id=org_id, user_id=user_id,
                                        username=SANDBOX_USER, kind="sandbox", login_url=sim.base_url,
                                        instance_url=tokens["instance_url"], api_version="68.0")
    conn.seal("refresh_token", tokens["refresh_token"])
    conn.seal("access_token", tokens["access_token"])
    conn.access_token_issued_at = timezone.now()
    conn.save()
    OrgAlias.objects.create(team=team, user=user, connection=conn, alias=ALIAS)
    _, raw = api_token_create(actor=owner, kind="personal", name="bench")
    client = Client()
    url = f"/api/v1/orgs/{ALIAS}/access-token"
    assert client.post(url, HTTP_AUTHORIZATION=f"Bearer {raw}", HTTP_HOST="127.0.0.1").status_code == 200
    with CaptureQueriesContext(db) as queries:
        response = client.post(url, HTTP_AUTHORIZATION=f"Bearer {raw}", HTTP_HOST="127.0.0.1")
    assert response.status_code == 200, response.content
    return raw, len(queries.captured_queries), [q["sql"][:90] for q in queries.captured_queries]


def _wait_for(url: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).read()  # noqa: S310 (loopback)
            return
        except Exception:  # noqa: BLE001 - not up yet
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def _wrk(url: str, token: str, concurrency: int, *, post: bool = True) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(LUA % token if post else LUA.replace('wrk.method = "POST"', "") % token)
    command = ["wrk", f"-t{min(concurrency, 2)}", f"-c{concurrency}", f"-d{DURATION}s", "-s", script.name, url]
    out = subprocess.run(command, capture_output=True, text=True, timeout=DURATION + 60, check=True).stdout
    os.unlink(script.name)
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    fields = dict(re.findall(r"(\w+)=(\d+)", out.split("RESULT", 1)[1]))
    return {"c": concurrency, "rps": rate, "p50": int(fields["p50"]) / 1000, "p95": int(fields["p95"]) / 1000,
            "p99": int(fields["p99"]) / 1000, "requests": int(fields["requests"]), "non2xx": int(fields["non2xx"]),
            "errors": int(fields["errors"]), "command": " ".join(command[:-3] + ["post.lua", url])}


def _sf_display(sim, access_token: str) -> float | None:
    try:
        from tests.cli.sfcli import ensure_sf_cli
    except ImportError:
        return None
    try:
        cli = ensure_sf_cli()
    except Exception as exc:  # noqa: BLE001 - reported, not fatal
        print(f"  sf CLI unavailable: {exc}")
        return None
    home = Path(tempfile.mkdtemp(prefix="bench-sf-"))
    login = cli.run("org", "login", "access-token", "--instance-url", sim.base_url, "--no-prompt", "--alias", ALIAS,
                    home=home, env={"SF_ACCESS_TOKEN": access_token})
    if login.returncode != 0:
        print(f"  sf login failed: {login.stderr[-500:]}")
        return None
    times = []
    for _ in range(5):
        start = time.perf_counter()
        result = cli.run("org", "display", "--target-org", ALIAS, "--json", home=home)
        times.append(time.perf_counter() - start)
        assert result.returncode == 0, result.stdout
    shutil.rmtree(home, ignore_errors=True)
    return statistics.median(times)


def main() -> None:
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install -y wrk); skipping the API benchmark")
        return
    from sfsim.testing import start_simulator

    database_url = os.environ.get("BENCH_API_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/api_bench")
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/11")
    port = _free_port()
    _recreate_database(database_url)
    with start_simulator() as sim:
        env = _environment(database_url, redis_url, port, sim.base_url)
        os.environ.update(env)
        import redis

        redis.Redis.from_url(redis_url).flushdb()
        token, query_count, queries = _seed(sim)
        gunicorn = subprocess.Popen(  # noqa: S603
            [str(Path(sys.executable).parent / "gunicorn"), "portal.wsgi:application", "-w", str(WORKERS),
             "-b", f"127.0.0.1:{port}", "--log-level", "warning"],
            cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_for(f"{base}/healthz")
            url = f"{base}/api/v1/orgs/{ALIAS}/access-token"
            for _ in range(20):  # warm every worker (imports, DB connection, keyring)
                req = urllib.request.Request(url, method="POST", data=b"",  # noqa: S310
                                             headers={"Authorization": f"Bearer {token}"})
                urllib.request.urlopen(req, timeout=10).read()  # noqa: S310
            rows = [_wrk(url, token, c) for c in CONCURRENCY]
            health = _wrk(f"{base}/healthz", token, 8, post=False)
        finally:
            gunicorn.terminate()
            gunicorn.wait(timeout=20)
        from orgs.models import OrgConnection

        access_token = OrgConnection.objects.get(username=SANDBOX_USER).reveal("access_token")
        sf_seconds = _sf_display(sim, access_token)

    lines = [f"| {r['c']} | {r['rps']:.0f} | {r['p50']:.2f} | {r['p95']:.2f} | {r['p99']:.2f} | {r['requests']} | "
             f"{r['non2xx'] + r['errors']} |" for r in rows]
    at8 = next(r for r in rows if r["c"] == 8)
    verdict = "met" if at8["rps"] >= 1000 and at8["p95"] < 10 else "NOT met"
    sf_line = (f"`sf org display --json` for the same org (median of 5): **{sf_seconds * 1000:.0f} ms** per call, "
               f"i.e. {at8['p50'] and sf_seconds * 1000 / at8['p50']:.0f}× the API's p50 at concurrency 8."
               if sf_seconds else "`sf org display`: the sf CLI was not available in this run.")
    report = f"""## API: warm-cache access-token hand-out (`bench/bench_api.py`)

Command: `python -m bench api` (each row: `{rows[0]['command'].replace('-c1', '-cN').replace('-t1', '-tT')}`,
T = min(N, 2), {DURATION} s). gunicorn with {WORKERS} sync workers, PostgreSQL and Redis on the same 2-core machine
as the load generator; production settings; persistent DB connections; cached access token (no Salesforce call).

| concurrency | requests/s | p50 ms | p95 ms | p99 ms | requests | errors |
|---|---|---|---|---|---|---|
{chr(10).join(lines)}

Ceiling on the same stack: `GET /healthz` (answered by the first middleware, no DB): {health['rps']:.0f} requests/s
at concurrency 8 (p95 {health['p95']:.2f} ms).

{sf_line}

Target (≥ 1,000 requests/s at concurrency 8 with p95 < 10 ms): **{verdict}**.

What the hand-out costs beyond a bare JSON view ({query_count} SQL statements per warm request, counted in-process):
{chr(10).join(f"- `{q}`" for q in queries)}
- the first: token, team, user, the team's access version and the connection row of the cached (token, alias)
  resolution, one precompiled and prepared statement; the second: the audit row (every hand-out is audited);
- Redis: one round trip (the rate limit's INCR/EXPIRE script); AES-256-GCM decryption of the cached token;
- no `SELECT 1` health check (portal.lib.postgres checks the socket); `/api/v1/` skips the session, CSRF, messages and
  allauth middleware and resolves against the API's URLs only.
"""
    print(report)
