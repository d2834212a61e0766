"""Demo data for `make run` (development only): a connected app pointing at the bundled simulator."""

from orgs.models import ConnectedApp
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
