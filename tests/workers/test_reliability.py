"""Issue 7's reliability tests, with real processes: PostgreSQL, Redis, the simulator and Celery worker
subprocesses (plus a private redis-server for the Redis outage).

1. 20 threads and 2 workers refresh one rotating connection at the same moment: one refresh, no reuse.
2. A worker SIGKILLed mid-refresh leaves a consistent row and the next sweep finishes the work; a rotation whose
   response is lost ends in Needs re-authorization with one email, without presenting the rotated-out token again;
   a worker SIGKILLed before the call, after Salesforce answered and after the commit (rotation on): issue 15.
3. A Salesforce outage degrades (never Needs re-authorization) and the connections recover by themselves.
4. A Redis outage: pages and the access-token API keep working, the sweep logs the broker failure, and after Redis
   returns one sweep refreshes everything that is due.
5. PostgreSQL restarting (a TCP proxy of the test's own in front of the shared server, cut and restored): the API
   answers 503 JSON and pages a 503 page, both with Retry-After; no connection changes status; then all works again.
"""

from __future__ import annotations

import logging
import os
import re
import signal
from types import SimpleNamespace

import pytest

from orgs.models import OrgConnection
from orgs.services import refresh
from orgs.services.sweeps import connections_refresh_sweep, due_connections
from orgs.tasks import connection_refresh_task
from portal.accounts.models import AuditEvent
from tests.canaries import find_leaks
from tests.concurrency import at_once
from tests.workers.reliability_procs import (
    RedisServer,
    TcpProxy,
    Workers,
    free_port,
    lock_holders,
    make_stale,
    refreshes,
    seed,
    token_fingerprint,
    token_shaped,
    use_broker,
    wait_for,
)

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

DEMO = "OrgPortalDemo"
TOKEN_PATH = "/services/oauth2/token"
INTROSPECT_PATH = "/services/oauth2/introspect"


@pytest.fixture
def rel_redis(tmp_path):
    """A redis-server of this test's own, on a free port; stopped at teardown whatever happened."""
    server = RedisServer(port=free_port(), log_path=tmp_path / "redis.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def rel_workers(tmp_path, rel_redis, sim, settings):
    """`rel_workers.start(name)` starts a real worker; tasks this process publishes go to the same broker."""
    from portal.celery import app

    old = app.conf.task_always_eager, app.conf.broker_url
    use_broker(rel_redis.broker_url)
    pool = Workers(tmp_path=tmp_path, redis=rel_redis, allowed_hosts=settings.PORTAL_SALESFORCE_ALLOWED_HOSTS)
    try:
        yield pool
    finally:
        pool.stop_all()
        use_broker(old[1], eager=old[0])


def status_of(connection) -> str:
    return OrgConnection.objects.values_list("status", flat=True).get(pk=connection.pk)


def assert_consistent(connection) -> OrgConnection:
    """Every sealed column decrypts and the status is one of the ones a refresh may leave behind."""
    row = OrgConnection.objects.get(pk=connection.pk)
    assert row.reveal("refresh_token") and row.reveal("access_token")
    assert row.status in {"connected", "degraded"}, (row.status, row.status_reason)
    return row


def test_twenty_threads_and_two_workers_refresh_a_rotating_connection_once(world, sim, sim_app, rel_workers):
    sim.update_app(DEMO, rotation=True)
    conn, = seed(world, sim, sim_app, 1)
    old_refresh = conn.reveal("refresh_token")
    w1, w2 = rel_workers.start("w1", wait=False), rel_workers.start("w2", wait=False)
    w1.wait_ready()
    w2.wait_ready()
    sim.configure(latency_ms=400)  # every caller is waiting for the lock while the winner talks to Salesforce
    sim.clear_log()

    def publish_two():  # one message per worker (prefetch 1, concurrency 1), at the same moment as the callers
        connection_refresh_task.delay(conn.pk)
        connection_refresh_task.delay(conn.pk)

    results, errors = at_once(20, lambda: refresh.connection_access_token(connection_id=conn.pk).access_token,
                              also=publish_two)
    done = "Task orgs.tasks.connection_refresh_task"
    wait_for(lambda: rel_workers.logs().count("succeeded in") >= 2, timeout=30, what="both worker tasks to finish",
             diagnostics=rel_workers.logs)

    assert errors == []
    assert len(results) == 20 and len(set(results)) == 1  # everyone got the one new token
    assert w1.count(done) >= 1 and w2.count(done) >= 1, rel_workers.logs()[-4000:]  # both workers took part
    outcomes = [e["outcome"] for e in refreshes(sim)]
    assert outcomes == ["rotated"]  # exactly one refresh, never a reused token
    row = OrgConnection.objects.get(pk=conn.pk)
    assert row.status == "connected" and row.reveal("access_token") == results[0]
    assert row.reveal("refresh_token") != old_refresh
    # The stored refresh token is the newest one: the next refresh presents it and rotates again.
    sim.configure(latency_ms=0)
    make_stale(conn)
    refresh.connection_access_token(connection_id=conn.pk)
    entries = refreshes(sim)
    assert [e["outcome"] for e in entries] == ["rotated", "rotated"]
    assert entries[1]["token_sha256"] == token_fingerprint(row.reveal("refresh_token"))
    assert entries[0]["token_sha256"] == token_fingerprint(old_refresh)


def test_a_worker_killed_mid_refresh_leaves_the_row_consistent_and_the_next_sweep_finishes(world, sim, sim_app,
                                                                                          rel_workers):
    conn, = seed(world, sim, sim_app, 1)
    before = OrgConnection.objects.get(pk=conn.pk)
    w1 = rel_workers.start("doomed")
    sim.configure(latency_ms=3000)
    sim.clear_log()
    connection_refresh_task.delay(conn.pk)
    # The worker has the refresh lock, committed its "in flight" mark and is waiting for Salesforce's answer: kill
    # it and its pool right there.
    wait_for(lambda: OrgConnection.objects.filter(pk=conn.pk, refresh_started_at__isnull=False).exists(),
             timeout=20, what="the worker to mark the refresh in flight", diagnostics=w1.log)
    assert lock_holders() == 1
    w1.kill_group()
    wait_for(lambda: lock_holders() == 0, timeout=10, what="PostgreSQL to roll back the dead worker's transaction")

    row = assert_consistent(conn)  # decrypts, connected; nothing half-written
    assert (row.reveal("refresh_token"), row.reveal("access_token"), row.access_token_issued_at, row.status) == (
        before.reveal("refresh_token"), before.reveal("access_token"), before.access_token_issued_at, "connected")
    assert row.refresh_started_at is not None  # the unfinished attempt is on record
    assert list(due_connections().values_list("pk", flat=True)) == [conn.pk]  # still due: the next sweep sees it

    # A new worker and the next sweep finish the work (the unacked message would come back only after the
    # 1 h visibility timeout; the sweep does not wait for it).
    sim.configure(latency_ms=0)
    rel_workers.start("rescuer")
    assert connections_refresh_sweep() == 1
    wait_for(lambda: OrgConnection.objects.filter(pk=conn.pk, access_token_issued_at__gt=before.access_token_issued_at)
             .exists(), timeout=30, what="the rescuer to refresh the connection", diagnostics=rel_workers.logs)
    row = assert_consistent(conn)
    assert row.status == "connected" and row.reveal("access_token") != before.reveal("access_token")
    assert due_connections().count() == 0
    # The dead worker's "in flight" mark made the rescuer ask first (introspection), then refresh.
    assert [e["path"] for e in sim.log()].count(INTROSPECT_PATH) == 1 and row.refresh_started_at is None
    # A late redelivery of the killed message is a no-op: the token is fresh, Salesforce is not called again.
    calls = len(refreshes(sim))
    connection_refresh_task.apply(args=[conn.pk])
    assert len(refreshes(sim)) == calls
    assert token_shaped(rel_workers.logs()) == []


def test_a_pool_process_killed_mid_refresh_is_redelivered_and_completed(world, sim, sim_app, rel_workers):
    """reject_on_worker_lost: the worker's main process requeues the message of a child that died, and runs it."""
    conn, = seed(world, sim, sim_app, 1)
    issued_before = conn.access_token_issued_at
    w1 = rel_workers.start("w1")
    sim.configure(latency_ms=1500)
    sim.clear_log()
    connection_refresh_task.delay(conn.pk)
    wait_for(lock_holders, timeout=20, what="the worker to lock the row", diagnostics=w1.log)
    children = w1.pool_children()
    assert len(children) == 1, children
    sim.configure(latency_ms=0)  # the in-flight request still sleeps its 1.5 s; the redelivery will not
    os.kill(children[0], signal.SIGKILL)
    wait_for(lambda: OrgConnection.objects.filter(pk=conn.pk, access_token_issued_at__gt=issued_before).exists(),
             timeout=30, what="the redelivered task to refresh the connection", diagnostics=w1.log)
    assert w1.alive()
    log = w1.log()
    assert "WorkerLostError" in log or "SIGKILL" in log, log[-3000:]
    assert_consistent(conn)
    assert token_shaped(rel_workers.logs()) == []


def test_a_rotation_whose_response_is_lost_ends_in_reauthorization_once_without_presenting_it_again(
        world, sim, sim_app, rel_workers):
    """Salesforce rotates the refresh token but the answer never arrives. The stored token is now rotated out;
    presenting it would revoke the family (docs/salesforce.md §3). The "in flight" mark survives the failure, so the
    retry asks Salesforce (introspection) instead of presenting it: Needs re-authorization with the honest reason,
    one audit record, one email, no reuse, no further calls, and no token in any log."""
    sim.update_app(DEMO, rotation=True)
    conn, = seed(world, sim, sim_app, 1)
    canaries = {"refresh": conn.reveal("refresh_token"), "access": conn.reveal("access_token")}
    w1 = rel_workers.start("w1")
    sim.configure(fail_rate=1.0, fail_mode="503", fail_paths=[TOKEN_PATH], fail_when="after")
    sim.clear_log()
    assert connections_refresh_sweep() == 1
    wait_for(lambda: status_of(conn) == "degraded", timeout=30, what="the lost answer to degrade the connection",
             diagnostics=w1.log)
    sim.configure(fail_rate=0.0, fail_when="before")
    assert refreshes(sim)[0]["outcome"] == "rotated" and refreshes(sim)[0]["fault"] == "503"
    assert OrgConnection.objects.get(pk=conn.pk).refresh_started_at is not None  # the attempt is unfinished

    # The retry (here: the next sweep rather than the 0-30 s backoff) vets the token instead of presenting it.
    assert connections_refresh_sweep() == 1
    wait_for(lambda: status_of(conn) == "needs_reauth", timeout=30, what="Needs re-authorization",
             diagnostics=w1.log)
    wait_for(lambda: "Subject: [Org Portal]" in w1.log(), timeout=10, what="the email", diagnostics=w1.log)
    assert [e["outcome"] for e in refreshes(sim)] == ["rotated"]  # presented once, never again: no reuse
    assert [e["path"] for e in sim.log() if e["path"] == INTROSPECT_PATH]  # asked instead
    row = OrgConnection.objects.get(pk=conn.pk)
    assert row.status_reason == refresh.INTERRUPTED_REASON and row.refresh_started_at is None

    # No loop: the sweep skips it, a (re)delivered task returns without calling Salesforce.
    calls = len(sim.log())
    assert connections_refresh_sweep() == 0
    connection_refresh_task.apply(args=[conn.pk])
    with pytest.raises(refresh.ReauthorizationRequiredError):
        refresh.connection_access_token(connection_id=conn.pk)
    assert len(sim.log()) == calls
    assert AuditEvent.objects.filter(kind="org.needs_reauth").count() == 1
    log = rel_workers.logs()
    # One message per recipient (the mail pipeline), each recipient once.
    recipients = re.findall(r"^To: (\S+)$", log, re.M)
    assert log.count("Subject: [Org Portal]") == len(recipients) == len(set(recipients)) >= 1
    assert "carol@example.com" in recipients
    assert find_leaks(log, canaries) == [] and token_shaped(log) == []


# Where the worker dies → what the row holds → what the next refresh does (docs/workers.md, "Crashes mid-refresh").
KILL_POINTS = {
    "before_call": "connected",  # nothing was presented: introspection says active, the refresh rotates as usual
    "after_answer": "needs_reauth",  # rotated at Salesforce, lost with the worker: not presented again
    "after_commit": "connected",  # stored: the next refresh presents the new token
}


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_a_worker_sigkilled_at_each_step_of_a_rotating_refresh(point, world, sim, sim_app, rel_workers, tmp_path):
    sim.update_app(DEMO, rotation=True)
    conn, = seed(world, sim, sim_app, 1)
    old = OrgConnection.objects.get(pk=conn.pk)
    old_refresh = old.reveal("refresh_token")
    doomed = rel_workers.start("doomed", pause_at=point)
    sim.clear_log()
    connection_refresh_task.delay(conn.pk)
    marker = tmp_path / "paused-doomed"
    wait_for(marker.exists, timeout=30, what=f"the worker to reach {point}", diagnostics=doomed.log)
    doomed.kill_group()  # SIGKILL to the worker and its pool: no cleanup, no ack
    wait_for(lambda: lock_holders() == 0, timeout=10, what="PostgreSQL to drop the dead worker's locks")

    row = OrgConnection.objects.get(pk=conn.pk)
    assert row.status == "connected"
    presented = [e["outcome"] for e in refreshes(sim)]
    if point == "before_call":
        assert presented == [] and row.refresh_started_at is not None
        assert row.reveal("refresh_token") == old_refresh
    elif point == "after_answer":
        assert presented == ["rotated"] and row.refresh_started_at is not None
        assert row.reveal("refresh_token") == old_refresh  # the rotated one died with the worker
    else:
        assert presented == ["rotated"] and row.refresh_started_at is None
        assert row.reveal("refresh_token") != old_refresh and row.access_token_issued_at > old.access_token_issued_at
        make_stale(conn)  # so that the next sweep refreshes it again

    # The next sweep, on a healthy worker, finishes the episode without a person.
    sim.clear_log()
    rescuer = rel_workers.start("rescuer")
    assert connections_refresh_sweep() == 1
    wait_for(lambda: not due_connections().filter(pk=conn.pk).exists(), timeout=30,
             what="the rescuer to settle the connection", diagnostics=rescuer.log)
    row = OrgConnection.objects.get(pk=conn.pk)
    assert row.status == KILL_POINTS[point], (row.status, row.status_reason)
    assert row.refresh_started_at is None
    outcomes = [e["outcome"] for e in refreshes(sim)]
    introspections = [e for e in sim.log() if e["path"] == INTROSPECT_PATH]
    assert "reused" not in outcomes  # reuse detection never fires
    if point == "before_call":
        assert len(introspections) == 1 and outcomes == ["rotated"]
        assert row.reveal("refresh_token") != old_refresh
    elif point == "after_answer":
        assert len(introspections) == 1 and outcomes == []  # the rotated-out token is not presented
        assert row.status_reason == refresh.INTERRUPTED_REASON
        wait_for(lambda: "Subject: [Org Portal]" in rescuer.log(), timeout=10, what="the email",
                 diagnostics=rescuer.log)
        recipients = re.findall(r"^To: (\S+)$", rescuer.log(), re.M)  # one message per recipient, each once
        assert rescuer.log().count("Subject: [Org Portal]") == len(recipients) == len(set(recipients))
        assert AuditEvent.objects.filter(kind="org.needs_reauth").count() == 1
    else:
        assert introspections == [] and outcomes == ["rotated"]  # a normal refresh of the stored token
    assert token_shaped(rel_workers.logs()) == []


@pytest.mark.parametrize("mode", ["503", "timeout"])
def test_a_salesforce_outage_degrades_and_the_connections_recover_by_themselves(mode, world, sim, sim_app,
                                                                               rel_workers):
    """Salesforce answers 503, or does not answer at all (the worker's read timeout, 1 s here, expires first)."""
    rows = seed(world, sim, sim_app, 3)
    pks = [c.pk for c in rows]
    rel_workers.extra_env["PORTAL_SALESFORCE_READ_TIMEOUT"] = "1"
    w1 = rel_workers.start("w1")
    sim.configure(fail_rate=1.0, fail_mode=mode, timeout_seconds=4)
    sim.clear_log()
    assert connections_refresh_sweep() == 3
    wait_for(lambda: OrgConnection.objects.filter(pk__in=pks, status="degraded").count() == 3, timeout=30,
             what="every connection to be Degraded", diagnostics=w1.log)
    for row in OrgConnection.objects.filter(pk__in=pks):
        assert row.status == "degraded" and row.refresh_failures >= 1 and row.status_reason, row.status_reason
        assert ("did not answer in time" if mode == "timeout" else "HTTP 503") in row.status_reason
        assert row.reveal("refresh_token")  # untouched and still decrypts
    assert not OrgConnection.objects.filter(pk__in=pks, status="needs_reauth").exists()
    # The sweep's batch stopped at its first failure and handed all three to connection_refresh_task: the first
    # after a backoff, the two untried at once; those failed too and are now retried with backoff.
    wait_for(lambda: "failed transiently; 2 untried handed over" in w1.log(), timeout=10, what="the batch hand-over",
             diagnostics=w1.log)
    wait_for(lambda: w1.count("Retry in") >= 2, timeout=10, what="the task's backoff retries", diagnostics=w1.log)
    faulted = [e for e in sim.log() if e["path"] == TOKEN_PATH]
    assert len(faulted) >= 3 and {e["outcome"] for e in faulted} == {f"fault:{mode}"}  # Salesforce never answered

    # Salesforce is back: the next sweep (or the pending retries, 0-30 s away) recovers every connection.
    sim.configure(fail_rate=0.0)
    assert connections_refresh_sweep() == 3  # Degraded connections are still due
    wait_for(lambda: OrgConnection.objects.filter(pk__in=pks, status="connected", refresh_failures=0).count() == 3,
             timeout=30, what="every connection to recover", diagnostics=w1.log)
    assert due_connections().filter(pk__in=pks).count() == 0
    assert AuditEvent.objects.filter(kind="org.recovered").count() == 3
    assert not AuditEvent.objects.filter(kind="org.needs_reauth").exists()
    assert "needs re-authorization" not in w1.log()
    assert [e["outcome"] for e in refreshes(sim)] == ["ok"] * 3
    assert token_shaped(rel_workers.logs()) == []


def test_a_redis_outage_keeps_the_web_and_the_api_working_and_one_sweep_catches_up(
        world, sim, sim_app, rel_redis, rel_workers, settings, client, caplog, monkeypatch):
    from portal.accounts.models import Membership
    from portal.accounts.tokens import api_token_create

    settings.CACHES = {"default": {"BACKEND": "portal.lib.cache.FallbackRedisCache", "LOCATION": rel_redis.cache_url,
                                   "KEY_PREFIX": "reliability",
                                   "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}}}
    handed, *due = seed(world, sim, sim_app, 3)
    _, raw = api_token_create(actor=Membership.objects.get(team=world.team, user=world.owner), kind="personal",
                              name="ci")
    w1 = rel_workers.start("w1")
    sim.clear_log()

    rel_redis.stop()  # broker and cache gone
    caplog.set_level(logging.INFO)
    client.force_login(world.owner)
    page = client.get(f"/teams/{world.team.code}/orgs/")
    assert page.status_code == 200 and handed.username in page.content.decode()
    response = client.post(f"/api/v1/orgs/{handed.username}/access-token", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 200, response.content
    row = OrgConnection.objects.get(pk=handed.pk)
    assert response.json()["access_token"] == row.reveal("access_token") != handed.reveal("access_token")
    assert row.access_token_issued_at > handed.access_token_issued_at  # refreshed synchronously, no broker
    assert [e["outcome"] for e in refreshes(sim)] == ["ok"]
    # Rate limiting neither fails open nor closed: each web process counts in its own memory meanwhile.
    settings.PORTAL_HANDOUT_RATE_PER_MINUTE = 2
    monkeypatch.setattr("portal.lib.ratelimit.time", SimpleNamespace(time=lambda: 600_000_010.0))  # one fixed window
    statuses = [client.post(f"/api/v1/orgs/{handed.username}/access-token", HTTP_AUTHORIZATION=f"Bearer {raw}")
                for _ in range(3)]
    assert [r.status_code for r in statuses] == [200, 200, 429] and statuses[2]["Retry-After"]

    assert connections_refresh_sweep() == 2  # does not raise
    messages = [r.getMessage() for r in caplog.records]
    assert any("could not enqueue orgs.tasks.connections_refresh_batch_task" in m for m in messages), messages
    assert any("Redis unreachable" in m for m in messages), messages  # the cache fell back, loudly
    assert set(due_connections().values_list("pk", flat=True)) == {c.pk for c in due}
    assert [e["outcome"] for e in refreshes(sim)] == ["ok"]  # nothing ran behind the sweep's back

    # Redis returns (empty: --save ""): the same worker reconnects and one sweep refreshes what is due.
    rel_redis.start()
    wait_for(lambda: w1.count("Connected to redis") >= 2, timeout=40, what="the worker to reconnect",
             diagnostics=w1.log)
    assert connections_refresh_sweep() == 2
    wait_for(lambda: not due_connections().exists(), timeout=30, what="the due connections to be refreshed",
             diagnostics=w1.log)
    assert w1.alive()
    assert OrgConnection.objects.filter(status="connected").count() == 3
    assert sorted(e["outcome"] for e in refreshes(sim)) == ["ok"] * 3
    assert token_shaped(rel_workers.logs() + "\n".join(messages)) == []


@pytest.fixture
def db_proxy(transactional_db):
    """This process's Django connection goes through a TcpProxy to the shared PostgreSQL (never stopped itself)."""
    from django.db import connections

    conn = connections["default"]
    saved = {"HOST": conn.settings_dict["HOST"], "PORT": conn.settings_dict["PORT"]}
    proxy = TcpProxy((saved["HOST"] or "127.0.0.1", int(saved["PORT"] or 5432)))
    conn.close()
    conn.settings_dict.update(HOST="127.0.0.1", PORT=str(proxy.port))
    try:
        yield proxy
    finally:
        conn.close()
        conn.settings_dict.update(saved)
        proxy.stop()


def test_postgresql_restarting_answers_503_with_retry_after_and_changes_no_connection(world, sim, sim_app,
                                                                                       db_proxy, settings):
    from django.db import connections
    from django.test import Client

    from portal.accounts.models import Membership
    from portal.accounts.tokens import api_token_create

    settings.PORTAL_OUTAGE_RETRY_AFTER = 17
    rows = seed(world, sim, sim_app, 2)  # stale: a hand-out would refresh
    _, raw = api_token_create(actor=Membership.objects.get(team=world.team, user=world.owner), kind="personal",
                              name="ci")
    web = Client(raise_request_exception=False)
    web.force_login(world.owner)
    api = Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Bearer {raw}")
    orgs_page, hand_out = f"/teams/{world.team.code}/orgs/", f"/api/v1/orgs/{rows[0].username}/access-token"
    assert web.get(orgs_page).status_code == 200
    before = {c.pk: (c.status, c.refresh_started_at) for c in OrgConnection.objects.all()}
    sim.clear_log()

    db_proxy.cut()  # PostgreSQL "restarts": open connections drop, new ones are refused
    response = api.post(hand_out)
    assert response.status_code == 503 and response["Retry-After"] == "17", response.content
    assert response.json()["error"] == "service_unavailable" and "database" in response.json()["message"]
    response = api.get("/api/v1/orgs")
    assert response.status_code == 503 and response["Content-Type"] == "application/problem+json"
    page = web.get(orgs_page)
    assert page.status_code == 503 and page["Retry-After"] == "17" and page["Content-Type"].startswith("text/html")
    assert "cannot reach its database" in page.content.decode()
    assert refreshes(sim) == []  # nothing was presented to Salesforce that could not be stored

    db_proxy.restore()
    connections["default"].close()
    assert web.get(orgs_page).status_code == 200
    response = api.post(hand_out)
    assert response.status_code == 200, response.content
    after = {c.pk: (c.status, c.refresh_started_at) for c in OrgConnection.objects.all()}
    assert after == before  # connected, no refresh left in flight
    assert [e["outcome"] for e in refreshes(sim)] == ["ok"]


def test_a_postgresql_restart_under_the_workers_changes_no_connection_and_the_next_sweep_catches_up(
        world, sim, sim_app, rel_workers):
    """The worker reaches PostgreSQL through a TcpProxy (the test process does not): cut, then restored."""
    from django.db import connection as db

    rows = seed(world, sim, sim_app, 2)
    pks = [c.pk for c in rows]
    host, port = db.settings_dict["HOST"] or "127.0.0.1", int(db.settings_dict["PORT"] or 5432)
    proxy = TcpProxy((host, port))
    try:
        rel_workers.extra_env["DATABASE_URL"] = (f"postgres://{db.settings_dict['USER']}@127.0.0.1:{proxy.port}/"
                                                 f"{db.settings_dict['NAME']}")
        w1 = rel_workers.start("w1")
        sim.clear_log()
        proxy.cut()
        assert connections_refresh_sweep() == 2
        wait_for(lambda: "OperationalError" in w1.log() and "Retry in" in w1.log(), timeout=30,
                 what="the worker's tasks to fail on the database and be retried", diagnostics=w1.log)
        assert refreshes(sim) == []  # the lock is taken before Salesforce is called: nothing presented
        assert set(OrgConnection.objects.filter(pk__in=pks).values_list("status", flat=True)) == {"connected"}
        assert not OrgConnection.objects.filter(pk__in=pks, refresh_started_at__isnull=False).exists()
        assert w1.alive()

        proxy.restore()
        assert connections_refresh_sweep() == 2  # beat's next sweep; no manual step
        wait_for(lambda: not due_connections().filter(pk__in=pks).exists(), timeout=40,
                 what="the connections to be refreshed after the restart", diagnostics=w1.log)
        assert set(OrgConnection.objects.filter(pk__in=pks).values_list("status", flat=True)) == {"connected"}
        assert [e["outcome"] for e in refreshes(sim)] == ["ok", "ok"]
        assert not AuditEvent.objects.filter(kind="org.needs_reauth").exists()
        assert token_shaped(w1.log()) == []
    finally:
        rel_workers.stop_all()
        proxy.stop()
