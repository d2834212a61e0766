"""HTTP front end: routing, per-issuer latency, fetch counters. Standard library only (ThreadingHTTPServer)."""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from oidcsim import control, issuer_endpoints
from oidcsim.model import ATTACKER_PREFIX, World
from oidcsim.web import Request, Response, error

COUNTER = {"discovery": "discovery", "jwks": "jwks", "actions_token": "actions_token"}


class IssuerServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], world_factory: Callable[[int], World], verbose: bool) -> None:
        super().__init__(address, Handler)
        self.world = world_factory(self.server_address[1])
        self.verbose = verbose

    @property
    def base_url(self) -> str:
        return self.world.base_url

    @property
    def bound_url(self) -> str:
        host, port = self.server_address[:2]
        shown = "127.0.0.1" if host in ("", "0.0.0.0") else host  # noqa: S104 (display only)
        return f"http://{shown}:{port}"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "oidcsim"
    sys_version = ""
    server: IssuerServer

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        self._handle()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET  # noqa: N815

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (signature from the base class)
        if self.server.verbose:
            sys.stderr.write(f"oidcsim {self.address_string()} {format % args}\n")

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Like the base class, but without the query string."""
        if self.server.verbose:
            sys.stderr.write(f"oidcsim {self.command} {urlsplit(self.path).path} {code}\n")

    def _handle(self) -> None:
        parts = urlsplit("/" + self.path.lstrip("/"))
        length_header = self.headers.get("Content-Length") or "0"
        if not length_header.isdigit():
            self.close_connection = True
            self._send(error(400, "invalid Content-Length"))
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
        if req.path.startswith("/__control/"):
            with world.lock:
                self._send(self._safely(lambda: control.dispatch(world, req)))
            return
        if req.path.startswith(f"{ATTACKER_PREFIX}/"):
            with world.lock:
                response = self._safely(
                    lambda: issuer_endpoints.attacker(world, req.path, req) or error(404, "not found")
                )
            self._send(response)
            return
        with world.lock:
            found = issuer_endpoints.find(world, req.path)
            if found is not None:
                found[0].counters[COUNTER[found[1]]] += 1
                latency_ms = found[0].config.latency_ms
        if found is None:
            self._send(error(404, "not found"))
            return
        if latency_ms:
            time.sleep(latency_ms / 1000)  # outside the lock: other requests proceed meanwhile
        issuer, endpoint = found
        with world.lock:
            response = self._safely(lambda: issuer_endpoints.serve(world, issuer, endpoint, req))
        self._send(response)

    @staticmethod
    def _safely(produce: Callable[[], Response]) -> Response:
        try:
            return produce()
        except Exception:  # a simulator bug must not kill the connection silently
            traceback.print_exc(file=sys.stderr)
            return error(500, "oidcsim internal error (see the simulator's stderr)")

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        if response.content_type:
            self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in response.headers:
            self.send_header(name, value)
        self.end_headers()
        if response.body and self.command != "HEAD":
            self.wfile.write(response.body)


def create_server(
    host: str,
    port: int,
    *,
    verbose: bool = False,
    base_url: str | None = None,
    issuer_paths: dict[str, str] | None = None,
) -> IssuerServer:
    """Bind (port 0 picks a free one) and create the default issuers; call ``serve_forever`` to run."""
    shown = "127.0.0.1" if host in ("", "0.0.0.0") else host  # noqa: S104 (display only)

    def make_world(bound_port: int) -> World:
        return World(base_url or f"http://{shown}:{bound_port}", issuer_paths)

    return IssuerServer((host, port), make_world, verbose)
