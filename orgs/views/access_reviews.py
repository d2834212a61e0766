"""Access review pages (issue 18, team admins): start a review of grants on chosen orgs, confirm or remove each grant,
finish it, export it as CSV. Each view: one access call (orgs.access) → one service call
(orgs/services/access_reviews.py)."""

import uuid
from datetime import datetime, timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from orgs import access
from orgs.models import AccessReview, OrgConnection
from orgs.services import access_reviews as service
from portal.accounts.reauth import recent_authentication_required
from portal.accounts.services import ServiceError
from portal.lib.csv_export import csv_download
from portal.lib.http import client_ip


def _deadline(value: str):
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None
    return timezone.make_aware(parsed) if timezone.is_naive(parsed) else parsed


@login_required
@recent_authentication_required
def access_reviews(request, team):
    membership = access.access_reviews_for_user(request.user, team)
    if request.method == "POST":
        connections = list(OrgConnection.objects.filter(team=membership.team,
                                                        code__in=_codes(request.POST.getlist("orgs"))))
        deadline = _deadline(request.POST.get("deadline", ""))
        try:
            if deadline is None:
                raise ServiceError("Give a deadline (date and time).")
            review = service.access_review_start(actor=membership, name=request.POST.get("name", ""),
                                                 connections=connections, deadline=deadline,
                                                 remove_unreviewed="remove_unreviewed" in request.POST,
                                                 ip=client_ip(request))
        except ServiceError as exc:
            messages.error(request, str(exc))
            return redirect("orgs:access_reviews", team=team)
        return redirect("orgs:access_review", team=team, review=review.code)
    return render(request, "orgs/access_reviews.html", {
        "membership": membership, "team": membership.team,
        "reviews": AccessReview.objects.filter(team=membership.team)[:50],
        "connections": OrgConnection.objects.filter(team=membership.team).order_by("username"),
        "default_deadline": (timezone.localtime() + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M")})


def _codes(values):
    codes = []
    for value in values:
        try:
            codes.append(uuid.UUID(value))
        except (TypeError, ValueError):
            continue
    return codes


@login_required
def access_review(request, team, review):
    membership, review = access.access_review_for_user(request.user, team, review)
    items = review.items.select_related("decided_by")
    if request.GET.get("format") == "csv":
        response, writer = csv_download(f"access-review-{review.code}.csv",
                                        ["org", "subject", "level", "eligible", "decision", "by", "at"])
        for item in items:
            writer.writerow([item.org, item.subject, item.level, "yes" if item.eligible else "no",
                             item.get_decision_display(), item.decided_by.email if item.decided_by else "",
                             item.decided_at.isoformat() if item.decided_at else ""])
        return response
    return render(request, "orgs/access_review.html", {"membership": membership, "team": membership.team,
                                                       "review": review, "items": items})


@login_required
@require_POST
@recent_authentication_required
def access_review_item(request, team, review, item):
    membership, review, item = access.access_review_item_for_user(request.user, team, review, item)
    try:
        service.access_review_decide(actor=membership, item=item, confirm=request.POST.get("decision") == "confirm",
                                     ip=client_ip(request))
    except ServiceError as exc:
        messages.error(request, str(exc))
    return redirect("orgs:access_review", team=team, review=review.code)


@login_required
@require_POST
@recent_authentication_required
def access_review_finish(request, team, review):
    membership, review = access.access_review_for_user(request.user, team, review)
    service.access_review_finish(review=review, actor=membership, ip=client_ip(request))
    return redirect("orgs:access_review", team=team, review=review.code)
