"""Operations pages: the health dashboard, and the scratch-org inventory (team-wide and per Dev Hub) with create and
delete, one scratch org's page and the row partial htmx polls while its job runs (templates/ops/_scratch_row.html).
The team dashboard shows the same health summary (orgs.selectors.health_for_member)."""

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from orgs import access
from orgs.access import TeamAction, access_for_member
from orgs.forms import ScratchOrgForm
from orgs.models import OrgConnection, ScratchOrg
from orgs.selectors import health_for_member, signing_keys_expiring
from orgs.services import scratch
from portal.accounts.reauth import recent_authentication_required
from portal.accounts.services import ServiceError
from portal.lib.http import client_ip
from portal.lib.pagination import paginate

SORTS = {
    "expires": ("expiration_date", "signup_username"),
    "-expires": ("-expiration_date", "signup_username"),
    "status": ("status", "expiration_date"),
    "creator": ("created_by_username", "expiration_date"),
    "created": ("-created_date",),
}
STATUSES = ["Active", "New", "Creating", "Error", "Deleted"]


def _inventory(request, membership, hub_access: dict):
    """Scratch orgs on the hubs in `hub_access` ({hub id: Access}), filtered and sorted as the query string says."""
    rows = ScratchOrg.objects.filter(team=membership.team, dev_hub_id__in=list(hub_access)).select_related(
        "dev_hub", "connection")
    status = request.GET.get("status", "live")
    if status == "live":
        rows = rows.filter(deleted_at__isnull=True).exclude(status="Deleted")
    elif status in STATUSES:
        rows = rows.filter(status=status)
    creator = request.GET.get("creator", "").strip()
    if creator:
        rows = rows.filter(Q(created_by_username__icontains=creator) | Q(requested_by__email__icontains=creator))
    connected = request.GET.get("connected", "")
    if connected in ("yes", "no"):
        rows = rows.filter(connection__isnull=(connected == "no"))
    expiring = request.GET.get("expiring", "")
    if expiring.isdigit():
        rows = rows.filter(expiration_date__lte=timezone.now().date() + timedelta(days=int(expiring)))
    sort = request.GET.get("sort", "expires")
    rows = rows.order_by(*SORTS.get(sort, SORTS["expires"]), "pk")  # pk: a stable order across pages
    today = timezone.now().date()
    page = paginate(request, rows)  # every row is reachable: page N of PORTAL_PAGE_SIZE, filters kept in the links
    for row in page:  # what the page may offer on each row (the page's rows only): the funnel decides
        row.can_delete = access.can_delete_scratch_org(membership, row, hub_access.get(row.dev_hub_id))
    items = [(row, (row.expiration_date - today).days if row.expiration_date else None) for row in page]
    return items, {"status": status, "creator": creator, "connected": connected, "expiring": expiring,
                   "sort": sort, "page": page}


@login_required
def health(request, team):
    """Connected / Degraded / Needs re-authorization over the orgs the member can see, with Reconnect buttons;
    certificates expiring within 30 days; scratch orgs expiring soon."""
    membership = access.membership_for_action(request.user, team, TeamAction.VIEW)
    summary = health_for_member(membership=membership)
    keys = list(signing_keys_expiring(team=membership.team, within_days=30))
    today = timezone.now().date()
    return render(request, "ops/health.html", {
        "membership": membership, "team": membership.team, "perms": access.team_permissions(membership),
        "health": summary, "expiring_keys": keys,
        "scratch_expiring": [(s, (s.expiration_date - today).days) for s in summary["scratch_expiring"]]})


@login_required
def scratch_orgs(request, team):
    """Every scratch org on the Dev Hubs the member can see."""
    membership = access.membership_for_action(request.user, team, TeamAction.VIEW)
    mine = access_for_member(membership=membership)
    items, filters = _inventory(request, membership, mine)
    hubs = OrgConnection.objects.filter(team=membership.team, pk__in=list(mine), is_devhub=True).order_by("username")
    creatable = [hub for hub in hubs if access.can_create_scratch_org(hub, mine[hub.pk])]
    return render(request, "ops/scratch_orgs.html", {"membership": membership, "team": membership.team,
                                                      "items": items, "filters": filters, "hub": None,
                                                      "statuses": STATUSES, "creatable_hubs": creatable})


@login_required
def hub_scratch_orgs(request, team, connection):
    membership, hub, hub_access = access.connection_for_user(request.user, team, connection, access.Level.VIEW)
    items, filters = _inventory(request, membership, {hub.pk: hub_access})
    can_create = access.can_create_scratch_org(hub, hub_access)
    return render(request, "ops/scratch_orgs.html", {
        "membership": membership, "team": membership.team, "items": items, "filters": filters, "hub": hub,
        "statuses": STATUSES, "can_create": can_create, "form": ScratchOrgForm() if can_create else None})


@login_required
@sensitive_post_parameters()
@recent_authentication_required
def scratch_org_create(request, team, connection):
    membership, hub, _ = access.connection_for_user(request.user, team, connection, access.Level.TARGET)
    form = ScratchOrgForm(request.POST if request.method == "POST" else None,
                          request.FILES if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            upload = data.get("definition")
            json_text = upload.read(64 * 1024 + 1).decode("utf-8", "replace") if upload else ""
            if len(json_text) > 64 * 1024:
                raise ServiceError("The definition file is larger than 64 KB.")
            fields = scratch.scratch_definition(json_text=json_text, edition=data["edition"],
                                                org_name=data["org_name"], features=data["features"],
                                                duration_days=data["duration_days"], namespace=data["namespace"])
            created = scratch.scratch_org_create(membership=membership, hub=hub, fields=fields,
                                                 alias=data["alias"], ip=client_ip(request))
        except ServiceError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Scratch org requested ({created.scratch_org_info_id}). Its status updates "
                                      "below; you also get an email when it is ready or has failed.")
            return redirect("orgs:scratch_org", team=membership.team.code, scratch_org=created.code)
    return render(request, "ops/scratch_create.html", {"membership": membership, "team": membership.team,
                                                       "hub": hub, "form": form},
                  status=400 if form.is_bound and form.errors else 200)


def _row_context(membership, scratch, hub_access, *, in_hub: bool) -> dict:
    today = timezone.now().date()
    scratch.can_delete = access.can_delete_scratch_org(membership, scratch, hub_access)
    scratch.connection_visible = access.scratch_connection_visible(membership, scratch)
    days = (scratch.expiration_date - today).days if scratch.expiration_date else None
    return {"membership": membership, "team": membership.team, "s": scratch, "days": days,
            "hub": scratch.dev_hub if in_hub else None}


@login_required
def scratch_org_page(request, team, scratch_org):
    """One scratch org and its job (creation, deletion) live: where the requester lands after "Create"."""
    membership, target, hub_access = access.scratch_org_for_user(request.user, team, scratch_org)
    context = _row_context(membership, target, hub_access, in_hub=True)
    return render(request, "ops/scratch_org.html", {**context, "scratch": target})


@login_required
def scratch_org_status(request, team, scratch_org):
    """The row partial htmx polls ("every 2s") while a job runs. Once the job has ended the answer is HTTP 286 (htmx
    stops polling) with the final row and, out of band, a sentence for the page's aria-live region. A plain GET (no
    htmx) gets the scratch org's page."""
    if not request.htmx:
        return scratch_org_page(request, team, scratch_org)
    membership, target, hub_access = access.scratch_org_for_user(request.user, team, scratch_org)
    context = _row_context(membership, target, hub_access, in_hub=request.GET.get("in") == "hub")
    running = target.job_running or target.awaiting_connection
    response = render(request, "ops/_scratch_row.html", {**context, "announce": not running})
    response["Cache-Control"] = "no-store"
    if not running:
        response.status_code = 286  # htmx: stop polling
    return response


def _row(request, membership, target):
    hub_access = access.connection_level(membership, target.dev_hub)
    return render(request, "ops/_scratch_row.html",
                  _row_context(membership, target, hub_access, in_hub=request.GET.get("in") == "hub"))


@login_required
@require_POST
@recent_authentication_required
def scratch_org_delete(request, team, scratch_org):
    """Start deleting a scratch org in the background; the row shows "Deleting…" live (htmx swaps it in place when
    the button was pressed with htmx, otherwise after the redirect) until the job ends."""
    membership, target = access.scratch_org_for_delete(request.user, team, scratch_org)
    try:
        scratch.scratch_org_delete_request(actor=request.user, scratch=target, ip=client_ip(request))
    except ServiceError as exc:
        if request.htmx:  # already deleted or being deleted: the row as it is now
            target.refresh_from_db()
            return _row(request, membership, target)
        messages.error(request, str(exc))
    else:
        if request.htmx:
            return _row(request, membership, target)
        messages.success(request, f"Deleting scratch org {target.signup_username}; its row shows when it is done.")
    return redirect("orgs:hub_scratch_orgs", team=membership.team.code, connection=target.dev_hub.code)
