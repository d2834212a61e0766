"""The REST API, mounted at /api/v1/ (namespace `api`). Reference: docs/api.md; schema: /api/v1/schema."""

from django.urls import path, re_path

from orgs import api

app_name = "api"

urlpatterns = [
    path("orgs", api.orgs_list, name="orgs"),
    path("orgs/<str:ident>", api.org_detail, name="org"),
    path("orgs/<str:ident>/access-token", api.org_access_token, name="access_token"),
    path("schema", api.schema, name="schema"),
    re_path(r"^(?P<rest>.*)$", api.not_found),  # JSON 404 for anything else under /api/v1/
]
