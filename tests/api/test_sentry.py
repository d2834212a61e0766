"""Opt-in Sentry (portal/lib/sentry.py): on only with SENTRY_DSN, Django + Celery integrations, beat monitored as
crons, and no secret in what would be sent. A local transport captures the envelopes: no network."""

import json
import subprocess
import sys

import pytest
import sentry_sdk
from sentry_sdk.transport import Transport

from portal.lib.sentry import sentry_init
from tests.canaries import find_leaks, new_canary
from tests.test_settings_and_deploy import clean_env

pytestmark = [pytest.mark.postgres, pytest.mark.redis]
DSN = "http://public@127.0.0.1:9/1"  # never contacted: the transport below replaces the network


class CapturingTransport(Transport):
    def __init__(self, options=None):
        super().__init__(options)
        self.envelopes = []

    def capture_envelope(self, envelope):
        self.envelopes.append(envelope)

    def text(self) -> str:
        return "\n".join(envelope.serialize().decode("utf-8", "replace") for envelope in self.envelopes)


@pytest.fixture
def sent(client):
    transport = CapturingTransport()
    sentry_init(dsn=DSN, environment="test", transport=transport)
    client.raise_request_exception = False
    try:
        yield transport
    finally:
        sentry_sdk.flush()
        sentry_sdk.get_global_scope().set_client(None)


def test_a_hand_out_failure_reaches_sentry_without_any_secret(sent, world, orgs, client, make_token, monkeypatch):
    from django.utils import timezone

    access_token = new_canary("at")
    orgs.sandbox.seal("access_token", access_token)
    orgs.sandbox.access_token_issued_at = timezone.now()
    orgs.sandbox.save()
    shaped = "00D5g000001abcd!AQ" + "x" * 40  # a token-shaped value in the exception's message

    def boom(*args, **kwargs):
        raise RuntimeError(f"boom while handing out {shaped} refresh_token=5Aep861{'y' * 30}")

    monkeypatch.setattr("orgs.services.handout.audit_record", boom)
    issued = make_token(world.owner)
    response = client.post("/api/v1/orgs/uat/access-token?code=CODE123secret&state=STATE456secret", **issued.auth)
    assert response.status_code == 500
    sentry_sdk.flush()
    text = sent.text()
    assert "boom while handing out" in text and '"type":"event"' in text.replace(" ", "")
    assert "RuntimeError" in text
    assert find_leaks(text, {"access_token": access_token, "api_token": issued.raw}) == []
    for secret in (shaped, "AQ" + "x" * 40, "y" * 30, "CODE123secret", "STATE456secret"):
        assert secret not in text, secret
    assert "[redacted]" in text


def test_logged_errors_and_breadcrumbs_are_redacted(sent):
    import logging

    shaped = "op_" + "z" * 40
    logging.getLogger("portal.test").warning("a breadcrumb with %s", shaped)
    logging.getLogger("portal.test").error("an error event with secret=%s", "hunter2hunter2")
    sentry_sdk.flush()
    text = sent.text()
    assert "an error event" in text and "a breadcrumb" in text
    assert shaped not in text and "hunter2hunter2" not in text


def _settings_probe(extra_env: dict) -> dict:
    env = {**clean_env(), "DEBUG": "true", "DJANGO_SETTINGS_MODULE": "portal.settings", **extra_env}
    code = ("import django, json, sentry_sdk; django.setup(); c = sentry_sdk.get_client(); "
            "from sentry_sdk.integrations.celery import CeleryIntegration; "
            "i = c.integrations.get('celery') if c.is_active() else None; "
            "print(json.dumps({'active': c.is_active(), 'pii': c.options.get('send_default_pii'), "
            "'integrations': sorted(c.integrations) if c.is_active() else [], "
            "'beat': bool(i and i.monitor_beat_tasks), 'scrubbed': c.options.get('before_send') is not None}))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_sentry_is_on_only_with_a_dsn():
    assert _settings_probe({})["active"] is False
    on = _settings_probe({"SENTRY_DSN": DSN})
    assert on["active"] is True and on["pii"] is False and on["scrubbed"] is True
    assert {"django", "celery"} <= set(on["integrations"]) and on["beat"] is True
