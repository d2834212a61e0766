"""`python manage.py build_cli`: write the `orgportal` zipapp and its shell completions into PORTAL_CLI_DIR, which
/cli/orgportal and /cli/completions/<shell> serve. Run by the Dockerfile, `make run` and the test session."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from portal.lib import clibuild


class Command(BaseCommand):
    help = "Build the orgportal single-file download and its bash/zsh/fish completions into PORTAL_CLI_DIR."

    def add_arguments(self, parser):
        parser.add_argument("--out", help="the directory to write (default: PORTAL_CLI_DIR)")

    def handle(self, *args, **options):
        out = Path(options["out"] or settings.PORTAL_CLI_DIR)
        source = Path(settings.BASE_DIR) / "clients" / "orgportal" / "src"
        for path in clibuild.build(source=source, out=out):
            if options["verbosity"] > 0:
                self.stdout.write(f"{path} ({path.stat().st_size} bytes)")
