"""Sandboxes of a production org (SALESFORCE.md 5.6): SandboxInfo / SandboxProcess over the Tooling API,
copy stages, the sandbox org, refresh, activation, delete, tooling/sandboxAuth and the control API."""

from __future__ import annotations

import pytest

from sfsim.testing import SimulatorError
from tests.sfsim.conftest import ADMIN, CALLBACK, DEMO_KEY, DEMO_SECRET, PROD_ORG, UAT_USER, bearer, query

TOOLING = "/services/data/v68.0/tooling"
PROCESS_FIELDS = (
    "Id,Status,SandboxName,SandboxInfoId,LicenseType,CreatedDate,CopyProgress,SandboxOrganization,SourceId,"
    "Description,EndDate,Features"
)
INFO_FIELDS = (
    "Id,IsDeleted,CreatedDate,CreatedById,LastModifiedDate,LastModifiedById,SandboxName,LicenseType,TemplateId,"
    "HistoryDays,CopyChatter,AutoActivate,ApexClassId,Description,SourceId,ActivationUserGroupId,Features,"
    "PostCopyConfig"
)


@pytest.fixture
def prod(sim) -> str:
    """An access token of the production admin; copies take 1000 s unless stepped."""
    sim.configure(sandbox_copy_seconds=1000)
    return sim.mint_tokens(ADMIN, DEMO_KEY)["access_token"]


def tooling_query(sim, http, token: str, soql: str):
    return http.get(f"{sim.base_url}{TOOLING}/query", params={"q": soql}, headers=bearer(token))


def create(sim, http, token: str, body: dict):
    return http.post(f"{sim.base_url}{TOOLING}/sobjects/SandboxInfo", json=body, headers=bearer(token))


def refresh(sim, http, token: str, info_id: str, body: dict):
    return http.patch(f"{sim.base_url}{TOOLING}/sobjects/SandboxInfo/{info_id}", json=body, headers=bearer(token))


def process_by_name(sim, http, token: str, name: str) -> dict:
    soql = (
        f"SELECT {PROCESS_FIELDS} FROM SandboxProcess WHERE SandboxName = '{name}' AND Status != 'D' "  # noqa: S608
        "ORDER BY CreatedDate DESC LIMIT 1"
    )
    response = tooling_query(sim, http, token, soql)
    assert response.status_code == 200, response.text
    return response.json()["records"][0]


def sandbox_auth(sim, http, token: str, name: str, **overrides):
    body = {"clientId": DEMO_KEY, "sandboxName": name, "callbackUrl": CALLBACK, **overrides}
    return http.post(f"{sim.base_url}{TOOLING}/sandboxAuth", json=body, headers=bearer(token))


def exchange_code(sim, http, code: str):
    return http.post(
        f"{sim.base_url}/services/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "client_id": DEMO_KEY,
            "client_secret": DEMO_SECRET,
            "redirect_uri": CALLBACK,
        },
    )


def org_row(sim, http, token: str):
    return query(http, sim.base_url, token, "SELECT Id, IsSandbox, TrialExpirationDate FROM Organization")


def authorize_sandbox(sim, http, token: str, name: str) -> dict:
    auth = sandbox_auth(sim, http, token, name)
    assert auth.status_code == 200, auth.text
    tokens = exchange_code(sim, http, auth.json()["authCode"])
    assert tokens.status_code == 200, tokens.text
    return {**auth.json(), **tokens.json()}


# -- create and the copy stages --------------------------------------------------------------------------------


def test_create_returns_0gq_and_a_pending_0gr_process(sim, http, prod):
    created = create(sim, http, prod, {"SandboxName": "dev1", "LicenseType": "Developer", "Description": "d"})
    assert created.status_code == 201, created.text
    info_id = created.json()["id"]
    assert created.json() == {"id": info_id, "success": True, "errors": []} and info_id.startswith("0GQ")

    soql = f"SELECT {PROCESS_FIELDS} FROM SandboxProcess WHERE SandboxInfoId = '{info_id}'"  # noqa: S608
    rows = tooling_query(sim, http, prod, soql).json()["records"]
    assert len(rows) == 1
    process = rows[0]
    assert process["Id"].startswith("0GR") and process["Status"] == "Pending" and process["CopyProgress"] == 0
    assert process["LicenseType"] == "DEVELOPER" and process["Description"] == "d"
    assert process["SandboxOrganization"] is None and process["EndDate"] is None
    assert process["attributes"]["url"] == f"/services/data/v68.0/tooling/sobjects/SandboxProcess/{process['Id']}"


def test_info_query_retrieve_and_fields(sim, http, prod):
    info_id = create(
        sim, http, prod, {"SandboxName": "qa", "LicenseType": "DEVELOPER_PRO", "AutoActivate": True}
    ).json()["id"]
    soql = f"SELECT {INFO_FIELDS} FROM SandboxInfo WHERE SandboxName = 'qa' ORDER BY CreatedDate DESC"  # noqa: S608
    rows = tooling_query(sim, http, prod, soql).json()["records"]
    assert len(rows) == 1
    row = rows[0]
    assert row["Id"] == info_id and row["IsDeleted"] is False and row["LicenseType"] == "DEVELOPER_PRO"
    assert row["HistoryDays"] == 0 and row["CopyChatter"] is False and row["AutoActivate"] is True
    retrieved = http.get(f"{sim.base_url}{TOOLING}/sobjects/SandboxInfo/{info_id}", headers=bearer(prod))
    assert retrieved.status_code == 200 and retrieved.json()["SandboxName"] == "qa"
    some = http.get(
        f"{sim.base_url}{TOOLING}/sobjects/SandboxInfo/{info_id[:15]}?fields=SandboxName,LicenseType",
        headers=bearer(prod),
    )
    assert set(some.json()) == {"attributes", "SandboxName", "LicenseType"}
    process_id = process_by_name(sim, http, prod, "qa")["Id"]
    got = http.get(f"{sim.base_url}{TOOLING}/sobjects/SandboxProcess/{process_id}", headers=bearer(prod))
    assert got.status_code == 200 and got.json()["SandboxInfoId"] == info_id


def test_copy_advances_with_time_to_completed(sim, http, prod):
    sim.configure(sandbox_copy_seconds=100)
    create(sim, http, prod, {"SandboxName": "timed", "LicenseType": "DEVELOPER"})
    assert process_by_name(sim, http, prod, "timed")["Status"] == "Pending"
    sim.configure(clock_offset_seconds=50)
    processing = process_by_name(sim, http, prod, "timed")
    assert processing["Status"] == "Processing" and 40 <= processing["CopyProgress"] <= 50
    sim.configure(clock_offset_seconds=101)
    done = process_by_name(sim, http, prod, "timed")
    assert done["Status"] == "Completed" and done["CopyProgress"] == 100 and done["EndDate"] is not None
    assert len(done["SandboxOrganization"]) == 15 and done["SandboxOrganization"].startswith("00D")


def test_partial_copy_passes_through_sampling(sim, http, prod):
    sim.set_sandbox_licenses(PROD_ORG, PARTIAL=1)
    create(sim, http, prod, {"SandboxName": "part", "LicenseType": "Partial"})
    view = sim.advance_sandbox("part", "Sampling")
    assert view["Status"] == "Sampling"
    assert sim.advance_sandbox("part", "Processing", copy_progress=30)["CopyProgress"] == 30
    assert process_by_name(sim, http, prod, "part")["Status"] == "Processing"


def test_completed_sandbox_is_an_org_with_copied_users_and_sandbox_auth(sim, http, prod):
    create(sim, http, prod, {"SandboxName": "Dev2", "LicenseType": "DEVELOPER"})
    assert sandbox_auth(sim, http, prod, "Dev2").json()[0]["errorCode"] == "INVALID_STATUS"  # still Pending
    sim.advance_sandbox("Dev2")

    auth = sandbox_auth(sim, http, prod, "Dev2")
    assert auth.status_code == 200, auth.text
    body = auth.json()
    assert set(body) == {"authUserName", "authCode", "instanceUrl", "loginUrl"}
    assert body["authUserName"] == "admin@acme.example.dev2"
    assert body["instanceUrl"] == sim.base_url and body["loginUrl"] == sim.base_url
    tokens = exchange_code(sim, http, body["authCode"])
    assert tokens.status_code == 200, tokens.text
    assert exchange_code(sim, http, body["authCode"]).json()["error"] == "invalid_grant"  # single use
    token = tokens.json()["access_token"]
    org = org_row(sim, http, token).json()["records"][0]
    process = process_by_name(sim, http, prod, "Dev2")
    assert org["Id"][:15] == process["SandboxOrganization"] and org["IsSandbox"] is True
    assert org["TrialExpirationDate"] is None
    assert org["Id"] != PROD_ORG
    users = query(http, sim.base_url, token, "SELECT Username, Email FROM User ORDER BY Username").json()["records"]
    assert {u["Username"] for u in users} == {
        "admin@acme.example.dev2",
        "ci@acme.example.dev2",
        "former@acme.example.dev2",
        "secure@acme.example.dev2",
    }
    assert all(u["Email"].endswith(".invalid") for u in users)
    userinfo = http.get(f"{sim.base_url}/services/oauth2/userinfo", headers=bearer(token)).json()
    assert userinfo["organization_id"] == org["Id"] and userinfo["preferred_username"] == "admin@acme.example.dev2"


def test_sandbox_auth_failures(sim, http, prod):
    sim.seed_sandboxes(PROD_ORG, names=["ok"])
    assert sandbox_auth(sim, http, prod, "nosuch").status_code == 404
    bad_client = sandbox_auth(sim, http, prod, "ok", clientId="NoSuchApp")
    assert bad_client.status_code == 400 and bad_client.json()[0]["errorCode"] == "INVALID_INPUT"
    bad_callback = sandbox_auth(sim, http, prod, "ok", callbackUrl="http://evil.example/cb")
    assert bad_callback.json()[0]["message"] == "The callback URL provided is not valid"
    missing = http.post(f"{sim.base_url}{TOOLING}/sandboxAuth", json={"clientId": DEMO_KEY}, headers=bearer(prod))
    assert missing.json()[0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    uat = sim.mint_tokens(UAT_USER, DEMO_KEY)["access_token"]
    assert sandbox_auth(sim, http, uat, "ok").status_code == 404  # not a production org


def test_username_uniqueness_prefix(sim, http, prod):
    sim.load(
        {"users": [{"id": "0055g00000ClASHAA3", "org": "00D5g00000AcDEVEA3", "username": "admin@acme.example.dup"}]}
    )
    sandboxes = sim.seed_sandboxes(PROD_ORG, names=["dup"])
    admin_copy = next(name for name in sandboxes[0]["usernames"] if name.endswith("admin@acme.example.dup"))
    assert admin_copy != "admin@acme.example.dup" and admin_copy.startswith("00")
    assert sandbox_auth(sim, http, prod, "dup").json()["authUserName"] == admin_copy


def test_clone_from_source_id(sim, http, prod):
    source = sim.seed_sandboxes(PROD_ORG, names=["src"], license_type="DEVELOPER_PRO")[0]
    created = create(sim, http, prod, {"SandboxName": "clone", "SourceId": source["SandboxInfoId"]})
    assert created.status_code == 201, created.text
    view = sim.advance_sandbox("clone")
    assert view["LicenseType"] == "DEVELOPER_PRO" and view["org_id"] != source["org_id"]
    process = process_by_name(sim, http, prod, "clone")
    assert process["SourceId"] == source["SandboxInfoId"]
    both = create(sim, http, prod, {"SandboxName": "c2", "SourceId": source["SandboxInfoId"], "LicenseType": "FULL"})
    assert both.status_code == 400 and both.json()[0]["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"
    unknown = create(sim, http, prod, {"SandboxName": "c3", "SourceId": "0GQ000000000000AAA"})
    assert unknown.json()[0]["errorCode"] == "INVALID_CROSS_REFERENCE_KEY"


# -- create failures -------------------------------------------------------------------------------------------


def test_duplicate_name_is_rejected_with_the_documented_text(sim, http, prod):
    first = create(sim, http, prod, {"SandboxName": "dup", "LicenseType": "DEVELOPER"}).json()["id"]
    again = create(sim, http, prod, {"SandboxName": "DUP", "LicenseType": "DEVELOPER"})
    assert again.status_code == 400
    assert again.json() == [
        {
            "message": f"duplicate value found: SandboxName duplicates value on record with id: {first}",
            "errorCode": "DUPLICATE_VALUE",
            "fields": ["SandboxName"],
        }
    ]


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("elevenchars", "STRING_TOO_LONG"),
        ("dev-1", "FIELD_INTEGRITY_EXCEPTION"),
        ("dév", "FIELD_INTEGRITY_EXCEPTION"),
        ("", "REQUIRED_FIELD_MISSING"),
    ],
)
def test_invalid_names(sim, http, prod, name, code):
    response = create(sim, http, prod, {"SandboxName": name, "LicenseType": "DEVELOPER"})
    assert response.status_code == 400 and response.json()[0]["errorCode"] == code
    assert response.json()[0]["fields"] == ["SandboxName"]


def test_ten_characters_and_all_digit_names_are_fine(sim, http, prod):
    assert create(sim, http, prod, {"SandboxName": "abcdefghij", "LicenseType": "DEVELOPER"}).status_code == 201
    assert create(sim, http, prod, {"SandboxName": "733615324", "LicenseType": "DEVELOPER"}).status_code == 201


def test_license_type_values(sim, http, prod):
    bad = create(sim, http, prod, {"SandboxName": "x1", "LicenseType": "Huge"})
    assert bad.json() == [
        {
            "message": "License Type: bad value for restricted picklist field: Huge",
            "errorCode": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            "fields": ["LicenseType"],
        }
    ]
    missing = create(sim, http, prod, {"SandboxName": "x2"})
    assert missing.json()[0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    for spelling in ("Developer_Pro", "DEVELOPER PRO", "developer_pro"):
        sim.reset()
        token = sim.mint_tokens(ADMIN, DEMO_KEY)["access_token"]
        assert create(sim, http, token, {"SandboxName": "x3", "LicenseType": spelling}).status_code == 201
        assert sim.sandboxes(PROD_ORG)[0]["LicenseType"] == "DEVELOPER_PRO"


def test_other_field_validation(sim, http, prod):
    days = create(sim, http, prod, {"SandboxName": "h", "LicenseType": "FULL", "HistoryDays": 7})
    assert days.json()[0]["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    unknown = create(sim, http, prod, {"SandboxName": "h", "LicenseType": "FULL", "Nope": 1})
    assert unknown.json()[0]["errorCode"] == "INVALID_FIELD"
    read_only = create(sim, http, prod, {"SandboxName": "h", "LicenseType": "FULL", "IsDeleted": False})
    assert read_only.json()[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    long_text = create(sim, http, prod, {"SandboxName": "h", "LicenseType": "FULL", "Description": "x" * 1001})
    assert long_text.json()[0]["errorCode"] == "STRING_TOO_LONG"


def test_no_license_left(sim, http, prod):
    sim.set_sandbox_licenses(PROD_ORG, DEVELOPER=1)
    assert create(sim, http, prod, {"SandboxName": "one", "LicenseType": "DEVELOPER"}).status_code == 201
    second = create(sim, http, prod, {"SandboxName": "two", "LicenseType": "DEVELOPER"})
    assert second.status_code == 400
    assert second.json() == [
        {
            "message": "No Developer sandbox licenses are available: all 1 are in use.",
            "errorCode": "LIMIT_EXCEEDED",
            "fields": ["LicenseType"],
        }
    ]
    licenses = sim.set_sandbox_licenses(ADMIN, DEVELOPER=2)
    assert licenses["in_use"]["DEVELOPER"] == 1
    assert create(sim, http, prod, {"SandboxName": "two", "LicenseType": "DEVELOPER"}).status_code == 201


def test_sandbox_objects_exist_only_in_the_tooling_api_of_production_orgs(sim, http, prod):
    rest = query(http, sim.base_url, prod, "SELECT Id FROM SandboxInfo")
    assert rest.status_code == 400 and rest.json()[0]["errorCode"] == "INVALID_TYPE"
    rest_create = http.post(
        f"{sim.base_url}/services/data/v68.0/sobjects/SandboxInfo", json={"SandboxName": "x"}, headers=bearer(prod)
    )
    assert rest_create.status_code == 404
    uat = sim.mint_tokens(UAT_USER, DEMO_KEY)["access_token"]
    on_sandbox = tooling_query(sim, http, uat, "SELECT Id FROM SandboxProcess")
    assert on_sandbox.status_code == 400 and on_sandbox.json()[0]["errorCode"] == "INVALID_TYPE"
    assert create(sim, http, uat, {"SandboxName": "x", "LicenseType": "DEVELOPER"}).status_code == 404
    assert tooling_query(sim, http, uat, "SELECT Id, IsSandbox FROM Organization").status_code == 200


# -- refresh, activation, delete -------------------------------------------------------------------------------


def test_refresh_gives_a_new_org_id_and_kills_old_tokens(sim, http, prod):
    sandbox = sim.seed_sandboxes(PROD_ORG, names=["uat2"], last_refresh_days_ago=3)[0]
    before = authorize_sandbox(sim, http, prod, "uat2")
    old_token, old_refresh = before["access_token"], before["refresh_token"]
    assert org_row(sim, http, old_token).json()["records"][0]["Id"] == sandbox["org_id"]

    patched = refresh(sim, http, prod, sandbox["SandboxInfoId"], {"LicenseType": "DEVELOPER", "AutoActivate": True})
    assert patched.status_code == 204 and patched.content == b""
    processes = tooling_query(
        sim, http, prod, "SELECT Id, Status FROM SandboxProcess WHERE SandboxName = 'uat2' ORDER BY CreatedDate DESC"
    ).json()["records"]
    assert [p["Status"] for p in processes] == ["Pending", "Completed"]
    assert org_row(sim, http, old_token).status_code == 200  # the old org lives until the copy completes

    assert sim.advance_sandbox("uat2", "Activating")["Status"] == "Activating"
    sim.advance_sandbox("uat2")
    latest = process_by_name(sim, http, prod, "uat2")
    assert latest["Id"] == processes[0]["Id"] and latest["Status"] == "Completed"
    assert latest["SandboxOrganization"] != sandbox["org_id"][:15]

    dead = org_row(sim, http, old_token)
    assert dead.status_code == 401 and dead.json()[0]["errorCode"] == "INVALID_SESSION_ID"
    again = http.post(
        f"{sim.base_url}/services/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": old_refresh,
            "client_id": DEMO_KEY,
            "client_secret": DEMO_SECRET,
        },
    )
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    after = authorize_sandbox(sim, http, prod, "uat2")
    assert after["authUserName"] == "admin@acme.example.uat2"
    assert org_row(sim, http, after["access_token"]).json()["records"][0]["Id"][:15] == latest["SandboxOrganization"]


def test_refresh_as_the_cli_sends_it(sim, http, prod):
    """The CLI reads the record, overlays AutoActivate and PATCHes it back without Id and system fields."""
    sandbox = sim.seed_sandboxes(PROD_ORG, names=["cli"])[0]
    row = tooling_query(
        sim,
        http,
        prod,
        "SELECT Id, SandboxName, LicenseType, HistoryDays, CopyChatter, AutoActivate, Description, SourceId "
        "FROM SandboxInfo WHERE SandboxName = 'cli'",
    ).json()["records"][0]
    body = {k: v for k, v in row.items() if k not in ("attributes", "Id")} | {"AutoActivate": True}
    assert refresh(sim, http, prod, sandbox["SandboxInfoId"], body).status_code == 204
    assert process_by_name(sim, http, prod, "cli")["Status"] == "Pending"


def test_refresh_failures(sim, http, prod):
    sandbox = sim.seed_sandboxes(PROD_ORG, names=["r1"])[0]
    info_id = sandbox["SandboxInfoId"]
    no_license = refresh(sim, http, prod, info_id, {"AutoActivate": True})
    assert no_license.json() == [
        {
            "message": "License Type: bad value for restricted picklist field: undefined",
            "errorCode": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            "fields": ["LicenseType"],
        }
    ]
    rename = refresh(sim, http, prod, info_id, {"LicenseType": "DEVELOPER", "SandboxName": "other"})
    assert rename.json()[0]["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"
    assert refresh(sim, http, prod, "0GQ000000000000AAA", {"LicenseType": "DEVELOPER"}).status_code == 404
    assert refresh(sim, http, prod, info_id, {"LicenseType": "DEVELOPER"}).status_code == 204
    busy = refresh(sim, http, prod, info_id, {"LicenseType": "DEVELOPER"})
    assert busy.status_code == 400 and "is being copied (status Pending)" in busy.json()[0]["message"]


@pytest.mark.parametrize(
    ("license_type", "days"), [("DEVELOPER", 1), ("DEVELOPER_PRO", 1), ("PARTIAL", 5), ("FULL", 29)]
)
def test_refresh_interval_by_license_type(sim, http, prod, license_type, days):
    sim.set_sandbox_licenses(PROD_ORG, **{license_type: 1})
    info_id = sim.seed_sandboxes(PROD_ORG, names=["iv"], license_type=license_type)[0]["SandboxInfoId"]
    sim.set_sandbox_last_refresh("iv", days - 0.5, org=PROD_ORG)
    early = refresh(sim, http, prod, info_id, {"LicenseType": license_type})
    assert early.status_code == 400
    error = early.json()[0]
    assert error["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"
    assert error["message"].startswith("The sandbox iv can't be refreshed until ")
    assert error["message"].endswith(f"sandboxes can be refreshed every {days} day(s).")
    sim.set_sandbox_last_refresh("iv", days + 0.01)
    assert refresh(sim, http, prod, info_id, {"LicenseType": license_type}).status_code == 204


def test_refresh_without_auto_activate_waits_for_refresh_action(sim, http, prod):
    sandbox = sim.seed_sandboxes(PROD_ORG, names=["pa"])[0]
    old = authorize_sandbox(sim, http, prod, "pa")["access_token"]
    refresh(sim, http, prod, sandbox["SandboxInfoId"], {"LicenseType": "DEVELOPER", "AutoActivate": False})
    sim.advance_sandbox("pa", "Pending Activation")
    waiting = process_by_name(sim, http, prod, "pa")
    assert waiting["Status"] == "Pending Activation" and waiting["EndDate"] is not None
    assert org_row(sim, http, old).status_code == 200
    url = f"{sim.base_url}{TOOLING}/sobjects/SandboxProcess/{waiting['Id']}"
    bad = http.patch(url, json={"RefreshAction": "MAYBE"}, headers=bearer(prod))
    assert bad.json()[0]["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    read_only = http.patch(url, json={"Status": "Completed"}, headers=bearer(prod))
    assert read_only.json()[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert http.patch(url, json={"RefreshAction": "ACTIVATE"}, headers=bearer(prod)).status_code == 204
    assert process_by_name(sim, http, prod, "pa")["Status"] == "Activating"
    sim.advance_sandbox(waiting["Id"])
    done = process_by_name(sim, http, prod, "pa")
    assert done["Status"] == "Completed" and done["SandboxOrganization"] != sandbox["org_id"][:15]
    activated = http.get(url, headers=bearer(prod)).json()
    assert activated["RefreshAction"] == "ACTIVATE" and activated["ActivatedById"] is not None
    assert org_row(sim, http, old).status_code == 401
    late = http.patch(url, json={"RefreshAction": "ACTIVATE"}, headers=bearer(prod))
    assert late.status_code == 400 and late.json()[0]["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"


def test_discard_keeps_the_old_org(sim, http, prod):
    sandbox = sim.seed_sandboxes(PROD_ORG, names=["dis"])[0]
    old = authorize_sandbox(sim, http, prod, "dis")["access_token"]
    refresh(sim, http, prod, sandbox["SandboxInfoId"], {"LicenseType": "DEVELOPER", "AutoActivate": False})
    process = sim.advance_sandbox("dis", "Pending Activation")
    url = f"{sim.base_url}{TOOLING}/sobjects/SandboxProcess/{process['SandboxProcessId']}"
    assert http.patch(url, json={"RefreshAction": "DISCARD"}, headers=bearer(prod)).status_code == 204
    assert http.get(url, headers=bearer(prod)).json()["Status"] == "Discarded"
    assert org_row(sim, http, old).status_code == 200


def test_copy_failure(sim, http, prod):
    create(sim, http, prod, {"SandboxName": "boom", "LicenseType": "DEVELOPER"})
    sim.advance_sandbox("boom", "Processing")
    view = sim.fail_sandbox("boom", "Storage limit exceeded")
    assert view["Status"] == "Failed" and view["failure"] == "Storage limit exceeded"
    process = process_by_name(sim, http, prod, "boom")
    assert process["Status"] == "Failed" and process["EndDate"] is not None and process["SandboxOrganization"] is None
    auth = sandbox_auth(sim, http, prod, "boom")
    assert auth.status_code == 400
    assert auth.json() == [
        {"message": "The sandbox boom copy failed: Storage limit exceeded", "errorCode": "INVALID_STATUS"}
    ]
    with pytest.raises(SimulatorError):
        sim.fail_sandbox("boom")  # no longer running
    info_id = process["SandboxInfoId"]
    assert refresh(sim, http, prod, info_id, {"LicenseType": "DEVELOPER"}).status_code == 204  # retry


def test_delete_frees_the_name_and_license_and_kills_the_org(sim, http, prod):
    sim.set_sandbox_licenses(PROD_ORG, DEVELOPER=1)
    sandbox = sim.seed_sandboxes(PROD_ORG, names=["gone"])[0]
    token = authorize_sandbox(sim, http, prod, "gone")["access_token"]
    url = f"{sim.base_url}{TOOLING}/sobjects/SandboxInfo/{sandbox['SandboxInfoId']}"
    deleted = http.delete(url, headers=bearer(prod))
    assert deleted.status_code == 204
    assert http.get(url, headers=bearer(prod)).status_code == 404
    assert http.delete(url, headers=bearer(prod)).status_code == 404
    assert tooling_query(sim, http, prod, "SELECT Id FROM SandboxInfo").json()["totalSize"] == 0
    assert org_row(sim, http, token).status_code == 401
    deleting = tooling_query(sim, http, prod, "SELECT Status FROM SandboxProcess WHERE SandboxName = 'gone'")
    assert deleting.json()["records"][0]["Status"] == "Deleting"
    reuse = create(sim, http, prod, {"SandboxName": "gone", "LicenseType": "DEVELOPER"})
    assert reuse.json()[0]["errorCode"] == "DUPLICATE_VALUE"  # still being deleted
    sim.configure(clock_offset_seconds=101)  # 10 % of sandbox_copy_seconds
    deleted_row = tooling_query(sim, http, prod, "SELECT Status FROM SandboxProcess WHERE SandboxName = 'gone'")
    assert deleted_row.json()["records"][0]["Status"] == "Deleted"
    assert create(sim, http, prod, {"SandboxName": "gone", "LicenseType": "DEVELOPER"}).status_code == 201


def test_full_sandbox_cannot_be_deleted_within_29_days(sim, http, prod):
    info_id = sim.seed_sandboxes(PROD_ORG, names=["full"], license_type="FULL", last_refresh_days_ago=2)[0][
        "SandboxInfoId"
    ]
    early = http.delete(f"{sim.base_url}{TOOLING}/sobjects/SandboxInfo/{info_id}", headers=bearer(prod))
    assert early.status_code == 400 and "can't be deleted until" in early.json()[0]["message"]
    sim.set_sandbox_last_refresh("full", 30)
    assert (
        http.delete(f"{sim.base_url}{TOOLING}/sobjects/SandboxInfo/{info_id}", headers=bearer(prod)).status_code == 204
    )


# -- queries the CLI runs, paging, seeding ------------------------------------------------------------------


def test_cli_queries(sim, http, prod):
    sandbox = sim.seed_sandboxes(PROD_ORG, names=["cliq"])[0]
    org15 = sandbox["org_id"][:15]
    by_org = tooling_query(
        sim,
        http,
        prod,
        f"SELECT SandboxInfoId FROM SandboxProcess WHERE SandboxOrganization ='{org15}' "  # noqa: S608
        "AND Status NOT IN ('D', 'E')",
    ).json()["records"]
    assert [row["SandboxInfoId"] for row in by_org] == [sandbox["SandboxInfoId"]]
    by_id = tooling_query(
        sim,
        http,
        prod,
        f"SELECT {PROCESS_FIELDS} FROM SandboxProcess WHERE Id='{sandbox['SandboxProcessId']}' "  # noqa: S608
        "ORDER BY CreatedDate DESC",
    ).json()["records"]
    assert by_id[0]["Status"] == "Completed"
    related = tooling_query(
        sim, http, prod, "SELECT SandboxInfo.SandboxName, CreatedBy.Username FROM SandboxProcess"
    ).json()["records"][0]
    assert related["SandboxInfo"]["SandboxName"] == "cliq" and related["CreatedBy"]["Username"] == ADMIN
    count = tooling_query(sim, http, prod, "SELECT COUNT() FROM SandboxInfo").json()
    assert count["totalSize"] == 1


def test_paging_over_many_sandboxes(sim, http, prod):
    sim.set_sandbox_licenses(PROD_ORG, DEVELOPER=60)
    seeded = sim.seed_sandboxes(PROD_ORG, 50, copy_users=False)
    assert [s["SandboxName"] for s in seeded[:3]] == ["sb1", "sb2", "sb3"] and seeded[0]["usernames"] == []
    sim.configure(page_size=20)
    first = tooling_query(sim, http, prod, "SELECT Id, SandboxName FROM SandboxInfo ORDER BY SandboxName")
    body = first.json()
    assert body["totalSize"] == 50 and body["done"] is False and len(body["records"]) == 20
    assert body["nextRecordsUrl"].startswith("/services/data/v68.0/tooling/query/01g")
    names = [r["SandboxName"] for r in body["records"]]
    while not body["done"]:
        body = http.get(f"{sim.base_url}{body['nextRecordsUrl']}", headers=bearer(prod)).json()
        names += [r["SandboxName"] for r in body["records"]]
    assert len(names) == 50 and len(set(names)) == 50
    bad = http.get(f"{sim.base_url}{TOOLING}/query/01gNOPE-20", headers=bearer(prod))
    assert bad.status_code == 400 and bad.json()[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


def test_fifty_orgs_with_fifty_sandboxes_each_seed_quickly(sim):
    orgs = [
        {"id": f"00D5g0000{index:04d}BNCEA3"[:15], "name": f"Bench {index}", "kind": "production"}
        for index in range(50)
    ]
    users = [
        {"id": f"0055g0000{index:04d}BNCAA3"[:15], "org": org["id"], "username": f"admin{index}@bench.example"}
        for index, org in enumerate(orgs)
    ]
    sim.load({"orgs": orgs, "users": users})
    for user in users:
        assert len(sim.seed_sandboxes(user["username"], 50, copy_users=False)) == 50
    assert sim.state()["sandbox_infos"] == 50 * 50


def test_seed_and_control_errors(sim):
    with pytest.raises(SimulatorError, match="production"):
        sim.seed_sandboxes(UAT_USER, 1)
    with pytest.raises(SimulatorError, match="invalid sandbox name"):
        sim.seed_sandboxes(PROD_ORG, names=["way-too-long-name"])
    sim.seed_sandboxes(PROD_ORG, names=["a1"])
    with pytest.raises(SimulatorError, match="already used"):
        sim.seed_sandboxes(PROD_ORG, names=["A1"])
    sim.set_sandbox_licenses(PROD_ORG, FULL=0)
    with pytest.raises(SimulatorError, match="licenses"):
        sim.seed_sandboxes(PROD_ORG, names=["f1"], license_type="FULL")
    with pytest.raises(SimulatorError, match="unknown sandbox"):
        sim.advance_sandbox("nosuch")
    with pytest.raises(SimulatorError, match="can reach"):
        sim.advance_sandbox("a1", "Processing")  # already Completed
    with pytest.raises(SimulatorError, match="unknown license type"):
        sim.set_sandbox_licenses(PROD_ORG, HUGE=1)
    assert [s["SandboxName"] for s in sim.sandboxes(PROD_ORG)] == ["a1"]


def test_instance_url_template(sim, http, prod):
    sim.configure(sandbox_instance_url_template="https://{mydomain}--{sandbox}.sandbox.my.salesforce.com")
    sim.seed_sandboxes(PROD_ORG, names=["MyBox"])
    auth = sandbox_auth(sim, http, prod, "MyBox").json()
    assert auth["instanceUrl"] == "https://acmeproduction--mybox.sandbox.my.salesforce.com"
    tokens = exchange_code(sim, http, auth["authCode"]).json()
    assert tokens["instance_url"] == auth["instanceUrl"]
    assert org_row(sim, http, tokens["access_token"]).status_code == 200  # still served by the one host
