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

# gunicorn's own loggers get the portal's redaction filter on every handler (docs/security.md, "Secrets in logs"):
# it masks token-shaped values and the OAuth callback's ?code=…&state=… in the access log's request line and
# referrer. (Inside the workers Django's LOGGING configures everything else, with the same filter.)
_REDACT = ["redact"]
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "portal.lib.redaction.RedactSecretsFilter"}},
    "formatters": {
        "generic": {"format": "%(asctime)s [%(process)d] [%(levelname)s] %(message)s",
                    "datefmt": "[%Y-%m-%d %H:%M:%S %z]"},
        "access": {"format": "%(message)s"},
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

def on_starting(server):
    """Before any worker: refuse to start when the encryption keyring cannot decrypt this database's known-answer
    values (one line naming PORTAL_ENCRYPTION_KEYS, exit status 2; portal/accounts/keycheck.py)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django
    from django.db import connections

    django.setup()
    from portal.accounts.keycheck import keyring_verify_or_exit

    try:
        keyring_verify_or_exit()
    finally:
        connections.close_all()  # the workers are forked from this process: no shared database connection
