"""Refresh throughput: 5,000 due connections, Salesforce (the simulator) answering after 100 ms, the beat sweep
enqueueing them, real `celery -A portal worker` processes refreshing them; 1 worker, then 2 workers.

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_workers .venv/bin/python -m bench refresh

Needs PostgreSQL (BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/portal_bench; created and
migrated if missing, only this benchmark's team is deleted and rebuilt) and Redis (BENCH_REDIS_URL, default
redis://127.0.0.1:6379/7: broker and cache; that Redis database is flushed). Production settings (DEBUG=false).

Each worker: `--pool threads --concurrency 16` (BENCH_POOL, BENCH_CONCURRENCY). A refresh is one HTTPS round trip
to Salesforce plus a few milliseconds of CPU, so it waits ~100 ms and works ~3 ms: threads release the GIL while
waiting, 16 threads keep 16 refreshes in flight (a ceiling of 160 refreshes/s per worker from the latency alone)
for one process's memory and 16 database connections. Prefork would need 16 processes (16 × ~90 MB) for the same
number in flight.

Measured from just before the sweep until every connection has a `last_refresh_at` after the start: refreshes per
second, and the CPU time of the worker processes (utime + stime from /proc, children included, the simulator and
PostgreSQL excluded) divided by the refreshes. Rotation is on (every refresh returns a new refresh token that must
be stored), and the simulator's log is checked afterwards: one refresh grant per connection, none presenting a
rotated-out token.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "5000"))
LATENCY_MS = int(os.environ.get("BENCH_LATENCY_MS", "100"))
POOL = os.environ.get("BENCH_POOL", "threads")
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "16"))
WORKER_COUNTS = tuple(int(n) for n in os.environ.get("BENCH_WORKER_COUNTS", "1,2").split(","))
LOGLEVEL = os.environ.get("BENCH_WORKER_LOGLEVEL", "INFO")  # as docker-compose.yml runs the worker
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/7")
TIMEOUT = 150  # seconds per run
TEAM = "Bench Workers"
SIM_ORG = "00D5g00000AcUATEA3"  # the fixture's sandbox org
APP_KEY, APP_SECRET = "OrgPortalDemo", "sfsim-demo-secret"
CLK_TCK = os.sysconf("SC_CLK_TCK")


# -- settings shared by this process and the workers ------------------------------------------------------------------

def environment(sim_url: str) -> dict[str, str]:
    from bench.common import BENCH_DB

    return {
        "DEBUG": "false", "SECRET_KEY": "bench-secret-key-" + "w3Kr8LmZ9vR4tW8yB1nC5dF3hJ6kP0sA" * 2,
        "ALLOWED_HOSTS": "127.0.0.1,localhost", "PORTAL_BASE_URL": "http://127.0.0.1:8000",
        "DATABASE_URL": BENCH_DB, "DATABASE_CONN_MAX_AGE": "600", "REDIS_URL": REDIS_URL,
        "REDIS_CACHE_URL": REDIS_URL, "EMAIL_HOST": "localhost",
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        "PORTAL_ENCRYPTION_KEYS": "bench1:" + "D" * 42 + "Q", "PORTAL_SALESFORCE_ALLOWED_HOSTS": sim_url,
        "PORTAL_LOG_LEVEL": "WARNING", "DJANGO_SETTINGS_MODULE": "portal.settings",
        "CELERY_TASK_ALWAYS_EAGER": "false", "PORTAL_RUN_DIR": tempfile.mkdtemp(prefix="bench-workers-"),
    }


def setup(sim_url: str) -> dict[str, str]:
    """Configure Django for this process (production settings on the bench database) and return the environment
    for worker subprocesses. When another benchmark already configured Django in this process (`make bench`), its
    database and keyring are kept and handed to the workers too."""
    from django.conf import settings

    env = environment(sim_url)
    if not settings.configured:
        os.environ.update(env)
    from bench.common import setup_django

    setup_django()
    from django.db import connection

    from portal.celery import app

    settings.PORTAL_SALESFORCE_ALLOWED_HOSTS = sim_url
    app.conf.broker_url, app.conf.task_always_eager = REDIS_URL, False
    db = connection.settings_dict
    env["DATABASE_URL"] = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env["PORTAL_ENCRYPTION_KEYS"] = settings.PORTAL_ENCRYPTION_KEYS
    return env


def cleanup(team_name: str) -> None:
    from orgs.models import ConnectedApp, OrgConnection
    from portal.accounts.models import Team, User

    OrgConnection.objects.filter(team__name=team_name).delete()  # connections protect their app and owner
    ConnectedApp.objects.filter(team__name=team_name).delete()
    Team.objects.filter(name=team_name).delete()
    User.objects.filter(email=f"{team_name.lower().replace(' ', '-')}@example.com").delete()


def team_with_app(team_name: str, sim_url: str):
    """A fresh team, its owner and the simulator's demo app registered on it."""
    from orgs.services.apps import connected_app_create
    from portal.accounts.models import Membership, User
    from portal.accounts.services import team_create

    cleanup(team_name)
    user = User.objects.create_user(email=f"{team_name.lower().replace(' ', '-')}@example.com",
                                    password="bench-pass-123456")
    team = team_create(user=user, name=team_name)
    owner = Membership.objects.get(team=team, user=user)
    app = connected_app_create(actor=owner, name="Simulator", consumer_key=APP_KEY, consumer_secret=APP_SECRET,
                               login_url=sim_url, scopes="api refresh_token web", require_pkce=True)
    return team, user, app


def connection_row(team, user, app, tokens: dict, username: str, *, issued_at, **extra):
    """An unsaved OrgConnection holding `tokens` (sealed), as the OAuth callback would store it."""
    from orgs.models import OrgConnection

    org_id, user_id = tokens["id"].rstrip("/").split("/")[-2:]
    row = OrgConnection(team=team, owner=user, app=app, org_id=org_id, user_id=user_id, username=username,
                        kind=extra.pop("kind", "sandbox"), login_url=tokens["instance_url"],
                        instance_url=tokens["instance_url"], api_version="68.0", access_token_issued_at=issued_at,
                        last_refresh_at=issued_at, **extra)
    row.seal("refresh_token", tokens["refresh_token"])
    row.seal("access_token", tokens["access_token"])
    return row


# -- CPU accounting ---------------------------------------------------------------------------------------------------

def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw.rsplit(")", 1)[1].split()  # fields from 3 (state) on; the command name may contain spaces


def process_tree_cpu(root_pid: int) -> float:
    """utime + stime in seconds of `root_pid` and its live descendants."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))):
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    total, todo = 0, [root_pid]
    while todo:
        pid = todo.pop()
        if fields := _stat(pid):
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
        todo += children.get(pid, [])
    return total / CLK_TCK


def server_cpu(name: str) -> float:
    """utime + stime in seconds of every live process named `name` (postgres, redis-server) on this machine."""
    total = 0
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "comm").read_text().strip() == name:
                fields = _stat(int(entry.name)) or ["0"] * 13
                total += int(fields[11]) + int(fields[12])
        except OSError:
            continue
    return total / CLK_TCK


def postgres_cpu() -> float:
    """CPU seconds of the PostgreSQL backends serving the bench database (the workers' connections and ours; other
    databases on the same server are not counted). The workers connect after the first sample, so their backends'
    whole lifetime falls inside the run."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        return sum(process_tree_cpu(pid) for (pid,) in cursor.fetchall())


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs since boot, for the machine's utilisation during a run."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


# -- workers ----------------------------------------------------------------------------------------------------------

def worker_command(index: int) -> list[str]:
    return [str(Path(sys.executable).with_name("celery")), "-A", "portal", "worker", "--pool", POOL,
            "--concurrency", str(CONCURRENCY), "-n", f"bench-refresh-{index}@%h", "-l", LOGLEVEL,
            "--without-gossip", "--without-mingle", "--without-heartbeat"]


def start_workers(count: int, env: dict[str, str], logdir: str) -> list[tuple[subprocess.Popen, Path]]:
    from portal.celery import app

    workers = []
    try:
        for index in range(count):
            log = Path(logdir) / f"worker{index}.log"
            with log.open("wb") as out:
                process = subprocess.Popen(worker_command(index), cwd=ROOT, env={**os.environ, **env},  # noqa: S603
                                           stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
            workers.append((process, log))
        names = {f"bench-refresh-{index}@{socket.gethostname()}" for index in range(count)}
        deadline = time.monotonic() + 60
        while True:  # ready when every worker answers a control ping (works at any log level)
            replies = app.control.ping(destination=sorted(names), timeout=0.5)
            if {name for reply in replies for name in reply} >= names:
                return workers
            for process, log in workers:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"worker did not start:\n{log.read_text()[-3000:]}")
    except BaseException:
        stop_workers(workers)
        raise


def stop_workers(workers) -> None:
    for process, _ in workers:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)  # warm shutdown
    for process, _ in workers:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # its own session: the worker and its pool children
            process.wait(timeout=5)


# -- the benchmark ----------------------------------------------------------------------------------------------------

def seed(sim, team, user, app) -> list[int]:
    """CONNECTIONS due connections, each for its own simulator user (five approvals per user and app)."""
    from django.utils import timezone

    from orgs.models import OrgConnection

    names = [f"bench{i}@workers.example.uat" for i in range(CONNECTIONS)]
    sim.load({"users": [{"id": f"0055g{i:010d}AAA", "org": SIM_ORG, "username": name, "password": "x"}
                        for i, name in enumerate(names)]})
    with ThreadPoolExecutor(4) as pool:
        minted = list(pool.map(lambda name: sim.mint_tokens(name, APP_KEY), names))
    stale = timezone.now() - timedelta(hours=2)
    rows = [connection_row(team, user, app, tokens, name, issued_at=stale)
            for name, tokens in zip(names, minted, strict=True)]
    OrgConnection.objects.bulk_create(rows, batch_size=1000)
    return list(OrgConnection.objects.filter(team=team).values_list("pk", flat=True))


def run(sim, team, env: dict[str, str], workers_count: int, logdir: str) -> dict:
    import redis
    from django.utils import timezone

    from orgs.models import OrgConnection
    from orgs.services.sweeps import connections_refresh_sweep

    ours = OrgConnection.objects.filter(team=team)
    ours.update(access_token_issued_at=timezone.now() - timedelta(hours=2), status="connected")
    redis.Redis.from_url(REDIS_URL).flushdb()
    sim.configure(latency_ms=LATENCY_MS)
    sim.clear_log()
    workers = start_workers(workers_count, env, logdir)
    try:
        pids = [process.pid for process, _ in workers]
        cpu0, busy0 = sum(map(process_tree_cpu, pids)), machine_busy()
        sim0, own0 = process_tree_cpu(sim.process.pid), sum(os.times()[:2])
        pg0, redis0 = postgres_cpu(), server_cpu("redis-server")
        started_at, t0 = timezone.now(), time.perf_counter()
        enqueued = connections_refresh_sweep()
        published = time.perf_counter() - t0
        progress = [(0.0, 0)]
        done = 0
        while done < CONNECTIONS:
            if time.perf_counter() - t0 > TIMEOUT:
                raise RuntimeError(f"only {done} of {CONNECTIONS} refreshed after {TIMEOUT} s")
            time.sleep(0.2)
            done = ours.filter(last_refresh_at__gte=started_at).count()
            progress.append((time.perf_counter() - t0, done))
        elapsed = time.perf_counter() - t0
        cpu, busy1 = sum(map(process_tree_cpu, pids)) - cpu0, machine_busy()
        sim_cpu, pg_cpu = process_tree_cpu(sim.process.pid) - sim0, postgres_cpu() - pg0
        redis_cpu = server_cpu("redis-server") - redis0
        own = sum(os.times()[:2]) - own0  # this process: the sweep (select, publish) and the progress polling
    finally:
        stop_workers(workers)
    sim.configure(latency_ms=0)
    log = sim.log()
    refreshes = [e for e in log if e.get("grant_type") == "refresh_token"]
    outcomes: dict[str, int] = {}
    for entry in refreshes:
        outcomes[entry["outcome"]] = outcomes.get(entry["outcome"], 0) + 1
    # steady state: between 10% and 90% done (leaves out the ramp-up and the tail)
    low = next(p for p in progress if p[1] >= CONNECTIONS * 0.1)
    high = next(p for p in progress if p[1] >= CONNECTIONS * 0.9)
    return {
        "workers": workers_count, "enqueued": enqueued, "publish_s": published, "elapsed_s": elapsed,
        "rate": CONNECTIONS / elapsed, "steady_rate": (high[1] - low[1]) / (high[0] - low[0]),
        "cpu_s": cpu, "cpu_ms_per_refresh": cpu * 1000 / CONNECTIONS,
        "sim_ms_per_refresh": sim_cpu * 1000 / CONNECTIONS, "pg_ms_per_refresh": pg_cpu * 1000 / CONNECTIONS,
        "redis_ms_per_refresh": redis_cpu * 1000 / CONNECTIONS, "sweep_ms_per_refresh": own * 1000 / CONNECTIONS,
        "machine_busy": (busy1[0] - busy0[0]) / max(busy1[1] - busy0[1], 1),
        "other_cores": (busy1[0] - busy0[0]) / CLK_TCK / elapsed - (cpu + sim_cpu + pg_cpu + redis_cpu + own) / elapsed,
        "sweep_cpu_s": own,
        "grants": len(refreshes), "outcomes": outcomes,
        "connected": ours.filter(status="connected").count(),
        "ceiling": workers_count * CONCURRENCY * 1000 / LATENCY_MS if LATENCY_MS else None,
    }


def report(results: list[dict], command: str, seeded_s: float) -> str:
    lines = [
        "## Workers: token refresh throughput (issue 7)",
        "",
        f"Command: `{command}` (database from BENCH_DATABASE_URL; Redis DB 7 as broker; production settings).",
        "",
        f"Data: {CONNECTIONS:,} connections, each its own Salesforce user with a stale access token (2 h old); "
        f"simulator latency {LATENCY_MS} ms on every Salesforce request; refresh-token rotation on. The sweep "
        f"(`connections_refresh_sweep`) enqueues them all on Redis; `celery -A portal worker --pool {POOL} "
        f"--concurrency {CONCURRENCY} -l {LOGLEVEL}` processes refresh them. "
        f"Seeding took {seeded_s:.0f} s (not timed).",
        "",
        "| workers | in flight (latency ceiling) | wall s | refreshes/s | steady refreshes/s | worker CPU ms/refresh "
        "| simulator / PostgreSQL / Redis / sweep process CPU ms/refresh | machine busy | unaccounted (cores) "
        "| sweep enqueue s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        ceiling = f"{r['workers'] * CONCURRENCY} ({r['ceiling']:.0f}/s)" if r["ceiling"] else "-"
        lines.append(f"| {r['workers']} | {ceiling} | {r['elapsed_s']:.1f} | {r['rate']:.0f} | "
                     f"{r['steady_rate']:.0f} | {r['cpu_ms_per_refresh']:.2f} | {r['sim_ms_per_refresh']:.2f} / "
                     f"{r['pg_ms_per_refresh']:.2f} / {r['redis_ms_per_refresh']:.2f} / "
                     f"{r['sweep_ms_per_refresh']:.2f} | "
                     f"{r['machine_busy']:.0%} | {r['other_cores']:.2f} | "
                     f"{r['publish_s']:.1f} |")
    lines += [
        "",
        "Wall time runs from just before the sweep until all connections have a new `last_refresh_at`; steady "
        "refreshes/s is the rate between 10% and 90% done. Worker CPU is utime + stime of the worker processes "
        "(from /proc, the simulator and PostgreSQL excluded) over the run, divided by the refreshes. Machine busy is "
        "the share of both cores in use during the run (workers, PostgreSQL, simulator, this process polling).",
        "",
        "Checks: " + "; ".join(
            f"{r['workers']} worker(s): {r['grants']} refresh grants {r['outcomes']}, {r['connected']} connected"
            for r in results),
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    from sfsim.testing import start_simulator

    command = "BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_workers .venv/bin/python -m bench refresh"
    sim = start_simulator()
    try:
        env = setup(sim.base_url)
        sim.update_app(APP_KEY, rotation=True)
        t = time.perf_counter()
        team, user, app = team_with_app(TEAM, sim.base_url)
        seed(sim, team, user, app)
        seeded = time.perf_counter() - t
        print(f"seeded {CONNECTIONS} connections in {seeded:.1f} s", flush=True)
        results = []
        with tempfile.TemporaryDirectory(prefix="bench-refresh-") as logdir:
            for count in WORKER_COUNTS:
                result = run(sim, team, env, count, logdir)
                results.append(result)
                print(f"{count} worker(s) x {POOL} {CONCURRENCY}: {CONNECTIONS} refreshed in "
                      f"{result['elapsed_s']:.1f} s = {result['rate']:.0f}/s (steady {result['steady_rate']:.0f}/s), "
                      f"worker CPU {result['cpu_ms_per_refresh']:.2f} ms/refresh (simulator "
                      f"{result['sim_ms_per_refresh']:.2f}, PostgreSQL {result['pg_ms_per_refresh']:.2f}, Redis "
                      f"{result['redis_ms_per_refresh']:.2f}, sweep {result['sweep_ms_per_refresh']:.2f}), "
                      f"machine busy {result['machine_busy']:.0%} (unaccounted {result['other_cores']:.2f} cores)"
                      f", sweep enqueue {result['publish_s']:.1f} s, "
                      f"grants {result['grants']} {result['outcomes']}", flush=True)
        text = report(results, command, seeded)
        print("\n" + text)
        print(f"command: {command}")
        cleanup(TEAM)
    finally:
        sim.stop()


if __name__ == "__main__":
    main()
