"""Sharing pages: an org's Access tab, the "who can target what" matrix (and CSV), groups and policy, member
profiles. Each view: one access call (orgs.access) → form → one service call → redirect."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.html import escape
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from orgs import access
from orgs.access import TeamAction, effective_access
from orgs.models import Grant, OrgAlias, OrgConnection
from orgs.services import sharing
from portal.accounts.models import ApiToken, Membership, Team, TeamGroup
from portal.accounts.reauth import recent_authentication_required
from portal.accounts.services import ServiceError
from portal.lib.csv_export import csv_download
from portal.lib.http import client_ip

LEVEL_CHOICES = [(value, label) for value, label in Grant.Level.choices]


def _level(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


# -- an org's Access tab -----------------------------------------------------------------------------------------------

@login_required
def org_access(request, team, connection):
    membership, connection, mine = access.connection_for_user(request.user, team, connection, access.Level.VIEW)
    can_share = access.can_share(membership, connection, mine)
    context = {"membership": membership, "team": membership.team, "connection": connection, "mine": mine,
               "can_share": can_share, "levels": LEVEL_CHOICES,
               "can_policy": access.can_manage_access_policy(membership), "rules": access.access_rules(connection)}
    if can_share:
        pairs = effective_access(team=membership.team, connection_ids=[connection.pk])
        emails = dict(Membership.objects.filter(team=membership.team).values_list("user_id", "user__email"))
        context.update({
            "grants": connection.grants.select_related("member", "group", "service_token").order_by(
                "subject_type", "pk"),
            "effective": sorted(((emails[uid], a) for (uid, _), a in pairs.items() if uid in emails),
                                key=lambda row: (-row[1].level, row[0])),
            "members": Membership.objects.filter(team=membership.team).select_related("user").exclude(
                user_id=connection.owner_id).order_by("user__email"),
            "groups": TeamGroup.objects.filter(team=membership.team),
            "service_tokens": ApiToken.objects.filter(team=membership.team, kind=ApiToken.Kind.SERVICE,
                                                      revoked_at=None),
            "sensitive": connection.is_sensitive,
        })
    return render(request, "orgs/org_access.html", context)


@login_required
@require_POST
@recent_authentication_required
def grant_add(request, team, connection):
    membership, connection, mine = access.connection_for_sharing(request.user, team, connection)
    subject_type = request.POST.get("subject_type", "")
    subject_id = request.POST.get("subject", "")
    kwargs = {}
    try:
        if subject_type == Grant.Subject.MEMBER:
            kwargs["member"] = Membership.objects.select_related("user").get(
                team=membership.team, code=subject_id).user
        elif subject_type == Grant.Subject.GROUP:
            kwargs["group"] = TeamGroup.objects.get(team=membership.team, code=subject_id)
        elif subject_type == Grant.Subject.SERVICE_TOKEN:
            kwargs["service_token"] = ApiToken.objects.get(team=membership.team, code=subject_id)
        elif subject_type == Grant.Subject.ROLE:
            kwargs["role"] = subject_id
        sharing.grant_add(actor=membership, actor_access=mine, connection=connection,
                          subject_type=subject_type, level=_level(request.POST.get("level")), ip=client_ip(request),
                          **kwargs)
    except (Membership.DoesNotExist, TeamGroup.DoesNotExist, ApiToken.DoesNotExist, ValueError):
        messages.error(request, "You can only share with members, groups and service tokens of this team.")
    except ServiceError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Shared.")
    return redirect("orgs:org_access", team=membership.team.code, connection=connection.code)


@login_required
@require_POST
@recent_authentication_required
def grant_update(request, team, connection, grant):
    membership, connection, mine = access.connection_for_sharing(request.user, team, connection)
    grant = get_object_or_404(Grant.objects.select_related("member", "group", "service_token", "connection"),
                              code=grant, connection=connection)
    try:
        if request.POST.get("action") == "remove":
            sharing.grant_remove(actor=membership, grant=grant, ip=client_ip(request))
            messages.success(request, f"No longer shared with {grant.subject_label}.")
        else:
            sharing.grant_change(actor=membership, actor_access=mine, grant=grant,
                                 level=_level(request.POST.get("level")), ip=client_ip(request))
            messages.success(request, f"{grant.subject_label} now has {grant.get_level_display()}.")
    except ServiceError as exc:
        messages.error(request, str(exc))
    return redirect("orgs:org_access", team=membership.team.code, connection=connection.code)


# -- who can target what -----------------------------------------------------------------------------------------------

def _matrix(request, membership):
    """Rows: the orgs the viewer can see (admins: all), filtered; columns: members (filtered by member/group)."""
    team = membership.team
    visible = access.connections_visible_to(membership)
    connections = OrgConnection.objects.filter(team=team).only(
        "id", "code", "username", "org_id", "kind", "is_devhub", "status", "org_name").order_by("username")
    if visible is not None:
        connections = connections.filter(id__in=visible)
    kind = request.GET.get("type", "")
    if kind == "devhub":
        connections = connections.filter(is_devhub=True)
    elif kind in OrgConnection.Kind.values:
        connections = connections.filter(kind=kind, is_devhub=False)
    status = request.GET.get("status", "")
    if status in OrgConnection.Status.values:
        connections = connections.filter(status=status)
    members = Membership.objects.filter(team=team).select_related("user").order_by("user__email")
    member_filter, group_filter = request.GET.get("member", ""), request.GET.get("group", "")
    if member_filter:
        members = members.filter(code=member_filter) if _is_uuid(member_filter) else members.none()
    if group_filter:
        members = members.filter(groups__code=group_filter) if _is_uuid(group_filter) else members.none()
    return connections, list(members)


def _is_uuid(value: str) -> bool:
    import uuid

    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


@login_required
def matrix(request, team):
    membership = access.membership_for_action(request.user, team, TeamAction.VIEW_MATRIX)
    connections, members = _matrix(request, membership)
    if request.GET.get("format") == "csv":
        return _matrix_csv(membership.team, list(connections), members)
    page = Paginator(connections, 50).get_page(request.GET.get("page"))
    rows = list(page)
    pairs = effective_access(team=membership.team, user_ids=[m.user_id for m in members],
                             connection_ids=[c.id for c in rows])
    cell = _cell_renderer()
    table = [(c, mark_safe("".join(cell(pairs.get((m.user_id, c.id))) for m in members)))  # noqa: S308 - escaped
             for c in rows]
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "orgs/matrix.html", {
        "membership": membership, "team": membership.team, "perms": access.team_permissions(membership),
        "members": members, "table": table, "page": page,
        "groups": TeamGroup.objects.filter(team=membership.team),
        "all_members": Membership.objects.filter(team=membership.team).select_related("user").order_by("user__email"),
        "filters": request.GET, "query": query.urlencode(), "kinds": OrgConnection.Kind.choices,
        "statuses": OrgConnection.Status.choices,
    })


def _cell_renderer():
    """HTML for one matrix cell, escaped once per distinct (level, reason): a page has ~15,000 cells but only a
    few dozen distinct values, and the template engine would spend most of the page's time on them."""
    cache = {None: "<td></td>"}

    def render(found):
        key = (found, found.eligible, found.expires_at) if found is not None else None
        html = cache.get(key)
        if html is None:
            eligible = (f' <span class="badge text-bg-warning eligible">eligible: {escape(found.eligible_label)}'
                        '</span>' if found.only_eligible_for else "")
            boxed = ' <span class="badge text-bg-info time-boxed">time-boxed</span>' if found.time_boxed else ""
            html = cache[key] = (f'<td class="lvl-{found.level}">{escape(found.level_label)} '
                                 f'<span class="text-body-secondary">({escape(found.reason)})</span>'
                                 f'{eligible}{boxed}</td>')
        return html

    return render


def _matrix_csv(team: Team, connections, members):
    pairs = effective_access(team=team, user_ids=[m.user_id for m in members],
                             connection_ids=[c.id for c in connections])
    response, writer = csv_download(f"who-can-target-what-{team.code}.csv",
                                    ["org username", "org id", "type", "status", "member", "level", "why"])
    for connection in connections:
        for member in members:
            found = pairs.get((member.user_id, connection.id))
            if found:
                writer.writerow([connection.username, connection.org_id, connection.type_label,
                                 connection.get_status_display(), member.user.email, found.level_label,
                                 found.reason + (f"; eligible: {found.eligible_label}" if found.only_eligible_for
                                                 else "")])
    return response


# -- member profiles ---------------------------------------------------------------------------------------------------

@login_required
def member_profile(request, team, member):
    viewer = access.membership_for_action(request.user, team, TeamAction.VIEW)
    target = get_object_or_404(Membership.objects.select_related("user", "team"), team=viewer.team, code=member)
    theirs = effective_access(team=viewer.team, user_ids=[target.user_id])
    visible = access.connections_visible_to(viewer)
    ids = [cid for (_, cid), a in theirs.items() if a.can_target and (visible is None or cid in visible)]
    aliases = {a.connection_id: a for a in OrgAlias.objects.filter(user=target.user, connection_id__in=ids)}
    rows = sorted(((c, theirs[(target.user_id, c.id)], aliases.get(c.id))
                   for c in OrgConnection.objects.filter(id__in=ids)),
                  key=lambda row: (row[2].alias if row[2] else "~", row[0].username))
    return render(request, "accounts/member_profile.html", {
        "membership": viewer, "team": viewer.team, "perms": access.team_permissions(viewer), "target": target,
        "rows": rows,
        "groups": target.groups.all(),
    })


# -- groups and the sharing policy -------------------------------------------------------------------------------------

@login_required
def groups(request, team):
    membership = access.membership_for_action(request.user, team, TeamAction.MANAGE_GROUPS)
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "create":
                group = sharing.group_create(actor=membership, name=request.POST.get("name", ""),
                                             ip=client_ip(request))
                messages.success(request, f"Group “{group.name}” created.")
            elif action == "policy":
                sharing.team_policy_set(actor=membership,
                                        share_production_policy=request.POST.get("share_production_policy", ""),
                                        ip=client_ip(request))
                messages.success(request, "Sharing policy saved.")
            else:
                group = get_object_or_404(TeamGroup, team=membership.team, code=request.POST.get("group") or None)
                if action == "delete":
                    sharing.group_delete(actor=membership, group=group, ip=client_ip(request))
                    messages.success(request, f"Group “{group.name}” deleted.")
                elif action in ("add", "remove"):
                    member = get_object_or_404(Membership.objects.select_related("user"), team=membership.team,
                                               code=request.POST.get("member") or None)
                    service = sharing.group_member_add if action == "add" else sharing.group_member_remove
                    service(actor=membership, group=group, member=member, ip=client_ip(request))
                    messages.success(request, f"{member.user.email} {'added to' if action == 'add' else 'removed from'}"
                                              f" {group.name}.")
                else:
                    raise ServiceError("Unknown action.")
        except (ServiceError, ValueError) as exc:
            messages.error(request, str(exc))
        except Http404:
            messages.error(request, "That group or member is not in this team.")
        return redirect("orgs:groups", team=membership.team.code)
    return render(request, "orgs/groups.html", {
        "membership": membership, "team": membership.team,
        "groups": TeamGroup.objects.filter(team=membership.team).prefetch_related("members__user"),
        "members": Membership.objects.filter(team=membership.team).select_related("user").order_by("user__email"),
        "policies": Team.SharePolicy.choices,
    })
