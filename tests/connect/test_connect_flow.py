"""The OAuth web-server flow against the simulator over real HTTP: connect, classify, store, and every attack."""

import time
from urllib.parse import urlsplit

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from orgs.models import OrgAlias, OrgConnection
from portal.accounts.models import AuditEvent
from tests.connect.helpers import (
    DE_USER,
    HUB_USER,
    SANDBOX_USER,
    authorize_params,
    callback_path,
    connect,
    login_and_allow,
    start,
    token_requests,
)


def stored(world):
    return (list(OrgConnection.objects.filter(team=world.team).values_list("username", "refresh_token")),
            list(OrgAlias.objects.filter(team=world.team).values_list("alias", flat=True)))


def test_connect_a_sandbox(world, client, sim, sim_app):
    client.force_login(world.member)
    response = connect(client, world, sim_app, sim, SANDBOX_USER)
    assert response.status_code == 303
    assert response["Location"] == reverse("orgs:org_list", args=[world.team.code])
    assert response["Referrer-Policy"] == "no-referrer"
    connection = OrgConnection.objects.get(team=world.team)
    assert connection.owner == world.member and connection.username == SANDBOX_USER
    assert connection.kind == "sandbox" and not connection.is_devhub and connection.type_label == "Sandbox"
    assert connection.org_id.startswith("00D") and len(connection.org_id) == 18 and connection.user_id.startswith("005")
    assert connection.instance_url == sim.base_url and connection.api_version == "68.0"
    assert connection.reveal("refresh_token") and connection.reveal("access_token")
    assert connection.status == "connected" and connection.access_token_issued_at is not None
    alias = OrgAlias.objects.get(user=world.member, connection=connection)
    assert alias.alias == "acme-uat"
    event = AuditEvent.objects.get(kind="org.connected")
    assert event.actor == world.member and event.data["type"] == "Sandbox"
    assert connection.reveal("refresh_token") not in str(event.data)
    page = client.get(response["Location"]).content.decode()
    assert "acme-uat" in page and SANDBOX_USER in page and "Sandbox" in page and "connected as" in page


@pytest.mark.parametrize(("username", "type_label", "kind"), [(HUB_USER, "Dev Hub", "production"),
                                                             (DE_USER, "Developer Edition", "developer")])
def test_org_types_are_classified(world, client, sim, sim_app, username, type_label, kind):
    client.force_login(world.member)
    connect(client, world, sim_app, sim, username)
    connection = OrgConnection.objects.get(team=world.team)
    assert (connection.type_label, connection.kind) == (type_label, kind)


def test_authorize_request_uses_state_pkce_and_prompt_login(world, client, sim, sim_app):
    client.force_login(world.member)
    location = start(client, world, sim_app)
    params = authorize_params(location)
    assert location.startswith(f"{sim.base_url}/services/oauth2/authorize?")
    assert params["response_type"] == "code" and params["client_id"] == "OrgPortalDemo"
    assert params["redirect_uri"] == "http://localhost:8000/orgs/oauth/callback/"
    assert params["code_challenge_method"] == "S256" and len(params["code_challenge"]) == 43
    assert params["prompt"] == "login" and params["scope"] == "api refresh_token web"
    assert len(params["state"]) >= 43  # >= 256 bits, URL-safe
    second = authorize_params(start(client, world, sim_app))
    assert second["state"] != params["state"] and second["code_challenge"] != params["code_challenge"]
    assert "code_verifier" not in location


# -- state attacks: all refused with 400 before any request to Salesforce ---

def assert_refused_without_token_call(world, sim, response, message):
    assert response.status_code == 400, response.status_code
    assert message in response.content.decode()
    assert response["Referrer-Policy"] == "no-referrer"
    assert token_requests(sim) == []
    assert OrgConnection.objects.filter(team=world.team).count() == 0


def test_missing_state(world, client, sim, sim_app):
    client.force_login(world.member)
    callback = login_and_allow(sim, start(client, world, sim_app), SANDBOX_USER)
    sim.clear_log()
    path = callback_path(callback)
    without_state = "&".join(p for p in urlsplit(path).query.split("&") if not p.startswith("state="))
    response = client.get(f"{urlsplit(path).path}?{without_state}")
    assert_refused_without_token_call(world, sim, response, "missing state")


def test_forged_state(world, client, sim, sim_app):
    client.force_login(world.member)
    location = start(client, world, sim_app)
    callback = login_and_allow(sim, location, SANDBOX_USER, state="forged-" + "x" * 40)
    sim.clear_log()
    assert_refused_without_token_call(world, sim, client.get(callback_path(callback)), "does not match")


def test_replayed_callback(world, client, sim, sim_app):
    client.force_login(world.member)
    callback = login_and_allow(sim, start(client, world, sim_app), SANDBOX_USER)
    assert client.get(callback_path(callback)).status_code == 303
    sim.clear_log()
    before = stored(world)
    response = client.get(callback_path(callback))
    assert response.status_code == 400 and "already used" in response.content.decode()
    assert token_requests(sim) == [] and stored(world) == before


def test_another_users_callback(world, client, sim, sim_app, django_user_model):
    """Started in browser A, completed in browser B: refused, nothing sent to Salesforce."""
    from django.test import Client

    client.force_login(world.member)
    callback = login_and_allow(sim, start(client, world, sim_app), SANDBOX_USER)
    sim.clear_log()
    other = Client()
    other.force_login(world.admin)
    assert_refused_without_token_call(world, sim, other.get(callback_path(callback)), "does not match")


def test_expired_state(world, client, sim, sim_app):
    client.force_login(world.member)
    callback = login_and_allow(sim, start(client, world, sim_app), SANDBOX_USER)
    sim.clear_log()
    with time_machine.travel(timezone.now() + timezone.timedelta(minutes=11)):
        response = client.get(callback_path(callback))
    assert_refused_without_token_call(world, sim, response, "expired")


def test_anonymous_callback(world, client, sim, sim_app):
    client.force_login(world.member)
    callback = login_and_allow(sim, start(client, world, sim_app), SANDBOX_USER)
    client.logout()
    sim.clear_log()
    assert_refused_without_token_call(world, sim, client.get(callback_path(callback)), "session ended")


# -- errors from Salesforce --------------------------------------------------------------------------------------------

def test_user_denies_access(world, client, sim, sim_app):
    client.force_login(world.member)
    callback = login_and_allow(sim, start(client, world, sim_app), SANDBOX_USER, deny="1")
    response = client.get(callback_path(callback), follow=True)
    assert "You chose Deny in Salesforce" in response.content.decode()
    assert token_requests(sim) == [] and OrgConnection.objects.count() == 0
    assert AuditEvent.objects.filter(kind="org.connect_failed").exists()


def test_pkce_is_enforced_end_to_end(world, client, sim, sim_app):
    """A code issued for somebody else's challenge cannot be redeemed with this flow's verifier."""
    from orgs.salesforce.client import new_pkce_pair

    client.force_login(world.member)
    _, attacker_challenge = new_pkce_pair()
    callback = login_and_allow(sim, start(client, world, sim_app), SANDBOX_USER, code_challenge=attacker_challenge)
    response = client.get(callback_path(callback), follow=True)
    assert "invalid code verifier (invalid_grant)" in response.content.decode()
    assert OrgConnection.objects.count() == 0
    assert [e["status"] for e in token_requests(sim)] == [400]


def test_bad_signature_is_refused(world, client, sim, sim_app):
    sim.configure(corrupt_signature=True)
    client.force_login(world.member)
    response = connect(client, world, sim_app, sim, SANDBOX_USER)
    assert response.status_code == 303
    assert OrgConnection.objects.count() == 0
    page = client.get(response["Location"]).content.decode()
    assert "failed signature verification" in page


def test_instance_url_on_a_foreign_host_is_refused_and_gets_no_token(world, client, sim, sim_app):
    import http.server
    import threading

    hits = []

    class Recorder(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()

        do_POST = do_GET  # noqa: N815

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        evil = f"http://127.0.0.1:{server.server_address[1]}"
        sim.load({"orgs": [{"id": "00D5g000004EviLAAA", "name": "Evil", "kind": "production",
                            "edition": "Enterprise Edition", "instance_url": evil}],
                  "users": [{"id": "0055g00000EviLAAA1", "org": "00D5g000004EviLAAA", "username": "x@evil.example",
                             "password": "p"}]})
        client.force_login(world.member)
        response = connect(client, world, sim_app, sim, "x@evil.example")
        page = client.get(response["Location"]).content.decode()
        assert "Refused" in page and "not a Salesforce host" in page
        assert OrgConnection.objects.count() == 0 and hits == []
    finally:
        server.shutdown()


def test_salesforce_unavailable_stores_nothing(world, client, sim, sim_app):
    sim.configure(fail_rate=1.0, fail_mode="503", fail_paths=["/services/oauth2/token"])
    client.force_login(world.member)
    response = connect(client, world, sim_app, sim, SANDBOX_USER)
    page = client.get(response["Location"]).content.decode()
    assert "Salesforce is unavailable, try again" in page
    assert OrgConnection.objects.count() == 0 and OrgAlias.objects.count() == 0


def test_failure_after_the_token_exchange_revokes_the_new_token(world, client, sim, sim_app):
    """Tokens were issued but the org could not be classified: nothing is stored, the approval is given back."""
    sim.configure(fail_rate=1.0, fail_mode="500", fail_paths=["/services/data/"])
    client.force_login(world.member)
    response = connect(client, world, sim_app, sim, SANDBOX_USER)
    assert "unavailable" in client.get(response["Location"]).content.decode()
    assert OrgConnection.objects.count() == 0
    assert any(e["path"] == "/services/oauth2/revoke" for e in sim.log())


def test_unknown_app_is_a_clear_error(world, client, sim, sim_app):
    client.force_login(world.member)
    response = client.post(reverse("orgs:connect", args=[world.team.code]), {"app": "999999", "environment": "app"})
    assert response.status_code == 400 and "Select a valid choice" in response.content.decode()
    callback = login_and_allow(sim, start(client, world, sim_app), SANDBOX_USER)
    sim_app.delete()
    page = client.get(callback_path(callback), follow=True).content.decode()
    assert "was deleted" in page and OrgConnection.objects.count() == 0


def test_hostile_my_domain_is_refused_before_any_redirect(world, client, sim, sim_app):
    client.force_login(world.member)
    response = client.post(reverse("orgs:connect", args=[world.team.code]),
                           {"app": sim_app.pk, "environment": "custom",
                            "custom_url": "https://acme.my.salesforce.com.evil.example"})
    assert response.status_code == 400 and "invalid-feedback" in response.content.decode()


# -- reconnect and disconnect ------------------------------------------------------------------------------------------

def test_reconnect_updates_in_place_and_revokes_the_superseded_token(world, client, sim, sim_app):
    client.force_login(world.member)
    connect(client, world, sim_app, sim, SANDBOX_USER, alias="uat")
    first = OrgConnection.objects.get()
    old_token = first.reveal("refresh_token")
    import hashlib

    old_hash = hashlib.sha256(old_token.encode()).hexdigest()[:16]
    sim.clear_log()
    response = client.post(reverse("orgs:org_reconnect", args=[world.team.code, first.code]))
    callback = login_and_allow(sim, response["Location"], SANDBOX_USER)
    client.get(callback_path(callback))
    assert OrgConnection.objects.count() == 1 and OrgAlias.objects.get().alias == "uat"
    second = OrgConnection.objects.get()
    assert second.pk == first.pk and second.reveal("refresh_token") != old_token
    revokes = [e for e in sim.log() if e["path"] == "/services/oauth2/revoke"]
    assert [e["token_sha256"] for e in revokes] == [old_hash]
    assert AuditEvent.objects.filter(kind="org.reconnected").count() == 1


def test_reconnect_clears_needs_reauthorization_and_is_audited(world, client, sim, sim_app):
    client.force_login(world.member)
    connect(client, world, sim_app, sim, SANDBOX_USER)
    OrgConnection.objects.update(status="needs_reauth", status_reason="expired access/refresh token")
    connect(client, world, sim_app, sim, SANDBOX_USER)
    connection = OrgConnection.objects.get()
    assert connection.status == "connected" and connection.status_reason == ""
    assert AuditEvent.objects.get(kind="org.reconnected").data["recovered_from"] == "needs re-authorization"


def test_disconnect_revokes_at_salesforce_then_deletes(world, client, sim, sim_app):
    import hashlib

    client.force_login(world.member)
    connect(client, world, sim_app, sim, SANDBOX_USER)
    connection = OrgConnection.objects.get()
    token_hash = hashlib.sha256(connection.reveal("refresh_token").encode()).hexdigest()[:16]
    sim.clear_log()
    response = client.post(reverse("orgs:org_disconnect", args=[world.team.code, connection.code]))
    assert response.status_code == 302
    assert OrgConnection.objects.count() == 0 and OrgAlias.objects.count() == 0
    revokes = [e for e in sim.log() if e["path"] == "/services/oauth2/revoke"]
    assert len(revokes) == 1 and revokes[0]["token_sha256"] == token_hash and revokes[0]["status"] == 200
    assert AuditEvent.objects.get(kind="org.disconnected").data["revocation"] == "pending"
    assert AuditEvent.objects.get(kind="org.token_revoked").data["outcome"] == "revoked"


def test_disconnect_still_deletes_when_revoke_fails_transiently(world, client, sim, sim_app):
    client.force_login(world.member)
    connect(client, world, sim_app, sim, SANDBOX_USER)
    connection = OrgConnection.objects.get()
    sim.configure(fail_rate=1.0, fail_mode="503", fail_paths=["/services/oauth2/revoke"])
    client.post(reverse("orgs:org_disconnect", args=[world.team.code, connection.code]))
    assert OrgConnection.objects.count() == 0
    first = AuditEvent.objects.filter(kind="org.token_revoked").order_by("pk").first()
    assert first.subject == SANDBOX_USER and first.data["outcome"] == "pending-retry"
    assert "unavailable" in first.data["why"].lower()


def test_a_salesforce_that_never_answers_times_out(world, client, sim, sim_app, settings):
    """Timeouts apply: a Salesforce that never answers makes the connect fail cleanly, not hang."""
    settings.PORTAL_SALESFORCE_READ_TIMEOUT = 1
    sim.configure(fail_rate=1.0, fail_mode="timeout", timeout_seconds=5, fail_paths=["/services/oauth2/token"])
    client.force_login(world.member)
    started = time.monotonic()
    response = connect(client, world, sim_app, sim, SANDBOX_USER)
    assert time.monotonic() - started < 4
    assert "unavailable" in client.get(response["Location"]).content.decode()
    assert OrgConnection.objects.count() == 0
