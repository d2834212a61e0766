"""JWT bearer connections against the simulator: create, classify, mint on demand, and every error mapping."""

import jwt
import pytest
from django.urls import reverse

from orgs.models import OrgAlias, OrgConnection
from orgs.services import jwt as jwt_flow
from portal.accounts.models import AuditEvent, Membership
from portal.accounts.services import ServiceError
from tests.api.conftest import CI_USER, DE_USER, HUB_ORG, SECURE_USER
from tests.registrations.keyfactory import certificate, rsa_key

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

PRODUCTION = "https://login.salesforce.com"
SANDBOX = "https://test.salesforce.com"


def create(world, app, username=CI_USER, login_url=PRODUCTION, alias=""):
    admin = Membership.objects.get(team=world.team, user=world.admin)
    return jwt_flow.jwt_connection_create(actor=admin, app=app, username=username, login_url=login_url, alias=alias)


def jwt_requests(sim):
    return [e for e in sim.log() if e["path"] == "/services/oauth2/token"
            and e.get("grant_type") == "urn:ietf:params:oauth:grant-type:jwt-bearer"]


def test_a_jwt_connection_is_classified_like_a_web_one(world, sim, jwt_app):
    sim.clear_log()
    connection, created = create(world, jwt_app, alias="ci")
    assert created
    assert connection.flow == "jwt" and connection.owner == world.admin and connection.username == CI_USER
    assert connection.org_id == HUB_ORG and connection.is_devhub and connection.type_label == "Dev Hub"
    assert connection.login_url == PRODUCTION and connection.instance_url == sim.base_url
    assert connection.api_version == "68.0" and connection.status == "connected"
    assert connection.refresh_token is None and connection.reveal("access_token")
    assert OrgAlias.objects.get(user=world.admin, connection=connection).alias == "ci"
    assert [e["outcome"] for e in jwt_requests(sim)] == ["ok"]
    event = AuditEvent.objects.get(kind="org.connected")
    assert event.data["flow"] == "jwt" and event.data["signing_key"] == "CI key"
    assert connection.reveal("access_token") not in str(event.data)


def test_creating_it_again_updates_the_same_connection(world, sim, jwt_app):
    first, _ = create(world, jwt_app)
    second, created = create(world, jwt_app)
    assert not created and first.pk == second.pk
    assert OrgConnection.objects.filter(team=world.team).count() == 1


def test_the_signed_jwt_has_the_documented_claims(world, sim, jwt_app, monkeypatch):
    seen = {}
    real_encode = jwt.encode

    def spy(claims, key, algorithm):
        seen.update(claims=claims, algorithm=algorithm)
        return real_encode(claims, key, algorithm=algorithm)

    monkeypatch.setattr("orgs.salesforce.client.jwt.encode", spy)
    import time

    create(world, jwt_app)
    claims = seen["claims"]
    assert seen["algorithm"] == "RS256"
    assert claims["iss"] == "OrgPortalDemo" and claims["sub"] == CI_USER and claims["aud"] == PRODUCTION
    assert 0 < claims["exp"] - time.time() <= 180


def test_a_new_jwt_is_minted_whenever_a_token_is_needed(world, sim, jwt_app, client, make_token):
    connection, _ = create(world, jwt_app, alias="ci")
    connection.seal("access_token", None)
    connection.save()
    sim.clear_log()
    issued = make_token(world.admin)
    response = client.post("/api/v1/orgs/ci/access-token", HTTP_AUTHORIZATION=f"Bearer {issued.raw}")
    assert response.status_code == 200, response.content
    assert [e["outcome"] for e in jwt_requests(sim)] == ["ok"]
    assert response.json()["access_token"].startswith(HUB_ORG[:15] + "!")


# -- every Salesforce error, mapped to what to fix ---

def refused(world, app, **kwargs) -> str:
    with pytest.raises(ServiceError) as caught:
        create(world, app, **kwargs)
    assert not OrgConnection.objects.filter(team=world.team).exists()
    event = AuditEvent.objects.filter(kind="org.connect_failed").latest("id")
    assert event.data["flow"] == "jwt"
    return str(caught.value)


def test_user_not_approved(world, sim, jwt_app):
    message = refused(world, jwt_app, username=DE_USER)
    assert "hasn't approved" in message and "pre-authorize" in message and "permission set" in message
    assert jwt_requests(sim)[-1]["outcome"] != "ok"


def test_wrong_host_type_says_not_approved_and_names_the_host(world, sim, jwt_app):
    message = refused(world, jwt_app, login_url=SANDBOX)  # a production user asserted to the sandbox host
    assert "pre-authorize" in message and "Production vs Sandbox" in message
    assert jwt_requests(sim)[-1]["outcome"] == "wrong_host_type"


def test_invalid_assertion_shows_the_key_fingerprint(world, sim, jwt_app):
    other = certificate(rsa_key(), cn="someone else").decode()
    sim.update_app("OrgPortalDemo", certificate=other)  # the app in Salesforce has another certificate
    message = refused(world, jwt_app)
    assert "invalid assertion" in message and "does not match the signing key “CI key”" in message
    assert jwt_app.signing_key.fingerprint_sha256 in message


def test_audience_validation_failed_is_a_wrong_login_host(world, sim, jwt_app):
    message = refused(world, jwt_app, login_url="https://elsewhere.my.salesforce.com")
    assert "Audience validation failed" in message and "wrong login host" in message


def test_invalid_client_id_is_a_wrong_consumer_key(world, sim, jwt_app):
    type(jwt_app).objects.filter(pk=jwt_app.pk).update(consumer_key="NoSuchConsumerKey")
    jwt_app.refresh_from_db()
    message = refused(world, jwt_app)
    assert "invalid_client_id" in message and "consumer key" in message


def test_expired_jwt_is_clock_skew(world, sim, jwt_app):
    sim.configure(clock_offset_seconds=600)  # Salesforce's clock is 10 minutes ahead of ours
    message = refused(world, jwt_app)
    assert "clock skew" in message and "expired" in message


def test_high_assurance_users_need_a_web_flow_connection(world, sim, jwt_app):
    message = refused(world, jwt_app, username=SECURE_USER)
    assert "high-assurance" in message and "JWT can't be used headlessly" in message
    assert "web-flow connection" in message


def test_an_app_without_a_signing_key_is_refused_before_any_call(world, sim, sim_app):
    sim.clear_log()
    with pytest.raises(ServiceError, match="no JWT signing key"):
        create(world, sim_app)
    assert not jwt_requests(sim) and not OrgConnection.objects.exists()


def test_untrusted_login_hosts_are_refused_before_any_call(world, sim, jwt_app):
    sim.clear_log()
    for url in ("https://evil.example", "http://login.salesforce.com", "https://10.0.0.1"):
        with pytest.raises(ServiceError):
            create(world, jwt_app, login_url=url)
    assert not jwt_requests(sim)


# -- the page ---

def test_admins_create_jwt_connections_from_the_page(world, sim, jwt_app, client):
    client.force_login(world.admin)
    url = reverse("orgs:jwt_connect", args=[world.team.code])
    assert client.get(url).status_code == 200
    response = client.post(url, {"app": jwt_app.pk, "username": CI_USER, "environment": "production",
                                 "alias": "ci-hub"})
    assert response.status_code == 302, response.content.decode()[-1500:]
    assert OrgAlias.objects.get(user=world.admin).alias == "ci-hub"


def test_the_page_shows_the_error_and_stores_nothing(world, sim, jwt_app, client):
    client.force_login(world.admin)
    response = client.post(reverse("orgs:jwt_connect", args=[world.team.code]),
                           {"app": jwt_app.pk, "username": DE_USER, "environment": "production"})
    assert response.status_code == 400 and "pre-authorize" in response.content.decode()
    assert not OrgConnection.objects.exists()


@pytest.mark.parametrize(("role", "status"), [("member", 403), ("outsider", 404)])
def test_only_admins_may_create_jwt_connections(world, sim, jwt_app, client, role, status):
    client.force_login(world.user(role))
    url = reverse("orgs:jwt_connect", args=[world.team.code])
    assert client.get(url).status_code == status
    assert client.post(url, {"app": jwt_app.pk, "username": CI_USER, "environment": "production"}).status_code == status
    assert not OrgConnection.objects.exists()
