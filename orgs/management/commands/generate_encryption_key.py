"""Print a new PORTAL_ENCRYPTION_KEYS entry (kid:key). Put it first in the list to make it primary."""

from django.core.management.base import BaseCommand

from portal.lib.crypto import new_key_entry


class Command(BaseCommand):
    help = "Print a new encryption keyring entry for PORTAL_ENCRYPTION_KEYS."

    def add_arguments(self, parser):
        parser.add_argument("--kid", help="key id (letters, digits, - and _); default: random")

    def handle(self, *args, kid=None, **options):
        self.stdout.write(new_key_entry(kid))
