"""The people side in the Django admin (only mounted when PORTAL_ADMIN_ENABLED; sign-in through allauth, MFA).

Users stay editable the Django way (name, email, password, active, staff), but nothing here changes a membership, a
role, a group, an invitation or an API token: those go through portal/accounts/services.py (audited, and an access
change revokes what it takes away). Teams, invitations, groups, tokens and the audit log are read-only, and a user
cannot be deleted here (that would drop their memberships without the offboarding service). allauth's own admin
pages are replaced by read-only ones that never show a TOTP secret or a session key (the social-account ones are
removed).
"""

from allauth.mfa.models import Authenticator
from allauth.socialaccount.models import SocialAccount, SocialApp, SocialToken
from allauth.usersessions.models import UserSession
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from portal.accounts.models import ApiToken, AuditEvent, Invitation, Membership, Team, TeamGroup, User
from portal.lib.admin import ReadOnlyModelAdmin, ReadOnlyTabularInline


class UserMembershipInline(ReadOnlyTabularInline):
    model = Membership
    fk_name = "user"
    fields = ["team", "role", "created_at"]
    verbose_name_plural = "Team memberships (change them on the team's Members page)"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("team", "user")


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "first_name", "last_name", "is_active", "is_staff", "date_joined"]
    search_fields = ["email", "first_name", "last_name"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Personal info", {"fields": ("first_name", "last_name")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)
    inlines = [UserMembershipInline]
    actions = None

    def has_delete_permission(self, request, obj=None):
        return False  # memberships, grants and org ownership go through offboarding, not a cascade


class MembershipInline(ReadOnlyTabularInline):
    model = Membership
    fields = ["user", "role", "created_at"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("team", "user")


@admin.register(Team)
class TeamAdmin(ReadOnlyModelAdmin):
    list_display = ["name", "share_production_policy", "created_by", "created_at"]
    list_select_related = ["created_by"]
    search_fields = ["name"]
    inlines = [MembershipInline]


@admin.register(Invitation)
class InvitationAdmin(ReadOnlyModelAdmin):
    list_display = ["email", "team", "role", "invited_by", "created_at", "expires_at", "accepted_at", "revoked_at"]
    list_select_related = ["team", "invited_by"]
    list_filter = ["role"]
    search_fields = ["email", "team__name"]


@admin.register(TeamGroup)
class TeamGroupAdmin(ReadOnlyModelAdmin):
    list_display = ["name", "team", "created_at"]
    list_select_related = ["team"]
    search_fields = ["name", "team__name"]

    def get_queryset(self, request):
        # The detail page lists the members ("user in team (role)"): one query, not one per member.
        return super().get_queryset(request).prefetch_related("members__user", "members__team")


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyModelAdmin):
    exclude = ["token_hash"]
    list_display = ["name", "hint", "kind", "team", "user", "created_at", "expires_at", "last_used_at", "revoked_at"]
    list_select_related = ["team", "user"]
    list_filter = ["kind"]
    search_fields = ["name", "hint", "team__name", "user__email"]


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyModelAdmin):
    """Read-only: the audit log is append-only."""

    list_display = ["created_at", "team", "actor_label", "kind", "subject", "ip"]
    list_select_related = ["team"]
    list_filter = ["kind"]
    search_fields = ["actor_label", "subject"]


# -- allauth's models, read-only and without their secrets --------------------------------------------------------
# Single sign-on apps are configured in settings (SOCIALACCOUNT_PROVIDERS), never in the database, and the portal
# keeps no provider tokens: the social-account pages (an app's secret, a token) are not mounted at all.

for _model in (Authenticator, SocialApp, SocialToken, SocialAccount, UserSession):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)


@admin.register(Authenticator)
class AuthenticatorAdmin(ReadOnlyModelAdmin):
    exclude = ["data"]  # the TOTP secret and recovery-code seed (encrypted by portal.accounts.adapter)
    list_display = ["user", "type", "created_at", "last_used_at"]
    list_select_related = ["user"]
    list_filter = ["type"]
    search_fields = ["user__email"]


@admin.register(UserSession)
class UserSessionAdmin(ReadOnlyModelAdmin):
    exclude = ["session_key", "data"]  # the session key is the session
    list_display = ["user", "created_at", "last_seen_at", "ip", "user_agent"]
    list_select_related = ["user"]
    search_fields = ["user__email", "ip"]
