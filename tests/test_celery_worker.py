"""A real Celery worker and a real beat run the periodic invitation purge.

Two brokers: Redis (production and CI) and kombu's filesystem transport (what `make run` uses without Redis).
"""

import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from portal.accounts.models import Invitation
from tests.test_settings_and_deploy import PRODUCTION_ENV, clean_env

ROOT = Path(__file__).resolve().parent.parent


def database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "postgresql":
        return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    return f"sqlite:///{db['NAME']}"


def start(args, env, log):
    return subprocess.Popen([sys.executable, "-m", "celery", "-A", "portal", *args], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT)


def stop(*procs):
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def broker_env(kind: str, tmp_path: Path) -> dict[str, str]:
    env = clean_env()
    if kind == "redis":
        import redis

        redis.Redis.from_url(settings.TEST_REDIS_URL).flushdb()
        env.update(PRODUCTION_ENV)
        env["REDIS_URL"] = settings.TEST_REDIS_URL
    else:
        env.update({"DEBUG": "true"})
        (tmp_path / "broker").mkdir()
        (tmp_path / "broker-processed").mkdir()
        (tmp_path / "broker-control").mkdir()
    env.update({
        "DATABASE_URL": database_url(),
        "PORTAL_RUN_DIR": str(tmp_path),
        "PORTAL_PURGE_INVITATIONS_EVERY": "1",
        "PORTAL_ENCRYPTION_KEYS": os.environ["PORTAL_ENCRYPTION_KEYS"],
        "DJANGO_SETTINGS_MODULE": "portal.settings",
    })
    return env


@pytest.mark.parametrize("broker", [pytest.param("redis", marks=pytest.mark.redis), "filesystem"])
@pytest.mark.django_db(transaction=True)
def test_beat_schedules_and_worker_runs_the_purge(world, tmp_path, broker):
    old = Invitation.objects.create(team=world.team, email="old@example.com",
                                    expires_at=timezone.now() - timedelta(days=40))
    env = broker_env(broker, tmp_path)
    log_path = tmp_path / "celery.log"
    with open(log_path, "w") as log:
        worker = start(["worker", "-l", "INFO", "--concurrency", "1", "--without-gossip", "--without-mingle"],
                       env, log)
        beat = start(["beat", "-l", "INFO", "-s", str(tmp_path / "schedule")], env, log)
        try:
            deadline = time.monotonic() + 45
            while Invitation.objects.filter(pk=old.pk).exists():
                assert worker.poll() is None and beat.poll() is None, log_path.read_text()[-3000:]
                assert time.monotonic() < deadline, "purge did not run:\n" + log_path.read_text()[-3000:]
                time.sleep(0.5)
        finally:
            stop(worker, beat)
    output = log_path.read_text()
    # Worker and beat log through Django's LOGGING (its "plain" format and redaction filter), not Celery's own.
    assert "INFO celery.beat: Scheduler: Sending due task purge-expired-invitations" in output
    assert "Scheduler: Sending due task purge-expired-invitations" in output
    assert "invitations_purge_expired_task" in output and "succeeded" in output


def test_celery_configuration_is_safe():
    from portal.celery import app

    conf = app.conf
    assert conf.task_serializer == "json" and conf.accept_content == ["json"]
    assert conf.task_acks_late is True and conf.worker_prefetch_multiplier == 1
    assert conf.task_reject_on_worker_lost is True
    assert conf.task_time_limit and conf.task_soft_time_limit < conf.task_time_limit
    assert conf.broker_transport_options["visibility_timeout"] > conf.task_time_limit
    assert "purge-expired-invitations" in conf.beat_schedule


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_masks_token_shaped_values_in_every_log_path(tmp_path):
    """Celery's worker would reset the root logger and give task loggers their own handler, dropping Django's
    redaction filter. A real worker (prefork pool) runs a test-only task that logs token-shaped values through
    the task logger, a module logger, the celery logger, an exception traceback and stderr."""
    import secrets

    from tests.logging_tasks import fake_tokens

    env = broker_env("filesystem", tmp_path)
    marker = "m" + secrets.token_hex(6)
    access_token, refresh_token = fake_tokens(marker)
    log_path = tmp_path / "worker.log"
    with open(log_path, "w") as log:
        worker = start(["worker", "-l", "INFO", "--concurrency", "1", "--without-gossip", "--without-mingle",
                        "-I", "tests.logging_tasks"], env, log)
        try:
            sent = subprocess.run([sys.executable, "-m", "celery", "-A", "portal", "call",
                                   "tests.logging_tasks.log_secrets", "--args", f'["{marker}"]'],
                                  cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
            assert sent.returncode == 0, sent.stderr
            deadline = time.monotonic() + 45
            while f"{marker} stdout" not in log_path.read_text() or "succeeded" not in log_path.read_text():
                assert worker.poll() is None, log_path.read_text()[-3000:]
                assert time.monotonic() < deadline, "task did not run:\n" + log_path.read_text()[-3000:]
                time.sleep(0.3)
        finally:
            stop(worker)
    output = log_path.read_text()
    for what in ("task logger", "module logger", "celery logger", "exception", "failed with", "stdout"):
        assert f"{marker} {what}" in output, what
    assert access_token not in output and refresh_token not in output, output[-3000:]
    assert access_token[:10] not in output and "refreshtokenvalue" not in output
    assert output.count("[redacted]") >= 6
