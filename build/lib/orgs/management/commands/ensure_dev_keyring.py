"""Create the development encryption keyring (.run/encryption-keys) on first start. Never used in production."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Generate a development encryption keyring file if there is none (make run)."

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError("ensure_dev_keyring is for development (DEBUG=true); set PORTAL_ENCRYPTION_KEYS.")
        from portal.lib.crypto import new_key_entry

        path = settings.RUN_DIR / "encryption-keys"
        if path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(new_key_entry() + "\n")
        self.stdout.write(f"Generated a development encryption keyring in {path} (git-ignored).")
