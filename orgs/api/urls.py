"""The REST API's URLs, mounted at /api/v1/ (namespace `api`). Reference: docs/api.md; schema: /api/v1/schema.

portal/urls.py includes this module, and `orgs.api.middleware` resolves `/api/v1/…` against it alone, so the
names are the same either way.
"""

from django.urls import include, path, re_path

from orgs.api import views

api_patterns = ([
    path("orgs", views.orgs_list, name="orgs"),
    path("orgs/<str:ident>", views.org_detail, name="org"),
    path("orgs/<str:ident>/access-token", views.org_access_token, name="access_token"),
    path("orgs/<str:ident>/open", views.org_open, name="open"),
    path("orgs/<str:ident>/scratch-orgs", views.hub_scratch_orgs, name="scratch_orgs"),
    path("orgs/<str:ident>/scratch-orgs/<str:code>", views.hub_scratch_org, name="scratch_org"),
    path("orgs/<str:ident>/sandboxes", views.org_sandboxes, name="sandboxes"),
    path("orgs/<str:ident>/sandboxes/<str:name>", views.org_sandbox, name="sandbox"),
    path("orgs/<str:ident>/sandboxes/<str:name>/refresh", views.org_sandbox_refresh, name="sandbox_refresh"),
    path("oauth/token", views.oauth_token, name="oauth_token"),
    path("trust-policies", views.trust_policies, name="trust_policies"),
    path("trust-policies/<uuid:code>", views.trust_policy, name="trust_policy"),
    path("me", views.me, name="me"),
    path("access-requests", views.access_requests, name="access_requests"),
    path("access-requests/<uuid:code>", views.access_request, name="access_request"),
    path("access-requests/<uuid:code>/<str:action>", views.access_request_action, name="access_request_action"),
    path("schema", views.schema_view, name="schema"),
    re_path(r"^(?P<rest>.*)$", views.not_found),  # JSON 404 for anything else under /api/v1/
], "api")

urlpatterns = [path("api/v1/", include(api_patterns))]
