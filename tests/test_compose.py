"""docker-compose.yml is valid Compose, and the web, worker and beat commands in it really start.

No Docker engine runs on these machines, so each service's command (and its health check) is run locally against
the local PostgreSQL and Redis instead of inside the image.
"""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from django.conf import settings

from tests.test_celery_worker import database_url
from tests.test_settings_and_deploy import PRODUCTION_ENV, clean_env

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"


def test_compose_file_matches_the_compose_specification():
    result = subprocess.run(
        [str(Path(sys.executable).parent / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec",
         str(COMPOSE)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_has_the_expected_services():
    spec = yaml.safe_load(COMPOSE.read_text())
    assert set(spec["services"]) == {"postgres", "redis", "web", "worker", "beat"}
    for name in ("web", "worker", "beat", "postgres", "redis"):
        assert "healthcheck" in spec["services"][name], name
    assert "pgdata" in spec["volumes"]
    assert spec["services"]["postgres"]["volumes"] == ["pgdata:/var/lib/postgresql/data"]
    assert spec["services"]["web"]["image"] == spec["services"]["worker"]["image"] == spec["services"]["beat"]["image"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _local(text: str, tmp_path: Path) -> str:
    # What compose would do ($$ -> $), and private paths instead of the container's /tmp.
    return text.replace("$$", "$").replace("/tmp/", f"{tmp_path}/")


def _command(service: dict, tmp_path: Path) -> list[str]:
    command = service["command"]
    return [_local(part, tmp_path) for part in command]


def _healthcheck(service: dict, tmp_path: Path) -> list[str]:
    test = service["healthcheck"]["test"]
    if test[0] == "CMD-SHELL":
        return ["sh", "-c", _local(test[1], tmp_path)]
    return [_local(part, tmp_path) for part in test[1:]]


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("name", ["web", "worker", "beat"])
def test_service_command_starts_and_becomes_healthy(name, tmp_path):
    service = yaml.safe_load(COMPOSE.read_text())["services"][name]
    bindir = str(Path(sys.executable).parent)
    env = clean_env()
    env.update(PRODUCTION_ENV)
    env.update({
        "PATH": f"{bindir}:{env.get('PATH', '')}",  # `python`, `gunicorn`, `celery` as in the image
        "DATABASE_URL": database_url(),
        "REDIS_URL": settings.TEST_REDIS_URL,
        "PORT": str(_free_port()),
        "HOST": "127.0.0.1",
        "WEB_CONCURRENCY": "2",
        "HOSTNAME": socket.gethostname(),
        "PORTAL_ENCRYPTION_KEYS": os.environ["PORTAL_ENCRYPTION_KEYS"],
    })
    log_path = tmp_path / f"{name}.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(_command(service, tmp_path), cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while True:
                assert proc.poll() is None, f"{name} exited:\n{log_path.read_text()[-3000:]}"
                check = subprocess.run(_healthcheck(service, tmp_path), cwd=ROOT, env=env, capture_output=True,
                                       timeout=30)
                if check.returncode == 0:
                    break
                assert time.monotonic() < deadline, f"{name} never healthy:\n{log_path.read_text()[-3000:]}"
                time.sleep(1)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
