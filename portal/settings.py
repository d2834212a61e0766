"""Org Portal settings: one env-driven file.

Every setting read here is documented in `.env.example`. `DEBUG=true` is development mode: safe local defaults
(SQLite, console email, no Redis needed). `DEBUG` unset or false is production mode: each required setting must be
present and safe, or start-up stops with a one-line message naming it (see `_require`).
"""

import ipaddress
import os
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
RUN_DIR = Path(os.environ.get("PORTAL_RUN_DIR", BASE_DIR / ".run"))


# -- env helpers ---------------------------------------------------------------------------------------------------

class _ConfigError(Exception):
    pass


def _env(name: str, default: str | None = None) -> str | None:
    """Read NAME, or the contents of the file named by NAME_FILE (for Docker/Kubernetes secrets)."""
    file_name = os.environ.get(f"{name}_FILE")
    if file_name:
        try:
            return Path(file_name).read_text().strip()
        except OSError as exc:
            raise _ConfigError(f"{name}_FILE: cannot read {file_name} ({exc.strerror})") from None
    value = os.environ.get(name)
    return default if value is None or value == "" else value


def _env_bool(name: str, default: bool) -> bool:
    value = _env(name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise _ConfigError(f"{name}: expected true or false, got {value!r}")


def _env_int(name: str, default: int) -> int:
    value = _env(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise _ConfigError(f"{name}: expected a whole number, got {value!r}") from None


def _env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in (_env(name, default) or "").replace(" ", ",").split(",") if item.strip()]


def _admins(name: str) -> list[tuple[str, str]]:
    """NAME="Ada <ada@example.com>,ops@example.com" → [("Ada", "ada@example.com"), ("", "ops@example.com")]."""
    from email.utils import getaddresses

    raw = _env(name, "") or ""
    admins = getaddresses([raw]) if raw.strip() else []
    for _, address in admins:
        if address.count("@") != 1 or " " in address:
            raise _ConfigError(f"{name}: not an e-mail address list (\"Name <a@example.com>,b@example.com\")")
    return admins


def _parse_networks(name: str, items: list[str]) -> tuple:
    networks = []
    for item in items:
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise _ConfigError(f"{name}: {item!r} is not an IP address or network (e.g. 10.0.0.1 or 10.0.0.0/24)") \
                from None
    return tuple(networks)


def _is_loopback(host: str) -> bool:
    if host in {"localhost", "testserver"}:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _fail(message: str) -> None:
    # One line on stderr, no traceback: a configuration mistake is not a crash.
    sys.stderr.write(f"Org Portal configuration error: {message}\n")
    raise SystemExit(2)


try:
    DEBUG = _env_bool("DEBUG", False)
    PRODUCTION = not DEBUG

    def _require(name: str, value: str | None, why: str = "is required in production (DEBUG=false)") -> str:
        if not value:
            raise _ConfigError(f"{name} {why}")
        return value

    # -- core ------------------------------------------------------------------------------------------------------
    SECRET_KEY = _env("SECRET_KEY")
    if PRODUCTION:
        _require("SECRET_KEY", SECRET_KEY)
        if len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5 or SECRET_KEY.startswith("django-insecure"):
            raise _ConfigError("SECRET_KEY is unsafe: use at least 50 random characters (see .env.example)")
    elif not SECRET_KEY:
        SECRET_KEY = "django-insecure-development-only-key-never-use-in-production"  # noqa: S105

    PORTAL_BASE_URL = (_env("PORTAL_BASE_URL") or ("" if PRODUCTION else "http://127.0.0.1:8000")).rstrip("/")
    _base = urlsplit(PORTAL_BASE_URL) if PORTAL_BASE_URL else None
    if PRODUCTION:
        _require("PORTAL_BASE_URL", PORTAL_BASE_URL)
        if _base.scheme not in {"http", "https"} or not _base.hostname or _base.path not in {"", "/"}:
            raise _ConfigError("PORTAL_BASE_URL must look like https://portal.example.com (no path)")
        if _base.scheme == "http" and not _is_loopback(_base.hostname):
            raise _ConfigError("PORTAL_BASE_URL must use https (plain http is accepted for loopback hosts only)")
    PORTAL_HTTPS = bool(_base and _base.scheme == "https")

    ALLOWED_HOSTS = _env_list("ALLOWED_HOSTS")
    if not ALLOWED_HOSTS:
        if PRODUCTION:
            raise _ConfigError("ALLOWED_HOSTS is required in production (DEBUG=false)")
        ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]
    CSRF_TRUSTED_ORIGINS = [f"{_base.scheme}://{_base.netloc}"] if _base else []

    # -- database ---------------------------------------------------------------------------------------------------
    DATABASE_URL = _env("DATABASE_URL")
    if PRODUCTION:
        _require("DATABASE_URL", DATABASE_URL)
    DATABASE_URL = DATABASE_URL or f"sqlite:///{RUN_DIR / 'db.sqlite3'}"
    try:
        DATABASES = {
            "default": dj_database_url.parse(
                DATABASE_URL,
                conn_max_age=_env_int("DATABASE_CONN_MAX_AGE", 60),
                conn_health_checks=True,
            )
        }
    except ValueError as exc:
        raise _ConfigError(f"DATABASE_URL is not a database URL ({exc})") from None
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        DATABASES["default"]["ENGINE"] = "portal.lib.postgres"  # Django's backend, with a health check without SELECT 1
        # Fail fast instead of hanging when PostgreSQL is unreachable.
        DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
        # Server-side binding plus a prepare threshold: psycopg prepares a statement on its 5th use in a connection,
        # so PostgreSQL stops re-planning the API hot path's few statements (about 40% of their time). Set
        # DATABASE_PREPARE_THRESHOLD=off behind a pooler that cannot keep prepared statements.
        DATABASES["default"]["OPTIONS"].setdefault("server_side_binding", _env_bool("DATABASE_SERVER_SIDE_BINDING",
                                                                                    True))
        DATABASES["default"]["OPTIONS"].setdefault(
            "prepare_threshold", None if _env("DATABASE_PREPARE_THRESHOLD") == "off"
            else _env_int("DATABASE_PREPARE_THRESHOLD", 5))
    elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
        # Several processes (web, worker, beat) share the file in `make run`: wait for locks, don't fail.
        DATABASES["default"]["CONN_MAX_AGE"] = 0
        DATABASES["default"].setdefault("OPTIONS", {}).update(
            {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
        )
    DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

    # -- Redis: Celery broker and the shared cache ------------------------------------------------------------------
    REDIS_URL = _env("REDIS_URL")
    if PRODUCTION:
        _require("REDIS_URL", REDIS_URL)

    def _redis_db(url: str, db: int) -> str:
        parts = urlsplit(url)
        return urlunsplit((parts.scheme, parts.netloc, f"/{db}", parts.query, ""))

    REDIS_CACHE_URL = _env("REDIS_CACHE_URL") or (_redis_db(REDIS_URL, 1) if REDIS_URL else None)
    if REDIS_CACHE_URL:
        # Shared by every web process: allauth's rate limits and TOTP replay protection depend on it. While Redis
        # is unreachable each process enforces them in its own memory (portal/cache.py): never off, never a 500.
        CACHES = {
            "default": {
                "BACKEND": "portal.lib.cache.FallbackRedisCache",
                "LOCATION": REDIS_CACHE_URL,
                "KEY_PREFIX": _env("PORTAL_CACHE_PREFIX", "portal"),
                "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
            }
        }
    else:
        # Development without Redis: a file cache is still shared by the web server, worker and beat.
        CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                "LOCATION": str(RUN_DIR / "cache"),
            }
        }

    # -- email -----------------------------------------------------------------------------------------------------
    DEFAULT_FROM_EMAIL = _env("DEFAULT_FROM_EMAIL", "Org Portal <portal@localhost>")
    SERVER_EMAIL = DEFAULT_FROM_EMAIL
    # Who gets an e-mail for every unhandled error (HTTP 500), secrets masked (docs/security.md).
    ADMINS = _admins("PORTAL_ADMINS")
    EMAIL_HOST = _env("EMAIL_HOST")
    EMAIL_PORT = _env_int("EMAIL_PORT", 587)
    EMAIL_HOST_USER = _env("EMAIL_HOST_USER", "")
    EMAIL_HOST_PASSWORD = _env("EMAIL_HOST_PASSWORD", "")
    EMAIL_USE_TLS = _env_bool("EMAIL_USE_TLS", True)
    EMAIL_TIMEOUT = 10
    EMAIL_BACKEND = _env("EMAIL_BACKEND")
    if not EMAIL_BACKEND:
        if PRODUCTION:
            _require("EMAIL_HOST", EMAIL_HOST)
            EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        else:
            EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"

    # -- the portal's own settings -----------------------------------------------------------------------------------
    PORTAL_OPEN_SIGNUP = _env_bool("PORTAL_OPEN_SIGNUP", True)
    # Extra Salesforce hosts (host[:port], optionally http:// for loopback only): the simulator, on-premise proxies.
    PORTAL_SALESFORCE_ALLOWED_HOSTS = _env("PORTAL_SALESFORCE_ALLOWED_HOSTS", "")
    PORTAL_SALESFORCE_CONNECT_TIMEOUT = _env_int("PORTAL_SALESFORCE_CONNECT_TIMEOUT", 5)  # seconds
    PORTAL_SALESFORCE_READ_TIMEOUT = _env_int("PORTAL_SALESFORCE_READ_TIMEOUT", 20)  # seconds
    # Token refresh (Celery beat sweep) and the scratch-org inventory.
    PORTAL_REFRESH_AFTER = _env_int("PORTAL_REFRESH_AFTER", 3600)  # seconds: refresh access tokens older than this
    PORTAL_REFRESH_SWEEP_EVERY = _env_int("PORTAL_REFRESH_SWEEP_EVERY", 300)  # seconds between sweeps
    PORTAL_REFRESH_AT_LEAST_EVERY = _env_int("PORTAL_REFRESH_AT_LEAST_EVERY", 86400)  # keep idle tokens alive
    PORTAL_INVENTORY_EVERY = _env_int("PORTAL_INVENTORY_EVERY", 900)  # seconds between Dev Hub inventory syncs
    PORTAL_SCRATCH_EXPIRY_NOTICE_DAYS = _env_int("PORTAL_SCRATCH_EXPIRY_NOTICE_DAYS", 3)
    # Days before a signing key's certificate expires to tell the team's admins (email + alert channels), once.
    PORTAL_CERT_EXPIRY_NOTICE_DAYS = _env_int("PORTAL_CERT_EXPIRY_NOTICE_DAYS", 30)
    PORTAL_SCRATCH_CREATE_TIMEOUT = _env_int("PORTAL_SCRATCH_CREATE_TIMEOUT", 900)  # seconds to wait for Active
    # Deleting a scratch org from the page: retries while Salesforce is unavailable, first backoff (s, doubled, jitter)
    PORTAL_SCRATCH_DELETE_MAX_RETRIES = _env_int("PORTAL_SCRATCH_DELETE_MAX_RETRIES", 6)
    PORTAL_SCRATCH_DELETE_RETRY_BACKOFF = _env_int("PORTAL_SCRATCH_DELETE_RETRY_BACKOFF", 10)
    # Access-token hand-outs per principal per minute, shared by every channel (REST API, "Get access token",
    # "Open in Salesforce"): a member's personal tokens and their web session share one budget; each service token
    # has its own. PORTAL_API_RATE_LIMIT_PER_MINUTE is the former name, still read when the new one is unset.
    PORTAL_HANDOUT_RATE_PER_MINUTE = _env_int("PORTAL_HANDOUT_RATE_PER_MINUTE",
                                              _env_int("PORTAL_API_RATE_LIMIT_PER_MINUTE", 120))
    # REST API lists: rows per page by default and at most (`limit`); the longest `wait` a scratch-org create may
    # hold the request for (then 202 and a status URL), and the poll interval inside that wait.
    PORTAL_API_PAGE_SIZE = _env_int("PORTAL_API_PAGE_SIZE", 100)
    # Rows per page of the web lists (orgs, members, API tokens, scratch orgs, the audit log).
    PORTAL_PAGE_SIZE = max(1, _env_int("PORTAL_PAGE_SIZE", 50))
    PORTAL_API_PAGE_MAX = _env_int("PORTAL_API_PAGE_MAX", 500)
    PORTAL_API_SCRATCH_MAX_WAIT = _env_int("PORTAL_API_SCRATCH_MAX_WAIT", 120)  # seconds
    PORTAL_API_SCRATCH_POLL_SECONDS = _env_int("PORTAL_API_SCRATCH_POLL_SECONDS", 3)
    # API tokens: live personal tokens per user (all teams), live service tokens per team, lifetime in days
    # (default and maximum), and days before expiry to email a warning.
    PORTAL_MAX_API_TOKENS_PER_USER = _env_int("PORTAL_MAX_API_TOKENS_PER_USER", 10)
    PORTAL_MAX_SERVICE_TOKENS_PER_TEAM = _env_int("PORTAL_MAX_SERVICE_TOKENS_PER_TEAM", 50)
    PORTAL_API_TOKEN_DEFAULT_DAYS = _env_int("PORTAL_API_TOKEN_DEFAULT_DAYS", 90)
    PORTAL_API_TOKEN_MAX_DAYS = _env_int("PORTAL_API_TOKEN_MAX_DAYS", 365)
    PORTAL_API_TOKEN_EXPIRY_WARNING_DAYS = _env_int("PORTAL_API_TOKEN_EXPIRY_WARNING_DAYS", 7)
    if not 1 <= PORTAL_API_TOKEN_DEFAULT_DAYS <= PORTAL_API_TOKEN_MAX_DAYS:
        raise _ConfigError("PORTAL_API_TOKEN_DEFAULT_DAYS must be between 1 and PORTAL_API_TOKEN_MAX_DAYS")
    # Every sensitive write (hand-outs, API tokens, apps and secrets, keys, grants, roles, removals, scratch orgs):
    # an authentication within this many seconds, with the member's strongest factor (portal/accounts/reauth.py),
    # else allauth's re-authentication page first.
    PORTAL_REAUTHENTICATION_SECONDS = _env_int("PORTAL_REAUTHENTICATION_SECONDS", 600)
    # The Django admin at /admin/ (its sign-in goes through the portal's login, with MFA). Off in production unless
    # switched on.
    PORTAL_ADMIN_ENABLED = _env_bool("PORTAL_ADMIN_ENABLED", DEBUG)
    # Reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed: comma-separated addresses or networks
    # (portal/lib/http.py). Empty: every client is its own peer address, whatever the headers say.
    PORTAL_TRUSTED_PROXIES = _parse_networks("PORTAL_TRUSTED_PROXIES", _env_list("PORTAL_TRUSTED_PROXIES"))
    # Revoking tokens at Salesforce after an access change or a disconnect: retries while it is unreachable.
    PORTAL_REVOCATION_MAX_RETRIES = _env_int("PORTAL_REVOCATION_MAX_RETRIES", 8)
    # Revocations whose task was lost: a beat sweep every PORTAL_REVOCATION_SWEEP_EVERY seconds tries rows older than
    # PORTAL_REVOCATION_SWEEP_AFTER (longer than the tasks' retry window), at most PORTAL_REVOCATION_SWEEP_BATCH a
    # run; a row older than PORTAL_REVOCATION_MAX_AGE gets its last attempt (then failed: revoke it in Setup).
    PORTAL_REVOCATION_SWEEP_EVERY = _env_int("PORTAL_REVOCATION_SWEEP_EVERY", 900)
    PORTAL_REVOCATION_SWEEP_AFTER = _env_int("PORTAL_REVOCATION_SWEEP_AFTER", 3600)
    PORTAL_REVOCATION_SWEEP_BATCH = _env_int("PORTAL_REVOCATION_SWEEP_BATCH", 100)
    PORTAL_REVOCATION_MAX_AGE = _env_int("PORTAL_REVOCATION_MAX_AGE", 7 * 86400)
    # "Open in Salesforce": fall back to posting the access token to frontdoor.jsp when a single-use URL can't be had.
    PORTAL_FRONTDOOR_FORM_FALLBACK = _env_bool("PORTAL_FRONTDOOR_FORM_FALLBACK", False)
    # PostgreSQL unreachable: pages and the API answer 503 with this Retry-After (seconds) instead of a 500.
    PORTAL_OUTAGE_RETRY_AFTER = _env_int("PORTAL_OUTAGE_RETRY_AFTER", 30)
    # Sandboxes of production orgs (orgs/services/sandboxes.py): inventory sync, copy polling, connecting new orgs.
    PORTAL_SANDBOX_SYNC_EVERY = _env_int("PORTAL_SANDBOX_SYNC_EVERY", 900)  # seconds between inventory syncs
    PORTAL_SANDBOX_COPY_TIMEOUT = _env_int("PORTAL_SANDBOX_COPY_TIMEOUT", 259200)  # seconds a copy may take
    PORTAL_SANDBOX_AUTH_RETRY_SECONDS = _env_int("PORTAL_SANDBOX_AUTH_RETRY_SECONDS", 600)  # unreachable new org
    PORTAL_SANDBOX_POLL_MAX_INTERVAL = _env_int("PORTAL_SANDBOX_POLL_MAX_INTERVAL", 60)  # seconds between polls
    PORTAL_INVITATION_DAYS = _env_int("PORTAL_INVITATION_DAYS", 7)
    # CI OIDC token exchange (orgs/services/oidc.py). Known issuers' URLs (GitHub Actions, GitLab.com); extra
    # issuer hosts allowed besides public https ones (same format as PORTAL_SALESFORCE_ALLOWED_HOSTS).
    PORTAL_OIDC_GITHUB_ISSUER = _env("PORTAL_OIDC_GITHUB_ISSUER", "https://token.actions.githubusercontent.com")
    PORTAL_OIDC_GITLAB_ISSUER = _env("PORTAL_OIDC_GITLAB_ISSUER", "https://gitlab.com")
    PORTAL_OIDC_ALLOWED_HOSTS = _env("PORTAL_OIDC_ALLOWED_HOSTS", "")
    PORTAL_OIDC_MAX_LIFETIME = _env_int("PORTAL_OIDC_MAX_LIFETIME", 3600)  # seconds: the most a policy may allow
    PORTAL_OIDC_DEFAULT_LIFETIME = _env_int("PORTAL_OIDC_DEFAULT_LIFETIME", 900)  # seconds: a new policy's default
    PORTAL_OIDC_JWKS_COOLDOWN = _env_int("PORTAL_OIDC_JWKS_COOLDOWN", 60)  # seconds between refetches on a new kid
    PORTAL_OIDC_FAILURES_PER_IP_PER_MINUTE = _env_int("PORTAL_OIDC_FAILURES_PER_IP_PER_MINUTE", 20)
    PORTAL_OIDC_EXCHANGES_PER_SUBJECT_PER_MINUTE = _env_int("PORTAL_OIDC_EXCHANGES_PER_SUBJECT_PER_MINUTE", 30)
    PORTAL_OIDC_EXCHANGES_PER_POLICY_PER_MINUTE = _env_int("PORTAL_OIDC_EXCHANGES_PER_POLICY_PER_MINUTE", 120)
    PORTAL_PURGE_INVITATIONS_EVERY = _env_int("PORTAL_PURGE_INVITATIONS_EVERY", 3600)  # seconds
    # /metrics (portal/health.py) answers only for these Host names, without forwarding headers, from a peer that is
    # not a trusted proxy: Prometheus inside the network, never the public site.
    PORTAL_METRICS_HOSTS = frozenset(h.strip("[]").lower() for h in _env_list("PORTAL_METRICS_HOSTS",
                                                                              "localhost,127.0.0.1,::1"))
    # Error reports to Sentry, off unless set (portal/lib/sentry.py: events redacted before sending).
    SENTRY_DSN = _env("SENTRY_DSN", "")
    SENTRY_ENVIRONMENT = _env("SENTRY_ENVIRONMENT", "production" if PRODUCTION else "development")
    # Time-boxed access (issue 18, orgs/services/access_requests.py).
    # Production orgs are "access on request" unless their own access policy says otherwise (issue 18's default).
    PORTAL_ACCESS_ON_REQUEST_PRODUCTION = _env_bool("PORTAL_ACCESS_ON_REQUEST_PRODUCTION", True)
    PORTAL_ACCESS_REQUEST_MIN_MINUTES = _env_int("PORTAL_ACCESS_REQUEST_MIN_MINUTES", 15)  # shortest request
    PORTAL_ACCESS_REQUEST_MAX_MINUTES = _env_int("PORTAL_ACCESS_REQUEST_MAX_MINUTES", 480)  # longest request (8 h)
    PORTAL_ACCESS_DECISION_MINUTES = _env_int("PORTAL_ACCESS_DECISION_MINUTES", 1440)  # undecided → lapsed after
    PORTAL_BREAK_GLASS_MINUTES = _env_int("PORTAL_BREAK_GLASS_MINUTES", 30)  # break-glass activation length
    PORTAL_ACCESS_SWEEP_EVERY = _env_int("PORTAL_ACCESS_SWEEP_EVERY", 60)  # seconds: revoke tokens after expiry
    # The mail pipeline (portal/accounts/mail.py): attempts after the first on an SMTP error, first backoff seconds.
    PORTAL_MAIL_MAX_RETRIES = _env_int("PORTAL_MAIL_MAX_RETRIES", 6)
    PORTAL_MAIL_RETRY_BACKOFF = _env_int("PORTAL_MAIL_RETRY_BACKOFF", 30)  # seconds, doubled each retry (jitter)
    # The mail sweep: how often (and how long a message may stay queued before it is published again; keep it longer
    # than the retry window), and how many days a given-up message is kept.
    PORTAL_MAIL_SWEEP_EVERY = _env_int("PORTAL_MAIL_SWEEP_EVERY", 3600)
    PORTAL_MAIL_FAILED_KEEP_DAYS = _env_int("PORTAL_MAIL_FAILED_KEEP_DAYS", 30)
    # Alert channels (orgs/services/alerts.py): webhook hosts allowed besides public https ones (same format as
    # PORTAL_SALESFORCE_ALLOWED_HOSTS; for tests and internal relays), POST timeout, retries, first backoff.
    PORTAL_ALERT_ALLOWED_HOSTS = _env("PORTAL_ALERT_ALLOWED_HOSTS", "")
    PORTAL_ALERT_TIMEOUT = _env_int("PORTAL_ALERT_TIMEOUT", 10)  # seconds per POST (connect and read)
    PORTAL_ALERT_MAX_RETRIES = _env_int("PORTAL_ALERT_MAX_RETRIES", 5)
    PORTAL_ALERT_RETRY_BACKOFF = _env_int("PORTAL_ALERT_RETRY_BACKOFF", 30)  # seconds, doubled each retry (jitter)
    PORTAL_ALERT_CHANNELS_PER_TEAM = _env_int("PORTAL_ALERT_CHANNELS_PER_TEAM", 10)
    # The alert sweep: how often (and how long a delivery may stay pending before it is published again; longer than
    # the retry window), and how many days the delivery log keeps a row.
    PORTAL_ALERT_SWEEP_EVERY = _env_int("PORTAL_ALERT_SWEEP_EVERY", 3600)
    PORTAL_ALERT_LOG_KEEP_DAYS = _env_int("PORTAL_ALERT_LOG_KEEP_DAYS", 90)

    # Encryption keyring for secrets at rest (orgs/crypto.py). Required in production; `make run` generates a
    # development keyring into .run/encryption-keys.
    PORTAL_ENCRYPTION_KEYS = _env("PORTAL_ENCRYPTION_KEYS", "")
    if PRODUCTION or PORTAL_ENCRYPTION_KEYS:
        from portal.lib.crypto import Keyring, KeyringError

        try:
            Keyring.parse(PORTAL_ENCRYPTION_KEYS)
        except KeyringError as _exc:
            raise _ConfigError(str(_exc)) from None

except _ConfigError as _exc:
    _fail(str(_exc))


# -- applications ----------------------------------------------------------------------------------------------------

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.mfa",
    "allauth.usersessions",
    "csp",  # its system checks (settings in the django-csp 4 format)
    "portal.accounts",
    "orgs",
]

MIDDLEWARE = [
    "portal.health.HealthCheckMiddleware",  # first: probes use internal hosts and plain HTTP
    "portal.lib.logs.RequestIdMiddleware",  # X-Request-ID; every log line below here carries it
    "portal.lib.http.UntrustedProxyHeadersMiddleware",  # before anything reads X-Forwarded-Proto
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "orgs.api.middleware.ApiShortcutMiddleware",  # /api/v1/: bearer tokens, no browser session machinery
    "django_htmx.middleware.HtmxMiddleware",  # request.htmx for the live-progress partials; after the API shortcut
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "portal.accounts.middleware.UserTimezoneMiddleware",  # the user's time zone; the API never gets here
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "allauth.usersessions.middleware.UserSessionsMiddleware",
    # Content-Security-Policy (django-csp + the Salesforce hosts in form-action); after the API shortcut, so the
    # REST API's hot path never builds a policy.
    "orgs.csp.PortalCSPMiddleware",
]

# The site's Content-Security-Policy: nothing inline (no <script> without src, no on*= handlers, no style=
# attributes: tests/test_csp.py), everything from the portal itself. form-action also gets Salesforce's hosts
# (orgs/csp.py); the pages that show a secret use portal.lib.csp.STRICT_POLICY (secret_page) instead.
# data: images: Bootstrap's icons and the TOTP QR code.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    },
}

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.accounts.context_processors.portal",
            ],
        },
    },
]

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
# The `orgportal` download and its shell completions, built ahead of time by `manage.py build_cli` (the image
# build, make run); /cli/orgportal serves them and answers 503 when they are missing.
PORTAL_CLI_DIR = Path(_env("PORTAL_CLI_DIR", "") or BASE_DIR / "build" / "cli")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        # Hashed, compressed, far-future-cached files in production (collectstatic runs in the image build).
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if _env_bool("PORTAL_STATIC_MANIFEST", PRODUCTION)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_MANIFEST_STRICT = False

LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "account_login"

# -- security headers and cookies --------------------------------------------------------------------------------------

SESSION_COOKIE_SAMESITE = "Lax"  # Strict would drop the session on the redirect back from Salesforce.
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = PORTAL_HTTPS
CSRF_COOKIE_SECURE = PORTAL_HTTPS
SECURE_SSL_REDIRECT = PORTAL_HTTPS and _env_bool("PORTAL_SSL_REDIRECT", True)
SECURE_HSTS_SECONDS = _env_int("PORTAL_HSTS_SECONDS", 31536000) if PORTAL_HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = _env_bool("PORTAL_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = _env_bool("PORTAL_HSTS_PRELOAD", True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if _env_bool("PORTAL_BEHIND_PROXY", False):
    # Believed only from PORTAL_TRUSTED_PROXIES: portal.lib.http.UntrustedProxyHeadersMiddleware drops the header
    # from any other peer before Django reads it.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    USE_X_FORWARDED_HOST = False

# -- django-allauth ----------------------------------------------------------------------------------------------------

ACCOUNT_ADAPTER = "portal.accounts.adapter.AccountAdapter"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = "optional" if DEBUG else "mandatory"
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Org Portal] "
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https" if PORTAL_HTTPS else "http"
ACCOUNT_PRESERVE_USERNAME_CASING = False
ACCOUNT_REAUTHENTICATION_TIMEOUT = PORTAL_REAUTHENTICATION_SECONDS
# allauth's rate limits stay at their defaults (login failures, signups, password resets, confirmations). They key
# on the client address from AccountAdapter.get_client_ip: X-Forwarded-For only from PORTAL_TRUSTED_PROXIES.

MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "Org Portal"
MFA_ADAPTER = "portal.accounts.adapter.MFAAdapter"
USERSESSIONS_TRACK_ACTIVITY = False

SOCIALACCOUNT_ADAPTER = "portal.accounts.adapter.SocialAccountAdapter"
SOCIALACCOUNT_PROVIDERS: dict = {}
# Single sign-on is switched on by configuration alone (README "Single sign-on").
if _env("PORTAL_SSO_SALESFORCE_CLIENT_ID"):
    INSTALLED_APPS.append("allauth.socialaccount.providers.salesforce")
    SOCIALACCOUNT_PROVIDERS["salesforce"] = {
        "APPS": [
            {
                "client_id": _env("PORTAL_SSO_SALESFORCE_CLIENT_ID"),
                "secret": _env("PORTAL_SSO_SALESFORCE_SECRET", ""),
                "key": _env("PORTAL_SSO_SALESFORCE_LOGIN_URL", "https://login.salesforce.com"),
            }
        ],
        "OAUTH_PKCE_ENABLED": True,
    }
if _env("PORTAL_SSO_OIDC_CLIENT_ID"):
    INSTALLED_APPS.append("allauth.socialaccount.providers.openid_connect")
    SOCIALACCOUNT_PROVIDERS["openid_connect"] = {
        "APPS": [
            {
                "provider_id": _env("PORTAL_SSO_OIDC_PROVIDER_ID", "sso"),
                "name": _env("PORTAL_SSO_OIDC_NAME", "Single sign-on"),
                "client_id": _env("PORTAL_SSO_OIDC_CLIENT_ID"),
                "secret": _env("PORTAL_SSO_OIDC_SECRET", ""),
                "settings": {"server_url": _env("PORTAL_SSO_OIDC_SERVER_URL", "")},
            }
        ],
        "OAUTH_PKCE_ENABLED": True,
    }


def _origin(url: str) -> str | None:
    parts = urlsplit(url or "")
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") and parts.netloc else None


# Single sign-on posts the login form to the portal, which redirects the browser to the identity provider: Chromium
# applies form-action to that redirect, so the provider's origin (and PORTAL_CSP_FORM_ACTION_EXTRA, for a provider
# whose authorization endpoint is on another host than its server URL) joins the site policy's form-action.
CONTENT_SECURITY_POLICY["DIRECTIVES"]["form-action"] += [
    origin for origin in dict.fromkeys([
        *([_origin(_env("PORTAL_SSO_SALESFORCE_LOGIN_URL", "https://login.salesforce.com"))]
          if _env("PORTAL_SSO_SALESFORCE_CLIENT_ID") else []),
        *([_origin(_env("PORTAL_SSO_OIDC_SERVER_URL", ""))] if _env("PORTAL_SSO_OIDC_CLIENT_ID") else []),
        *(_origin(url) or _fail(f"PORTAL_CSP_FORM_ACTION_EXTRA: not an http(s) URL: {url!r}")
          for url in _env_list("PORTAL_CSP_FORM_ACTION_EXTRA")),
    ]) if origin
]

# -- Celery ------------------------------------------------------------------------------------------------------------

if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
else:
    # Development without Redis (`make run`): kombu's filesystem transport is a real broker shared by separate
    # web, worker and beat processes, so periodic tasks really run.
    CELERY_BROKER_URL = "filesystem://"
    _broker_dir = RUN_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir),
        "data_folder_out": str(_broker_dir),
        "processed_folder": str(RUN_DIR / "broker-processed"),
        "control_folder": str(RUN_DIR / "broker-control"),
        "store_processed": False,
    }
CELERY_TASK_ALWAYS_EAGER = _env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Worker and beat keep Django's LOGGING (its redaction filter); portal/celery.py also answers setup_logging.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TASK_SOFT_TIME_LIMIT = 30
CELERY_TASK_TIME_LIMIT = 60
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
if REDIS_URL:
    # Above the longest task (60 s hard limit) and any retry countdown (capped at 600 s).
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_BEAT_SCHEDULE_FILENAME = str(RUN_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    # If a task sets `expires`, its beat entry must too (saleor's rule); each sweep is idempotent anyway.
    "refresh-sweep": {
        "task": "orgs.tasks.connections_refresh_sweep_task",
        "schedule": float(PORTAL_REFRESH_SWEEP_EVERY),
        "options": {"expires": float(PORTAL_REFRESH_SWEEP_EVERY)},
    },
    "inventory-sweep": {
        "task": "orgs.tasks.inventory_sweep_task",
        "schedule": float(PORTAL_INVENTORY_EVERY),
        "options": {"expires": float(PORTAL_INVENTORY_EVERY)},
    },
    "scratch-expiry-notices": {
        "task": "orgs.tasks.scratch_expiry_notify_task",
        "schedule": 3600.0,
        "options": {"expires": 3600.0},
    },
    "certificate-expiry-notices": {
        "task": "orgs.tasks.signing_keys_expiry_notify_task",
        "schedule": 3600.0,
        "options": {"expires": 3600.0},
    },
    "api-token-expiry-warnings": {
        "task": "portal.accounts.tasks.api_tokens_warn_expiring_task",
        "schedule": 3600.0,
        "options": {"expires": 3600.0},
    },
    "sandbox-sweep": {
        "task": "orgs.tasks.sandbox_sweep_task",
        "schedule": float(PORTAL_SANDBOX_SYNC_EVERY),
        "options": {"expires": float(PORTAL_SANDBOX_SYNC_EVERY)},
    },
    "sandbox-requests-resume": {
        "task": "orgs.tasks.sandbox_requests_resume_task",
        "schedule": 60.0,
        "options": {"expires": 60.0},
    },
    "access-requests-sweep": {
        "task": "orgs.tasks.access_requests_sweep_task",
        "schedule": float(PORTAL_ACCESS_SWEEP_EVERY),
        "options": {"expires": float(PORTAL_ACCESS_SWEEP_EVERY)},
    },
    "pending-revocations-sweep": {
        "task": "orgs.tasks.pending_revocations_sweep_task",
        "schedule": float(PORTAL_REVOCATION_SWEEP_EVERY),
        "options": {"expires": float(PORTAL_REVOCATION_SWEEP_EVERY)},
    },
    "mail-sweep": {
        "task": "portal.accounts.tasks.mail_sweep_task",
        "schedule": float(PORTAL_MAIL_SWEEP_EVERY),
        "options": {"expires": 600.0},
    },
    "alert-deliveries-sweep": {
        "task": "orgs.tasks.alert_deliveries_sweep_task",
        "schedule": float(PORTAL_ALERT_SWEEP_EVERY),
        "options": {"expires": 600.0},
    },
    "purge-expired-invitations": {
        "task": "portal.accounts.tasks.invitations_purge_expired_task",
        "schedule": float(PORTAL_PURGE_INVITATIONS_EVERY),
        "options": {"expires": float(PORTAL_PURGE_INVITATIONS_EVERY)},
    },
}

# -- logging -----------------------------------------------------------------------------------------------------------

# PORTAL_LOG_FORMAT=json: one JSON object per line (time, level, logger, request_id, message); text by default.
# Every handler: the request id, then the redaction filter (portal/lib/logs.py, portal/lib/redaction.py).
PORTAL_LOG_FORMAT = (_env("PORTAL_LOG_FORMAT", "text") or "text").strip().lower()
if PORTAL_LOG_FORMAT not in {"text", "json"}:
    _fail(f"PORTAL_LOG_FORMAT: expected text or json, got {PORTAL_LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "portal.lib.logs.RequestIdFilter"},
        "redact": {"()": "portal.lib.redaction.RedactSecretsFilter"},
        "require_debug_false": {"()": "django.utils.log.RequireDebugFalse"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s [%(request_id)s] %(levelname)s %(name)s: %(message)s"},
        "json": {"()": "portal.lib.logs.RedactingJsonFormatter",
                 "fmt": "%(asctime)s %(levelname)s %(name)s %(request_id)s %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "json" if PORTAL_LOG_FORMAT == "json" else "plain",
                    "filters": ["request_id", "redact"]},
        # Error e-mails to ADMINS (PORTAL_ADMINS); the handler masks token-shaped values in the finished e-mail.
        "mail_admins": {"class": "portal.lib.redaction.RedactingAdminEmailHandler", "level": "ERROR",
                        "filters": ["require_debug_false"]},
    },
    "root": {"handlers": ["console"], "level": _env("PORTAL_LOG_LEVEL", "INFO")},
    "loggers": {
        # Replace Django's default handlers on these loggers (they have no redaction filter).
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.server": {"handlers": [], "level": "INFO", "propagate": True},
        "django.request": {"handlers": ["mail_admins"], "level": "INFO", "propagate": True},
        "django.db.backends": {"level": "INFO"},
    },
}

# -- error reports -----------------------------------------------------------------------------------------------------

if SENTRY_DSN:
    from portal.lib.sentry import sentry_init

    sentry_init(dsn=SENTRY_DSN, environment=SENTRY_ENVIRONMENT)
