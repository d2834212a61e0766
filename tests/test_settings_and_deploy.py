"""Production configuration: the deploy check passes, and unsafe settings stop start-up with one clear line."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

PRODUCTION_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "prod-" + "Zq8vN3kLw7Rt2Yb6Hc1Jx5Mf9Pd4Sg0A" * 2,
    "ALLOWED_HOSTS": "portal.example.com",
    "PORTAL_BASE_URL": "https://portal.example.com",
    "DATABASE_URL": "postgres://portal@db.internal:5432/portal",
    "REDIS_URL": "redis://redis.internal:6379/0",
    "EMAIL_HOST": "smtp.example.com",
    "PORTAL_ENCRYPTION_KEYS": "k2026:" + "C" * 42 + "w",
}


def clean_env() -> dict[str, str]:
    """Only what a process needs to run; none of the test suite's own settings leak in."""
    return {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "VIRTUAL_ENV") if k in os.environ}


def run_manage(*args, env_overrides=None, drop=()):
    env = clean_env()
    env.update(PRODUCTION_ENV)
    env.update(env_overrides or {})
    for name in drop:
        env.pop(name, None)
    env["DJANGO_SETTINGS_MODULE"] = "portal.settings"
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


def test_deploy_check_passes_with_production_settings():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    ("overrides", "drop", "named"),
    [
        ({}, ["SECRET_KEY"], "SECRET_KEY"),
        ({"SECRET_KEY": "django-insecure-" + "a" * 60}, [], "SECRET_KEY"),
        ({"SECRET_KEY": "short"}, [], "SECRET_KEY"),
        ({}, ["ALLOWED_HOSTS"], "ALLOWED_HOSTS"),
        ({}, ["PORTAL_BASE_URL"], "PORTAL_BASE_URL"),
        ({"PORTAL_BASE_URL": "http://portal.example.com"}, [], "PORTAL_BASE_URL"),
        ({}, ["DATABASE_URL"], "DATABASE_URL"),
        ({"DATABASE_URL": "nonsense://"}, [], "DATABASE_URL"),
        ({}, ["REDIS_URL"], "REDIS_URL"),
        ({}, ["EMAIL_HOST"], "EMAIL_HOST"),
        ({}, ["PORTAL_ENCRYPTION_KEYS"], "PORTAL_ENCRYPTION_KEYS"),
        ({"PORTAL_ENCRYPTION_KEYS": "k1:tooshort"}, [], "PORTAL_ENCRYPTION_KEYS"),
        ({"PORTAL_OPEN_SIGNUP": "maybe"}, [], "PORTAL_OPEN_SIGNUP"),
        ({"PORTAL_API_TOKEN_DEFAULT_DAYS": "400"}, [], "PORTAL_API_TOKEN_DEFAULT_DAYS"),
    ],
)
def test_unsafe_production_setting_stops_startup_with_one_line(overrides, drop, named):
    result = run_manage("check", env_overrides=overrides, drop=drop)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Org Portal configuration error:") and named in lines[0]
    assert "Traceback" not in result.stderr


def test_secrets_can_come_from_files(tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text(PRODUCTION_ENV["SECRET_KEY"] + "\n")
    result = run_manage("check", env_overrides={"SECRET_KEY_FILE": str(secret_file)}, drop=["SECRET_KEY"])
    assert result.returncode == 0, result.stderr


def test_session_and_csrf_cookies_are_hardened_in_production():
    result = run_manage("shell", "-v", "0", "-c",
                        "from django.conf import settings as s; print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
                        " s.SESSION_COOKIE_SAMESITE, s.SESSION_COOKIE_HTTPONLY, "
                        "s.SECURE_SSL_REDIRECT, s.ACCOUNT_EMAIL_VERIFICATION, s.EMAIL_BACKEND)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "True", "Lax", "True", "True", "mandatory",
                                     "django.core.mail.backends.smtp.EmailBackend"]


def test_development_mode_needs_nothing(tmp_path):
    env = clean_env()
    env.update({"DEBUG": "true", "PORTAL_RUN_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "portal.settings"})
    result = subprocess.run([sys.executable, "manage.py", "shell", "-v", "0", "-c",
                             "from django.conf import settings as s; print(s.DATABASES['default']['ENGINE'], "
                             "s.CELERY_BROKER_URL, s.EMAIL_BACKEND, s.ACCOUNT_EMAIL_VERIFICATION)"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.db.backends.sqlite3", "filesystem://",
                                     "django.core.mail.backends.console.EmailBackend", "optional"]


def test_healthz_answers_any_host_over_plain_http(client, db, settings):
    settings.SECURE_SSL_REDIRECT = True
    response = client.get("/healthz", HTTP_HOST="10.1.2.3:8000")
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert response["Cache-Control"] == "no-store"


def _handout_rate(tmp_path, **env_vars) -> str:
    env = clean_env()
    env.update({"DEBUG": "true", "PORTAL_RUN_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "portal.settings"})
    env.update(env_vars)
    result = subprocess.run([sys.executable, "manage.py", "shell", "-v", "0", "-c",
                             "from django.conf import settings as s; print(s.PORTAL_HANDOUT_RATE_PER_MINUTE)"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_the_handout_rate_setting_reads_its_former_name_too(tmp_path):
    assert _handout_rate(tmp_path) == "120"
    assert _handout_rate(tmp_path, PORTAL_API_RATE_LIMIT_PER_MINUTE="7") == "7"
    assert _handout_rate(tmp_path, PORTAL_API_RATE_LIMIT_PER_MINUTE="7", PORTAL_HANDOUT_RATE_PER_MINUTE="9") == "9"
