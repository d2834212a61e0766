from django.urls import path

from orgs import ops_views

app_name = "ops"

urlpatterns = [
    path("teams/<uuid:team>/health/", ops_views.health, name="health"),
    path("teams/<uuid:team>/scratch-orgs/", ops_views.scratch_orgs, name="scratch_orgs"),
    path("teams/<uuid:team>/orgs/<uuid:connection>/scratch-orgs/", ops_views.hub_scratch_orgs,
         name="hub_scratch_orgs"),
    path("teams/<uuid:team>/orgs/<uuid:connection>/scratch-orgs/new/", ops_views.scratch_org_create,
         name="scratch_create"),
    path("teams/<uuid:team>/scratch-orgs/<uuid:scratch_org>/delete/", ops_views.scratch_org_delete,
         name="scratch_delete"),
]
