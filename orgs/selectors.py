"""Reads on the Salesforce side that pages and the API share. No side effects."""

from datetime import timedelta

from django.utils import timezone

from orgs.models import SigningKey


def signing_keys_expiring(*, team, within_days: int = 30):
    """Certificates that expire within `within_days` (or already have), soonest first."""
    return SigningKey.objects.filter(team=team, not_after__lte=timezone.now() + timedelta(days=within_days)) \
        .order_by("not_after")
