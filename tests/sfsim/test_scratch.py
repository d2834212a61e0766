"""Scratch orgs on a Dev Hub: create -> New -> Active (AuthCode) / Error, delete ActiveScratchOrg."""

from __future__ import annotations

import pytest

from tests.sfsim.conftest import ADMIN, CALLBACK, DEMO_KEY, DEMO_SECRET, UAT_USER, bearer, query

DEFINITION = {
    "OrgName": "Portal Scratch",
    "Edition": "Developer",
    "DurationDays": 3,
    "ConnectedAppConsumerKey": DEMO_KEY,
    "ConnectedAppCallbackUrl": CALLBACK,
    "Username": "Portal.Scratch@Example.com",
}


@pytest.fixture
def hub_token(sim) -> str:
    sim.configure(scratch_create_seconds=30)
    return sim.mint_tokens(ADMIN, DEMO_KEY)["access_token"]


def _create(sim, http, token: str, body: dict):
    return http.post(
        f"{sim.base_url}/services/data/v68.0/sobjects/ScratchOrgInfo", json=body, headers=bearer(token)
    )


def _active_row(sim, http, token: str, username: str) -> dict:
    """What `sf org delete scratch` runs on the hub (SALESFORCE.md 5.4)."""
    soql = f"SELECT Id, ScratchOrgInfoId FROM ActiveScratchOrg WHERE SignupUsername = '{username}'"  # noqa: S608
    records = query(http, sim.base_url, token, soql).json()["records"]
    assert len(records) == 1
    return records[0]


def _info(sim, http, token: str, record_id: str) -> dict:
    response = http.get(
        f"{sim.base_url}/services/data/v68.0/sobjects/ScratchOrgInfo/{record_id}", headers=bearer(token)
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_create_goes_new_then_active_with_an_exchangeable_auth_code(sim, http, hub_token):
    created = _create(sim, http, hub_token, DEFINITION)
    assert created.status_code == 201
    record_id = created.json()["id"]
    assert created.json() == {"id": record_id, "success": True, "errors": []} and record_id.startswith("2SR")
    assert _info(sim, http, hub_token, record_id)["Status"] == "New"

    sim.configure(clock_offset_seconds=31)
    info = _info(sim, http, hub_token, record_id)

    assert info["Status"] == "Active" and info["SignupUsername"] == "portal.scratch@example.com"
    assert len(info["ScratchOrg"]) == 15 and info["AuthCode"]
    tokens = http.post(
        f"{sim.base_url}/services/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "code": info["AuthCode"],
            "client_id": DEMO_KEY,
            "client_secret": DEMO_SECRET,
            "redirect_uri": CALLBACK,
        },
    )
    assert tokens.status_code == 200, tokens.text
    org = query(
        http,
        sim.base_url,
        tokens.json()["access_token"],
        "SELECT Id, IsSandbox, TrialExpirationDate, OrganizationType FROM Organization",
    ).json()["records"][0]
    assert org["Id"].startswith(info["ScratchOrg"]) and org["IsSandbox"] is True
    assert org["TrialExpirationDate"] is not None and org["OrganizationType"] == "Developer Edition"
    assert _active_row(sim, http, hub_token, info["SignupUsername"])["ScratchOrgInfoId"] == record_id


def test_auth_code_is_single_use(sim, http, hub_token):
    record_id = _create(sim, http, hub_token, DEFINITION).json()["id"]
    sim.configure(clock_offset_seconds=31)
    code = _info(sim, http, hub_token, record_id)["AuthCode"]
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": DEMO_KEY,
        "client_secret": DEMO_SECRET,
        "redirect_uri": CALLBACK,
    }
    assert http.post(f"{sim.base_url}/services/oauth2/token", data=data).status_code == 200
    assert http.post(f"{sim.base_url}/services/oauth2/token", data=data).json()["error"] == "invalid_grant"


def test_missing_connected_app_fields_are_required_field_missing(sim, http, hub_token):
    body = {k: v for k, v in DEFINITION.items() if not k.startswith("ConnectedApp")}
    response = _create(sim, http, hub_token, body)
    assert response.status_code == 400
    assert response.json() == [
        {
            "message": "Required fields are missing: [ConnectedAppConsumerKey, ConnectedAppCallbackUrl]",
            "errorCode": "REQUIRED_FIELD_MISSING",
            "fields": ["ConnectedAppConsumerKey", "ConnectedAppCallbackUrl"],
        }
    ]


def test_invalid_edition_ends_in_error_status(sim, http, hub_token):
    record_id = _create(sim, http, hub_token, {**DEFINITION, "Edition": "Invalid"}).json()["id"]
    sim.configure(clock_offset_seconds=31)
    info = _info(sim, http, hub_token, record_id)
    assert (info["Status"], info["ErrorCode"], info["ScratchOrg"]) == ("Error", "C-1033", None)


def test_unknown_field_is_rejected(sim, http, hub_token):
    response = _create(sim, http, hub_token, {**DEFINITION, "Bogus": 1})
    assert response.status_code == 400 and response.json()[0]["errorCode"] == "INVALID_FIELD"


def test_non_hub_cannot_create(sim, http):
    token = sim.mint_tokens(UAT_USER, DEMO_KEY)["access_token"]
    assert _create(sim, http, token, DEFINITION).status_code == 404


def test_deleting_the_active_scratch_org_deletes_the_org(sim, http, hub_token):
    scratch_user = "test-feature1@example.com"
    scratch_token = sim.mint_tokens(scratch_user, DEMO_KEY)["access_token"]
    row = _active_row(sim, http, hub_token, scratch_user)

    response = http.delete(
        f"{sim.base_url}/services/data/v68.0/sobjects/ActiveScratchOrg/{row['Id']}", headers=bearer(hub_token)
    )

    assert response.status_code == 204 and response.content == b""
    info = _info(sim, http, hub_token, row["ScratchOrgInfoId"])
    assert info["Status"] == "Deleted" and info["DeletedDate"] is not None
    assert query(http, sim.base_url, scratch_token, "SELECT Id FROM Organization").status_code == 401
    again = http.delete(
        f"{sim.base_url}/services/data/v68.0/sobjects/ActiveScratchOrg/{row['Id']}", headers=bearer(hub_token)
    )
    assert again.status_code == 404
