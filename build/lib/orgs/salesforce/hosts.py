"""The one validator for Salesforce hosts: login URLs and the URLs a token response returns.

Pure Python (no Django): services call it with plain values, and `orgs.salesforce` runs every URL it is asked
to call through it first. docs/salesforce.md lists the host forms.

A URL is trusted when either
- its host is a Salesforce login or My Domain host (https, default port, no IP): `_is_salesforce_host`;
- or its (scheme, host, port) is exactly one of the hosts in `PORTAL_SALESFORCE_ALLOWED_HOSTS` (parsed by
  `parse_allowed_hosts`; `http://` only for loopback), e.g. the local simulator.
Nothing else is special-cased.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import urlsplit

from orgs.salesforce.errors import UntrustedHostError

LOGIN_URLS = {
    "production": "https://login.salesforce.com",
    "sandbox": "https://test.salesforce.com",
}

_LOGIN_HOSTS = frozenset({"login.salesforce.com", "test.salesforce.com"})

# docs/salesforce.md §1: `<name>.my.salesforce.com`, `<name>--<sandbox>.sandbox.my.salesforce.com`, the
# partitioned `<name>.<partition>.my.salesforce.com`, and Experience Cloud sites `<name>.my.site.com`.
# Experience Cloud sites of sandboxes and partitioned orgs use the same partitions
# (`<name>--<sandbox>.sandbox.my.site.com`), so both zones take the same shapes. Exactly one name label is
# allowed in front of the zone (or of `<partition>.<zone>`): these formats have no deeper sub-domains.
#
# Deliberately NOT accepted (a deployment that needs one lists the exact host in the allowed hosts):
# - `*.force.com` (legacy Visualforce/Sites) and `*.lightning.force.com` (UI only): not OAuth/API hosts
#   since enhanced domains (enforced Winter '24; legacy redirection ended Spring '26). The CLI refuses
#   Lightning hosts too.
# - instanced hosts such as `cs42.salesforce.com`: gone with enhanced domains.
# - Government Cloud (`*.my.salesforce.mil`, `*.crmforce.mil`) and Salesforce China (`*.sfcrmproducts.cn`):
#   separate clouds with their own login hosts; an operator who serves them opts in host by host.
_MY_DOMAIN_ZONES = ("my.salesforce.com", "my.site.com")
_PARTITIONS = frozenset({"sandbox", "develop", "scratch", "demo", "patch", "free", "trailblaze"})

_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_SALESFORCE_ID = r"[A-Za-z0-9]{12}(?:[A-Za-z0-9]{3})?"
_ID_PATH = re.compile(rf"/id/(00D{_SALESFORCE_ID})/(005{_SALESFORCE_ID})")
_SITE_PATH = re.compile(r"(?:/(?!\.\.?(?:/|$))[A-Za-z0-9._~-]+)*/?")  # plain segments; no "." or ".."
# A bare My Domain name for `login_url_for`: `acme`, `acme.develop`, `acme--uat.sandbox`.
_MY_DOMAIN_NAME = re.compile(r"(?P<name>[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:\.(?P<partition>[a-z]+))?")
_SEPARATORS = re.compile(r"[,\s]+")


@dataclass(frozen=True, order=True)
class AllowedHost:
    """One explicitly allowed origin. `host` is lower-case ASCII or a canonical IP address."""

    scheme: str
    host: str
    port: int


@dataclass(frozen=True)
class AllowedHosts:
    """The parsed `PORTAL_SALESFORCE_ALLOWED_HOSTS` setting; empty by default."""

    entries: frozenset[AllowedHost] = frozenset()

    def __contains__(self, item: object) -> bool:
        return item in self.entries


def parse_allowed_hosts(value: str | Iterable[str]) -> AllowedHosts:
    """Parse `host[:port]` entries, comma or space separated, each optionally prefixed by a scheme.

    No scheme means https; no port means the scheme's default port. `http://` and IP addresses are accepted
    only for loopback (`localhost`, 127.0.0.0/8, ::1). Host names must be ASCII (punycode for an IDN).
    A bad entry raises `ValueError` naming it.
    """
    chunks = [value] if isinstance(value, str) else list(value)
    entries = [entry for chunk in chunks for entry in _SEPARATORS.split(chunk) if entry]
    return AllowedHosts(frozenset(_parse_allowed_entry(entry) for entry in entries))


def _parse_allowed_entry(entry: str) -> AllowedHost:
    def bad(reason: str) -> ValueError:
        return ValueError(f"Allowed Salesforce host {entry!r}: {reason}.")

    try:
        parts = urlsplit(entry if "://" in entry else f"https://{entry}")
        port = parts.port
    except ValueError:
        raise bad("not a valid host[:port]") from None
    if parts.scheme not in _DEFAULT_PORTS:
        raise bad("the scheme must be http:// or https:// (or none, meaning https)")
    if parts.username is not None or parts.path not in ("", "/") or "?" in entry or "#" in entry:
        raise bad("give only host[:port], without a user, path or query")
    hostname = parts.hostname or ""
    host = _canonical_host(hostname) if hostname.isascii() and "\\" not in entry else None
    if host is None or port == 0:
        raise bad("not a valid host[:port] (write an IDN in punycode)")
    ip = _ip_or_none(host)
    if ip is not None and not ip.is_loopback:
        raise bad("IP addresses are accepted only for loopback")
    if parts.scheme == "http" and not _is_loopback(host):
        raise bad("http:// is accepted only for loopback hosts")
    return AllowedHost(parts.scheme, host, _DEFAULT_PORTS[parts.scheme] if port is None else port)


def validate_salesforce_url(url: str, *, allowed: AllowedHosts) -> str:
    """Return the normalised base URL `scheme://host[:port]` of a trusted Salesforce URL, else raise.

    Accepts only an origin with an optional trailing `/`: no user-info, path, query or fragment.
    """
    parsed = _split(url)
    if parsed.path not in ("", "/"):
        raise UntrustedHostError(f"A Salesforce login URL must not have a path ({parsed.host}).")
    return _trusted_base(parsed, allowed)


def validate_identity_url(url: str, *, allowed: AllowedHosts) -> str:
    """Validate the `id` URL of a token response: a trusted host and the path `/id/<00D…>/<005…>`."""
    parsed = _split(url)
    if not _ID_PATH.fullmatch(parsed.path):
        raise UntrustedHostError(f"The identity URL on {parsed.host} is not /id/<org id>/<user id>.")
    return _trusted_base(parsed, allowed) + parsed.path


def validate_site_url(url: str, *, allowed: AllowedHosts) -> str:
    """Validate an Experience Cloud site URL (`sfdc_community_url`): trusted host, optional plain path."""
    parsed = _split(url)
    if not _SITE_PATH.fullmatch(parsed.path):
        raise UntrustedHostError(f"The site URL on {parsed.host} has an unexpected path.")
    return _trusted_base(parsed, allowed) + parsed.path.rstrip("/")


def parse_identity_url(url: str) -> tuple[str, str]:
    """Return `(org_id, user_id)` from an identity URL. Checks the path only: validate the host first."""
    match = _ID_PATH.fullmatch(urlsplit(url).path)
    if match is None:
        raise ValueError("Not a Salesforce identity URL (/id/<org id>/<user id>).")
    return match.group(1), match.group(2)


def login_url_for(environment: str, my_domain: str | None, *, allowed: AllowedHosts) -> str:
    """Map the connect form's choice to a validated login URL.

    - `production` → https://login.salesforce.com; `sandbox` → https://test.salesforce.com. `my_domain` is
      ignored for both.
    - `custom` reads `my_domain` (surrounding whitespace stripped) as one of
      - a full URL (`https://acme.my.salesforce.com`, or an allowed host): `validate_salesforce_url`;
      - a bare My Domain name: `acme` → https://acme.my.salesforce.com; `acme--uat.sandbox` →
        https://acme--uat.sandbox.my.salesforce.com; `acme.develop` (or scratch, demo, patch, free,
        trailblaze) → https://acme.develop.my.salesforce.com. Names with `--` must end in `.sandbox`, and
        only those may: `acme--uat` alone is refused as ambiguous rather than guessed;
      - a bare host name (`acme.my.salesforce.com`), read as https.
    """
    if environment in LOGIN_URLS:
        return LOGIN_URLS[environment]
    if environment != "custom":
        raise ValueError(f"Unknown Salesforce environment {environment!r}.")
    value = (my_domain or "").strip()
    if not value:
        raise UntrustedHostError("Enter your My Domain name or URL.")
    if "://" in value:
        return validate_salesforce_url(value, allowed=allowed)
    name = _MY_DOMAIN_NAME.fullmatch(value.lower())
    if name is None:
        return validate_salesforce_url(f"https://{value}", allowed=allowed)
    return validate_salesforce_url(_my_domain_url(name["name"], name["partition"]), allowed=allowed)


def _my_domain_url(name: str, partition: str | None) -> str:
    if partition is not None and partition not in _PARTITIONS:
        raise UntrustedHostError(f"{name}.{partition} is not a My Domain name (unknown partition).")
    if ("--" in name) != (partition == "sandbox"):
        raise UntrustedHostError(
            "A sandbox My Domain name looks like mydomain--sandboxname.sandbox; "
            "enter the full URL if yours is different."
        )
    zone = f"{partition}.my.salesforce.com" if partition else "my.salesforce.com"
    return f"https://{name}.{zone}"


class _Parsed(NamedTuple):
    scheme: str
    host: str  # canonical: lower-case ASCII (IDNA-encoded) or a canonical IP address
    port: int  # explicit, or the scheme's default
    path: str
    idn: bool  # the host was written with non-ASCII characters


def _split(url: str) -> _Parsed:
    """Parse with `urlsplit` only; refuse anything that is not a plain `scheme://host[:port][/path]`."""
    if not isinstance(url, str) or not url:
        raise UntrustedHostError("The Salesforce URL is empty.")
    if any(ch.isspace() or not ch.isprintable() or ch == "\\" for ch in url):
        raise UntrustedHostError("The Salesforce URL contains whitespace, control characters or backslashes.")
    if "?" in url or "#" in url:
        raise UntrustedHostError("A Salesforce URL must not have a query string or fragment.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UntrustedHostError("The Salesforce URL is malformed.") from None
    if parts.scheme not in _DEFAULT_PORTS or not parts.netloc:
        raise UntrustedHostError("A Salesforce URL must start with https://.")
    if "@" in parts.netloc:
        raise UntrustedHostError("A Salesforce URL must not contain a user name or password.")
    hostname = parts.hostname or ""
    host = _canonical_host(hostname)
    if host is None or parts.netloc.lower() != _netloc_spelling(hostname, port):
        raise UntrustedHostError("The Salesforce URL does not have a valid host name.")
    effective_port = _DEFAULT_PORTS[parts.scheme] if port is None else port
    return _Parsed(parts.scheme, host, effective_port, parts.path, not hostname.isascii())


def _netloc_spelling(hostname: str, port: int | None) -> str:
    """The one accepted netloc spelling: `host`, `[v6]` or `host:port` (not `host:`, `host:0443`, …)."""
    host = f"[{hostname}]" if ":" in hostname else hostname
    return host if port is None else f"{host}:{port}"


def _canonical_host(hostname: str) -> str | None:
    """Lower-case ASCII (IDNA-encoded) host or canonical IP address; None when it is not a valid host."""
    host = hostname.lower()
    ip = _ip_or_none(host)
    if ip is not None:
        return str(ip)
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    if len(host) > 253 or not all(_LABEL.fullmatch(label) for label in host.split(".")):
        return None  # also refuses trailing dots and empty labels
    return host


def _trusted_base(parsed: _Parsed, allowed: AllowedHosts) -> str:
    scheme, host, port = parsed.scheme, parsed.host, parsed.port
    if AllowedHost(scheme, host, port) in allowed:
        return _base_url(scheme, host, port)
    if parsed.idn:
        raise UntrustedHostError(
            "The host name has non-ASCII (look-alike?) letters; Salesforce hosts are ASCII."
        )
    if _ip_or_none(host) is not None:
        raise UntrustedHostError(f"{host} is an IP address, not a Salesforce host.")
    if not _is_salesforce_host(host):
        raise UntrustedHostError(f"{host} is not a Salesforce login or My Domain host.")
    if scheme != "https":
        raise UntrustedHostError(f"Salesforce URLs must use https ({host}).")
    if port != 443:
        raise UntrustedHostError(f"Salesforce URLs must use the default https port ({host}:{port}).")
    return f"https://{host}"


def _is_salesforce_host(host: str) -> bool:
    """A login host, or `<name>[.<partition>].<zone>` for a My Domain zone. Punycode labels: look-alikes."""
    if any(label.startswith("xn--") for label in host.split(".")):
        return False
    if host in _LOGIN_HOSTS:
        return True
    for zone in _MY_DOMAIN_ZONES:
        if host.endswith(f".{zone}"):
            labels = host[: -len(zone) - 1].split(".")
            return len(labels) == 1 or (len(labels) == 2 and labels[1] in _PARTITIONS)
    return False


def _ip_or_none(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _is_loopback(host: str) -> bool:
    ip = _ip_or_none(host)
    return host == "localhost" if ip is None else ip.is_loopback


def _base_url(scheme: str, host: str, port: int) -> str:
    netloc = f"[{host}]" if ":" in host else host
    return f"{scheme}://{netloc}" if port == _DEFAULT_PORTS[scheme] else f"{scheme}://{netloc}:{port}"
