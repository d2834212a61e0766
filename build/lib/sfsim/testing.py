"""Start the simulator as a subprocess for test suites and benchmarks.

    with start_simulator() as sim:
        sim.configure(page_size=200)
        requests.get(f"{sim.base_url}/services/data/")

No pytest import here; wrap it in your own fixture.
"""

from __future__ import annotations

import http.client
import json
import os
import selectors
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlsplit

READY_TIMEOUT_SECONDS = 10.0
_PACKAGE_PARENT = str(Path(__file__).resolve().parent.parent)


class SimulatorError(RuntimeError):
    """The simulator did not start, or a control call failed."""


class Simulator:
    """A running ``python -m sfsim`` subprocess and thin wrappers around its control API."""

    def __init__(self, process: subprocess.Popen[bytes], base_url: str) -> None:
        self.process = process
        self.base_url = base_url
        self._local = threading.local()

    def __repr__(self) -> str:
        return f"Simulator(base_url={self.base_url!r}, pid={self.process.pid})"

    def __enter__(self) -> Simulator:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def stop(self) -> None:
        """Terminate the subprocess (SIGTERM, then SIGKILL after 5 s)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self.process.stdout is not None:
            self.process.stdout.close()

    # -- control API ------------------------------------------------------------------------------

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """Call ``/__sim__/<path>`` and return the decoded JSON (SimulatorError on HTTP errors).

        Uses one keep-alive connection per thread, so seeding thousands of tokens stays fast.
        """
        data = json.dumps(body).encode() if body is not None else None
        url = f"/__sim__/{path.lstrip('/')}"
        try:
            status, payload = self._exchange(method, url, data)
        except (ConnectionError, http.client.HTTPException) as exc:
            self._local.connection = None
            raise SimulatorError(f"{method} {url} failed: {exc!r} (is the simulator running?)") from exc
        if status >= 400:
            raise SimulatorError(f"{method} {url} -> {status}: {payload.decode(errors='replace')}")
        return json.loads(payload or b"null")

    def _exchange(self, method: str, url: str, data: bytes | None) -> tuple[int, bytes]:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            parts = urlsplit(self.base_url)
            connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
            self._local.connection = connection
        connection.request(method, url, body=data, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, response.read()

    def reset(self) -> dict[str, Any]:
        return self.call("POST", "reset")

    def configure(self, **settings: Any) -> dict[str, Any]:
        """latency_ms, fail_rate, fail_mode, fail_paths, fail_when, timeout_seconds, page_size,
        scratch_create_seconds, sandbox_copy_seconds, sandbox_instance_url_template, clock_offset_seconds,
        redirect_location, corrupt_signature."""
        return self.call("POST", "config", settings)

    def update_app(self, consumer_key: str, **settings: Any) -> dict[str, Any]:
        return self.call("POST", f"apps/{quote(consumer_key, safe='')}", settings)

    def revoke_user(self, username: str) -> dict[str, Any]:
        return self.call("POST", f"users/{quote(username, safe='')}/revoke")

    def expire_sessions(self) -> dict[str, Any]:
        return self.call("POST", "sessions/expire")

    def log(self) -> list[dict[str, Any]]:
        return self.call("GET", "log")

    def clear_log(self) -> None:
        self.call("DELETE", "log")

    def load(self, data: dict[str, Any]) -> dict[str, Any]:
        return self.call("POST", "load", data)

    def state(self) -> dict[str, Any]:
        return self.call("GET", "state")

    # -- sandboxes (SALESFORCE.md 5.6) -------------------------------------------------------------

    def set_sandbox_licenses(self, org: str, **licenses: int) -> dict[str, Any]:
        """Per-org license counts, e.g. ``set_sandbox_licenses(org_id, DEVELOPER=2, FULL=0)``;
        ``org`` is a production org id or the username of one of its users."""
        return self.call("POST", "sandboxes/licenses", {"org": org, "licenses": licenses})

    def seed_sandboxes(
        self,
        org: str,
        count: int | None = None,
        *,
        names: list[str] | None = None,
        prefix: str = "sb",
        license_type: str = "DEVELOPER",
        copy_users: bool = True,
        last_refresh_days_ago: float = 30,
    ) -> list[dict[str, Any]]:
        """Completed sandboxes at once (orgs and users included), named ``names`` or ``<prefix><n>``."""
        body: dict[str, Any] = {
            "org": org,
            "prefix": prefix,
            "license_type": license_type,
            "copy_users": copy_users,
            "last_refresh_days_ago": last_refresh_days_ago,
        }
        if names is not None:
            body["names"] = names
        else:
            body["count"] = 1 if count is None else count
        return self.call("POST", "sandboxes/seed", body)["sandboxes"]

    def sandboxes(self, org: str | None = None) -> list[dict[str, Any]]:
        path = f"sandboxes?org={quote(org, safe='')}" if org else "sandboxes"
        return self.call("GET", path)["sandboxes"]

    def advance_sandbox(
        self, sandbox: str, to: str = "Completed", *, org: str | None = None, copy_progress: int | None = None
    ) -> dict[str, Any]:
        """Step the newest copy of ``sandbox`` (a name, 0GQ or 0GR id) to the stage ``to`` now."""
        body: dict[str, Any] = {"sandbox": sandbox, "to": to, "org": org, "copy_progress": copy_progress}
        return self.call("POST", "sandboxes/advance", body)

    def fail_sandbox(self, sandbox: str, reason: str = "The sandbox copy failed.", *, org: str | None = None) -> dict:
        return self.call("POST", "sandboxes/fail", {"sandbox": sandbox, "reason": reason, "org": org})

    def set_sandbox_last_refresh(self, sandbox: str, days_ago: float, *, org: str | None = None) -> dict[str, Any]:
        return self.call("POST", "sandboxes/last-refresh", {"sandbox": sandbox, "days_ago": days_ago, "org": org})

    def mint_tokens(
        self, username: str, consumer_key: str, *, rotation: bool | None = None, scope: str | None = None
    ) -> dict[str, Any]:
        """A token response (with refresh_token) as if ``username`` had completed the web flow."""
        body: dict[str, Any] = {"username": username, "consumer_key": consumer_key}
        if rotation is not None:
            body["rotation"] = rotation
        if scope is not None:
            body["scope"] = scope
        return self.call("POST", "tokens", body)

    def authorize(
        self,
        username: str,
        client_id: str,
        redirect_uri: str,
        *,
        state: str | None = None,
        code_challenge: str | None = None,
        scope: str | None = None,
        deny: bool = False,
        **extra: str,
    ) -> str:
        """The callback URL (with ``code`` or ``error``) as if the user logged in and clicked Allow/Deny."""
        body: dict[str, Any] = {
            "username": username,
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "state": state,
            "code_challenge": code_challenge,
            "scope": scope,
            "deny": deny,
            **extra,
        }
        return self.call("POST", "authorize", body)["location"]


def start_simulator(fixture: str | None = None, *, port: int = 0, verbose: bool = False) -> Simulator:
    """Start ``python -m sfsim`` and wait (up to 10 s) for its ``sfsim listening on URL`` line."""
    command = [sys.executable, "-m", "sfsim", "--port", str(port), "--host", "127.0.0.1"]
    if fixture is not None:
        command += ["--fixture", str(fixture)]
    if verbose:
        command.append("--verbose")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [_PACKAGE_PARENT, env.get("PYTHONPATH")]))
    process = subprocess.Popen(command, stdout=subprocess.PIPE, env=env)  # noqa: S603 (fixed argv)
    try:
        base_url = _read_ready_line(process)
    except BaseException:
        process.kill()
        process.wait(timeout=5)
        raise
    return Simulator(process, base_url)


def _read_ready_line(process: subprocess.Popen[bytes]) -> str:
    if process.stdout is None:
        raise SimulatorError("sfsim was started without a stdout pipe")
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    buffer = b""
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while b"\n" not in buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SimulatorError(f"sfsim did not report readiness within {READY_TIMEOUT_SECONDS:.0f} s")
            if not selector.select(timeout=remaining):
                continue
            chunk = os.read(process.stdout.fileno(), 4096)
            if not chunk:
                raise SimulatorError(
                    f"sfsim exited before it was ready (exit code {process.wait(timeout=5)})"
                )
            buffer += chunk
    line = buffer.split(b"\n", 1)[0].decode().strip()
    prefix = "sfsim listening on "
    if not line.startswith(prefix):
        raise SimulatorError(f"unexpected first line from sfsim: {line!r}")
    return line[len(prefix) :]
