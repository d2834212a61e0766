"""Build a team of any size fast (bulk inserts), for the query-count test and the matrix benchmark."""

import random

from orgs.models import ConnectedApp, Grant, OrgConnection
from portal.accounts.models import Membership, Team, TeamGroup, User


def build_team(*, members: int, connections: int, groups: int, name: str = "Scale", seed: int = 7):
    rng = random.Random(seed)
    team = Team.objects.create(name=name)
    users = User.objects.bulk_create([User(email=f"m{i}-{team.pk}@scale.example", password="!")
                                      for i in range(members)])
    roles = ["owner"] + ["admin"] * max(1, members // 20) + ["member"] * members
    memberships = Membership.objects.bulk_create(
        [Membership(team=team, user=u, role=roles[i]) for i, u in enumerate(users)])
    group_rows = TeamGroup.objects.bulk_create([TeamGroup(team=team, name=f"Group {g}") for g in range(groups)])
    through = Membership.groups.through
    through.objects.bulk_create([through(membership_id=m.pk, teamgroup_id=rng.choice(group_rows).pk)
                                 for m in memberships if group_rows and rng.random() < 0.7], ignore_conflicts=True)
    app = ConnectedApp.objects.create(team=team, name="App", consumer_key="k", login_url="https://login.salesforce.com")
    kinds = ["sandbox", "sandbox", "sandbox", "production", "developer", "scratch"]
    conns = OrgConnection.objects.bulk_create([
        OrgConnection(team=team, owner=rng.choice(users), app=app, org_id=f"00D{team.pk:04d}{i:08d}AAA",
                      user_id=f"005{team.pk:04d}{i:08d}AAA", username=f"user{i}@org{i}.example",
                      kind=rng.choice(kinds), is_devhub=(i % 50 == 0), login_url="https://test.salesforce.com",
                      instance_url=f"https://org{i}.my.salesforce.com")
        for i in range(connections)])
    grants = []
    for c in conns:
        if group_rows and rng.random() < 0.6:
            grants.append(Grant(team=team, connection=c, subject_type="group", group=rng.choice(group_rows),
                                level=rng.choice([1, 2, 3])))
        if rng.random() < 0.2:
            grants.append(Grant(team=team, connection=c, subject_type="role", role=rng.choice(["admin", "member"]),
                                level=rng.choice([1, 2])))
        if rng.random() < 0.3:
            grants.append(Grant(team=team, connection=c, subject_type="member", member=rng.choice(users),
                                level=rng.choice([1, 2, 3])))
    Grant.objects.bulk_create(grants, ignore_conflicts=True)
    admin = next(m for m in memberships if m.role == "admin")
    member = next(m for m in memberships if m.role == "member")
    return team, admin, member
