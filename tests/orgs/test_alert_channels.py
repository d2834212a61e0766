"""Alert channels (orgs/services/alerts.py): a local HTTP server records what the portal POSTs."""

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from orgs.models import AlertChannel, AlertDelivery
from orgs.services.alerts import AlertRetry, alert_channel_create, alert_deliver, alert_fire
from orgs.tasks import alert_deliver_task
from portal.accounts.models import Membership, Notice
from portal.accounts.services import ServiceError


@pytest.fixture
def receiver():
    """A webhook receiver on 127.0.0.1: answers the queued statuses in order (then 200) and records requests."""
    state = {"requests": [], "statuses": []}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state["requests"].append((dict(self.headers), body))
            self.send_response(state["statuses"].pop(0) if state["statuses"] else 200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state["url"] = f"http://127.0.0.1:{server.server_port}/hook/abc"
    state["port"] = server.server_port
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def admin(world, settings, receiver):
    settings.PORTAL_ALERT_ALLOWED_HOSTS = f"http://127.0.0.1:{receiver['port']}"
    return Membership.objects.get(team=world.team, user=world.admin)


def test_signed_webhook_delivery_verifies(admin, receiver, django_capture_on_commit_callbacks):
    channel, secret = alert_channel_create(actor=admin, kind="webhook", name="ops", url=receiver["url"],
                                           events=[Notice.NEEDS_REAUTH])
    with django_capture_on_commit_callbacks(execute=True):
        assert alert_fire(team_id=admin.team_id, event=Notice.NEEDS_REAUTH, text="org x needs re-authorization",
                          data={"org": "x"}) == 1
        assert alert_fire(team_id=admin.team_id, event=Notice.DEGRADED, text="not chosen") == 0
    (headers, body), = receiver["requests"]
    sig = dict(part.split("=", 1) for part in headers["X-OrgPortal-Signature"].split(","))
    expected = hmac.new(secret.encode(), f"{sig['t']}.".encode() + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(sig["v1"], expected)
    assert json.loads(body)["event"] == "needs_reauth" and headers["X-OrgPortal-Event"] == "needs_reauth"
    delivery = AlertDelivery.objects.get()
    assert delivery.status == "delivered" and delivery.response_code == 200 and delivery.attempts == 1


def test_a_500_is_retried_then_logged_as_delivered(admin, receiver, django_capture_on_commit_callbacks):
    alert_channel_create(actor=admin, kind="slack", name="slack", url=receiver["url"], events=[Notice.DEGRADED])
    receiver["statuses"] = [500, 503]
    assert alert_deliver_task.autoretry_for and alert_deliver_task.retry_backoff
    with django_capture_on_commit_callbacks(execute=True):
        alert_fire(team_id=admin.team_id, event=Notice.DEGRADED, text="degraded")
    delivery = AlertDelivery.objects.get()
    assert delivery.status == "pending" and delivery.response_code == 500  # the first attempt; the task retries
    with pytest.raises(AlertRetry):
        alert_deliver(delivery_id=delivery.pk)  # retry 1: 503
    assert alert_deliver(delivery_id=delivery.pk) is True  # retry 2: 200
    assert len(receiver["requests"]) == 3
    assert json.loads(receiver["requests"][0][1]) == {"text": "[Org Portal] degraded"}  # Slack's shape
    delivery = AlertDelivery.objects.get()
    assert delivery.status == "delivered" and delivery.attempts == 3 and delivery.response_code == 200


def test_teams_payload_is_a_message_card(admin, receiver, django_capture_on_commit_callbacks):
    alert_channel_create(actor=admin, kind="teams", name="teams", url=receiver["url"], events=[Notice.SCRATCH_EXPIRY])
    with django_capture_on_commit_callbacks(execute=True):
        alert_fire(team_id=admin.team_id, event=Notice.SCRATCH_EXPIRY, text="expires")
    payload = json.loads(receiver["requests"][0][1])
    assert payload["@type"] == "MessageCard" and payload["text"] == "[Org Portal] expires"


@pytest.mark.parametrize("url", ["https://127.0.0.1/hook", "https://10.0.0.5/hook", "https://localhost/hook",
                                 "http://example.com/hook", "https://user:pw@example.com/hook"])
def test_private_or_plain_http_urls_are_refused_at_save(world, url):
    admin = Membership.objects.get(team=world.team, user=world.admin)
    with pytest.raises(ServiceError):
        alert_channel_create(actor=admin, kind="webhook", name="x", url=url, events=[Notice.DEGRADED])
    assert not AlertChannel.objects.exists()


def test_the_secret_and_url_are_not_stored_or_logged_in_plaintext(admin, receiver, caplog,
                                                                  django_capture_on_commit_callbacks):
    receiver["statuses"] = [404]  # permanent: logged, not retried
    channel, secret = alert_channel_create(actor=admin, kind="webhook", name="ops", url=receiver["url"],
                                           events=[Notice.ACCESS_REQUEST])
    with django_capture_on_commit_callbacks(execute=True):
        alert_fire(team_id=admin.team_id, event=Notice.ACCESS_REQUEST, text="access requested")
    row = AlertChannel.objects.values().get(pk=channel.pk)
    dumped = json.dumps(row, default=str) + json.dumps(list(AlertDelivery.objects.values()), default=str)
    assert secret not in dumped and "/hook/abc" not in dumped and secret not in caplog.text
    assert "/hook/abc" not in caplog.text
    delivery = AlertDelivery.objects.get()
    assert delivery.status == "failed" and delivery.attempts == 1 and delivery.last_error == "HTTP 404"


def test_the_page_adds_a_channel_shows_the_secret_once_and_audits(admin, receiver, world):
    from django.test import Client
    from django.urls import reverse

    from portal.accounts.models import AuditEvent

    client = Client()
    client.force_login(world.admin)
    url = reverse("orgs:alert_channels", args=[world.team.code])
    response = client.post(url, {"name": "ops", "kind": "webhook", "url": receiver["url"],
                                 "events": [Notice.DEGRADED, Notice.CERTIFICATE_EXPIRY]})
    assert response.status_code == 200
    channel = AlertChannel.objects.get(name="ops")
    assert channel.reveal("secret") in response.content.decode()
    page = client.get(url).content.decode()
    assert channel.reveal("secret") not in page and "/hook/abc" not in page and "ops" in page
    assert AuditEvent.objects.filter(kind="alert_channel.created", subject="ops").exists()
    bad = client.post(url, {"name": "lan", "kind": "slack", "url": "https://192.168.1.10/x", "events": ["degraded"]})
    assert bad.status_code == 400 and "non-public address" in bad.content.decode()
    client.force_login(world.member)
    assert client.get(url).status_code == 403


def test_certificate_expiry_fires_once_per_key(admin, receiver, world, settings, django_capture_on_commit_callbacks):
    from datetime import timedelta

    from django.core import mail
    from django.utils import timezone

    from orgs.models import SigningKey
    from orgs.services.notifications import signing_keys_expiry_notify

    alert_channel_create(actor=admin, kind="slack", name="certs", url=receiver["url"],
                         events=[Notice.CERTIFICATE_EXPIRY])
    SigningKey.objects.create(team=world.team, name="ci-key", certificate_pem="x", subject="CN=ci", key_size=2048,
                              not_before=timezone.now(), not_after=timezone.now() + timedelta(days=10),
                              fingerprint_sha256="00")
    with django_capture_on_commit_callbacks(execute=True):
        assert signing_keys_expiry_notify() == 1
        assert signing_keys_expiry_notify() == 0
    assert len(receiver["requests"]) == 1 and b"ci-key" in receiver["requests"][0][1]
    assert sorted(m.to[0] for m in mail.outbox) == ["alice@example.com", "bob@example.com"]


def test_celery_retries_a_failing_delivery_then_logs_it_failed(admin, receiver, retries_in_place):
    alert_channel_create(actor=admin, kind="webhook", name="ops", url=receiver["url"], events=[Notice.DEGRADED])
    receiver["statuses"] = [500] * 20
    alert_fire(team_id=admin.team_id, event=Notice.DEGRADED, text="degraded")  # not committed: the test drives it
    delivery = AlertDelivery.objects.get()
    assert alert_deliver_task.apply(args=[delivery.pk], throw=False).result is False
    delivery.refresh_from_db()
    assert delivery.status == "failed" and delivery.attempts == alert_deliver_task.max_retries + 1
    assert delivery.response_code == 500 and delivery.last_error == "HTTP 500"
    assert len(receiver["requests"]) == delivery.attempts


@pytest.fixture
def retries_in_place():
    """Eager tasks without propagation: Celery runs each retry at once (no backoff wait), as a worker would later."""
    from celery import current_app

    old = current_app.conf.task_eager_propagates
    current_app.conf.task_eager_propagates = False
    yield
    current_app.conf.task_eager_propagates = old


def test_delivery_rechecks_the_url_and_refuses_a_no_longer_allowed_address(admin, receiver, settings,
                                                                           django_capture_on_commit_callbacks):
    alert_channel_create(actor=admin, kind="slack", name="lan", url=receiver["url"], events=[Notice.DEGRADED])
    settings.PORTAL_ALERT_ALLOWED_HOSTS = ""  # the operator removed the exception
    with django_capture_on_commit_callbacks(execute=True):
        alert_fire(team_id=admin.team_id, event=Notice.DEGRADED, text="degraded")
    delivery = AlertDelivery.objects.get()
    assert receiver["requests"] == [] and delivery.status == "failed" and "https" in delivery.last_error


def test_the_sweep_delivers_a_lost_alert_and_prunes_the_log(admin, receiver, settings, monkeypatch):
    from datetime import timedelta

    from django.utils import timezone

    from orgs.services import alerts
    from orgs.tasks import alert_deliveries_sweep_task

    assert settings.CELERY_BEAT_SCHEDULE["alert-deliveries-sweep"]["task"] == alert_deliveries_sweep_task.name
    alert_channel_create(actor=admin, kind="webhook", name="ops", url=receiver["url"], events=[Notice.DEGRADED])

    class DownBroker:
        def delay(self, *args):
            raise ConnectionError("broker down")

    with monkeypatch.context() as broken:
        broken.setattr("portal.lib.tasks.task", lambda name: DownBroker())
        alert_fire(team_id=admin.team_id, event=Notice.DEGRADED, text="degraded")
        alerts._publish(list(AlertDelivery.objects.values_list("pk", flat=True)))  # what on_commit does: refused
    lost = AlertDelivery.objects.get()
    assert alerts.alert_deliveries_sweep() == (0, 0) and receiver["requests"] == []  # young: its task may retry

    AlertDelivery.objects.filter(pk=lost.pk).update(
        created_at=timezone.now() - timedelta(seconds=settings.PORTAL_ALERT_SWEEP_EVERY + 60))
    assert alert_deliveries_sweep_task.apply().get() == [1, 0]
    assert len(receiver["requests"]) == 1 and AlertDelivery.objects.get().status == "delivered"

    AlertDelivery.objects.update(created_at=timezone.now() - timedelta(days=settings.PORTAL_ALERT_LOG_KEEP_DAYS + 1))
    assert alerts.alert_deliveries_sweep() == (0, 1) and not AlertDelivery.objects.exists()
