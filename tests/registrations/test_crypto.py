"""Envelope encryption: round trips, binding to row and column, keyring parsing, failing closed."""

import pytest

from orgs.models import ConnectedApp
from portal.accounts.models import Membership
from portal.lib import crypto

KEY_A = crypto.new_key_entry("a")
KEY_B = crypto.new_key_entry("b")


def test_round_trip_and_fresh_randomness():
    ring = crypto.Keyring.parse(KEY_A)
    one = crypto.encrypt("s3cret", context="t.c.1", keyring=ring)
    two = crypto.encrypt("s3cret", context="t.c.1", keyring=ring)
    assert one != two and one.startswith("v1.a.")
    assert crypto.decrypt(one, context="t.c.1", keyring=ring) == "s3cret"
    assert "s3cret" not in one


@pytest.mark.parametrize("other_context", ["t.c.2", "t.other.1", "u.c.1"])
def test_ciphertext_is_bound_to_table_column_and_row(other_context):
    ring = crypto.Keyring.parse(KEY_A)
    token = crypto.encrypt("s3cret", context="t.c.1", keyring=ring)
    with pytest.raises(crypto.DecryptionError) as excinfo:
        crypto.decrypt(token, context=other_context, keyring=ring)
    assert "s3cret" not in str(excinfo.value) and str(excinfo.value) == crypto.DecryptionError.user_message


def test_key_id_cannot_be_swapped_in_the_token():
    ring = crypto.Keyring.parse(f"{KEY_A},{KEY_B}")
    token = crypto.encrypt("s3cret", context="x", keyring=ring)
    forged = token.replace("v1.a.", "v1.b.", 1)
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(forged, context="x", keyring=ring)


@pytest.mark.parametrize("damaged", ["", "plaintext-secret", "v1.a.x.y", "v1.a.AAAA.AAAA.AAAA", "v2.a.b.c.d"])
def test_no_plaintext_fallback(damaged):
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(damaged, context="x", keyring=crypto.Keyring.parse(KEY_A))


def test_missing_key_fails_closed():
    token = crypto.encrypt("s3cret", context="x", keyring=crypto.Keyring.parse(KEY_B))
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(token, context="x", keyring=crypto.Keyring.parse(KEY_A))


@pytest.mark.parametrize("value", ["", "nocolon", "a:short", "bad kid:" + "A" * 43, f"{KEY_A},{KEY_A}"])
def test_malformed_keyrings_are_refused_with_a_clear_message(value):
    with pytest.raises(crypto.KeyringError) as excinfo:
        crypto.Keyring.parse(value)
    assert "PORTAL_ENCRYPTION_KEYS" in str(excinfo.value)
    assert KEY_A.split(":")[1] not in str(excinfo.value)


def test_keyring_repr_hides_keys():
    ring = crypto.Keyring.parse(f"{KEY_A},{KEY_B}")
    assert KEY_A.split(":")[1] not in repr(ring) and ring.primary_kid == "a"


def test_first_key_encrypts_all_keys_decrypt():
    old = crypto.encrypt("s3cret", context="x", keyring=crypto.Keyring.parse(KEY_B))
    ring = crypto.Keyring.parse(f"{KEY_A},{KEY_B}")
    assert crypto.decrypt(old, context="x", keyring=ring) == "s3cret"
    assert crypto.key_id(crypto.reencrypt(old, context="x", keyring=ring)) == "a"


def test_swapped_ciphertext_between_rows_and_columns_in_the_database(world, client):
    """Ciphertext is bound to its row and column (docs/security.md): copy one row's ciphertext elsewhere."""
    owner = Membership.objects.get(team=world.team, user=world.owner)
    from orgs.services.apps import connected_app_create

    first = connected_app_create(actor=owner, name="One", consumer_key="k1", consumer_secret="first-secret-1234",
                                 login_url="https://login.salesforce.com", scopes="api", require_pkce=True)
    second = connected_app_create(actor=owner, name="Two", consumer_key="k2", consumer_secret="second-secret-5678",
                                  login_url="https://login.salesforce.com", scopes="api", require_pkce=True)
    ConnectedApp.objects.filter(pk=second.pk).update(consumer_secret=first.consumer_secret,
                                                     pending_consumer_secret=second.consumer_secret)
    second.refresh_from_db()
    with pytest.raises(crypto.DecryptionError):
        second.reveal("consumer_secret")
    with pytest.raises(crypto.DecryptionError):
        second.reveal("pending_consumer_secret")
    assert first.reveal("consumer_secret") == "first-secret-1234"

    # The page that needs it says so and keeps working for everything else.
    client.force_login(world.owner)
    page = client.get(f"/teams/{world.team.code}/apps/{second.code}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "cannot decrypt: key missing or data damaged" in html and "k2" in html
    listing = client.get(f"/teams/{world.team.code}/apps/").content.decode()
    assert "••••1234" in listing and "cannot decrypt" in listing
