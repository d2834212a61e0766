"""The Django admin is safe to use (issue 19, item 11): the org models have read-only pages; nothing in the admin
adds, changes or deletes memberships, roles, grants or invitations (they go through the audited services); no page
shows a secret, not even as ciphertext; and no list page queries once per row."""

import hashlib
import secrets
from datetime import timedelta

import pytest
from allauth.mfa.models import Authenticator
from allauth.usersessions.models import UserSession
from django.contrib import admin
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from orgs.models import (
    AccessPolicy,
    AccessRequest,
    AccessReview,
    AccessReviewItem,
    AlertChannel,
    AlertDelivery,
    ConnectedApp,
    Grant,
    OidcIssuer,
    OidcTokenUse,
    OrgAlias,
    OrgConnection,
    PendingRevocation,
    Sandbox,
    SandboxSync,
    ScratchOrg,
    SealedField,
    SigningKey,
    TrustPolicy,
)
from portal.accounts.adapter import MFAAdapter
from portal.accounts.models import ApiToken, Invitation, Membership, Team, TeamGroup, User
from portal.accounts.services import team_create
from portal.lib.admin import ReadOnlyModelAdmin
from tests.accounts.test_admin_login import admin_urls  # noqa: F401 - the fixture mounting the admin
from tests.canaries import find_leaks, new_canary
from tests.conftest import make_user

# The only admin pages that may write: Django's own user editing (without deleting users, and with memberships
# read-only), its permission groups, and allauth's email addresses. Everything else must be a ReadOnlyModelAdmin.
EDITABLE = {"accounts.User", "auth.Group", "account.EmailAddress"}


class Secrets:
    """Every secret seeded: plaintext canaries and the stored values (ciphertext, hashes, session keys)."""

    def __init__(self):
        self.plain: dict[str, str] = {}
        self.stored: dict[str, str] = {}

    def canary(self, label: str) -> str:
        value = new_canary(label)
        self.plain[f"{label}{len(self.plain)}"] = value
        return value

    def seal(self, row, field: str) -> None:
        row.seal(field, self.canary(field))

    def keep_stored(self, label: str, value: str) -> None:
        self.stored[f"{label}{len(self.stored)}"] = value

    def leaks(self, page: str) -> list[str]:
        found = find_leaks(page, self.plain)
        for label, value in self.stored.items():
            # An envelope is VERSION.kid.b64.b64.b64: any of its long parts on a page is a leak.
            parts = [value] + [part for part in value.split(".") if len(part) >= 16]
            found += [f"{label}:{part[:12]}…" for part in parts if part in page]
        return found


def seed_team(n: int, box: Secrets) -> None:
    """One team with one row of every model the admin shows, every secret column filled with a canary."""
    now = timezone.now()
    owner = make_user(f"owner{n}@example.com")
    member_user = make_user(f"member{n}@example.com")
    team = team_create(user=owner, name=f"Team {n}")
    member = Membership.objects.create(team=team, user=member_user, role=Membership.Role.MEMBER)
    group = TeamGroup.objects.create(team=team, name="QA")
    group.members.add(member)
    raw_token = box.canary("apitoken")
    token = ApiToken.objects.create(team=team, kind=ApiToken.Kind.SERVICE, name=f"ci{n}",
                                    token_hash=hashlib.sha256(raw_token.encode()).hexdigest(), hint="op_abc")
    box.keep_stored("token_hash", token.token_hash)
    Invitation.objects.create(team=team, email=f"invited{n}@example.com", invited_by=owner)

    key = SigningKey(team=team, name="key", certificate_pem="-----BEGIN CERTIFICATE-----", subject="CN=ci",
                     not_before=now, not_after=now + timedelta(days=365), fingerprint_sha256="aa:bb", key_size=2048,
                     created_by=owner)
    box.seal(key, "private_key")
    key.save()
    app = ConnectedApp(team=team, name="app", consumer_key=f"3MVG9app{n}", signing_key=key, created_by=owner)
    box.seal(app, "consumer_secret")
    box.seal(app, "pending_consumer_secret")
    app.save()
    conn = OrgConnection(team=team, owner=owner, app=app, org_id=f"00D{n:015d}", user_id=f"005{n:015d}",
                         username=f"admin{n}@acme.example", kind=OrgConnection.Kind.PRODUCTION, is_devhub=True,
                         login_url="https://login.salesforce.com", instance_url="https://acme.my.salesforce.com")
    for field in ("refresh_token", "access_token", "previous_access_token"):
        box.seal(conn, field)
    conn.save()
    revocation = PendingRevocation(team=team, connection=conn, purpose=PendingRevocation.Purpose.DISCONNECT,
                                   token_kind="refresh", instance_url=conn.instance_url, username=conn.username,
                                   org_id=conn.org_id, actor=owner)
    box.seal(revocation, "token")
    revocation.save()
    OrgAlias.objects.create(team=team, user=owner, connection=conn, alias=f"prod{n}", is_default_org=True)
    grant = Grant.objects.create(team=team, connection=conn, level=Grant.Level.TARGET, subject_type="member",
                                 member=member_user, created_by=owner)
    Grant.objects.create(team=team, connection=conn, level=Grant.Level.VIEW, subject_type="group", group=group)
    Grant.objects.create(team=team, connection=conn, level=Grant.Level.TARGET, subject_type="service",
                         service_token=token)
    Grant.objects.create(team=team, connection=conn, level=Grant.Level.VIEW, subject_type="role", role="member")
    ScratchOrg.objects.create(team=team, dev_hub=conn, scratch_org_info_id=f"2SR{n:012d}", status="Active",
                              signup_username=f"scratch{n}@example.com", requested_by=member_user, connection=conn)
    Sandbox.objects.create(team=team, production=conn, name=f"uat{n}", connection=conn, requested_by=member_user)
    SandboxSync.objects.create(production=conn, synced_at=now)
    issuer = OidcIssuer.objects.create(team=team, kind=OidcIssuer.Kind.GITHUB,
                                       issuer=f"https://token.actions.example/{n}",
                                       jwks_uri=f"https://token.actions.example/{n}/jwks")
    policy = TrustPolicy.objects.create(team=team, name="deploy", issuer=issuer, audience="orgportal",
                                        created_by=owner)
    policy.connections.add(conn)
    OidcTokenUse.objects.create(issuer=issuer, jti=f"jti{n}", expires_at=now)
    AccessPolicy.objects.create(team=team, connection=conn, approver_group=group, updated_by=owner)
    AccessRequest.objects.create(team=team, connection=conn, requester=member_user, level=Grant.Level.TARGET,
                                 minutes=60, reason="deploy", decide_by=now, decided_by=owner, ended_by=owner)
    review = AccessReview.objects.create(team=team, name="Q1", deadline=now, created_by=owner)
    review.connections.add(conn)
    AccessReviewItem.objects.create(team=team, review=review, grant=grant, org=conn.username, subject="carol",
                                    level="target", decided_by=owner)
    channel = AlertChannel(team=team, kind=AlertChannel.Kind.WEBHOOK, name="hook",
                           url_display="https://hooks.example", created_by=owner)
    channel.seal("url", "https://hooks.example/" + box.canary("webhookurl"))
    box.seal(channel, "secret")
    channel.save()
    AlertDelivery.objects.create(channel=channel, event="needs_reauth", payload={"org": conn.username})
    totp_seed = box.canary("totp")
    authenticator = Authenticator.objects.create(user=owner, type=Authenticator.Type.TOTP,
                                                 data={"secret": MFAAdapter().encrypt(totp_seed)})
    box.keep_stored("totp_ciphertext", authenticator.data["secret"])
    session = UserSession.objects.create(user=owner, session_key=secrets.token_hex(16), ip="127.0.0.1",
                                         user_agent="pytest", last_seen_at=now, created_at=now, data={})
    box.keep_stored("session_key", session.session_key)

    for row, model in ((key, SigningKey), (app, ConnectedApp), (conn, OrgConnection),
                       (revocation, PendingRevocation), (channel, AlertChannel)):
        stored = model.objects.values(*model.sealed_field_names()).get(pk=row.pk)
        for field, value in stored.items():
            assert value, (model, field)
            box.keep_stored(field, value)


@pytest.fixture
def operator(db, admin_urls, client):  # noqa: F811
    root = make_user("root@example.com", is_staff=True, is_superuser=True)
    client.force_login(root)
    return client


def registered():
    return sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)


def changelist_url(model) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


def admin_url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def test_every_org_model_and_every_access_model_is_in_the_admin_read_only():
    labels = {model._meta.label for model, _ in registered()}
    for model in (SigningKey, ConnectedApp, OrgConnection, PendingRevocation, OrgAlias, Grant, ScratchOrg, Sandbox,
                  SandboxSync, OidcIssuer, TrustPolicy, AccessPolicy, AccessRequest, AccessReview,
                  AccessReviewItem, AlertChannel, AlertDelivery, Team, Invitation, TeamGroup, ApiToken):
        assert model._meta.label in labels, model
    request = None
    for model, model_admin in registered():
        if model._meta.label in EDITABLE:
            continue
        assert isinstance(model_admin, ReadOnlyModelAdmin), model
        assert model_admin.has_add_permission(request) is False, model
        assert model_admin.has_change_permission(request) is False, model
        assert model_admin.has_delete_permission(request) is False, model
        assert not model_admin.actions, model
        for inline in model_admin.inlines:
            inline = inline(model, admin.site)
            assert not inline.has_add_permission(request, None), inline
            assert not inline.has_change_permission(request) and not inline.has_delete_permission(request), inline
    user_admin = admin.site._registry[User]
    assert user_admin.has_delete_permission(request) is False
    for inline in user_admin.inlines:
        inline = inline(User, admin.site)
        assert not (inline.has_add_permission(request, None) or inline.has_change_permission(request)
                    or inline.has_delete_permission(request))
        assert set(inline.fields) <= set(inline.get_readonly_fields(request)), "no membership field is a form field"


def test_every_sealed_column_is_excluded_by_name():
    for model, model_admin in registered():
        sealed = {f.name for f in model._meta.get_fields() if isinstance(f, SealedField)}
        assert sealed <= set(model_admin.exclude or ()), model
        if isinstance(model_admin, ReadOnlyModelAdmin):
            assert not sealed & set(model_admin.get_fields(None)), model


@pytest.mark.postgres
def test_no_page_shows_a_secret_or_its_ciphertext(operator):
    box = Secrets()
    for n in range(2):
        seed_team(n, box)
    assert len(box.stored) >= 2 * 11
    checked = 0
    for model, _model_admin in registered():
        page = operator.get(changelist_url(model))
        assert page.status_code == 200, (model, page.status_code)
        assert box.leaks(page.content.decode()) == [], model
        for obj in model.objects.all()[:3]:
            page = operator.get(admin_url(model, "change", obj.pk))
            assert page.status_code == 200, (model, page.status_code)
            assert box.leaks(page.content.decode()) == [], (model, obj.pk)
            checked += 1
    assert checked >= len(registered()) - 1  # every model has rows (Group may not)
    # The detector works: a page with the values on it is caught.
    conn = OrgConnection.objects.first()
    assert box.leaks(f"<td>{conn.refresh_token}</td>") and box.leaks(conn.reveal("refresh_token"))
    # And the read-only pages do show the row (the field list is not simply empty).
    page = operator.get(admin_url(OrgConnection, "change", conn.pk)).content.decode()
    assert conn.username in page and conn.instance_url in page and str(conn.code) in page


@pytest.mark.postgres
def test_list_pages_cost_the_same_queries_for_2_rows_and_for_20(operator):
    box = Secrets()

    def counts() -> dict[str, int]:
        found = {}
        for model, _model_admin in registered():
            with CaptureQueriesContext(connection) as queries:
                response = operator.get(changelist_url(model))
            assert response.status_code == 200, model
            found[model._meta.label] = len(queries)
        return found

    for n in range(2):
        seed_team(n, box)
    with_2 = counts()
    for n in range(2, 20):
        seed_team(n, box)
    assert OrgConnection.objects.count() == 20 and Grant.objects.count() == 80
    assert counts() == with_2


@pytest.mark.postgres
def test_posting_to_the_admin_changes_no_membership_role_grant_or_invitation(operator):
    box = Secrets()
    seed_team(0, box)
    seed_team(1, box)
    team = Team.objects.get(name="Team 0")
    membership = Membership.objects.get(team=team, user__email="member0@example.com")
    grant = Grant.objects.filter(team=team, subject_type="member").get()
    invitation = Invitation.objects.get(team=team)
    before = {
        "memberships": sorted(Membership.objects.values_list("team_id", "user_id", "role")),
        "grants": sorted(Grant.objects.values_list("connection_id", "subject_type", "level", "member_id", "role")),
        "invitations": sorted(Invitation.objects.values_list("email", "role", "revoked_at")),
        "teams": sorted(Team.objects.values_list("name", "share_production_policy")),
        "groups": sorted(TeamGroup.members.through.objects.values_list("teamgroup_id", "membership_id")),
    }
    inline = {"memberships-TOTAL_FORMS": "2", "memberships-INITIAL_FORMS": "1", "memberships-MIN_NUM_FORMS": "0",
              "memberships-MAX_NUM_FORMS": "1000", "memberships-0-id": str(membership.pk),
              "memberships-0-team": str(team.pk), "memberships-0-role": "owner", "memberships-0-DELETE": "on",
              "memberships-1-team": str(team.pk), "memberships-1-user": str(membership.user_id),
              "memberships-1-role": "owner"}
    attempts = [
        (admin_url(Team, "change", team.pk), {"name": "Renamed", "share_production_policy": "managers", **inline}),
        (admin_url(Team, "add"), {"name": "New team"}),
        (admin_url(Team, "delete", team.pk), {"post": "yes"}),
        (admin_url(Grant, "change", grant.pk), {"level": "3"}),
        (admin_url(Grant, "add"), {"team": team.pk, "connection": grant.connection_id, "level": "3",
                                   "subject_type": "role", "role": "member"}),
        (admin_url(Grant, "delete", grant.pk), {"post": "yes"}),
        (admin_url(Invitation, "change", invitation.pk), {"role": "owner", "email": "x@example.com"}),
        (admin_url(Invitation, "add"), {"team": team.pk, "email": "new@example.com", "role": "owner"}),
        (admin_url(Invitation, "delete", invitation.pk), {"post": "yes"}),
        (admin_url(TeamGroup, "change", membership.groups.get().pk), {"name": "x", "members": []}),
        (admin_url(User, "delete", membership.user_id), {"post": "yes"}),
    ]
    for url, data in attempts:
        assert operator.post(url, data).status_code == 403, url
    # Bulk actions are gone too (no "delete selected").
    response = operator.post(changelist_url(Grant), {"action": "delete_selected", "_selected_action": [grant.pk],
                                                     "post": "yes"})
    assert Grant.objects.filter(pk=grant.pk).exists() and response.status_code in (200, 302)

    # The user page still edits the user, but its membership rows are display only: posting them changes nothing.
    user = membership.user
    response = operator.post(admin_url(User, "change", user.pk), {
        "email": user.email, "first_name": "Carol", "last_name": "Renamed", "is_active": "on",
        "last_login_0": "", "last_login_1": "", "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00",
        **{key.replace("memberships-0-team", "memberships-0-user"): value for key, value in inline.items()}})
    assert response.status_code == 302, response.content.decode()[:3000]
    user.refresh_from_db()
    assert user.last_name == "Renamed"
    after = {
        "memberships": sorted(Membership.objects.values_list("team_id", "user_id", "role")),
        "grants": sorted(Grant.objects.values_list("connection_id", "subject_type", "level", "member_id", "role")),
        "invitations": sorted(Invitation.objects.values_list("email", "role", "revoked_at")),
        "teams": sorted(Team.objects.values_list("name", "share_production_policy")),
        "groups": sorted(TeamGroup.members.through.objects.values_list("teamgroup_id", "membership_id")),
    }
    assert after == before
    assert not Group.objects.exists()  # nothing else crept in
