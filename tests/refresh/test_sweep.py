"""The beat sweep: due selection, exactly-once refresh under concurrent sweeps, and broker messages hold only ids."""

import base64
import json

import pytest
from django.conf import settings

from orgs.models import OrgConnection
from orgs.services.sweeps import connections_refresh_sweep, due_connections
from tests.canaries import find_leaks
from tests.concurrency import at_once
from tests.workers.reliability_procs import seed


def test_due_selection(world, sim, sim_app):
    stale, = seed(world, sim, sim_app, 1)
    fresh, = seed(world, sim, sim_app, 1, stale=False)
    broken, = seed(world, sim, sim_app, 1)
    OrgConnection.objects.filter(pk=broken.pk).update(status="needs_reauth")
    assert set(due_connections().values_list("pk", flat=True)) == {stale.pk}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_sweeps_refresh_each_due_connection_exactly_once(world, sim, sim_app):
    sim.update_app("OrgPortalDemo", rotation=True)
    connections = seed(world, sim, sim_app, 1000)
    sim.clear_log()
    counts, errors = at_once(2, connections_refresh_sweep)  # tasks run eagerly after commit, in each thread
    assert errors == [] and sum(counts) >= 1000
    refreshes = [e for e in sim.log() if e.get("grant_type") == "refresh_token"]
    assert len(refreshes) == 1000 and {e["outcome"] for e in refreshes} == {"rotated"}
    assert len({e["token_sha256"] for e in refreshes}) == 1000  # no refresh token presented twice
    assert OrgConnection.objects.filter(pk__in=[c.pk for c in connections], status="connected").count() == 1000
    assert due_connections().count() == 0


def sweep_onto_redis(capture_on_commit) -> tuple[int, list[bytes]]:
    """Run one sweep publishing to the real Redis broker (not eagerly); (connections due, raw messages in publish
    order)."""
    import redis

    from portal.celery import app

    broker = redis.Redis.from_url(settings.TEST_REDIS_URL)
    broker.delete("celery")
    old = app.conf.task_always_eager, app.conf.broker_url
    app.conf.task_always_eager, app.conf.broker_url = False, settings.TEST_REDIS_URL
    try:
        with capture_on_commit(execute=True):
            due = connections_refresh_sweep()
        return due, list(reversed(broker.lrange("celery", 0, -1)))  # LPUSHed: newest first
    finally:
        app.conf.task_always_eager, app.conf.broker_url = old
        broker.delete("celery")


@pytest.mark.redis
def test_broker_messages_carry_ids_only(world, sim, sim_app, django_capture_on_commit_callbacks):
    rows = seed(world, sim, sim_app, 3)
    canaries = {f"refresh{i}": c.reveal("refresh_token") for i, c in enumerate(rows)}
    canaries.update({f"access{i}": c.reveal("access_token") for i, c in enumerate(rows)})
    due, raw = sweep_onto_redis(django_capture_on_commit_callbacks)
    assert due == 3 and len(raw) == 1  # one batch of up to REFRESH_BATCH ids
    for message in raw:
        envelope = json.loads(message)
        body = base64.b64decode(envelope["body"]).decode()
        args, kwargs, _ = json.loads(body)
        assert envelope["headers"]["task"] == "orgs.tasks.connections_refresh_batch_task"
        assert args == [sorted(c.pk for c in rows)] and kwargs == {}  # ids only, oldest first
        assert find_leaks(message.decode() + body, canaries) == []


@pytest.mark.redis
def test_the_sweep_publishes_batches_of_refresh_batch_ids(world, sim, sim_app, django_capture_on_commit_callbacks):
    from orgs.services.sweeps import REFRESH_BATCH

    rows = seed(world, sim, sim_app, REFRESH_BATCH * 2 + 3)
    due, raw = sweep_onto_redis(django_capture_on_commit_callbacks)
    assert due == len(rows)
    batches = [json.loads(base64.b64decode(json.loads(m)["body"]))[0][0] for m in raw]
    assert [len(b) for b in batches] == [REFRESH_BATCH, REFRESH_BATCH, 3]
    assert sum(batches, []) == [c.pk for c in rows]  # all of them, once, oldest first (seeded in order)
