"""The CLI on its own (issue 19 item 6): its package installed alone into a fresh venv, the single-file download the
portal serves (a zipapp), and the shell completions generated from its parser."""

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
    listed = _orgs_json([orgportal], live_server, make_token(world.owner).raw, tmp_path)
    assert listed["status"] == 0 and {o["username"] for o in listed["result"]} == {orgs.sandbox.username,
                                                                                  orgs.hub.username}
    no_django = subprocess.run([str(venv / "bin" / "python"), "-c", "import django"], capture_output=True)
    assert no_django.returncode != 0


def test_the_portal_serves_a_single_file_download(tmp_path, live_server, world, orgs, make_token):
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


def test_completions_name_every_command(live_server):
    commands = _commands()
    top = commands[()]["commands"]
    assert {"login", "logout", "whoami", "orgs", "env", "open", "sf-login", "sandbox", "config"} <= set(top)
    for shell in ("bash", "zsh", "fish"):
        with urllib.request.urlopen(f"{live_server.url}/cli/completions/{shell}", timeout=60) as response:
            script = response.read().decode()
        for path, entry in commands.items():
            for word in entry["commands"] + [o for o in entry["options"] if o != "--help"]:
                needle = word if shell != "fish" or not word.startswith("--") else f"-l {word[2:]}"
                assert needle in script, (shell, path, word)
    with urllib.request.urlopen(f"{live_server.url}/cli/completions/bash", timeout=60) as response:
        syntax = subprocess.run(["bash", "-n"], input=response.read().decode(), capture_output=True, text=True)
    assert syntax.returncode == 0, syntax.stderr
