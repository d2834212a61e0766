"""Access reviews (issue 18): a snapshot of standing and eligible grants; confirm or remove each; unreviewed ones
reported (or removed) at the deadline; the finished review in the audit log and as CSV."""

from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from orgs.models import AccessReviewItem, Grant
from orgs.services import access_requests, access_reviews
from portal.accounts.models import AuditEvent, Membership
from portal.accounts.services import ServiceError

Decision = AccessReviewItem.Decision


def _start(world, connection, **kwargs):
    admin = Membership.objects.select_related("team", "user").get(team=world.team, user=world.admin)
    return admin, access_reviews.access_review_start(actor=admin, name="Q3 production", connections=[connection],
                                                     deadline=timezone.now() + timedelta(days=1), **kwargs)


def test_review_confirm_remove_and_report_unreviewed(world, shared, client):
    connection = shared["connection"]
    admin = Membership.objects.get(team=world.team, user=world.admin)
    access_requests.access_policy_set(actor=admin, connection=connection, on_request=True, break_glass=False,
                                      approvals_required=1, approver_group=None)
    admin, review = _start(world, connection)
    items = {i.subject: i for i in review.items.all()}
    assert set(items) == {"vic@example.com", "tara@example.com", "manny@example.com", "group QA"}
    assert all(i.eligible for i in items.values())  # the org is access on request: the grants are eligible
    access_reviews.access_review_decide(actor=admin, item=items["tara@example.com"], confirm=True)
    access_reviews.access_review_decide(actor=admin, item=items["vic@example.com"], confirm=False)
    assert not Grant.objects.filter(connection=connection, member=shared["people"]["vic"]).exists()
    with pytest.raises(ServiceError):  # once only
        access_reviews.access_review_decide(actor=admin, item=items["tara@example.com"], confirm=False)
    member = Membership.objects.select_related("team", "user").get(team=world.team, user=world.member)
    with pytest.raises(ServiceError):  # team admins review
        access_reviews.access_review_decide(actor=member, item=items["manny@example.com"], confirm=False)
    with time_machine.travel(review.deadline + timedelta(minutes=1)):
        assert access_reviews.access_reviews_close_due() == 1
    decisions = dict(review.items.values_list("subject", "decision"))
    assert decisions == {"vic@example.com": Decision.REMOVED, "tara@example.com": Decision.CONFIRMED,
                         "manny@example.com": Decision.UNREVIEWED, "group QA": Decision.UNREVIEWED}
    assert Grant.objects.filter(connection=connection, member=shared["people"]["manny"]).exists()  # only reported
    finished = AuditEvent.objects.get(kind=AuditEvent.Kind.ACCESS_REVIEW_FINISHED)
    assert len(finished.data["items"]) == 4 and finished.data["review"] == str(review.code)
    client.force_login(world.admin)
    csv = client.get(reverse("orgs:access_review", args=[world.team.code, review.code]) + "?format=csv")
    body = csv.content.decode()
    assert csv.status_code == 200 and "tara@example.com" in body and "Not reviewed by the deadline" in body


def test_unreviewed_grants_removed_when_asked(world, shared):
    connection = shared["connection"]
    admin, review = _start(world, connection, remove_unreviewed=True)
    access_reviews.access_review_finish(review=review, actor=admin)
    assert not Grant.objects.filter(connection=connection).exclude(subject_type="service").exists()
    assert set(review.items.values_list("decision", flat=True)) == {Decision.UNREVIEWED_REMOVED}
