#!/usr/bin/env python
import os
import sys


def main() -> None:
    if sys.argv[1:2] == ["generate_encryption_key"]:
        # Needs no settings (the first key is made before there are any) and only the standard library: run the
        # file itself, not the `portal` package (whose import loads Celery and Django).
        import runpy

        sys.argv = ["manage.py generate_encryption_key", *sys.argv[2:]]
        runpy.run_path(os.path.join(os.path.dirname(os.path.abspath(__file__)), "portal", "lib", "keygen.py"),
                       run_name="__main__")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
