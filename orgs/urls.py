"""Every page of the Salesforce side, in one namespace: `orgs:`. (The REST API is `orgs.api.urls`.)"""

from django.urls import path

from orgs.views import (
    access_requests,
    access_reviews,
    alerts,
    ci,
    connections,
    handout,
    offboarding,
    ops,
    registrations,
    sandboxes,
    sharing,
)

app_name = "orgs"

T = "teams/<uuid:team>/"
ORG = T + "orgs/<uuid:connection>/"

urlpatterns = [
    # connected apps and JWT signing keys (team admins)
    path(T + "apps/", registrations.app_list, name="app_list"),
    path(T + "apps/new/", registrations.app_create, name="app_create"),
    path(T + "apps/<uuid:app>/", registrations.app_detail, name="app_detail"),
    path(T + "apps/<uuid:app>/edit/", registrations.app_edit, name="app_edit"),
    path(T + "apps/<uuid:app>/secret/", registrations.app_secret, name="app_secret"),
    path(T + "apps/<uuid:app>/delete/", registrations.app_delete, name="app_delete"),
    path(T + "keys/", registrations.key_list, name="key_list"),
    path(T + "keys/upload/", registrations.key_upload, name="key_upload"),
    path(T + "keys/generate/", registrations.key_generate, name="key_generate"),
    path(T + "keys/<uuid:key>/", registrations.key_detail, name="key_detail"),
    path(T + "keys/<uuid:key>/certificate.crt", registrations.key_certificate, name="key_certificate"),
    path(T + "keys/<uuid:key>/delete/", registrations.key_delete, name="key_delete"),
    # org connections
    path(T + "orgs/", connections.org_list, name="org_list"),
    path(T + "orgs/connect/", connections.connect, name="connect"),
    path(T + "orgs/jwt/", connections.jwt_connect, name="jwt_connect"),
    path("orgs/oauth/callback/", connections.oauth_callback, name="oauth_callback"),
    path(ORG + "rename/", connections.org_rename, name="org_rename"),
    path(ORG + "default/", connections.org_default, name="org_default"),
    path(ORG + "reconnect/", connections.org_reconnect, name="org_reconnect"),
    path(ORG + "check/", connections.org_check, name="org_check"),
    path(ORG + "disconnect/", connections.org_disconnect, name="org_disconnect"),
    # hand-outs
    path(ORG + "token/", handout.org_token, name="token"),
    path(ORG + "open/", handout.org_open, name="open"),
    # sharing
    path(ORG + "access/", sharing.org_access, name="org_access"),
    path(ORG + "access/add/", sharing.grant_add, name="grant_add"),
    path(ORG + "access/<uuid:grant>/", sharing.grant_update, name="grant_update"),
    path(T + "access/", sharing.matrix, name="matrix"),
    path(T + "groups/", sharing.groups, name="groups"),
    path(T + "members/<uuid:member>/profile/", sharing.member_profile, name="member_profile"),
    # time-boxed access (issue 18)
    path(T + "access-requests/", access_requests.access_requests, name="access_requests"),
    path(T + "access-requests/<uuid:request_code>/", access_requests.access_request, name="access_request"),
    path(T + "access-requests/<uuid:request_code>/status.json", access_requests.access_request_status,
         name="access_request_status"),
    path(T + "access-requests/<uuid:request_code>/decide/", access_requests.access_request_decide,
         name="access_request_decide"),
    path(T + "access-requests/<uuid:request_code>/end/", access_requests.access_request_end,
         name="access_request_end"),
    path(ORG + "access-policy/", access_requests.access_policy, name="access_policy"),
    path(T + "access-reviews/", access_reviews.access_reviews, name="access_reviews"),
    path(T + "access-reviews/<uuid:review>/", access_reviews.access_review, name="access_review"),
    path(T + "access-reviews/<uuid:review>/items/<uuid:item>/", access_reviews.access_review_item,
         name="access_review_item"),
    path(T + "access-reviews/<uuid:review>/finish/", access_reviews.access_review_finish,
         name="access_review_finish"),
    # offboarding: what happens to a leaving member's orgs
    path(T + "members/<uuid:member>/remove/", offboarding.member_remove, name="member_remove"),
    path(T + "leave/", offboarding.team_leave, name="team_leave"),
    # alert channels (Slack, Teams, signed webhooks)
    path(T + "alerts/", alerts.alert_channels, name="alert_channels"),
    path(T + "alerts/<uuid:channel>/delete/", alerts.alert_channel_delete, name="alert_channel_delete"),
    # CI trust policies (OIDC token exchange)
    path(T + "ci/", ci.policy_list, name="policy_list"),
    path(T + "ci/new/", ci.policy_create, name="policy_create"),
    path(T + "ci/<uuid:policy>/", ci.policy_detail, name="policy_detail"),
    path(T + "ci/<uuid:policy>/edit/", ci.policy_edit, name="policy_edit"),
    path(T + "ci/<uuid:policy>/enabled/", ci.policy_toggle, name="policy_toggle"),
    path(T + "ci/<uuid:policy>/delete/", ci.policy_delete, name="policy_delete"),
    # operations: health, scratch orgs
    path(T + "health/", ops.health, name="health"),
    path(T + "scratch-orgs/", ops.scratch_orgs, name="scratch_orgs"),
    path(ORG + "scratch-orgs/", ops.hub_scratch_orgs, name="hub_scratch_orgs"),
    path(ORG + "scratch-orgs/new/", ops.scratch_org_create, name="scratch_create"),
    path(T + "scratch-orgs/<uuid:scratch_org>/", ops.scratch_org_page, name="scratch_org"),
    path(T + "scratch-orgs/<uuid:scratch_org>/status/", ops.scratch_org_status, name="scratch_org_status"),
    path(T + "scratch-orgs/<uuid:scratch_org>/delete/", ops.scratch_org_delete, name="scratch_delete"),
    # sandboxes of a production org
    path(ORG + "sandboxes/", sandboxes.sandbox_list, name="sandboxes"),
    path(ORG + "sandboxes/new/", sandboxes.sandbox_create, name="sandbox_create"),
    path(ORG + "sandboxes/sync/", sandboxes.sandbox_sync_now, name="sandbox_sync"),
    path(T + "sandboxes/<uuid:sandbox>/row/", sandboxes.sandbox_row, name="sandbox_row"),
    path(T + "sandboxes/<uuid:sandbox>/refresh/", sandboxes.sandbox_refresh, name="sandbox_refresh"),
    path(T + "sandboxes/<uuid:sandbox>/delete/", sandboxes.sandbox_delete, name="sandbox_delete"),
    path(T + "sandboxes/<uuid:sandbox>/retry/", sandboxes.sandbox_retry, name="sandbox_retry"),
    path(T + "sandboxes/<uuid:sandbox>/dismiss/", sandboxes.sandbox_dismiss, name="sandbox_dismiss"),
]
