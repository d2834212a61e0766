"""allauth's login rate limits stay on; SSO providers switch on by configuration alone."""

import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse

from tests.conftest import make_user
from tests.test_settings_and_deploy import clean_env

ROOT = Path(__file__).resolve().parent.parent.parent


def attempt(client, password, **headers):
    return client.post(reverse("account_login"), {"login": "ann@example.com", "password": password}, **headers)


@pytest.mark.parametrize("spoof", [False, True], ids=["plain", "rotating-x-forwarded-for"])
def test_failed_logins_lock_the_account_then_the_client_gets_429(db, client, spoof):
    make_user("ann@example.com")

    def headers(i):
        return {"HTTP_X_FORWARDED_FOR": f"203.0.113.{i}"} if spoof else {}

    for i in range(5):
        assert attempt(client, "wrong-password", **headers(i)).status_code == 200
    # Now even the right password is refused for a while (allauth: 5 failures per account per 5 minutes).
    locked = attempt(client, "correct-horse-battery-9", **headers(99))
    assert locked.status_code == 200 and "Too many failed login attempts" in locked.content.decode()
    assert "_auth_user_id" not in client.session
    # And one client hammering the login form gets 429 (allauth: 30 login attempts per minute per IP).
    statuses = [attempt(client, "wrong-password", **headers(100 + i)).status_code for i in range(30)]
    assert statuses[-1] == 429, statuses


def test_login_sets_hardened_cookies(db, client, settings):
    make_user("ann@example.com")
    response = client.post(reverse("account_login"),
                           {"login": "ann@example.com", "password": "correct-horse-battery-9"})
    assert response.status_code == 302
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"


@pytest.mark.parametrize(
    ("env", "expected", "form_action"),
    [
        ({}, [], None),
        ({"PORTAL_SSO_OIDC_CLIENT_ID": "portal", "PORTAL_SSO_OIDC_SECRET": "s3cret",
          "PORTAL_SSO_OIDC_SERVER_URL": "https://idp.example.com/realms/acme", "PORTAL_SSO_OIDC_NAME": "Acme SSO",
          "PORTAL_CSP_FORM_ACTION_EXTRA": "https://auth.example.net/authorize"},
         ["Acme SSO"], ["https://idp.example.com", "https://auth.example.net"]),
        ({"PORTAL_SSO_SALESFORCE_CLIENT_ID": "3MVG9xyz", "PORTAL_SSO_SALESFORCE_SECRET": "s3cret",
          "PORTAL_SSO_SALESFORCE_LOGIN_URL": "https://acme.my.salesforce.com"}, ["Salesforce"],
         ["https://acme.my.salesforce.com"]),
    ],
)
def test_sso_providers_are_switched_on_by_configuration(tmp_path, env, expected, form_action):
    full_env = clean_env()
    full_env.update({"DEBUG": "true", "PORTAL_RUN_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "portal.settings",
                     **env})
    script = (
        "from django.core.management import call_command; call_command('migrate', verbosity=0);"
        "from django.test import Client; response = Client(HTTP_HOST='127.0.0.1').get('/accounts/login/');"
        "assert response.status_code == 200, response.status_code; html = response.content.decode();"
        "import re; print('|'.join(re.findall(r'title=\"([^\"]+)\"', html)) or '-');"
        "print(response['Content-Security-Policy'])"
    )
    result = subprocess.run([sys.executable, "manage.py", "shell", "-v", "0", "-c", script], cwd=ROOT,
                            env=full_env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    titles, policy = result.stdout.strip().splitlines()
    shown = [] if titles == "-" else titles.split("|")
    assert shown == expected
    # The login form posts to the portal, which redirects to the provider: form-action must allow its origin.
    directives = {d.split()[0]: d.split()[1:] for d in policy.split("; ")}
    assert "'self'" in directives["form-action"]
    for origin in form_action or []:
        assert origin in directives["form-action"], policy
