"""A production org's Sandboxes tab: the inventory (from the database only), create, refresh, delete, retry, dismiss,
and the row partial htmx polls for live progress (templates/sandboxes/_row.html)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from orgs import access
from orgs.forms import SandboxForm
from orgs.models import Sandbox, SandboxSync
from orgs.services import sandboxes
from portal.accounts.models import Membership, TeamGroup
from portal.accounts.reauth import recent_authentication_required
from portal.accounts.services import ServiceError
from portal.lib.http import client_ip


def _rows(production, membership):
    rows = list(Sandbox.objects.filter(production=production)
                .filter(Q(deleted_at__isnull=True) | Q(state=Sandbox.State.FAILED))
                .select_related("connection__owner", "requested_by").order_by("name", "pk"))
    visible = access.connections_visible_to(membership)
    for row in rows:  # who connected it, as far as the viewer may see
        row.connected_by = (row.connection.owner.email if access.sandbox_connection_owner_visible(
            visible, row.connection_id) else None)
    return rows


@login_required
def sandbox_list(request, team, connection):
    membership, production, production_access = access.production_for_sandboxes(request.user, team, connection)
    can_manage = access.can_manage_sandboxes(production, production_access)
    return render(request, "sandboxes/list.html", {
        "membership": membership, "team": membership.team, "production": production, "rows": _rows(production,
                                                                                                   membership),
        "sync": SandboxSync.objects.filter(production=production).first(), "can_manage": can_manage})


def _form(membership, production, data=None):
    sources = Sandbox.objects.filter(production=production, deleted_at__isnull=True).exclude(sandbox_info_id="")
    members = [m.user for m in Membership.objects.filter(team=membership.team).exclude(user=membership.user)
               .select_related("user").order_by("user__email")]
    groups = TeamGroup.objects.filter(team=membership.team).order_by("name")
    return SandboxForm(data, sources=sources, members=members, groups=groups), sources


@login_required
@recent_authentication_required
def sandbox_create(request, team, connection):
    membership, production, _ = access.production_for_sandboxes(request.user, team, connection, manage=True)
    form, sources = _form(membership, production, request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        source = next((s for s in sources if str(s.code) == data["source"]), None) if data["source"] else None
        try:
            created = sandboxes.sandbox_create(
                membership=membership, production=production, name=data["name"],
                license_type=data["license_type"], description=data["description"], source=source,
                apex_class_id=data["apex_class_id"], auto_activate=data["auto_activate"], alias=data["alias"],
                share=data["share"], share_member_ids=[int(x) for x in data["share_members"]],
                share_group_ids=[int(x) for x in data["share_groups"]], ip=client_ip(request))
        except ServiceError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Sandbox {created.name} requested. Its progress shows below; you get an email "
                                      "when it is ready and connected.")
            return redirect("orgs:sandboxes", team=membership.team.code, connection=production.code)
    return render(request, "sandboxes/create.html", {"membership": membership, "team": membership.team,
                                                      "production": production, "form": form},
                  status=400 if form.is_bound and form.errors else 200)


@login_required
def sandbox_row(request, team, sandbox):
    """One sandbox's row, polled by htmx every 2 s while its request runs; once it has ended the answer is HTTP 286
    (htmx stops polling) with the finished row and a sentence for the page's aria-live region. A plain GET (no htmx)
    is sent to the Sandboxes tab."""
    membership, target, production_access = access.sandbox_for_user(request.user, team, sandbox)
    if not request.htmx:
        return redirect("orgs:sandboxes", team=membership.team.code, connection=target.production.code)
    target.connected_by = (target.connection.owner.email if target.connection_id and
                           access.sandbox_connection_owner_visible(access.connections_visible_to(membership),
                                                                   target.connection_id) else None)
    response = render(request, "sandboxes/_row.html", {
        "team": membership.team, "s": target, "announce": not target.in_progress,
        "can_manage": access.can_manage_sandboxes(target.production, production_access)})
    response["Cache-Control"] = "no-store"
    if not target.in_progress:
        response.status_code = 286  # htmx: stop polling
    return response


def _back(membership, target):
    return redirect("orgs:sandboxes", team=membership.team.code, connection=target.production.code)


@login_required
@require_POST
@recent_authentication_required
def sandbox_refresh(request, team, sandbox):
    membership, target, _ = access.sandbox_for_user(request.user, team, sandbox, manage=True)
    try:
        sandboxes.sandbox_refresh(membership=membership, sandbox=target, ip=client_ip(request))
    except ServiceError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Refresh of {target.name} requested. Its connection keeps working until the new "
                                  "copy is ready, then points at the new org.")
    return _back(membership, target)


@login_required
@recent_authentication_required
def sandbox_delete(request, team, sandbox):
    membership, target, _ = access.sandbox_for_user(request.user, team, sandbox, manage=True)
    error = None
    if request.method == "POST":
        try:
            sandboxes.sandbox_delete(actor=request.user, sandbox=target, confirm_name=request.POST.get("confirm", ""),
                                     ip=client_ip(request))
        except ServiceError as exc:
            error = str(exc)
        else:
            messages.success(request, f"Sandbox {target.name} deleted; its portal connection was removed.")
            return _back(membership, target)
    return render(request, "sandboxes/delete.html", {"membership": membership, "team": membership.team,
                                                      "sandbox": target, "error": error},
                  status=400 if error else 200)


@login_required
@require_POST
def sandbox_retry(request, team, sandbox):
    membership, target, _ = access.sandbox_for_user(request.user, team, sandbox, manage=True)
    try:
        sandboxes.sandbox_retry(membership=membership, sandbox=target, ip=client_ip(request))
    except ServiceError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Retrying {target.name}.")
    return _back(membership, target)


@login_required
@require_POST
def sandbox_dismiss(request, team, sandbox):
    membership, target, _ = access.sandbox_for_user(request.user, team, sandbox, manage=True)
    try:
        sandboxes.sandbox_dismiss(membership=membership, sandbox=target)
    except ServiceError as exc:
        messages.error(request, str(exc))
    return _back(membership, target)


@login_required
@require_POST
def sandbox_sync_now(request, team, connection):
    membership, production, _ = access.production_for_sandboxes(request.user, team, connection, manage=True)
    sandboxes.sandbox_sync_enqueue(production=production)
    messages.success(request, "Sync requested; the list updates in a moment.")
    return redirect("orgs:sandboxes", team=membership.team.code, connection=production.code)
