"""`manage.py reencrypt_secrets`: rotation to a new primary key, idempotence, resuming after kill -9, --verify."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from allauth.mfa.models import Authenticator
from django.core.management import call_command
from django.core.management.base import CommandError

from orgs.models import ConnectedApp, SigningKey
from orgs.services.apps import connected_app_create, signing_key_generate
from portal.accounts.adapter import MFAAdapter
from portal.accounts.models import Membership
from portal.lib import crypto
from tests.test_celery_worker import database_url
from tests.test_settings_and_deploy import PRODUCTION_ENV, clean_env

ROOT = Path(__file__).resolve().parent.parent.parent
OLD = crypto.new_key_entry("old")
NEW = crypto.new_key_entry("new")


def make_secrets(world, settings, count=3):
    settings.PORTAL_ENCRYPTION_KEYS = OLD
    owner = Membership.objects.get(team=world.team, user=world.owner)
    apps = [connected_app_create(actor=owner, name=f"App {i}", consumer_key=f"key{i}",
                                 consumer_secret=f"secret-number-{i:04d}", login_url="https://login.salesforce.com",
                                 scopes="api", require_pkce=True) for i in range(count)]
    key = signing_key_generate(actor=owner, name="K", common_name="k", key_size=2048, validity_days=30)
    totp = Authenticator.objects.create(user=world.owner, type=Authenticator.Type.TOTP,
                                        data={"secret": MFAAdapter().encrypt("JBSWY3DPEHPK3PXP")})
    return apps, key, totp


def on_key(kid):
    return (ConnectedApp.objects.exclude(secrets_key_id=kid).count() + SigningKey.objects.exclude(
        secrets_key_id=kid).count())


def run(*args):
    from io import StringIO

    out = StringIO()
    call_command("reencrypt_secrets", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_rotation_old_key_to_new_key(world, settings):
    apps, key, totp = make_secrets(world, settings)
    settings.PORTAL_ENCRYPTION_KEYS = f"{NEW},{OLD}"
    assert "mfa.Authenticator: 1 row(s) to re-encrypt" in run("--dry-run")
    assert on_key("new") == 4  # dry run changed nothing

    output = run()
    assert "re-encrypted 5 row(s) to key 'new'" in output
    assert on_key("new") == 0

    # A second run touches nothing.
    assert "re-encrypted 0 row(s)" in run()
    assert "0 failure(s), 0 value(s) not on primary key 'new'" in run("--verify")

    # With the old key gone, everything still decrypts.
    settings.PORTAL_ENCRYPTION_KEYS = NEW
    for i, app in enumerate(apps):
        app.refresh_from_db()
        assert app.reveal("consumer_secret") == f"secret-number-{i:04d}"
    key.refresh_from_db()
    assert "PRIVATE KEY" in key.reveal("private_key")
    totp.refresh_from_db()
    assert MFAAdapter().decrypt(totp.data["secret"]) == "JBSWY3DPEHPK3PXP"


def test_undecryptable_rows_are_reported_left_alone_and_fail_the_run(world, settings):
    apps, _, _ = make_secrets(world, settings, count=2)
    ConnectedApp.objects.filter(pk=apps[0].pk).update(consumer_secret=apps[1].consumer_secret)  # swapped
    settings.PORTAL_ENCRYPTION_KEYS = f"{NEW},{OLD}"
    with pytest.raises(CommandError, match="1 row"):
        run()
    apps[1].refresh_from_db()
    assert apps[1].reveal("consumer_secret") == "secret-number-0001"
    with pytest.raises(CommandError, match="cannot be decrypted"):
        run("--verify")


def test_missing_keyring_is_a_clear_error(settings):
    settings.PORTAL_ENCRYPTION_KEYS = ""
    with pytest.raises(CommandError, match="PORTAL_ENCRYPTION_KEYS is not set"):
        run()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_run_killed_midway_resumes_safely(world, settings):
    make_secrets(world, settings, count=12)
    env = clean_env()
    env.update(PRODUCTION_ENV)
    env.update({"DATABASE_URL": database_url(), "PORTAL_ENCRYPTION_KEYS": f"{NEW},{OLD}",
                "DJANGO_SETTINGS_MODULE": "portal.settings"})
    proc = subprocess.Popen([sys.executable, "manage.py", "reencrypt_secrets", "--batch-size", "2",
                             "--throttle", "0.5"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while ConnectedApp.objects.filter(secrets_key_id="new").count() < 2:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    moved = ConnectedApp.objects.filter(secrets_key_id="new").count()
    assert 2 <= moved < 12, "the kill should land midway"

    settings.PORTAL_ENCRYPTION_KEYS = f"{NEW},{OLD}"
    run()
    assert on_key("new") == 0
    assert "0 failure(s), 0 value(s) not on primary" in run("--verify")
    settings.PORTAL_ENCRYPTION_KEYS = NEW
    for app in ConnectedApp.objects.all():
        assert app.reveal("consumer_secret").startswith("secret-number-")
