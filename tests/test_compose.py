"""docker-compose.yml is valid Compose, hardened, and the web, worker, beat and redis commands in it really start.

No Docker engine runs on these machines, so each service's command (and its health check) is run locally against
the local PostgreSQL and Redis instead of inside the image, and the file's interpolation is checked by
tests/deploy/compose.py (the Compose specification's rules). The database roles are tested in
tests/deploy/test_db_roles.py.
"""

import ipaddress
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from django.conf import settings

from tests.deploy import compose
from tests.test_celery_worker import database_url
from tests.test_settings_and_deploy import PRODUCTION_ENV, clean_env

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
PASSWORDS = {"POSTGRES_PASSWORD", "PORTAL_DB_OWNER_PASSWORD", "PORTAL_DB_APP_PASSWORD", "REDIS_PASSWORD"}
APP_SERVICES = ("web", "worker", "beat")


def test_compose_file_matches_the_compose_specification():
    result = subprocess.run(
        [str(Path(sys.executable).parent / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec",
         str(COMPOSE)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def _env(**overrides) -> dict[str, str]:
    env = {name: f"secret-{name.lower()}" for name in PASSWORDS}
    env.update(overrides)
    return env


def _spec() -> dict:
    return compose.load(_env())


def test_compose_has_the_expected_services():
    spec = _spec()
    assert set(spec["services"]) == {"postgres", "redis", "migrate", "web", "worker", "beat"}
    for name in ("web", "worker", "beat", "postgres", "redis"):
        assert "healthcheck" in spec["services"][name], name
    assert "pgdata" in spec["volumes"]
    assert spec["services"]["postgres"]["volumes"][0] == "pgdata:/var/lib/postgresql/data"
    images = {spec["services"][name]["image"] for name in ("migrate", *APP_SERVICES)}
    assert images == {"org-portal:latest"}


# -- passwords ---------------------------------------------------------------------------------------------------------

def test_the_passwords_are_exactly_the_required_variables():
    assert compose.required_variables() == PASSWORDS


def test_every_password_is_a_required_variable_never_a_default():
    texts = list(compose.all_strings(compose.raw()))
    for text in texts:
        for name, op, _ in compose.references(text):
            if "PASSWORD" in name:
                assert op == ":?", f"${{{name}{op or ''}...}} must be ${{{name}:?message}}: {text}"
    # Every password-like environment variable is exactly one required reference.
    for name, service in compose.raw()["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if "PASSWORD" in key:
                assert re.fullmatch(r"\$\{[A-Z_]+:\?[^}]+\}", value), (name, key, value)
    # Every URL with credentials takes its password from a required variable.
    service_texts = list(compose.all_strings(compose.raw()["services"]))
    userinfos = [found for text in service_texts for found in re.findall(r"[a-z]+://((?:\$\{[^}]*\}|[^@/\s])*)@", text)]
    assert len(userinfos) == 8, userinfos  # migrate, web, worker and beat: a database URL and a Redis URL each
    for userinfo in userinfos:
        assert ":" in userinfo, userinfo
        assert re.fullmatch(r"\$\{[A-Z_]+:\?[^}]+\}", userinfo.split(":", 1)[1]), userinfo


@pytest.mark.parametrize("name", sorted(PASSWORDS))
@pytest.mark.parametrize("value", [None, ""])
def test_compose_refuses_to_start_without_each_password(name, value):
    env = _env()
    if value is None:
        del env[name]
    else:
        env[name] = value
    with pytest.raises(compose.MissingVariableError) as refused:
        compose.load(env)
    assert refused.value.name == name
    assert "README" in str(refused.value)  # the message says where to look


def test_the_passwords_reach_the_urls_and_redis():
    spec = compose.load(_env(PORTAL_DB_OWNER_PASSWORD="o" * 64, PORTAL_DB_APP_PASSWORD="a" * 64,
                             REDIS_PASSWORD="r" * 64, POSTGRES_PASSWORD="s" * 64))
    services = spec["services"]
    app_url = f"postgres://portal_app:{'a' * 64}@postgres:5432/portal"
    redis_url = f"redis://:{'r' * 64}@redis:6379/0"
    for name in APP_SERVICES:
        assert services[name]["environment"]["DATABASE_URL"] == app_url, name
        assert services[name]["environment"]["REDIS_URL"] == redis_url, name
    owner_url = f"postgres://portal_owner:{'o' * 64}@postgres:5432/portal"
    assert services["migrate"]["environment"]["DATABASE_URL"] == owner_url
    assert services["postgres"]["environment"] == {
        "POSTGRES_PASSWORD": "s" * 64, "PORTAL_DB_OWNER_PASSWORD": "o" * 64, "PORTAL_DB_APP_PASSWORD": "a" * 64}
    assert services["redis"]["environment"] == {"REDIS_PASSWORD": "r" * 64}
    assert '--requirepass "$REDIS_PASSWORD"' in services["redis"]["command"][-1]
    assert "REDISCLI_AUTH=" in services["redis"]["healthcheck"]["test"][-1]


def test_the_portal_containers_never_see_the_owner_or_superuser_password():
    # No container gets compose's .env wholesale; the app settings file is a separate one (deploy/portal.env).
    spec = compose.load(_env(PORTAL_DB_OWNER_PASSWORD="owner-secret", POSTGRES_PASSWORD="super-secret"))
    for name, service in spec["services"].items():
        assert service.get("env_file") in (None, "deploy/portal.env"), name
        if name in APP_SERVICES:
            text = repr(service)
            assert "owner-secret" not in text and "super-secret" not in text, name
            assert "portal_owner" not in text, name
    assert "owner-secret" in repr(spec["services"]["migrate"])


# -- container hardening -----------------------------------------------------------------------------------------------

def _dockerfile_user() -> str:
    users = re.findall(r"^USER\s+(\S+)", (ROOT / "Dockerfile").read_text(), re.M)
    return users[-1]


@pytest.mark.parametrize("name", ["postgres", "redis", "migrate", "web", "worker", "beat"])
def test_every_service_is_hardened(name):
    service = _spec()["services"][name]
    assert service["cap_drop"] == ["ALL"]
    assert "cap_add" not in service and not service.get("privileged")
    assert "no-new-privileges:true" in service["security_opt"]
    assert service["read_only"] is True
    user = str(service["user"])
    assert user.split(":")[0] not in {"", "0", "root"}, user
    for mount in service.get("tmpfs", []):
        assert mount.startswith(("/tmp", "/var/run/postgresql", "/data")), mount  # noqa: S108
    if name in ("migrate", *APP_SERVICES):
        assert user == _dockerfile_user() == "10001:10001"
        assert "/tmp" in service["tmpfs"]  # noqa: S108 - the only writable place
        assert service["environment"]["PORTAL_RUN_DIR"].startswith("/tmp/")  # noqa: S108
    assert service.get("network_mode") != "host"


def test_the_image_creates_its_non_root_user_with_that_uid():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "--uid 10001" in dockerfile and "--gid 10001" in dockerfile


# -- network exposure and the trusted proxy ----------------------------------------------------------------------------

def test_only_web_publishes_a_port_and_only_on_loopback():
    services = _spec()["services"]
    for name, service in services.items():
        if name != "web":
            assert "ports" not in service, name
    for port in services["web"]["ports"]:
        assert isinstance(port, str), port
        host_ip, _, rest = port.partition(":")
        assert ipaddress.ip_address(host_ip).is_loopback, port
        assert rest.count(":") == 1, port


def test_postgres_and_redis_are_only_on_an_internal_network():
    spec = _spec()
    assert spec["networks"]["backend"]["internal"] is True
    for name in ("postgres", "redis", "migrate", "beat"):
        assert spec["services"][name]["networks"] == ["backend"], name


def test_web_trusts_only_the_edge_gateway_as_its_proxy():
    spec = _spec()
    services = spec["services"]
    assert [name for name, s in services.items() if "edge" in s["networks"]] == ["web"]
    (ipam,) = spec["networks"]["edge"]["ipam"]["config"]
    subnet, gateway = ipaddress.ip_network(ipam["subnet"]), ipaddress.ip_address(ipam["gateway"])
    assert gateway in subnet
    environment = services["web"]["environment"]
    trusted = [item.strip() for item in environment["PORTAL_TRUSTED_PROXIES"].split(",")]
    assert trusted == [str(gateway)]  # one address, not a network
    assert environment["FORWARDED_ALLOW_IPS"] == str(gateway)
    assert environment["PORTAL_BEHIND_PROXY"] == "true"
    assert "PORTAL_TRUSTED_PROXY_COUNT" not in environment  # retired: the trusted addresses decide
    # One setting moves all of them together.
    moved = compose.load(_env(PORTAL_EDGE_SUBNET="10.99.0.0/24", PORTAL_EDGE_GATEWAY="10.99.0.1"))
    assert moved["services"]["web"]["environment"]["PORTAL_TRUSTED_PROXIES"] == "10.99.0.1"
    assert moved["networks"]["edge"]["ipam"]["config"] == [{"subnet": "10.99.0.0/24", "gateway": "10.99.0.1"}]


# -- migrations first, as the owner ------------------------------------------------------------------------------------

def test_migrations_run_once_before_web_worker_and_beat():
    services = _spec()["services"]
    migrate = services["migrate"]
    assert migrate["command"][-3:] == ["manage.py", "migrate", "--noinput"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    for name in APP_SERVICES:
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}, name
        assert "migrate" not in " ".join(services[name]["command"]), name


def test_the_role_names_match_the_init_script():
    script = compose.INIT_SCRIPT.read_text()
    assert "${PORTAL_DB_OWNER:-portal_owner}" in script and "${PORTAL_DB_APP_USER:-portal_app}" in script
    assert "${PORTAL_DB_NAME:-portal}" in script
    postgres = _spec()["services"]["postgres"]
    assert "./deploy/postgres:/docker-entrypoint-initdb.d:ro" in postgres["volumes"]
    # The image runs every *.sh and *.sql there: only the parameterised script may be in it.
    scripts = sorted(p.name for p in compose.INIT_SCRIPT.parent.iterdir() if p.suffix in {".sh", ".sql", ".gz", ".xz"})
    assert scripts == [compose.INIT_SCRIPT.name]
    assert os.access(compose.INIT_SCRIPT, os.X_OK)


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
    if "PROMETHEUS_MULTIPROC_DIR" in (service.get("environment") or {}):
        env["PROMETHEUS_MULTIPROC_DIR"] = _local(service["environment"]["PROMETHEUS_MULTIPROC_DIR"], tmp_path)
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
            if name == "web":
                _web_probes_and_metrics(env["PORT"])
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def _web_probes_and_metrics(port: str) -> None:
    """web's health check is readiness; /healthz is liveness; /metrics adds up every gunicorn worker's values
    (PROMETHEUS_MULTIPROC_DIR) and answers only an internal host."""
    import http.client
    import urllib.request

    base = f"http://127.0.0.1:{port}"
    web = yaml.safe_load(COMPOSE.read_text())["services"]["web"]
    assert "/readyz" in web["healthcheck"]["test"][-1]
    for path in ("/healthz", "/readyz"):
        with urllib.request.urlopen(base + path, timeout=10) as response:
            assert response.status == 200 and json.loads(response.read())["status"] == "ok"
    with urllib.request.urlopen(base + "/metrics", timeout=10) as response:
        text = response.read().decode()
    assert "portal_connections{" in text, text[-2000:]
    public = http.client.HTTPConnection("127.0.0.1", int(port), timeout=10)
    try:
        public.request("GET", "/metrics", headers={"Host": "portal.example.com"})
        answer = public.getresponse()
        assert answer.status in (301, 400, 404) and b"portal_" not in answer.read()  # 301: to https, no metrics
    finally:
        public.close()


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")
def test_redis_command_requires_the_password(tmp_path):
    service = _spec()["services"]["redis"]
    port = str(_free_port())
    env = clean_env()
    env["REDIS_PASSWORD"] = "a" * 64
    # The service's own command, plus a private port (the shared Redis has 6379).
    proc = subprocess.Popen([*service["command"][:-1], service["command"][-1] + f" --port {port}"], cwd=tmp_path,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        import redis

        health = ["sh", "-c", service["healthcheck"]["test"][1].replace("redis-cli", f"redis-cli -p {port}")]
        deadline = time.monotonic() + 20
        while subprocess.run(health, env=env, capture_output=True, timeout=10).returncode != 0:
            assert proc.poll() is None and time.monotonic() < deadline, "redis never became healthy"
            time.sleep(0.2)
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=int(port)).ping()
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=int(port), password="wrong").ping()
        assert redis.Redis.from_url(f"redis://:{'a' * 64}@127.0.0.1:{port}/0").ping()
        assert redis.Redis(port=int(port), password="a" * 64).config_get("maxmemory-policy") == {
            "maxmemory-policy": "noeviction"}
        env.pop("REDIS_PASSWORD")
        assert subprocess.run(health, env=env, capture_output=True, timeout=10).returncode != 0
    finally:
        proc.terminate()
        proc.wait(timeout=10)
