"""Real processes for the reliability tests (test_reliability.py): a private redis-server per test, Celery worker
subprocesses on it against the test database, and helpers to seed connections on the simulator.

Each test gets its own redis-server on a free port (broker DB 0, cache DB 1), so no other test run, worker or
engineer sharing 127.0.0.1:6379 can consume our tasks or flush our queue. Every process runs in its own session
(process group): a test can SIGKILL a worker with its pool at once, and teardown stops everything it started.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection as db_connection
from django.utils import timezone

from orgs.models import OrgConnection
from tests.sharing.conftest import make_connection
from tests.test_celery_worker import database_url
from tests.test_settings_and_deploy import PRODUCTION_ENV, clean_env

ROOT = Path(__file__).resolve().parents[2]
SIM_ORG = "00D5g00000AcUATEA3"
_users = itertools.count(700_001)
# The simulator's token shapes: access `<15-char org id>!AQ…`, refresh `5Aep861…`.
_TOKEN_SHAPES = re.compile(r"[0-9A-Za-z]{15}!AQ[\w.-]{20,}|5Aep861[\w.-]{20,}")


def wait_for(predicate, *, timeout: float, what: str, interval: float = 0.05, diagnostics=None):
    """Poll `predicate` until truthy (no fixed sleeps); on timeout fail with the tail of `diagnostics()`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            extra = "\n" + diagnostics()[-4000:] if diagnostics else ""
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}{extra}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def token_fingerprint(token: str) -> str:
    """What the simulator's log records for a presented refresh token: 16 hex of its SHA-256."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


def token_shaped(text: str) -> list[str]:
    """Anything in `text` shaped like a simulator access token or refresh token."""
    return _TOKEN_SHAPES.findall(text)


# -- a private redis-server ---------------------------------------------------------------------------------------

@dataclass
class RedisServer:
    port: int
    log_path: Path
    proc: subprocess.Popen | None = None

    @property
    def broker_url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def cache_url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/1"

    def start(self) -> None:
        import redis

        with open(self.log_path, "a") as log:
            self.proc = subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
                 "no", "--daemonize", "no"], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

        def up():
            assert self.proc.poll() is None, self.log_path.read_text()
            try:
                return redis.Redis(port=self.port, socket_connect_timeout=0.5).ping()
            except redis.exceptions.ConnectionError:
                return False

        wait_for(up, timeout=10, what=f"redis-server on port {self.port}")

    def stop(self) -> None:
        """SIGTERM only the server this test started (never the shared one on 6379)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def use_broker(url: str, *, eager: bool = False) -> None:
    """Publish from this process to `url` (not eagerly): drop the cached connection and producer pools."""
    from kombu import pools

    from portal.celery import app

    app.conf.task_always_eager, app.conf.broker_url = eager, url
    if app._pool is not None:
        app._pool.force_close_all()
        app._pool = None
    app.amqp._producer_pool = None
    pools.reset()


# -- a TCP proxy in front of the shared PostgreSQL ------------------------------------------------------------------

class TcpProxy:
    """127.0.0.1:<port> → `upstream`, in threads. `cut()` drops every open connection and refuses new ones (what
    clients see while PostgreSQL restarts); `restore()` lets them through again. The real server is never touched."""

    def __init__(self, upstream: tuple[str, int]):
        self.upstream = upstream
        self.down = False
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._lock = threading.Lock()
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = self._listener.getsockname()[1]
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.down:
                client.close()
                continue
            try:
                server = socket.create_connection(self.upstream, timeout=5)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._pairs.append((client, server))
            threading.Thread(target=self._pipe, args=(client, server), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        for sock in (source, target):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self) -> None:
        self.down = True
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            for sock in pair:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()

    def restore(self) -> None:
        self.down = False

    def stop(self) -> None:
        self._closed = True
        self.cut()
        self._listener.close()


# -- Celery workers ------------------------------------------------------------------------------------------------

@dataclass
class Worker:
    proc: subprocess.Popen
    log_path: Path
    name: str

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def count(self, text: str) -> int:
        return self.log().count(text)

    def wait_ready(self, timeout: float = 40) -> None:
        wait_for(lambda: " ready." in self.log() or not self.alive(), timeout=timeout,
                 what=f"worker {self.name} to start", diagnostics=self.log)
        assert self.alive(), self.log()[-3000:]

    def pool_children(self) -> list[int]:
        """The prefork pool's processes (Linux /proc)."""
        path = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        return [int(pid) for pid in path.read_text().split()] if path.exists() else []

    def kill_group(self) -> None:
        """SIGKILL the worker and its pool (its own process group): no warm shutdown, no ack, no cleanup."""
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


@dataclass
class Workers:
    """Starts workers on one redis-server and the test database; `stop_all` stops every one of them."""
    tmp_path: Path
    redis: RedisServer
    allowed_hosts: str
    started: list[Worker] = field(default_factory=list)
    extra_env: dict[str, str] = field(default_factory=dict)  # e.g. a short PORTAL_SALESFORCE_READ_TIMEOUT

    def env(self) -> dict[str, str]:
        env = clean_env()
        env.update(PRODUCTION_ENV)
        env.update({
            "REDIS_URL": self.redis.broker_url,
            "REDIS_CACHE_URL": self.redis.cache_url,
            "DATABASE_URL": database_url(),
            "PORTAL_RUN_DIR": str(self.tmp_path),
            "PORTAL_ENCRYPTION_KEYS": os.environ["PORTAL_ENCRYPTION_KEYS"],
            "PORTAL_SALESFORCE_ALLOWED_HOSTS": self.allowed_hosts,
            "EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend",  # emails land in the worker log
            "PORTAL_REFRESH_AFTER": str(settings.PORTAL_REFRESH_AFTER),
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "PYTHONUNBUFFERED": "1",
        })
        env.update(self.extra_env)
        return env

    def start(self, name: str | None = None, *, wait: bool = True, pause_at: str | None = None) -> Worker:
        """`pause_at`: run tests/workers/pausing_worker.py instead of plain celery; its pool process stops at that
        point of a refresh and writes `<tmp>/paused-<name>` (then the test SIGKILLs it)."""
        name = name or f"w{len(self.started) + 1}"
        log_path = self.tmp_path / f"worker-{name}.log"
        env = self.env()
        command = [sys.executable, "-m", "celery"]
        if pause_at:
            env.update(RELIABILITY_PAUSE_AT=pause_at, RELIABILITY_PAUSE_MARKER=str(self.tmp_path / f"paused-{name}"))
            command = [sys.executable, "-m", "tests.workers.pausing_worker"]
        with open(log_path, "w") as log:
            proc = subprocess.Popen(
                [*command, "-A", "portal", "worker", "-l", "INFO", "-n", f"{name}@%h",
                 "--concurrency", "1", "--pool", "prefork", "--without-gossip", "--without-mingle",
                 "--without-heartbeat"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        worker = Worker(proc, log_path, name)
        self.started.append(worker)
        if wait:
            worker.wait_ready()
        return worker

    def logs(self) -> str:
        return "\n".join(w.log() for w in self.started)

    def stop_all(self) -> None:
        for worker in self.started:
            worker.stop()


# -- connections against the simulator -----------------------------------------------------------------------------

def seed(world, sim, sim_app, n: int, *, stale: bool = True) -> list[OrgConnection]:
    """n web-flow connections owned by carol, each its own simulator user (five approvals per user and app)."""
    numbers = [next(_users) for _ in range(n)]
    sim.load({"users": [{"id": f"0055g{i:010d}AAA", "org": SIM_ORG, "username": f"r{i}@acme.example.uat",
                         "password": "x"} for i in numbers]})
    issued = timezone.now() - (timedelta(hours=2) if stale else timedelta(minutes=1))
    rows = []
    for i in numbers:
        tokens = sim.mint_tokens(f"r{i}@acme.example.uat", "OrgPortalDemo")
        c = make_connection(world.team, world.member, sim_app, username=f"r{i}@acme.example.uat",
                            instance_url=sim.base_url)
        c.seal("refresh_token", tokens["refresh_token"])
        c.seal("access_token", tokens["access_token"])
        c.access_token_issued_at = c.last_refresh_at = issued
        c.save()
        rows.append(c)
    return rows


def make_stale(*connections: OrgConnection) -> None:
    past = timezone.now() - timedelta(hours=3)
    OrgConnection.objects.filter(pk__in=[c.pk for c in connections]).update(access_token_issued_at=past,
                                                                           last_refresh_at=past)


def refreshes(sim) -> list[dict]:
    return [e for e in sim.log() if e.get("grant_type") == "refresh_token"]


def lock_holders() -> int:
    """Other sessions holding a connection's refresh lock (the advisory lock of orgs.services.refresh, kept while a
    refresh waits for Salesforce) or a `SELECT … FOR UPDATE` lock on connections, in *this* test database."""
    from orgs.services.refresh import REFRESH_LOCK_NAMESPACE

    with db_connection.cursor() as cursor:
        cursor.execute("SELECT count(DISTINCT l.pid) FROM pg_locks l "
                       "JOIN pg_database d ON d.oid = l.database AND d.datname = current_database() "
                       "LEFT JOIN pg_class c ON c.oid = l.relation WHERE l.pid <> pg_backend_pid() AND l.granted "
                       "AND ((c.relname = %s AND l.mode = 'RowShareLock') "
                       "OR (l.locktype = 'advisory' AND l.classid = %s))",
                       [OrgConnection._meta.db_table, REFRESH_LOCK_NAMESPACE])
        return cursor.fetchone()[0]
