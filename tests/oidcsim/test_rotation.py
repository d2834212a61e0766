"""Key rotation (old keys stay published until retired) and the JWKS fetch counter."""

from __future__ import annotations

import jwt
import pytest

from oidcsim.testing import IssuerError

from .conftest import AUDIENCE, segments


def kids(http, oidc, name="github") -> list[str]:
    return [key["kid"] for key in http.get(oidc.jwks_uri(name)).json()["keys"]]


def verify(token: str, jwks_uri: str) -> dict:
    key = jwt.PyJWKClient(jwks_uri, cache_jwk_set=False).get_signing_key_from_jwt(token)
    return jwt.decode(token, key, algorithms=["RS256"], audience=AUDIENCE)


def test_rotation_publishes_the_new_key_next_to_the_old_until_it_is_retired(oidc, http):
    old = oidc.signing_kid("github")
    before = oidc.mint("github", audience=AUDIENCE)
    new = oidc.rotate_key("github")
    assert new != old and oidc.signing_kid("github") == new
    assert kids(http, oidc) == [old, new]
    after = oidc.mint("github", audience=AUDIENCE)
    assert segments(after)[0]["kid"] == new
    verify(before, oidc.jwks_uri("github"))  # a token signed before the rotation still verifies
    verify(after, oidc.jwks_uri("github"))

    oidc.retire_key("github", old)
    assert kids(http, oidc) == [new]
    with pytest.raises(jwt.PyJWKClientError, match="Unable to find a signing key"):
        verify(before, oidc.jwks_uri("github"))
    state = {key["kid"]: key for key in oidc.issuer("github")["keys"]}
    assert state[old] == {"kid": old, "alg": "RS256", "published": False, "signing": False}

    # The server keeps retired keys: a token signed by one now names a kid that no JWKS has.
    stale = oidc.mint("github", audience=AUDIENCE, kid=old)
    assert segments(stale)[0]["kid"] == old and old not in kids(http, oidc)


def test_the_signing_key_cannot_be_retired_and_unpublished_keys_cannot_sign(oidc, http):
    with pytest.raises(IssuerError) as signing:
        oidc.retire_key("github", oidc.signing_kid("github"))
    assert signing.value.status == 409
    hidden = oidc.add_key("github", publish=False)
    assert hidden not in kids(http, oidc)
    with pytest.raises(IssuerError) as unpublished:
        oidc.use_key("github", hidden)
    assert unpublished.value.status == 409
    oidc.publish_key("github", hidden)
    oidc.use_key("github", hidden)
    assert hidden in kids(http, oidc) and oidc.signing_kid("github") == hidden
    first = oidc.issuer("github")["keys"][0]["kid"]
    oidc.call("DELETE", f"github/keys/{first}")  # DELETE = retire
    assert kids(http, oidc) == [hidden]
    with pytest.raises(IssuerError) as unknown:
        oidc.retire_key("github", "no-such-kid")
    assert unknown.value.status == 404


def test_rotation_on_one_issuer_leaves_the_others_alone(oidc, http):
    gitlab = kids(http, oidc, "gitlab")
    oidc.rotate_key("github")
    assert kids(http, oidc, "gitlab") == gitlab


def test_jwks_fetches_are_counted_per_issuer(oidc, http):
    assert oidc.jwks_fetches("github") == 0
    client = jwt.PyJWKClient(oidc.jwks_uri("github"))  # caches the set: one fetch for many tokens
    for _ in range(3):
        client.get_signing_key_from_jwt(oidc.mint("github", audience=AUDIENCE))
    assert oidc.jwks_fetches("github") == 1
    http.get(oidc.jwks_uri("github"))
    http.get(oidc.issuer_url("github") + "/.well-known/openid-configuration")
    assert oidc.counters("github") == {"jwks": 2, "discovery": 1, "actions_token": 0}
    assert oidc.jwks_fetches("gitlab") == 0

    oidc.reset_counters("github")
    assert oidc.counters("github") == {"jwks": 0, "discovery": 0, "actions_token": 0}
    oidc.configure("github", jwks_status=500)
    http.get(oidc.jwks_uri("github"))
    assert oidc.jwks_fetches("github") == 1  # failed fetches count too
