"""Demo data for `make run` (development only): a connected app pointing at the bundled simulator, and the demo
production org connected with two sandboxes (seeded through the simulator's control API)."""

import json
import urllib.request

from orgs.models import ConnectedApp, OrgConnection
from orgs.services.apps import connected_app_create
from portal.accounts.models import Membership

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
    production = OrgConnection.objects.filter(team=team, owner=owner, username=DEMO_PRODUCTION).first()
    if production is None:
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
    sandbox_sync(connection_id=production.pk)
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
