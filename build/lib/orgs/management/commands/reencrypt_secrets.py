"""Move every secret at rest to the primary encryption key, or verify that everything decrypts.

Batches run in their own transactions under row locks (`SELECT … FOR UPDATE SKIP LOCKED`), so a concurrent token
refresh (which locks the same row) cannot lose an update, several copies can run at once, and a run killed midway
simply resumes: finished batches are committed, the rest are still on their old key. A second run touches 0 rows.
Exit status is non-zero on any failure.
"""

import time

from allauth.mfa.models import Authenticator
from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from orgs.models import SecretsModel
from portal.accounts.adapter import MFAAdapter
from portal.lib import crypto

MFA_SECRET_KEYS = ("secret", "seed")  # TOTP seed, recovery-code seed


def secret_models() -> list[type[SecretsModel]]:
    return [m for m in apps.get_models() if issubclass(m, SecretsModel)]


class Command(BaseCommand):
    help = "Re-encrypt all secrets under the primary key (PORTAL_ENCRYPTION_KEYS[0]); --verify checks them all."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="only count what would be re-encrypted")
        parser.add_argument("--verify", action="store_true", help="decrypt everything and report failures")
        parser.add_argument("--batch-size", type=int, default=200)
        parser.add_argument("--throttle", type=float, default=0.0, help="seconds to pause between batches")

    def handle(self, *args, dry_run=False, verify=False, batch_size=200, throttle=0.0, **options):
        try:
            self.keyring = crypto.get_keyring()
        except crypto.KeyringError as exc:
            raise CommandError(str(exc)) from None
        self.batch_size, self.throttle = max(1, batch_size), max(0.0, throttle)
        if verify:
            failures, stale = self.verify()
            self.stdout.write(f"verify: {failures} failure(s), {stale} value(s) not on primary key "
                              f"{self.keyring.primary_kid!r}")
            if failures:
                raise CommandError(f"{failures} secret(s) cannot be decrypted")
            return
        if dry_run:
            for label, count in self.pending_counts():
                self.stdout.write(f"{label}: {count} row(s) to re-encrypt")
            return
        total, failures = 0, 0
        for model in secret_models():
            done, failed = self.reencrypt_model(model)
            self.stdout.write(f"{model._meta.label}: {done} row(s) re-encrypted, {failed} failure(s)")
            total, failures = total + done, failures + failed
        done, failed = self.reencrypt_authenticators()
        self.stdout.write(f"mfa.Authenticator: {done} row(s) re-encrypted, {failed} failure(s)")
        total, failures = total + done, failures + failed
        self.stdout.write(f"re-encrypted {total} row(s) to key {self.keyring.primary_kid!r}")
        if failures:
            raise CommandError(f"{failures} row(s) could not be decrypted and were left as they are")

    # -- our models: one key id per row, so the gate is a single indexed query --------------------------------------

    def stale_rows(self, model):
        return model.objects.exclude(secrets_key_id="").exclude(secrets_key_id=self.keyring.primary_kid)

    def reencrypt_model(self, model) -> tuple[int, int]:
        done, failed_pks = 0, set()
        while True:
            with transaction.atomic():
                batch = list(self.stale_rows(model).exclude(pk__in=failed_pks).order_by("pk")
                             .select_for_update(skip_locked=True)[: self.batch_size])
                if not batch:
                    break
                for row in batch:
                    try:
                        row.reseal(keyring=self.keyring)
                    except crypto.DecryptionError:
                        failed_pks.add(row.pk)
                        self.stderr.write(f"{model._meta.label} {row.code}: {crypto.DecryptionError.user_message}")
                        continue
                    row.save(update_fields=[*model.sealed_field_names(), "secrets_key_id"])
                    done += 1
            if self.throttle:
                time.sleep(self.throttle)
        return done, len(failed_pks)

    # -- allauth's authenticators: the ciphertext sits inside a JSON column ------------------------------------------

    def _mfa_values(self, authenticator):
        return [(k, authenticator.data[k]) for k in MFA_SECRET_KEYS if isinstance(authenticator.data.get(k), str)]

    def reencrypt_authenticators(self) -> tuple[int, int]:
        done, failed, last_pk = 0, 0, 0
        while True:
            with transaction.atomic():
                batch = list(Authenticator.objects.filter(pk__gt=last_pk).order_by("pk")
                             .select_for_update(skip_locked=True)[: self.batch_size])
                if not batch:
                    break
                for authenticator in batch:
                    last_pk = authenticator.pk
                    changed = False
                    try:
                        for key, token in self._mfa_values(authenticator):
                            if crypto.key_id(token) != self.keyring.primary_kid:
                                authenticator.data[key] = crypto.reencrypt(token, context=MFAAdapter.CONTEXT,
                                                                           keyring=self.keyring)
                                changed = True
                    except crypto.DecryptionError:
                        failed += 1
                        self.stderr.write(f"mfa.Authenticator {authenticator.pk}: "
                                          f"{crypto.DecryptionError.user_message}")
                        continue
                    if changed:
                        authenticator.save(update_fields=["data"])
                        done += 1
            if self.throttle:
                time.sleep(self.throttle)
        return done, failed

    # -- counting and verifying ----------------------------------------------------------------------------------------

    def pending_counts(self):
        for model in secret_models():
            yield model._meta.label, self.stale_rows(model).count()
        stale = sum(
            1 for a in Authenticator.objects.iterator()
            if any(crypto.key_id(t) != self.keyring.primary_kid for _, t in self._mfa_values(a))
        )
        yield "mfa.Authenticator", stale

    def verify(self) -> tuple[int, int]:
        failures, stale = 0, 0
        for model in secret_models():
            for row in model.objects.exclude(secrets_key_id="").iterator():
                for name in model.sealed_field_names():
                    token = getattr(row, name)
                    if not token:
                        continue
                    try:
                        row.reveal(name)
                    except crypto.DecryptionError:
                        failures += 1
                        self.stderr.write(f"{model._meta.label} {row.code}.{name}: cannot decrypt")
                        continue
                    stale += crypto.key_id(token) != self.keyring.primary_kid
        for authenticator in Authenticator.objects.iterator():
            for key, token in self._mfa_values(authenticator):
                try:
                    crypto.decrypt(token, context=MFAAdapter.CONTEXT, keyring=self.keyring)
                except crypto.DecryptionError:
                    failures += 1
                    self.stderr.write(f"mfa.Authenticator {authenticator.pk}.{key}: cannot decrypt")
                    continue
                stale += crypto.key_id(token) != self.keyring.primary_kid
        return failures, stale
