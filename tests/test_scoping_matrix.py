"""Team scoping, for every URL that takes an object id: who gets 404, who gets 403, who gets through.

The URL list comes from the resolver (portal, accounts, orgs, the API; not allauth or the admin). Every URL with a
path parameter must be classified in `PAGES` (or `NOT_MATRIXED` / `API`), so whoever adds one states who may use it:
`test_every_url_with_an_id_is_classified` fails otherwise.

The world: two teams (Acme, Globex), each with every object kind (connected app, signing key, a sandbox and a
production Dev Hub connection, grants, a group, memberships, an invitation, personal and service API tokens, scratch
orgs). Acme's people, one per way of relating to an org:

    owner, admin            team roles (manage on every org)
    manager/targeter/viewer a plain member with a manage/target/view grant on both orgs
    nogrant                 a plain member with no grant
    dual                    a plain member of Acme who is an ADMIN of Globex (a removed team filter that mixes
                            memberships across teams shows up here)
    outsider                Globex's owner, not in Acme

Each (URL, method, actor) is checked against the expectation table: outsiders 404, objects of the other team
addressed through one's own team 404 (for everybody, owners included), too low a role or level 403, anything else
must not be 403/404 (2xx, 3xx and 400 are fine). Allowed POSTs are sent empty where that fails validation harmlessly,
and every request runs in a savepoint that is rolled back, so one case never changes the next. Pages that render
must not mention any object of the other team.

Everything is collected and reported in one assertion message (one line per mismatch), so a run takes seconds.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass, field

import pytest
from django.db import transaction
from django.http import Http404
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from orgs.models import ConnectedApp, Grant, OrgConnection, ScratchOrg, SigningKey
from portal.accounts.models import Invitation, Membership, TeamGroup
from tests.conftest import make_user

pytestmark = [pytest.mark.postgres]

OK = "ok"  # anything but 403/404 (and no 405, no 500, no trip to the sign-in page)

# -- the people and what each may do in Acme (written out, not asked of the funnel) --------------------------------

ACME_ACTORS = ["owner", "admin", "manager", "targeter", "viewer", "nogrant", "dual"]
ACTORS = ACME_ACTORS + ["outsider"]
ROLE_RANK = {"owner": 3, "admin": 2}  # everybody else in Acme is a plain member (1)
ORG_LEVEL = {"owner": 3, "admin": 3, "manager": 3, "targeter": 2, "viewer": 1}  # on both Acme orgs; others 0


def rank(actor):
    return ROLE_RANK.get(actor, 1)


def level(actor):
    return ORG_LEVEL.get(actor, 0)


# Rules: actor (of Acme) -> OK / 403 / 404. The outsider and cross-team ids are always 404.

def member(actor, case):
    return OK


def admin(actor, case):
    return OK if rank(actor) >= 2 else 403


def org_level(need):
    def rule(actor, case):
        if level(actor) == 0:
            return 404
        return OK if level(actor) >= need else 403
    return rule


def share(actor, case):
    """Managers share; the production Dev Hub only team admins (the default policy)."""
    if level(actor) == 0:
        return 404
    if level(actor) < 3:
        return 403
    if case.get("connection") == "production" and rank(actor) < 2:
        return 403
    return OK


def manage_member(actor, case):
    """Admins manage members and admins; only owners manage owners."""
    if rank(actor) < 2:
        return 403
    target_rank = 3 if case["member"] == "owner" else 1
    return OK if rank(actor) >= target_rank else 403


def revoke_token(actor, case):
    """Own personal tokens; service tokens for admins; other people's personal tokens are invisible (404)."""
    if case["token"] == "own":
        return OK
    if case["token"] == "owners-personal":
        return OK if actor == "owner" else 404
    return OK if rank(actor) >= 2 else 403


def delete_scratch(actor, case):
    """Needs sight of the Dev Hub; then its creator (the targeter made `targeters`) or a manager of the hub."""
    if level(actor) == 0:
        return 404
    if level(actor) >= 3 or (case["scratch_org"] == "targeters" and actor == "targeter"):
        return OK
    return 403


def production_tab(need):
    """The Sandboxes tab of a production org: sight of it to see, manage to change; a sandbox connection has none."""
    base = org_level(need)

    def rule(actor, case):
        if case.get("connection") == "sandbox":
            return 404
        return base(actor, case)
    return rule


def access_policy(actor, case):
    """An org's access-on-request policy: sight of the org, then team admins."""
    if level(actor) == 0:
        return 404
    return OK if rank(actor) >= 2 else 403


REQUESTER = "targeter"  # Acme's pending access request (on the production org) is the targeter's


def see_request(actor, case):
    """An access request: its requester, the approvers (team admins by default) and team admins; others 404."""
    return OK if actor == REQUESTER or rank(actor) >= 2 else 404


def decide_request(actor, case):
    """Approve/deny: approvers other than the requester (403 for their own)."""
    if actor == REQUESTER:
        return 403
    return see_request(actor, case)


def end_request(actor, case):
    """End early / cancel (the empty POST): the requester only; admins revoke with action=revoke instead (403)."""
    if actor == REQUESTER:
        return OK
    return 403 if rank(actor) >= 2 else 404


CONNECTIONS = [{"connection": "sandbox"}, {"connection": "production"}]
MEMBERS = [{"member": "nogrant"}, {"member": "owner"}]


@dataclass
class Page:
    methods: tuple[str, ...]
    rule: object
    cases: list[dict] = field(default_factory=lambda: [{}])  # object params -> variant (besides `team`)


G, P, GP = ("GET",), ("POST",), ("GET", "POST")

# Every URL with a path parameter: the methods it answers, who may use it, and with which objects.
PAGES: dict[str, Page] = {
    "team_dashboard": Page(G, member),
    # people side
    "accounts:team_switch": Page(P, member),
    "accounts:team_members": Page(G, member),
    "accounts:member_invite": Page(P, admin),
    "accounts:member_role": Page(P, manage_member, MEMBERS),
    "accounts:invitation_revoke": Page(P, admin, [{"invitation": "pending"}]),
    "accounts:invitation_resend": Page(P, admin, [{"invitation": "pending"}]),
    "accounts:audit_log": Page(G, admin),
    "accounts:notices": Page(GP, member),
    "accounts:token_list": Page(GP, member),
    "accounts:token_revoke": Page(P, revoke_token, [{"token": "own"}, {"token": "owners-personal"},
                                                    {"token": "service"}]),
    # connected apps and keys
    "orgs:app_list": Page(G, member),
    "orgs:app_create": Page(GP, admin),
    "orgs:app_detail": Page(G, admin, [{"app": "main"}]),
    "orgs:app_edit": Page(GP, admin, [{"app": "main"}]),
    "orgs:app_secret": Page(P, admin, [{"app": "main"}]),
    "orgs:app_delete": Page(GP, admin, [{"app": "main"}]),
    "orgs:key_list": Page(G, admin),
    "orgs:key_upload": Page(GP, admin),
    "orgs:key_generate": Page(GP, admin),
    "orgs:key_detail": Page(G, admin, [{"key": "main"}]),
    "orgs:key_certificate": Page(G, admin, [{"key": "main"}]),
    "orgs:key_delete": Page(GP, admin, [{"key": "main"}]),
    # connections
    "orgs:org_list": Page(G, member),
    "orgs:connect": Page(GP, member),
    "orgs:jwt_connect": Page(GP, admin),
    "orgs:org_rename": Page(P, org_level(2), CONNECTIONS),
    "orgs:org_default": Page(P, org_level(2), CONNECTIONS),
    "orgs:org_reconnect": Page(P, org_level(3), CONNECTIONS),
    "orgs:org_disconnect": Page(GP, org_level(3), CONNECTIONS),
    "orgs:org_check": Page(GP, org_level(3), CONNECTIONS),
    "orgs:token": Page(P, org_level(2), CONNECTIONS),
    "orgs:open": Page(P, org_level(2), CONNECTIONS),
    # sharing
    "orgs:org_access": Page(G, org_level(1), CONNECTIONS),
    "orgs:grant_add": Page(P, share, CONNECTIONS),
    "orgs:grant_update": Page(P, share, [{"connection": c, "grant": c} for c in ("sandbox", "production")]),
    "orgs:matrix": Page(G, member),
    "orgs:groups": Page(GP, admin),
    "orgs:member_profile": Page(G, member, MEMBERS),
    # offboarding
    "orgs:member_remove": Page(GP, manage_member, MEMBERS),
    "orgs:team_leave": Page(GP, member),
    # operations
    "orgs:health": Page(G, member),
    "orgs:scratch_orgs": Page(G, member),
    "orgs:hub_scratch_orgs": Page(G, org_level(1), CONNECTIONS),
    "orgs:scratch_create": Page(GP, org_level(2), CONNECTIONS),
    "orgs:scratch_delete": Page(P, delete_scratch, [{"scratch_org": "targeters"}, {"scratch_org": "owners"}]),
    "orgs:scratch_org": Page(G, org_level(1), [{"scratch_org": "targeters"}, {"scratch_org": "owners"}]),
    "orgs:scratch_org_status": Page(G, org_level(1), [{"scratch_org": "targeters"}]),
    # sandboxes of a production org (the sandbox objects belong to the production Dev Hub)
    "orgs:sandboxes": Page(G, production_tab(1), CONNECTIONS),
    "orgs:sandbox_create": Page(GP, production_tab(3), CONNECTIONS),
    "orgs:sandbox_sync": Page(P, production_tab(3), CONNECTIONS),
    "orgs:sandbox_row": Page(G, org_level(1), [{"sandbox": "main"}]),
    "orgs:sandbox_refresh": Page(P, org_level(3), [{"sandbox": "main"}]),
    "orgs:sandbox_delete": Page(GP, org_level(3), [{"sandbox": "main"}]),
    "orgs:sandbox_retry": Page(P, org_level(3), [{"sandbox": "main"}]),
    "orgs:sandbox_dismiss": Page(P, org_level(3), [{"sandbox": "main"}]),
    # time-boxed access (issue 18)
    "orgs:access_requests": Page(GP, member),
    "orgs:access_policy": Page(P, access_policy, CONNECTIONS),
    "orgs:access_reviews": Page(GP, admin),
    "orgs:access_review": Page(G, admin, [{"review": "main"}]),
    "orgs:access_review_item": Page(P, admin, [{"review": "main", "item": "main"}]),
    "orgs:access_review_finish": Page(P, admin, [{"review": "main"}]),
    "orgs:access_request": Page(G, see_request, [{"request_code": "main"}]),
    "orgs:access_request_status": Page(G, see_request, [{"request_code": "main"}]),
    "orgs:access_request_decide": Page(P, decide_request, [{"request_code": "main"}]),
    "orgs:access_request_end": Page(P, end_request, [{"request_code": "main"}]),
    # CI trust policies (team admins)
    "orgs:policy_list": Page(G, admin),
    "orgs:policy_create": Page(GP, admin),
    "orgs:policy_detail": Page(GP, admin, [{"policy": "main"}]),
    "orgs:policy_edit": Page(GP, admin, [{"policy": "main"}]),
    "orgs:policy_toggle": Page(P, admin, [{"policy": "main"}]),
    "orgs:policy_delete": Page(P, admin, [{"policy": "main"}]),
    # alert channels (team admins)
    "orgs:alert_channels": Page(GP, admin),
    "orgs:alert_channel_delete": Page(P, admin, [{"channel": "alert"}]),
}

# Checked by test_api_scoping below (bearer tokens, not sessions).
API = {"api:org", "api:access_token", "api:trust_policy"}

# URLs with a parameter that is not a team object id, and why they are outside the matrix.
NOT_MATRIXED = {
    "accounts:invitation": "the path holds the invitation's secret link token, not an id; "
                           "tests/accounts/test_invitations.py",
    "api/v1/^(?P<rest>.*)$": "the API's JSON 404 for unknown paths",
    "api:sandboxes": "the production org's funnel (orgs.access.production_for_sandboxes) as the pages above; "
                     "tests/sandboxes/test_api.py::test_api_permissions",
    "api:sandbox": "as api:sandboxes",
    "api:sandbox_refresh": "as api:sandboxes",
    "api:open": "the hand-out's funnel (orgs.api.authentication.resolve at target level) as api:access_token; "
                "tests/api/test_conventions.py::test_open_gives_a_single_use_url_to_targeters_only",
    "api:scratch_orgs": "the Dev Hub's funnel (resolve + orgs.access.can_create_scratch_org); "
                        "tests/api/test_scratch_api.py::test_scratch_api_permissions",
    "api:scratch_org": "as api:scratch_orgs (+ orgs.access.can_delete_scratch_org); "
                       "tests/api/test_scratch_api.py::test_scratch_api_permissions",
    "cli_completions": "the shell's name (bash, zsh, fish), public like the CLI download; "
                       "tests/api/test_cli_standalone.py",
    "api:access_request": "orgs.access.access_request_for_api_token (the pages' funnel): "
                          "tests/access_requests/test_time_boxed.py::test_api_requests_and_decisions",
    "api:access_request_action": "as api:access_request",
}

# Which kind of object each path parameter names.
PARAM_KIND = {"app": "app", "key": "key", "connection": "connection", "grant": "grant", "member": "member",
              "invitation": "invitation", "token": "token", "scratch_org": "scratch_org", "sandbox": "sandbox",
              "policy": "policy", "request_code": "access_request",
              "review": "review", "item": "review_item", "channel": "channel"}


# -- URL enumeration -----------------------------------------------------------------------------------------------

def _walk(patterns, prefix="", namespace=""):
    for p in patterns:
        if isinstance(p, URLResolver):
            module = p.urlconf_name if isinstance(p.urlconf_name, str) else getattr(p.urlconf_name, "__name__", "")
            if str(module).startswith("allauth") or p.app_name == "admin":
                continue
            ns = f"{namespace}{p.namespace}:" if p.namespace else namespace
            yield from _walk(p.url_patterns, prefix + str(p.pattern), ns)
        elif isinstance(p, URLPattern):
            route = prefix + str(p.pattern)
            key = f"{namespace}{p.name}" if p.name else route
            yield key, route, p


def _params_of(route):
    return set(re.findall(r"<(?:\w+:)?(\w+)>", route)) | set(re.findall(r"\(\?P<(\w+)>", route))


def project_urls() -> dict[str, tuple[str, set[str]]]:
    """{name (or route when unnamed): (route, parameter names)} for every URL of the project's own apps."""
    return {key: (route, _params_of(route)) for key, route, _ in _walk(get_resolver().url_patterns)}


def test_every_url_with_an_id_is_classified():
    """A new URL with an object id fails here until it is added to PAGES (who may use it) or NOT_MATRIXED (why
    not); a stale entry fails too."""
    urls = project_urls()
    with_params = {key for key, (_, params) in urls.items() if params}
    classified = set(PAGES) | API | set(NOT_MATRIXED)
    assert not with_params - classified, f"URLs with an id missing from the scoping matrix: {with_params - classified}"
    assert not classified - with_params, f"stale entries in the scoping matrix: {classified - with_params}"
    problems = []
    for name, page in PAGES.items():
        expected = {"team"} | {p for case in page.cases for p in case}
        if urls[name][1] != expected:
            problems.append(f"{name}: route has {sorted(urls[name][1])}, table names {sorted(expected)}")
        unknown = {p for case in page.cases for p in case} - set(PARAM_KIND)
        if unknown:
            problems.append(f"{name}: unknown parameter kinds {unknown}")
    assert not problems, "\n".join(problems)


# -- the world -----------------------------------------------------------------------------------------------------

@dataclass
class Scope:
    """One team's objects: `objects[(kind, variant)]` is a model instance with a `code`."""
    team: object
    objects: dict
    members: dict  # actor name -> Membership
    personal: dict  # actor name -> (ApiToken, raw)
    service: tuple  # (ApiToken, raw)
    connections: dict  # "sandbox"/"production" -> OrgConnection


def _team_objects(team, owner_membership, prefix, people, *, grants):
    from orgs.services.apps import connected_app_create, signing_key_upload
    from portal.accounts.tokens import api_token_create
    from tests.registrations.keyfactory import certificate, private_pem, rsa_key
    from tests.sharing.conftest import make_connection

    rsa = rsa_key()
    key = signing_key_upload(actor=owner_membership, name=f"{prefix}-key", private_key=private_pem(rsa),
                             certificate=certificate(rsa, cn=prefix))
    app = connected_app_create(actor=owner_membership, name=f"{prefix}-app", consumer_key=f"{prefix}-consumer-key",
                               consumer_secret=f"{prefix}-consumer-secret-0000", login_url="https://login.salesforce.com",
                               scopes="api refresh_token web", require_pkce=True, signing_key=key)
    owner = owner_membership.user
    conns = {
        "sandbox": make_connection(team, owner, app, username=f"dev@{prefix}.example.uat"),
        "production": make_connection(team, owner, app, username=f"admin@{prefix}.example", kind="production",
                                      is_devhub=True),
    }
    for connection in conns.values():  # a fresh cached access token: hand-outs need no Salesforce
        connection.seal("refresh_token", f"{prefix}-refresh-{connection.pk}")
        connection.seal("access_token", f"{prefix}-access-{connection.pk}")
        connection.access_token_issued_at = timezone.now()
        connection.save()
    members = {name: Membership.objects.get(team=team, user=user) for name, user in people.items()}
    personal = {name: api_token_create(actor=m, kind="personal", name=f"{prefix}-{name}")
                for name, m in members.items()}
    service = api_token_create(actor=owner_membership, kind="service", name=f"{prefix}-ci")
    objects = {("app", "main"): app, ("key", "main"): key,
               ("invitation", "pending"): Invitation.objects.create(team=team, email=f"newbie@{prefix}.example",
                                                                    invited_by=owner),
               ("token", "service"): service[0], ("token", "owners-personal"): personal["owner"][0]}
    objects[("group", "main")] = TeamGroup.objects.create(team=team, name=f"{prefix}-group")
    for variant, connection in conns.items():
        objects[("connection", variant)] = connection
        made = [Grant.objects.create(team=team, connection=connection, subject_type="member", member=people[who],
                                     level=lv) for who, lv in grants]
        made.append(Grant.objects.create(team=team, connection=connection, subject_type="service",
                                         service_token=service[0], level=Grant.Level.TARGET
                                         if variant == "sandbox" else Grant.Level.VIEW))
        objects[("grant", variant)] = made[0]
    hub = conns["production"]
    for variant, who in (("targeters", people.get("targeter", owner)), ("owners", owner)):
        objects[("scratch_org", variant)] = ScratchOrg.objects.create(
            team=team, dev_hub=hub, scratch_org_info_id=f"2SR{prefix[:3]}{variant[:3]}", status="Active",
            signup_username=f"test-{variant}@{prefix}-scratch.example", requested_by=who,
            expiration_date=timezone.now().date())
    from orgs.models import Sandbox

    objects[("sandbox", "main")] = Sandbox.objects.create(team=team, production=hub, name=f"{prefix[:3]}uat",
                                                          sandbox_info_id=f"0GQ{prefix[:3]}000000001",
                                                          license_type="DEVELOPER")
    from orgs.models import OidcIssuer, TrustPolicy

    issuer = OidcIssuer.objects.create(team=team, kind="github", issuer=f"https://ci.{prefix}.example",
                                       jwks_uri=f"https://ci.{prefix}.example/jwks", shared=True)
    policy = TrustPolicy.objects.create(team=team, name=f"{prefix}-deploy", issuer=issuer,
                                        audience="http://localhost:8000", allowed_events=["push"],
                                        required_claims={"repository_owner_id": "1", "repository_id": "2"})
    policy.connections.set([conns["sandbox"]])
    objects[("policy", "main")] = policy
    from orgs.services.connections import aliases_ensure

    aliases_ensure(team=team)  # as the services do when access is granted
    from orgs.models import AccessRequest

    objects[("access_request", "main")] = AccessRequest.objects.create(
        team=team, connection=hub, requester=people.get(REQUESTER, owner), level=Grant.Level.TARGET, minutes=60,
        reason="scoping", decide_by=timezone.now() + timezone.timedelta(hours=1))
    from orgs.models import AccessReview, AccessReviewItem

    review = AccessReview.objects.create(team=team, name=f"{prefix}-review",
                                         deadline=timezone.now() + timezone.timedelta(days=1))
    objects[("review", "main")] = review
    objects[("review_item", "main")] = AccessReviewItem.objects.create(
        team=team, review=review, grant=objects[("grant", "sandbox")], org=conns["sandbox"].username,
        subject="someone", level="target")
    from orgs.models import AlertChannel

    objects[("channel", "alert")] = AlertChannel.objects.create(team=team, kind="slack", name=f"{prefix}-alerts",
                                                                url_display="https://hooks.example/…",
                                                                events=["degraded"])
    for variant in ("nogrant", "owner"):
        objects[("member", variant)] = members.get(variant) or members["owner"]
    return Scope(team=team, objects=objects, members=members, personal=personal, service=service,
                 connections=conns)


@pytest.fixture
def scopes(world):
    """Acme (`world.team`) with one person per way of relating to an org, and Globex (`world.other_team`)."""
    acme_people = {"owner": world.owner, "admin": world.admin, "nogrant": world.member}
    for name in ("manager", "targeter", "viewer", "dual"):
        acme_people[name] = make_user(f"{name}@example.com")
        Membership.objects.create(team=world.team, user=acme_people[name], role="member")
    # dual's Globex membership comes after its Acme one, and has a higher role
    Membership.objects.create(team=world.other_team, user=acme_people["dual"], role="admin")
    acme = _team_objects(world.team, Membership.objects.get(team=world.team, user=world.owner), "acme",
                         acme_people, grants=[("viewer", Grant.Level.VIEW), ("targeter", Grant.Level.TARGET),
                                              ("manager", Grant.Level.MANAGE)])
    globex_people = {"owner": world.outsider, "nogrant": acme_people["dual"]}
    globex = _team_objects(world.other_team, Membership.objects.get(team=world.other_team, user=world.outsider),
                           "globex", globex_people, grants=[("nogrant", Grant.Level.VIEW)])
    people = dict(acme_people, outsider=world.outsider)
    return {"acme": acme, "globex": globex, "people": people}


def _code(scope: Scope, kind, variant, actor):
    if kind == "token" and variant == "own":
        token = scope.personal.get(actor, scope.personal["owner"])[0]
        return token.code
    return scope.objects[(kind, variant)].code


def _classify(response) -> str:
    if response.status_code in (403, 404):
        return response.status_code
    if response.status_code in (405, 500):
        return f"{response.status_code}!"
    location = response.get("Location", "") if response.status_code in (301, 302, 303) else ""
    if location.startswith("/accounts/"):
        return f"sent to {location}"
    return OK


def _stub_outside_calls(monkeypatch):
    """Allowed POSTs reach their service; the two that would call Salesforce are stubbed (the DB part is rolled
    back anyway)."""
    monkeypatch.setattr("orgs.services.connections.connection_disconnect", lambda **kwargs: "revoked")
    monkeypatch.setattr("orgs.services.scratch.scratch_org_delete_request", lambda **kwargs: None)
    monkeypatch.setattr("orgs.services.refresh.connection_check", lambda **kwargs: None)
    for name in ("sandbox_refresh", "sandbox_delete", "sandbox_retry", "sandbox_dismiss", "sandbox_sync_enqueue"):
        monkeypatch.setattr(f"orgs.services.sandboxes.{name}", lambda **kwargs: None)


def _markers(scope: Scope) -> set[str]:
    """Strings that name one of the team's objects (not the team itself: a member of both teams sees its name in
    the navigation bar)."""
    found = {str(obj.code) for obj in scope.objects.values()}
    found |= {str(m.code) for m in scope.members.values()}
    found |= {c.username for c in scope.connections.values()}
    found |= {obj.name for (kind, _), obj in scope.objects.items() if kind in ("app", "key", "group")}
    return found


def _request(client, method, url):
    """One request in a savepoint that is rolled back, so no case changes the next."""
    with transaction.atomic():
        try:
            response = getattr(client, method.lower())(url, {})
        except Exception as exc:  # noqa: BLE001 - reported as a mismatch with the others
            response = exc
        transaction.set_rollback(True)
    return response


def test_page_scoping_matrix(scopes, monkeypatch):
    _stub_outside_calls(monkeypatch)
    monkeypatch.setattr(logging.getLogger("django.request"), "disabled", True)  # a thousand expected 403/404s
    acme, globex = scopes["acme"], scopes["globex"]
    clients = {}
    for actor in ACTORS:
        clients[actor] = Client()
        clients[actor].force_login(scopes["people"][actor])
        if actor != "outsider":  # the orgs page gives each member an alias for every org they see
            assert clients[actor].get(reverse("orgs:org_list", args=[acme.team.code])).status_code == 200
    foreign = _markers(globex)
    mismatches, checked = [], 0

    def check(name, method, actor, team_scope, objects_from, case, expected, label, foreign_param=None):
        """`foreign_param`: that parameter names another team's object. Then the answer must be 404, or the 403
        the actor gets for an id that exists nowhere (a role check made before any lookup reveals nothing)."""
        nonlocal checked
        kwargs = {"team": team_scope.team.code}
        for param, variant in case.items():
            kwargs[param] = _code(objects_from[param], PARAM_KIND[param], variant, actor)
        url = reverse(name, kwargs=kwargs)
        response = _request(clients[actor], method, url)
        checked += 1
        if isinstance(response, Exception):
            mismatches.append(f"{method} {name} {label} as {actor}: raised {response!r}")
            return
        got = _classify(response)
        if foreign_param and got == 403:
            unknown = reverse(name, kwargs=dict(kwargs, **{foreign_param: uuid.uuid4()}))
            baseline = _request(clients[actor], method, unknown)
            expected = 403 if getattr(baseline, "status_code", None) == 403 else expected
        if got != expected:
            mismatches.append(f"{method} {name} {label} as {actor}: expected {expected}, got {got} "
                              f"({response.status_code}) {url}")
        elif method == "GET" and team_scope is acme and response.status_code == 200 and actor != "outsider":
            body = b"".join(response) if response.streaming else response.content
            leaked = [m for m in foreign if m.encode() in body]
            if leaked:
                mismatches.append(f"GET {name} {label} as {actor}: shows Globex's {leaked}")

    for name, page in PAGES.items():
        for method in page.methods:
            for case in page.cases:
                label = ",".join(f"{k}={v}" for k, v in case.items()) or "-"
                acme_objects = {param: acme for param in case}
                for actor in ACME_ACTORS:
                    check(name, method, actor, acme, acme_objects, case, page.rule(actor, case), label)
                # the outsider (Globex's owner) addressing Acme's objects through Acme...
                check(name, method, "outsider", acme, acme_objects, case, 404, label)
                for param in case:
                    # ...and Globex's objects through Acme (cross-team ids), for every Acme actor who may use the
                    # page on Acme's own object (for the others the answer would not get as far as the lookup)
                    mixed = dict(acme_objects, **{param: globex})
                    for actor in ACME_ACTORS:
                        if page.rule(actor, case) == OK or actor == "dual":
                            check(name, method, actor, acme, mixed, case, 404, f"{label} [{param} of Globex]",
                                  foreign_param=param)
                    # ...and Acme's objects through Globex, by Globex's owner and by dual (a Globex admin)
                    mixed = dict({p: globex for p in case}, **{param: acme})
                    for actor in ("outsider", "dual"):
                        check(name, method, actor, globex, mixed, case, 404, f"{label} [{param} of Acme via Globex]",
                              foreign_param=param)
    assert checked > 500
    assert not mismatches, f"{len(mismatches)} of {checked} scoping checks failed:\n" + "\n".join(mismatches)


# -- the REST API --------------------------------------------------------------------------------------------------

def test_api_scoping(scopes, client):
    acme, globex = scopes["acme"], scopes["globex"]
    principals = {f"{actor} (personal)": (acme.personal[actor][1], actor) for actor in ACME_ACTORS}
    principals["outsider (Globex personal)"] = (globex.personal["owner"][1], "outsider")
    principals["dual (Globex personal, admin there)"] = (globex.personal["nogrant"][1], "outsider")
    principals["Globex service token"] = (globex.service[1], "outsider")
    principals["Acme service token"] = (acme.service[1], "acme-service")
    mismatches, checked = [], 0

    def expected_for(who, variant, need):
        if who == "outsider":
            return 404
        if who == "acme-service":  # target on the sandbox, view on the hub (its own grants only)
            have = 2 if variant == "sandbox" else 1
        else:
            have = level(who)
        if have == 0:
            return 404
        return 200 if have >= need else 403

    for label, (raw, who) in principals.items():
        auth = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
        for variant, connection in acme.connections.items():
            for ident in (connection.username, connection.org_id, connection.org_id[:15]):
                for method, path, need in (("get", f"/api/v1/orgs/{ident}", 1),
                                           ("post", f"/api/v1/orgs/{ident}/access-token", 2)):
                    checked += 1
                    status = getattr(client, method)(path, **auth).status_code
                    want = expected_for(who, variant, need)
                    if status != want:
                        mismatches.append(f"{method.upper()} {path} with {label}: expected {want}, got {status}")
        # Globex's orgs through an Acme token: invisible whatever the level in Acme
        if who != "outsider":
            for connection in globex.connections.values():
                for ident in (connection.username, connection.org_id):
                    for method, path in (("get", f"/api/v1/orgs/{ident}"),
                                         ("post", f"/api/v1/orgs/{ident}/access-token")):
                        checked += 1
                        status = getattr(client, method)(path, **auth).status_code
                        if status != 404:
                            mismatches.append(f"{method.upper()} {path} (Globex) with {label}: expected 404, got "
                                              f"{status}")
        # the list: only orgs of the token's own team
        listed = {o["username"] for o in client.get("/api/v1/orgs", **auth).json()["orgs"]}
        other = globex if who != "outsider" else acme
        leaked = listed & {c.username for c in other.connections.values()}
        if leaked:
            mismatches.append(f"GET /api/v1/orgs with {label} lists the other team's {sorted(leaked)}")
    # trust policies: Acme's admins (personal tokens) only; Globex's people find nothing; service tokens act for nobody
    acme_policy, globex_policy = acme.objects[("policy", "main")], globex.objects[("policy", "main")]
    for label, (raw, who) in principals.items():
        auth = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
        if who == "acme-service" or "service" in label:
            wants = (403, 403)
        elif who == "outsider":  # Globex's admins: their own team's policy only
            wants = (404, 200)
        else:
            wants = (200, 404) if rank(who) >= 2 else (403, 403)
        for code, expected in zip((acme_policy.code, globex_policy.code), wants, strict=True):
            checked += 1
            status = client.get(f"/api/v1/trust-policies/{code}", **auth).status_code
            if status != expected:
                mismatches.append(f"GET trust policy {code} with {label}: expected {expected}, got {status}")
    for connection in acme.connections.values():
        for method, path in (("get", f"/api/v1/orgs/{connection.username}"),
                             ("post", f"/api/v1/orgs/{connection.username}/access-token")):
            checked += 1
            if (status := getattr(client, method)(path).status_code) != 401:
                mismatches.append(f"{method.upper()} {path} without a token: expected 401, got {status}")
    assert not mismatches, f"{len(mismatches)} of {checked} API scoping checks failed:\n" + "\n".join(mismatches)


# -- the funnels themselves: each team filter, one at a time -------------------------------------------------------

def test_funnel_lookups_stay_in_the_team(scopes):
    """The building blocks every page and the API use, asked directly with the other team's objects (a removed
    filter can hide behind another one in a full request; here each one stands alone)."""
    from orgs import access
    from portal.accounts.access import api_token_for_action, target_membership_for_action, team_object

    acme, globex = scopes["acme"], scopes["globex"]
    people = scopes["people"]
    owner = acme.members["owner"]
    problems = []
    for model, kind in ((ConnectedApp, "app"), (SigningKey, "key"), (OrgConnection, "connection"),
                        (ScratchOrg, "scratch_org"), (Invitation, "invitation"), (TeamGroup, "group")):
        for (k, variant), obj in globex.objects.items():
            if k != kind:
                continue
            try:
                team_object(model, owner, obj.code)
            except Http404:
                pass
            else:
                problems.append(f"team_object({model.__name__}) found Globex's {variant}")
    for token, _ in (globex.service, globex.personal["owner"]):
        try:
            api_token_for_action(people["owner"], acme.team.code, token.code)
            problems.append(f"api_token_for_action found Globex's {token.kind} token")
        except Http404:
            pass
    try:
        target_membership_for_action(owner, globex.members["owner"].code)
        problems.append("target_membership_for_action found Globex's owner")
    except Http404:
        pass
    pairs = access.effective_access(team=acme.team)
    acme_users = {m.user_id for m in acme.members.values()}
    acme_conns = {c.pk for c in acme.connections.values()}
    stray = {key for key in pairs if key[0] not in acme_users or key[1] not in acme_conns}
    if stray:
        problems.append(f"effective_access(Acme) has pairs outside Acme: {stray}")
    dual = people["dual"]
    if access.effective_access(team=acme.team, user_ids=[dual.pk]):
        problems.append("effective_access(Acme) gives dual (a Globex admin) access in Acme")
    if access.effective_access(team=acme.team, user_ids=[people["outsider"].pk]):
        problems.append("effective_access(Acme) gives the outsider access")
    if access.effective_access(team=acme.team, connection_ids=[c.pk for c in globex.connections.values()]):
        problems.append("effective_access(Acme) reaches Globex's connections")
    for connection in globex.connections.values():
        if access.connection_level(owner, connection) is not None:
            problems.append(f"connection_level(Acme owner) on Globex's {connection.username}")
        try:
            access.connection_for_user(people["owner"], acme.team.code, connection.code, access.Level.VIEW)
            problems.append(f"connection_for_user found Globex's {connection.username} through Acme")
        except Http404:
            pass
    reach = set(access.principal_access(acme.service[0])) | set(access.principal_access(acme.personal["admin"][0]))
    if reach - acme_conns:
        problems.append(f"Acme tokens reach connections outside Acme: {reach - acme_conns}")
    assert not problems, "\n".join(problems)
