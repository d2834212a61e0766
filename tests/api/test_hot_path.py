"""The access-token hand-out's hot path (issue 6 speed work), proven against the real database:

- a repeated hand-out runs two SQL statements (token + team + user + access version + connection; the audit INSERT);
- the per-process decision cache in `orgs.api.authentication` is dropped by every change that can alter access, as
  database triggers (orgs migration 0004) raise the team's access version, even for writes that bypass the ORM's
  save(); the token's own validity and the connection's state are read live on every call;
- `portal.lib.hotsql` reads and writes the same values the ORM does;
- the PostgreSQL backend's health check notices a connection the server closed.
"""

from __future__ import annotations

import pytest

from orgs.models import Grant, OrgAlias, OrgConnection
from portal.accounts.models import ApiToken, AuditEvent, Membership, TeamAccessVersion, TeamGroup
from tests.api.conftest import SANDBOX_USER, grant
from tests.querycount import count_queries

TOKEN_URL = "/api/v1/orgs/{}/access-token"


def hand_out(client, issued, ident="uat"):
    return client.post(TOKEN_URL.format(ident), **issued.auth)


def version(team) -> int:
    row = TeamAccessVersion.objects.filter(team=team).first()
    return row.version if row else 0


@pytest.fixture
def carol_on_uat(world, orgs, make_token):
    """carol (a plain member) can target alice's sandbox through a direct grant, with her own alias `uat`; her
    token's resolution of `uat` is cached by one hand-out."""
    g = grant(orgs.sandbox, level=Grant.Level.TARGET, member=world.member)
    OrgAlias.objects.create(team=world.team, user=world.member, connection=orgs.sandbox, alias="uat")
    issued = make_token(world.member)
    return issued, g


def warm(client, issued, ident="uat"):
    assert hand_out(client, issued, ident).status_code == 200
    with count_queries() as n:
        assert hand_out(client, issued, ident).status_code == 200
    assert n["n"] == 2, "a cached hand-out is one SELECT and the audit INSERT"


def test_a_repeated_hand_out_is_two_statements_and_still_audited(client, world, orgs, make_token):
    issued = make_token(world.owner)
    with count_queries() as first:
        assert hand_out(client, issued).status_code == 200
    assert first["n"] > 2  # resolved through the selector
    warm(client, issued)
    assert AuditEvent.objects.filter(kind="token.issued").count() == 3


def test_removing_the_grant_takes_effect_on_the_next_call(client, carol_on_uat):
    issued, g = carol_on_uat
    warm(client, issued)
    g.delete()
    assert hand_out(client, issued).status_code == 404


def test_lowering_the_grant_gives_403(client, carol_on_uat):
    issued, g = carol_on_uat
    warm(client, issued)
    Grant.objects.filter(pk=g.pk).update(level=Grant.Level.VIEW)  # a queryset update: no save(), no signal
    assert hand_out(client, issued).status_code == 403


def test_a_group_membership_change_takes_effect(client, world, orgs, make_token):
    carol = Membership.objects.get(team=world.team, user=world.member)
    group = TeamGroup.objects.create(team=world.team, name="QA")
    group.members.add(carol)
    Grant.objects.create(team=world.team, connection=orgs.sandbox, level=Grant.Level.TARGET, subject_type="group",
                         group=group)
    issued = make_token(world.member)
    warm(client, issued, SANDBOX_USER)
    group.members.remove(carol)
    assert hand_out(client, issued, SANDBOX_USER).status_code == 404


def test_a_role_change_takes_effect(client, world, orgs, make_token):
    issued = make_token(world.admin)  # bob, an admin: manage on every team connection
    warm(client, issued, SANDBOX_USER)
    Membership.objects.filter(team=world.team, user=world.admin).update(role="member")
    assert hand_out(client, issued, SANDBOX_USER).status_code == 404


def test_removal_from_the_team_takes_effect(client, world, carol_on_uat):
    issued, _ = carol_on_uat
    warm(client, issued)
    Membership.objects.filter(team=world.team, user=world.member).delete()
    assert hand_out(client, issued).status_code == 404


def test_an_alias_rename_takes_effect(client, world, orgs, make_token):
    issued = make_token(world.owner)
    warm(client, issued)
    OrgAlias.objects.filter(user=world.owner, connection=orgs.sandbox).update(alias="uat2")
    assert hand_out(client, issued, "uat").status_code == 404
    assert hand_out(client, issued, "uat2").status_code == 200


def test_a_new_owner_takes_effect(client, world, orgs, make_token):
    issued = make_token(world.member)  # carol owns the hub and nothing else
    warm(client, issued, "hub")
    OrgConnection.objects.filter(pk=orgs.hub.pk).update(owner=world.admin)
    assert hand_out(client, issued, "hub").status_code == 404


def test_token_revocation_and_connection_state_are_read_live(client, world, orgs, make_token):
    issued = make_token(world.owner)
    warm(client, issued)
    OrgConnection.objects.filter(pk=orgs.sandbox.pk).update(status="needs_reauth", status_reason="revoked")
    assert hand_out(client, issued).status_code == 409
    ApiToken.objects.filter(pk=issued.token.pk).update(revoked_at="2020-01-01T00:00:00Z")
    assert hand_out(client, issued).status_code == 401


def test_a_deleted_connection_is_404(client, world, orgs, make_token):
    issued = make_token(world.owner)
    warm(client, issued)
    orgs.sandbox.delete()
    assert hand_out(client, issued).status_code == 404


def test_every_access_relevant_write_raises_the_version_and_refreshes_do_not(world, orgs):
    team = world.team
    other_before = version(world.other_team)
    carol = Membership.objects.get(team=team, user=world.member)
    steps = {
        "grant added": lambda: grant(orgs.sandbox, level=Grant.Level.VIEW, member=world.member),
        "grant changed": lambda: Grant.objects.filter(team=team).update(level=Grant.Level.TARGET),
        "grant removed": lambda: Grant.objects.filter(team=team).delete(),
        "group created": lambda: TeamGroup.objects.create(team=team, name="QA"),
        "group member added": lambda: TeamGroup.objects.get(team=team).members.add(carol),
        "group member removed": lambda: TeamGroup.objects.get(team=team).members.remove(carol),
        "group deleted": lambda: TeamGroup.objects.filter(team=team).delete(),
        "role changed": lambda: Membership.objects.filter(pk=carol.pk).update(role="admin"),
        "alias renamed": lambda: OrgAlias.objects.filter(connection=orgs.hub).update(alias="hub2"),
        "owner changed": lambda: OrgConnection.objects.filter(pk=orgs.hub.pk).update(owner=world.owner),
        "username changed": lambda: OrgConnection.objects.filter(pk=orgs.hub.pk).update(username="x@example.com"),
        "connection deleted": lambda: OrgConnection.objects.filter(pk=orgs.hub.pk).delete(),
        "member removed": lambda: Membership.objects.filter(pk=carol.pk).delete(),
    }
    for name, step in steps.items():
        before = version(team)
        step()
        assert version(team) > before, name
    before = version(team)
    sandbox = OrgConnection.objects.get(pk=orgs.sandbox.pk)
    sandbox.seal("access_token", "00Dnew!token")
    sandbox.status, sandbox.status_reason = "degraded", "timeout"
    sandbox.save()  # what a refresh or a failure writes: no access change
    assert version(team) == before
    assert version(world.other_team) == other_before  # per team


def test_hotsql_reads_what_the_orm_reads(world, orgs, make_token):
    from orgs.api import authentication

    issued = make_token(world.owner, expires_at=None)
    token_hash = issued.token.token_hash
    authentication._DECISIONS[(token_hash, "uat")] = (0, orgs.sandbox.pk, None, None)  # a cached decision
    token = authentication.authenticate(raw=issued.raw, ident="uat")
    orm = ApiToken.objects.select_related("team", "user").get(pk=issued.token.pk)
    for fast, slow in ((token, orm), (token.team, orm.team), (token.user, orm.user),
                       (token.cached_connection, OrgConnection.objects.get(pk=orgs.sandbox.pk))):
        for field in slow._meta.concrete_fields:
            if field.attname not in ("last_used_at", "last_used_ip"):  # authenticate notes the use
                assert getattr(fast, field.attname) == getattr(slow, field.attname), field.name
    assert token.access_version == version(world.team)
    assert token.cached_connection.reveal("access_token") == orgs.sandbox.reveal("access_token")
    authentication._DECISIONS[(token_hash, "gone")] = (0, 10**9, None, None)
    missing = authentication.authenticate(raw=issued.raw, ident="gone")
    assert missing is not None and missing.cached_connection is None
    other_team = OrgConnection.objects.filter(team=world.other_team).first()
    if other_team is not None:  # a cached id never reaches another team's row
        authentication._DECISIONS[(token_hash, "other")] = (0, other_team.pk, None, None)
        assert authentication.authenticate(raw=issued.raw, ident="other").cached_connection is None
    authentication._DECISIONS.clear()


def test_hotsql_insert_stores_what_the_orm_would(world):
    from portal.accounts.services import audit_record

    event = audit_record(team=world.team, actor=world.owner, kind="token.issued", subject="uat", ip="10.1.2.3",
                         data={"token_sha256": "ab" * 8, "nested": {"ok": True}, "text": "ünïcode"})
    stored = AuditEvent.objects.get(pk=event.pk)
    assert (stored.team_id, stored.actor_id, stored.actor_label, stored.kind, stored.subject, stored.ip) == \
        (world.team.pk, world.owner.pk, world.owner.email, "token.issued", "uat", "10.1.2.3")
    assert stored.data == {"token_sha256": "ab" * 8, "nested": {"ok": True}, "text": "ünïcode"}
    assert stored.created_at == event.created_at


@pytest.mark.postgres
def test_the_health_check_notices_a_connection_the_server_closed(db):
    import time

    from django.db import connection

    from portal.lib.postgres.base import DatabaseWrapper

    other = DatabaseWrapper({**connection.settings_dict}, alias="health-check-test")
    other.ensure_connection()
    try:
        assert other.is_usable()
        pid = other.connection.info.backend_pid
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
        deadline = time.monotonic() + 5
        while other.is_usable() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not other.is_usable()
    finally:
        other.close()
