"""Start oidcsim as a subprocess for test suites, and drive it through its control API.

    with start_issuer() as oidc:
        token = oidc.mint("github", {"ref": "refs/heads/release"}, audience="https://portal.example")
        oidc.jwks_fetches("github")

No pytest import here; wrap it in your own fixture. The client holds no key material: the server mints.
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


class IssuerError(RuntimeError):
    """oidcsim did not start, or a control call failed (``status`` holds the HTTP status, 0 if none)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class IssuerSimulator:
    """A running ``python -m oidcsim`` subprocess and thin wrappers around its control API."""

    def __init__(self, process: subprocess.Popen[bytes], base_url: str, bound_url: str | None = None) -> None:
        self.process = process
        self.base_url = base_url  # advertised (``--base-url``); issuer URLs start with it
        self.bound_url = bound_url or base_url  # where the socket listens; the control calls go there
        self._local = threading.local()

    def __repr__(self) -> str:
        return f"IssuerSimulator(base_url={self.base_url!r}, pid={self.process.pid})"

    def __enter__(self) -> IssuerSimulator:
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

    # -- control API ----------------------------------------------------------------------------------

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """Call ``/__control/<path>`` and return the decoded JSON (IssuerError on HTTP errors)."""
        data = json.dumps(body).encode() if body is not None else None
        url = f"/__control/{path.lstrip('/')}"
        try:
            status, payload = self._exchange(method, url, data)
        except (ConnectionError, http.client.HTTPException) as exc:
            self._local.connection = None
            raise IssuerError(f"{method} {url} failed: {exc!r} (is oidcsim running?)") from exc
        if status >= 400:
            raise IssuerError(f"{method} {url} -> {status}: {payload.decode(errors='replace')}", status)
        return json.loads(payload or b"null")

    def _exchange(self, method: str, url: str, data: bytes | None) -> tuple[int, bytes]:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            parts = urlsplit(self.bound_url)
            connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
            self._local.connection = connection
        connection.request(method, url, body=data, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, response.read()

    def reset(self) -> dict[str, Any]:
        """Back to the built-in issuers (github, gitlab) with fresh keys; custom issuers, settings, counters,
        Actions jobs and the attacker key are dropped or renewed."""
        return self.call("POST", "reset")

    def issuer(self, name: str) -> dict[str, Any]:
        """``{name, kind, issuer, path, discovery_url, jwks_uri, signing_kid, keys, config, counters, ...}``."""
        return self.call("GET", _seg(name))

    def issuer_url(self, name: str) -> str:
        return self.issuer(name)["issuer"]

    def jwks_uri(self, name: str) -> str:
        return self.issuer(name)["jwks_uri"]

    def signing_kid(self, name: str) -> str:
        return self.issuer(name)["signing_kid"]

    def create_issuer(self, name: str, kind: str = "custom", *, path: str | None = None) -> dict[str, Any]:
        """A new issuer at ``<base><path>`` (default ``/<name>``) with one RS256 signing key."""
        return self.call("POST", "issuers", {"name": name, "kind": kind, "path": path})

    def delete_issuer(self, name: str) -> None:
        self.call("DELETE", _seg(name))

    def add_key(self, name: str, alg: str = "RS256", *, publish: bool = True, sign: bool = False) -> str:
        """A new key (RS256 or ES256); published unless ``publish=False``. Returns its kid."""
        return self.call("POST", f"{_seg(name)}/keys", {"alg": alg, "publish": publish, "sign": sign})["kid"]

    def rotate_key(self, name: str, alg: str = "RS256") -> str:
        """Publish a new key next to the old ones and sign with it from now on. Returns the new kid."""
        return self.call("POST", f"{_seg(name)}/rotate", {"alg": alg})["kid"]

    def use_key(self, name: str, kid: str) -> None:
        self.call("POST", f"{_seg(name)}/keys/{_seg(kid)}/sign")

    def retire_key(self, name: str, kid: str) -> None:
        """Remove ``kid`` from the JWKS (the server keeps it, so ``mint(kid=...)`` can still sign with it)."""
        self.call("POST", f"{_seg(name)}/keys/{_seg(kid)}/retire")

    def publish_key(self, name: str, kid: str) -> None:
        self.call("POST", f"{_seg(name)}/keys/{_seg(kid)}/publish")

    def counters(self, name: str) -> dict[str, int]:
        """``{"jwks": n, "discovery": n, "actions_token": n}``: requests received, whatever was answered."""
        return self.call("GET", f"{_seg(name)}/counters")

    def jwks_fetches(self, name: str) -> int:
        return self.counters(name)["jwks"]

    def discovery_fetches(self, name: str) -> int:
        return self.counters(name)["discovery"]

    def reset_counters(self, name: str) -> None:
        self.call("DELETE", f"{_seg(name)}/counters")

    def configure(self, name: str, **misbehaviours: Any) -> dict[str, Any]:
        """Any of ``latency_ms``, ``jwks_status``, ``jwks_redirect`` (URL, or True for the attacker JWKS),
        ``jwks_empty``, ``discovery_status``, ``discovery_issuer``, ``discovery_jwks_uri``; None restores the
        default. Returns the issuer's whole setting."""
        return self.call("POST", f"{_seg(name)}/config", misbehaviours)

    def attacker(self) -> dict[str, Any]:
        """``{kid, jwk, jwks_url, x5u_url, counters: {jwks, x5u}}`` of the key no issuer publishes."""
        return self.call("GET", "attacker")

    # -- tokens ---------------------------------------------------------------------------------------

    def mint_full(
        self,
        name: str,
        claims: dict[str, Any] | None = None,
        *,
        audience: Any,
        lifetime: int = 300,
        kid: str | None = None,
        alg: str | None = None,
        headers: dict[str, Any] | None = None,
        iat: int | None = None,
        nbf: int | None = None,
        exp: int | None = None,
        attack: str | None = None,
        url: str | None = None,
    ) -> dict[str, Any]:
        """``{token, header, claims}``. See ``mint`` for the parameters."""
        body = {
            "claims": claims,
            "audience": audience,
            "lifetime": lifetime,
            "kid": kid,
            "alg": alg,
            "headers": headers,
            "iat": iat,
            "nbf": nbf,
            "exp": exp,
            "attack": attack,
            "url": url,
        }
        return self.call(
            "POST", f"{_seg(name)}/mint", {k: v for k, v in body.items() if v is not None or k == "audience"}
        )

    def mint(
        self,
        name: str,
        claims: dict[str, Any] | None = None,
        *,
        audience: Any,
        lifetime: int = 300,
        kid: str | None = None,
        alg: str | None = None,
        headers: dict[str, Any] | None = None,
        iat: int | None = None,
        nbf: int | None = None,
        exp: int | None = None,
    ) -> str:
        """A JWT signed by the issuer's signing key (or ``kid``), with the kind's default claims updated by
        ``claims`` (a None value removes a claim). ``audience``: a string, a list, or None (no ``aud``).
        ``exp`` defaults to ``iat + lifetime``; ``headers`` are merged last (None removes, e.g. ``kid``)."""
        return self.mint_full(
            name,
            claims,
            audience=audience,
            lifetime=lifetime,
            kid=kid,
            alg=alg,
            headers=headers,
            iat=iat,
            nbf=nbf,
            exp=exp,
        )["token"]

    def mint_attack(
        self,
        name: str,
        attack: str,
        claims: dict[str, Any] | None = None,
        *,
        audience: Any,
        url: str | None = None,
        **options: Any,
    ) -> str:
        """A forged token; ``attack`` is one of none, hs256_public_key, unknown_kid, foreign_key, jwk, jku, x5u."""
        return self.mint_full(name, claims, audience=audience, attack=attack, url=url, **options)["token"]

    def mint_unsigned(self, name: str, claims: dict[str, Any] | None = None, *, audience: Any, **options: Any) -> str:
        """``alg: none``, empty signature, the signing key's kid."""
        return self.mint_attack(name, "none", claims, audience=audience, **options)

    def mint_hs256_public_key(
        self, name: str, claims: dict[str, Any] | None = None, *, audience: Any, **options: Any
    ) -> str:
        """HS256 whose HMAC secret is the signing key's public key PEM (SubjectPublicKeyInfo), with its kid."""
        return self.mint_attack(name, "hs256_public_key", claims, audience=audience, **options)

    def mint_unknown_kid(
        self, name: str, claims: dict[str, Any] | None = None, *, audience: Any, **options: Any
    ) -> str:
        """Signed by the real signing key, but the header names a kid no JWKS has (or ``kid=``)."""
        return self.mint_attack(name, "unknown_kid", claims, audience=audience, **options)

    def mint_foreign_key(
        self, name: str, claims: dict[str, Any] | None = None, *, audience: Any, **options: Any
    ) -> str:
        """Signed by the attacker key (in no issuer's JWKS); header kid = its own, or ``kid=`` (e.g. a real one)."""
        return self.mint_attack(name, "foreign_key", claims, audience=audience, **options)

    def mint_with_jwk(self, name: str, claims: dict[str, Any] | None = None, *, audience: Any, **options: Any) -> str:
        """Signed by the attacker key, which the header carries as ``jwk``."""
        return self.mint_attack(name, "jwk", claims, audience=audience, **options)

    def mint_with_jku(
        self, name: str, claims: dict[str, Any] | None = None, *, audience: Any, url: str | None = None, **options: Any
    ) -> str:
        """Signed by the attacker key; header ``jku`` = ``url`` or the attacker JWKS served by oidcsim."""
        return self.mint_attack(name, "jku", claims, audience=audience, url=url, **options)

    def mint_with_x5u(
        self, name: str, claims: dict[str, Any] | None = None, *, audience: Any, url: str | None = None, **options: Any
    ) -> str:
        """Signed by the attacker key; header ``x5u`` = ``url`` or the attacker's self-signed cert PEM."""
        return self.mint_attack(name, "x5u", claims, audience=audience, url=url, **options)

    # -- GitHub Actions job ---------------------------------------------------------------------------

    def set_actions_job(
        self,
        name: str = "github",
        *,
        request_token: str | None = None,
        claims: dict[str, Any] | None = None,
        lifetime: int = 300,
    ) -> dict[str, str]:
        """Let ``<issuer>/_actions/token`` mint tokens with ``claims`` for ``request_token`` (generated if None).
        Returns ``{request_url, request_token}``; ``request_url`` already has a query, so append ``&audience=``."""
        body: dict[str, Any] = {"claims": claims or {}, "lifetime": lifetime}
        if request_token is not None:
            body["request_token"] = request_token
        return self.call("POST", f"{_seg(name)}/actions_job", body)

    def actions_env(self, name: str = "github", **job: Any) -> dict[str, str]:
        """``ACTIONS_ID_TOKEN_REQUEST_URL`` and ``ACTIONS_ID_TOKEN_REQUEST_TOKEN`` for a subprocess's env."""
        result = self.set_actions_job(name, **job)
        return {
            "ACTIONS_ID_TOKEN_REQUEST_URL": result["request_url"],
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN": result["request_token"],
        }

    def clear_actions_job(self, name: str = "github") -> None:
        self.call("DELETE", f"{_seg(name)}/actions_job")


def _seg(value: str) -> str:
    return quote(value, safe="")


def start_issuer(
    *,
    port: int = 0,
    base_url: str | None = None,
    issuer_paths: dict[str, str] | None = None,
    verbose: bool = False,
) -> IssuerSimulator:
    """Start ``python -m oidcsim`` and wait (up to 10 s) for its ``oidcsim listening on URL`` line."""
    command = [sys.executable, "-m", "oidcsim", "--port", str(port), "--host", "127.0.0.1"]
    if base_url is not None:
        command += ["--base-url", base_url]
    for name, path in (issuer_paths or {}).items():
        command += ["--issuer-path", f"{name}={path}"]
    if verbose:
        command.append("--verbose")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [_PACKAGE_PARENT, env.get("PYTHONPATH")]))
    process = subprocess.Popen(command, stdout=subprocess.PIPE, env=env)  # noqa: S603 (fixed argv)
    try:
        base, bound = _read_ready_lines(process)
    except BaseException:
        process.kill()
        process.wait(timeout=5)
        raise
    return IssuerSimulator(process, base, bound)


def _read_ready_lines(process: subprocess.Popen[bytes]) -> tuple[str, str]:
    if process.stdout is None:
        raise IssuerError("oidcsim was started without a stdout pipe")
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    buffer = b""
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while buffer.count(b"\n") < 2:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise IssuerError(f"oidcsim did not report readiness within {READY_TIMEOUT_SECONDS:.0f} s")
            if not selector.select(timeout=remaining):
                continue
            chunk = os.read(process.stdout.fileno(), 4096)
            if not chunk:
                raise IssuerError(f"oidcsim exited before it was ready (exit code {process.wait(timeout=5)})")
            buffer += chunk
    first, second = (line.decode().strip() for line in buffer.split(b"\n")[:2])
    prefixes = ("oidcsim listening on ", "oidcsim bound to ")
    if not first.startswith(prefixes[0]) or not second.startswith(prefixes[1]):
        raise IssuerError(f"unexpected first lines from oidcsim: {first!r}, {second!r}")
    return first[len(prefixes[0]) :], second[len(prefixes[1]) :]
