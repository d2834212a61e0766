"""Demo data for `make run` (development only): a connected app pointing at the bundled simulator, and the demo
production org connected with two sandboxes (seeded through the simulator's control API)."""

import json
import urllib.request

from orgs.models import ConnectedApp, OrgConnection
from orgs.services.apps import connected_app_create
from portal.accounts.models import Membership
from portal.accounts.services import ServiceError

DEMO_APP = {"name": "Salesforce simulator (demo)", "consumer_key": "OrgPortalDemo",
            "consumer_secret": "sfsim-demo-secret"}
DEMO_SALESFORCE_LOGINS = [
    ("Dev Hub (production)", "admin@acme.example"),
    ("Sandbox", "dev@acme.example.uat"),
    ("Developer Edition", "dev@acme-de.example"),
    ("Packaging org", "pkg@acme.example"),
]
DEMO_SALESFORCE_PASSWORD = "sfsim-demo-password"
DEMO_PRODUCTION = "admin@acme.example"
DEMO_SANDBOXES = ["dev", "qa"]


def _control(simulator_url: str, method: str, path: str, body: dict | None = None) -> dict:
    """The simulator's control API (make run only)."""
    request = urllib.request.Request(  # noqa: S310 - the local simulator's URL from the devserver
        f"{simulator_url.rstrip('/')}/__sim__/{path}", method=method,
        data=json.dumps(body).encode() if body is not None else None, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return json.loads(response.read() or b"{}")


def seed_demo_sandboxes(*, team, owner, app, simulator_url: str, stdout) -> None:
    """The demo production org, connected for the owner, with two sandboxes in its Sandboxes tab."""
    from orgs.services.apps import with_app_secret
    from orgs.services.client import sf_client
    from orgs.services.connections import connection_upsert, fetch_org_facts
    from orgs.services.sandboxes import sandbox_sync

    existing = {s.get("SandboxName") for s in _control(simulator_url, "GET",
                                                       f"sandboxes?org={DEMO_PRODUCTION}").get("sandboxes", [])}
    missing = [name for name in DEMO_SANDBOXES if name not in existing]
    if missing:
        _control(simulator_url, "POST", "sandboxes/seed", {"org": DEMO_PRODUCTION, "names": missing,
                                                           "license_type": "DEVELOPER", "copy_users": True,
                                                           "last_refresh_days_ago": 3})
    # Connected afresh on every start: the simulator keeps its tokens in memory, so the ones stored by an earlier
    # `make run` are unknown to this one (the upsert updates the same connection in place).
    minted = _control(simulator_url, "POST", "tokens", {"username": DEMO_PRODUCTION,
                                                        "consumer_key": app.consumer_key})
    client = sf_client()
    tokens = with_app_secret(app, lambda secret: client.refresh(
        base_url=simulator_url, client_id=app.consumer_key, client_secret=secret,
        refresh_token=minted["refresh_token"]))
    if not tokens.refresh_token:
        tokens = type(tokens)(**{**tokens.__dict__, "refresh_token": minted["refresh_token"]})
    membership = Membership.objects.select_related("team", "user").get(team=team, user=owner)
    production, _, _ = connection_upsert(membership=membership, app=app, flow=OrgConnection.Flow.WEB,
                                         login_url=simulator_url, facts=fetch_org_facts(client, tokens),
                                         alias="acme-prod")
    try:
        sandbox_sync(connection_id=production.pk)
    except ServiceError as exc:  # the demo still starts; the sweep syncs again later
        stdout.write(f"The demo sandboxes could not be listed yet: {exc}")
    stdout.write(f"Production org {DEMO_PRODUCTION} connected for {owner.email} (alias acme-prod) with sandboxes "
                 f"{', '.join(DEMO_SANDBOXES)}: Orgs → acme-prod → Sandboxes.")


def seed_demo_salesforce(*, team, owner, simulator_url: str, stdout) -> None:
    app = ConnectedApp.objects.filter(team=team, consumer_key=DEMO_APP["consumer_key"]).first()
    if app is None:
        actor = Membership.objects.get(team=team, user=owner)
        app = connected_app_create(actor=actor, name=DEMO_APP["name"], consumer_key=DEMO_APP["consumer_key"],
                                   consumer_secret=DEMO_APP["consumer_secret"], login_url=simulator_url,
                                   scopes="api refresh_token web", require_pkce=True)
    elif app.login_url != simulator_url:
        ConnectedApp.objects.filter(pk=app.pk).update(login_url=simulator_url)
    stdout.write(f"Connected app “{app.name}” points at the simulator ({simulator_url}). In Salesforce, log in as:")
    for label, username in DEMO_SALESFORCE_LOGINS:
        stdout.write(f"    {label:<22} {username:<24} password: {DEMO_SALESFORCE_PASSWORD}")
    seed_demo_sandboxes(team=team, owner=owner, app=app, simulator_url=simulator_url, stdout=stdout)


DEMO_POLICY = "Demo CI: acme/app main → acme-prod"


def seed_demo_ci_policy(*, team, owner, stdout) -> None:
    """One example CI trust policy on the fake OIDC issuer that `make run` starts as "GitHub Actions": pushes to
    acme/app's main branch (oidcsim's default claims) may target the demo production org. Idempotent."""
    from orgs.models import TrustPolicy
    from orgs.services import oidc

    actor = Membership.objects.get(team=team, user=owner)
    if not TrustPolicy.objects.filter(team=team, name=DEMO_POLICY).exists():
        issuer = oidc.issuer_register(actor=actor, kind="github")
        production = OrgConnection.objects.filter(team=team, username=DEMO_PRODUCTION).values_list("pk", flat=True)
        oidc.trust_policy_save(actor=actor, issuer=issuer, name=DEMO_POLICY, audience="",
                               required_claims={"repository_owner_id": "1342004", "repository_id": "260064828",
                                                "ref": "refs/heads/main"},
                               glob_claim="", glob_pattern="", allowed_events=oidc.default_events(issuer),
                               connection_ids=list(production), max_lifetime=900)
    stdout.write(f"CI trust policy “{DEMO_POLICY}”: a job token from the fake issuer "
                 f"({oidc_issuer_hint()}) exchanges at /api/v1/oauth/token (docs/ci.md).")


def oidc_issuer_hint() -> str:
    from django.conf import settings

    return settings.PORTAL_OIDC_GITHUB_ISSUER
