"""Discovery documents, JWKS contents, default claims, and verification with PyJWT's PyJWKClient."""

from __future__ import annotations

import base64
import hashlib
import json
import time

import jwt
import pytest

from oidcsim.testing import IssuerError, start_issuer

from .conftest import AUDIENCE, segments


def verify(token: str, jwks_uri: str, *, algorithms=("RS256",), audience=AUDIENCE, **options) -> dict:
    key = jwt.PyJWKClient(jwks_uri, cache_jwk_set=False).get_signing_key_from_jwt(token)
    return jwt.decode(token, key, algorithms=list(algorithms), audience=audience, **options)


@pytest.mark.parametrize(
    ("name", "jwks_suffix", "subject_types"),
    [("github", "/.well-known/jwks", ["public", "pairwise"]), ("gitlab", "/oauth/discovery/keys", ["public"])],
)
def test_discovery_document_names_the_issuer_and_its_jwks(oidc, http, name, jwks_suffix, subject_types):
    issuer = oidc.issuer_url(name)
    assert issuer == f"{oidc.base_url}/{name}"
    response = http.get(f"{issuer}/.well-known/openid-configuration")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    document = response.json()
    assert document["issuer"] == issuer
    assert document["jwks_uri"] == issuer + jwks_suffix == oidc.jwks_uri(name)
    assert document["id_token_signing_alg_values_supported"] == ["RS256"]
    assert document["response_types_supported"] == ["id_token"]
    assert document["subject_types_supported"] == subject_types
    assert {"iss", "sub", "aud", "exp", "iat", "jti", "ref", "ref_type", "ref_protected"} <= set(
        document["claims_supported"]
    )
    assert oidc.counters(name)["discovery"] == 1


def test_jwks_publishes_rs256_keys_with_rfc7638_kids(oidc, http):
    keys = http.get(oidc.jwks_uri("github")).json()["keys"]
    assert len(keys) == 1
    (key,) = keys
    assert {key["kty"], key["alg"], key["use"]} == {"RSA", "RS256", "sig"}
    canonical = json.dumps({k: key[k] for k in ("e", "kty", "n")}, separators=(",", ":"), sort_keys=True)
    assert key["kid"] == base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()
    assert key["kid"] == oidc.signing_kid("github")
    assert "d" not in key and "p" not in key  # public parts only
    assert http.get(oidc.jwks_uri("gitlab")).json()["keys"][0]["kid"] != key["kid"]  # one key set per issuer


@pytest.mark.parametrize("name", ["github", "gitlab"])
def test_minted_token_verifies_with_pyjwkclient(oidc, name):
    token = oidc.mint(name, audience=AUDIENCE)
    header, _, _ = segments(token)
    assert header == {"typ": "JWT", "kid": oidc.signing_kid(name), "alg": "RS256"}
    claims = verify(token, oidc.jwks_uri(name), issuer=oidc.issuer_url(name), options={"require": ["exp", "iat"]})
    assert claims["aud"] == AUDIENCE


def test_github_default_claims_are_realistic(oidc):
    before = int(time.time())
    claims = verify(oidc.mint("github", audience=AUDIENCE), oidc.jwks_uri("github"))
    assert claims["iss"] == oidc.issuer_url("github")
    assert claims["sub"] == "repo:acme/app:ref:refs/heads/main"
    assert claims["exp"] - claims["iat"] == 300 and claims["iat"] - claims["nbf"] == 600
    assert before <= claims["iat"] <= time.time()
    assert claims["job_workflow_ref"] == "acme/app/.github/workflows/deploy.yml@refs/heads/main"
    for key in ("repository_id", "repository_owner_id", "actor_id", "run_id", "run_attempt", "ref_protected"):
        assert isinstance(claims[key], str), key  # GitHub sends IDs and ref_protected as strings
    expected = {
        "repository": "acme/app", "repository_owner": "acme", "ref": "refs/heads/main", "ref_type": "branch",
        "event_name": "push", "runner_environment": "github-hosted", "head_ref": "", "base_ref": "",
    }  # fmt: skip
    assert expected.items() <= claims.items()
    for key in ("jti", "workflow", "actor", "sha", "workflow_ref"):
        assert claims[key]
    assert "environment" not in claims  # only jobs that use an environment carry one
    assert claims["jti"] != segments(oidc.mint("github", audience=AUDIENCE))[1]["jti"]


def test_github_overrides_rederive_sub_owner_and_workflow_refs(oidc):
    token = oidc.mint(
        "github", {"repository": "evil/app", "environment": "prod", "ref": "refs/tags/v1"}, audience=AUDIENCE
    )
    _, claims, _ = segments(token)
    assert claims["sub"] == "repo:evil/app:environment:prod"
    assert claims["repository_owner"] == "evil"
    assert claims["workflow_ref"] == "evil/app/.github/workflows/deploy.yml@refs/tags/v1"
    _, pr, _ = segments(oidc.mint("github", {"event_name": "pull_request"}, audience=AUDIENCE))
    assert pr["sub"] == "repo:acme/app:pull_request"
    _, explicit, _ = segments(oidc.mint("github", {"sub": "repo:x/y:ref:z", "environment": "a:b"}, audience=AUDIENCE))
    assert explicit["sub"] == "repo:x/y:ref:z"
    _, escaped, _ = segments(oidc.mint("github", {"environment": "a:b"}, audience=AUDIENCE))
    assert escaped["sub"] == "repo:acme/app:environment:a%3Ab"


def test_gitlab_default_claims_are_realistic(oidc):
    claims = verify(oidc.mint("gitlab", audience=AUDIENCE), oidc.jwks_uri("gitlab"))
    assert claims["sub"] == "project_path:acme/app:ref_type:branch:ref:main"
    expected = {
        "namespace_id": "72", "namespace_path": "acme", "project_id": "20", "project_path": "acme/app",
        "ref": "main", "ref_type": "branch", "ref_path": "refs/heads/main", "ref_protected": "true",
        "pipeline_source": "push",
    }  # fmt: skip
    assert expected.items() <= claims.items()
    for key in ("pipeline_id", "job_id", "user_id", "user_login", "jti", "sha", "ci_config_ref_uri"):
        assert claims[key]
    assert claims["exp"] - claims["iat"] == 300 and claims["iat"] - claims["nbf"] == 5
    _, tag, _ = segments(oidc.mint("gitlab", {"project_path": "g/sub/p", "ref_type": "tag", "ref": "v2"}, audience="a"))
    assert tag["sub"] == "project_path:g/sub/p:ref_type:tag:ref:v2"
    assert (tag["namespace_path"], tag["ref_path"]) == ("g/sub", "refs/tags/v2")


def test_claims_times_audience_and_headers_can_be_set(oidc):
    _, claims, _ = segments(
        oidc.mint("github", {"jti": None, "custom": 1}, audience=[AUDIENCE, "other"], iat=1000, nbf=990, exp=1300)
    )
    assert "jti" not in claims and claims["custom"] == 1
    assert claims["aud"] == [AUDIENCE, "other"]
    assert (claims["iat"], claims["nbf"], claims["exp"]) == (1000, 990, 1300)
    _, no_aud, _ = segments(oidc.mint("github", audience=None, lifetime=3600))
    assert "aud" not in no_aud and no_aud["exp"] - no_aud["iat"] == 3600
    header, _, _ = segments(oidc.mint("github", audience=AUDIENCE, headers={"kid": None, "typ": "at+jwt", "x": 1}))
    assert header == {"typ": "at+jwt", "x": 1, "alg": "RS256"}
    for bad in ({"claims": {}}, {"audience": "a", "bogus": 1}, {"audience": 3}, {"audience": "a", "iat": "now"}):
        with pytest.raises(IssuerError) as refused:
            oidc.call("POST", "github/mint", bad)
        assert refused.value.status == 400


def test_es256_key_is_published_and_signs(oidc, http):
    kid = oidc.add_key("github", "ES256")
    jwks = {key["kid"]: key for key in http.get(oidc.jwks_uri("github")).json()["keys"]}
    assert jwks[kid]["kty"] == "EC" and jwks[kid]["crv"] == "P-256" and jwks[kid]["alg"] == "ES256"
    discovery = http.get(oidc.issuer_url("github") + "/.well-known/openid-configuration").json()
    assert discovery["id_token_signing_alg_values_supported"] == ["RS256", "ES256"]
    token = oidc.mint("github", audience=AUDIENCE, alg="ES256")  # picks the published ES256 key
    assert segments(token)[0]["kid"] == kid and segments(token)[0]["alg"] == "ES256"
    verify(token, oidc.jwks_uri("github"), algorithms=["ES256"])
    assert segments(oidc.mint("github", audience=AUDIENCE))[0]["alg"] == "RS256"  # signing key unchanged
    rs384 = oidc.mint("github", audience=AUDIENCE, alg="RS384")  # RSA key, another RSA alg (the JWK says RS256)
    assert segments(rs384)[0]["alg"] == "RS384"
    raw = jwt.PyJWKClient(oidc.jwks_uri("github")).get_signing_key_from_jwt(rs384).key
    jwt.decode(rs384, raw, algorithms=["RS384"], audience=AUDIENCE)
    with pytest.raises(IssuerError) as wrong_alg:
        oidc.mint("github", audience=AUDIENCE, kid=kid, alg="RS256")
    assert wrong_alg.value.status == 400


def test_custom_issuers_live_at_their_own_paths(oidc, http):
    created = oidc.create_issuer("ghes", "github", path="/_services/token")
    assert created["issuer"] == f"{oidc.base_url}/_services/token"
    assert created["jwks_uri"] == f"{oidc.base_url}/_services/token/.well-known/jwks"
    custom = oidc.create_issuer("acme-ci")
    assert custom["issuer"] == f"{oidc.base_url}/acme-ci" and custom["kind"] == "custom"
    token = oidc.mint("acme-ci", {"pipeline": "p"}, audience=AUDIENCE)
    claims = verify(token, custom["jwks_uri"], issuer=custom["issuer"])
    assert claims["sub"] == "custom-subject" and claims["pipeline"] == "p"
    assert set(claims) == {"iss", "sub", "aud", "iat", "nbf", "exp", "jti", "pipeline"}
    ghes_claims = verify(oidc.mint("ghes", audience=AUDIENCE), created["jwks_uri"])
    assert ghes_claims["iss"] == created["issuer"] and ghes_claims["sub"].startswith("repo:acme/app:")
    for bad in ({"name": "ghes"}, {"name": "x", "path": "/github"}, {"name": "reset"}, {"name": "y", "kind": "k"}):
        with pytest.raises(IssuerError) as refused:
            oidc.call("POST", "issuers", {"kind": "custom", **bad})
        assert refused.value.status in (400, 409)
    oidc.delete_issuer("acme-ci")
    assert http.get(custom["jwks_uri"]).status_code == 404


def test_issuer_path_option_moves_a_builtin_issuer(http):
    with start_issuer(issuer_paths={"github": "", "gitlab": "/gl"}) as other:
        assert other.issuer_url("github") == other.base_url
        assert other.issuer_url("gitlab") == other.base_url + "/gl"
        document = http.get(other.base_url + "/.well-known/openid-configuration").json()
        assert document["issuer"] == other.base_url
        verify(other.mint("github", audience=AUDIENCE), document["jwks_uri"], issuer=other.base_url)
        other.reset()
        assert other.issuer_url("github") == other.base_url  # reset keeps the startup paths


def test_issuer_path_arguments_are_parsed():
    from oidcsim.__main__ import _issuer_paths
    from oidcsim.errors import Problem

    assert _issuer_paths(["/gh"]) == {"github": "/gh"}
    assert _issuer_paths(["github=", "gitlab=/gl/"]) == {"github": "", "gitlab": "/gl"}
    for bad in (["gitlab=/github"], ["/gitlab"], ["nope=/x"], ["/__control"], ["no-slash"]):
        with pytest.raises(Problem):
            _issuer_paths(bad)


def test_base_url_option_is_advertised(http):
    with start_issuer(base_url="https://oidc.example.test") as other:
        assert other.base_url == "https://oidc.example.test"
        assert other.bound_url.startswith("http://127.0.0.1:")
        assert other.issuer_url("github") == "https://oidc.example.test/github"
        document = http.get(other.bound_url + "/github/.well-known/openid-configuration").json()
        assert document["issuer"] == "https://oidc.example.test/github"
        assert document["jwks_uri"] == "https://oidc.example.test/github/.well-known/jwks"
