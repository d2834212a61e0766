"""Each attack helper's token really has the property it claims (checked on the raw token, no verification)."""

from __future__ import annotations

import hashlib
import hmac

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from oidcsim.testing import IssuerError

from .conftest import AUDIENCE, segments


def served_keys(http, oidc, name="github") -> dict[str, jwt.PyJWK]:
    return {key["kid"]: jwt.PyJWK(key) for key in http.get(oidc.jwks_uri(name)).json()["keys"]}


def signature_ok(token: str, key) -> bool:
    try:
        jwt.decode(token, key, algorithms=["RS256"], options={"verify_aud": False, "verify_exp": False})
    except jwt.InvalidSignatureError:
        return False
    return True


def test_unsigned_token_has_alg_none_and_no_signature(oidc, http):
    token = oidc.mint_unsigned("github", {"repository": "evil/app"}, audience=AUDIENCE)
    header, claims, signature = segments(token)
    assert header == {"typ": "JWT", "kid": oidc.signing_kid("github"), "alg": "none"}
    assert token.endswith(".") and signature == b""
    assert claims["repository"] == "evil/app" and claims["aud"] == AUDIENCE
    assert jwt.decode(token, options={"verify_signature": False})["sub"] == "repo:evil/app:ref:refs/heads/main"
    key = served_keys(http, oidc)[header["kid"]]
    with pytest.raises(jwt.InvalidAlgorithmError):
        jwt.decode(token, key, algorithms=["RS256"], audience=AUDIENCE)


@pytest.mark.parametrize("name", ["github", "gitlab"])
def test_hs256_token_is_keyed_with_the_served_public_key_pem(oidc, http, name):
    token = oidc.mint_hs256_public_key(name, audience=AUDIENCE)
    header, _, signature = segments(token)
    assert header == {"typ": "JWT", "kid": oidc.signing_kid(name), "alg": "HS256"}
    pem = served_keys(http, oidc, name)[header["kid"]].key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert pem.startswith(b"-----BEGIN PUBLIC KEY-----")
    signing_input = token.rsplit(".", 1)[0].encode()
    assert hmac.compare_digest(signature, hmac.new(pem, signing_input, hashlib.sha256).digest())


def test_unknown_kid_token_is_signed_by_the_real_key_under_a_kid_no_jwks_has(oidc, http):
    token = oidc.mint_unknown_kid("github", audience=AUDIENCE)
    header, _, _ = segments(token)
    keys = served_keys(http, oidc)
    assert header["alg"] == "RS256" and header["kid"] not in keys
    assert signature_ok(token, keys[oidc.signing_kid("github")])
    chosen = oidc.mint_unknown_kid("github", audience=AUDIENCE, kid="chosen")
    assert segments(chosen)[0]["kid"] == "chosen"


def test_foreign_key_token_is_signed_by_a_key_in_no_jwks(oidc, http):
    attacker = oidc.attacker()
    token = oidc.mint_foreign_key("github", audience=AUDIENCE)
    header, claims, _ = segments(token)
    assert header == {"typ": "JWT", "kid": attacker["kid"], "alg": "RS256"}
    assert claims["iss"] == oidc.issuer_url("github")
    for name in ("github", "gitlab"):
        keys = served_keys(http, oidc, name)
        assert attacker["kid"] not in keys
        assert not any(signature_ok(token, key) for key in keys.values())
    assert signature_ok(token, jwt.PyJWK(attacker["jwk"]))

    # Claiming a published kid: the lookup succeeds, the signature must not.
    real_kid = oidc.signing_kid("github")
    impostor = oidc.mint_foreign_key("github", audience=AUDIENCE, kid=real_kid)
    assert segments(impostor)[0]["kid"] == real_kid
    assert not signature_ok(impostor, served_keys(http, oidc)[real_kid])


def test_jwk_header_token_carries_the_key_that_signed_it(oidc, http):
    attacker = oidc.attacker()
    token = oidc.mint_with_jwk("github", audience=AUDIENCE)
    header, _, _ = segments(token)
    assert header["jwk"] == attacker["jwk"] and header["kid"] == attacker["kid"]
    assert "d" not in header["jwk"]
    assert signature_ok(token, jwt.PyJWK(header["jwk"]))
    assert not any(signature_ok(token, key) for key in served_keys(http, oidc).values())


def test_jku_header_points_at_a_jwks_that_verifies_the_token(oidc, http):
    attacker = oidc.attacker()
    token = oidc.mint_with_jku("github", audience=AUDIENCE)
    header, _, _ = segments(token)
    assert header["jku"] == attacker["jwks_url"] != oidc.jwks_uri("github")
    assert oidc.attacker()["counters"]["jwks"] == 0  # a test can assert a verifier never followed it
    (key,) = http.get(header["jku"]).json()["keys"]
    assert signature_ok(token, jwt.PyJWK(key))
    assert oidc.attacker()["counters"]["jwks"] == 1
    elsewhere = oidc.mint_with_jku("github", audience=AUDIENCE, url="https://evil.example/jwks.json")
    assert segments(elsewhere)[0]["jku"] == "https://evil.example/jwks.json"


def test_x5u_header_points_at_a_certificate_for_the_signing_key(oidc, http):
    token = oidc.mint_with_x5u("gitlab", audience=AUDIENCE)
    header, _, _ = segments(token)
    assert header["x5u"] == oidc.attacker()["x5u_url"]
    certificate = x509.load_pem_x509_certificate(http.get(header["x5u"]).content)
    assert signature_ok(token, certificate.public_key())
    assert not any(signature_ok(token, key) for key in served_keys(http, oidc, "gitlab").values())
    assert oidc.attacker()["counters"]["x5u"] == 1
    assert segments(oidc.mint_with_x5u("gitlab", audience=AUDIENCE, url="file:///etc/x"))[0]["x5u"] == "file:///etc/x"


def test_attacker_key_is_renewed_on_reset_and_unknown_attacks_are_refused(oidc):
    before = oidc.attacker()["kid"]
    oidc.reset()
    assert oidc.attacker()["kid"] != before
    with pytest.raises(IssuerError) as refused:
        oidc.mint_attack("github", "sql-injection", audience=AUDIENCE)
    assert refused.value.status == 400
