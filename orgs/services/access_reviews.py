"""Access reviews (issue 18): a snapshot of a team's grants (standing and eligible) on chosen orgs; team admins
confirm or remove each; at the deadline the review closes (`access_reviews_close_due`, beat), reporting what nobody
reviewed and, if the review says so, removing it. Removals go through orgs/services/sharing.py (audited, handed-out
tokens revoked). The finished review is one audit entry with every item, and exports as CSV (the view)."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from orgs import access
from orgs.models import AccessReview, AccessReviewItem, Grant, OrgConnection
from orgs.services import sharing
from orgs.services.revocation import access_reduction_watch
from portal.accounts.models import AuditEvent, Membership
from portal.accounts.services import ServiceError, audit_record

Kind = AuditEvent.Kind
Decision = AccessReviewItem.Decision


@transaction.atomic
def access_review_start(*, actor: Membership, name: str, connections: list[OrgConnection], deadline: datetime,
                        remove_unreviewed: bool = False, ip: str | None = None) -> AccessReview:
    if not access.can_run_access_reviews(actor):
        raise ServiceError("Only team admins start access reviews.")
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ServiceError("Give the review a name (at most 100 characters).")
    if not connections or any(c.team_id != actor.team_id for c in connections):
        raise ServiceError("Choose at least one of the team's orgs.")
    if deadline <= timezone.now():
        raise ServiceError("The deadline must be in the future.")
    review = AccessReview.objects.create(team=actor.team, name=name, deadline=deadline,
                                         remove_unreviewed=remove_unreviewed, created_by=actor.user)
    review.connections.set(connections)
    on_request = access.on_request_connections(
        OrgConnection.objects.filter(pk__in=[c.pk for c in connections])
        .values_list("id", "kind", "access_policy__on_request"))
    grants = (Grant.objects.filter(team=actor.team, connection__in=connections)
              .select_related("connection", "member", "group", "service_token"))
    AccessReviewItem.objects.bulk_create([
        AccessReviewItem(team=actor.team, review=review, grant=g, org=g.connection.username, subject=g.subject_label,
                         level=g.get_level_display(),
                         eligible=g.connection_id in on_request and g.subject_type != Grant.Subject.SERVICE_TOKEN)
        for g in grants])
    audit_record(team=actor.team, actor=actor.user, kind=Kind.ACCESS_REVIEW_STARTED, subject=name, ip=ip,
                 data={"review": str(review.code), "orgs": sorted(c.username for c in connections),
                       "grants": len(grants), "deadline": deadline.isoformat(),
                       "remove_unreviewed": remove_unreviewed})
    return review


def access_review_decide(*, actor: Membership, item: AccessReviewItem, confirm: bool,
                         ip: str | None = None) -> AccessReviewItem:
    """Confirm a grant, or remove it (through the sharing service: audited, tokens revoked)."""
    with transaction.atomic():
        item = (AccessReviewItem.objects.select_for_update(of=("self",)).select_related("review", "grant")
                .get(pk=item.pk))
        if item.review.finished_at is not None or item.decision != Decision.PENDING:
            raise ServiceError("This grant has been reviewed already (or the review is finished).")
        if not access.can_run_access_reviews(actor):
            raise ServiceError("Only team admins review grants.")
        if not confirm and item.grant is not None:
            sharing.grant_remove(actor=actor, grant=item.grant, ip=ip)
        item.decision = Decision.CONFIRMED if confirm else Decision.REMOVED
        item.decided_by, item.decided_at = actor.user, timezone.now()
        item.save(update_fields=["decision", "decided_by", "decided_at"])
        audit_record(team=actor.team, actor=actor.user, kind=Kind.ACCESS_REVIEW_DECIDED, subject=item.subject, ip=ip,
                     data={"review": str(item.review.code), "org": item.org, "level": item.level,
                           "eligible": item.eligible, "decision": item.decision})
    return item


def access_review_finish(*, review: AccessReview, actor: Membership | None = None, ip: str | None = None) -> None:
    """Close a review: unreviewed grants are reported (and removed when the review says so); one audit entry keeps
    every item."""
    with transaction.atomic():
        review = AccessReview.objects.select_for_update().get(pk=review.pk)
        if review.finished_at is not None:
            return
        for item in review.items.filter(decision=Decision.PENDING).select_related("grant"):
            if review.remove_unreviewed and item.grant is not None:
                remover = actor or Membership.objects.filter(team=review.team, user=review.created_by).first()
                if remover is None:  # the review's author has left: removed in the review's name
                    _remove_unattributed(review=review, grant=item.grant)
                else:
                    sharing.grant_remove(actor=remover, grant=item.grant, ip=ip)
                item.decision = Decision.UNREVIEWED_REMOVED
            else:
                item.decision = Decision.UNREVIEWED
            item.save(update_fields=["decision"])
        review.finished_at = timezone.now()
        review.save(update_fields=["finished_at"])
        audit_record(team=review.team, actor=actor.user if actor else None, kind=Kind.ACCESS_REVIEW_FINISHED,
                     subject=review.name, ip=ip,
                     data={"review": str(review.code), "items": [
                         {"org": i.org, "subject": i.subject, "level": i.level, "eligible": i.eligible,
                          "decision": i.decision, "by": i.decided_by.email if i.decided_by else None}
                         for i in review.items.select_related("decided_by")]})


def _remove_unattributed(*, review: AccessReview, grant: Grant) -> None:
    access_reduction_watch(team_id=grant.team_id, reason="access review", connection_ids=[grant.connection_id])
    Grant.objects.filter(pk=grant.pk).delete()
    audit_record(team=review.team, actor=None, kind=Kind.GRANT_REMOVED, subject=grant.subject_label,
                 data={"org": grant.connection.username, "level": grant.get_level_display(),
                       "review": str(review.code)})


def access_reviews_close_due(*, now=None) -> int:
    """Beat: finish every review past its deadline."""
    now = now or timezone.now()
    due = list(AccessReview.objects.filter(finished_at=None, deadline__lte=now)[:100])
    for review in due:
        access_review_finish(review=review)
    return len(due)
