"""HTTP front end: routing, fault injection, request log. Standard library only."""

from __future__ import annotations

import random
import re
import socket
import struct
import sys
import time
import traceback
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sfsim import control, frontdoor, oauth, pages, rest, sandbox, scratch
from sfsim.fixture import reset_world
from sfsim.model import SimConfig, World
from sfsim.web import Request, Response, html, json_response, not_found, redirect, rest_error

Endpoint = Callable[..., Response]
ANY = ("GET", "POST", "PUT", "PATCH", "DELETE")

ROUTES: list[tuple[tuple[str, ...], re.Pattern[str], Endpoint]] = [
    (("GET",), re.compile(r"/services/oauth2/authorize"), oauth.authorize_get),
    (("POST",), re.compile(r"/services/oauth2/authorize"), oauth.authorize_post),
    (ANY, re.compile(r"/services/oauth2/token"), oauth.token),
    (("GET", "POST"), re.compile(r"/services/oauth2/revoke"), oauth.revoke),
    (("POST",), re.compile(r"/services/oauth2/introspect"), oauth.introspect),
    (("GET", "POST"), re.compile(r"/services/oauth2/userinfo"), oauth.userinfo),
    (
        ("GET", "POST"),
        re.compile(r"/id/(?P<org_id>[A-Za-z0-9]+)/(?P<user_id>[A-Za-z0-9]+)/?"),
        oauth.identity,
    ),
    (("POST",), re.compile(r"/services/oauth2/singleaccess"), frontdoor.single_access),
    (("GET", "POST"), re.compile(r"/secur/frontdoor\.jsp"), frontdoor.frontdoor),
    (("GET",), re.compile(r"/lightning(?:/.*)?"), frontdoor.ui_page),
    (("GET",), re.compile(r"/"), frontdoor.login_landing),
    (("GET",), re.compile(r"/setup/secur/RemoteAccessErrorPage\.apexp"), oauth.error_page),
    (("GET",), re.compile(r"/\.well-known/openid-configuration"), lambda world, req: _discovery(world)),
    (("GET",), re.compile(r"/services/data/?"), rest.versions),
    (ANY, re.compile(r"/services/data/(?P<segment>[^/]+)(?P<rest>/.*)?"), rest.dispatch),
]


def _discovery(world: World) -> Response:
    base = world.base_url
    return json_response(
        200,
        {
            "issuer": base,
            "authorization_endpoint": f"{base}/services/oauth2/authorize",
            "token_endpoint": f"{base}/services/oauth2/token",
            "revocation_endpoint": f"{base}/services/oauth2/revoke",
            "userinfo_endpoint": f"{base}/services/oauth2/userinfo",
            "introspection_endpoint": f"{base}/services/oauth2/introspect",
            "response_types_supported": ["code"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "scopes_supported": ["api", "web", "full", "id", "openid", "refresh_token", "offline_access"],
        },
    )


def route(world: World, req: Request) -> Response:
    allowed: list[str] = []
    for methods, pattern, endpoint in ROUTES:
        match = pattern.fullmatch(req.path)
        if match is None:
            continue
        if req.method not in methods:
            allowed += methods
            continue
        params = {k: v or "" for k, v in match.groupdict().items()}
        return endpoint(world, req, **params)
    if allowed:
        return rest_error(
            405,
            "METHOD_NOT_ALLOWED",
            f"HTTP Method '{req.method}' not allowed. Allowed are {','.join(allowed)}",
        )
    return not_found()


_FAULT_STATUS = {"500": 500, "503": 503, "429": 429, "timeout": 0, "reset": 0, "redirect": 302}


def _fault_response(mode: str, config: SimConfig) -> Response:
    if mode == "redirect":
        return redirect(config.redirect_location)
    if mode == "500":
        return rest_error(
            500,
            "UNKNOWN_EXCEPTION",
            "An unexpected error occurred. Please include this ErrorId if you contact support: "
            "1234567890-12345 (-1234567890)",
        )
    if mode == "429":
        response = rest_error(429, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
        response.headers.append(("Retry-After", "1"))
        return response
    return html(503, pages.maintenance_page(), [("Retry-After", "1")])


class SimServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(
        self,
        address: tuple[str, int],
        world_factory: Callable[[int], World],
        fixture: dict[str, Any],
        verbose: bool,
    ) -> None:
        super().__init__(address, Handler)
        self.world = world_factory(self.server_address[1])
        self.fixture = fixture
        self.verbose = verbose
        reset_world(self.world, fixture)

    @property
    def base_url(self) -> str:
        return self.world.base_url


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: benchmarks reuse connections
    disable_nagle_algorithm = True
    server_version = "sfsim"
    sys_version = ""
    server: SimServer

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        self._handle()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET  # noqa: N815

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (signature from the base class)
        if self.server.verbose:
            sys.stderr.write(f"sfsim {self.address_string()} {format % args}\n")

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Like the base class, but without the query string (``revoke?token=...`` must not be logged)."""
        if self.server.verbose:
            path = urlsplit(self.path).path
            sys.stderr.write(f"sfsim {self.address_string()} {self.command} {path} {code}\n")

    def _handle(self) -> None:
        # The CLI stores instanceUrl with a trailing slash and requests `//services/...`. Python >= 3.11.4
        # already collapses a leading `//` (gh-87389); older ones would parse `services` as a host.
        parts = urlsplit("/" + self.path.lstrip("/"))
        length_header = self.headers.get("Content-Length") or "0"
        if not length_header.isdigit():
            self.close_connection = True
            self._send(rest_error(400, "BAD_REQUEST", "invalid Content-Length"))
            return
        body = self.rfile.read(int(length_header)) if int(length_header) > 0 else b""
        req = Request(
            method=self.command,
            path=parts.path,
            query={k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()},
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        world = self.server.world
        if req.path.startswith("/__sim__/"):
            with world.lock:
                response = self._safely(lambda: control.dispatch(world, self.server.fixture, req))
            self._send(response)
            return
        config = world.config
        if config.latency_ms:
            time.sleep(config.latency_ms / 1000)
        fault = self._pick_fault(config, req.path)
        if fault is None:
            with world.lock:
                response = self._safely(lambda: self._serve(world, req))
                self._record(world, req, response.status)
            self._send(response)
            return
        with world.lock:
            if config.fail_when == "after":  # processed, but the client never sees the answer
                self._safely(lambda: self._serve(world, req))
            req.log.setdefault("outcome", f"fault:{fault}")
            self._record(world, req, _FAULT_STATUS[fault], fault=fault)
        self._inject(fault, config)

    @staticmethod
    def _serve(world: World, req: Request) -> Response:
        scratch.advance(world)
        sandbox.advance(world)
        return route(world, req)

    @staticmethod
    def _safely(produce: Callable[[], Response]) -> Response:
        try:
            return produce()
        except Exception:  # a simulator bug must not kill the connection silently
            traceback.print_exc(file=sys.stderr)
            return rest_error(500, "UNKNOWN_EXCEPTION", "sfsim internal error (see the simulator's stderr)")

    @staticmethod
    def _pick_fault(config: SimConfig, path: str) -> str | None:
        if config.fail_rate <= 0 or random.random() >= config.fail_rate:
            return None
        if config.fail_paths and not any(path.startswith(prefix) for prefix in config.fail_paths):
            return None
        return config.fail_mode

    def _inject(self, mode: str, config: SimConfig) -> None:
        """Answer with a fault, or drop the connection (``timeout`` waits first, ``reset`` sends RST)."""
        if mode == "timeout":
            time.sleep(config.timeout_seconds)
        elif mode == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        else:
            self._send(_fault_response(mode, config))
            return
        self.close_connection = True

    def _record(self, world: World, req: Request, status: int, fault: str | None = None) -> None:
        entry = {
            "ts": round(world.now(), 3),
            "method": req.method,
            "path": req.path,
            "status": status,
            "grant_type": req.log.get("grant_type"),
            "client_id": req.log.get("client_id"),
            "username": req.log.get("username"),
            "outcome": req.log.get("outcome"),
        }
        if "token_sha256" in req.log:
            entry["token_sha256"] = req.log["token_sha256"]
        if fault is not None:
            entry["fault"] = fault
        world.log.append(entry)

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        if response.content_type:
            self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers:
            self.send_header(name, value)
        self.end_headers()
        if response.body:
            self.wfile.write(response.body)


def create_server(
    host: str, port: int, fixture: dict[str, Any], *, verbose: bool = False, base_url: str | None = None
) -> SimServer:
    """Bind (port 0 picks a free one) and load the fixture; call ``serve_forever`` to run."""
    shown = "127.0.0.1" if host in ("", "0.0.0.0") else host  # noqa: S104 (display only)

    def make_world(bound_port: int) -> World:
        return World(base_url or f"http://{shown}:{bound_port}")

    return SimServer((host, port), make_world, fixture, verbose)
