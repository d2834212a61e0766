"""The Django admin is no side door (issue 14): /admin/login/ only redirects to the portal's login (allauth, with MFA
where enrolled), admin sessions are allauth sessions that offboarding ends, and PORTAL_ADMIN_ENABLED removes it."""

import importlib
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from allauth.mfa.models import Authenticator
from allauth.usersessions.models import UserSession
from django.test import Client
from django.urls import NoReverseMatch, clear_url_caches, reverse

from portal.accounts.adapter import MFAAdapter
from portal.accounts.models import Membership
from tests.browser.helpers import totp
from tests.conftest import PASSWORD, make_user

TOTP_SECRET = "JBSWY3DPEHPK3PXP"


def _reload_urls():
    import portal.urls

    importlib.reload(portal.urls)
    clear_url_caches()


@pytest.fixture
def admin_urls(settings):
    """The URL conf as built with PORTAL_ADMIN_ENABLED=true (tests run in production mode, where it is off)."""
    settings.PORTAL_ADMIN_ENABLED = True
    _reload_urls()
    yield
    settings.PORTAL_ADMIN_ENABLED = False
    _reload_urls()


@pytest.fixture
def staff(world):
    """bob (a team admin) is also staff, so the admin lets him in."""
    world.admin.is_staff = True
    world.admin.is_superuser = True
    world.admin.save(update_fields=["is_staff", "is_superuser"])
    return world.admin


def login_through_allauth(client, user, *, next_url="/admin/"):
    return client.post(f"{reverse('account_login')}?next={next_url}", {"login": user.email, "password": PASSWORD})


def fresh_totp_code() -> str:
    """A code well inside its 30-second step (allauth accepts the current step only)."""
    if time.time() % 30 > 27:
        time.sleep(30 - time.time() % 30 + 0.1)
    return totp(TOTP_SECRET)


def test_the_admin_login_page_redirects_to_the_portal_login_keeping_a_same_origin_next(client, db, admin_urls):
    for method in (client.get, client.post):
        response = method("/admin/login/?next=/admin/accounts/user/")
        assert response.status_code == 302
        location = urlsplit(response["Location"])
        assert location.path == reverse("account_login")
        assert parse_qs(location.query) == {"next": ["/admin/accounts/user/"]}
    for foreign in ("https://evil.example/", "//evil.example/admin/", "javascript:alert(1)"):
        response = client.get("/admin/login/", {"next": foreign})
        assert parse_qs(urlsplit(response["Location"]).query) == {"next": ["/admin/"]}, foreign
    # An anonymous visit to the admin lands on the portal's login too (through /admin/login/).
    response = client.get("/admin/", follow=True)
    assert response.redirect_chain[-1][0].startswith(reverse("account_login"))


def test_a_password_post_to_the_admin_login_never_signs_in(client, staff, admin_urls):
    response = client.post("/admin/login/?next=/admin/", {"username": staff.email, "password": PASSWORD,
                                                          "next": "/admin/"})
    assert response.status_code == 302 and response["Location"].startswith(reverse("account_login"))
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/").status_code == 302  # still anonymous


def test_a_staff_member_signed_in_through_the_portal_reaches_the_admin(client, staff, admin_urls):
    response = login_through_allauth(client, staff)
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    # Already signed in: /admin/login/ goes straight on.
    assert client.get("/admin/login/?next=/admin/accounts/")["Location"] == "/admin/accounts/"


def test_a_signed_in_member_who_is_not_staff_gets_403_not_a_redirect_loop(client, world, admin_urls):
    client.force_login(world.member)
    assert client.get("/admin/login/?next=/admin/").status_code == 403


@pytest.mark.redis
def test_a_staff_member_with_totp_must_give_a_code_before_the_admin(client, staff, admin_urls):
    Authenticator.objects.create(user=staff, type=Authenticator.Type.TOTP,
                                 data={"secret": MFAAdapter().encrypt(TOTP_SECRET)})
    response = login_through_allauth(client, staff)
    assert response.status_code == 302 and response["Location"].startswith(reverse("mfa_authenticate"))
    # The password alone opened nothing.
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/").status_code == 302
    assert client.post(reverse("mfa_authenticate"), {"code": "000000"}).status_code == 200  # wrong code: no entry
    assert "_auth_user_id" not in client.session
    response = client.post(reverse("mfa_authenticate"), {"code": fresh_totp_code()})
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


@pytest.mark.postgres
@pytest.mark.redis
def test_offboarding_ends_the_staff_members_admin_session(client, staff, world, admin_urls):
    login_through_allauth(client, staff)
    assert client.get("/admin/").status_code == 200
    assert UserSession.objects.filter(user=staff, session_key=client.session.session_key).exists()
    owner = Client()
    owner.force_login(world.owner)
    bob = Membership.objects.get(team=world.team, user=staff)
    removed = owner.post(reverse("orgs:member_remove", args=[world.team.code, bob.code]))
    assert removed.status_code == 302, removed.status_code
    assert not Membership.objects.filter(pk=bob.pk).exists()
    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    assert client.get(response["Location"])["Location"].startswith(reverse("account_login"))
    assert not UserSession.objects.filter(user=staff).exists()


def test_portal_admin_enabled_false_removes_the_admin(client, staff, settings):
    settings.PORTAL_ADMIN_ENABLED = False
    _reload_urls()
    assert client.get("/admin/").status_code == 404
    assert client.post("/admin/login/", {"username": staff.email, "password": PASSWORD}).status_code == 404
    with pytest.raises(NoReverseMatch):
        reverse("admin:index")


def test_a_new_staff_user_created_in_the_shell_also_signs_in_only_through_the_portal(client, db, admin_urls):
    root = make_user("root@example.com", is_staff=True, is_superuser=True)
    client.post("/admin/login/", {"username": root.email, "password": PASSWORD})
    assert "_auth_user_id" not in client.session
