"""The Salesforce host validator: every accepted form, every hostile input, and the allowed-hosts setting."""

import pytest

from orgs.salesforce.errors import PermanentSalesforceError, SalesforceError, UntrustedHostError
from orgs.salesforce.hosts import (
    AllowedHost,
    AllowedHosts,
    login_url_for,
    parse_allowed_hosts,
    parse_identity_url,
    validate_identity_url,
    validate_salesforce_url,
    validate_site_url,
)

NONE = AllowedHosts()
LOCAL = parse_allowed_hosts("http://127.0.0.1:8000, https://sf.internal.example:8443 http://[::1]:5000")
ORG_ID = "00D5g000004Hk9PEAS"
USER_ID = "0055g00000C1aBcAAJ"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://login.salesforce.com", "https://login.salesforce.com"),
        ("https://login.salesforce.com/", "https://login.salesforce.com"),
        ("https://test.salesforce.com", "https://test.salesforce.com"),
        ("HTTPS://Login.SALESFORCE.com", "https://login.salesforce.com"),
        ("https://login.salesforce.com:443", "https://login.salesforce.com"),
        ("https://acme.my.salesforce.com", "https://acme.my.salesforce.com"),
        ("https://acme--uat.sandbox.my.salesforce.com", "https://acme--uat.sandbox.my.salesforce.com"),
        ("https://acme-dev-ed.develop.my.salesforce.com", "https://acme-dev-ed.develop.my.salesforce.com"),
        (
            "https://ability-ruby-1234.scratch.my.salesforce.com",
            "https://ability-ruby-1234.scratch.my.salesforce.com",
        ),
        ("https://acme.demo.my.salesforce.com", "https://acme.demo.my.salesforce.com"),
        ("https://acme.patch.my.salesforce.com", "https://acme.patch.my.salesforce.com"),
        ("https://acme.free.my.salesforce.com", "https://acme.free.my.salesforce.com"),
        ("https://acme.trailblaze.my.salesforce.com", "https://acme.trailblaze.my.salesforce.com"),
        ("https://acme.my.site.com", "https://acme.my.site.com"),
        ("https://acme--uat.sandbox.my.site.com", "https://acme--uat.sandbox.my.site.com"),
    ],
)
def test_it_accepts_salesforce_hosts(url, expected):
    assert validate_salesforce_url(url, allowed=NONE) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("http://127.0.0.1:8000/", "http://127.0.0.1:8000"),
        ("https://sf.internal.example:8443", "https://sf.internal.example:8443"),
        ("https://SF.Internal.Example:8443", "https://sf.internal.example:8443"),
        ("http://[::1]:5000", "http://[::1]:5000"),
    ],
)
def test_it_accepts_exactly_the_allowed_hosts(url, expected):
    assert validate_salesforce_url(url, allowed=LOCAL) == expected


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8001",  # another port
        "https://127.0.0.1:8000",  # another scheme
        "http://localhost:8000",  # another name for the same address
        "https://sf.internal.example",  # default port, not the listed one
        "https://x.sf.internal.example:8443",  # no sub-domains of an allowed host
        "http://[::1]:5001",
    ],
)
def test_it_refuses_near_misses_of_allowed_hosts(url):
    with pytest.raises(UntrustedHostError):
        validate_salesforce_url(url, allowed=LOCAL)


HOSTILE = [
    "https://evil.example",
    "http://login.salesforce.com",
    "http://acme.my.salesforce.com",
    "https://10.0.0.1",
    "https://169.254.169.254",
    "https://127.0.0.1",
    "https://[::1]",
    "https://[::ffff:169.254.169.254]",
    "https://2130706433",
    "https://0x7f.0.0.1",
    "https://x.my.salesforce.com.evil.example",
    "https://xcrmforce.mil",
    "https://evilmy.salesforce.com",
    "https://my.salesforce.com",
    "https://salesforce.com",
    "https://cs42.salesforce.com",
    "https://a.b.my.salesforce.com",
    "https://acme.unknown.my.salesforce.com",
    "https://acme.lightning.force.com",
    "https://acme.my.salesforce-sites.com",
    "https://acme.force.com",
    "https://acme.my.salesforce.mil",
    "https://acme.sfcrmproducts.cn",
    "https://user@login.salesforce.com",
    "https://user:pw@login.salesforce.com",
    "https://login.salesforce.com@evil.example",
    "https://login.salesforce.com:8443",
    "https://login.salesforce.com:80",
    "https://login.salesforce.com:0",
    "https://login.salesforce.com:",
    "https://login.salesforce.com:0443",
    "https://login.salesforce.com:99999",
    "https://login.salesforce.com:abc",
    "https://login.salesforce.com/path",
    "https://login.salesforce.com//",
    "https://login.salesforce.com/services/oauth2/token",
    "https://login.salesforce.com?x=1",
    "https://login.salesforce.com?",
    "https://login.salesforce.com#f",
    "https://login.salesforce.com/#",
    "https://lоgin.salesforce.com",  # Cyrillic о
    "https://acmе.my.salesforce.com",  # Cyrillic е in the My Domain name
    "https://ｌogin.salesforce.com",  # full-width l: IDNA maps it to "login", still refused
    "https://xn--lgin-55d.salesforce.com",
    "https://xn--acm-lmd.my.salesforce.com",  # punycode look-alike under a Salesforce suffix
    "https://login.salesforce.com.",
    "https://acme.my.salesforce.com.",
    "https://login..salesforce.com",
    "https://.login.salesforce.com",
    "https://login.salesforce.com\\@evil.example",
    "https:\\\\login.salesforce.com",
    "https://evil.example\\.my.salesforce.com",
    " https://login.salesforce.com",
    "https://login.salesforce.com ",
    "https://login.salesforce.com\n",
    "https://login.salesforce.com\t",
    "https://login.sales force.com",
    "https://login.salesforce.com\x00",
    "https://login.salesforce.com\u200b",
    "https://login.salesforce.com%2e",
    "https://login%2esalesforce.com",
    "https://login_x.salesforce.com",
    "",
    "login.salesforce.com",
    "//login.salesforce.com",
    "https:login.salesforce.com",
    "https:///login.salesforce.com",
    "ftp://login.salesforce.com",
    "javascript://login.salesforce.com",
    "https://",
]


@pytest.mark.parametrize("url", HOSTILE)
def test_it_refuses_hostile_urls(url):
    with pytest.raises(UntrustedHostError):
        validate_salesforce_url(url, allowed=NONE)


@pytest.mark.parametrize("url", HOSTILE)
def test_hostile_urls_stay_refused_with_loopback_allowed(url):
    with pytest.raises(UntrustedHostError):
        validate_salesforce_url(url, allowed=LOCAL)


def test_non_strings_are_refused():
    with pytest.raises(UntrustedHostError):
        validate_salesforce_url(None, allowed=NONE)  # type: ignore[arg-type]


def test_untrusted_host_error_is_a_value_error_and_a_permanent_salesforce_error():
    with pytest.raises(UntrustedHostError) as caught:
        validate_salesforce_url("https://evil.example", allowed=NONE)
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, PermanentSalesforceError)
    assert isinstance(caught.value, SalesforceError)
    assert "evil.example" in str(caught.value)


def test_an_idn_host_is_accepted_only_as_an_exact_allowed_entry():
    allowed = parse_allowed_hosts("xn--bcher-kva.example")
    assert (
        validate_salesforce_url("https://bücher.example", allowed=allowed) == "https://xn--bcher-kva.example"
    )
    with pytest.raises(UntrustedHostError):
        validate_salesforce_url("https://bücher.example", allowed=NONE)


# -- identity and site URLs -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        f"https://login.salesforce.com/id/{ORG_ID}/{USER_ID}",
        f"https://test.salesforce.com/id/{ORG_ID[:15]}/{USER_ID[:15]}",
        f"https://acme.my.salesforce.com/id/{ORG_ID}/{USER_ID}",
    ],
)
def test_it_accepts_identity_urls(url):
    assert validate_identity_url(url, allowed=NONE) == url


def test_an_identity_url_is_normalised_and_may_be_on_an_allowed_host():
    url = f"HTTP://127.0.0.1:8000/id/{ORG_ID}/{USER_ID}"
    assert validate_identity_url(url, allowed=LOCAL) == f"http://127.0.0.1:8000/id/{ORG_ID}/{USER_ID}"


@pytest.mark.parametrize(
    "url",
    [
        f"https://evil.example/id/{ORG_ID}/{USER_ID}",
        f"http://login.salesforce.com/id/{ORG_ID}/{USER_ID}",
        f"https://x.my.salesforce.com.evil.example/id/{ORG_ID}/{USER_ID}",
        "https://login.salesforce.com",
        "https://login.salesforce.com/",
        f"https://login.salesforce.com/id/{ORG_ID}",
        f"https://login.salesforce.com/id/{USER_ID}/{ORG_ID}",  # swapped
        f"https://login.salesforce.com/id/{ORG_ID}/{USER_ID}/",
        f"https://login.salesforce.com/id/{ORG_ID}/{USER_ID}?x=1",
        f"https://login.salesforce.com/id/{ORG_ID}/{USER_ID}#f",
        f"https://login.salesforce.com/id/{ORG_ID}/{USER_ID}/../../evil",
        f"https://login.salesforce.com/x/id/{ORG_ID}/{USER_ID}",
        f"https://login.salesforce.com/id/{ORG_ID[:14]}/{USER_ID}",
        f"https://login.salesforce.com/id/{ORG_ID}x/{USER_ID}",
        f"https://user@login.salesforce.com/id/{ORG_ID}/{USER_ID}",
    ],
)
def test_it_refuses_bad_identity_urls(url):
    with pytest.raises(UntrustedHostError):
        validate_identity_url(url, allowed=NONE)


def test_parse_identity_url_returns_org_and_user_ids():
    assert parse_identity_url(f"https://login.salesforce.com/id/{ORG_ID}/{USER_ID}") == (ORG_ID, USER_ID)


def test_parse_identity_url_refuses_other_paths():
    with pytest.raises(ValueError):
        parse_identity_url("https://login.salesforce.com/services/data/")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://acme.my.site.com", "https://acme.my.site.com"),
        ("https://acme.my.site.com/partners/", "https://acme.my.site.com/partners"),
        ("https://acme--uat.sandbox.my.site.com/s", "https://acme--uat.sandbox.my.site.com/s"),
    ],
)
def test_it_accepts_site_urls(url, expected):
    assert validate_site_url(url, allowed=NONE) == expected


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/partners",
        "https://acme.my.site.com/a/../b",
        "https://acme.my.site.com/a%2f",
        "https://acme.my.site.com//evil.example",
        "https://acme.my.site.com/?x=1",
    ],
)
def test_it_refuses_bad_site_urls(url):
    with pytest.raises(UntrustedHostError):
        validate_site_url(url, allowed=NONE)


# -- the connect form's environment choice ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("environment", "my_domain", "expected"),
    [
        ("production", None, "https://login.salesforce.com"),
        ("production", "ignored", "https://login.salesforce.com"),
        ("sandbox", "", "https://test.salesforce.com"),
        ("custom", "acme", "https://acme.my.salesforce.com"),
        ("custom", "  Acme  ", "https://acme.my.salesforce.com"),
        ("custom", "acme--uat.sandbox", "https://acme--uat.sandbox.my.salesforce.com"),
        ("custom", "acme-dev-ed.develop", "https://acme-dev-ed.develop.my.salesforce.com"),
        ("custom", "acme.scratch", "https://acme.scratch.my.salesforce.com"),
        ("custom", "acme.trailblaze", "https://acme.trailblaze.my.salesforce.com"),
        ("custom", "https://acme.my.salesforce.com/", "https://acme.my.salesforce.com"),
        ("custom", "acme--uat.sandbox.my.salesforce.com", "https://acme--uat.sandbox.my.salesforce.com"),
        ("custom", "login.salesforce.com", "https://login.salesforce.com"),
        ("custom", "http://127.0.0.1:8000", "http://127.0.0.1:8000"),
    ],
)
def test_login_url_for_maps_choices(environment, my_domain, expected):
    assert login_url_for(environment, my_domain, allowed=LOCAL) == expected


@pytest.mark.parametrize(
    "my_domain",
    [
        None,
        "",
        "   ",
        "acme--uat",  # ambiguous: sandbox names must say .sandbox
        "acme.sandbox",  # a sandbox name without --
        "acme.unknown",
        "acme--uat.develop",
        "evil.example",
        "https://evil.example",
        "http://acme.my.salesforce.com",
        "acme/evil",
        "acme@evil.example",
        "аcme",  # Cyrillic а
        "127.0.0.1",
    ],
)
def test_login_url_for_refuses_bad_my_domains(my_domain):
    with pytest.raises(UntrustedHostError):
        login_url_for("custom", my_domain, allowed=NONE)


def test_login_url_for_refuses_unknown_environments():
    with pytest.raises(ValueError):
        login_url_for("staging", None, allowed=NONE)


# -- PORTAL_SALESFORCE_ALLOWED_HOSTS ----------------------------------------------------------------------


def test_parse_allowed_hosts_reads_every_form():
    parsed = parse_allowed_hosts(
        "http://127.0.0.1:8000,  localhost:9000\nhttps://SF.Internal.Example, http://localhost, http://[::1]:5000"
    )
    assert parsed.entries == {
        AllowedHost("http", "127.0.0.1", 8000),
        AllowedHost("https", "localhost", 9000),
        AllowedHost("https", "sf.internal.example", 443),
        AllowedHost("http", "localhost", 80),
        AllowedHost("http", "::1", 5000),
    }


def test_parse_allowed_hosts_takes_a_list_and_empty_values():
    assert parse_allowed_hosts(["http://127.0.0.2:1", "a.example b.example"]).entries == {
        AllowedHost("http", "127.0.0.2", 1),
        AllowedHost("https", "a.example", 443),
        AllowedHost("https", "b.example", 443),
    }
    assert parse_allowed_hosts("") == AllowedHosts()
    assert parse_allowed_hosts(" , ") == AllowedHosts()
    assert parse_allowed_hosts([]) == AllowedHosts()


@pytest.mark.parametrize(
    "entry",
    [
        "http://sf.internal.example",  # http only for loopback
        "http://10.0.0.5:8000",
        "https://10.0.0.5",  # IP addresses only for loopback
        "169.254.169.254",
        "ftp://127.0.0.1",
        "https://127.0.0.1/path",
        "https://user@sf.internal.example",
        "https://sf.internal.example?x=1",
        "sf.internal.example:0",
        "sf.internal.example:99999",
        "sf.internal.example:abc",
        "bücher.example",  # write IDNs in punycode
        "bad_host.example",
        "trailing.example.",
    ],
)
def test_parse_allowed_hosts_refuses_bad_entries_naming_them(entry):
    with pytest.raises(ValueError, match="Allowed Salesforce host") as caught:
        parse_allowed_hosts(f"https://ok.example, {entry}")
    assert entry in str(caught.value)
