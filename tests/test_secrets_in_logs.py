"""Secrets stay out of the places operators read: gunicorn's access and error logs (a real gunicorn process) and
Django's error e-mails to ADMINS (docs/security.md, "Secrets in logs and error reports"). The Celery worker's logs:
tests/test_celery_worker.py."""

import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from tests.test_celery_worker import ROOT, broker_env, stop


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - our own local server
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.mark.django_db(transaction=True)
def test_gunicorn_access_log_lacks_the_oauth_code_and_state_and_token_shaped_values(tmp_path):
    env = broker_env("filesystem", tmp_path)
    port = free_port()
    env.update({"HOST": "127.0.0.1", "PORT": str(port), "WEB_CONCURRENCY": "1"})
    code = "aPrx" + secrets.token_urlsafe(24)
    state = secrets.token_urlsafe(32)
    access_token = f"00D5g000001{secrets.token_hex(2)}!AQ{secrets.token_urlsafe(20)}"
    log_path = tmp_path / "gunicorn.log"
    with open(log_path, "w") as log:
        web = subprocess.Popen([sys.executable, "-m", "gunicorn", "--config", "portal/gunicorn_conf.py",
                                "portal.wsgi"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                assert web.poll() is None, log_path.read_text()[-3000:]
                assert time.monotonic() < deadline, log_path.read_text()[-3000:]
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.2)
            assert get(f"{base}/orgs/oauth/callback/?code={code}&state={state}") in (302, 400)
            assert get(f"{base}/orgs/oauth/callback/?state={state}&code={code}") in (302, 400)
            assert get(f"{base}/nowhere/?access_token={access_token}") == 404
            deadline = time.monotonic() + 10
            while log_path.read_text().count("/orgs/oauth/callback/") < 2 or "/nowhere/" not in log_path.read_text():
                assert time.monotonic() < deadline, log_path.read_text()[-3000:]
                time.sleep(0.2)
        finally:
            stop(web)
    output = log_path.read_text()
    lines = [line for line in output.splitlines() if "GET /orgs/oauth/callback/" in line]
    assert len(lines) == 2, output[-3000:]
    assert "code=[redacted]" in lines[0] and "state=[redacted]" in lines[0]
    for secret in (code, state, access_token, access_token.split("!")[1]):
        assert secret not in output, output[-3000:]
