"""SSRF at the network layer (docs/security.md, orgs/salesforce/egress.py): a Salesforce name resolving to a private,
loopback, link-local, unique-local, multicast or reserved address is never connected to; a public one is connected
to at the very address that was checked; names the operator allowlisted are exempt."""

from __future__ import annotations

import socket

import pytest

from orgs.salesforce import egress
from orgs.salesforce.client import SalesforceClient
from orgs.salesforce.errors import PermanentSalesforceError, TransientSalesforceError
from orgs.salesforce.hosts import parse_allowed_hosts

HOST = "acme.my.salesforce.com"


def resolving_to(monkeypatch, *addresses: str):
    def fake_getaddrinfo(host, port, *args, **kwargs):
        family = {4: socket.AF_INET, 6: socket.AF_INET6}
        return [(family[6 if ":" in a else 4], socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses]

    monkeypatch.setattr(egress.socket, "getaddrinfo", fake_getaddrinfo)


@pytest.fixture
def connects(monkeypatch):
    """Every socket the guarded adapter opens, as (address, port); the connection itself is refused."""
    seen = []

    def fake_create_connection(address, *args, **kwargs):
        seen.append(address)
        raise ConnectionRefusedError("refused in the test")

    monkeypatch.setattr(egress.connection, "create_connection", fake_create_connection)
    return seen


def client(trusted=frozenset(), allowed="") -> SalesforceClient:
    import requests

    session = requests.Session()
    session.trust_env = False
    adapter = egress.PublicAddressAdapter(trusted=lambda: set(trusted))
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return SalesforceClient(session, allowed=parse_allowed_hosts(allowed), connect_timeout=2, read_timeout=2)


def refresh(c: SalesforceClient, base_url: str = f"https://{HOST}"):
    return c.refresh(base_url=base_url, client_id="key", client_secret="secret", refresh_token="5Aep-refresh")


@pytest.mark.parametrize("address", ["10.0.0.5", "172.16.3.4", "192.168.1.1", "127.0.0.1", "169.254.169.254",
                                     "100.64.0.1", "0.0.0.0", "224.0.0.1", "240.0.0.1", "::1", "fc00::1",  # noqa: S104
                                     "fe80::1", "::ffff:10.0.0.1"])
def test_a_non_public_address_is_refused_before_any_connection(monkeypatch, connects, address):
    resolving_to(monkeypatch, address)
    with pytest.raises(egress.NonPublicAddressError) as refused:
        refresh(client())
    assert isinstance(refused.value, PermanentSalesforceError)  # never retried
    assert HOST in str(refused.value) and connects == []


def test_one_private_answer_among_public_ones_is_enough_to_refuse(monkeypatch, connects):
    resolving_to(monkeypatch, "13.110.0.10", "10.1.2.3")
    with pytest.raises(egress.NonPublicAddressError):
        refresh(client())
    assert connects == []


def test_a_public_address_is_connected_to_as_checked(monkeypatch, connects):
    resolving_to(monkeypatch, "13.110.0.10", "13.110.0.11")
    with pytest.raises(TransientSalesforceError):  # the test refuses the connection: a transient failure
        refresh(client())
    assert connects and set(connects) == {("13.110.0.10", 443)}  # the checked address, not a second lookup


def test_only_names_the_operator_allowlisted_may_be_local(simulator):
    allowed = simulator.base_url  # http://127.0.0.1:PORT
    with pytest.raises(egress.NonPublicAddressError):
        refresh(client(allowed=allowed), base_url=allowed)  # allowlisted for hosts.py, but not exempted here
    with pytest.raises(PermanentSalesforceError) as answered:  # exempted: Salesforce (the simulator) answers
        refresh(client(trusted={"127.0.0.1"}, allowed=allowed), base_url=allowed)
    assert not isinstance(answered.value, egress.NonPublicAddressError)  # it got as far as invalid_grant


def test_the_portal_client_exempts_exactly_the_allowlisted_hosts(settings):
    from orgs.services.client import sf_client

    settings.PORTAL_SALESFORCE_ALLOWED_HOSTS = "http://127.0.0.1:8765, sim.internal.example"
    adapter = sf_client()._session.get_adapter("https://example.com")
    assert isinstance(adapter, egress.PublicAddressAdapter)
    trusted = adapter._pool_classes["https"].ConnectionCls.trusted()
    assert trusted == {"127.0.0.1", "sim.internal.example"}
