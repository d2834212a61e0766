"""Forms of the operations pages: creating a scratch org."""

from django import forms

from orgs import scratch


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
