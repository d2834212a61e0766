from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from portal.accounts import views as account_views

urlpatterns = [
    path("", account_views.home, name="home"),
    path("accounts/", include("allauth.urls")),
    path("", include("portal.accounts.urls")),
    path("", include("orgs.urls")),
    path("", include("orgs.ops_urls")),  # health dashboard, scratch orgs (workers)
    path("", include("orgs.jwt_urls")),  # JWT connections, web access-token hand-out, Open in Salesforce
    path("", include("portal.accounts.token_urls")),  # API tokens
    path("", include("portal.api_urlconf")),  # the REST API at /api/v1/ (also resolved alone by ApiShortcutMiddleware)
    path("admin/", admin.site.urls),
    path("favicon.ico", RedirectView.as_view(url="/static/img/favicon.svg", permanent=True)),
]
