"""Alert channels (team admins): Slack/Teams incoming webhooks and signed webhooks, their events and delivery log.
Writes need a recent authentication; a webhook's signing secret is shown once, on the page that created it."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from orgs import access
from orgs.access import TeamAction
from orgs.models import AlertChannel, AlertDelivery
from orgs.services import alerts
from portal.accounts.reauth import recent_authentication_required
from portal.accounts.services import ServiceError
from portal.lib.csp import secret_page
from portal.lib.http import client_ip


def _page(request, membership, *, status=200, error=None, secret=None, created=None):
    team = membership.team
    return render(request, "orgs/alert_channels.html", {
        "team": team, "channels": AlertChannel.objects.filter(team=team),
        "deliveries": AlertDelivery.objects.filter(channel__team=team).select_related("channel")[:50],
        "kinds": AlertChannel.Kind.choices, "events": [(e.value, e.label) for e in alerts.ALERT_EVENTS],
        "error": error, "secret": secret, "created": created, "form": request.POST if error else {}}, status=status)


@secret_page
@login_required
@sensitive_post_parameters("url")
@recent_authentication_required
def alert_channels(request, team):
    membership = access.membership_for_action(request.user, team, TeamAction.MANAGE_ALERT_CHANNELS)
    if request.method != "POST":
        return _page(request, membership)
    try:
        channel, secret = alerts.alert_channel_create(
            actor=membership, kind=request.POST.get("kind", ""), name=request.POST.get("name", ""),
            url=request.POST.get("url", ""), events=request.POST.getlist("events"), ip=client_ip(request))
    except ServiceError as exc:
        return _page(request, membership, status=400, error=str(exc))
    if secret is None:
        messages.success(request, f"Alert channel “{channel.name}” added.")
        return redirect("orgs:alert_channels", team=membership.team.code)
    return _page(request, membership, secret=secret, created=channel)  # shown once


@login_required
@require_POST
@recent_authentication_required
def alert_channel_delete(request, team, channel):
    membership = access.membership_for_action(request.user, team, TeamAction.MANAGE_ALERT_CHANNELS)
    channel = get_object_or_404(AlertChannel, code=channel, team=membership.team)
    alerts.alert_channel_delete(actor=membership, channel=channel, ip=client_ip(request))
    messages.success(request, f"Alert channel “{channel.name}” removed.")
    return redirect("orgs:alert_channels", team=membership.team.code)



