"""Fixtures for the Salesforce client tests: the simulator, and two small loopback servers of our own.

- `sim`: one `sfsim` subprocess per module, reset before every test.
- `recorder`: a host that is NOT allowed; it records every request, so a test can prove none was sent.
- `proxy`: an allowed host that forwards to the simulator and may rewrite one answer. It plays the
  man-in-the-middle / hostile token endpoint of docs/security.md (tampered signature or `id`,
  a 302, a foreign `nextRecordsUrl`), which a well-behaved simulator never produces.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

import sfsim
from orgs.salesforce.client import SalesforceClient
from orgs.salesforce.hosts import parse_allowed_hosts
from sfsim.testing import Simulator, start_simulator

CONSUMER_KEY = "OrgPortalDemo"
CONSUMER_SECRET = "sfsim-demo-secret"
CALLBACK = "http://127.0.0.1:8000/orgs/oauth/callback/"
JWT_KEY_PEM = (Path(sfsim.__file__).parent / "fixtures" / "demo-jwt-key.pem").read_bytes()

# (status, headers, body) to answer instead of the simulator, or None to pass its answer through.
Rewrite = Callable[[str, bytes, requests.Response], "tuple[int, dict[str, str], bytes] | None"]


def json_answer(payload: Any, status: int = 200) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json;charset=UTF-8"}, json.dumps(payload).encode()


def code_from(location: str) -> str:
    """The `code` of a callback URL, URL-decoded exactly once (as a Django view would read it)."""
    return parse_qs(urlsplit(location).query)["code"][0]


@dataclass
class LoopbackServer:
    server: ThreadingHTTPServer
    hits: list[tuple[str, str]] = field(default_factory=list)
    rewrite: Rewrite | None = None

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"


def _serve(handler: type[BaseHTTPRequestHandler]) -> Iterator[LoopbackServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    state = LoopbackServer(server)
    server.state = state  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's signature
        """Quiet: request lines may hold query strings."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        state: LoopbackServer = self.server.state  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        state.hits.append((self.command, self.path))
        status, headers, payload = self.answer(state, body)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_POST = do_DELETE = do_GET  # noqa: N815

    def answer(self, state: LoopbackServer, body: bytes) -> tuple[int, dict[str, str], bytes]:
        raise NotImplementedError


class _RecorderHandler(_Handler):
    def answer(self, state: LoopbackServer, body: bytes) -> tuple[int, dict[str, str], bytes]:
        return json_answer({"recorded": True})


def _proxy_handler(upstream: str) -> type[_Handler]:
    class ProxyHandler(_Handler):
        def answer(self, state: LoopbackServer, body: bytes) -> tuple[int, dict[str, str], bytes]:
            forwarded = {
                k: v for k, v in self.headers.items() if k.lower() in ("authorization", "content-type")
            }
            with requests.Session() as session:
                session.trust_env = False
                response = session.request(
                    self.command,
                    upstream + self.path,
                    data=body,
                    headers=forwarded,
                    timeout=10,
                    allow_redirects=False,
                )
            rewritten = state.rewrite(self.path, body, response) if state.rewrite else None
            if rewritten is not None:
                return rewritten
            return (
                response.status_code,
                {"Content-Type": response.headers.get("Content-Type", "")},
                response.content,
            )

    return ProxyHandler


@pytest.fixture(scope="module")
def simulator() -> Iterator[Simulator]:
    with start_simulator() as running:
        yield running


@pytest.fixture
def sim(simulator: Simulator) -> Simulator:
    simulator.reset()
    return simulator


@pytest.fixture
def recorder() -> Iterator[LoopbackServer]:
    yield from _serve(_RecorderHandler)


@pytest.fixture
def proxy(simulator: Simulator) -> Iterator[LoopbackServer]:
    yield from _serve(_proxy_handler(simulator.base_url))


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.trust_env = False  # no proxies from the environment: everything stays on loopback
        yield session


@pytest.fixture
def make_client(sim: Simulator, proxy: LoopbackServer, http: requests.Session):
    """A client that trusts the simulator and the proxy (nothing else); timeouts are adjustable."""

    def make(*, connect_timeout: float = 2.0, read_timeout: float = 5.0, extra: str = "") -> SalesforceClient:
        allowed = parse_allowed_hosts(f"{sim.base_url} {proxy.base_url} {extra}")
        return SalesforceClient(
            http, allowed=allowed, connect_timeout=connect_timeout, read_timeout=read_timeout
        )

    return make


@pytest.fixture
def client(make_client) -> SalesforceClient:
    return make_client()
