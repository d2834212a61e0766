"""Test settings: the production settings file, fed a test environment.

Services: with CI=true the suite needs the real PostgreSQL, Redis and Chromium and stops loudly when one is missing.
Without CI it falls back (SQLite, in-process cache and broker, no browser tests) and prints a notice for each.
"""

import os
import shutil
import sys
import tempfile

CI = os.environ.get("CI", "").strip().lower() in {"1", "true", "yes", "on"}
_notices: list[str] = []


class MissingServiceError(RuntimeError):
    pass


def _unavailable(service: str, detail: str) -> None:
    if CI:
        raise MissingServiceError(f"CI=true but {service} is not usable: {detail}")
    _notices.append(f"{service} unavailable ({detail}); falling back")


def _postgres_url() -> str | None:
    url = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL") or \
        "postgres://postgres@127.0.0.1:5432/test"
    try:
        import psycopg

        psycopg.connect(url.replace("postgres://", "postgresql://", 1), connect_timeout=3).close()
        return url
    except Exception as exc:  # noqa: BLE001
        _unavailable("PostgreSQL", f"{url}: {str(exc).strip().splitlines()[0] if str(exc).strip() else exc}")
        return None


def _redis_url() -> str | None:
    url = os.environ.get("TEST_REDIS_URL") or "redis://127.0.0.1:6379/14"
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
        return url
    except Exception as exc:  # noqa: BLE001
        _unavailable("Redis", f"{url}: {exc}")
        return None


def _chromium() -> str | None:
    path = os.environ.get("PORTAL_TEST_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        _unavailable("Chromium", "no chromium on PATH (apt-get install chromium); browser tests skipped")
    return path


def _next_db(url: str) -> str:
    base, _, db = url.rpartition("/")
    return f"{base}/{(int(db) if db.isdigit() else 0) + 1}"


TEST_POSTGRES_URL = _postgres_url()
TEST_REDIS_URL = _redis_url()
TEST_CHROMIUM = _chromium()
TEST_RUN_DIR = tempfile.mkdtemp(prefix="portal-test-")

os.environ.update(
    {
        "DEBUG": "false",
        "SECRET_KEY": "test-secret-key-" + "x7Gq2LmZ9vR4tW8yB1nC5dF3hJ6kP0sA" * 2,
        "ALLOWED_HOSTS": "localhost,127.0.0.1,testserver",
        "PORTAL_BASE_URL": "http://localhost:8000",
        "DATABASE_URL": TEST_POSTGRES_URL or f"sqlite:///{TEST_RUN_DIR}/test.sqlite3",
        # Production mode requires a broker URL; without Redis the cache and broker are replaced below.
        "REDIS_URL": TEST_REDIS_URL or "redis://127.0.0.1:6379/14",
        # The cache lives in the database after the broker's (14 → 15), so parallel runs with their own
        # TEST_REDIS_URL never clear each other's cache.
        "REDIS_CACHE_URL": os.environ.get("TEST_REDIS_CACHE_URL") or _next_db(TEST_REDIS_URL or "redis://127.0.0.1:6379/14"),
        "PORTAL_CACHE_PREFIX": f"portal-test-{os.getpid()}",
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        "PORTAL_ENCRYPTION_KEYS": "test1:" + "A" * 42 + "Q,test0:" + "B" * 42 + "g",
        "PORTAL_RUN_DIR": TEST_RUN_DIR,
        "PORTAL_CLI_DIR": f"{TEST_RUN_DIR}/cli",  # built once per session by the cli_built fixture
        "CELERY_TASK_ALWAYS_EAGER": "true",
        # The suite's production orgs hold standing grants; tests/access_requests sets per-connection policies and
        # tests/access_requests/test_default.py proves the production default (on request) on its own.
        "PORTAL_ACCESS_ON_REQUEST_PRODUCTION": "false",
    }
)

from portal.settings import *  # noqa: E402,F403
from portal.settings import CACHES as _CACHES  # noqa: E402

if TEST_REDIS_URL is None:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CELERY_BROKER_URL = "memory://"
else:
    CACHES = _CACHES
if TEST_POSTGRES_URL is None:
    DATABASES["default"]["TEST"] = {"NAME": f"{TEST_RUN_DIR}/test-db.sqlite3"}  # noqa: F405 - shared with live servers

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast; tests don't measure hashing
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

for _notice in _notices:
    sys.stderr.write(f"NOTICE: {_notice}\n")
