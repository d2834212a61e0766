"""The README's production set-up, steps 1 and 2, run as written; the files they write work with compose and the
portal's production settings. (Step 3 needs a Docker engine, which these machines do not have.)"""

import re
import shutil
import stat
import subprocess
import sys

import pytest

from portal.lib.crypto import Keyring
from tests.deploy import compose
from tests.test_settings_and_deploy import clean_env

PASSWORDS = {"POSTGRES_PASSWORD", "PORTAL_DB_OWNER_PASSWORD", "PORTAL_DB_APP_PASSWORD", "REDIS_PASSWORD"}


def _setup_commands() -> str:
    readme = (compose.ROOT / "README.md").read_text()
    section = readme[readme.index("## Production"):]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    # Everything before `docker`: generating the secrets and writing the two files.
    return block[:block.index("\ndocker ")] + "\n"


@pytest.fixture(scope="module")
def checkout(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    root = tmp_path_factory.mktemp("checkout")
    shutil.copy(compose.ROOT / ".env.example", root / ".env.example")
    (root / "deploy").mkdir()
    result = subprocess.run(["sh", "-eu", "-c", _setup_commands()], cwd=root, env=clean_env(), capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    return root


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
    assert len(keyring.keys) == 1
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
