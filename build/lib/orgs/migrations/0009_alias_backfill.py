"""Aliases for every member who can already see a shared org (before this, they were made when the member opened
the Orgs page). From now on `orgs.services.connections.aliases_ensure` makes them when access is granted.

Historical models only; the visibility rules of orgs.access.effective_access at this point: the owner, team owners
and admins, member grants, role grants ("admin" covers owners and admins, "member" everyone), group grants."""

import re
from collections import defaultdict

from django.db import migrations
from django.db.models import F

RANK = {"member": 1, "admin": 2, "owner": 3}


def _pick(wanted: str, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9._-]", "-", wanted).strip("-._")[:70] or "org"
    alias, n = base, 2
    while alias in taken:
        alias, n = f"{base}-{n}", n + 1
    return alias


def backfill(apps, schema_editor):
    OrgConnection = apps.get_model("orgs", "OrgConnection")
    OrgAlias = apps.get_model("orgs", "OrgAlias")
    Grant = apps.get_model("orgs", "Grant")
    Membership = apps.get_model("accounts", "Membership")
    TeamGroup = apps.get_model("accounts", "TeamGroup")
    for team_id in OrgConnection.objects.values_list("team_id", flat=True).distinct():
        roles = dict(Membership.objects.filter(team_id=team_id).values_list("user_id", "role"))
        groups = defaultdict(set)
        for group_id, user_id in TeamGroup.members.through.objects.filter(teamgroup__team_id=team_id) \
                .values_list("teamgroup_id", "membership__user_id"):
            groups[group_id].add(user_id)
        visible = defaultdict(set)
        connections = dict(OrgConnection.objects.filter(team_id=team_id).values_list("id", "owner_id"))
        for connection_id, owner_id in connections.items():
            visible[connection_id] |= {uid for uid, role in roles.items() if RANK[role] >= RANK["admin"]}
            if owner_id in roles:
                visible[connection_id].add(owner_id)
        for grant in Grant.objects.filter(team_id=team_id).exclude(subject_type="service"):
            if grant.subject_type == "member":
                users = {grant.member_id} & set(roles)
            elif grant.subject_type == "role":
                users = {uid for uid, role in roles.items() if RANK[role] >= RANK[grant.role]}
            else:
                users = groups.get(grant.group_id, set())
            visible[grant.connection_id] |= users
        have = set(OrgAlias.objects.filter(team_id=team_id).values_list("user_id", "connection_id"))
        taken = defaultdict(set)
        for user_id, name in OrgAlias.objects.filter(team_id=team_id).values_list("user_id", "alias"):
            taken[user_id].add(name)
        owner_aliases = dict(OrgAlias.objects.filter(team_id=team_id, connection__owner_id=F("user_id"))
                             .values_list("connection_id", "alias"))
        usernames = dict(OrgConnection.objects.filter(team_id=team_id).values_list("id", "username"))
        rows = []
        for connection_id in sorted(visible):
            for user_id in sorted(visible[connection_id]):
                if (user_id, connection_id) in have:
                    continue
                name = _pick(owner_aliases.get(connection_id) or usernames[connection_id].split("@")[0],
                             taken[user_id])
                taken[user_id].add(name)
                rows.append(OrgAlias(team_id=team_id, user_id=user_id, connection_id=connection_id, alias=name))
        OrgAlias.objects.bulk_create(rows, ignore_conflicts=True)


class Migration(migrations.Migration):

    dependencies = [
        ("orgs", "0008_key_unavailable"),
        ("accounts", "0007_audit_fewer_indexes"),
    ]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
