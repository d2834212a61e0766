"""`orgportal access request --wait` against a live portal: it waits until another user approves, then prints the
approved request; a hand-out refused because access is only eligible says how to request it."""

import os
import subprocess
import time

import pytest

from orgs.models import AccessRequest
from orgs.services import access_requests as service
from portal.accounts.models import Membership
from portal.accounts.tokens import api_token_create
from tests.api.test_cli import CLI_SRC, ORGPORTAL, run
from tests.sharing.conftest import shared  # noqa: F401 - the fixture

pytestmark = [pytest.mark.django_db(transaction=True)]


def test_cli_request_waits_for_approval(live_server, world, shared, tmp_path):  # noqa: F811
    connection = shared["connection"]
    admin = Membership.objects.get(team=world.team, user=world.admin)
    service.access_policy_set(actor=admin, connection=connection, on_request=True, break_glass=False,
                              approvals_required=1, approver_group=None)
    tara = Membership.objects.select_related("team", "user").get(team=world.team, user=shared["people"]["tara"])
    raw = api_token_create(actor=tara, kind="personal", name="cli")[1]

    refused = run("env", connection.username, home=tmp_path, portal=live_server.url, token=raw)
    assert refused.returncode == 4 and "orgportal access request" in refused.stderr

    env = {"HOME": str(tmp_path), "PATH": os.environ.get("PATH", ""), "ORGPORTAL_URL": live_server.url,
           "ORGPORTAL_TOKEN": raw, "PYTHONPATH": str(CLI_SRC), "ORGPORTAL_RETRIES": "0"}
    waiting = subprocess.Popen([*ORGPORTAL, "access", "request", connection.username, "--minutes", "30", "--reason",
                                "deploy CHG-9", "--wait", "--poll-seconds", "0.3", "--json"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(100):
            pending = AccessRequest.objects.filter(requester=tara.user).first()
            if pending:
                break
            time.sleep(0.1)
        assert pending is not None and waiting.poll() is None  # still waiting
        bob_raw = api_token_create(actor=admin, kind="personal", name="cli")[1]
        own = run("access", "approve", str(pending.code), home=tmp_path, portal=live_server.url, token=raw)
        assert own.returncode == 4  # nobody approves their own request
        approved = run("access", "approve", str(pending.code), home=tmp_path, portal=live_server.url, token=bob_raw)
        assert approved.returncode == 0 and " approved " in approved.stdout, approved.stderr
        out, err = waiting.communicate(timeout=30)
    finally:
        if waiting.poll() is None:
            waiting.kill()
    assert waiting.returncode == 0, err
    assert '"state": "approved"' in out
    status = run("access", "status", home=tmp_path, portal=live_server.url, token=raw)
    assert "approved" in status.stdout
    assert run("env", connection.username, home=tmp_path, portal=live_server.url, token=raw).returncode == 0
    ended = run("access", "end", str(pending.code), home=tmp_path, portal=live_server.url, token=raw)
    assert ended.returncode == 0 and " ended " in ended.stdout
    assert run("env", connection.username, home=tmp_path, portal=live_server.url, token=raw).returncode == 4
