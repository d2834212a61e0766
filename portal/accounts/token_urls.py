"""API token pages; mounted at the site root (`path("", include("portal.accounts.token_urls"))`)."""

from django.urls import path

from portal.accounts import token_views

app_name = "tokens"

urlpatterns = [
    path("teams/<uuid:team>/tokens/", token_views.token_list, name="token_list"),
    path("teams/<uuid:team>/tokens/<uuid:token>/revoke/", token_views.token_revoke, name="token_revoke"),
]
