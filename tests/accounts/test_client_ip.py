"""Who the client is behind proxies (portal/lib/http.py): X-Forwarded-For and X-Forwarded-Proto count only from a
peer in PORTAL_TRUSTED_PROXIES, for the portal's own audit rows and for allauth's rate limits alike."""

import ipaddress
import uuid

import pytest
from django.urls import reverse

from portal.lib.http import client_ip
from tests.test_settings_and_deploy import run_manage

PROXY = "10.1.2.3"


def networks(*items):
    return tuple(ipaddress.ip_network(item, strict=False) for item in items)


@pytest.fixture
def behind_proxy(settings):
    settings.PORTAL_TRUSTED_PROXIES = networks(PROXY, "10.9.0.0/16")
    return settings


def ip_of(rf, remote, xff=None):
    headers = {"HTTP_X_FORWARDED_FOR": xff} if xff is not None else {}
    return client_ip(rf.get("/", REMOTE_ADDR=remote, **headers))


@pytest.mark.parametrize(("remote", "xff", "expected"), [
    ("198.51.100.7", "203.0.113.9", "198.51.100.7"),  # an untrusted peer's header means nothing
    ("198.51.100.7", f"203.0.113.9, {PROXY}", "198.51.100.7"),  # not even when it names a trusted proxy
    (PROXY, "203.0.113.9", "203.0.113.9"),  # one trusted proxy
    (PROXY, "1.1.1.1, 203.0.113.9", "203.0.113.9"),  # the client's own claim (left) is not believed
    (PROXY, "203.0.113.9, 10.9.4.4", "203.0.113.9"),  # two trusted hops skipped
    (PROXY, "203.0.113.9:4711", "203.0.113.9"),  # a port is dropped
    (PROXY, "1.1.1.1, not-an-ip", PROXY),  # garbage where a proxy wrote: the peer, nothing further left
    (PROXY, f"{PROXY}, 10.9.4.4", PROXY),  # only trusted hops: the peer
    (PROXY, None, PROXY),
    ("::ffff:10.1.2.3", "203.0.113.9", "203.0.113.9"),  # IPv4-mapped peer
    ("2001:db8::1", "203.0.113.9", "2001:db8::1"),
])
def test_x_forwarded_for_is_read_only_from_trusted_peers(rf, behind_proxy, remote, xff, expected):
    assert ip_of(rf, remote, xff) == expected


def test_with_no_trusted_proxy_every_header_is_ignored(rf, settings):
    settings.PORTAL_TRUSTED_PROXIES = ()
    assert ip_of(rf, "127.0.0.1", "203.0.113.9") == "127.0.0.1"
    assert ip_of(rf, PROXY, "203.0.113.9") == PROXY


def _hammer_login(client, *, remote, xff_for):
    """31 logins to unknown accounts (allauth allows 30 per minute per client address): the statuses."""
    statuses = []
    for i in range(31):
        response = client.post(reverse("account_login"),
                               {"login": f"nobody-{uuid.uuid4().hex[:8]}@example.com", "password": "wrong-password"},
                               REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=xff_for(i))
        statuses.append(response.status_code)
    return statuses


@pytest.mark.redis
def test_allauth_login_rate_limit_ignores_x_forwarded_for_from_an_untrusted_peer(db, client, behind_proxy):
    # ALLAUTH_TRUSTED_PROXY_COUNT is retired; even if someone sets it again, the adapter's rule wins.
    behind_proxy.ALLAUTH_TRUSTED_PROXY_COUNT = 1
    statuses = _hammer_login(client, remote="198.51.100.7", xff_for=lambda i: f"203.0.113.{i}")
    assert statuses[-1] == 429, statuses


@pytest.mark.redis
def test_allauth_login_rate_limit_counts_each_client_behind_a_trusted_proxy(db, client, behind_proxy):
    distinct = _hammer_login(client, remote=PROXY, xff_for=lambda i: f"203.0.113.{i}")
    assert 429 not in distinct, distinct  # 31 different people behind one proxy: nobody is limited
    same = _hammer_login(client, remote=PROXY, xff_for=lambda i: f"{i}.1.1.1, 192.0.2.50")
    assert same[-1] == 429, same  # one person, whatever they prepend


def test_x_forwarded_proto_counts_only_from_a_trusted_peer(client, db, behind_proxy):
    behind_proxy.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    behind_proxy.SECURE_SSL_REDIRECT = True
    # From an untrusted peer the header is dropped: the request is plain http, so it is redirected to https.
    spoofed = client.get("/accounts/login/", REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_PROTO="https")
    assert spoofed.status_code == 301 and spoofed["Location"].startswith("https://")
    proxied = client.get("/accounts/login/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_PROTO="https")
    assert proxied.status_code == 200


@pytest.mark.parametrize("value", ["10.0.0.0/33", "proxy.internal", "10.0.0.1,,nonsense"])
def test_a_malformed_trusted_proxies_setting_stops_startup(value):
    result = run_manage("check", env_overrides={"PORTAL_TRUSTED_PROXIES": value})
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Org Portal configuration error: PORTAL_TRUSTED_PROXIES"), \
        result.stderr


def test_a_valid_trusted_proxies_setting_is_accepted():
    assert run_manage("check", env_overrides={"PORTAL_TRUSTED_PROXIES": "172.30.80.1, 10.0.0.0/8,fd00::/8"}) \
        .returncode == 0
