"""Issue 18's default: every production org is "access on request" unless its own access policy says otherwise."""

import subprocess
import sys

from orgs import access
from orgs.models import Grant
from tests.test_settings_and_deploy import ROOT, clean_env


def test_the_setting_defaults_to_on_request(tmp_path):
    env = clean_env()
    env.pop("PORTAL_ACCESS_ON_REQUEST_PRODUCTION", None)
    env.update({"DEBUG": "true", "PORTAL_RUN_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "portal.settings"})
    result = subprocess.run([sys.executable, "manage.py", "shell", "-v", "0", "-c",
                             "from django.conf import settings as s; print(s.PORTAL_ACCESS_ON_REQUEST_PRODUCTION)"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"


def test_a_production_grant_is_eligible_by_default_and_a_sandbox_grant_standing(world, settings):
    from orgs.services.apps import connected_app_create
    from portal.accounts.models import Membership
    from tests.sharing.conftest import make_connection

    settings.PORTAL_ACCESS_ON_REQUEST_PRODUCTION = True
    app = connected_app_create(actor=Membership.objects.get(team=world.team, user=world.owner), name="App",
                               consumer_key="3MVG9default", consumer_secret="s3cret-default-0000",
                               login_url="https://login.salesforce.com", scopes="api refresh_token web",
                               require_pkce=True)
    production = make_connection(world.team, world.owner, app, username="admin@acme.example", kind="production")
    sandbox = make_connection(world.team, world.owner, app, username="dev@acme.example.uat")
    for connection in (production, sandbox):
        Grant.objects.create(team=world.team, connection=connection, subject_type="member", member=world.member,
                             level=Grant.Level.TARGET)
    pairs = access.effective_access(team=world.team, user_ids=[world.member.pk])
    on_prod, on_sandbox = pairs[(world.member.pk, production.pk)], pairs[(world.member.pk, sandbox.pk)]
    assert not on_prod.can_target and on_prod.level == Grant.Level.VIEW  # eligible: sees it, may request target
    assert on_sandbox.can_target
    admin = access.effective_access(team=world.team, user_ids=[world.admin.pk])[(world.admin.pk, production.pk)]
    assert admin.can_manage  # team admins keep standing access
