"""Fixtures for the API, API tokens, JWT connections and the CLI: real PostgreSQL, Redis and the simulator."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import pytest

from orgs.models import Grant, OrgAlias, OrgConnection
from portal.accounts.models import ApiToken, Membership

SANDBOX_USER = "dev@acme.example.uat"
HUB_USER = "admin@acme.example"
CI_USER = "ci@acme.example"
SECURE_USER = "secure@acme.example"
DE_USER = "dev@acme-de.example"
HUB_ORG = "00D5g00000AcPRDEA3"
SANDBOX_ORG = "00D5g00000AcUATEA3"

_ids = itertools.count(1)


@dataclass
class Issued:
    token: ApiToken
    raw: str = field(repr=False)

    @property
    def auth(self) -> dict:
        return {"HTTP_AUTHORIZATION": f"Bearer {self.raw}"}


@pytest.fixture
def make_token(world):
    from portal.accounts.tokens import api_token_create

    def _make(user=None, *, kind="personal", name=None, team=None, expires_at=None) -> Issued:
        team = team or world.team
        user = user or world.owner
        membership = Membership.objects.get(team=team, user=user)
        token, raw = api_token_create(actor=membership, kind=kind, name=name or f"token-{next(_ids)}",
                                      expires_at=expires_at)
        return Issued(token, raw)

    return _make


def connect_sim_org(team, owner, app, sim, username: str, *, alias: str) -> OrgConnection:
    """A web-flow connection as the connect flow stores it, with tokens minted by the simulator (fast)."""
    tokens = sim.mint_tokens(username, app.consumer_key)
    org_id = tokens["id"].rstrip("/").split("/")[-2]
    user_id = tokens["id"].rstrip("/").split("/")[-1]
    is_hub = username == HUB_USER
    connection = OrgConnection(team=team, owner=owner, app=app, org_id=org_id, user_id=user_id, username=username,
                               kind="production" if is_hub else "sandbox", is_devhub=is_hub,
                               edition="Enterprise Edition", login_url=sim.base_url,
                               instance_url=tokens["instance_url"], api_version="68.0")
    connection.save()
    connection.seal("refresh_token", tokens["refresh_token"])
    connection.seal("access_token", tokens["access_token"])
    from django.utils import timezone

    connection.access_token_issued_at = timezone.now()
    connection.save()
    OrgAlias.objects.create(team=team, user=owner, connection=connection, alias=alias)
    return connection


@dataclass
class Orgs:
    sandbox: OrgConnection  # alice's (team owner)
    hub: OrgConnection  # carol's (plain member)


@pytest.fixture
def orgs(world, sim, sim_app) -> Orgs:
    return Orgs(sandbox=connect_sim_org(world.team, world.owner, sim_app, sim, SANDBOX_USER, alias="uat"),
                hub=connect_sim_org(world.team, world.member, sim_app, sim, HUB_USER, alias="hub"))


def grant(connection, *, level, member=None, service_token=None):
    subject = "member" if member is not None else "service"
    return Grant.objects.create(team=connection.team, connection=connection, level=level, subject_type=subject,
                                member=member, service_token=service_token)


# -- JWT -------------------------------------------------------------------------------------------------------------

def _demo_key_material() -> tuple[bytes, bytes]:
    """The simulator's published test key and the certificate its OrgPortalDemo app trusts."""
    import json
    from pathlib import Path

    import sfsim

    fixtures = Path(sfsim.__file__).parent / "fixtures"
    app = next(a for a in json.loads((fixtures / "default.json").read_text())["apps"]
               if a["consumer_key"] == "OrgPortalDemo")
    return (fixtures / "demo-jwt-key.pem").read_bytes(), app["certificate"].encode()


@pytest.fixture
def jwt_app(world, sim):
    """A connected app for the simulator's OrgPortalDemo with the matching JWT signing key."""
    from orgs.services.apps import connected_app_create, signing_key_upload
    from tests.conftest import DEMO_APP_KEY, DEMO_APP_SECRET

    owner = Membership.objects.get(team=world.team, user=world.owner)
    private_key, certificate = _demo_key_material()
    key = signing_key_upload(actor=owner, name="CI key", private_key=private_key, certificate=certificate)
    return connected_app_create(actor=owner, name="Simulator JWT", consumer_key=DEMO_APP_KEY,
                                consumer_secret=DEMO_APP_SECRET, login_url=sim.base_url, scopes="api web",
                                require_pkce=True, signing_key=key)


@pytest.fixture
def jwt_connection(world, jwt_app):
    from orgs.services.jwt import jwt_connection_create

    admin = Membership.objects.get(team=world.team, user=world.admin)
    connection, _ = jwt_connection_create(actor=admin, app=jwt_app, username=CI_USER,
                                          login_url="https://login.salesforce.com", alias="ci")
    return connection
