"""Every page of the people side, in one namespace: `accounts:` (sign-in itself is allauth's, under /accounts/)."""

from django.urls import path

from portal.accounts.views import preferences, teams, tokens

app_name = "accounts"

urlpatterns = [
    path("teams/", teams.team_list, name="team_list"),
    path("teams/<uuid:team>/switch/", teams.team_switch, name="team_switch"),
    path("teams/<uuid:team>/members/", teams.team_members, name="team_members"),
    path("teams/<uuid:team>/members/invite/", teams.member_invite, name="member_invite"),
    path("teams/<uuid:team>/members/<uuid:member>/role/", teams.member_role, name="member_role"),
    path("teams/<uuid:team>/invitations/<uuid:invitation>/revoke/", teams.invitation_revoke,
         name="invitation_revoke"),
    path("teams/<uuid:team>/invitations/<uuid:invitation>/resend/", teams.invitation_resend,
         name="invitation_resend"),
    path("teams/<uuid:team>/notices/", teams.notices, name="notices"),
    path("teams/<uuid:team>/audit/", teams.audit_log, name="audit_log"),
    path("teams/<uuid:team>/tokens/", tokens.token_list, name="token_list"),
    path("teams/<uuid:team>/tokens/<uuid:token>/revoke/", tokens.token_revoke, name="token_revoke"),
    path("preferences/", preferences.preferences, name="preferences"),  # the person's own time zone
    path("invitations/<str:token>/", teams.invitation, name="invitation"),
]
