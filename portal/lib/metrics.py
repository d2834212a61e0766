"""Prometheus metrics the code moves (prometheus-client). Served, with the values read at scrape time, by
portal/health.py at /metrics for internal hosts only.

Under gunicorn (and the Celery worker's prefork pool) set PROMETHEUS_MULTIPROC_DIR to an empty directory: each
process then writes its values there and a scrape adds them up (portal/gunicorn_conf.py cleans it at start-up and
marks exited workers dead).
"""

import os

from prometheus_client import REGISTRY as DEFAULT_REGISTRY
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess

if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # any process of the service (manage.py too) can write its values
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

HANDOUTS = Counter("portal_handouts", "Access-token hand-outs by channel and outcome (ok or the error code).",
                   ["channel", "outcome"])
REFRESHES = Counter("portal_refreshes", "Access-token refreshes/mints at Salesforce by outcome.", ["outcome"])
REFRESH_SECONDS = Histogram("portal_refresh_seconds", "Time of one refresh/mint round trip to Salesforce.",
                            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))


def handout_count(channel: str, outcome: str) -> None:
    HANDOUTS.labels(channel, outcome).inc()


def refresh_observe(outcome: str, seconds: float) -> None:
    REFRESHES.labels(outcome).inc()
    REFRESH_SECONDS.observe(seconds)


def exposition(*extra_collectors) -> bytes:
    """The text exposition: this process's metrics (or every process's, in multiprocess mode) plus `extra_collectors`
    (read at scrape time)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        text = generate_latest(registry)
    else:
        text = generate_latest(DEFAULT_REGISTRY)
    if extra_collectors:
        scrape = CollectorRegistry(auto_describe=False)
        for collector in extra_collectors:
            scrape.register(collector)
        text += generate_latest(scrape)
    return text
