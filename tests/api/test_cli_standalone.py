"""The CLI on its own (issue 19 item 6): its package installed alone into a fresh venv, the single-file download the
portal serves (a zipapp), and the shell completions generated from its parser at build time (`manage.py build_cli`,
the package's wheel), never while a request is answered."""

import io
import json
import shutil
import subprocess
import sys
import tomllib
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "clients" / "orgportal"

pytestmark = [pytest.mark.postgres, pytest.mark.redis]
SHELLS = ("bash", "zsh", "fish")


@pytest.fixture(scope="module")
def cli_built():
    """What the image build does: `manage.py build_cli` into PORTAL_CLI_DIR (the test run's own directory)."""
    from django.conf import settings
    from django.core.management import call_command

    call_command("build_cli", stdout=io.StringIO())
    return Path(settings.PORTAL_CLI_DIR)


def _orgs_json(command, live_server, token, tmp_path):
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "ORGPORTAL_URL": live_server.url,
           "ORGPORTAL_TOKEN": token, "ORGPORTAL_CONFIG": str(tmp_path / "config.json")}
    result = subprocess.run([*command, "orgs", "--json"], env=env, capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def test_the_package_installs_alone_into_a_fresh_venv(tmp_path, live_server, world, orgs, make_token):
    meta = tomllib.loads((PACKAGE / "pyproject.toml").read_text())["project"]
    assert meta["dependencies"] == [] and meta["scripts"] == {"orgportal": "orgportal.cli:main"}
    root = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert root["project"]["scripts"]["orgportal"] == "orgportal.cli:main"  # `make test` installs the same one
    assert "clients/orgportal/src" in root["tool"]["setuptools"]["packages"]["find"]["where"]

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    # Offline: build the wheel with this environment's setuptools, then install it with nothing else (a fresh venv
    # of Python 3.11 has no `wheel`); online, `pip install ./clients/orgportal` does both.
    source = tmp_path / "orgportal-src"  # setuptools writes build/ next to the sources: not into the checkout
    shutil.copytree(PACKAGE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-index",
                    "--no-build-isolation", "-q", "-w", str(tmp_path / "dist")], check=True, timeout=300,
                   capture_output=True)
    (wheel,) = (tmp_path / "dist").glob("orgportal-*.whl")
    subprocess.run([str(venv / "bin" / "pip"), "install", "--no-deps", "--no-index", "-q", str(wheel)], check=True,
                   timeout=120)
    orgportal = str(venv / "bin" / "orgportal")
    version = subprocess.run([orgportal, "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.strip().startswith("orgportal ")
    # The wheel ships the completions generated when it was built; `orgportal completions SHELL` prints them.
    import zipfile

    shipped = {n for n in zipfile.ZipFile(wheel).namelist() if n.startswith("orgportal/share/")}
    assert shipped == {f"orgportal/share/orgportal.{shell}" for shell in SHELLS}
    for shell in SHELLS:
        printed = subprocess.run([orgportal, "completions", shell], capture_output=True, text=True, check=True)
        assert printed.stdout == zipfile.ZipFile(wheel).read(f"orgportal/share/orgportal.{shell}").decode()
    listed = _orgs_json([orgportal], live_server, make_token(world.owner).raw, tmp_path)
    assert listed["status"] == 0 and {o["username"] for o in listed["result"]} == {orgs.sandbox.username,
                                                                                  orgs.hub.username}
    no_django = subprocess.run([str(venv / "bin" / "python"), "-c", "import django"], capture_output=True)
    assert no_django.returncode != 0


def test_the_portal_serves_a_single_file_download(tmp_path, live_server, world, orgs, make_token, cli_built):
    with urllib.request.urlopen(f"{live_server.url}/cli/orgportal", timeout=60) as response:
        body = response.read()
        assert response.headers["Content-Disposition"] == 'attachment; filename="orgportal"'
    assert body.startswith(b"#!/usr/bin/env python3\n")
    path = tmp_path / "orgportal"
    path.write_bytes(body)
    version = subprocess.run(["python3", str(path), "--version"], capture_output=True, text=True, check=False,
                             env={"PATH": "/usr/bin:/bin:" + str(Path(sys.executable).parent)})
    assert version.returncode == 0 and version.stdout.startswith("orgportal "), version.stderr
    listed = _orgs_json([sys.executable, str(path)], live_server, make_token(world.owner).raw, tmp_path)
    assert len(listed["result"]) == 2


def _commands():
    sys.path.insert(0, str(PACKAGE / "src"))
    try:
        from orgportal.completions import tree
    finally:
        sys.path.remove(str(PACKAGE / "src"))
    return tree()


def _assert_names_every_command(shell: str, script: str, commands: dict) -> None:
    for path, entry in commands.items():
        for word in entry["commands"] + [o for o in entry["options"] if o != "--help"]:
            needle = word if shell != "fish" or not word.startswith("--") else f"-l {word[2:]}"
            assert needle in script, (shell, path, word)


def test_build_cli_writes_the_download_and_completions_naming_every_command(tmp_path):
    from django.core.management import call_command

    out = tmp_path / "cli"
    call_command("build_cli", out=str(out), stdout=io.StringIO())
    assert sorted(p.name for p in out.iterdir()) == ["orgportal", "orgportal.bash", "orgportal.fish", "orgportal.zsh"]
    commands = _commands()
    for shell in SHELLS:
        script = (out / f"orgportal.{shell}").read_text()
        _assert_names_every_command(shell, script, commands)
        # The zipapp carries the same scripts: `orgportal completions SHELL` prints what the portal serves.
        printed = subprocess.run([sys.executable, str(out / "orgportal"), "completions", shell], capture_output=True,
                                 text=True, check=True, timeout=60)
        assert printed.stdout == script
    syntax = subprocess.run(["bash", "-n", str(out / "orgportal.bash")], capture_output=True, text=True)
    assert syntax.returncode == 0, syntax.stderr


def test_the_views_serve_the_prebuilt_files_and_never_build(client, settings, tmp_path, monkeypatch):
    from portal.lib import clibuild

    def no_build(**kwargs):
        raise AssertionError("built while answering a request")

    monkeypatch.setattr(clibuild, "build", no_build)
    monkeypatch.setattr(subprocess, "run", no_build)
    settings.PORTAL_CLI_DIR = tmp_path
    for name in ("orgportal", "orgportal.bash", "orgportal.zsh", "orgportal.fish"):
        (tmp_path / name).write_bytes(f"prebuilt {name}\n".encode())
    response = client.get("/cli/orgportal")
    assert response.status_code == 200 and response.content == b"prebuilt orgportal\n"
    assert response["Content-Disposition"] == 'attachment; filename="orgportal"' and response["ETag"]
    for shell in SHELLS:
        response = client.get(f"/cli/completions/{shell}")
        assert response.status_code == 200 and response.content == f"prebuilt orgportal.{shell}\n".encode()
    assert client.get("/cli/completions/tcsh").status_code == 404
    # Not built: a clear 503, still no build.
    settings.PORTAL_CLI_DIR = tmp_path / "missing"
    for url in ("/cli/orgportal", "/cli/completions/bash"):
        response = client.get(url)
        assert response.status_code == 503 and b"manage.py build_cli" in response.content, url


def test_the_image_build_runs_build_cli_with_the_client_sources():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert dockerfile.index("COPY clients ./clients") < dockerfile.index("python manage.py build_cli")
    assert "build_cli" in (ROOT / "portal" / "devserver.py").read_text()


def test_completions_name_every_command(live_server, cli_built):
    commands = _commands()
    top = commands[()]["commands"]
    assert {"login", "logout", "whoami", "orgs", "env", "open", "sf-login", "sandbox", "config"} <= set(top)
    for shell in SHELLS:
        with urllib.request.urlopen(f"{live_server.url}/cli/completions/{shell}", timeout=60) as response:
            script = response.read().decode()
        _assert_names_every_command(shell, script, commands)
        assert script == (cli_built / f"orgportal.{shell}").read_text()  # the prebuilt file, as it is
    with urllib.request.urlopen(f"{live_server.url}/cli/completions/bash", timeout=60) as response:
        syntax = subprocess.run(["bash", "-n"], input=response.read().decode(), capture_output=True, text=True)
    assert syntax.returncode == 0, syntax.stderr
