"""Pages of long lists, one way each:

- `paginate`: numbered pages (Django's Paginator) for the lists that are bounded by the team's size (orgs, members,
  API tokens, scratch orgs). A garbage page number gives the first page, one past the end the last: never a 500.
- `keyset_page`: "Older" / "Newer" by a (created_at, id) cursor for the append-only audit log, which grows without
  bound: each page is one indexed range query of page size + 1 rows, and nothing ever counts the table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db.models import Q

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CURSOR = re.compile(r"^(\d{1,19})-(\d{1,19})$")


def page_size() -> int:
    """Rows per page (PORTAL_PAGE_SIZE; at least 1)."""
    return max(1, int(getattr(settings, "PORTAL_PAGE_SIZE", 50)))


def paginate(request, items, *, param: str = "page", per_page: int | None = None) -> Page:
    """The page of `items` (a QuerySet or a list) the query string's `param` asks for."""
    return Paginator(items, per_page or page_size()).get_page(request.GET.get(param))


# -- keyset pages (newest first) -------------------------------------------------------------------------------------

def cursor_for(row) -> str:
    """An opaque position: the row's created_at in microseconds since the epoch, and its id."""
    delta = row.created_at - EPOCH
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return f"{micros}-{row.pk}"


def cursor_parse(value: str | None) -> tuple[datetime, int] | None:
    """(created_at, id) from a cursor, or None for anything that is not one (the first page is shown then)."""
    match = CURSOR.match(value or "")
    if not match:
        return None
    try:
        return EPOCH + timedelta(microseconds=int(match[1])), int(match[2])
    except OverflowError:
        return None


@dataclass
class KeysetPage:
    rows: list
    older: str | None  # cursor for the next older page, if there is one
    newer: str | None  # cursor for the next newer page, if there is one
    is_first: bool  # the newest page (no cursor)

    def __iter__(self):
        return iter(self.rows)

    def __len__(self):
        return len(self.rows)


def keyset_page(queryset, *, before: str | None = None, after: str | None = None,
                size: int | None = None) -> KeysetPage:
    """The rows of `queryset` newest first, `size` at a time: older than the cursor `before`, or newer than `after`
    (`before` wins when both are given), or the newest page. The rows need `created_at` and an integer `id`."""
    size = size or page_size()
    older_than, newer_than = cursor_parse(before), cursor_parse(after)
    if older_than:
        at, pk = older_than
        rows = list(queryset.filter(Q(created_at__lt=at) | Q(created_at=at, id__lt=pk))
                    .order_by("-created_at", "-id")[:size + 1])
        more_older, rows = len(rows) > size, rows[:size]
        return KeysetPage(rows, cursor_for(rows[-1]) if more_older else None,
                          cursor_for(rows[0]) if rows else None, is_first=False)
    if newer_than:
        at, pk = newer_than
        rows = list(queryset.filter(Q(created_at__gt=at) | Q(created_at=at, id__gt=pk))
                    .order_by("created_at", "id")[:size + 1])
        more_newer, rows = len(rows) > size, rows[:size][::-1]
        return KeysetPage(rows, cursor_for(rows[-1]) if rows else None,
                          cursor_for(rows[0]) if more_newer else None, is_first=False)
    rows = list(queryset.order_by("-created_at", "-id")[:size + 1])
    return KeysetPage(rows[:size], cursor_for(rows[size - 1]) if len(rows) > size else None, None, is_first=True)
