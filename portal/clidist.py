"""The single-file `orgportal` download: GET /cli/orgportal (public, no sign-in).

The CLI lives in clients/orgportal (its own package, standard library only). On the first request a process builds a
zipapp from clients/orgportal/src with `zipapp` (the interpreter line `/usr/bin/env python3`), then generates the
bash/zsh/fish completions by running `python -m orgportal.completions SHELL` against that very archive, and keeps
all four in memory: `curl -o orgportal <portal>/cli/orgportal && python3 orgportal --version`.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import zipapp
from pathlib import Path

from django.conf import settings
from django.http import Http404, HttpResponse
from django.views.decorators.http import require_GET

SOURCE = Path(settings.BASE_DIR) / "clients" / "orgportal" / "src"
SHELLS = ("bash", "zsh", "fish")
_built: dict[str, bytes] = {}
_lock = threading.Lock()


def build() -> dict[str, bytes]:
    """{"orgportal": the zipapp, "bash"/"zsh"/"fish": completions}; built once per process."""
    with _lock:
        if _built:
            return _built
        with tempfile.TemporaryDirectory(prefix="orgportal-build-") as tmp:
            staged = Path(tmp) / "src"
            shutil.copytree(SOURCE, staged, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
            archive = io.BytesIO()
            zipapp.create_archive(staged, archive, interpreter="/usr/bin/env python3", main="orgportal.cli:main")
            pyz = Path(tmp) / "orgportal.pyz"
            pyz.write_bytes(archive.getvalue())
            built = {"orgportal": archive.getvalue()}
            for shell in SHELLS:
                built[shell] = subprocess.run(  # noqa: S603 (our interpreter, our archive)
                    [sys.executable, "-m", "orgportal.completions", shell], check=True, capture_output=True,
                    timeout=60, env={"PYTHONPATH": str(pyz), "PATH": os.environ.get("PATH", "")}).stdout
        _built.update(built)
        return _built


def _answer(body: bytes, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["ETag"] = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    response["Cache-Control"] = "public, max-age=300"
    return response


@require_GET
def download(request):
    return _answer(build()["orgportal"], "application/zip", "orgportal")


@require_GET
def completions(request, shell):
    if shell not in SHELLS:
        raise Http404
    return _answer(build()[shell], "text/plain; charset=utf-8", f"orgportal.{shell}")
