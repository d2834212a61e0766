"""REST: versions, identity/userinfo, SOQL queries with paging, errors and session expiry."""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

import pytest

from sfsim.ids import make_id
from tests.sfsim.conftest import ADMIN, DEMO_KEY, PROD_ORG, UAT_USER, bearer, query

INVALID_SESSION = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]


@pytest.fixture
def admin_token(sim) -> str:
    return sim.mint_tokens(ADMIN, DEMO_KEY)["access_token"]


def _records(response) -> list[dict]:
    assert response.status_code == 200, response.text
    return response.json()["records"]


def test_versions_need_no_auth(sim, http):
    versions = http.get(f"{sim.base_url}/services/data/").json()
    assert versions[0] == {"label": "Summer '14", "url": "/services/data/v31.0", "version": "31.0"}
    assert versions[-1] == {"label": "Winter '27", "url": "/services/data/v68.0", "version": "68.0"}
    assert len(versions) == 38


def test_version_resources_retired_and_unknown_versions(sim, http, admin_token):
    resources = http.get(f"{sim.base_url}/services/data/v68.0", headers=bearer(admin_token))
    assert resources.json()["query"] == "/services/data/v68.0/query"
    assert http.get(f"{sim.base_url}/services/data/v30.0", headers=bearer(admin_token)).status_code == 410
    assert http.get(f"{sim.base_url}/services/data/v69.0", headers=bearer(admin_token)).status_code == 404


def test_rest_without_a_token_is_401(sim, http):
    response = http.get(f"{sim.base_url}/services/data/v68.0/query", params={"q": "SELECT Id FROM User"})
    assert response.status_code == 401 and response.json() == INVALID_SESSION


def test_userinfo_and_identity_url(sim, http):
    tokens = sim.mint_tokens(ADMIN, DEMO_KEY)
    userinfo = http.get(
        f"{sim.base_url}/services/oauth2/userinfo", headers=bearer(tokens["access_token"])
    ).json()
    identity = http.get(
        tokens["id"], params={"version": "68.0"}, headers=bearer(tokens["access_token"])
    ).json()

    assert userinfo["sub"] == tokens["id"] and userinfo["organization_id"] == PROD_ORG
    assert userinfo["preferred_username"] == ADMIN and userinfo["user_type"] == "STANDARD"
    assert identity["id"] == tokens["id"] and identity["username"] == ADMIN
    assert identity["user_id"] == userinfo["user_id"] and identity["organization_id"] == PROD_ORG
    assert identity["urls"]["rest"] == f"{sim.base_url}/services/data/v68.0/"
    assert {"display_name", "email", "first_name", "last_name", "active", "photos", "urls"} <= set(identity)


def test_sobject_user_by_id(sim, http):
    tokens = sim.mint_tokens(ADMIN, DEMO_KEY)
    user_id = tokens["id"].rsplit("/", 1)[1]
    response = http.get(
        f"{sim.base_url}/services/data/v51.0/sobjects/User/{user_id}", headers=bearer(tokens["access_token"])
    )
    body = response.json()
    assert body["Username"] == ADMIN and body["Id"] == user_id and body["Name"] == "Ada Admin"
    assert body["attributes"] == {"type": "User", "url": f"/services/data/v51.0/sobjects/User/{user_id}"}
    missing = http.get(
        f"{sim.base_url}/services/data/v51.0/sobjects/User/005000000000000AAA",
        headers=bearer(tokens["access_token"]),
    )
    assert missing.status_code == 404 and missing.json()[0]["errorCode"] == "NOT_FOUND"


def test_organization_query_tells_org_kinds_apart(sim, http):
    soql = (
        "SELECT Name, InstanceName, IsSandbox, TrialExpirationDate, NamespacePrefix, OrganizationType "
        "FROM Organization"
    )
    prod = _records(query(http, sim.base_url, sim.mint_tokens(ADMIN, DEMO_KEY)["access_token"], soql))[0]
    uat = _records(query(http, sim.base_url, sim.mint_tokens(UAT_USER, DEMO_KEY)["access_token"], soql))[0]
    scratch_token = sim.mint_tokens("test-feature1@example.com", DEMO_KEY)["access_token"]
    scratch = _records(query(http, sim.base_url, scratch_token, soql))[0]
    pkg = _records(
        query(http, sim.base_url, sim.mint_tokens("pkg@acme.example", DEMO_KEY)["access_token"], soql)
    )[0]

    assert (prod["IsSandbox"], prod["TrialExpirationDate"], prod["OrganizationType"]) == (
        False,
        None,
        "Enterprise Edition",
    )
    assert (uat["IsSandbox"], uat["TrialExpirationDate"]) == (True, None)
    assert scratch["IsSandbox"] is True and scratch["TrialExpirationDate"].endswith("+0000")
    assert pkg["NamespacePrefix"] == "acmepkg" and pkg["OrganizationType"] == "Developer Edition"
    assert prod["attributes"]["type"] == "Organization"


def test_scratch_org_info_query_with_relationship_fields(sim, http, admin_token):
    soql = (
        "SELECT CreatedDate, Edition, Status, ExpirationDate, Namespace, OrgName, CreatedBy.Username, "
        "SignupUsername, LoginUrl, ScratchOrg FROM ScratchOrgInfo WHERE ScratchOrg IN ('00D1F00000ScFTR', "
        "'00D1F00000ScOLD') ORDER BY OrgName"
    )
    records = _records(query(http, sim.base_url, admin_token, soql))

    assert [r["OrgName"] for r in records] == ["Acme Feature Scratch", "Acme Old Spike"]
    assert [r["Status"] for r in records] == ["Active", "Deleted"]
    assert records[0]["CreatedBy"]["Username"] == ADMIN
    assert records[0]["CreatedBy"]["attributes"]["type"] == "User"
    assert list(records[0])[:3] == ["attributes", "CreatedDate", "Edition"]


def test_where_operators(sim, http, admin_token):
    def names(where: str) -> list[str]:
        soql = f"SELECT OrgName FROM ScratchOrgInfo WHERE {where} ORDER BY OrgName DESC"  # noqa: S608 (SOQL)
        return [r["OrgName"] for r in _records(query(http, sim.base_url, admin_token, soql))]

    assert names("Status = 'active'") == ["Acme Hotfix Scratch", "Acme Feature Scratch"]
    assert names("Status != 'Active'") == ["Acme Old Spike"]
    assert names("Status NOT IN ('Deleted', 'Error')") == ["Acme Hotfix Scratch", "Acme Feature Scratch"]
    assert names("Namespace = null") == ["Acme Old Spike", "Acme Feature Scratch"]
    assert names("Namespace != null OR Edition = 'Developer' AND Status = 'Deleted'") == [
        "Acme Old Spike",
        "Acme Hotfix Scratch",
    ]
    assert names("(Namespace != null OR Edition = 'Developer') AND Status = 'Active'") == [
        "Acme Hotfix Scratch",
        "Acme Feature Scratch",
    ]
    assert names("ExpirationDate < 2000-01-01") == []
    assert names("CreatedDate > 2000-01-01T00:00:00Z AND DurationDays >= 30") == [
        "Acme Old Spike",
        "Acme Feature Scratch",
    ]
    assert names("OrgName LIKE '%Hot%'") == ["Acme Hotfix Scratch"]
    assert names("CreatedBy.Username = 'ci@acme.example'") == ["Acme Hotfix Scratch"]


def test_count_and_limit(sim, http, admin_token):
    count = query(http, sim.base_url, admin_token, "SELECT COUNT() FROM User").json()
    limited = query(http, sim.base_url, admin_token, "SELECT Id FROM User ORDER BY Username LIMIT 2").json()
    assert count == {"totalSize": 4, "done": True, "records": []}
    assert limited["totalSize"] == 2 and len(limited["records"]) == 2


def test_paging_with_next_records_url(sim, http, admin_token):
    sim.load(
        {
            "users": [
                {"id": make_id("005", 900_000 + i), "org": PROD_ORG, "username": f"bulk{i:03d}@acme.example"}
                for i in range(7)
            ]
        }
    )
    sim.configure(page_size=3)
    seen: list[str] = []

    page = query(http, sim.base_url, admin_token, "SELECT Username FROM User ORDER BY Username").json()
    urls = []
    while True:
        seen += [r["Username"] for r in page["records"]]
        assert page["totalSize"] == 11
        if page["done"]:
            assert "nextRecordsUrl" not in page
            break
        urls.append(page["nextRecordsUrl"])
        page = http.get(sim.base_url + page["nextRecordsUrl"], headers=bearer(admin_token)).json()

    assert len(seen) == 11 and seen == sorted(seen)
    assert urls[0].startswith("/services/data/v68.0/query/01g") and urls[0].endswith("-3")
    assert [u.rsplit("-", 1)[1] for u in urls] == ["3", "6", "9"]


def test_query_locator_is_private_to_the_org(sim, http, admin_token):
    sim.configure(page_size=1)
    page = query(http, sim.base_url, admin_token, "SELECT Id FROM User").json()
    other = sim.mint_tokens(UAT_USER, DEMO_KEY)["access_token"]
    response = http.get(sim.base_url + page["nextRecordsUrl"], headers=bearer(other))
    assert response.status_code == 400 and response.json()[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


def test_scratch_objects_on_a_non_hub_are_invalid_type(sim, http):
    token = sim.mint_tokens(UAT_USER, DEMO_KEY)["access_token"]
    response = query(http, sim.base_url, token, "SELECT Id FROM ScratchOrgInfo limit 1")
    body = response.json()
    assert response.status_code == 400 and body[0]["errorCode"] == "INVALID_TYPE"
    assert "sObject type 'ScratchOrgInfo' is not supported" in body[0]["message"]


def test_dev_hub_detection_query_succeeds_on_the_hub(sim, http, admin_token):
    assert query(http, sim.base_url, admin_token, "SELECT Id FROM ScratchOrgInfo limit 1").status_code == 200


@pytest.mark.parametrize(
    "soql",
    [
        "SELECT FROM User",
        "SELEC Id FROM User",
        "SELECT Id FROM User WHERE",
        "SELECT Id FROM User LIMIT x",
        "SELECT Id FROM User WHERE Name = 'x",
        "SELECT Id, FROM User",
        "",
    ],
)
def test_bad_soql_is_malformed_query(sim, http, admin_token, soql):
    response = query(http, sim.base_url, admin_token, soql)
    assert response.status_code == 400 and response.json()[0]["errorCode"] == "MALFORMED_QUERY"


def test_unknown_field_is_invalid_field(sim, http, admin_token):
    response = query(http, sim.base_url, admin_token, "SELECT Id, Nope FROM User")
    assert response.status_code == 400 and response.json()[0]["errorCode"] == "INVALID_FIELD"
    assert "No such column 'Nope' on entity 'User'" in response.json()[0]["message"]


def test_columns_true_returns_column_metadata(sim, http, admin_token):
    soql = "SELECT Id, OrgName, CreatedBy.Username FROM ScratchOrgInfo"
    body = query(http, sim.base_url, admin_token, soql, columns="true").json()

    assert body["entityName"] == "ScratchOrgInfo" and body["idSelected"] is True
    assert body["keyPrefix"] == "2SR" and body["groupBy"] is False
    assert [c["columnName"] for c in body["columnMetadata"]] == ["Id", "OrgName", "CreatedBy"]
    joined = body["columnMetadata"][2]["joinColumns"]
    assert [c["columnName"] for c in joined] == ["Username"] and joined[0]["joinColumns"] == []
    assert body["columnMetadata"][1]["apexType"] == "String" and "records" not in body


def test_access_tokens_expire_after_idle_timeout(sim, http, admin_token):
    assert query(http, sim.base_url, admin_token, "SELECT Id FROM Organization").status_code == 200
    sim.configure(clock_offset_seconds=7199)
    assert query(http, sim.base_url, admin_token, "SELECT Id FROM Organization").status_code == 200  # resets
    sim.configure(clock_offset_seconds=7199 * 2 + 2)
    response = query(http, sim.base_url, admin_token, "SELECT Id FROM Organization")
    assert response.status_code == 401 and response.json() == INVALID_SESSION


def test_app_session_timeout_is_configurable(sim, http, admin_token):
    sim.update_app(DEMO_KEY, session_timeout_seconds=60)
    sim.configure(clock_offset_seconds=61)
    assert query(http, sim.base_url, admin_token, "SELECT Id FROM Organization").status_code == 401


def test_expire_all_sessions(sim, http):
    tokens = sim.mint_tokens(ADMIN, DEMO_KEY)
    sim.expire_sessions()
    assert query(http, sim.base_url, tokens["access_token"], "SELECT Id FROM Organization").status_code == 401
    fresh = http.post(
        f"{sim.base_url}/services/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": DEMO_KEY,
            "client_secret": "sfsim-demo-secret",
        },
    ).json()
    assert query(http, sim.base_url, fresh["access_token"], "SELECT Id FROM Organization").status_code == 200


def test_userinfo_accepts_oauth_token_query_parameter_but_rest_does_not(sim, http, admin_token):
    userinfo = http.get(f"{sim.base_url}/services/oauth2/userinfo", params={"oauth_token": admin_token})
    rest = http.get(
        f"{sim.base_url}/services/data/v68.0/query",
        params={"q": "SELECT Id FROM Organization", "oauth_token": admin_token},
    )
    assert userinfo.status_code == 200 and userinfo.json()["preferred_username"] == ADMIN
    assert rest.status_code == 401
    assert all("oauth_token" not in entry["path"] for entry in sim.log())


def test_a_leading_double_slash_is_one_slash(sim, admin_token):
    """The CLI keeps instanceUrl as `http://host:port/` and requests `//services/data/...`."""
    parts = urlsplit(sim.base_url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.request(
            "GET", "//services/data/v68.0/query?q=SELECT+Id+FROM+Organization", headers=bearer(admin_token)
        )
        response = connection.getresponse()
        body = json.loads(response.read())
    finally:
        connection.close()

    assert response.status == 200, body
    assert [record["Id"] for record in body["records"]] == [PROD_ORG]
    assert sim.log()[-1]["path"] == "/services/data/v68.0/query"
