"""The time zones people can choose (IANA names) and the <time> element every page shows a moment with.

The names come from the system's zoneinfo database: the image's base (python:3.11-slim) installs Debian's
`tzdata` package, so no PyPI `tzdata` is needed; `available()` always offers UTC even where the database is missing.
"""

from __future__ import annotations

import zoneinfo
from datetime import UTC, date, datetime, tzinfo
from functools import lru_cache

from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.html import format_html

DEFAULT = "UTC"


@lru_cache(maxsize=1)
def available() -> tuple[str, ...]:
    """Every IANA zone name this machine knows, sorted; UTC first."""
    return (DEFAULT, *sorted(zoneinfo.available_timezones() - {DEFAULT, "Factory", "localtime", "posixrules"}))


def is_valid(name: str) -> bool:
    return name in available()


def zone(name: str | None) -> tzinfo:
    """The zone called `name`, or UTC when it is empty or unknown (e.g. dropped from a newer tzdata)."""
    if not name or name == DEFAULT or not is_valid(name):
        return UTC
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return UTC


def time_html(value, fmt: str = "Y-m-d H:i"):
    """`<time datetime="ISO in UTC" title="YYYY-MM-DD HH:MM UTC">the moment in the active zone</time>`; "" for
    None. A date (no time of day) is shown as it is."""
    if value is None or value == "":
        return ""
    if not isinstance(value, datetime):
        if isinstance(value, date):
            return format_html('<time datetime="{}">{}</time>', value.isoformat(), date_format(value, fmt))
        return value
    if timezone.is_naive(value):
        value = timezone.make_aware(value, UTC)
    utc = value.astimezone(UTC)
    with_seconds = "s" in fmt
    title = utc.strftime("%Y-%m-%d %H:%M:%S UTC" if with_seconds else "%Y-%m-%d %H:%M UTC")
    iso = utc.replace(microsecond=0).isoformat().replace("+00:00", "Z")
    return format_html('<time datetime="{}" title="{}">{}</time>', iso, title,
                       date_format(timezone.localtime(value), fmt))
