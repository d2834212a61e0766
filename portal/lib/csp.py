"""The pages that show a secret (an org's access token, a new API token, a webhook's signing secret): `secret_page`
serves a view under the strict Content-Security-Policy below instead of the site policy
(settings.CONTENT_SECURITY_POLICY), with `Cache-Control: no-store` and `Referrer-Policy: same-origin`. Not
`no-referrer`: under it Chromium sends `Origin: null` with the page's own form posts (the token and alert channel
forms, Sign out, the team switcher), which Django's CSRF check refuses. No referrer leaves the portal either way,
and these pages' URLs hold no secret.

Nothing may load from anywhere but the portal, nothing may be fetched (connect-src 'none'), forms post only to the
portal. Images keep `data:` because Bootstrap's stylesheet draws its icons (close button, select arrow, navbar
toggler) as data: SVGs; a data: image carries nothing out of the page.
"""

from functools import wraps

from csp.constants import NONE, SELF
from csp.decorators import csp
from django.utils.cache import add_never_cache_headers

STRICT_POLICY = {
    "default-src": [NONE],
    "script-src": [SELF],
    "style-src": [SELF],
    "img-src": [SELF, "data:"],
    "font-src": [SELF],
    "connect-src": [NONE],
    "form-action": [SELF],
    "base-uri": [NONE],
    "frame-ancestors": [NONE],
    "object-src": [NONE],
}


def secret_page(view):
    """Every answer of `view` (the page, a redirect, an error) under STRICT_POLICY, never cached, no referrer
    outside the portal."""
    strict = csp(STRICT_POLICY)(view)

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        response = strict(request, *args, **kwargs)
        add_never_cache_headers(response)
        response["Referrer-Policy"] = "same-origin"
        return response

    return wrapped


def origin_of(url: str) -> str:
    """`scheme://host[:port]` of a URL (a frontdoor form's action), as a CSP source."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"
