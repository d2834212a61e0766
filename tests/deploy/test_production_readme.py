"""The README's production set-up run as written, from an empty checkout: steps 1 and 2 (in a shell whose python3
has no packages), then step 3's edit, `migrate` (the migrate service's command) and `createsuperuser` (in a terminal,
as `docker compose exec` gives one), each with the environment compose builds for that service, against a fresh
PostgreSQL database of the test run. `docker compose up` itself needs a Docker engine, which these machines do not
have (tests/test_compose.py covers the file and the services' commands)."""

import fcntl
import os
import pty
import re
import select
import shutil
import stat
import subprocess
import sys
import termios
import time
from urllib.parse import urlsplit, urlunsplit

import pytest

from portal.lib.crypto import Keyring
from tests.deploy import compose
from tests.test_settings_and_deploy import PRODUCTION_ENV, clean_env

PASSWORDS = {"POSTGRES_PASSWORD", "PORTAL_DB_OWNER_PASSWORD", "PORTAL_DB_APP_PASSWORD", "REDIS_PASSWORD"}


def _block() -> str:
    readme = (compose.ROOT / "README.md").read_text()
    section = readme[readme.index("## Production"):]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)


def _setup_commands() -> str:
    # Everything before `docker`: generating the secrets and writing the two files.
    block = _block()
    return block[:block.index("\ndocker ")] + "\n"


def _docker_commands() -> list[str]:
    return [line for line in _block().splitlines() if line.startswith("docker ")]


def _bare_python() -> str | None:
    """A python3 without the portal's packages (as on an empty machine), or None."""
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3"):
        if os.path.exists(candidate) and subprocess.run([candidate, "-c", "import django"],
                                                        capture_output=True).returncode != 0:
            return candidate
    return None


@pytest.fixture(scope="module")
def checkout(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    bare = _bare_python()
    if bare is None:
        pytest.skip("no python3 without packages on this machine")
    root = tmp_path_factory.mktemp("checkout")
    # Only the files steps 1 and 2 touch, to show they need nothing else (no virtualenv, no package installed).
    (root / "deploy").mkdir()
    (root / "portal" / "lib").mkdir(parents=True)
    for name in ("manage.py", ".env.example", "portal/lib/keygen.py"):
        shutil.copy(compose.ROOT / name, root / name)
    bindir = root.parent / f"{root.name}-bin"
    bindir.mkdir()
    (bindir / "python3").symlink_to(bare)
    env = clean_env()
    env["PATH"] = f"{bindir}:/usr/bin:/bin"
    env.pop("VIRTUAL_ENV", None)
    result = subprocess.run(["sh", "-eu", "-c", _setup_commands()], cwd=root, env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    return root


def test_the_documented_docker_commands_are_the_ones_covered_here():
    # If the README's commands change, this file (and tests/test_compose.py) must follow.
    assert _docker_commands() == ["docker compose up -d --build",
                                  "docker compose exec web python manage.py createsuperuser"]


def test_generate_encryption_key_works_under_production_settings_without_a_key():
    """The first key is made before there is one: production mode, no PORTAL_ENCRYPTION_KEYS (nor anything else)."""
    env = clean_env()
    env.update({"DEBUG": "false", "DJANGO_SETTINGS_MODULE": "portal.settings"})
    result = subprocess.run([sys.executable, "manage.py", "generate_encryption_key"], cwd=compose.ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    entry = result.stdout.strip()
    assert len(Keyring.parse(entry).keys) == 1
    env.update(PRODUCTION_ENV)
    env["PORTAL_ENCRYPTION_KEYS"] = entry
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                            cwd=compose.ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_step_1_writes_four_random_hex_passwords_readable_by_the_owner_only(checkout):
    values = compose.read_env_file(checkout / ".env")
    assert set(values) == PASSWORDS
    assert all(re.fullmatch(r"[0-9a-f]{64}", value) for value in values.values()), values
    assert len(set(values.values())) == 4
    assert stat.S_IMODE((checkout / ".env").stat().st_mode) == 0o600
    # Compose accepts exactly this file, and its passwords land in the URLs.
    spec = compose.load(values)
    assert values["PORTAL_DB_APP_PASSWORD"] in spec["services"]["web"]["environment"]["DATABASE_URL"]


def test_step_2_writes_settings_the_portal_accepts(checkout):
    path = checkout / "deploy" / "portal.env"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    settings = compose.read_env_file(path)
    assert len(settings["SECRET_KEY"]) >= 50
    keyring = Keyring.parse(settings["PORTAL_ENCRYPTION_KEYS"])
    assert len(keyring.keys) == 1 and re.fullmatch(r"k\d{8}", keyring.primary_kid)
    assert settings["DATABASE_URL"] == settings["REDIS_URL"] == ""  # compose sets them

    # The web service's environment as compose builds it: deploy/portal.env, then `environment` on top.
    spec = compose.load(compose.read_env_file(checkout / ".env"))
    env = clean_env()
    env.update(settings)
    env.update(spec["services"]["web"]["environment"])
    env["DJANGO_SETTINGS_MODULE"] = "portal.settings"
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                            cwd=compose.ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_settings_file_is_git_ignored():
    if not (compose.ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    result = subprocess.run(["git", "check-ignore", "--no-index", "deploy/portal.env", ".env"], cwd=compose.ROOT,
                            capture_output=True, text=True, timeout=30)
    assert result.stdout.split() == ["deploy/portal.env", ".env"], result.stdout + result.stderr


# -- step 3: the edit, then what `docker compose up` and `docker compose exec` run -------------------------------------

STEP_3 = {"ALLOWED_HOSTS": "portal.example.com", "PORTAL_BASE_URL": "https://portal.example.com",
          "EMAIL_HOST": "smtp.example.com", "DEFAULT_FROM_EMAIL": "Org Portal <portal@example.com>",
          "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend"}


@pytest.fixture
def fresh_database():
    """An empty PostgreSQL database next to the test database (the postgres container's volume, first start)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    import psycopg

    db = connection.settings_dict
    name = f"{db['NAME']}_readme"[:63]
    admin = f"postgresql://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{name}", name
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _service_env(checkout, service: str, database_url: str, tmp_path) -> dict[str, str]:
    """deploy/portal.env (after step 3's edit), then the service's compose `environment`, with this run's
    PostgreSQL and Redis instead of the containers."""
    from django.conf import settings as test_settings

    path = checkout / "deploy" / "portal.env"
    text = path.read_text()
    for name, value in STEP_3.items():
        text, count = re.subn(rf"^{name}=.*$", f"{name}={value}", text, flags=re.M)
        if not count:
            text += f"\n{name}={value}\n"
    path.write_text(text)
    spec = compose.load(compose.read_env_file(checkout / ".env"))
    env = clean_env()
    env.update(compose.read_env_file(path))
    env.update(spec["services"][service]["environment"])
    redis = urlsplit(test_settings.TEST_REDIS_URL) if getattr(test_settings, "TEST_REDIS_URL", None) else None
    if redis is None:
        pytest.skip("needs Redis")
    env["DATABASE_URL"] = database_url
    env["REDIS_URL"] = urlunsplit((redis.scheme, redis.netloc, redis.path or "/0", "", ""))
    env["PORTAL_RUN_DIR"] = str(tmp_path)
    env["DJANGO_SETTINGS_MODULE"] = "portal.settings"
    return env


def _createsuperuser_in_a_terminal(env: dict[str, str], email: str, password: str) -> str:
    """`python manage.py createsuperuser` with a terminal (what `docker compose exec` allocates), answering its
    prompts. Returns everything it printed."""
    leader, follower = pty.openpty()

    def controlling_terminal():
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen([sys.executable, "manage.py", "createsuperuser"], cwd=compose.ROOT, env=env,
                            stdin=follower, stdout=follower, stderr=follower, preexec_fn=controlling_terminal)
    os.close(follower)
    answers = [("Email", email), ("Password:", password), ("Password (again):", password)]
    output, deadline = "", time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 1)
            if ready:
                try:
                    chunk = os.read(leader, 4096).decode(errors="replace")
                except OSError:
                    break  # the terminal closed: the command ended
                if not chunk:
                    break
                output += chunk
                if answers and output.rstrip().endswith(":") and answers[0][0] in output.splitlines()[-1]:
                    os.write(leader, (answers.pop(0)[1] + "\n").encode())
            elif proc.poll() is not None:
                break
        assert proc.wait(timeout=30) == 0, output
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(leader)
    return output


@pytest.mark.postgres
@pytest.mark.redis
def test_step_3_migrate_then_createsuperuser_as_documented(checkout, fresh_database, tmp_path):
    database_url, name = fresh_database
    # `docker compose up`: the migrate service's command with its environment.
    env = _service_env(checkout, "migrate", database_url, tmp_path)
    command = compose.load(compose.read_env_file(checkout / ".env"))["services"]["migrate"]["command"]
    assert command == ["python", "manage.py", "migrate", "--noinput"]
    result = subprocess.run([sys.executable, *command[1:]], cwd=compose.ROOT, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    # `docker compose exec web python manage.py createsuperuser`, in a terminal.
    env = _service_env(checkout, "web", database_url, tmp_path)
    output = _createsuperuser_in_a_terminal(env, "root@example.com", "Correct-Horse-Battery-9")
    assert "Superuser created successfully." in output
    import psycopg

    with psycopg.connect(database_url.replace("postgres://", "postgresql://", 1)) as conn:
        row = conn.execute("SELECT is_superuser, is_staff FROM accounts_user WHERE email = %s",
                           ["root@example.com"]).fetchone()
    assert row == (True, True)
