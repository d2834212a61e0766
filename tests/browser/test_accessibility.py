"""Every page a user can reach, scanned in Chromium with axe-core (axe-playwright-python bundles it) in the light and
the dark colour scheme: no violation of impact "serious" or "critical". The same walk records Content-Security-Policy
violations (Chromium reports each one on the console as "Refused to …") and fails on any.

The pages come from the URL resolver: every URL pattern of the project and of allauth must be in `VISIT` (how to
reach it) or `SKIP` (why it is not a page), so a new page is scanned as soon as it exists
(`test_every_page_is_classified` fails otherwise). The world is the scoping matrix's: a team with every object kind
(production Dev Hub and sandbox connections, scratch orgs, a sandbox, apps, keys, tokens, grants, a group, an
access request and review, a CI policy, an alert channel). One browser context, one sign-in.
"""

from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tests.conftest import PASSWORD
from tests.test_scoping_matrix import OK, PAGES, PARAM_KIND, _code, project_urls, scopes  # noqa: F401 - fixture

pytestmark = [pytest.mark.postgres]  # the walk below is also `browser`; the classification runs everywhere

BLOCKING = {"serious", "critical"}
SCHEMES = ("light", "dark")

# URL names that are not HTML pages a user looks at, and why.
SKIP = {
    "orgs:key_certificate": "a PEM download",
    "orgs:sandbox_row": "an htmx fragment (one table row), scanned inside orgs:sandboxes",
    "orgs:scratch_org_status": "an htmx fragment (one table row), scanned inside orgs:scratch_orgs",
    "orgs:access_request_status": "an htmx fragment (the request's state), scanned inside orgs:access_request",
    "cli_download": "the CLI zipapp download",
    "cli_completions": "a shell completion script download",
    "favicon.ico": "an image",
    "mfa_download_recovery_codes": "a text download",
    "api/v1/^(?P<rest>.*)$": "the REST API (JSON)",
}
SKIP_PREFIXES = ("api:",)  # the REST API: JSON, no pages

# Pages seen signed out (allauth): URL name -> path (None: no parameters).
ANONYMOUS = {"account_login": None, "account_signup": None, "account_reset_password": None,
             "account_reset_password_done": None,
             "account_reset_password_from_key": "/accounts/password/reset/key/0-bad-key/",
             "account_confirm_email": "/accounts/confirm-email/bad-key/", "404": "/no-such-page/"}
# allauth pages seen signed in (those that need a pending flow redirect somewhere that is scanned too)
ALLAUTH_SIGNED_IN = ["account_email", "account_change_password", "account_set_password", "mfa_index",
                     "mfa_activate_totp", "usersessions_list", "account_reauthenticate", "account_inactive",
                     "account_email_verification_sent", "account_reset_password_from_key_done",
                     "account_request_reauthentication_code", "account_confirm_reauthentication_code",
                     "account_confirm_login_code", "socialaccount_connections", "socialaccount_login_cancelled",
                     "socialaccount_login_error", "socialaccount_signup"]
# the project's pages without a team object in the path
PROJECT_PLAIN = {"home": "/", "accounts:team_list": "/teams/", "orgs:oauth_callback": "/orgs/oauth/callback/",
                 "accounts:invitation": "/invitations/not-a-token/", "accounts:preferences": "/preferences/"}
LAST = ["account_logout"]  # its confirmation page; scanned last
# the two-factor pages of a member with TOTP enrolled (test_the_two_factor_pages_pass_axe_with_totp_enrolled)
MFA_ENROLLED = ["mfa_authenticate", "mfa_index", "mfa_view_recovery_codes", "mfa_generate_recovery_codes",
                "mfa_deactivate_totp", "mfa_reauthenticate"]


def _allauth_names():
    def walk(patterns, inside=False):
        for p in patterns:
            if isinstance(p, URLResolver):
                module = p.urlconf_name if isinstance(p.urlconf_name, str) else getattr(p.urlconf_name, "__name__", "")
                yield from walk(p.url_patterns, inside or str(module).startswith("allauth"))
            elif isinstance(p, URLPattern) and inside and p.name:
                yield p.name
    return set(walk(get_resolver().url_patterns))


def _team_page_names():
    return {name for name, page in PAGES.items() if "GET" in page.methods}


def test_every_page_is_classified():
    """A new URL pattern (project or allauth) fails here until it is scanned or its SKIP entry says why not."""
    named = set(project_urls()) | _allauth_names()
    # POST-only actions answer with a redirect to a page scanned here (orgs:token is scanned below by name)
    actions = {name for name, page in PAGES.items() if "GET" not in page.methods}
    covered = (set(SKIP) | _team_page_names() | actions | set(PROJECT_PLAIN) | set(ALLAUTH_SIGNED_IN) | set(LAST)
               | set(ANONYMOUS) | set(MFA_ENROLLED))
    missing = {n for n in named - covered if not n.startswith(SKIP_PREFIXES)}
    assert not missing, f"pages neither scanned nor skipped: {sorted(missing)}"
    stale = (set(SKIP) | set(PROJECT_PLAIN) | set(ALLAUTH_SIGNED_IN) | set(LAST) | set(MFA_ENROLLED)
             | set(ANONYMOUS) - {"404"}) - named
    assert not stale, f"entries for URLs that no longer exist: {sorted(stale)}"
    post_only = {name for name, page in PAGES.items() if "GET" not in page.methods}
    assert not (set(SKIP) & post_only), "POST-only URLs need no SKIP entry"


def _team_urls(acme) -> dict[str, str]:
    urls = {}
    for name in sorted(_team_page_names() - set(SKIP)):
        page = PAGES[name]
        case = next(c for c in page.cases if page.rule("owner", c) == OK)
        kwargs = {"team": acme.team.code}
        kwargs.update({param: _code(acme, PARAM_KIND[param], variant, "owner") for param, variant in case.items()})
        urls[name] = reverse(name, kwargs=kwargs)
    return urls


class Scanner:
    def __init__(self, page):
        self.page = page
        self.axe = Axe()
        self.failures: list[str] = []
        self.csp: list[str] = []
        self.scanned = 0
        self.current = ""
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.csp.append(f"{self.current}: script error {exc}"))

    def _console(self, message):
        text = message.text
        if "Content Security Policy" in text or "Refused to" in text:
            self.csp.append(f"{self.current}: {text[:300]}")

    def goto(self, label, url):
        self.current = label
        self.page.emulate_media(color_scheme="light", reduced_motion="reduce")
        self.page.goto(url)
        self.page.wait_for_load_state("load")
        self.scan(label)

    def scan(self, label):
        self.current = label
        for scheme in SCHEMES:
            # reduced motion: Bootstrap then has no colour transitions, so axe never measures a half-way colour
            self.page.emulate_media(color_scheme=scheme, reduced_motion="reduce")  # static/js/theme.js follows
            if self.page.locator("html > head > script[src$='theme.js']").count():  # not on the bare error pages
                self.page.locator(f"html[data-bs-theme={scheme}]").wait_for(state="attached")
            results = self.axe.run(self.page)
            self.scanned += 1
            for violation in results.response["violations"]:
                if violation.get("impact") not in BLOCKING:
                    continue
                nodes = "; ".join(" ".join(map(str, node["target"])) + " → " + (node.get("failureSummary") or "")
                                  .replace("\n", " ")[:160] for node in violation["nodes"][:4])
                self.failures.append(f"{label} [{scheme}] {self.page.url}: {violation['id']} ({violation['impact']})"
                                     f" {len(violation['nodes'])} node(s): {nodes}")

    def post(self, label, url, data):
        """Submit a form built on the current page (its CSRF token) and scan the answer."""
        with self.page.expect_navigation():
            self.page.evaluate("""([url, data]) => {
                const form = document.createElement("form");
                form.method = "post"; form.action = url;
                data.csrfmiddlewaretoken = document.querySelector("input[name=csrfmiddlewaretoken]").value;
                for (const [name, value] of Object.entries(data)) {
                    for (const one of [].concat(value)) {
                        const input = document.createElement("input");
                        input.type = "hidden"; input.name = name; input.value = one; form.appendChild(input);
                    }
                }
                document.body.appendChild(form); form.submit();
            }""", [url, data])
        self.page.wait_for_load_state("load")
        self.scan(label)


def _url(name_or_path):
    return name_or_path if name_or_path.startswith("/") else reverse(name_or_path)


@pytest.mark.browser
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_every_page_passes_axe_in_light_and_dark_mode_without_csp_violations(page, scopes, settings):  # noqa: F811
    acme = scopes["acme"]
    settings.PORTAL_ALERT_ALLOWED_HOSTS = "http://127.0.0.1:9"
    scanner = Scanner(page)
    for name, path in ANONYMOUS.items():
        scanner.goto(name, path or reverse(name))

    page.goto(reverse("account_login"))
    page.fill("input[name=login]", scopes["people"]["owner"].email)
    page.fill("input[name=password]", PASSWORD)
    page.locator("main button[type=submit]").first.click()
    page.wait_for_url("**/teams/**")

    for name, path in PROJECT_PLAIN.items():
        scanner.goto(name, path)
    for name, url in _team_urls(acme).items():
        scanner.goto(name, url)
    for name in ALLAUTH_SIGNED_IN:
        scanner.goto(name, _url(name))

    # pages that answer a POST: a form with errors, and the ones that show a secret once
    team = acme.team.code
    tokens = reverse("accounts:token_list", args=[team])
    scanner.goto("accounts:token_list", tokens)
    scanner.post("token form with errors", tokens, {"name": "", "kind": "nonsense"})
    scanner.post("new API token (shown once)", tokens, {"name": "axe", "kind": "personal", "expires": "30"})
    page.click("#copy-token")  # static/js/portal.js: the button says so, and so does the live region
    page.locator("#live-status", has_text="Copied to the clipboard").wait_for(state="attached")
    assert page.locator("#copy-token").inner_text() == "Copied"
    scanner.goto("orgs:org_list", reverse("orgs:org_list", args=[team]))
    sandbox = acme.connections["sandbox"].code
    scanner.post("org access token (shown once)", reverse("orgs:token", args=[team, sandbox]), {})
    # the page's own forms still pass the CSRF check (its Referrer-Policy keeps the Origin header): the team switcher
    with page.expect_navigation():
        page.evaluate("document.querySelector('#team-switcher form').submit()")
    assert page.title() != "403 Forbidden" and page.url.endswith(reverse("team_dashboard", args=[team]))
    channels = reverse("orgs:alert_channels", args=[team])
    scanner.goto("orgs:alert_channels", channels)
    scanner.post("alert channel secret (shown once)", channels,
                 {"name": "axe", "kind": "webhook", "url": "http://127.0.0.1:9/hook", "events": ["degraded"]})
    for name in LAST:
        scanner.goto(name, _url(name))

    assert scanner.scanned > 100
    problems = scanner.failures + [f"CSP: {line}" for line in scanner.csp]
    assert not problems, f"{len(scanner.failures)} axe violation(s), {len(scanner.csp)} CSP report(s):\n" + \
        "\n".join(problems)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_two_factor_pages_pass_axe_with_totp_enrolled(page, world):
    """The pages only a member with TOTP sees: the code prompt at sign-in, the recovery codes, deactivation and the
    re-authentication by code."""
    from allauth.mfa.models import Authenticator
    from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes

    from portal.accounts.adapter import MFAAdapter
    from tests.browser.helpers import fresh_totp

    secret = "JBSWY3DPEHPK3PXP"
    Authenticator.objects.create(user=world.owner, type=Authenticator.Type.TOTP,
                                 data={"secret": MFAAdapter().encrypt(secret)})
    recovery = RecoveryCodes.activate(world.owner).get_unused_codes()
    scanner = Scanner(page)
    page.goto(reverse("account_login"))
    page.fill("input[name=login]", world.owner.email)
    page.fill("input[name=password]", PASSWORD)
    page.locator("main button[type=submit]").first.click()
    page.wait_for_url("**" + reverse("mfa_authenticate"))
    scanner.scan("mfa_authenticate")
    page.fill("input[name=code]", fresh_totp(secret))
    page.locator("main button[type=submit]").first.click()
    page.wait_for_url("**/teams/**")
    # allauth asks for a code again before showing recovery codes: its re-authentication page, answered with a
    # recovery code (the sign-in's TOTP code is single use)
    page.goto(reverse("mfa_view_recovery_codes"))
    assert reverse("mfa_reauthenticate") in page.url, page.url
    scanner.scan("mfa_reauthenticate")
    page.fill("input[name=code]", recovery[0])
    page.locator("main button[type=submit]").first.click()
    page.wait_for_url("**" + reverse("mfa_view_recovery_codes"))
    for name in ["mfa_index", "mfa_view_recovery_codes", "mfa_generate_recovery_codes", "mfa_deactivate_totp"]:
        scanner.goto(name, reverse(name))
        assert page.url.endswith(reverse(name)), (name, page.url)  # the page itself, not a redirect elsewhere
    problems = scanner.failures + [f"CSP: {line}" for line in scanner.csp]
    assert scanner.scanned == 2 * len(MFA_ENROLLED) and not problems, "\n".join(problems)
