"""The Salesforce side: connected apps, JWT signing keys and org connections.

Secrets live only in `SealedField` columns, which hold ciphertext (orgs/crypto.py). No attribute or property
returns plaintext: it comes out only through an explicit `reveal(field)` call, so a template cannot print a
secret by accident. All sealed columns of a row share one key id (`secrets_key_id`, indexed) so the key-rotation
gate is a single query: rows whose `secrets_key_id` is not the primary key's.
"""

import uuid
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from portal.lib import crypto


class SealedField(models.TextField):
    """A TextField holding `portal.lib.crypto` ciphertext. The type marks the column for re-encryption and audits."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("null", True)
        kwargs.setdefault("blank", True)
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)


class SecretsModel(models.Model):
    """A row with sealed secrets. AAD context: `<app>.<model>.<field>.<code>` (code: a UUID set in Python)."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    secrets_key_id = models.CharField(max_length=32, blank=True, default="", db_index=True, editable=False)

    class Meta:
        abstract = True

    @classmethod
    def sealed_field_names(cls) -> list[str]:
        return [f.name for f in cls._meta.get_fields() if isinstance(f, SealedField)]

    def secret_context(self, field: str) -> str:
        return f"{self._meta.app_label}.{self._meta.model_name}.{field}.{self.code}"

    def reveal(self, field: str) -> str | None:
        """The plaintext of one sealed field (None when empty). Raises crypto.DecryptionError."""
        token = getattr(self, field)
        if not token:
            return None
        return crypto.decrypt(token, context=self.secret_context(field))

    def seal(self, field: str, plaintext: str | None) -> None:
        """Set one sealed field. Sibling secrets are moved to the primary key too, so the row has one key id."""
        keyring = crypto.get_keyring()
        if self.secrets_key_id and self.secrets_key_id != keyring.primary_kid:
            self.reseal(keyring=keyring)
        setattr(self, field, None if plaintext in (None, "") else
                crypto.encrypt(plaintext, context=self.secret_context(field), keyring=keyring))
        self._update_key_id(keyring)

    def reseal(self, *, keyring=None) -> bool:
        """Re-encrypt every sealed field under the primary key. True when something changed."""
        keyring = keyring or crypto.get_keyring()
        changed = False
        for name in self.sealed_field_names():
            token = getattr(self, name)
            if token and crypto.key_id(token) != keyring.primary_kid:
                setattr(self, name, crypto.reencrypt(token, context=self.secret_context(name), keyring=keyring))
                changed = True
        self._update_key_id(keyring)
        return changed

    def _update_key_id(self, keyring) -> None:
        has_secret = any(getattr(self, name) for name in self.sealed_field_names())
        self.secrets_key_id = keyring.primary_kid if has_secret else ""

    def masked(self, field: str) -> str:
        """`••••` plus the last 4 characters, for showing that a secret is set. Never the secret itself."""
        try:
            value = self.reveal(field)
        except crypto.DecryptionError:
            return crypto.DecryptionError.user_message
        if value is None:
            return ""
        return "••••" + (value[-4:] if len(value) >= 12 else "")


class SigningKey(SecretsModel):
    """A JWT signing key (RSA) and its X.509 certificate, uploaded or generated in the portal."""

    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="signing_keys")
    name = models.CharField(max_length=100)
    private_key = SealedField()  # PEM, PKCS#8, unencrypted inside the envelope; never downloadable
    certificate_pem = models.TextField()  # public
    subject = models.CharField(max_length=500)
    not_before = models.DateTimeField()
    not_after = models.DateTimeField()
    expiry_notified_at = models.DateTimeField(null=True, blank=True)  # the certificate-expiry notice went out
    fingerprint_sha256 = models.CharField(max_length=95)  # colon-separated hex
    key_size = models.PositiveIntegerField()
    generated = models.BooleanField(default=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["team", "name"], name="orgs_signingkey_name_unique")]

    def __str__(self) -> str:
        return self.name

    @property
    def masked_private_key(self) -> str:
        """How the UI shows the private key: never its content, only whether it can be used."""
        try:
            self.reveal("private_key")
        except crypto.DecryptionError:
            return crypto.DecryptionError.user_message
        return "private key stored encrypted; never downloadable"

    @property
    def expires_soon(self) -> bool:
        return self.not_after <= timezone.now() + timedelta(days=30)

    @property
    def expired(self) -> bool:
        return self.not_after <= timezone.now()

    @property
    def days_left(self) -> int:
        return (self.not_after - timezone.now()).days


class ConnectedApp(SecretsModel):
    """An OAuth client registered in Salesforce: a connected app or an External Client App (same fields)."""

    class Status(models.TextChoices):
        READY = "ready", "Ready"
        ROTATING = "rotating", "New secret pending confirmation"

    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="connected_apps")
    name = models.CharField(max_length=100)
    consumer_key = models.CharField(max_length=255)
    consumer_secret = SealedField()  # empty for a public client using PKCE
    pending_consumer_secret = SealedField()  # staged rotation: kept apart until confirmed working
    login_url = models.CharField(max_length=255, default="https://login.salesforce.com")
    scopes = models.CharField(max_length=500, default="api refresh_token web")
    require_pkce = models.BooleanField(default=True)
    signing_key = models.ForeignKey(SigningKey, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="apps")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["team", "name"], name="orgs_connectedapp_name_unique")]

    def __str__(self) -> str:
        return self.name

    @property
    def status(self) -> "ConnectedApp.Status":
        return self.Status.ROTATING if self.pending_consumer_secret else self.Status.READY

    @property
    def is_public_client(self) -> bool:
        return not self.consumer_secret

    @property
    def masked_secret(self) -> str:
        return self.masked("consumer_secret")

    @property
    def masked_pending_secret(self) -> str:
        return self.masked("pending_consumer_secret")


class OrgConnection(SecretsModel):
    """One authorized Salesforce user in one org, owned by a member, usable by the team per its sharing rules."""

    class Kind(models.TextChoices):
        PRODUCTION = "production", "Production"
        DEVELOPER = "developer", "Developer Edition"
        SANDBOX = "sandbox", "Sandbox"
        SCRATCH = "scratch", "Scratch"

    class Flow(models.TextChoices):
        WEB = "web", "Web server flow"
        JWT = "jwt", "JWT bearer"

    class Status(models.TextChoices):
        CONNECTED = "connected", "Connected"
        DEGRADED = "degraded", "Degraded"
        NEEDS_REAUTH = "needs_reauth", "Needs re-authorization"
        CHECK_NEEDED = "check_needed", "Refresh interrupted, check needed"
        KEY_UNAVAILABLE = "key_unavailable", "Key unavailable"  # the portal's key, not the org: recovers by itself

    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="connections")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="org_connections")
    app = models.ForeignKey(ConnectedApp, on_delete=models.PROTECT, related_name="connections")
    flow = models.CharField(max_length=8, choices=Flow.choices, default=Flow.WEB)
    org_id = models.CharField(max_length=18)
    user_id = models.CharField(max_length=18)
    username = models.CharField(max_length=255)
    org_name = models.CharField(max_length=255, blank=True)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    edition = models.CharField(max_length=100, blank=True)
    is_devhub = models.BooleanField(default=False)
    login_url = models.CharField(max_length=255)
    instance_url = models.CharField(max_length=255)
    api_version = models.CharField(max_length=8, blank=True)
    refresh_token = SealedField()
    access_token = SealedField()
    # The access token the last refresh replaced: it stays valid at Salesforce while it is used, so a revocation
    # after an access change revokes it too (orgs/services/revocation.py).
    previous_access_token = SealedField()
    access_token_issued_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.CONNECTED)
    status_reason = models.CharField(max_length=500, blank=True)
    last_refresh_at = models.DateTimeField(null=True, blank=True)  # last successful token refresh or mint
    last_error_at = models.DateTimeField(null=True, blank=True)
    refresh_failures = models.PositiveIntegerField(default=0)  # consecutive transient failures (back-off)
    reauth_notified_at = models.DateTimeField(null=True, blank=True)  # one email per needs-reauth episode
    # "In flight since": committed before a refresh token is presented, cleared with the result (refresh.py).
    refresh_started_at = models.DateTimeField(null=True, blank=True)
    dev_hub = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="scratch_connections")  # for scratch orgs created through a hub
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["username"]
        constraints = [
            # One connection per member per Salesforce user: reconnecting updates it instead of duplicating.
            models.UniqueConstraint(fields=["team", "owner", "org_id", "user_id"], name="orgs_connection_unique"),
        ]

    def __str__(self) -> str:
        return self.username

    @property
    def type_label(self) -> str:
        """The badge the orgs page shows, like `sf org list`: a Dev Hub is shown as such whatever its edition."""
        return "Dev Hub" if self.is_devhub else self.get_kind_display()

    @property
    def needs_reauth(self) -> bool:
        return self.status == self.Status.NEEDS_REAUTH

    @property
    def key_unavailable(self) -> bool:
        return self.status == self.Status.KEY_UNAVAILABLE

    @property
    def is_sensitive(self) -> bool:
        """Production orgs and Dev Hubs: the team's sharing policy may reserve sharing them to admins."""
        return self.is_devhub or self.kind == self.Kind.PRODUCTION


class PendingRevocation(SecretsModel):
    """A token the portal must revoke at Salesforce: a disconnected org's refresh token, or access tokens handed out
    before an access change. The token is sealed here so that it never travels in a task argument or the broker;
    the revocation task reads the row by id and deletes it when Salesforce answered (orgs/services/revocation.py)."""

    class Purpose(models.TextChoices):
        DISCONNECT = "disconnect", "Disconnect"
        ACCESS_CHANGE = "access_change", "Access change"

    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="+")
    connection = models.ForeignKey("OrgConnection", null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")  # gone after a disconnect
    purpose = models.CharField(max_length=16, choices=Purpose.choices)
    token_kind = models.CharField(max_length=8)  # "refresh" or "access"
    token = SealedField()
    instance_url = models.CharField(max_length=255)
    username = models.CharField(max_length=255)
    org_id = models.CharField(max_length=18)
    reason = models.CharField(max_length=200, blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{self.token_kind} token of {self.username} ({self.get_purpose_display()})"


class OrgAlias(models.Model):
    """A member's own name for an org they can target, and their defaults: the portal's `sf alias` and
    `target-org` / `target-dev-hub`. The connection's owner gets one when connecting; others when it is shared."""

    ALIAS_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$"

    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="org_aliases")
    connection = models.ForeignKey(OrgConnection, on_delete=models.CASCADE, related_name="aliases")
    alias = models.CharField(max_length=80)
    is_default_org = models.BooleanField(default=False)
    is_default_devhub = models.BooleanField(default=False)

    class Meta:
        ordering = ["alias"]
        constraints = [
            models.UniqueConstraint(fields=["user", "connection"], name="orgs_alias_one_per_connection"),
            models.UniqueConstraint(fields=["team", "user", "alias"], name="orgs_alias_unique_name"),
            models.UniqueConstraint(fields=["team", "user"], condition=models.Q(is_default_org=True),
                                    name="orgs_alias_one_default_org"),
            models.UniqueConstraint(fields=["team", "user"], condition=models.Q(is_default_devhub=True),
                                    name="orgs_alias_one_default_devhub"),
        ]

    def __str__(self) -> str:
        return self.alias


class Grant(models.Model):
    """Sharing: a level on one connection for a member, a team role, a team group or a team service token.
    A member's effective level is the highest of their grants (see orgs.access.effective_access)."""

    class Level(models.IntegerChoices):
        VIEW = 1, "view"
        TARGET = 2, "target"
        MANAGE = 3, "manage"

    class Subject(models.TextChoices):
        MEMBER = "member", "Member"
        ROLE = "role", "Role"
        GROUP = "group", "Group"
        SERVICE_TOKEN = "service", "Service token"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="+")
    connection = models.ForeignKey(OrgConnection, on_delete=models.CASCADE, related_name="grants")
    level = models.PositiveSmallIntegerField(choices=Level.choices)
    subject_type = models.CharField(max_length=10, choices=Subject.choices)
    member = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
                               related_name="org_grants")
    role = models.CharField(max_length=10, blank=True)  # "admin" (owners and admins) or "member" (everyone)
    group = models.ForeignKey("accounts.TeamGroup", null=True, blank=True, on_delete=models.CASCADE,
                              related_name="grants")
    service_token = models.ForeignKey("accounts.ApiToken", null=True, blank=True, on_delete=models.CASCADE,
                                      related_name="grants")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(subject_type="member", member__isnull=False, role="", group__isnull=True,
                             service_token__isnull=True)
                    | models.Q(subject_type="role", member__isnull=True, role__in=["admin", "member"],
                               group__isnull=True, service_token__isnull=True)
                    | models.Q(subject_type="group", member__isnull=True, role="", group__isnull=False,
                               service_token__isnull=True)
                    | models.Q(subject_type="service", member__isnull=True, role="", group__isnull=True,
                               service_token__isnull=False)
                ),
                name="orgs_grant_one_subject",
            ),
            models.CheckConstraint(condition=models.Q(level__in=[1, 2, 3]), name="orgs_grant_level_valid"),
            models.UniqueConstraint(fields=["connection", "member"], condition=models.Q(subject_type="member"),
                                    name="orgs_grant_unique_member"),
            models.UniqueConstraint(fields=["connection", "role"], condition=models.Q(subject_type="role"),
                                    name="orgs_grant_unique_role"),
            models.UniqueConstraint(fields=["connection", "group"], condition=models.Q(subject_type="group"),
                                    name="orgs_grant_unique_group"),
            models.UniqueConstraint(fields=["connection", "service_token"],
                                    condition=models.Q(subject_type="service"), name="orgs_grant_unique_service"),
        ]
        indexes = [models.Index(fields=["team", "subject_type"], name="orgs_grant_team_subject")]

    def __str__(self) -> str:
        return f"{self.get_level_display()} for {self.subject_label}"

    @property
    def subject_label(self) -> str:
        if self.subject_type == self.Subject.MEMBER:
            return self.member.email
        if self.subject_type == self.Subject.ROLE:
            return "all admins" if self.role == "admin" else "all members"
        if self.subject_type == self.Subject.GROUP:
            return f"group {self.group.name}"
        return f"service token {self.service_token.name}"


# The portal's own ScratchOrg.error_code values, explained on the pages and in the notice (Salesforce's codes are shown
# as they are).
SCRATCH_ERRORS = {
    "TIMEOUT": "The Dev Hub did not finish creating it in time; nothing was connected.",
    "AUTHORIZATION_FAILED": "Salesforce created it, but the portal could not sign in to it (see the audit log).",
}


class ScratchOrg(models.Model):
    """One scratch org known to a connected Dev Hub (ScratchOrgInfo + ActiveScratchOrg), or being created."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="scratch_orgs")
    dev_hub = models.ForeignKey(OrgConnection, on_delete=models.CASCADE, related_name="scratch_orgs")
    scratch_org_info_id = models.CharField(max_length=18)  # 2SR…
    active_scratch_org_id = models.CharField(max_length=18, blank=True)
    org_id = models.CharField(max_length=18, blank=True)  # ScratchOrg: the 15-character org id
    signup_username = models.CharField(max_length=255, blank=True)
    org_name = models.CharField(max_length=255, blank=True)
    edition = models.CharField(max_length=40, blank=True)
    status = models.CharField(max_length=20)  # New, Creating, Active, Error, Deleted
    error_code = models.CharField(max_length=20, blank=True)
    created_by_username = models.CharField(max_length=255, blank=True)  # CreatedBy.Username on the Dev Hub
    created_date = models.DateTimeField(null=True, blank=True)
    expiration_date = models.DateField(null=True, blank=True)
    namespace = models.CharField(max_length=40, blank=True)
    login_url = models.CharField(max_length=255, blank=True)
    connection = models.ForeignKey(OrgConnection, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")  # the portal connection for this scratch org, if any
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")  # the member who created it through the portal
    requested_alias = models.CharField(max_length=80, blank=True)
    expiry_notified_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)  # vanished from the hub, or deleted
    last_seen_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    # A deletion requested in the portal runs as a background job (orgs.tasks.scratch_org_delete_task): "deleting"
    # until the Dev Hub answered, then the row is Deleted, or "failed" with Salesforce's reason in delete_error.
    delete_state = models.CharField(max_length=10, blank=True, choices=[("", "None"), ("deleting", "Deleting"),
                                                                        ("failed", "Failed")])
    delete_error = models.CharField(max_length=500, blank=True)
    delete_requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                            on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["expiration_date", "signup_username"]
        constraints = [models.UniqueConstraint(fields=["dev_hub", "scratch_org_info_id"],
                                               name="orgs_scratch_unique_per_hub")]
        indexes = [models.Index(fields=["team", "status"], name="orgs_scratch_team_status")]

    def __str__(self) -> str:
        return self.signup_username or self.scratch_org_info_id

    @property
    def job_running(self) -> bool:
        """A portal job is still under way on it: being created (New/Creating) or being deleted."""
        if self.delete_state == "deleting":
            return True
        return self.status in ("New", "Creating") and self.deleted_at is None and not self.error_code

    @property
    def error_message(self) -> str:
        """What the error code means, for people (the portal's own codes, and the ones Salesforce documents)."""
        return SCRATCH_ERRORS.get(self.error_code, f"Salesforce reported error code {self.error_code}; the Dev Hub's "
                                                   "ScratchOrgInfo record has the details." if self.error_code else "")

    @property
    def awaiting_connection(self) -> bool:
        """Created through the portal, Active at the hub, not yet authorized (the poll is about to connect it)."""
        return (self.status == "Active" and self.requested_by_id is not None and self.connection_id is None
                and self.deleted_at is None and not self.error_code and not self.delete_state)


class Sandbox(models.Model):
    """One sandbox of a connected production org (Tooling SandboxInfo + its newest SandboxProcess), and the
    portal's own request on it, if any: a create or refresh that a Celery task drives to the end (SALESFORCE.md §5.6).

    The inventory fields are written by the sync and by the poll; the request fields only by the request's services.
    A request moves requested → copying → authorizing → done, or to failed (kept visible: retry or dismiss).
    """

    class Operation(models.TextChoices):
        NONE = "", "None"
        CREATE = "create", "Create"
        REFRESH = "refresh", "Refresh"

    class State(models.TextChoices):
        NONE = "", "None"
        REQUESTED = "requested", "Requested"
        COPYING = "copying", "Copying"
        AUTHORIZING = "authorizing", "Connecting"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    class Share(models.TextChoices):
        NOBODY = "nobody", "Nobody else"
        PRODUCTION = "production", "The same people as the production org"
        NAMED = "named", "Named members and groups"

    ACTIVE_STATES = ("requested", "copying", "authorizing")
    # Days between copies by license type (SALESFORCE.md §5.6.4; third-party sources, all agreeing).
    REFRESH_DAYS = {"DEVELOPER": 1, "DEVELOPER_PRO": 1, "PARTIAL": 5, "FULL": 29}
    LICENSE_LABELS = {"DEVELOPER": "Developer", "DEVELOPER_PRO": "Developer Pro", "PARTIAL": "Partial Copy",
                      "FULL": "Full"}

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="sandboxes")
    production = models.ForeignKey(OrgConnection, on_delete=models.CASCADE, related_name="sandboxes")
    # -- Salesforce's side (the inventory) --
    sandbox_info_id = models.CharField(max_length=18, blank=True)  # 0GQ…; empty until the create was accepted
    name = models.CharField(max_length=10)
    license_type = models.CharField(max_length=20, blank=True)  # DEVELOPER, DEVELOPER_PRO, PARTIAL, FULL
    description = models.CharField(max_length=1000, blank=True)
    source_info_id = models.CharField(max_length=18, blank=True)  # cloned from this SandboxInfo
    apex_class_id = models.CharField(max_length=18, blank=True)
    auto_activate = models.BooleanField(default=True)
    process_id = models.CharField(max_length=18, blank=True)  # 0GR…: the newest copy job
    status = models.CharField(max_length=30, blank=True)  # SandboxProcess.Status
    copy_progress = models.PositiveSmallIntegerField(null=True, blank=True)
    sandbox_org_id = models.CharField(max_length=18, blank=True)  # SandboxOrganization (15 characters)
    copy_started_at = models.DateTimeField(null=True, blank=True)
    copy_ended_at = models.DateTimeField(null=True, blank=True)
    last_refreshed_at = models.DateTimeField(null=True, blank=True)  # end of the newest completed copy
    created_date = models.DateTimeField(null=True, blank=True)
    connection = models.ForeignKey(OrgConnection, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")  # the portal connection to this sandbox, if any
    deleted_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    # -- the portal's request --
    operation = models.CharField(max_length=8, choices=Operation.choices, blank=True, default="")
    state = models.CharField(max_length=12, choices=State.choices, blank=True, default="")
    state_message = models.CharField(max_length=1000, blank=True)  # Salesforce's reason, what to do next
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    requested_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    requested_alias = models.CharField(max_length=80, blank=True)
    share = models.CharField(max_length=10, choices=Share.choices, default=Share.NOBODY)
    share_member_ids = models.JSONField(default=list, blank=True)
    share_group_ids = models.JSONField(default=list, blank=True)
    share_level = models.PositiveSmallIntegerField(default=2)
    previous_org_id = models.CharField(max_length=18, blank=True)  # a refresh: the org id before it
    polls = models.PositiveIntegerField(default=0)
    next_poll_at = models.DateTimeField(null=True, blank=True)  # a live poll chain; the sweep resumes late ones
    auth_deadline = models.DateTimeField(null=True, blank=True)  # stop retrying an unreachable new org
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["production", "sandbox_info_id"],
                                               condition=~models.Q(sandbox_info_id=""),
                                               name="orgs_sandbox_unique_info")]
        indexes = [models.Index(fields=["state", "next_poll_at"], name="orgs_sandbox_state_poll")]

    def __str__(self) -> str:
        return self.name

    @property
    def license_label(self) -> str:
        return self.LICENSE_LABELS.get(self.license_type, self.license_type.replace("_", " ").title())

    @property
    def refreshable_at(self):
        """The earliest moment Salesforce accepts a refresh (by license type), or None when unknown."""
        days = self.REFRESH_DAYS.get(self.license_type)
        if days is None or self.last_refreshed_at is None:
            return None
        return self.last_refreshed_at + timedelta(days=days)

    @property
    def in_progress(self) -> bool:
        return self.state in self.ACTIVE_STATES

    @property
    def elapsed_seconds(self) -> int | None:
        if self.requested_at is None:
            return None
        end = self.finished_at if self.state in ("done", "failed") and self.finished_at else timezone.now()
        return max(0, int((end - self.requested_at).total_seconds()))


class SandboxSync(models.Model):
    """The last sandbox-inventory sync of one production connection: when, and why it failed (e.g. no permission)."""

    production = models.OneToOneField(OrgConnection, on_delete=models.CASCADE, related_name="sandbox_sync")
    synced_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    pages = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"sandbox sync of {self.production_id}"


class OidcIssuer(models.Model):
    """A CI system's OIDC issuer a team trusts: its discovery document and JWKS, pinned when registered.

    Known issuers (GitHub Actions, GitLab.com) are shared by every customer of that CI (`shared`), so policies on them
    must pin an owner id. The JWKS is cached here and refetched at most once per cooldown on an unknown `kid`."""

    class Kind(models.TextChoices):
        GITHUB = "github", "GitHub Actions"
        GITLAB = "gitlab", "GitLab.com"
        CUSTOM = "custom", "Custom issuer"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="oidc_issuers")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    issuer = models.URLField(max_length=300)  # the exact `iss` value
    jwks_uri = models.URLField(max_length=500)
    algorithms = models.CharField(max_length=100, default="RS256")  # comma-separated, asymmetric only
    shared = models.BooleanField(default=False)
    max_token_age = models.PositiveIntegerField(default=3600)  # seconds between `iat` and now
    jwks = models.JSONField(default=dict, blank=True)  # the last good key set ({"keys": [...]})
    jwks_fetched_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "issuer"], name="orgs_oidcissuer_unique")]

    def __str__(self) -> str:
        return self.issuer

    @property
    def algorithm_list(self) -> list[str]:
        return [a for a in self.algorithms.split(",") if a]


class TrustPolicy(models.Model):
    """Which CI jobs may exchange their OIDC identity for a token to which of the team's orgs (target level only).

    `required_claims` are exact matches on named claims; `glob_claim`/`glob_pattern` an optional segment-aware
    pattern on one named claim; `allowed_events` the CI events accepted (GitHub `event_name`, GitLab
    `pipeline_source`)."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="trust_policies")
    name = models.CharField(max_length=100)
    issuer = models.ForeignKey(OidcIssuer, on_delete=models.PROTECT, related_name="policies")
    audience = models.CharField(max_length=300)
    required_claims = models.JSONField(default=dict)
    glob_claim = models.CharField(max_length=50, blank=True)
    glob_pattern = models.CharField(max_length=200, blank=True)
    allowed_events = models.JSONField(default=list)
    connections = models.ManyToManyField(OrgConnection, related_name="trust_policies", blank=True)
    max_lifetime = models.PositiveIntegerField(default=900)  # seconds; at most PORTAL_OIDC_MAX_LIFETIME
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "name"], name="orgs_trustpolicy_name_unique")]

    def __str__(self) -> str:
        return self.name


class OidcTokenUse(models.Model):
    """A CI token's `jti`, claimed atomically before anything is handed out: a replay loses, even concurrently."""

    issuer = models.ForeignKey(OidcIssuer, on_delete=models.CASCADE, related_name="+")
    jti = models.CharField(max_length=200)
    expires_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["issuer", "jti"], name="orgs_oidctokenuse_unique")]
        indexes = [models.Index(fields=["expires_at"], name="orgs_oidctokenuse_expiry")]

    def __str__(self) -> str:
        return f"{self.jti} until {self.expires_at:%Y-%m-%d %H:%M}"


class AccessPolicy(models.Model):
    """"Access on request" for one connection (issue 18): members' and groups' grants on it are *eligible* (the level
    they may request), not standing access. Without a row, production orgs follow PORTAL_ACCESS_ON_REQUEST_PRODUCTION.
    Approvers: team admins, or the members of `approver_group`; `approvals_required` distinct approvers (1 or 2);
    `break_glass`: members may activate their eligible level without approval for PORTAL_BREAK_GLASS_MINUTES."""

    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="+")
    connection = models.OneToOneField(OrgConnection, on_delete=models.CASCADE, related_name="access_policy")
    on_request = models.BooleanField(default=True)
    break_glass = models.BooleanField(default=False)
    approvals_required = models.PositiveSmallIntegerField(default=1)
    approver_group = models.ForeignKey("accounts.TeamGroup", null=True, blank=True, on_delete=models.SET_NULL,
                                       related_name="+")
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(approvals_required__in=[1, 2]),
                                              name="orgs_accesspolicy_approvals_valid")]

    def __str__(self) -> str:
        return f"access on request: {self.on_request}"


class AccessRequest(models.Model):
    """A time-boxed access request (or break-glass activation). Access is active while `state` is approved and
    `expires_at` is in the future: orgs.access compares the two on every decision, so nothing has to run for access
    to end. `tokens_revoked_at`: the beat sweep revoked the connection's handed-out tokens after the end."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        DENIED = "denied", "Denied"
        CANCELLED = "cancelled", "Cancelled"
        LAPSED = "lapsed", "Not decided in time"
        EXPIRED = "expired", "Expired"
        ENDED = "ended", "Ended early"
        REVOKED = "revoked", "Revoked"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="+")
    connection = models.ForeignKey(OrgConnection, on_delete=models.CASCADE, related_name="access_requests")
    requester = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="access_requests")
    level = models.PositiveSmallIntegerField(choices=Grant.Level.choices)
    minutes = models.PositiveIntegerField()
    reason = models.TextField()
    ticket = models.CharField(max_length=100, blank=True)
    break_glass = models.BooleanField(default=False)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    approvals = models.JSONField(default=list, blank=True)  # [{"user_id", "email", "at"}]
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")  # the denier, or the last approver
    created_at = models.DateTimeField(default=timezone.now)
    decide_by = models.DateTimeField()  # a pending request lapses after this
    starts_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="+")
    tokens_revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["team", "state"], name="orgs_accessrequest_team_state"),
            models.Index(fields=["expires_at"], condition=models.Q(tokens_revoked_at=None, state="approved"),
                         name="orgs_accessrequest_to_revoke"),
        ]
        constraints = [models.CheckConstraint(condition=models.Q(level__in=[1, 2, 3]),
                                              name="orgs_accessrequest_level_valid")]

    def __str__(self) -> str:
        return f"{self.get_level_display()} on {self.connection_id} for {self.requester_id} ({self.state})"

    def current_state(self, now=None) -> str:
        """The state as of `now`: an approved request past its expiry is expired, a pending one past its decision
        deadline has lapsed (whether or not the sweep has written that down yet)."""
        now = now or timezone.now()
        if self.state == self.State.APPROVED and self.expires_at and self.expires_at <= now:
            return self.State.EXPIRED
        if self.state == self.State.PENDING and self.decide_by <= now:
            return self.State.LAPSED
        return self.state

    @property
    def state_now(self) -> str:
        return self.current_state()

    @property
    def state_label(self) -> str:
        return self.State(self.current_state()).label

    @property
    def is_active(self) -> bool:
        return self.current_state() == self.State.APPROVED

    @property
    def is_pending(self) -> bool:
        return self.current_state() == self.State.PENDING


class AccessReview(models.Model):
    """A review of a team's grants (standing and eligible) on chosen orgs: team admins confirm or remove each one
    before `deadline`; then the review closes, reporting (or, with `remove_unreviewed`, removing) what nobody
    reviewed. The finished review is kept in the audit log and exports as CSV."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=100)
    connections = models.ManyToManyField(OrgConnection, related_name="+")
    deadline = models.DateTimeField()
    remove_unreviewed = models.BooleanField(default=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name


class AccessReviewItem(models.Model):
    """One grant under review, as it was when the review started (the grant may be gone since)."""

    class Decision(models.TextChoices):
        PENDING = "pending", "Not reviewed yet"
        CONFIRMED = "confirmed", "Confirmed"
        REMOVED = "removed", "Removed"
        UNREVIEWED = "unreviewed", "Not reviewed by the deadline"
        UNREVIEWED_REMOVED = "unreviewed_removed", "Not reviewed: removed at the deadline"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="+")
    review = models.ForeignKey(AccessReview, on_delete=models.CASCADE, related_name="items")
    grant = models.ForeignKey(Grant, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    org = models.CharField(max_length=255)
    subject = models.CharField(max_length=255)
    level = models.CharField(max_length=10)
    eligible = models.BooleanField(default=False)
    decision = models.CharField(max_length=20, choices=Decision.choices, default=Decision.PENDING)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["org", "subject", "id"]

    def __str__(self) -> str:
        return f"{self.subject} on {self.org}: {self.decision}"


class AlertChannel(SecretsModel):
    """Where a team's alerts go besides email: a Slack or Teams incoming webhook, or a generic signed webhook.

    The URL is sealed (Slack and Teams URLs are bearer credentials); `url_display` keeps only scheme and host. A
    webhook channel has a signing secret, sealed, shown once when the channel is created."""

    class Kind(models.TextChoices):
        SLACK = "slack", "Slack incoming webhook"
        TEAMS = "teams", "Microsoft Teams incoming webhook"
        WEBHOOK = "webhook", "Signed webhook (HMAC-SHA256)"

    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="alert_channels")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    name = models.CharField(max_length=100)
    url_display = models.CharField(max_length=300)
    url = SealedField()
    secret = SealedField()
    events = models.JSONField(default=list)  # portal.accounts.models.Notice values
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "name"], name="orgs_alertchannel_name_unique")]
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"


class AlertDelivery(models.Model):
    """One event to one channel: the delivery log. No URL, secret or signature is stored here."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    channel = models.ForeignKey(AlertChannel, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=40)
    payload = models.JSONField(default=dict)  # the event's text and facts (names, ids): never a secret
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    response_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["channel", "-created_at"], name="orgs_alertdelivery_recent")]

    def __str__(self) -> str:
        return f"{self.event} → {self.channel_id} ({self.status})"
