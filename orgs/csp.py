"""django-csp's middleware, with the Salesforce hosts the portal sends the browser to added to `form-action`.

Chromium applies `form-action` to every redirect that follows a form submission, so a page whose form posts to the
portal and is answered with a redirect to Salesforce (connect: the authorize URL; reconnect; open: the frontdoor)
needs those hosts in its own policy: Salesforce's login hosts, any My Domain (`*.my.salesforce.com`,
`*.my.site.com`, every partition) and each host of PORTAL_SALESFORCE_ALLOWED_HOSTS (e.g. the simulator). Pages
served with their own policy (`portal.lib.csp.secret_page`) are left as they are.

The middleware sits after orgs.api.middleware.ApiShortcutMiddleware: the REST API's JSON answers never reach it.
"""

from functools import lru_cache

from csp.middleware import CSPMiddleware
from django.conf import settings

from orgs.salesforce import hosts

SALESFORCE_FORM_TARGETS = ("https://login.salesforce.com", "https://test.salesforce.com",
                           "https://*.my.salesforce.com", "https://*.my.site.com")


@lru_cache(maxsize=8)
def form_targets(allowed_hosts: str) -> tuple[str, ...]:
    """CSP sources for Salesforce's hosts plus the parsed PORTAL_SALESFORCE_ALLOWED_HOSTS value."""
    extra = []
    for entry in sorted(hosts.parse_allowed_hosts(allowed_hosts).entries):
        host = f"[{entry.host}]" if ":" in entry.host else entry.host
        extra.append(f"{entry.scheme}://{host}:{entry.port}")
    return SALESFORCE_FORM_TARGETS + tuple(extra)


class PortalCSPMiddleware(CSPMiddleware):
    def get_policy_parts(self, request, response, report_only=False):
        parts = super().get_policy_parts(request, response, report_only)
        if not report_only and parts.config is None:  # the site policy, not a view's own
            update = dict(parts.update or {})
            update["form-action"] = [*update.get("form-action", ()),
                                     *form_targets(settings.PORTAL_SALESFORCE_ALLOWED_HOSTS or "")]
            parts.update = update
        return parts
