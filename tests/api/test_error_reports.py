"""Django's error e-mail to ADMINS never carries a secret (docs/security.md, "Secrets in logs and error reports").

A view is made to fail while a secret sits in a local variable (an access token being handed out, a consumer secret
being staged), in POST data, or in the OAuth callback's query string. The e-mail (locmem) — its text and, with
`include_html` on, the HTML report that shows every frame's local variables — contains none of them.
`sensitive_variables` / `sensitive_post_parameters` on the views and services keep them out; the canaries are not
token-shaped, so the handler's last-resort redaction cannot be what hides them."""

import logging

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from orgs.models import ConnectedApp
from tests.canaries import find_leaks, new_canary

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture
def reports(settings, client):
    settings.DEBUG = False
    settings.ADMINS = [("Ops", "ops@example.com")]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    client.raise_request_exception = False
    handler = next(h for h in logging.getLogger("django.request").handlers if h.__class__.__name__ ==
                   "RedactingAdminEmailHandler")
    handler.include_html = True  # the worst case: the HTML report lists every frame's local variables
    try:
        yield
    finally:
        handler.include_html = False


def the_report() -> str:
    assert len(mail.outbox) == 1, [m.subject for m in mail.outbox]
    message = mail.outbox[0]
    assert message.to == ["ops@example.com"]
    html = "".join(content for content, _ in getattr(message, "alternatives", []))
    assert "boom" in message.body and "boom" in html  # the report is about our failure, locals included
    return f"{message.subject}\n{message.body}\n{html}"


def boom(*args, **kwargs):
    raise RuntimeError("boom")


def test_hand_out_failure_report_lacks_the_access_token(reports, world, orgs, client, monkeypatch):
    access_token = new_canary("at")
    orgs.sandbox.seal("access_token", access_token)
    orgs.sandbox.access_token_issued_at = timezone.now()
    orgs.sandbox.save()
    monkeypatch.setattr("orgs.services.handout.audit_record", boom)  # fails with the token in hand
    client.force_login(world.owner)
    response = client.post(reverse("orgs:token", args=[world.team.code, orgs.sandbox.code]))
    assert response.status_code == 500
    assert find_leaks(the_report(), {"access_token": access_token}) == []


def test_secret_staging_failure_report_lacks_the_secret_in_locals_and_post(reports, world, sim_app, client,
                                                                          monkeypatch):
    secret = new_canary("cs")
    monkeypatch.setattr(ConnectedApp, "seal", boom)  # fails inside the service, the secret in its arguments
    client.force_login(world.admin)
    response = client.post(reverse("orgs:app_secret", args=[world.team.code, sim_app.code]),
                           {"action": "stage", "secret": secret})
    assert response.status_code == 500
    report = the_report()
    assert "secret = '*****" in report or "secret = '[redacted]'" in report  # the field is listed, not its value
    assert find_leaks(report, {"secret": secret}) == []


def test_oauth_callback_failure_report_lacks_code_and_state(reports, world, client, monkeypatch):
    code, state = new_canary("code"), new_canary("state")
    monkeypatch.setattr("orgs.views.connections.connect_flow.connect_pop_flow", boom)
    client.force_login(world.member)
    response = client.get(reverse("orgs:oauth_callback"), {"code": code, "state": state})
    assert response.status_code == 500
    assert find_leaks(the_report(), {"code": code, "state": state}) == []


def test_admins_come_from_portal_admins(monkeypatch):
    import subprocess
    import sys

    from tests.test_settings_and_deploy import clean_env

    env = {**clean_env(), "DEBUG": "true", "PORTAL_ADMINS": "Ada Ops <ada@example.com>, ops@example.com",
           "DJANGO_SETTINGS_MODULE": "portal.settings"}
    code = "from django.conf import settings; print(settings.ADMINS)"
    out = subprocess.run([sys.executable, "-c", "import django; django.setup(); " + code], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[('Ada Ops', 'ada@example.com'), ('', 'ops@example.com')]", out.stderr
    env["PORTAL_ADMINS"] = "not an address"
    bad = subprocess.run([sys.executable, "-c", "import django; django.setup()"], env=env, capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode != 0 and "PORTAL_ADMINS" in bad.stderr
