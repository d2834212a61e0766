"""Fixtures for the worker-side tests that run in-process (health page, notices, tasks, scratch polling).

The reliability tests with real worker and redis-server processes keep their helpers in `reliability_procs.py`.
"""

from __future__ import annotations

import pytest
from django.utils import timezone

from orgs.models import OrgConnection
from tests.sharing.conftest import make_connection

HUB_USER = "admin@acme.example"
SANDBOX_USER = "dev@acme.example.uat"


def connect(world, sim, sim_app, username: str, *, owner=None, **kwargs) -> OrgConnection:
    """A web-flow connection with tokens minted by the simulator (what the connect flow would store)."""
    tokens = sim.mint_tokens(username, "OrgPortalDemo")
    c = make_connection(world.team, owner or world.member, sim_app, username=username, instance_url=sim.base_url,
                        **kwargs)
    c.seal("refresh_token", tokens["refresh_token"])
    c.seal("access_token", tokens["access_token"])
    c.access_token_issued_at = c.last_refresh_at = timezone.now()
    c.save()
    return c


@pytest.fixture
def hub(world, sim, sim_app) -> OrgConnection:
    """The simulator's Dev Hub, owned by alice (team owner)."""
    return connect(world, sim, sim_app, HUB_USER, owner=world.owner, kind="production", is_devhub=True)
