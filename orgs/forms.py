from django import forms
from django.db.models import Q

from orgs.models import ConnectedApp, OrgConnection, Sandbox, SigningKey
from orgs.services import keys, sandboxes, scratch
from orgs.services.client import login_url_validate
from portal.accounts.services import ServiceError

ENVIRONMENTS = [
    ("production", "Production / Developer Edition (login.salesforce.com)"),
    ("sandbox", "Sandbox (test.salesforce.com)"),
    ("custom", "My Domain or other URL"),
]
ENVIRONMENT_URLS = {"production": "https://login.salesforce.com", "sandbox": "https://test.salesforce.com"}


class LoginHostMixin(forms.Form):
    """Production, Sandbox, or a My Domain URL checked by the host helper (orgs/hosts.py)."""

    environment = forms.ChoiceField(choices=ENVIRONMENTS, initial="production", widget=forms.RadioSelect)
    custom_url = forms.CharField(required=False, max_length=255, label="My Domain URL",
                                 widget=forms.URLInput(attrs={"placeholder": "https://mycompany.my.salesforce.com"}))

    def clean_login_url(self) -> None:
        environment = self.cleaned_data.get("environment")
        if environment in ENVIRONMENT_URLS:
            self.cleaned_data["login_url"] = ENVIRONMENT_URLS[environment]
        elif environment == "custom":
            try:
                self.cleaned_data["login_url"] = login_url_validate(self.cleaned_data.get("custom_url") or "")
            except ServiceError as exc:
                self.add_error("custom_url", str(exc))

    @staticmethod
    def initial_for(url: str) -> dict:
        for environment, known in ENVIRONMENT_URLS.items():
            if url == known:
                return {"environment": environment, "custom_url": ""}
        return {"environment": "custom", "custom_url": url}


class ConnectedAppForm(LoginHostMixin):
    name = forms.CharField(max_length=100)
    consumer_key = forms.CharField(max_length=255, label="Consumer key")
    consumer_secret = forms.CharField(
        required=False, max_length=500, label="Consumer secret",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Leave empty for a public client; it must then use PKCE.",
    )
    scopes = forms.CharField(max_length=500, initial="api refresh_token web",
                             help_text="Space-separated OAuth scopes the portal requests.")
    require_pkce = forms.BooleanField(required=False, initial=True, label="Require PKCE")
    signing_key = forms.ModelChoiceField(queryset=SigningKey.objects.none(), required=False,
                                         label="JWT signing key", help_text="For the JWT bearer flow.")

    def __init__(self, *args, team, creating: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["signing_key"].queryset = SigningKey.objects.filter(team=team)
        self.creating = creating
        if not creating:
            del self.fields["consumer_secret"]

    def clean(self):
        cleaned = super().clean()
        self.clean_login_url()
        scopes = (cleaned.get("scopes") or "").split()
        if scopes and not all(s.replace("_", "").isalnum() for s in scopes):
            self.add_error("scopes", "Scopes are words separated by spaces, e.g. “api refresh_token web”.")
        public = self.creating and not (cleaned.get("consumer_secret") or "").strip()
        if public and not cleaned.get("require_pkce"):
            self.add_error("require_pkce", "A public client (no consumer secret) must use PKCE.")
        return cleaned


class ConnectForm(LoginHostMixin):
    """Connect an org: which app, which environment, and an optional alias."""

    app = forms.ModelChoiceField(queryset=ConnectedApp.objects.none(), label="Connected app", empty_label=None)
    environment = forms.ChoiceField(
        choices=[("app", "The app's default login host")] + ENVIRONMENTS, initial="app", widget=forms.RadioSelect,
        label="Log in at")
    alias = forms.CharField(required=False, max_length=80,
                            help_text="Your name for this org, like an sf alias. Suggested from the org if empty.")

    field_order = ["app", "environment", "custom_url", "alias"]

    def __init__(self, *args, team, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["app"].queryset = ConnectedApp.objects.filter(team=team)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("environment") == "app":
            if cleaned.get("app"):
                cleaned["login_url"] = cleaned["app"].login_url
        else:
            self.clean_login_url()
        return cleaned


ORG_TYPES = [("", "Any type"), ("devhub", "Dev Hub"), ("production", "Production"), ("sandbox", "Sandbox"),
             ("scratch", "Scratch"), ("developer", "Developer Edition")]


class OrgFilterForm(forms.Form):
    """The org list's filters (GET): a search over org name, username, alias and org id, and type, status, owner and
    alias, combined. `apply` only narrows the queryset it is given (the aliases the access funnel allows)."""

    q = forms.CharField(required=False, max_length=255, label="Search")  # name, username, alias or org id
    type = forms.ChoiceField(required=False, choices=ORG_TYPES, label="Type")
    status = forms.ChoiceField(required=False, label="Status",
                               choices=[("", "Any status"), *OrgConnection.Status.choices])
    owner = forms.ChoiceField(required=False, label="Owner")
    alias = forms.CharField(required=False, max_length=80, label="Alias contains")

    def __init__(self, *args, owners=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].choices = [("", "Anyone")] + [(str(u.code), u.display_name) for u in owners]

    @property
    def is_filtered(self) -> bool:
        return any((self.data.get(name) or "").strip() for name in self.fields)

    def apply(self, aliases):
        """`aliases` (OrgAlias rows) narrowed by the valid filters; nothing at all when the filters are invalid."""
        if not self.is_valid():
            return aliases.none()
        data = self.cleaned_data
        if data["q"].strip():
            q = data["q"].strip()
            aliases = aliases.filter(Q(connection__org_name__icontains=q) | Q(connection__username__icontains=q)
                                     | Q(alias__icontains=q) | Q(connection__org_id__istartswith=q[:18]))
        if data["type"] == "devhub":
            aliases = aliases.filter(connection__is_devhub=True)
        elif data["type"]:
            aliases = aliases.filter(connection__kind=data["type"], connection__is_devhub=False)
        if data["status"]:
            aliases = aliases.filter(connection__status=data["status"])
        if data["owner"]:
            aliases = aliases.filter(connection__owner__code=data["owner"])
        if data["alias"].strip():
            aliases = aliases.filter(alias__icontains=data["alias"].strip())
        return aliases


class AliasForm(forms.Form):
    alias = forms.CharField(max_length=80)


class SecretForm(forms.Form):
    secret = forms.CharField(max_length=500, label="New consumer secret",
                             widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}))


def _read_upload(form: forms.Form, field: str) -> bytes | None:
    upload = form.cleaned_data.get(field)
    if upload is None:
        return None
    if upload.size > keys.MAX_FILE_BYTES:
        form.add_error(field, "The file is larger than 64 KB; upload just the PEM or DER file.")
        return None
    return upload.read()


class KeyUploadForm(forms.Form):
    name = forms.CharField(max_length=100)
    private_key = forms.FileField(label="Private key (PEM)")
    passphrase = forms.CharField(required=False, max_length=500, label="Passphrase (if the key has one)",
                                 widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}))
    certificate = forms.FileField(label="Certificate (PEM or DER)")

    def clean(self):
        cleaned = super().clean()
        cleaned["private_key_bytes"] = _read_upload(self, "private_key")
        cleaned["certificate_bytes"] = _read_upload(self, "certificate")
        return cleaned


class KeyGenerateForm(forms.Form):
    name = forms.CharField(max_length=100)
    common_name = forms.CharField(max_length=64, label="Certificate common name (CN)", initial="Org Portal JWT")
    key_size = forms.TypedChoiceField(choices=[(s, f"RSA {s}") for s in keys.GENERATE_SIZES], coerce=int,
                                      initial=2048)
    validity_days = forms.IntegerField(min_value=1, max_value=3650, initial=365, label="Valid for (days)")


class ConfirmDeleteForm(forms.Form):
    confirm = forms.BooleanField(required=True, label="Yes, delete it")


__all__ = ["ConnectedAppForm", "SecretForm", "KeyUploadForm", "KeyGenerateForm", "ConnectedApp"]



class ScratchOrgForm(forms.Form):
    definition = forms.FileField(required=False, label="Definition file (project-scratch-def.json)",
                                 help_text="Optional; the fields below override it.")
    edition = forms.ChoiceField(required=False, choices=[("", "From the file")] +
                                [(e, e) for e in scratch.EDITIONS])
    org_name = forms.CharField(required=False, max_length=80, label="Org name")
    features = forms.CharField(required=False, max_length=500, help_text="Separated by ; or , (e.g. Communities;"
                                                                          "ServiceCloud)")
    duration_days = forms.IntegerField(required=False, min_value=1, max_value=30, initial=7,
                                       label="Duration (days, 1–30)")
    namespace = forms.CharField(required=False, max_length=15)
    alias = forms.CharField(required=False, max_length=80, help_text="Your alias for the new org.")


class JwtConnectionForm(LoginHostMixin):
    app = forms.ModelChoiceField(queryset=ConnectedApp.objects.none(), label="Connected app", empty_label=None,
                                 help_text="Only apps with a JWT signing key are listed.")
    username = forms.CharField(max_length=255, label="Salesforce username",
                               widget=forms.TextInput(attrs={"placeholder": "ci@acme.example", "autocomplete": "off"}))
    alias = forms.CharField(required=False, max_length=80, help_text="Suggested from the org if empty.")

    field_order = ["app", "username", "environment", "custom_url", "alias"]

    def __init__(self, *args, team, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["app"].queryset = ConnectedApp.objects.filter(team=team, signing_key__isnull=False)
        self.fields["environment"].label = "Login host (the JWT audience)"

    def clean(self):
        cleaned = super().clean()
        self.clean_login_url()
        return cleaned


class SandboxForm(forms.Form):
    """`sf org create sandbox`'s choices. The name is checked as Salesforce checks it (1–10 letters or digits)."""

    name = forms.CharField(max_length=10, label="Sandbox name", help_text="1 to 10 letters or digits.")
    license_type = forms.ChoiceField(label="License type", choices=[
        ("DEVELOPER", "Developer"), ("DEVELOPER_PRO", "Developer Pro"), ("PARTIAL", "Partial Copy"),
        ("FULL", "Full")], required=False)
    source = forms.ChoiceField(required=False, label="Clone from a sandbox",
                               help_text="Optional: copy an existing sandbox instead of production (its license "
                                         "type is used).")
    description = forms.CharField(required=False, max_length=1000, widget=forms.Textarea(attrs={"rows": 2}))
    apex_class_id = forms.CharField(required=False, max_length=18, label="Post-copy Apex class Id",
                                    help_text="Optional: the Id (01p…) of a class implementing SandboxPostCopy.")
    auto_activate = forms.BooleanField(required=False, initial=True, label="Activate automatically after a refresh")
    alias = forms.CharField(required=False, max_length=80, help_text="Your alias for the new sandbox (default: its "
                                                                     "name).")
    share = forms.ChoiceField(choices=Sandbox.Share.choices, initial=Sandbox.Share.NOBODY, widget=forms.RadioSelect,
                              label="Share the new sandbox with")
    share_members = forms.MultipleChoiceField(required=False, label="Members (when sharing with named people)",
                                              widget=forms.CheckboxSelectMultiple)
    share_groups = forms.MultipleChoiceField(required=False, label="Groups (when sharing with named people)",
                                             widget=forms.CheckboxSelectMultiple)

    def __init__(self, *args, sources=(), members=(), groups=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["source"].choices = [("", "— production —")] + [(str(s.code), s.name) for s in sources]
        self.fields["share_members"].choices = [(str(u.pk), u.email) for u in members]
        self.fields["share_groups"].choices = [(str(g.pk), g.name) for g in groups]

    def clean_name(self):
        try:
            return sandboxes.name_validate(self.cleaned_data["name"])
        except ServiceError as exc:
            raise forms.ValidationError(str(exc)) from None


class TrustPolicyForm(forms.Form):
    """A CI trust policy: which CI jobs (issuer + claims) may get tokens for which of the team's orgs."""

    name = forms.CharField(max_length=100, help_text="e.g. “Deploy to UAT from main”.")
    issuer_kind = forms.ChoiceField(label="CI issuer", choices=[("github", "GitHub Actions"), ("gitlab", "GitLab.com"),
                                                                ("custom", "Custom issuer (https URL)")])
    issuer_url = forms.CharField(required=False, max_length=300, label="Custom issuer URL",
                                 help_text="Only for a custom issuer: its exact `iss`, e.g. "
                                           "https://gitlab.example.com. Its discovery document is fetched and pinned "
                                           "when you save.")
    audience = forms.CharField(required=False, max_length=300,
                               help_text="The `aud` the CI token must carry; empty means this portal's URL.")
    required_claims = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 5, "spellcheck": "false", "class": "font-monospace"}),
        help_text="One claim=value per line, matched exactly. GitHub: repository_owner_id and repository_id (ids, "
                  "not names), plus ref, environment or job_workflow_ref. GitLab: namespace_id and project_id, plus "
                  "ref, ref_protected or environment.")
    glob_claim = forms.ChoiceField(required=False, label="Pattern on one claim (optional)",
                                   choices=[("", "none")] + [(c, c) for c in
                                                              ("ref", "environment", "workflow_ref", "job_workflow_ref",
                                                               "sub", "ci_config_ref_uri")])
    glob_pattern = forms.CharField(required=False, max_length=200,
                                   help_text="A * stands for one whole segment between / or : (refs/heads/release/*); "
                                             "** for the rest.")
    allowed_events = forms.CharField(
        required=False, max_length=300, label="CI events",
        help_text="Comma-separated. Empty: the ordinary ones (GitHub: push, workflow_dispatch, release, schedule; "
                  "GitLab: push, web, schedule, api, trigger, pipeline). Pull requests only if you add them.")
    connections = forms.ModelMultipleChoiceField(queryset=None, label="Orgs it may target",
                                                 widget=forms.CheckboxSelectMultiple, required=False)
    max_lifetime_minutes = forms.IntegerField(min_value=1, max_value=60, initial=15,
                                              label="Longest token lifetime (minutes)")

    def __init__(self, *args, team, **kwargs):
        super().__init__(*args, **kwargs)
        from orgs.models import OrgConnection

        self.fields["connections"].queryset = OrgConnection.objects.filter(team=team).order_by("username")
        self.fields["connections"].label_from_instance = lambda c: f"{c.username} ({c.type_label})"

    def clean_required_claims(self) -> dict:
        claims = {}
        for number, line in enumerate(self.cleaned_data["required_claims"].splitlines(), start=1):
            if not line.strip():
                continue
            name, sep, value = line.partition("=")
            if not sep or not name.strip() or not value.strip():
                raise forms.ValidationError(f"Line {number}: write claim=value.")
            claims[name.strip()] = value.strip()
        return claims

    def clean_allowed_events(self) -> list[str] | None:
        value = self.cleaned_data["allowed_events"]
        return [e.strip() for e in value.split(",") if e.strip()] or None


class TokenDryRunForm(forms.Form):
    token = forms.CharField(widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false",
                                                         "class": "font-monospace", "autocomplete": "off"}),
                            max_length=8192, label="A sample CI ID token",
                            help_text="Checked against this policy and forgotten: it is not stored or logged, and "
                                      "its jti is not used up.")
