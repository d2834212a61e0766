from django.urls import path

from orgs import sharing_views, views

app_name = "orgs"

urlpatterns = [
    path("teams/<uuid:team>/apps/", views.app_list, name="app_list"),
    path("teams/<uuid:team>/apps/new/", views.app_create, name="app_create"),
    path("teams/<uuid:team>/apps/<uuid:app>/", views.app_detail, name="app_detail"),
    path("teams/<uuid:team>/apps/<uuid:app>/edit/", views.app_edit, name="app_edit"),
    path("teams/<uuid:team>/apps/<uuid:app>/secret/", views.app_secret, name="app_secret"),
    path("teams/<uuid:team>/apps/<uuid:app>/delete/", views.app_delete, name="app_delete"),
    path("teams/<uuid:team>/keys/", views.key_list, name="key_list"),
    path("teams/<uuid:team>/keys/upload/", views.key_upload, name="key_upload"),
    path("teams/<uuid:team>/keys/generate/", views.key_generate, name="key_generate"),
    path("teams/<uuid:team>/keys/<uuid:key>/", views.key_detail, name="key_detail"),
    path("teams/<uuid:team>/keys/<uuid:key>/certificate.crt", views.key_certificate, name="key_certificate"),
    path("teams/<uuid:team>/keys/<uuid:key>/delete/", views.key_delete, name="key_delete"),
    path("teams/<uuid:team>/orgs/", views.org_list, name="org_list"),
    path("teams/<uuid:team>/orgs/connect/", views.connect, name="connect"),
    path("teams/<uuid:team>/orgs/<uuid:connection>/rename/", views.org_rename, name="org_rename"),
    path("teams/<uuid:team>/orgs/<uuid:connection>/default/", views.org_default, name="org_default"),
    path("teams/<uuid:team>/orgs/<uuid:connection>/reconnect/", views.org_reconnect, name="org_reconnect"),
    path("teams/<uuid:team>/orgs/<uuid:connection>/disconnect/", views.org_disconnect, name="org_disconnect"),
    path("teams/<uuid:team>/orgs/<uuid:connection>/access/", sharing_views.org_access, name="org_access"),
    path("teams/<uuid:team>/orgs/<uuid:connection>/access/add/", sharing_views.grant_add, name="grant_add"),
    path("teams/<uuid:team>/orgs/<uuid:connection>/access/<uuid:grant>/", sharing_views.grant_update,
         name="grant_update"),
    path("teams/<uuid:team>/access/", sharing_views.matrix, name="matrix"),
    path("teams/<uuid:team>/groups/", sharing_views.groups, name="groups"),
    path("teams/<uuid:team>/members/<uuid:member>/profile/", sharing_views.member_profile, name="member_profile"),
    path("orgs/oauth/callback/", views.oauth_callback, name="oauth_callback"),
]
