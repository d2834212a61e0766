"""Reproducible installs: the image and `make` install the exact versions of the lock files; the wheel (and so the
image) carries the portal only, never the simulators, their demo keys or test fixtures; development still imports
the simulators from the checkout."""

import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

from packaging.requirements import Requirement

from tests.test_settings_and_deploy import clean_env

ROOT = Path(__file__).resolve().parent.parent.parent


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s;\\]+)", line)
        if match:
            pins[match.group(1).lower().replace("_", "-")] = match.group(2)
    return pins


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_the_lock_files_pin_every_dependency_within_its_range():
    runtime, dev = _pins(ROOT / "requirements.lock"), _pins(ROOT / "requirements-dev.lock")
    project = _project()
    for spec, locked in ((project["dependencies"], runtime), (project["dependencies"], dev),
                         (project["optional-dependencies"]["dev"], dev)):
        for line in spec:
            requirement = Requirement(line)
            name = requirement.name.lower().replace("_", "-")
            assert name in locked, f"{name} is not in the lock: run `make lock`"
            assert requirement.specifier.contains(locked[name], prereleases=True), (name, locked[name])
    # One resolution: what both locks share, they pin alike.
    assert {name: version for name, version in runtime.items() if dev.get(name) != version} == {}
    for lock in ("requirements.lock", "requirements-dev.lock"):
        text = (ROOT / lock).read_text()
        assert "--find-links" not in text and "--index-url" not in text  # no machine-specific sources


def test_the_image_and_make_install_from_the_locks():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install -r requirements.lock" in dockerfile
    installs = re.findall(r"pip install ([^\n]+)", dockerfile)
    assert all("-r requirements.lock" in args or "--no-deps" in args for args in installs), installs
    assert not re.search(r"^COPY\s+(sfsim|oidcsim|tests)\b", dockerfile, re.M)
    makefile = (ROOT / "Makefile").read_text()
    assert "pip install --quiet -r requirements-dev.lock" in makefile
    assert "pip install --quiet --no-deps -e ." in makefile
    assert "'.[dev]'" not in makefile


def test_the_wheel_lacks_the_simulators_their_keys_and_the_tests(tmp_path):
    # Built from a copy: setuptools leaves build/ and *.egg-info next to the sources it builds.
    source = tmp_path / "src"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".git", ".venv", ".run", "build", "*.egg-info",
                                                                 "staticfiles", "__pycache__", ".pytest_cache"))
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--quiet", "-w",
                            str(tmp_path / "dist")], cwd=source, capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stdout + built.stderr
    assert (source / "sfsim").is_dir() and (source / "oidcsim").is_dir()  # there, and still left out
    (wheel,) = (tmp_path / "dist").glob("org_portal-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names if not name.split("/")[0].endswith((".dist-info", ".data"))}
    assert tops == {"portal", "orgs", "orgportal"}, tops  # orgportal: the standalone CLI (clients/orgportal)
    assert "portal/settings.py" in names and "orgs/services/handout.py" in names
    assert not [name for name in names if name.endswith((".pem", ".key")) or "/fixtures/" in name]


def test_the_simulators_still_run_from_the_checkout():
    env = {key: value for key, value in clean_env().items() if key != "PYTHONPATH"}
    for module in ("sfsim", "oidcsim"):
        ran = subprocess.run([sys.executable, "-m", module, "--help"], cwd=ROOT, env=env, capture_output=True,
                             text=True, timeout=60)
        assert ran.returncode == 0 and "usage" in ran.stdout.lower(), (module, ran.stdout + ran.stderr)
    devserver = (ROOT / "portal" / "devserver.py").read_text()
    assert '"-m", "sfsim"' in devserver and "cwd=BASE_DIR" in devserver
