"""`orgportal sandbox create|refresh|status|delete` against a live portal, the simulator and a stand-in worker."""

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from orgs.models import OrgConnection, Sandbox
from orgs.services.apps import callback_url

pytestmark = [pytest.mark.postgres, pytest.mark.redis]
ROOT = Path(__file__).resolve().parents[2]


def run(*args, portal, token, tmp_path):
    env = {"HOME": str(tmp_path), "PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8",
           "PYTHONPATH": str(ROOT / "clients" / "orgportal" / "src"),
           "ORGPORTAL_URL": portal, "ORGPORTAL_TOKEN": token, "ORGPORTAL_POLL_SECONDS": "0.3",
           "ORGPORTAL_CONFIG": str(tmp_path / "config.json")}
    return subprocess.run([sys.executable, "-m", "orgportal", *args], env=env, capture_output=True, text=True,
                          timeout=120, check=False)


@pytest.mark.django_db(transaction=True)
def test_sandbox_commands(live_server, world, sim, production, make_token, worker, tmp_path, settings):
    settings.PORTAL_BASE_URL = live_server.url
    sim.update_app("OrgPortalDemo", callback_urls=[callback_url()])
    sim.configure(sandbox_copy_seconds=1.5)
    issued = make_token(world.owner)
    prod = production.username

    created = run("sandbox", "create", prod, "cli1", "--alias", "cli1", "--json", portal=live_server.url,
                  token=issued.raw, tmp_path=tmp_path)
    assert created.returncode == 0, created.stderr + created.stdout
    body = json.loads(created.stdout)
    assert body["status"] == 0 and body["result"]["state"] == "done" and body["result"]["connected"] is True
    connection = OrgConnection.objects.get(username="admin@acme.example.cli1")

    status = run("sandbox", "status", prod, "cli1", portal=live_server.url, token=issued.raw, tmp_path=tmp_path)
    assert status.returncode == 0 and "cli1: Done · Completed" in status.stdout

    early = run("sandbox", "refresh", prod, "cli1", "--json", portal=live_server.url, token=issued.raw,
                tmp_path=tmp_path)
    assert early.returncode != 0 and "can be refreshed from" in json.loads(early.stdout)["message"]
    sim.set_sandbox_last_refresh("cli1", 2, org=production.org_id)
    Sandbox.objects.filter(name="cli1").update(last_refreshed_at=timezone.now() - timedelta(days=2))
    refreshed = run("sandbox", "refresh", prod, "cli1", portal=live_server.url, token=issued.raw,
                    tmp_path=tmp_path)
    assert refreshed.returncode == 0, refreshed.stderr
    assert "Refresh" in refreshed.stderr or "Copying" in refreshed.stderr  # the progress line
    moved = OrgConnection.objects.get(pk=connection.pk)
    assert moved.org_id != connection.org_id

    no_wait = run("sandbox", "create", prod, "cli2", "--no-wait", "--json", portal=live_server.url,
                  token=issued.raw, tmp_path=tmp_path)
    assert json.loads(no_wait.stdout)["result"]["in_progress"] is True

    refused = run("sandbox", "delete", prod, "cli1", portal=live_server.url, token=issued.raw, tmp_path=tmp_path)
    assert refused.returncode == 2 and "--no-prompt" in refused.stderr
    deleted = run("sandbox", "delete", prod, "cli1", "--no-prompt", "--json", portal=live_server.url,
                  token=issued.raw, tmp_path=tmp_path)
    assert deleted.returncode == 0 and json.loads(deleted.stdout)["result"]["deleted"] is True
    assert not OrgConnection.objects.filter(pk=connection.pk).exists()
