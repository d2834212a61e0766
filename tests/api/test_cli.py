"""The `orgportal` console script against a live portal (and the simulator), run as a real subprocess.

The last test is the interop proof: `orgportal sf-login` logs the real Salesforce CLI in with a portal-issued token,
then plain `sf data query` targets the org.
"""

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from orgs.models import Grant
from tests.api.conftest import HUB_USER, SANDBOX_ORG, SANDBOX_USER, grant

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

# The CLI's own package (clients/orgportal), run from this checkout whatever the venv installed; the root project's
# `orgportal` console script points at the same module (tests/cli/test_standalone.py installs it alone).
CLI_SRC = Path(__file__).resolve().parents[2] / "clients" / "orgportal" / "src"
ORGPORTAL = [sys.executable, "-m", "orgportal"]


def run(*args, home, portal=None, token=None, stdin=None, extra=None):
    env = {"HOME": str(home), "PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8",
           "ORGPORTAL_CONFIG": str(home / "cfg" / "config.json"), "PYTHONPATH": str(CLI_SRC),
           "ORGPORTAL_RETRIES": "0"}  # the retry tests set their own
    if portal:
        env["ORGPORTAL_URL"] = portal
    if token:
        env["ORGPORTAL_TOKEN"] = token
    env.update(extra or {})
    return subprocess.run([*ORGPORTAL, *args], env=env, input=stdin, capture_output=True, text=True, timeout=60,
                          check=False)


def test_login_stores_the_token_mode_600_and_lists_orgs(live_server, world, orgs, make_token, tmp_path):
    issued = make_token(world.owner)
    login = run("login", live_server.url, "--token-stdin", home=tmp_path, stdin=issued.raw + "\n")
    assert login.returncode == 0, login.stderr
    assert "2 org(s)" in login.stdout and issued.raw not in login.stdout
    config = tmp_path / "cfg" / "config.json"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert json.loads(config.read_text()) == {"url": live_server.url, "token": issued.raw}

    listing = run("orgs", home=tmp_path)
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert lines[0].split() == ["ALIAS", "USERNAME", "ORG", "ID", "TYPE", "STATUS", "DEFAULT"]
    assert lines[1].split()[:2] == ["uat", SANDBOX_USER] and HUB_USER in lines[2]
    as_json = json.loads(run("orgs", "--json", home=tmp_path).stdout)
    assert as_json["status"] == 0 and [o["org_id"] for o in as_json["result"]][0] == SANDBOX_ORG


def test_env_prints_shell_exports(live_server, world, orgs, make_token, tmp_path):
    issued = make_token(world.owner)
    result = run("env", "uat", home=tmp_path, portal=live_server.url, token=issued.raw)
    assert result.returncode == 0, result.stderr
    script = f'eval "$(cat <<\'X\'\n{result.stdout}X\n)"; echo "$SF_TARGET_ORG|$SF_ORG_INSTANCE_URL|$SF_ACCESS_TOKEN"'
    shell = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True)
    assert shell.stdout.strip() == f"uat|{orgs.sandbox.instance_url}|{orgs.sandbox.reveal('access_token')}"


def test_clear_errors_for_every_api_error(live_server, world, orgs, make_token, tmp_path, settings, sim):
    issued = make_token(world.member)
    url = live_server.url

    bad = run("orgs", home=tmp_path, portal=url, token="op_not-a-real-token")
    assert bad.returncode == 3 and "refused the API token" in bad.stderr

    missing = run("env", "nope", home=tmp_path, portal=url, token=issued.raw)
    assert missing.returncode == 4 and "error 404" in missing.stderr and "orgportal orgs" in missing.stderr

    grant(orgs.sandbox, level=Grant.Level.VIEW, member=world.member)
    forbidden = run("env", SANDBOX_USER, home=tmp_path, portal=url, token=issued.raw)
    assert forbidden.returncode == 4 and "error 403" in forbidden.stderr and "target" in forbidden.stderr

    orgs.hub.seal("access_token", None)
    orgs.hub.save()
    sim.revoke_user(HUB_USER)
    reauth = run("env", "hub", home=tmp_path, portal=url, token=issued.raw)
    assert reauth.returncode == 5 and "re-authorization" in reauth.stderr

    settings.PORTAL_HANDOUT_RATE_PER_MINUTE = 0
    limited = run("env", "hub", home=tmp_path, portal=url, token=issued.raw)
    assert limited.returncode == 6 and "Retry in" in limited.stderr

    nobody = run("orgs", home=tmp_path, portal="http://127.0.0.1:9", token=issued.raw)
    assert nobody.returncode == 7 and "Cannot reach the portal" in nobody.stderr
    assert issued.raw not in bad.stderr + missing.stderr + forbidden.stderr + reauth.stderr + limited.stderr


def test_503_and_not_logged_in(live_server, world, jwt_connection, make_token, tmp_path, sim):
    jwt_connection.seal("access_token", None)
    jwt_connection.save()
    sim.configure(fail_rate=1, fail_mode="503")
    down = run("env", "ci", home=tmp_path, portal=live_server.url, token=make_token(world.admin).raw)
    assert down.returncode == 7 and "Salesforce is unreachable" in down.stderr
    nothing = run("orgs", home=tmp_path)
    assert nothing.returncode == 3 and "orgportal login" in nothing.stderr
    plain = run("login", "http://portal.example.com", "--token-stdin", home=tmp_path, stdin="op_x\n")
    assert plain.returncode == 2 and "https" in plain.stderr


# -- the real Salesforce CLI ---

@pytest.fixture(scope="module")
def sf_cli():
    from tests.cli.sfcli import require_sf_cli

    return require_sf_cli()


def test_sf_login_then_plain_sf_queries_the_org(live_server, world, orgs, make_token, tmp_path, sf_cli, sim):
    home = tmp_path / "home"
    home.mkdir()
    service = make_token(world.admin, kind="service", name="CI")  # the CI recipe: a team service token
    grant(orgs.sandbox, level=Grant.Level.TARGET, service_token=service.token)
    sf = f"{sf_cli.node} --no-deprecation {sf_cli.run_js}"
    env = {**sf_cli.environment(home), "ORGPORTAL_SF": sf}
    login = run("sf-login", SANDBOX_USER, "--json", home=home, portal=live_server.url, token=service.raw,
                extra={k: v for k, v in env.items() if k not in ("HOME",)})
    assert login.returncode == 0, login.stdout + login.stderr
    result = json.loads(login.stdout)["result"]
    assert result["username"] == SANDBOX_USER and result["orgId"] == SANDBOX_ORG
    assert orgs.sandbox.reveal("access_token") not in login.stdout + login.stderr

    query = sf_cli.run("data", "query", "--query", "SELECT Id FROM Organization", "--target-org", SANDBOX_USER,
                       "--json", home=home)
    assert query.returncode == 0, query.stdout + query.stderr
    records = json.loads(query.stdout)["result"]["records"]
    assert [r["Id"] for r in records] == [SANDBOX_ORG]


class _Recorder:
    """A local HTTP server on its own port that records every request's headers; `redirect_to` makes it answer
    with that status and a Location on the other server instead of JSON."""

    def __init__(self, status=200, redirect_to=None):
        import http.server
        import threading

        recorder = self
        self.requests: list[dict[str, str]] = []
        self.status, self.redirect_to = status, redirect_to

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self):
                recorder.requests.append({k.lower(): v for k, v in self.headers.items()})
                if recorder.redirect_to:
                    self.send_response(recorder.status)
                    self.send_header("Location", recorder.redirect_to() + self.path)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = b'{"orgs": [], "access_token": "x", "instance_url": "https://x", "username": "u"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_the_token_never_follows_a_redirect_to_another_host(tmp_path, status):
    """urllib copies the Authorization header onto a redirect, even to another host; the CLI refuses to follow."""
    elsewhere = _Recorder()
    portal = _Recorder(status=status, redirect_to=lambda: elsewhere.url)
    token = "op_" + "t" * 40
    try:
        for args in (("orgs",), ("env", "uat")):
            result = run(*args, home=tmp_path, portal=portal.url, token=token)
            assert result.returncode == 1, (result.stdout, result.stderr)
            assert f"HTTP {status} with a redirect to {elsewhere.url}" in result.stderr
            assert "never follows a redirect" in result.stderr and token not in result.stderr + result.stdout
        login = run("login", portal.url, "--token-stdin", home=tmp_path, stdin=token + "\n")
        assert login.returncode == 1 and "never follows a redirect" in login.stderr
        assert not (tmp_path / "cfg" / "config.json").exists()
    finally:
        portal.close()
        elsewhere.close()
    assert len(portal.requests) == 3 and all(r["authorization"] == f"Bearer {token}" for r in portal.requests)
    assert elsewhere.requests == []  # the second server never saw the token (nor any request)
