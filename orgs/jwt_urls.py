"""JWT connections and the web UI hand-outs; mounted at the site root
(`path("", include("orgs.jwt_urls"))` in portal/urls.py)."""

from django.urls import path

from orgs import jwt_views

app_name = "jwt"

urlpatterns = [
    path("teams/<uuid:team>/orgs/jwt/", jwt_views.jwt_connect, name="jwt_connect"),
    path("teams/<uuid:team>/orgs/<uuid:connection>/token/", jwt_views.org_token, name="org_token"),
    path("teams/<uuid:team>/orgs/<uuid:connection>/open/", jwt_views.org_open, name="org_open"),
]
