"""The keyring's known-answer check: web (gunicorn), worker, beat and `migrate`/`check --database` refuse to start
with one line naming PORTAL_ENCRYPTION_KEYS when the configured key cannot decrypt this database's value."""

import os
import socket
import subprocess
import sys

import pytest

from portal.accounts.keycheck import KeyringCheckError, keyring_verify
from portal.accounts.models import KeyCheck
from portal.lib import crypto
from tests.test_celery_worker import ROOT, broker_env

K1, K2 = crypto.new_key_entry("k1"), crypto.new_key_entry("k2")


def ring(value: str) -> crypto.Keyring:
    return crypto.Keyring.parse(value)


@pytest.mark.django_db
def test_first_start_stores_a_value_per_key_and_later_starts_verify_it():
    assert keyring_verify(keyring=ring(K1)) == ["k1"]
    assert keyring_verify(keyring=ring(K1)) == []
    assert list(KeyCheck.objects.values_list("kid", flat=True)) == ["k1"]


@pytest.mark.django_db
def test_a_wrong_key_under_a_known_id_is_refused_naming_the_setting():
    keyring_verify(keyring=ring(K1))
    with pytest.raises(KeyringCheckError) as caught:
        keyring_verify(keyring=ring(crypto.new_key_entry("k1")))
    message = str(caught.value)
    assert message.startswith("PORTAL_ENCRYPTION_KEYS") and "\n" not in message and "'k1'" in message
    assert K1.split(":")[1] not in message


@pytest.mark.django_db
def test_a_replaced_keyring_sharing_no_key_with_the_database_is_refused():
    keyring_verify(keyring=ring(K1))
    with pytest.raises(KeyringCheckError, match="^PORTAL_ENCRYPTION_KEYS: none of its keys"):
        keyring_verify(keyring=ring(K2))
    assert list(KeyCheck.objects.values_list("kid", flat=True)) == ["k1"]


@pytest.mark.django_db
def test_a_rotation_registers_the_new_key_and_survives_removing_the_old_one():
    keyring_verify(keyring=ring(K1))
    assert keyring_verify(keyring=ring(f"{K2},{K1}")) == ["k2"]  # README "Rotating the encryption key", step 2
    assert keyring_verify(keyring=ring(K2)) == []  # step 5: the old key removed


def _portal_env(tmp_path, keys: str) -> dict[str, str]:
    tmp_path.mkdir(exist_ok=True)
    env = broker_env("filesystem", tmp_path)
    env["PORTAL_ENCRYPTION_KEYS"] = keys
    return env


def _one_line_refusal(result) -> None:
    lines = [line for line in result.stderr.splitlines() if "PORTAL_ENCRYPTION_KEYS" in line]
    assert result.returncode != 0, result.stdout + result.stderr
    assert lines and lines[0].startswith("Org Portal configuration error: PORTAL_ENCRYPTION_KEYS: key 'test1'"), \
        result.stdout + result.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.django_db(transaction=True)
def test_web_worker_beat_and_migrate_refuse_to_start_with_a_wrong_key(tmp_path):
    keyring_verify()  # the test keyring's values are in the database, as after a first start
    good = os.environ["PORTAL_ENCRYPTION_KEYS"]
    wrong = ",".join(crypto.new_key_entry(kid) for kid in ring(good).keys)
    env = _portal_env(tmp_path, wrong)
    celery = [sys.executable, "-m", "celery", "-A", "portal"]
    commands = {
        "web": [sys.executable, "-m", "gunicorn", "--config", "portal/gunicorn_conf.py", "portal.wsgi"],
        "worker": [*celery, "worker", "-l", "INFO", "--concurrency", "1", "--without-gossip", "--without-mingle"],
        "beat": [*celery, "beat", "-l", "INFO", "-s", str(tmp_path / "schedule")],
        "migrate": [sys.executable, "manage.py", "migrate", "--noinput"],
    }
    env.update({"HOST": "127.0.0.1", "PORT": str(_free_port()), "WEB_CONCURRENCY": "1"})
    for name, command in commands.items():
        result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=90)
        if name == "migrate":
            assert result.returncode != 0 and "accounts.E001" in result.stderr, result.stdout + result.stderr
            assert "PORTAL_ENCRYPTION_KEYS: key 'test1'" in result.stderr
        else:
            _one_line_refusal(result)

    # With the right key the same check passes (`check --database` runs it without starting anything).
    result = subprocess.run([sys.executable, "manage.py", "check", "--database", "default"], cwd=ROOT,
                            env=_portal_env(tmp_path / "ok", good), capture_output=True, text=True, timeout=90)
    assert result.returncode == 0, result.stdout + result.stderr
