"""The selector and the matrix page run the same number of queries at 5 × 10 × 2 and at 300 × 2,000 × 20."""

import pytest
from django.urls import reverse

from orgs.access import effective_access
from tests.querycount import count_queries
from tests.sharing.scale import build_team


def queries(fn) -> int:
    with count_queries() as counter:
        fn()
    return counter["n"]


@pytest.fixture
def small_and_large(db):
    small = build_team(members=5, connections=10, groups=2, name="Small")
    large = build_team(members=300, connections=2000, groups=20, name="Large")
    return small, large


def test_selector_query_count_does_not_grow(small_and_large):
    (small, *_), (large, *_) = small_and_large
    counts = [queries(lambda t=t: effective_access(team=t)) for t in (small, large)]
    assert counts[0] == counts[1] <= 4, counts
    pairs = effective_access(team=large)
    assert len(pairs) > 10_000  # the large team really is large


@pytest.mark.parametrize("who", ["admin", "member"])
def test_matrix_page_query_count_does_not_grow(small_and_large, client, who):
    counts = []
    for team, admin, member in small_and_large:
        client.force_login((admin if who == "admin" else member).user)
        url = reverse("orgs:matrix", args=[team.code])
        client.get(url)  # warm the session
        counts.append(queries(lambda url=url: client.get(url)))
        assert client.get(url).status_code == 200
        counts.append(queries(lambda url=url: client.get(url + "?format=csv")))
    assert counts[0] == counts[2] and counts[1] == counts[3], counts
    assert 0 < counts[0] <= 20, counts  # session, user, membership, team switcher, two selector calls, rows…
