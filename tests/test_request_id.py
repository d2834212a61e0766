"""Logs you can follow (portal/lib/logs.py): a request id on every log line, returned as X-Request-ID, carried into
Celery tasks and printed by gunicorn's access log; PORTAL_LOG_FORMAT=json writes one redacted JSON object per line."""

import io
import json
import logging
import secrets
import subprocess
import sys
import time
import uuid

import pytest

from portal.lib import logs
from portal.lib.redaction import RedactSecretsFilter
from tests.test_celery_worker import ROOT, broker_env, start, stop
from tests.test_secrets_in_logs import free_port


@pytest.fixture
def json_lines():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(logs.RequestIdFilter())
    handler.addFilter(RedactSecretsFilter())
    handler.setFormatter(logs.RedactingJsonFormatter("%(asctime)s %(levelname)s %(name)s %(request_id)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)


@pytest.mark.django_db
def test_every_log_line_of_a_request_carries_the_id_returned_as_x_request_id(client, json_lines):
    response = client.get("/nowhere/?access_token=00D5g000001abcd!AQsecretsecretsecret")
    rid = response["X-Request-ID"]
    assert len(rid) == 32 and int(rid, 16) >= 0
    lines = json_lines()
    assert lines, "the 404 is logged by django.request"
    assert all(line["request_id"] == rid for line in lines), lines
    assert any(line["logger"] == "django.request" and line["level"] == "WARNING" for line in lines)
    assert "AQsecret" not in json.dumps(lines)
    # Each request gets its own id; outside a request the field is "-".
    assert client.get("/nowhere/")["X-Request-ID"] != rid
    logging.getLogger("portal.test").warning("outside")
    assert json_lines()[-1]["request_id"] == "-"


@pytest.mark.django_db
def test_an_incoming_request_id_is_kept_only_when_it_is_sane(client):
    for good in (str(uuid.uuid4()), "abc-123", "proxy.example:4711"):
        assert client.get("/nowhere/", headers={"X-Request-ID": good})["X-Request-ID"] == good
    for bad in ("x" * 300, "abc\ninjected", "with space"):
        kept = client.get("/nowhere/", headers={"X-Request-ID": bad})["X-Request-ID"]
        assert kept != bad and len(kept) == 32


def test_the_json_formatter_redacts_extra_fields_too():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(logs.RequestIdFilter())
    handler.addFilter(RedactSecretsFilter())
    handler.setFormatter(logs.RedactingJsonFormatter("%(levelname)s %(request_id)s %(message)s"))
    logger = logging.getLogger("portal.test.extra")
    logger.addHandler(handler)
    try:
        logger.warning("hello", extra={"detail": "refresh 5Aep861abcdefghijklmnopqrstuvwxyz"})
    finally:
        logger.removeHandler(handler)
    line = json.loads(stream.getvalue())
    assert line["message"] == "hello" and "5Aep861" not in line["detail"]


def test_an_eager_task_keeps_the_callers_id():
    from portal.celery import app

    seen = []

    @app.task(name="tests.request_id.eager_probe")
    def probe():
        seen.append(logs.request_id())

    token = logs._request_id.set("feedface" * 4)
    try:
        probe.apply()
    finally:
        logs._request_id.reset(token)
    assert seen == ["feedface" * 4]


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_logs_the_publishing_requests_id_on_the_tasks_lines(tmp_path):
    env = broker_env("filesystem", tmp_path)
    env["PORTAL_LOG_FORMAT"] = "json"
    marker = "m" + secrets.token_hex(6)
    rid = uuid.uuid4().hex
    log_path = tmp_path / "worker.log"
    publish = ("import django; django.setup(); from portal.celery import app; from portal.lib import logs; "
               f"logs._request_id.set({rid!r}); app.send_task('tests.logging_tasks.log_marker', args=[{marker!r}])")
    with open(log_path, "w") as log:
        worker = start(["worker", "-l", "INFO", "--concurrency", "1", "--without-gossip", "--without-mingle",
                        "-I", "tests.logging_tasks"], env, log)
        try:
            sent = subprocess.run([sys.executable, "-c", publish], cwd=ROOT, env=env, capture_output=True,
                                  text=True, timeout=60)
            assert sent.returncode == 0, sent.stderr
            deadline = time.monotonic() + 45
            while f"{marker} module line" not in log_path.read_text() or "succeeded" not in log_path.read_text():
                assert worker.poll() is None, log_path.read_text()[-3000:]
                assert time.monotonic() < deadline, "task did not run:\n" + log_path.read_text()[-3000:]
                time.sleep(0.3)
        finally:
            stop(worker)
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    task_lines = [line for line in lines if marker in line["message"]]
    assert len(task_lines) == 2, lines[-10:]
    assert all(line["request_id"] == rid for line in task_lines), task_lines
    succeeded = [line for line in lines if "succeeded" in line["message"]]
    assert succeeded and succeeded[-1]["request_id"] == rid


@pytest.mark.django_db(transaction=True)
def test_gunicorn_json_logs_carry_the_request_id_on_the_access_line_and_the_apps_lines(tmp_path):
    import urllib.error
    import urllib.request

    env = broker_env("filesystem", tmp_path)
    port = free_port()
    env.update({"HOST": "127.0.0.1", "PORT": str(port), "WEB_CONCURRENCY": "1", "PORTAL_LOG_FORMAT": "json"})
    log_path = tmp_path / "gunicorn.log"
    with open(log_path, "w") as log:
        web = subprocess.Popen([sys.executable, "-m", "gunicorn", "--config", "portal/gunicorn_conf.py",
                                "portal.wsgi"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 30
            while True:
                assert web.poll() is None, log_path.read_text()[-3000:]
                assert time.monotonic() < deadline, log_path.read_text()[-3000:]
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/nowhere/", timeout=5)  # noqa: S310
                except urllib.error.HTTPError as exc:
                    rid = exc.headers["X-Request-ID"]
                    break
                except OSError:
                    time.sleep(0.2)
            deadline = time.monotonic() + 10
            while log_path.read_text().count(rid) < 2:
                assert time.monotonic() < deadline, log_path.read_text()[-3000:]
                time.sleep(0.2)
        finally:
            stop(web)
    lines = [json.loads(line) for line in log_path.read_text().splitlines()]  # every line is JSON
    mine = [line for line in lines if line.get("request_id") == rid]
    assert {line["logger"] for line in mine} == {"django.request", "gunicorn.access"}, lines
    access = next(line for line in mine if line["logger"] == "gunicorn.access")
    assert "GET /nowhere/" in access["message"] and access["message"].endswith(rid)


def test_the_text_format_carries_the_request_id_too(settings):
    record = logging.LogRecord("portal.test", logging.INFO, __file__, 1, "hello", None, None)
    token = logs._request_id.set("abc123" * 5)
    try:
        logs.RequestIdFilter().filter(record)
    finally:
        logs._request_id.reset(token)
    line = logging.Formatter(settings.LOGGING["formatters"]["plain"]["format"]).format(record)
    assert f"[{'abc123' * 5}] INFO portal.test: hello" in line
