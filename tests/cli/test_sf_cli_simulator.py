"""The real Salesforce CLI against sfsim: `sf org login access-token`, `sf data query`, `sf org display`.

Installs the pinned CLI into the user cache on first use (see tests/cli/sfcli.py); skipped outside CI when
npm or the registry is unavailable. Each `sf` command takes about 0.7 s.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from sfsim.testing import Simulator, start_simulator
from tests.cli.sfcli import SfCli, require_sf_cli

ADMIN = "admin@acme.example"
APP = "OrgPortalDemo"
PROD_ORG = "00D5g00000AcPRDEA3"
ADMIN_ID = "0055g00000AdPRDAA3"
ALIAS = "acme"
ORG_QUERY = "SELECT Id FROM Organization"


@dataclass
class LoggedIn:
    """An `sf` HOME in which ALIAS is logged in to the simulator with an access token."""

    home: Path
    login: dict[str, Any]
    calls: set[tuple[str, str]]  # (method, path) the login made on the simulator
    access_token: str = field(repr=False)


@pytest.fixture(scope="module")
def sf_cli() -> SfCli:
    return require_sf_cli()


@pytest.fixture(scope="module")
def sim() -> Simulator:
    with start_simulator() as simulator:
        yield simulator


@pytest.fixture(scope="module")
def logged_in(sf_cli: SfCli, sim: Simulator, tmp_path_factory: pytest.TempPathFactory) -> LoggedIn:
    return _login(sf_cli, sim, tmp_path_factory.mktemp("sf-home"))


def _login(sf_cli: SfCli, sim: Simulator, home: Path) -> LoggedIn:
    token = sim.mint_tokens(ADMIN, APP)["access_token"]
    sim.clear_log()
    result = sf_cli.run(
        "org", "login", "access-token", "--instance-url", sim.base_url, "--no-prompt", "--alias", ALIAS, "--json",
        home=home,
        env={"SF_ACCESS_TOKEN": token},
    )
    return LoggedIn(home, _json_result(result), _calls(sim), token)


def _json_result(result) -> dict[str, Any]:
    """The `--json` envelope's result; on failure the CLI's own JSON error (and the log location) in the message."""
    assert result.returncode == 0, f"exit {result.returncode}: {result.stdout}{result.stderr} (see $HOME/.sf/*.log)"
    envelope = json.loads(result.stdout)
    assert envelope["status"] == 0, envelope
    return envelope["result"]


def _calls(sim: Simulator) -> set[tuple[str, str]]:
    return {(entry["method"], entry["path"]) for entry in sim.log() if entry["status"] < 400}


def test_login_with_an_access_token_reads_the_org_from_the_simulator(logged_in, sim):
    result = logged_in.login

    assert result["username"] == ADMIN
    assert result["orgId"] == PROD_ORG
    assert result["instanceUrl"].rstrip("/") == sim.base_url
    assert result["isDevHub"] is True and result["isSandbox"] is False and result["isScratch"] is False
    assert result["name"] == "Acme Production" and result["orgEdition"] == "Enterprise Edition"
    assert result["instanceApiVersion"] == "68.0"
    assert logged_in.access_token not in json.dumps(result)  # the CLI redacts it


def test_login_calls_userinfo_the_user_record_and_the_org_queries(logged_in):
    """What `sf org login access-token` needs from an org (sfdx-core AuthInfo), in no particular order."""
    assert logged_in.calls == {
        ("GET", "/services/oauth2/userinfo"),  # user_id
        ("GET", f"/services/data/v51.0/sobjects/User/{ADMIN_ID}"),  # Username
        ("GET", "/services/data/v51.0/query"),  # SELECT Id FROM ScratchOrgInfo limit 1 (Dev Hub?)
        ("GET", "/services/data"),  # the newest API version
        ("GET", "/services/data/v68.0/query"),  # SELECT Name, InstanceName, IsSandbox, ... FROM Organization
    }


def test_data_query_returns_the_org_id(sf_cli, logged_in, sim):
    sim.clear_log()
    result = _json_result(
        sf_cli.run("data", "query", "--query", ORG_QUERY, "--target-org", ALIAS, "--json", home=logged_in.home)
    )

    assert result["totalSize"] == 1 and result["done"] is True
    assert [record["Id"] for record in result["records"]] == [PROD_ORG]
    assert result["records"][0]["attributes"]["type"] == "Organization"
    # the query itself and a `&columns=true` metadata query, both on the cached API version
    assert _calls(sim) == {("GET", "/services/data/v68.0/query")}
    assert len(sim.log()) == 2


def test_org_display_reports_a_connected_org(sf_cli, logged_in, sim):
    sim.clear_log()
    result = _json_result(sf_cli.run("org", "display", "--target-org", ALIAS, "--json", home=logged_in.home))

    assert result["id"] == PROD_ORG
    assert result["username"] == ADMIN
    assert result["alias"] == ALIAS
    assert result["connectedStatus"] == "Connected"
    assert result["apiVersion"] == "68.0"
    assert logged_in.access_token not in json.dumps(result)
    assert _calls(sim) == {("GET", "/services/data/v68.0")}  # the connection check


def test_revoked_session_surfaces_as_invalid_session_id(sf_cli, sim, tmp_path):
    """The simulator's 401 body is what jsforce and the CLI understand (no refresh token to fall back on)."""
    logged_in = _login(sf_cli, sim, tmp_path)
    assert logged_in.login["orgId"] == PROD_ORG
    revoke = requests.post(f"{sim.base_url}/services/oauth2/revoke", data={"token": logged_in.access_token}, timeout=10)
    assert revoke.status_code == 200

    query = sf_cli.run("data", "query", "--query", ORG_QUERY, "--target-org", ALIAS, "--json", home=tmp_path)
    display = _json_result(sf_cli.run("org", "display", "--target-org", ALIAS, "--json", home=tmp_path))

    assert query.returncode == 1
    error = json.loads(query.stdout)
    assert (error["name"], error["message"]) == ("INVALID_SESSION_ID", "Session expired or invalid")
    assert display["connectedStatus"] == "Session expired or invalid"
