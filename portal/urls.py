"""The URL root: one include per app (each app has one urls.py and one namespace), allauth, the admin."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from portal import views

urlpatterns = [
    path("", views.home, name="home"),
    path("teams/<uuid:team>/", views.team_dashboard, name="team_dashboard"),
    path("accounts/", include("allauth.urls")),
    path("", include("portal.accounts.urls")),  # teams, members, invitations, audit log, API tokens
    path("", include("orgs.urls")),  # apps, keys, orgs, hand-outs, sharing, health, scratch orgs
    path("", include("orgs.api.urls")),  # the REST API at /api/v1/ (also resolved alone by orgs.api.middleware)
    path("admin/", admin.site.urls),
    path("favicon.ico", RedirectView.as_view(url="/static/img/favicon.svg", permanent=True)),
]

handler500 = "portal.views.server_error"  # a database outage is a 503 with Retry-After, not a 500
