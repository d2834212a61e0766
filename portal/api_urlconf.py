"""The REST API's URLs alone, for `ApiShortcutMiddleware`: resolving `/api/v1/…` here skips walking the whole site's
URLconf (allauth, admin, …) on every API call. Same include as in portal/urls.py, so names and namespaces match."""

from django.urls import include, path

urlpatterns = [path("api/v1/", include("orgs.api_urls"))]
