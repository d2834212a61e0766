from django.urls import path

from portal.accounts import views

app_name = "accounts"

urlpatterns = [
    path("teams/", views.team_list, name="team_list"),
    path("teams/<uuid:team>/", views.team_dashboard, name="team_dashboard"),
    path("teams/<uuid:team>/switch/", views.team_switch, name="team_switch"),
    path("teams/<uuid:team>/members/", views.team_members, name="team_members"),
    path("teams/<uuid:team>/members/invite/", views.member_invite, name="member_invite"),
    path("teams/<uuid:team>/members/<uuid:member>/role/", views.member_role, name="member_role"),
    path("teams/<uuid:team>/members/<uuid:member>/remove/", views.member_remove, name="member_remove"),
    path("teams/<uuid:team>/invitations/<uuid:invitation>/revoke/", views.invitation_revoke,
         name="invitation_revoke"),
    path("teams/<uuid:team>/leave/", views.team_leave, name="team_leave"),
    path("teams/<uuid:team>/audit/", views.audit_log, name="audit_log"),
    path("invitations/<str:token>/", views.invitation, name="invitation"),
]
