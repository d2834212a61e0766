"""Print a new PORTAL_ENCRYPTION_KEYS entry (kid:key). Put it first in the list to make it primary.

`python manage.py generate_encryption_key` is answered by portal/lib/keygen.py before Django loads (manage.py), so
it works without settings; this command is the same thing for `django-admin` and `call_command`."""

from django.core.management.base import BaseCommand, CommandError

from portal.lib.keygen import new_key_entry


class Command(BaseCommand):
    help = "Print a new encryption keyring entry for PORTAL_ENCRYPTION_KEYS."
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--kid", help="key id (letters, digits, - and _); default: random")

    def handle(self, *args, kid=None, **options):
        try:
            self.stdout.write(new_key_entry(kid))
        except ValueError as exc:
            raise CommandError(str(exc)) from None
