"""The keyring's known-answer check, run when web, worker and beat start (and by `manage.py check --database`).

For every key id in PORTAL_ENCRYPTION_KEYS the database keeps one `KeyCheck` row: a fixed text sealed under that
key when the portal first saw it. At start-up:

- a listed key whose row does not decrypt is the wrong key for this database: refuse to start;
- a listed key without a row is new (first start, or a rotation): its row is written, provided the keyring still
  holds a key the database already knows (or the database knows none yet); a keyring that shares no key with the
  database's rows is a replaced key: refuse to start;
- rows of keys no longer listed (after a rotation finished) are left alone.

A refusal is one line naming PORTAL_ENCRYPTION_KEYS (`KeyringCheckError`; `keyring_verify_or_exit` prints it and
exits with status 2, like a settings error). Before the first migration the table does not exist: nothing to check.
"""

from __future__ import annotations

import sys

from django.db import DatabaseError, IntegrityError, transaction

from portal.lib import crypto

KNOWN_ANSWER = "org-portal-keycheck-v1"


class KeyringCheckError(Exception):
    """The configured keyring cannot decrypt this database's known-answer values. One line, no key material."""


def _context(kid: str) -> str:
    return f"accounts.keycheck.value.{kid}"


def _single(keyring: crypto.Keyring, kid: str) -> crypto.Keyring:
    return crypto.Keyring(primary_kid=kid, keys={kid: keyring.keys[kid]})


def keyring_verify(*, keyring: crypto.Keyring | None = None) -> list[str]:
    """Check the keyring against the stored known-answer values; store them for new key ids. Returns the key ids
    newly stored. Raises KeyringCheckError naming PORTAL_ENCRYPTION_KEYS when the keyring is wrong."""
    from portal.accounts.models import KeyCheck

    try:
        keyring = keyring or crypto.get_keyring()
    except crypto.KeyringError as exc:
        raise KeyringCheckError(str(exc)) from None
    try:
        stored = dict(KeyCheck.objects.values_list("kid", "value"))
    except DatabaseError:
        return []  # not migrated yet (the migrate service runs before web, worker and beat)
    for kid in keyring.keys:
        if kid in stored:
            try:
                crypto.decrypt(stored[kid], context=_context(kid), keyring=_single(keyring, kid))
            except crypto.DecryptionError:
                raise KeyringCheckError(
                    f"PORTAL_ENCRYPTION_KEYS: key {kid!r} is not the key this database's secrets were encrypted "
                    "with (its known-answer value does not decrypt); configure the original key") from None
    known = [kid for kid in keyring.keys if kid in stored]
    if stored and not known:
        raise KeyringCheckError(
            "PORTAL_ENCRYPTION_KEYS: none of its keys is known to this database (it knows "
            f"{', '.join(sorted(stored))}); keep the current key in the list when adding a new one")
    added = []
    for kid in keyring.keys:
        if kid in stored:
            continue
        value = crypto.encrypt(KNOWN_ANSWER, context=_context(kid), keyring=_single(keyring, kid))
        try:
            with transaction.atomic():
                KeyCheck.objects.create(kid=kid, value=value)
            added.append(kid)
        except IntegrityError:
            # Another process (web, worker, beat start together) stored it first: verify theirs.
            theirs = KeyCheck.objects.get(kid=kid).value
            try:
                crypto.decrypt(theirs, context=_context(kid), keyring=_single(keyring, kid))
            except crypto.DecryptionError:
                raise KeyringCheckError(f"PORTAL_ENCRYPTION_KEYS: key {kid!r} differs from the one another "
                                        "process just registered") from None
    return added


def keyring_verify_or_exit() -> None:
    """keyring_verify for process start-up: one line on stderr and exit status 2 when the keyring is wrong."""
    try:
        keyring_verify()
    except KeyringCheckError as exc:
        stream = sys.__stderr__ or sys.stderr  # the real stderr: Celery redirects sys.stderr into its logger
        stream.write(f"Org Portal configuration error: {exc}\n")
        stream.flush()
        raise SystemExit(2) from None
