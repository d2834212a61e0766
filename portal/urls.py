"""The URL root: one include per app (each app has one urls.py and one namespace), allauth, the admin (only when
PORTAL_ADMIN_ENABLED; its login page is a redirect to allauth's)."""

from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from portal import clidist, views

urlpatterns = [
    path("", views.home, name="home"),
    path("teams/<uuid:team>/", views.team_dashboard, name="team_dashboard"),
    path("accounts/", include("allauth.urls")),
    path("", include("portal.accounts.urls")),  # teams, members, invitations, audit log, API tokens
    path("", include("orgs.urls")),  # apps, keys, orgs, hand-outs, sharing, health, scratch orgs
    path("", include("orgs.api.urls")),  # the REST API at /api/v1/ (also resolved alone by orgs.api.middleware)
    path("cli/orgportal", clidist.download, name="cli_download"),  # the standalone CLI as one file (public)
    path("cli/completions/<str:shell>", clidist.completions, name="cli_completions"),
    path("favicon.ico", RedirectView.as_view(url="/static/img/favicon.svg", permanent=True)),
]
if settings.PORTAL_ADMIN_ENABLED:
    urlpatterns += [
        path("admin/login/", views.admin_login),  # before the admin's own: no password is ever checked there
        path("admin/password_change/", RedirectView.as_view(pattern_name="account_change_password")),
        path("admin/", admin.site.urls),
    ]

handler500 = "portal.views.server_error"  # a database outage is a 503 with Retry-After, not a 500
