"""gunicorn settings for the `web` service (docker-compose.yml). Everything tunable comes from the environment."""

import multiprocessing
import os

bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"  # noqa: S104 - container port
workers = int(os.environ.get("WEB_CONCURRENCY", min(2 * multiprocessing.cpu_count() + 1, 8)))
threads = int(os.environ.get("WEB_THREADS", "1"))
timeout = int(os.environ.get("WEB_TIMEOUT", "30"))
graceful_timeout = 20
accesslog = "-"
errorlog = "-"
# Trust X-Forwarded-* only from the reverse proxy in front of the container.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")

# The access log ends with the request id (the X-Request-ID response header, portal/lib/logs.py).
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %({x-request-id}o)s'
_JSON = os.environ.get("PORTAL_LOG_FORMAT", "text").strip().lower() == "json"

# gunicorn's own loggers get the portal's redaction filter on every handler (docs/security.md, "Secrets in logs"):
# it masks token-shaped values and the OAuth callback's ?code=…&state=… in the access log's request line and
# referrer. (Inside the workers Django's LOGGING configures everything else, with the same filter.)
# PORTAL_LOG_FORMAT=json: every handler writes JSON lines, still behind the redaction filter.
_REDACT = ["request_id", "redact"]
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "portal.lib.logs.RequestIdFilter"},
                "redact": {"()": "portal.lib.redaction.RedactSecretsFilter"}},
    "formatters": {
        "generic": {"format": "%(asctime)s [%(process)d] [%(levelname)s] %(message)s",
                    "datefmt": "[%Y-%m-%d %H:%M:%S %z]"},
        "access": {"format": "%(message)s"},
    } if not _JSON else {
        "generic": {"()": "portal.lib.logs.RedactingJsonFormatter",
                    "fmt": "%(asctime)s %(levelname)s %(name)s %(process)d %(message)s"},
        "access": {"()": "portal.lib.logs.RedactingJsonFormatter",
                   "fmt": "%(asctime)s %(levelname)s %(name)s %(request_id)s %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "generic", "stream": "ext://sys.stdout",
                    "filters": _REDACT},
        "error_console": {"class": "logging.StreamHandler", "formatter": "generic", "stream": "ext://sys.stderr",
                          "filters": _REDACT},
        "access_console": {"class": "logging.StreamHandler", "formatter": "access", "stream": "ext://sys.stdout",
                           "filters": _REDACT},
    },
    "root": {"level": "INFO", "handlers": ["console"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["error_console"], "propagate": False,
                           "qualname": "gunicorn.error"},
        "gunicorn.access": {"level": "INFO", "handlers": ["access_console"], "propagate": False,
                            "qualname": "gunicorn.access"},
    },
}

def _prepare_metrics_dir() -> None:
    """PROMETHEUS_MULTIPROC_DIR (portal/lib/metrics.py): every worker writes its metrics there; a new master starts
    from an empty directory, so counters of a previous run are not added to this one's."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        os.makedirs(path, exist_ok=True)
        for name in os.listdir(path):
            if name.endswith(".db"):
                os.unlink(os.path.join(path, name))


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def on_starting(server):
    """Before any worker: refuse to start when the encryption keyring cannot decrypt this database's known-answer
    values (one line naming PORTAL_ENCRYPTION_KEYS, exit status 2; portal/accounts/keycheck.py)."""
    _prepare_metrics_dir()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django
    from django.db import connections

    django.setup()
    from portal.accounts.keycheck import keyring_verify_or_exit

    try:
        keyring_verify_or_exit()
    finally:
        connections.close_all()  # the workers are forked from this process: no shared database connection
