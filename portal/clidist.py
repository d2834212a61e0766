"""The single-file `orgportal` download: GET /cli/orgportal and /cli/completions/<shell> (public, no sign-in).

The files are built ahead of time by `manage.py build_cli` (portal/lib/clibuild.py; the image build, `make run` and
the test session run it) into PORTAL_CLI_DIR; these views only read them. Not built: a 503 that says how to build,
never a build while answering: `curl -o orgportal <portal>/cli/orgportal && python3 orgportal --version`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from django.conf import settings
from django.http import Http404, HttpResponse
from django.views.decorators.http import require_GET

from portal.lib import clibuild

NOT_BUILT = ("The orgportal download has not been built on this server: run `python manage.py build_cli` "
             "(the image build does).\n")


def _answer(name: str, content_type: str, filename: str) -> HttpResponse:
    path = Path(settings.PORTAL_CLI_DIR) / name
    try:
        body = path.read_bytes()
    except FileNotFoundError:
        response = HttpResponse(NOT_BUILT, status=503, content_type="text/plain; charset=utf-8")
        response["Cache-Control"] = "no-store"
        return response
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["ETag"] = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    response["Cache-Control"] = "public, max-age=300"
    return response


@require_GET
def download(request):
    return _answer(clibuild.ZIPAPP, "application/zip", "orgportal")


@require_GET
def completions(request, shell):
    if shell not in clibuild.SHELLS:
        raise Http404
    name = clibuild.completion_file(shell)
    return _answer(name, "text/plain; charset=utf-8", name)
