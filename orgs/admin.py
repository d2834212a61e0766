"""The Salesforce side in the Django admin: read-only pages (list, search, filters, detail) for operators.

Nothing here adds, changes or deletes: connections, apps, keys, grants, aliases, scratch orgs, sandboxes, CI trust
and time-boxed access are written only by orgs/services (audited; access changes revoke handed-out tokens). Sealed
columns (refresh and access tokens, consumer secrets, private keys, webhook URLs and secrets) are excluded by name:
not even their ciphertext is shown (tests/test_admin.py renders every page and looks for them).
"""

from django.contrib import admin

from orgs.models import (
    AccessPolicy,
    AccessRequest,
    AccessReview,
    AccessReviewItem,
    AlertChannel,
    AlertDelivery,
    ConnectedApp,
    Grant,
    OidcIssuer,
    OidcTokenUse,
    OrgAlias,
    OrgConnection,
    PendingRevocation,
    Sandbox,
    SandboxSync,
    ScratchOrg,
    SigningKey,
    TrustPolicy,
)
from portal.lib.admin import ReadOnlyModelAdmin


@admin.register(SigningKey)
class SigningKeyAdmin(ReadOnlyModelAdmin):
    exclude = ["private_key"]
    list_display = ["name", "team", "subject", "not_after", "key_size", "generated", "created_at"]
    list_select_related = ["team"]
    list_filter = ["generated"]
    search_fields = ["name", "subject", "fingerprint_sha256", "team__name"]


@admin.register(ConnectedApp)
class ConnectedAppAdmin(ReadOnlyModelAdmin):
    exclude = ["consumer_secret", "pending_consumer_secret"]
    list_display = ["name", "team", "consumer_key", "login_url", "require_pkce", "signing_key", "created_at"]
    list_select_related = ["team", "signing_key"]
    list_filter = ["require_pkce"]
    search_fields = ["name", "consumer_key", "team__name"]


@admin.register(OrgConnection)
class OrgConnectionAdmin(ReadOnlyModelAdmin):
    exclude = ["refresh_token", "access_token", "previous_access_token"]
    list_display = ["username", "org_name", "kind", "is_devhub", "flow", "status", "team", "owner", "app",
                    "last_refresh_at"]
    list_select_related = ["team", "owner", "app"]
    list_filter = ["status", "kind", "is_devhub", "flow"]
    search_fields = ["username", "org_name", "org_id", "instance_url", "team__name", "owner__email"]


@admin.register(PendingRevocation)
class PendingRevocationAdmin(ReadOnlyModelAdmin):
    exclude = ["token"]
    list_display = ["username", "token_kind", "purpose", "team", "attempts", "last_error", "created_at"]
    list_select_related = ["team"]
    list_filter = ["purpose", "token_kind"]
    search_fields = ["username", "org_id", "team__name"]


@admin.register(OrgAlias)
class OrgAliasAdmin(ReadOnlyModelAdmin):
    list_display = ["alias", "user", "connection", "team", "is_default_org", "is_default_devhub"]
    list_select_related = ["user", "connection", "team"]
    search_fields = ["alias", "user__email", "connection__username"]


@admin.register(Grant)
class GrantAdmin(ReadOnlyModelAdmin):
    list_display = ["connection", "level", "subject_type", "member", "role", "group", "service_token", "team",
                    "created_at"]
    # Grant.__str__ reads member, group and service_token too.
    list_select_related = ["connection", "member", "group", "service_token", "team"]
    list_filter = ["level", "subject_type"]
    search_fields = ["connection__username", "member__email", "group__name", "service_token__name"]


@admin.register(ScratchOrg)
class ScratchOrgAdmin(ReadOnlyModelAdmin):
    list_display = ["signup_username", "status", "edition", "expiration_date", "dev_hub", "team", "requested_by",
                    "deleted_at"]
    list_select_related = ["dev_hub", "team", "requested_by"]
    list_filter = ["status", "edition"]
    search_fields = ["signup_username", "org_id", "scratch_org_info_id", "dev_hub__username"]


@admin.register(Sandbox)
class SandboxAdmin(ReadOnlyModelAdmin):
    list_display = ["name", "license_type", "status", "state", "operation", "production", "team", "requested_by",
                    "last_refreshed_at"]
    list_select_related = ["production", "team", "requested_by"]
    list_filter = ["license_type", "state", "operation"]
    search_fields = ["name", "sandbox_org_id", "production__username"]


@admin.register(SandboxSync)
class SandboxSyncAdmin(ReadOnlyModelAdmin):
    list_display = ["production", "synced_at", "pages", "error"]
    list_select_related = ["production"]
    search_fields = ["production__username"]


@admin.register(OidcIssuer)
class OidcIssuerAdmin(ReadOnlyModelAdmin):
    list_display = ["issuer", "kind", "team", "shared", "jwks_fetched_at", "created_at"]
    list_select_related = ["team"]
    list_filter = ["kind", "shared"]
    search_fields = ["issuer", "team__name"]


@admin.register(TrustPolicy)
class TrustPolicyAdmin(ReadOnlyModelAdmin):
    list_display = ["name", "team", "issuer", "audience", "enabled", "max_lifetime", "last_used_at"]
    list_select_related = ["team", "issuer"]
    list_filter = ["enabled"]
    search_fields = ["name", "audience", "team__name", "issuer__issuer"]


@admin.register(OidcTokenUse)
class OidcTokenUseAdmin(ReadOnlyModelAdmin):
    list_display = ["jti", "issuer", "expires_at"]
    list_select_related = ["issuer"]
    search_fields = ["jti"]


@admin.register(AccessPolicy)
class AccessPolicyAdmin(ReadOnlyModelAdmin):
    list_display = ["connection", "team", "on_request", "break_glass", "approvals_required", "approver_group",
                    "updated_at"]
    list_select_related = ["connection", "team", "approver_group"]
    list_filter = ["on_request", "break_glass"]
    search_fields = ["connection__username", "team__name"]


@admin.register(AccessRequest)
class AccessRequestAdmin(ReadOnlyModelAdmin):
    list_display = ["code", "requester", "connection", "level", "state", "break_glass", "created_at", "expires_at"]
    list_select_related = ["requester", "connection"]
    list_filter = ["state", "break_glass", "level"]
    search_fields = ["requester__email", "connection__username", "ticket"]


@admin.register(AccessReview)
class AccessReviewAdmin(ReadOnlyModelAdmin):
    list_display = ["name", "team", "deadline", "remove_unreviewed", "created_by", "finished_at"]
    list_select_related = ["team", "created_by"]
    list_filter = ["remove_unreviewed"]
    search_fields = ["name", "team__name"]


@admin.register(AccessReviewItem)
class AccessReviewItemAdmin(ReadOnlyModelAdmin):
    list_display = ["review", "org", "subject", "level", "eligible", "decision", "decided_by", "decided_at"]
    list_select_related = ["review", "decided_by"]
    list_filter = ["decision", "eligible"]
    search_fields = ["org", "subject", "review__name"]


@admin.register(AlertChannel)
class AlertChannelAdmin(ReadOnlyModelAdmin):
    exclude = ["url", "secret"]  # a Slack/Teams URL is a bearer credential; url_display keeps scheme and host
    list_display = ["name", "kind", "team", "url_display", "enabled", "created_at"]
    list_select_related = ["team"]
    list_filter = ["kind", "enabled"]
    search_fields = ["name", "url_display", "team__name"]


@admin.register(AlertDelivery)
class AlertDeliveryAdmin(ReadOnlyModelAdmin):
    list_display = ["event", "channel", "status", "attempts", "response_code", "created_at", "delivered_at"]
    list_select_related = ["channel"]
    list_filter = ["status", "event"]
    search_fields = ["event", "channel__name"]
