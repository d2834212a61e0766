"""Probes and metrics, answered by a middleware at the very top of the stack: probes come from inside the container
or the load balancer with an internal Host header and over plain HTTP, so host validation and the HTTPS redirect
must not apply.

`/healthz`  liveness: the database answers. Nothing secret.
`/readyz`   readiness: the database, the Redis cache, the Celery broker, no pending migrations, and beat alive (the
            refresh sweep ran within twice PORTAL_REFRESH_SWEEP_EVERY). 200 or 503, one word per check.
`/metrics`  Prometheus text, for internal hosts only: the Host is one of PORTAL_METRICS_HOSTS, no forwarding
            header, and the peer is not a trusted reverse proxy. Anything else falls through to the normal stack
            (a 404, or the host check's 400), so the public site never serves it.
"""

import ipaddress
import logging
import time

import redis
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import Count
from django.http import HttpResponse, JsonResponse
from prometheus_client.core import GaugeMetricFamily

from portal.lib.metrics import exposition

HEALTH_PATH = "/healthz"
READY_PATH = "/readyz"
METRICS_PATH = "/metrics"
PROBE_TIMEOUT = 1.0  # seconds, per Redis round trip
_STARTED = time.time()
log = logging.getLogger(__name__)


def _health_response() -> JsonResponse:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:  # noqa: BLE001 - any database failure means "not healthy"
        response = JsonResponse({"status": "error", "database": "unreachable"}, status=503)
    else:
        response = JsonResponse({"status": "ok"})
    response["Cache-Control"] = "no-store"
    return response


# -- readiness ---------------------------------------------------------------------------------------------------------

_redis_clients: dict[str, redis.Redis] = {}
_migrations_applied = False  # once true it stays true for this process (new migrations come with new code)


def _redis(url: str) -> redis.Redis:
    client = _redis_clients.get(url)
    if client is None:
        client = _redis_clients[url] = redis.Redis.from_url(url, socket_connect_timeout=PROBE_TIMEOUT,
                                                            socket_timeout=PROBE_TIMEOUT)
    return client


def _check_database() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return True


def _cache_url() -> str | None:
    cache = settings.CACHES.get("default", {})
    location = cache.get("LOCATION")
    return location if isinstance(location, str) and location.startswith(("redis://", "rediss://")) else None


def _check_cache() -> bool:
    return bool(_redis(_cache_url()).ping())


def _check_broker() -> bool:
    url = settings.CELERY_BROKER_URL
    if url.startswith(("redis://", "rediss://")):
        return bool(_redis(url).ping())
    from kombu import Connection

    with Connection(url, transport_options=getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}),
                    connect_timeout=PROBE_TIMEOUT) as conn:
        conn.ensure_connection(max_retries=1)
    return True


def _check_migrations() -> bool:
    global _migrations_applied
    if not _migrations_applied:
        from django.db.migrations.executor import MigrationExecutor

        executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
        _migrations_applied = not executor.migration_plan(executor.loader.graph.leaf_nodes())
    return _migrations_applied


def _check_beat() -> bool:
    from orgs.services.sweeps import refresh_sweep_last_at

    limit = 2 * settings.PORTAL_REFRESH_SWEEP_EVERY
    last = refresh_sweep_last_at()
    if last is None:  # no sweep yet: beat gets one grace period after this process started
        return time.time() - _STARTED < limit
    return time.time() - last < limit


def readiness() -> dict[str, bool]:
    checks = {"database": _check_database, "broker": _check_broker, "migrations": _check_migrations,
              "beat": _check_beat}
    if _cache_url():
        checks["cache"] = _check_cache
    results = {}
    for name, check in checks.items():
        try:
            results[name] = bool(check())
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
            log.warning("readiness: %s failed (%s)", name, type(exc).__name__)
            results[name] = False
    return results


def _ready_response() -> JsonResponse:
    results = readiness()
    ok = all(results.values())
    body = {"status": "ok" if ok else "error", **{name: "ok" if good else "error" for name, good in results.items()}}
    response = JsonResponse(body, status=200 if ok else 503)
    response["Cache-Control"] = "no-store"
    return response


# -- metrics -----------------------------------------------------------------------------------------------------------

def _host_name(request) -> str:
    host = request.META.get("HTTP_HOST", "").strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def metrics_allowed(request) -> bool:
    if _host_name(request) not in settings.PORTAL_METRICS_HOSTS:
        return False
    if any(name in request.META for name in ("HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_HOST", "HTTP_FORWARDED")):
        return False
    try:
        peer = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return not any(peer in network for network in settings.PORTAL_TRUSTED_PROXIES)


class StateCollector:
    """Values read at scrape time: connections by status, the Celery queue's depth, the refresh sweep's age."""

    def collect(self):
        from orgs.models import OrgConnection
        from orgs.services.sweeps import refresh_sweep_last_at

        try:
            counts = dict(OrgConnection.objects.values_list("status").annotate(n=Count("pk")).order_by())
        except Exception as exc:  # noqa: BLE001 - the database is down: the other metrics still count
            log.warning("metrics: connections by status unavailable (%s)", type(exc).__name__)
        else:
            family = GaugeMetricFamily("portal_connections", "Org connections by status.", labels=["status"])
            for status in OrgConnection.Status.values:
                family.add_metric([status], counts.get(status, 0))
            yield family
        url = settings.CELERY_BROKER_URL
        if url.startswith(("redis://", "rediss://")):
            queue = getattr(settings, "CELERY_TASK_DEFAULT_QUEUE", "celery")
            try:
                depth = _redis(url).llen(queue)
            except Exception as exc:  # noqa: BLE001
                log.warning("metrics: queue depth unavailable (%s)", type(exc).__name__)
            else:
                yield GaugeMetricFamily("portal_queue_depth", "Tasks waiting in the Celery queue.", value=depth)
        try:
            last = refresh_sweep_last_at()
        except Exception:  # noqa: BLE001
            last = None
        if last is not None:
            yield GaugeMetricFamily("portal_refresh_sweep_age_seconds", "Seconds since the last refresh sweep ran.",
                                    value=max(0.0, time.time() - last))


def _metrics_response() -> HttpResponse:
    response = HttpResponse(exposition(StateCollector()), content_type="text/plain; version=0.0.4; charset=utf-8")
    response["Cache-Control"] = "no-store"
    return response


class HealthCheckMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method in ("GET", "HEAD"):
            if request.path == HEALTH_PATH:
                return _health_response()
            if request.path == READY_PATH:
                return _ready_response()
            if request.path == METRICS_PATH and metrics_allowed(request):
                return _metrics_response()
        return self.get_response(request)
