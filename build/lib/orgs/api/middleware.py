"""Send `/api/v1/` requests straight to their view, past the browser-session middleware.

The REST API authenticates with bearer API tokens: it uses no session, CSRF token, messages or allauth state, and
running that middleware on every hand-out only costs time. Security headers and HTTPS redirects still apply: this
runs after SecurityMiddleware. URLs resolve against `orgs.api.urls` (the API's patterns only).
"""

from django.urls import resolve

API_PREFIX = "/api/v1/"


class ApiShortcutMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path_info.startswith(API_PREFIX):
            return self.get_response(request)
        match = resolve(request.path_info, urlconf="orgs.api.urls")
        request.resolver_match = match
        return match.func(request, *match.args, **match.kwargs)
