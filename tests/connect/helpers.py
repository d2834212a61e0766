"""Drive the connect flow without a browser: the portal's pages plus the simulator's login shortcut."""

from urllib.parse import parse_qs, urlsplit

from django.urls import reverse

SANDBOX_USER = "dev@acme.example.uat"
HUB_USER = "admin@acme.example"
DE_USER = "dev@acme-de.example"


def start(client, world, app, *, environment="app", alias="", custom_url=""):
    response = client.post(reverse("orgs:connect", args=[world.team.code]),
                           {"app": app.pk, "environment": environment, "alias": alias, "custom_url": custom_url})
    assert response.status_code == 302, response.content.decode()[-2000:]
    return response["Location"]


def authorize_params(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def login_and_allow(sim, location: str, username: str, **override) -> str:
    """What the user's browser would bring back after logging in to Salesforce and clicking Allow."""
    params = authorize_params(location)
    params.update(override)
    return sim.authorize(username, params["client_id"], params["redirect_uri"], state=params.get("state"),
                         code_challenge=params.get("code_challenge"), scope=params.get("scope"),
                         deny=params.get("deny") == "1")


def callback_path(callback_url: str) -> str:
    parts = urlsplit(callback_url)
    return f"{parts.path}?{parts.query}"


def connect(client, world, app, sim, username=SANDBOX_USER, **kwargs):
    location = start(client, world, app, **kwargs)
    return client.get(callback_path(login_and_allow(sim, location, username)))


def token_requests(sim, grant_type=None):
    return [e for e in sim.log() if e["path"] == "/services/oauth2/token"
            and (grant_type is None or e.get("grant_type") == grant_type)]
