"""Connected apps and JWT signing keys: the role matrix, the pages, and every bad input."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from orgs.models import ConnectedApp, OrgConnection, SigningKey
from orgs.services.apps import connected_app_create, signing_key_generate
from portal.accounts.models import AuditEvent, Membership
from tests.registrations import keyfactory as kf

ROLES = ["owner", "admin", "member", "outsider"]


def actor(world, role="owner"):
    return Membership.objects.get(team=world.team, user=world.user(role))


def snapshot(world):
    return (
        sorted(ConnectedApp.objects.filter(team=world.team).values_list(
            "name", "consumer_key", "consumer_secret", "pending_consumer_secret", "login_url", "signing_key_id")),
        sorted(SigningKey.objects.filter(team=world.team).values_list("name", "fingerprint_sha256")),
        AuditEvent.objects.filter(team=world.team).count(),
    )


@pytest.fixture
def app(world):
    return connected_app_create(actor=actor(world), name="CLI app", consumer_key="3MVG9consumerkey",
                                consumer_secret="topsecret-consumer-9876", login_url="https://login.salesforce.com",
                                scopes="api refresh_token web", require_pkce=True)


@pytest.fixture
def key(world):
    return signing_key_generate(actor=actor(world), name="CI key", common_name="ci", key_size=2048,
                                validity_days=90)


def uploads(key=None, cert=None, **extra):
    key = key if key is not None else kf.rsa_key()
    data = {
        "name": extra.pop("name", "Uploaded"),
        "private_key": SimpleUploadedFile("key.pem", extra.pop("key_bytes", None) or kf.private_pem(key)),
        "certificate": SimpleUploadedFile("cert.crt", cert if cert is not None else kf.certificate(key)),
    }
    data.update(extra)
    return data


APP_FORM = {"name": "New app", "consumer_key": "3MVG9new", "consumer_secret": "new-secret-value-1111",
            "environment": "sandbox", "custom_url": "", "scopes": "api refresh_token web", "require_pkce": "on"}


def matrix(world, app, key):
    t = world.team.code
    return {
        "list apps": ("get", reverse("orgs:app_list", args=[t]), None, (200, 200, 200, 404)),
        "create app": ("post", reverse("orgs:app_create", args=[t]), APP_FORM, (302, 302, 403, 404)),
        "view app": ("get", reverse("orgs:app_detail", args=[t, app.code]), None, (200, 200, 403, 404)),
        "edit app": ("post", reverse("orgs:app_edit", args=[t, app.code]),
                     {**APP_FORM, "name": "Renamed"}, (302, 302, 403, 404)),
        "stage secret": ("post", reverse("orgs:app_secret", args=[t, app.code]),
                         {"action": "stage", "secret": "rotated-secret-2222"}, (302, 302, 403, 404)),
        "delete app": ("post", reverse("orgs:app_delete", args=[t, app.code]), None, (302, 302, 403, 404)),
        "list keys": ("get", reverse("orgs:key_list", args=[t]), None, (200, 200, 403, 404)),
        "generate key": ("post", reverse("orgs:key_generate", args=[t]),
                         {"name": "Gen", "common_name": "gen", "key_size": "2048", "validity_days": "30"},
                         (302, 302, 403, 404)),
        "upload key": ("post", reverse("orgs:key_upload", args=[t]), "uploads", (302, 302, 403, 404)),
        "view key": ("get", reverse("orgs:key_detail", args=[t, key.code]), None, (200, 200, 403, 404)),
        "download certificate": ("get", reverse("orgs:key_certificate", args=[t, key.code]), None,
                                 (200, 200, 403, 404)),
        "delete key": ("post", reverse("orgs:key_delete", args=[t, key.code]), None, (302, 302, 403, 404)),
    }


ACTIONS = ["list apps", "create app", "view app", "edit app", "stage secret", "delete app", "list keys",
           "generate key", "upload key", "view key", "download certificate", "delete key"]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", ACTIONS)
def test_apps_and_keys_role_matrix(world, client, app, key, role, action):
    method, url, data, expected = matrix(world, app, key)[action]
    if data == "uploads":
        data = uploads()
    client.force_login(world.user(role))
    before = snapshot(world)
    response = getattr(client, method)(url, data or {})
    status = expected[ROLES.index(role)]
    assert response.status_code == status, (action, role, response.content.decode()[:500])
    if status in (403, 404):
        assert snapshot(world) == before
    elif method == "post":
        assert snapshot(world) != before


def test_members_see_only_name_and_status(world, client, app):
    client.force_login(world.member)
    html = client.get(reverse("orgs:app_list", args=[world.team.code])).content.decode()
    assert "CLI app" in html and "Ready" in html
    assert "3MVG9consumerkey" not in html and "••••" not in html and "login.salesforce.com" not in html


def test_admin_sees_masked_secret_callback_url_and_instructions(world, client, app):
    client.force_login(world.admin)
    html = client.get(reverse("orgs:app_detail", args=[world.team.code, app.code])).content.decode()
    assert "••••9876" in html and "topsecret-consumer-9876" not in html
    assert "http://localhost:8000/orgs/oauth/callback/" in html
    assert "External Client App" in html and "connected app" in html


def test_create_app_stores_everything_and_audits(world, client):
    client.force_login(world.admin)
    response = client.post(reverse("orgs:app_create", args=[world.team.code]),
                           {**APP_FORM, "environment": "custom", "custom_url": "https://acme.my.salesforce.com/"})
    assert response.status_code == 302
    app = ConnectedApp.objects.get(name="New app")
    assert app.login_url == "https://acme.my.salesforce.com"
    assert app.reveal("consumer_secret") == "new-secret-value-1111"
    assert "new-secret-value-1111" not in app.consumer_secret
    event = AuditEvent.objects.get(kind="app.created")
    assert "new-secret-value-1111" not in str(event.data) and event.subject == "New app"


def test_public_client_needs_pkce(world, client):
    client.force_login(world.admin)
    before = snapshot(world)
    data = {**APP_FORM, "consumer_secret": ""}
    data.pop("require_pkce")
    response = client.post(reverse("orgs:app_create", args=[world.team.code]), data)
    assert response.status_code == 400 and "must use PKCE" in response.content.decode()
    assert snapshot(world) == before
    assert client.post(reverse("orgs:app_create", args=[world.team.code]),
                       {**APP_FORM, "consumer_secret": ""}).status_code == 302
    assert ConnectedApp.objects.get(name="New app").is_public_client


@pytest.mark.parametrize("url", ["https://evil.example", "http://login.salesforce.com", "https://10.0.0.1",
                                 "https://x.my.salesforce.com.evil.example", "https://user@login.salesforce.com",
                                 "https://lоgin.salesforce.com", "not a url", ""])
def test_hostile_login_urls_are_form_errors(world, client, url):
    client.force_login(world.admin)
    before = snapshot(world)
    response = client.post(reverse("orgs:app_create", args=[world.team.code]),
                           {**APP_FORM, "environment": "custom", "custom_url": url})
    assert response.status_code == 400 and "invalid-feedback" in response.content.decode()
    assert snapshot(world) == before


@pytest.mark.parametrize("data", [{}, {**APP_FORM, "name": ""}, {**APP_FORM, "environment": "mars"},
                                  {**APP_FORM, "scopes": "api; drop table"}, {**APP_FORM, "signing_key": "999"}])
def test_malformed_app_forms_rerender(world, client, data):
    client.force_login(world.admin)
    before = snapshot(world)
    response = client.post(reverse("orgs:app_create", args=[world.team.code]), data)
    assert response.status_code == 400
    assert snapshot(world) == before


def test_duplicate_app_name_is_a_clear_error(world, client, app):
    client.force_login(world.admin)
    before = snapshot(world)
    response = client.post(reverse("orgs:app_create", args=[world.team.code]), {**APP_FORM, "name": "CLI app"})
    assert response.status_code == 400 and "already has a connected app called" in response.content.decode()
    assert snapshot(world) == before


def test_another_teams_signing_key_cannot_be_attached(world, client, app):
    foreign = signing_key_generate(actor=Membership.objects.get(team=world.other_team), name="Theirs",
                                   common_name="x", key_size=2048, validity_days=30)
    client.force_login(world.admin)
    before = snapshot(world)
    response = client.post(reverse("orgs:app_edit", args=[world.team.code, app.code]),
                           {**APP_FORM, "signing_key": str(foreign.pk)})
    assert response.status_code == 400
    assert snapshot(world) == before


def test_secret_rotation_keeps_the_old_secret_until_confirmed(world, client, app):
    client.force_login(world.admin)
    url = reverse("orgs:app_secret", args=[world.team.code, app.code])
    client.post(url, {"action": "stage", "secret": "rotated-secret-2222"})
    app.refresh_from_db()
    assert app.reveal("consumer_secret") == "topsecret-consumer-9876"
    assert app.reveal("pending_consumer_secret") == "rotated-secret-2222"
    assert app.status == ConnectedApp.Status.ROTATING
    client.post(url, {"action": "confirm"})
    app.refresh_from_db()
    assert app.reveal("consumer_secret") == "rotated-secret-2222" and app.pending_consumer_secret is None
    kinds = list(AuditEvent.objects.filter(team=world.team).values_list("kind", flat=True))
    assert "app.secret_staged" in kinds and "app.secret_confirmed" in kinds


def test_discarding_a_staged_secret_keeps_the_current_one(world, client, app):
    client.force_login(world.admin)
    url = reverse("orgs:app_secret", args=[world.team.code, app.code])
    client.post(url, {"action": "stage", "secret": "rotated-secret-2222"})
    client.post(url, {"action": "discard"})
    app.refresh_from_db()
    assert app.reveal("consumer_secret") == "topsecret-consumer-9876" and app.pending_consumer_secret is None


def test_confirming_without_a_staged_secret_is_refused(world, client, app):
    client.force_login(world.admin)
    before = snapshot(world)
    response = client.post(reverse("orgs:app_secret", args=[world.team.code, app.code]), {"action": "confirm"},
                           follow=True)
    assert "no new secret waiting" in response.content.decode()
    assert snapshot(world) == before


def test_deleting_an_app_in_use_lists_the_connections(world, client, app):
    OrgConnection.objects.create(team=world.team, owner=world.member, app=app, org_id="00D000000000001AAA",
                                 user_id="005000000000001AAA", username="carol@acme.example", kind="sandbox",
                                 login_url="https://test.salesforce.com", instance_url="https://acme.my.salesforce.com")
    client.force_login(world.admin)
    before = snapshot(world)
    page = client.get(reverse("orgs:app_delete", args=[world.team.code, app.code])).content.decode()
    assert "carol@acme.example" in page and "confirm-delete" not in page
    response = client.post(reverse("orgs:app_delete", args=[world.team.code, app.code]), follow=True)
    assert "still used by 1 connection(s): carol@acme.example (owner carol@example.com)" in response.content.decode()
    assert snapshot(world) == before


# -- signing keys ------------------------------------------------------------------------------------------------------

def test_generated_key_shows_subject_expiry_fingerprint_and_certificate_download(world, client):
    client.force_login(world.admin)
    response = client.post(reverse("orgs:key_generate", args=[world.team.code]),
                           {"name": "Release", "common_name": "release.acme", "key_size": "3072",
                            "validity_days": "730"})
    assert response.status_code == 302
    key = SigningKey.objects.get(name="Release")
    assert key.key_size == 3072 and key.subject == "CN=release.acme" and key.generated
    html = client.get(response["Location"]).content.decode()
    assert key.fingerprint_sha256 in html and "CN=release.acme" in html
    assert "BEGIN PRIVATE KEY" not in html and "BEGIN" not in html
    cert = client.get(reverse("orgs:key_certificate", args=[world.team.code, key.code]))
    assert cert["Content-Disposition"] == 'attachment; filename="release.crt"'
    assert cert.content.decode().startswith("-----BEGIN CERTIFICATE-----")
    assert b"PRIVATE KEY" not in cert.content


def test_private_key_has_no_download_route(world, client, key):
    client.force_login(world.owner)
    for suffix in ("private.pem", "key.pem", "private_key", "download"):
        assert client.get(f"/teams/{world.team.code}/keys/{key.code}/{suffix}").status_code == 404


def test_upload_with_passphrase_and_der_certificate(world, client):
    client.force_login(world.admin)
    rsa = kf.rsa_key()
    data = uploads(rsa, cert=kf.certificate(rsa, der=True), passphrase="open sesame",
                   key_bytes=kf.private_pem(rsa, b"open sesame"))
    response = client.post(reverse("orgs:key_upload", args=[world.team.code]), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    key = SigningKey.objects.get(name="Uploaded")
    assert "BEGIN PRIVATE KEY" in key.reveal("private_key") and "ENCRYPTED" not in key.reveal("private_key")


def _bad_uploads():
    rsa, other = kf.rsa_key(), kf.rsa_key()
    return {
        "unparseable PEM": (
            uploads(rsa, key_bytes=b"-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n"),
            "could not be read"),
        "unparseable certificate": (uploads(rsa, cert=b"\x30\x82garbage"), "certificate could not be read"),
        "wrong passphrase": (uploads(rsa, key_bytes=kf.private_pem(rsa, b"right"), passphrase="wrong"),
                             "passphrase is wrong"),
        "missing passphrase": (uploads(rsa, key_bytes=kf.private_pem(rsa, b"right")), "Enter the passphrase"),
        "EC key": (uploads(kf.ec_key()), "needs an RSA key"),
        "DSA key": (uploads(kf.dsa_key()), "needs an RSA key"),
        "RSA 1024": (uploads(kf.rsa_key(1024)), "use at least 2048"),
        "mismatched certificate": (uploads(rsa, cert=kf.certificate(other)), "does not belong to this private key"),
        "expired certificate": (uploads(rsa, cert=kf.certificate(rsa, days=-1, start_days_ago=30)), "expired on"),
        "oversized file": (uploads(rsa, key_bytes=b"-----BEGIN PRIVATE KEY-----\n" + b"A" * 70_000),
                           "larger than 64 KB"),
        "empty file": (uploads(rsa, key_bytes=b" "), "empty"),
    }


BAD_UPLOADS = list(_bad_uploads())


@pytest.mark.parametrize("case", BAD_UPLOADS)
def test_bad_key_uploads_are_form_errors_and_store_nothing(world, client, case):
    data, message = _bad_uploads()[case]
    client.force_login(world.admin)
    before = snapshot(world)
    response = client.post(reverse("orgs:key_upload", args=[world.team.code]), data)
    assert response.status_code == 400, case
    assert message in response.content.decode(), (case, response.content.decode()[-3000:])
    assert snapshot(world) == before


@pytest.mark.parametrize("data", [{"name": "x", "common_name": "x", "key_size": "1024", "validity_days": "30"},
                                  {"name": "x", "common_name": "x", "key_size": "2048", "validity_days": "0"},
                                  {"name": "x", "common_name": "", "key_size": "2048", "validity_days": "30"},
                                  {}])
def test_bad_generate_input_rerenders(world, client, data):
    client.force_login(world.admin)
    before = snapshot(world)
    assert client.post(reverse("orgs:key_generate", args=[world.team.code]), data).status_code == 400
    assert snapshot(world) == before


def test_deleting_a_key_in_use_is_refused(world, client, app, key):
    ConnectedApp.objects.filter(pk=app.pk).update(signing_key=key)
    client.force_login(world.admin)
    before = snapshot(world)
    response = client.post(reverse("orgs:key_delete", args=[world.team.code, key.code]), follow=True)
    assert "is used by CLI app" in response.content.decode()
    assert snapshot(world) == before


def test_dashboard_warns_about_certificates_expiring_within_30_days(world, client):
    signing_key_generate(actor=actor(world), name="Soon", common_name="soon", key_size=2048, validity_days=10)
    signing_key_generate(actor=actor(world), name="Later", common_name="later", key_size=2048, validity_days=300)
    client.force_login(world.admin)
    html = client.get(reverse("team_dashboard", args=[world.team.code])).content.decode()
    assert ">Soon</a>" in html and ("expires in 9 days" in html or "expires in 10 days" in html)
    assert ">Later</a>" not in html
