from django import forms

from portal.accounts.models import AuditEvent, Membership, validate_time_zone
from portal.lib import timezones


class TeamForm(forms.Form):
    name = forms.CharField(max_length=100, strip=True, widget=forms.TextInput(attrs={"autofocus": True}))


class InvitationForm(forms.Form):
    email = forms.EmailField(max_length=254)
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.MEMBER)

    def __init__(self, *args, roles=None, **kwargs):
        super().__init__(*args, **kwargs)
        if roles is not None:
            self.fields["role"].choices = roles


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Membership.Role.choices)


class AuditFilterForm(forms.Form):
    kind = forms.ChoiceField(required=False, choices=[("", "Any event")] + list(AuditEvent.Kind.choices))
    actor = forms.CharField(required=False, max_length=254, label="Actor email contains")
    org = forms.CharField(required=False, max_length=255, label="Org (id or username)")
    date_from = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("date_from") and cleaned.get("date_to") and cleaned["date_from"] > cleaned["date_to"]:
            raise forms.ValidationError("“From” must be on or before “To”.")
        return cleaned


class PreferencesForm(forms.Form):
    """The signed-in person's own settings (not per team)."""

    time_zone = forms.ChoiceField(
        label="Time zone", choices=lambda: [(name, name) for name in timezones.available()],
        error_messages={"invalid_choice": "“%(value)s” is not a time zone we know. Choose one from the list (an IANA "
                                          "name such as Europe/Berlin)."},
        validators=[validate_time_zone],
        help_text="Pages show times in this zone; hover over a time to see it in UTC. Emails always use UTC.")
