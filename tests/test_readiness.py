"""/readyz (portal/health.py): the database, the Redis cache, the broker, pending migrations and beat's freshness;
/healthz stays liveness. Outages are simulated with a port nothing listens on, never by stopping a shared service."""

import time

import pytest
from django.core.cache import cache

from orgs.services.sweeps import LAST_SWEEP_KEY
from portal import health
from tests.test_secrets_in_logs import free_port


@pytest.fixture(autouse=True)
def _fresh_probes():
    health._redis_clients.clear()
    yield
    health._redis_clients.clear()


def ready(client):
    response = client.get("/readyz", HTTP_HOST="10.0.0.7:8000")  # an internal host, not in ALLOWED_HOSTS
    assert response["Cache-Control"] == "no-store"
    return response.status_code, response.json()


@pytest.mark.django_db
def test_ready_when_everything_answers_and_beat_swept_recently(client):
    cache.set(LAST_SWEEP_KEY, time.time() - 10, timeout=None)
    status, body = ready(client)
    assert status == 200, body
    assert body["status"] == "ok" and {"database", "broker", "migrations", "beat"} <= set(body)


@pytest.mark.redis
@pytest.mark.django_db
def test_not_ready_when_the_broker_is_unreachable(client, settings):
    cache.set(LAST_SWEEP_KEY, time.time(), timeout=None)
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{free_port()}/0"
    status, body = ready(client)
    assert status == 503 and body["broker"] == "error" and body["database"] == "ok", body
    assert client.get("/healthz").status_code == 200  # liveness does not depend on Redis


@pytest.mark.redis
@pytest.mark.django_db
def test_not_ready_when_the_redis_cache_is_unreachable(client, settings):
    cache.set(LAST_SWEEP_KEY, time.time(), timeout=None)
    settings.CACHES = {"default": {**settings.CACHES["default"],
                                   "LOCATION": f"redis://127.0.0.1:{free_port()}/1"}}
    status, body = ready(client)
    assert status == 503 and body["cache"] == "error", body


@pytest.mark.django_db
def test_not_ready_when_beat_has_not_swept_for_twice_its_interval(client, settings, monkeypatch):
    settings.PORTAL_REFRESH_SWEEP_EVERY = 300
    cache.set(LAST_SWEEP_KEY, time.time() - 599, timeout=None)
    assert ready(client)[0] == 200
    cache.set(LAST_SWEEP_KEY, time.time() - 601, timeout=None)
    status, body = ready(client)
    assert status == 503 and body["beat"] == "error", body
    # No sweep recorded yet: one grace period after start-up, then not ready.
    cache.delete(LAST_SWEEP_KEY)
    monkeypatch.setattr(health, "_STARTED", time.time() - 10)
    assert ready(client)[0] == 200
    monkeypatch.setattr(health, "_STARTED", time.time() - 601)
    assert ready(client)[1]["beat"] == "error"


@pytest.mark.django_db
def test_not_ready_while_migrations_are_pending(client, monkeypatch):
    from django.db.migrations.executor import MigrationExecutor

    cache.set(LAST_SWEEP_KEY, time.time(), timeout=None)
    monkeypatch.setattr(health, "_migrations_applied", False)
    monkeypatch.setattr(MigrationExecutor, "migration_plan", lambda self, targets: [("a migration", False)])
    status, body = ready(client)
    assert status == 503 and body["migrations"] == "error", body


@pytest.mark.django_db
def test_a_sweep_records_its_time(client):
    from orgs.services.sweeps import connections_refresh_sweep, refresh_sweep_last_at

    cache.delete(LAST_SWEEP_KEY)
    connections_refresh_sweep()
    assert time.time() - refresh_sweep_last_at() < 5
