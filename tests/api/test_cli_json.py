"""The CLI's issue-19 features against a live portal: the --json envelope (errors included) and its exit codes,
config target-org (and its variable), env formats, whoami, logout, open, and bounded retries on 429/503."""

import http.server
import json
import threading

import pytest

from orgs.models import Grant
from tests.api.conftest import HUB_USER, SANDBOX_USER, grant
from tests.api.test_cli import run

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def envelope(result):
    return json.loads(result.stdout)


def test_every_error_answers_in_the_json_envelope(live_server, world, orgs, make_token, tmp_path):
    not_logged_in = run("orgs", "--json", home=tmp_path)
    assert not_logged_in.returncode == 3
    assert envelope(not_logged_in) == {"status": 3, "exitCode": 3, "name": "AuthenticationError",
                                       "message": envelope(not_logged_in)["message"], "warnings": []}
    usage = run("env", "--json", "--format", "tcsh", home=tmp_path)
    assert usage.returncode == 2 and envelope(usage)["name"] == "UsageError"
    token = make_token(world.member).raw
    missing = run("env", "nope", "--json", home=tmp_path, portal=live_server.url, token=token)
    assert missing.returncode == 4 and envelope(missing)["name"] == "AccessError" and missing.stderr == ""
    grant(orgs.sandbox, level=Grant.Level.VIEW, member=world.member)
    forbidden = run("open", SANDBOX_USER, "--json", home=tmp_path, portal=live_server.url, token=token)
    assert forbidden.returncode == 4 and "error 403" in envelope(forbidden)["message"]
    version = run("--version", home=tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("orgportal ")
    assert envelope(run("--version", "--json", home=tmp_path))["result"]["version"] == version.stdout.split()[1]


def test_config_target_org_whoami_open_logout(live_server, world, orgs, make_token, tmp_path):
    issued = make_token(world.owner)
    assert run("login", live_server.url, "--token-stdin", home=tmp_path, stdin=issued.raw + "\n").returncode == 0
    me = envelope(run("whoami", "--json", home=tmp_path))["result"]
    assert me["user"]["email"] == world.owner.email and me["token"]["kind"] == "personal"

    no_default = run("env", home=tmp_path)
    assert no_default.returncode == 2 and "config set target-org" in no_default.stderr
    assert run("config", "set", "target-org", "uat", home=tmp_path).returncode == 0
    got = envelope(run("config", "get", "target-org", "--json", home=tmp_path))["result"]
    assert got["value"] == "uat"
    assert "export SF_TARGET_ORG=uat" in run("env", home=tmp_path).stdout
    overridden = run("env", home=tmp_path, extra={"ORGPORTAL_TARGET_ORG": HUB_USER})
    assert f"export SF_TARGET_ORG={HUB_USER}" in overridden.stdout
    again = run("login", live_server.url, "--token-stdin", home=tmp_path, stdin=issued.raw + "\n")
    assert again.returncode == 0 and run("config", "get", "target-org", home=tmp_path).stdout.strip() == "uat"

    opened = run("open", "--url-only", home=tmp_path)
    assert opened.returncode == 0 and "/secur/frontdoor.jsp" in opened.stdout, opened.stderr
    assert envelope(run("open", "--json", home=tmp_path))["result"]["username"] == SANDBOX_USER

    assert run("config", "unset", "target-org", home=tmp_path).returncode == 0
    assert run("env", home=tmp_path).returncode == 2
    out = run("logout", "--json", home=tmp_path)
    assert envelope(out)["result"]["removed"] is True and not (tmp_path / "cfg" / "config.json").exists()
    assert run("whoami", home=tmp_path).returncode == 3


def test_env_formats(live_server, world, orgs, make_token, tmp_path):
    token = make_token(world.owner).raw
    secret = None

    def env(fmt, **extra):
        result = run("env", "uat", "--format", fmt, home=tmp_path, portal=live_server.url, token=token, extra=extra)
        assert result.returncode == 0, result.stderr
        return result.stdout

    secret = orgs.sandbox.reveal("access_token")
    assert f"set -gx SF_ACCESS_TOKEN '{secret}';" in env("fish")
    assert f"$env:SF_ACCESS_TOKEN = '{secret}'" in env("powershell")
    assert 'SF_TARGET_ORG="uat"' in env("dotenv")
    github_env = tmp_path / "github_env"
    github_env.write_text("EARLIER=1\n")
    printed = env("github", GITHUB_ENV=str(github_env))
    assert printed == f"::add-mask::{secret}\n"
    assert github_env.read_text() == (f"EARLIER=1\nSF_ACCESS_TOKEN={secret}\n"
                                      f"SF_ORG_INSTANCE_URL={orgs.sandbox.instance_url}\nSF_TARGET_ORG=uat\n")
    no_file = run("env", "uat", "--format", "github", home=tmp_path, portal=live_server.url, token=token)
    assert no_file.returncode == 2 and "GITHUB_ENV" in no_file.stderr


class _Flaky:
    """Answers `failures` times with `status` (+ Retry-After), then 200 with an empty org list."""

    def __init__(self, status, failures, retry_after):
        flaky = self
        self.calls = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                flaky.calls += 1
                ok = flaky.calls > failures
                body = b'{"orgs": []}' if ok else b'{"error": "rate_limited", "message": "slow down"}'
                self.send_response(200 if ok else status)
                if not ok and retry_after is not None:
                    self.send_header("Retry-After", retry_after)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize(("status", "retry_after", "failures", "retries", "code", "calls"), [
    (429, "1", 2, "3", 0, 3),        # honours Retry-After, then succeeds
    (503, None, 1, "3", 0, 2),       # a 503 without Retry-After: 1 s backoff
    (429, "1", 5, "2", 6, 3),        # bounded: gives up after ORGPORTAL_RETRIES
    (429, "3600", 1, "3", 6, 1),     # a wait longer than ORGPORTAL_RETRY_MAX_WAIT is not waited for
    (429, None, 1, "3", 6, 1),       # a 429 without Retry-After is not retried blindly
])
def test_retries_on_429_and_503_are_bounded(tmp_path, status, retry_after, failures, retries, code, calls):
    server = _Flaky(status, failures, retry_after)
    try:
        result = run("orgs", "--json", home=tmp_path, portal=server.url, token="op_" + "x" * 40,
                     extra={"ORGPORTAL_RETRIES": retries, "ORGPORTAL_RETRY_MAX_WAIT": "5"})
    finally:
        server.close()
    assert result.returncode == code, result.stdout
    assert server.calls == calls
