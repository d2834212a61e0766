"""The people side: users, teams, memberships with roles, invitations, and the append-only audit log."""

import uuid
from datetime import timedelta

from django.contrib.auth.models import AbstractUser, UserManager
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from portal.lib.timezones import is_valid as is_valid_time_zone


def validate_time_zone(value: str) -> None:
    if not is_valid_time_zone(value):
        raise ValidationError("Choose a time zone from the list (an IANA name such as Europe/Berlin).",
                              code="invalid_time_zone")


class PortalUserManager(UserManager):
    """Users log in by email; there is no username."""

    def _create_user(self, email, password, **extra_fields):  # type: ignore[override]
        email = self.normalize_email(email).lower()
        user = self.model(email=email, **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email=None, password=None, **extra_fields):  # type: ignore[override]
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email=None, password=None, **extra_fields):  # type: ignore[override]
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        return self._create_user(email, password, **extra_fields)


class User(AbstractUser):
    username = None  # type: ignore[assignment]
    email = models.EmailField("email address", unique=True)
    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # The IANA zone pages show times in (portal.accounts.middleware); emails stay in UTC. Checked against the
    # machine's zoneinfo database by validate_time_zone (a fixed `choices` list would go stale with tzdata).
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    objects = PortalUserManager()

    class Meta:
        constraints = [models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique")]

    def __str__(self) -> str:
        return self.email

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.email


class Team(models.Model):
    class SharePolicy(models.TextChoices):
        ADMINS = "admins", "Only team owners and admins"
        MANAGERS = "managers", "Anyone who manages the connection"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=100)
    # Who may share production and Dev Hub connections (sandboxes and scratch orgs: their managers, always).
    share_production_policy = models.CharField(max_length=10, choices=SharePolicy.choices,
                                               default=SharePolicy.ADMINS)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class TeamAccessVersion(models.Model):
    """A counter per team that the database raises whenever who-can-reach-which-org may have changed.

    Triggers (orgs migration 0004) bump it on every insert, delete or relevant update of memberships, groups and
    their members, grants, connections (owner, team, username, org id) and aliases. `orgs.access` keys its
    per-process cache of API decisions on it, so a cached decision is never used after such a change. Only those
    triggers write it; no code saves this model.
    """

    # No database constraint: the triggers may write it while a team's rows are being deleted; a leftover row of a
    # deleted team is harmless.
    team = models.OneToOneField(Team, primary_key=True, on_delete=models.DO_NOTHING, db_constraint=False,
                                related_name="+")
    version = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.team_id}: {self.version}"


class MembershipQuerySet(models.QuerySet):
    def owners(self):
        return self.filter(role=Membership.Role.OWNER)


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        ADMIN = "admin", "Admin"
        MEMBER = "member", "Member"

    # Higher is more powerful; the access module compares ranks, never role strings.
    RANK = {Role.MEMBER: 1, Role.ADMIN: 2, Role.OWNER: 3}

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(default=timezone.now)

    objects = MembershipQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "user"], name="accounts_membership_unique"),
            models.CheckConstraint(
                condition=models.Q(role__in=["owner", "admin", "member"]), name="accounts_membership_role_valid"
            ),
        ]
        ordering = ["team", "user__email"]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} ({self.role})"

    @classmethod
    def rank_of(cls, role: str) -> int:
        """The rank of a role value ("owner", "admin", "member"): how roles are compared everywhere."""
        return cls.RANK[cls.Role(role)]

    @property
    def rank(self) -> int:
        return self.rank_of(self.role)

    @property
    def role_badge(self) -> str:
        """The Bootstrap colour of the role's badge (display only)."""
        return {self.Role.OWNER: "dark", self.Role.ADMIN: "primary"}.get(self.role, "secondary")


class TeamGroup(models.Model):
    """A named set of members that admins maintain (e.g. "QA", "Release managers"); orgs can be shared with it."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="groups")
    name = models.CharField(max_length=100)
    members = models.ManyToManyField(Membership, related_name="groups", blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["team", "name"], name="accounts_group_name_unique")]

    def __str__(self) -> str:
        return self.name


class ApiToken(models.Model):
    """A bearer token for the REST API and the `orgportal` CLI. Shown once; only its SHA-256 is stored.

    Personal tokens act as their member (with the member's current access, checked on every call). Service tokens
    belong to the team, not to a person, and reach only the orgs shared with them (for CI).
    """

    class Kind(models.TextChoices):
        PERSONAL = "personal", "Personal"
        SERVICE = "service", "Team service token"

    PREFIX = "op_"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="api_tokens")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    user = models.ForeignKey(User, null=True, blank=True, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    token_hash = models.CharField(max_length=64, unique=True)  # sha256 hex of the whole token
    hint = models.CharField(max_length=12)  # "op_" + first characters, to recognise it in lists
    created_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    expiry_warned_at = models.DateTimeField(null=True, blank=True)  # the one "expires soon" email went out
    # A service token a CI job obtained by OIDC token exchange: the code of the trust policy that issued it (the
    # Salesforce side's TrustPolicy), so disabling the policy revokes it.
    trust_policy_code = models.UUIDField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(kind="personal", user__isnull=False) | models.Q(kind="service", user__isnull=True)),
                name="accounts_apitoken_owner_matches_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.hint}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > timezone.now())


def _invitation_expiry():
    from django.conf import settings

    return timezone.now() + timedelta(days=settings.PORTAL_INVITATION_DAYS)


class InvitationQuerySet(models.QuerySet):
    def pending(self):
        return self.filter(accepted_at=None, revoked_at=None, expires_at__gt=timezone.now())

    def expired(self):
        return self.filter(accepted_at=None, expires_at__lte=timezone.now())


class Invitation(models.Model):
    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        ACCEPTED = "accepted", "Accepted"
        REVOKED = "revoked", "Revoked"
        EXPIRED = "expired", "Expired"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=10, choices=Membership.Role.choices, default=Membership.Role.MEMBER)
    invited_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(default=_invitation_expiry)
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = InvitationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # Serves the purge task: unaccepted invitations by expiry.
            models.Index(fields=["expires_at"], condition=models.Q(accepted_at=None), name="accounts_inv_open_exp"),
        ]

    def __str__(self) -> str:
        return f"Invitation for {self.email} to {self.team}"

    @property
    def state(self) -> "Invitation.State":
        if self.accepted_at:
            return self.State.ACCEPTED
        if self.revoked_at:
            return self.State.REVOKED
        if self.expires_at <= timezone.now():
            return self.State.EXPIRED
        return self.State.PENDING


class AuditImmutableError(Exception):
    """Audit events are append-only."""


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AuditImmutableError("audit events cannot be changed")

    def delete(self):
        raise AuditImmutableError("audit events cannot be deleted")


class AuditEvent(models.Model):
    """One thing that happened, who did it, when and from where. Never holds a secret.

    Append-only: the model refuses updates and deletes, and on PostgreSQL a trigger refuses them too
    (migration 0002). The actor and team are soft references, so deleting a user never rewrites history.
    """

    class Kind(models.TextChoices):
        TEAM_CREATED = "team.created", "Team created"
        INVITATION_SENT = "invitation.sent", "Invitation sent"
        INVITATION_ACCEPTED = "invitation.accepted", "Invitation accepted"
        INVITATION_REVOKED = "invitation.revoked", "Invitation revoked"
        INVITATION_RESENT = "invitation.resent", "Invitation resent"
        NOTICES_CHANGED = "member.notices_changed", "Notice preferences changed"
        ALERT_CHANNEL_CREATED = "alert_channel.created", "Alert channel added"
        ALERT_CHANNEL_DELETED = "alert_channel.deleted", "Alert channel removed"
        ROLE_CHANGED = "member.role_changed", "Role changed"
        MEMBER_REMOVED = "member.removed", "Member removed"
        MEMBER_LEFT = "member.left", "Member left"
        APP_CREATED = "app.created", "Connected app registered"
        APP_UPDATED = "app.updated", "Connected app changed"
        APP_SECRET_STAGED = "app.secret_staged", "New consumer secret staged"
        APP_SECRET_CONFIRMED = "app.secret_confirmed", "New consumer secret confirmed"
        APP_SECRET_DISCARDED = "app.secret_discarded", "Staged consumer secret discarded"
        APP_DELETED = "app.deleted", "Connected app deleted"
        KEY_UPLOADED = "key.uploaded", "Signing key uploaded"
        KEY_GENERATED = "key.generated", "Signing key generated"
        KEY_DELETED = "key.deleted", "Signing key deleted"
        ORG_CONNECTED = "org.connected", "Org connected"
        ORG_RECONNECTED = "org.reconnected", "Org reconnected"
        ORG_CONNECT_FAILED = "org.connect_failed", "Org connection failed"
        ORG_DISCONNECTED = "org.disconnected", "Org disconnected"
        ORG_REVOKE_FAILED = "org.revoke_failed", "Token revocation at Salesforce failed"
        ORG_TOKEN_REVOKED = "org.token_revoked", "Disconnected org's token revocation at Salesforce"
        ORG_RENAMED = "org.renamed", "Org alias changed"
        ORG_DEFAULT_SET = "org.default_set", "Default org changed"
        ORG_NEEDS_REAUTH = "org.needs_reauth", "Org needs re-authorization"
        ORG_RECOVERED = "org.recovered", "Org recovered"
        ORG_TRANSFERRED = "org.transferred", "Org connection transferred"
        TOKEN_ISSUED = "token.issued", "Access token handed out"
        TOKEN_REVOKED_AFTER_ACCESS_CHANGE = "token.revoked_after_access_change", \
            "Access tokens revoked after an access change"
        API_TOKEN_CREATED = "api_token.created", "API token created"
        API_TOKEN_REVOKED = "api_token.revoked", "API token revoked"
        GRANT_ADDED = "grant.added", "Org shared"
        GRANT_CHANGED = "grant.changed", "Sharing level changed"
        GRANT_REMOVED = "grant.removed", "Org unshared"
        GROUP_CREATED = "group.created", "Group created"
        GROUP_DELETED = "group.deleted", "Group deleted"
        GROUP_MEMBER_ADDED = "group.member_added", "Added to group"
        GROUP_MEMBER_REMOVED = "group.member_removed", "Removed from group"
        POLICY_CHANGED = "team.policy_changed", "Team sharing policy changed"
        SCRATCH_CREATE_REQUESTED = "scratch.create_requested", "Scratch org requested"
        SCRATCH_CREATED = "scratch.created", "Scratch org created"
        SCRATCH_CREATE_FAILED = "scratch.create_failed", "Scratch org creation failed"
        SCRATCH_DELETED = "scratch.deleted", "Scratch org deleted"
        SCRATCH_DELETE_REQUESTED = "scratch.delete_requested", "Scratch org deletion requested"
        SCRATCH_DELETE_FAILED = "scratch.delete_failed", "Scratch org deletion failed"
        SANDBOX_CREATE_REQUESTED = "sandbox.create_requested", "Sandbox requested"
        SANDBOX_CREATED = "sandbox.created", "Sandbox created and connected"
        SANDBOX_REFRESH_REQUESTED = "sandbox.refresh_requested", "Sandbox refresh requested"
        SANDBOX_REFRESHED = "sandbox.refreshed", "Sandbox refreshed and reconnected"
        SANDBOX_FAILED = "sandbox.failed", "Sandbox create or refresh failed"
        SANDBOX_DELETED = "sandbox.deleted", "Sandbox deleted"
        TRUST_POLICY_CREATED = "trust_policy.created", "CI trust policy created"
        TRUST_POLICY_CHANGED = "trust_policy.changed", "CI trust policy changed"
        TRUST_POLICY_DELETED = "trust_policy.deleted", "CI trust policy deleted"
        OIDC_ISSUER_REGISTERED = "oidc_issuer.registered", "CI OIDC issuer registered"
        OIDC_EXCHANGED = "oidc.exchanged", "CI token exchanged"
        OIDC_REJECTED = "oidc.rejected", "CI token exchange refused"
        ACCESS_POLICY_CHANGED = "access.policy_changed", "Access-on-request policy changed"
        ACCESS_REQUESTED = "access.requested", "Time-boxed access requested"
        ACCESS_APPROVAL_GIVEN = "access.approval_given", "Access request approved (more approvals needed)"
        ACCESS_APPROVED = "access.approved", "Access request approved: access active"
        ACCESS_DENIED = "access.denied", "Access request denied"
        ACCESS_BREAK_GLASS = "access.break_glass", "Break-glass access activated (review it)"
        ACCESS_ENDED = "access.ended", "Time-boxed access ended early"
        ACCESS_REVOKED = "access.revoked", "Time-boxed access revoked"
        ACCESS_EXPIRED = "access.expired", "Time-boxed access expired"
        ACCESS_LAPSED = "access.lapsed", "Access request not decided in time"
        ACCESS_REVIEW_STARTED = "access_review.started", "Access review started"
        ACCESS_REVIEW_DECIDED = "access_review.decided", "Access review: grant confirmed or removed"
        ACCESS_REVIEW_FINISHED = "access_review.finished", "Access review finished"

    # Indexes: every team query uses (team, -created_at) and the admin's list created_at; a single-column team index
    # would be redundant and actor is never filtered on (the page searches actor_label). Each index is paid on every
    # API hand-out's INSERT.
    team = models.ForeignKey(
        Team, null=True, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="audit_events"
    )
    actor = models.ForeignKey(User, null=True, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False,
                              related_name="+")
    actor_label = models.CharField(max_length=254, blank=True)  # the actor's email at the time
    kind = models.CharField(max_length=40)  # an AuditEvent.Kind value; no DB choices, so new kinds need no migration
    subject = models.CharField(max_length=254, blank=True)  # who or what it happened to, as shown then
    data = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["team", "-created_at"], name="accounts_audit_team_time")]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_label or 'system'} {self.kind} {self.subject}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AuditImmutableError("audit events cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AuditImmutableError("audit events cannot be deleted")

    @property
    def kind_label(self) -> str:
        try:
            return self.Kind(self.kind).label
        except ValueError:
            return self.kind



class KeyCheck(models.Model):
    """A known-answer value per encryption key id, sealed under that key when the portal first saw it.

    `portal.accounts.keycheck.keyring_verify` decrypts it at every start of web, worker and beat: a wrong or
    missing key stops start-up with one line naming PORTAL_ENCRYPTION_KEYS instead of turning into failed
    decryptions later. The value is not a secret (a fixed text); only decrypting it proves the key."""

    kid = models.CharField(max_length=32, unique=True)
    value = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.kid


class Notice(models.TextChoices):
    """The kinds of email (and alert) the portal sends. `MANDATORY` ones cannot be turned off by a member."""

    INVITATION = "invitation", "Invitations to a team"
    NEEDS_REAUTH = "needs_reauth", "An org needs re-authorization"
    DEGRADED = "degraded", "An org is degraded (Salesforce unreachable)"
    CERTIFICATE_EXPIRY = "certificate_expiry", "A signing certificate expires soon"
    SCRATCH_EXPIRY = "scratch_expiry", "A scratch org expires soon"
    SANDBOX_FINISHED = "sandbox_finished", "A sandbox you requested is ready or failed"
    SCRATCH_FINISHED = "scratch_finished", "A scratch org you created or deleted is ready, deleted or failed"
    SHARE = "share", "An org was shared with you or your access changed"
    ACCESS_REQUEST = "access_request", "Access requests"
    API_TOKEN_EXPIRY = "api_token_expiry", "An API token expires soon"
    OFFBOARDING = "offboarding", "A member was offboarded"
    CI_FIRST_USE = "ci_first_use", "Security: a CI trust policy was used for the first time"
    KEY_UNAVAILABLE = "key_unavailable", "Security: the encryption key is unavailable"


# Security notices and invitations always go out; the notices page says so.
MANDATORY_NOTICES = frozenset({Notice.INVITATION, Notice.CI_FIRST_USE, Notice.KEY_UNAVAILABLE})


class NoticeOptOut(models.Model):
    """A member turned off one kind of notice for one team. No row: the notice is sent."""

    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="notice_opt_outs")
    kind = models.CharField(max_length=40)  # a Notice value; never a MANDATORY one (the service refuses)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["membership", "kind"], name="accounts_notice_optout_unique")]

    def __str__(self) -> str:
        return f"{self.membership_id} off {self.kind}"


class OutboundMail(models.Model):
    """One message to one recipient, waiting for (or done with) its Celery task. The rendered bodies are sealed
    (they may carry an invitation link); the row is deleted once sent, kept with its last error when given up."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(max_length=40)
    recipient = models.EmailField()
    subject = models.CharField(max_length=300)
    sealed_body = models.TextField()  # portal.lib.crypto envelope of {"text": …, "html": …}
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.kind} to {self.recipient} ({self.status})"

    def body_context(self) -> str:
        return f"accounts.outboundmail.body.{self.code}"
