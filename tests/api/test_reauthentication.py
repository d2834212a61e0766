"""Recent authentication before every sensitive write (docs/security.md; portal/accounts/reauth.py).

After PORTAL_REAUTHENTICATION_SECONDS (default 600) without an authentication, every action in SENSITIVE first sends
the member to allauth's re-authentication page, with nothing done; with a fresh authentication it works. A member
with TOTP must re-authenticate with it: a password-only re-authentication does not count for them. The refused POST
is replayed once after re-authenticating, except where it carries secrets (those are never kept in the session).
"""

import time
from urllib.parse import quote

import pytest
from allauth.mfa.models import Authenticator
from django.conf import settings
from django.urls import reverse

from orgs.models import ConnectedApp, Grant, OrgConnection, ScratchOrg, SigningKey
from portal.accounts.adapter import MFAAdapter
from portal.accounts.models import ApiToken, AuditEvent, Membership
from tests.browser.helpers import totp
from tests.conftest import PASSWORD, record_login
from tests.registrations.test_apps_and_keys import APP_FORM, uploads

STALE = settings.PORTAL_REAUTHENTICATION_SECONDS + 5
TOTP_SECRET = "JBSWY3DPEHPK3PXP"


def forget_authentications(client):
    session = client.session
    session["account_authentication_methods"] = []  # forget the fresh record force_login wrote
    session.save()


def login_long_ago(client, user):
    client.force_login(user)
    forget_authentications(client)
    record_login(client, user, seconds_ago=STALE)


def add_record(client, user, *, method: str, seconds_ago: float = 0, **extra):
    """Append an authentication record as allauth writes one (e.g. method="mfa" after a TOTP code)."""
    from allauth.account.internal.flows.login import AUTHENTICATION_METHODS_SESSION_KEY, record_authentication
    from django.http import HttpRequest

    request = HttpRequest()
    request.session, request.user = client.session, user
    record_authentication(request, user, method=method, **extra)
    request.session[AUTHENTICATION_METHODS_SESSION_KEY][-1]["at"] -= seconds_ago
    request.session.save()


def assert_sent_to_reauthenticate(response, path, *, page="account_reauthenticate"):
    assert response.status_code == 302, response.status_code
    assert response["Location"].startswith(reverse(page)), response["Location"]
    assert f"next={quote(path, safe='')}" in response["Location"]


def fresh_totp_code() -> str:
    """A code well inside its 30-second step (allauth accepts the current step only)."""
    if time.time() % 30 > 27:
        time.sleep(30 - time.time() % 30 + 0.1)
    return totp(TOTP_SECRET)


def state():
    """Everything a sensitive write could change."""
    return (
        sorted(ConnectedApp.objects.values_list("name", "consumer_secret", "pending_consumer_secret")),
        sorted(SigningKey.objects.values_list("name", flat=True)),
        sorted(Grant.objects.values_list("connection_id", "subject_type", "member_id", "role", "level")),
        sorted(Membership.objects.values_list("team_id", "user_id", "role")),
        sorted(ApiToken.objects.values_list("name", flat=True)),
        sorted(ScratchOrg.objects.values_list("pk", "status")),
        OrgConnection.objects.count(),
        AuditEvent.objects.count(),
    )


@pytest.fixture
def scratch_org(world, orgs, sim, django_capture_on_commit_callbacks):
    """An Active scratch org alice created from carol's Dev Hub (through the real service and task)."""
    from orgs.services import scratch

    sim.configure(scratch_create_seconds=0)
    owner = Membership.objects.get(team=world.team, user=world.owner)
    with django_capture_on_commit_callbacks(execute=True):
        fields = scratch.scratch_definition(edition="Developer", org_name="Feature X", duration_days=3)
        created = scratch.scratch_org_create(membership=owner, hub=orgs.hub, alias="fx", fields=fields)
    created.refresh_from_db()
    assert created.status == "Active"
    return created


def _redirects_to(prefix):
    return lambda response, before, after: response.status_code == 302 and response["Location"].startswith(prefix)


def _changed(response, before, after):
    return after != before


# name → (build(ctx) → (path, data), worked(response, state before, state after)). Every sensitive write there is.
SENSITIVE = {
    "get access token": (lambda c: (reverse("orgs:token", args=[c.team, c.orgs.sandbox.code]), {}), _changed),
    "open in salesforce": (lambda c: (reverse("orgs:open", args=[c.team, c.orgs.sandbox.code]), {}), _changed),
    "create api token": (lambda c: (reverse("accounts:token_list", args=[c.team]),
                                    {"name": "laptop", "kind": "personal", "expires": "30"}), _changed),
    "connect an org": (lambda c: (reverse("orgs:connect", args=[c.team]),
                                  {"app": c.sim_app.pk, "environment": "app", "alias": "x"}), None),
    "reconnect an org": (lambda c: (reverse("orgs:org_reconnect", args=[c.team, c.orgs.sandbox.code]), {}), None),
    "create a jwt connection": (lambda c: (reverse("orgs:jwt_connect", args=[c.team]),
                                           {"username": "ci@acme.example"}),
                                lambda response, before, after: response.status_code == 400),  # the form ran
    "create a connected app": (lambda c: (reverse("orgs:app_create", args=[c.team]),
                                          {**APP_FORM, "consumer_key": "3MVG9other"}), _changed),
    "change an app's secret": (lambda c: (reverse("orgs:app_secret", args=[c.team, c.sim_app.code]),
                                          {"action": "stage", "secret": "rotated-secret-2222"}), _changed),
    "upload a jwt key": (lambda c: (reverse("orgs:key_upload", args=[c.team]), "uploads"), _changed),
    "generate a jwt key": (lambda c: (reverse("orgs:key_generate", args=[c.team]),
                                      {"name": "Gen", "common_name": "gen", "key_size": "2048",
                                       "validity_days": "30"}), _changed),
    "add a grant": (lambda c: (reverse("orgs:grant_add", args=[c.team, c.orgs.sandbox.code]),
                               {"subject_type": "role", "subject": "member", "level": "1"}), _changed),
    "change a grant": (lambda c: (reverse("orgs:grant_update", args=[c.team, c.orgs.sandbox.code, c.grant.code]),
                                  {"action": "change", "level": "2"}), _changed),
    "remove a grant": (lambda c: (reverse("orgs:grant_update", args=[c.team, c.orgs.sandbox.code, c.grant.code]),
                                  {"action": "remove"}), _changed),
    "change a role": (lambda c: (reverse("accounts:member_role", args=[c.team, c.carol.code]), {"role": "admin"}),
                      _changed),
    "remove a member": (lambda c: (reverse("orgs:member_remove", args=[c.team, c.bob.code]), {}), _changed),
    "create a scratch org": (lambda c: (reverse("orgs:scratch_create", args=[c.team, c.orgs.hub.code]),
                                        {"edition": "Developer", "org_name": "Feature Y", "duration_days": 3,
                                         "alias": "fy", "features": "", "namespace": ""}), _changed),
    "delete a scratch org": (lambda c: (reverse("orgs:scratch_delete", args=[c.team, c.scratch_org.code]), {}),
                             _changed),
}


class Context:
    def __init__(self, request, world, orgs, sim, sim_app):
        self.team, self.orgs, self.sim, self.sim_app = world.team.code, orgs, sim, sim_app
        self.carol = Membership.objects.get(team=world.team, user=world.member)
        self.bob = Membership.objects.get(team=world.team, user=world.admin)
        self.grant = Grant.objects.create(team=world.team, connection=orgs.sandbox, subject_type="member",
                                          member=world.member, level=1)
        self._request = request

    @property
    def scratch_org(self):
        return self._request.getfixturevalue("scratch_org")


@pytest.fixture
def ctx(request, world, orgs, sim, sim_app):
    return Context(request, world, orgs, sim, sim_app)


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.parametrize("action", list(SENSITIVE))
def test_every_sensitive_post_needs_a_recent_authentication_and_does_nothing_before(client, world, ctx, action):
    build, worked = SENSITIVE[action]
    path, data = build(ctx)
    login_long_ago(client, world.owner)
    before = state()
    response = client.post(path, uploads() if data == "uploads" else data)
    assert_sent_to_reauthenticate(response, path)
    assert state() == before, action
    # With a fresh authentication the same POST does its job.
    record_login(client, world.owner)
    before = state()
    response = client.post(path, uploads() if data == "uploads" else data)
    assert response.status_code != 302 or not response["Location"].startswith(reverse("account_reauthenticate"))
    worked = worked or _redirects_to(ctx.sim.base_url)  # connect / reconnect: off to Salesforce's login page
    assert worked(response, before, state()), (action, response.status_code, response.get("Location"))


@pytest.mark.postgres
@pytest.mark.redis
def test_the_pages_themselves_still_open_without_a_recent_authentication(client, world, ctx):
    login_long_ago(client, world.owner)
    for name in ("accounts:token_list", "orgs:connect", "orgs:app_create", "orgs:key_upload", "orgs:key_generate"):
        assert client.get(reverse(name, args=[world.team.code])).status_code == 200, name
    assert client.get(reverse("orgs:member_remove", args=[world.team.code, ctx.bob.code])).status_code == 200


@pytest.mark.postgres
@pytest.mark.redis
def test_after_re_authenticating_the_refused_hand_out_is_replayed_once(client, world, orgs):
    login_long_ago(client, world.owner)
    path = reverse("orgs:token", args=[world.team.code, orgs.sandbox.code])
    refused = client.post(path)
    assert_sent_to_reauthenticate(refused, path)
    wrong = client.post(refused["Location"], {"password": "not-my-password"})
    assert wrong.status_code == 200 and not AuditEvent.objects.filter(kind="token.issued").exists()
    replayed = client.post(refused["Location"], {"password": PASSWORD})
    assert replayed.status_code == 200, replayed.status_code
    assert f'value="{orgs.sandbox.reveal("access_token")}"' in replayed.content.decode()
    assert AuditEvent.objects.filter(kind="token.issued").count() == 1
    # Now recent: the next hand-out goes straight through.
    assert client.post(path).status_code == 200
    assert AuditEvent.objects.filter(kind="token.issued").count() == 2


@pytest.mark.postgres
@pytest.mark.redis
def test_a_refused_post_with_a_secret_is_not_kept_in_the_session(client, world, sim_app):
    """allauth stores a refused POST in the session to replay it; a consumer secret must never land there."""
    from django.contrib.sessions.models import Session

    login_long_ago(client, world.owner)
    detail = reverse("orgs:app_detail", args=[world.team.code, sim_app.code])
    path = reverse("orgs:app_secret", args=[world.team.code, sim_app.code])
    refused = client.post(path, {"action": "stage", "secret": "never-in-a-session-3333"},
                          HTTP_REFERER=f"http://testserver{detail}")
    assert_sent_to_reauthenticate(refused, detail)  # back to the page with the form, not the POST-only URL
    stored = Session.objects.get(session_key=client.session.session_key).session_data
    assert "never-in-a-session-3333" not in str(client.session.load()) and "never-in-a-session" not in stored
    assert "account_reauthentication_state" not in client.session
    # After re-authenticating the member lands on the form again; nothing was staged meanwhile.
    back = client.post(refused["Location"], {"password": PASSWORD})
    assert back.status_code == 302 and back["Location"] == detail
    sim_app.refresh_from_db()
    assert sim_app.pending_consumer_secret is None


@pytest.mark.postgres
@pytest.mark.redis
def test_a_member_with_totp_must_re_authenticate_with_a_code_not_a_password(client, world, orgs):
    Authenticator.objects.create(user=world.owner, type=Authenticator.Type.TOTP,
                                 data={"secret": MFAAdapter().encrypt(TOTP_SECRET)})
    client.force_login(world.owner)
    forget_authentications(client)
    add_record(client, world.owner, method="password", seconds_ago=STALE)  # the login: password + TOTP, long ago
    add_record(client, world.owner, method="mfa", type="totp", seconds_ago=STALE)
    add_record(client, world.owner, method="password", reauthenticated=True)  # then a password-only reauth, now
    path = reverse("accounts:token_list", args=[world.team.code])
    refused = client.post(path, {"name": "laptop", "kind": "personal", "expires": "30"})
    assert_sent_to_reauthenticate(refused, path, page="mfa_reauthenticate")
    assert not ApiToken.objects.exists()
    # The password page is not even offered to them: it forwards to the TOTP page.
    password_page = client.get(f"{reverse('account_reauthenticate')}?next={quote(path)}")
    assert password_page.status_code == 302 and password_page["Location"].startswith(reverse("mfa_reauthenticate"))
    client.post(f"{reverse('account_reauthenticate')}?next={quote(path)}", {"password": PASSWORD})
    assert not ApiToken.objects.exists()
    assert client.post(path, {"name": "laptop", "kind": "personal", "expires": "30"}).status_code == 302
    assert not ApiToken.objects.exists()
    # A wrong code does nothing; the right one replays the refused POST.
    assert client.post(refused["Location"], {"code": "000000"}).status_code == 200
    assert not ApiToken.objects.exists()
    replayed = client.post(refused["Location"], {"code": fresh_totp_code()})
    assert replayed.status_code == 200, replayed.status_code
    assert list(ApiToken.objects.values_list("name", flat=True)) == ["laptop"]


@pytest.mark.postgres
@pytest.mark.redis
def test_a_fresh_login_with_totp_needs_no_second_factor_again(client, world, orgs):
    Authenticator.objects.create(user=world.owner, type=Authenticator.Type.TOTP,
                                 data={"secret": MFAAdapter().encrypt(TOTP_SECRET)})
    client.force_login(world.owner)
    forget_authentications(client)
    add_record(client, world.owner, method="password", seconds_ago=5)
    add_record(client, world.owner, method="mfa", type="totp", seconds_ago=5)
    assert client.post(reverse("orgs:token", args=[world.team.code, orgs.sandbox.code])).status_code == 200


@pytest.mark.postgres
@pytest.mark.redis
def test_a_fresh_login_needs_no_second_password(client, world, orgs):
    client.force_login(world.member)  # records a login now, as the real login page does
    response = client.post(reverse("orgs:token", args=[world.team.code, orgs.hub.code]))
    assert response.status_code == 200


def test_the_window_is_ten_minutes_by_default_and_follows_the_setting(rf, world, settings):
    from django.contrib.sessions.backends.db import SessionStore

    from portal.accounts.reauth import recently_authenticated

    assert settings.PORTAL_REAUTHENTICATION_SECONDS == 600 == settings.ACCOUNT_REAUTHENTICATION_TIMEOUT

    class FakeClient:
        session = SessionStore()

    record_login(FakeClient, world.owner, seconds_ago=100)
    request = rf.post("/")
    request.session, request.user = FakeClient.session, world.owner
    settings.PORTAL_REAUTHENTICATION_SECONDS = 300
    assert recently_authenticated(request)
    settings.PORTAL_REAUTHENTICATION_SECONDS = 60
    assert not recently_authenticated(request)


def test_every_sensitive_view_is_decorated():
    """SENSITIVE above covers every view that carries the decorator (a new one must be added there)."""
    from django.urls import get_resolver

    decorated = set()
    for pattern in get_resolver().url_patterns:
        for sub in getattr(pattern, "url_patterns", [pattern]):
            if getattr(getattr(sub, "callback", None), "requires_recent_authentication", False):
                decorated.add(sub.name)
    assert decorated == {"token", "open", "token_list", "connect", "org_reconnect", "jwt_connect", "app_create",
                         "app_secret", "key_upload", "key_generate", "grant_add", "grant_update", "member_role",
                         "member_remove", "scratch_create", "scratch_delete",
                         # proved by their own tests: tests/ci/test_policies.py, tests/sandboxes/
                         "policy_create", "policy_edit", "policy_toggle", "policy_delete",
                         "sandbox_create", "sandbox_refresh", "sandbox_delete",
                         "access_requests", "access_request_decide", "access_policy",
                         "alert_channels", "alert_channel_delete",
                         "access_reviews", "access_review_item", "access_review_finish"}


@pytest.mark.postgres
@pytest.mark.redis
def test_an_htmx_button_is_sent_to_re_authenticate_with_hx_redirect_and_nothing_is_kept(client, world, scratch_org):
    """An htmx POST (the scratch-org Delete button) cannot follow a 302 to a page: the answer is HX-Redirect to the
    re-authentication page, back to the page the button was on; nothing is done and nothing is stored to replay."""
    from allauth.account.internal.flows.reauthentication import STATE_SESSION_KEY

    page = reverse("orgs:hub_scratch_orgs", args=[world.team.code, scratch_org.dev_hub.code])
    path = reverse("orgs:scratch_delete", args=[world.team.code, scratch_org.code])
    login_long_ago(client, world.owner)
    before = state()
    response = client.post(path, HTTP_HX_REQUEST="true", HTTP_REFERER=f"http://testserver{page}")
    assert response.status_code == 200
    assert response["HX-Redirect"].startswith(reverse("account_reauthenticate"))
    assert f"next={quote(page, safe='')}" in response["HX-Redirect"]
    assert state() == before and STATE_SESSION_KEY not in client.session
    assert ScratchOrg.objects.get(pk=scratch_org.pk).delete_state == ""
    record_login(client, world.owner)
    response = client.post(path, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "Deleting…" in response.content.decode()
